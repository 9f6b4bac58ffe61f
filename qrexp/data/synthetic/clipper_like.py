"""CLIPPER-style books and true/false claim pairs, laid out like the CLIPPER release.

Files written by ``generate_clipper`` under ``out_dir``:
  test.jsonl                 one row per (claim pair, status) as in the HF dataset: id, book_name,
                             book_title, book_author, book_length, claim_type, messages,
                             true_claim, true_reasoning, false_claim, false_reasoning, status,
                             plus ``source`` ("Chapter 3" or "Chapter 2, 5", the gold chapters)
  books/<book_name>/<n>.txt  one file per chapter, n = 1..N (as in the CLIPPER repo)
  books/<book_name>.txt      the whole book
  books/gutenberg.csv        title, book_name, author, num_chapters, num_tokens
  books/output/<book_name>/claims/claims_{single,multiple}.csv
                             facts, corrupted_facts, fact_reasoning, corrupted_reasoning, source
A story has 6-10 short chapters; each chapter has a place, weather, time of day, a helper with
a job who hands over an object, and sometimes an object from an earlier chapter put to use or
an earlier helper returning. True and false claims differ in exactly one detail.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from qrexp.data.synthetic import clipper_phrases as C
from qrexp.data.synthetic import names as N
from qrexp.data.synthetic.common import est_tokens, rng_for, word_count
from qrexp.io.files import atomic_write_text, write_jsonl

META_COLUMNS = ["title", "book_name", "author", "num_chapters", "num_tokens"]
SYSTEM = ("You are a careful reader. Decide whether a statement about a book is TRUE or FALSE "
          "using only the book. Explain briefly, then answer in "
          "<explanation>...</explanation><answer>TRUE or FALSE</answer>.")


def _a(word: str) -> str:
    """The word with its indefinite article ("an apothecary", "a ferryman")."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def _roman(n: int) -> str:
    out = ""
    for value, sym in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + sym, n - value
    return out


def plan_book(rng, n_chapters: int) -> dict:
    """The story skeleton: characters, and per chapter place/weather/time/helper/object/events."""
    used: set[str] = set()
    hero, friend, rival, *helpers = rng.sample(N.FIRST_NAMES, 3 + n_chapters)
    towns = [N.invented_name(rng, "town", used) for _ in range(n_chapters + 1)]
    chapters = [dict(town=t, place=k.format(T=t), weather=rng.choice(sorted(C.WEATHER)),
                     time=rng.choice(sorted(C.TIMES)), helper=h, job=j, trait=rng.choice(C.TRAITS),
                     obj=o, use=None, back=None, rival=rng.random() < 0.35)
                for t, k, h, j, o in zip(towns, rng.sample(C.PLACES, n_chapters), helpers,
                                         rng.sample(C.JOBS, n_chapters),
                                         rng.sample(C.OBJECTS, n_chapters))]
    later = rng.sample(range(2, n_chapters), 3)   # chapters (0-based) where something returns
    givers = rng.sample(range(min(later[:2])), 2)   # two different earlier objects get used
    for b, a, purpose in zip(later[:2], givers, rng.sample(C.PURPOSES, 2)):
        chapters[b]["use"] = (a, purpose)
    chapters[later[2]]["back"] = rng.randrange(later[2])
    return dict(hero=hero, friend=friend, rival=rival, chapters=chapters,
                title=f"The {rng.choice(C.TITLE_NOUNS)} of {towns[-1]}",
                author=N.invented_name(rng, "person", used))


def render_chapter(rng, book: dict, i: int) -> str:
    """Chapter ``i`` (0-based) as text with a 'CHAPTER <roman>.' heading."""
    ch, chs = book["chapters"][i], book["chapters"]
    f = dict(P=book["hero"], C=book["friend"], R=book["rival"], H=ch["helper"], job=ch["job"],
             place=ch["place"], time=C.TIMES[ch["time"]][0], obj=ch["obj"][0])
    f["time_cap"] = f["time"][0].upper() + f["time"][1:]
    f["a_job"] = _a(ch["job"])
    f["trait"] = ch["trait"].format(**f)
    s = [rng.choice(C.ARRIVALS).format(**f), C.WEATHER[ch["weather"]][0],
         rng.choice(C.SCENERY), rng.choice(C.MEETINGS).format(**f)]
    if ch["back"] is not None:
        prev = chs[ch["back"]]
        s.append(rng.choice(C.RETURNS).format(H=prev["helper"], job=prev["job"],
                                              prev=prev["place"]))
    s.append(rng.choice(C.GIFTS).format(**f))
    if ch["use"] is not None:
        a, (purpose, _) = ch["use"]
        s.append(rng.choice(C.USES).format(P=f["P"], giver=chs[a]["helper"],
                                            noun=chs[a]["obj"][1], purpose=purpose))
    if ch["rival"]:
        s.append(rng.choice(C.RIVAL).format(**f))
    s.append(rng.choice(C.CLOSINGS).format(**f))
    cut = len(s) // 2
    return f"CHAPTER {_roman(i + 1)}.\n\n" + " ".join(s[:cut]) + "\n\n" + " ".join(s[cut:])


def _other(rng, options, avoid):
    """A random option not in ``avoid`` (the false twin's value)."""
    return rng.choice([o for o in options if o not in avoid])


def claim_pairs(rng, book: dict, n_pairs: int) -> list[dict]:
    """``n_pairs`` (true, false) claims, about 5/12 of them spanning two chapters."""
    P, F, chs = book["hero"], book["friend"], book["chapters"]
    n = len(chs)
    single, multi = [], []
    for i, ch in enumerate(chs):
        T = ch["town"]
        job2 = _other(rng, C.JOBS, {ch["job"]})
        noun2 = _other(rng, [o[1] for o in C.OBJECTS], {ch["obj"][1]})
        w2 = _other(rng, sorted(C.WEATHER), {ch["weather"]})
        t2 = _other(rng, sorted(C.TIMES), {ch["time"]})
        single += [
            ([i], f"In {T}, {P} meets {ch['helper']}, who works as {{}}.", _a(ch["job"]), _a(job2)),
            ([i], f"{ch['helper']} gives {P} a {{}}.", ch["obj"][1], noun2),
            ([i], f"{P} and {F} arrive in {T} {{}}.", C.WEATHER[ch["weather"]][1],
             C.WEATHER[w2][1]),
            ([i], f"{P} reaches {T} {{}}.", C.TIMES[ch["time"]][1], C.TIMES[t2][1])]
        if ch["use"] is not None:
            a, (_, purpose) = ch["use"]
            giver2 = _other(rng, [c["helper"] for c in chs], {chs[a]["helper"]})
            multi.append(([a, i], f"The {chs[a]['obj'][1]} that {P} gets from {{}} is later used "
                          f"to {purpose}.", chs[a]["helper"], giver2))
        if ch["back"] is not None:
            a = ch["back"]
            town2 = _other(rng, [c["town"] for c in chs], {chs[a]["town"], T})
            multi.append(([a, i], f"{chs[a]['helper']}, first met in {chs[a]['town']}, turns up "
                          f"again in {{}}.", T, town2))
    n_multi = round(n_pairs * 5 / 12)
    extra, seen = [], set()
    while len(extra) < n_multi + 4:   # cross-chapter order and weather claims
        a, b = sorted(rng.sample(range(n), 2))
        ta, tb = chs[a]["town"], chs[b]["town"]
        if rng.random() < 0.5 and ("order", a, b) not in seen:
            seen.add(("order", a, b))
            extra.append(([a, b], f"{P} visits {{}} before {{}}.", (ta, tb), (tb, ta)))
        elif ("weather", a, b) not in seen:
            seen.add(("weather", a, b))
            w2 = _other(rng, sorted(C.WEATHER), {chs[b]["weather"]})
            extra.append(([a, b], f"{P} arrives in {ta} {C.WEATHER[chs[a]['weather']][1]} and in "
                          f"{tb} {{}}.", C.WEATHER[chs[b]["weather"]][1], C.WEATHER[w2][1]))
    multi = multi[:n_multi]
    picked = multi + rng.sample(extra, n_multi - len(multi)) + rng.sample(single, n_pairs - n_multi)
    out = []
    for chap, tmpl, good, bad in picked:
        fill = lambda v: tmpl.format(*v) if isinstance(v, tuple) else tmpl.format(v)
        src = "Chapter " + ", ".join(str(c + 1) for c in sorted(set(chap)))
        out.append(dict(true_claim=fill(good), false_claim=fill(bad), source=src,
                        claim_type="single" if len(set(chap)) == 1 else "multiple"))
    return out


def _reasons(pair: dict) -> tuple[str, str]:
    """(true_reasoning, false_reasoning): what the gold chapters say, and the verdict."""
    nums = pair["source"].removeprefix("Chapter ").split(", ")
    where = f"Chapter {nums[0]}" if len(nums) == 1 else f"Chapters {' and '.join(nums)}"
    return (f"{where}: {pair['true_claim']} The statement matches this.",
            f"{where}: {pair['true_claim']} The statement changes one detail, so it is false.")


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    cols = ["facts", "corrupted_facts", "fact_reasoning", "corrupted_reasoning", "source"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for p in rows:
        t, f = _reasons(p)
        w.writerow(dict(facts=p["true_claim"], corrupted_facts=p["false_claim"],
                        fact_reasoning=t, corrupted_reasoning=f, source=p["source"]))
    return buf.getvalue()


def _rows(name: str, book: dict, n_tokens: int, full: str, pairs: list[dict],
          first_id: int) -> list[dict]:
    """Two dataset rows per claim pair (status TRUE, then FALSE), as in the HF release."""
    rows = []
    for p in pairs:
        t_reason, f_reason = _reasons(p)
        for status, claim, reason in (("TRUE", p["true_claim"], t_reason),
                                      ("FALSE", p["false_claim"], f_reason)):
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"<book>\n{full}</book>\n\nStatement: {claim}"},
                {"role": "assistant",
                 "content": f"<explanation>{reason}</explanation><answer>{status}</answer>"}]
            rows.append(dict(
                id=first_id + len(rows), book_name=name, book_title=book["title"],
                book_author=book["author"], book_length=n_tokens, claim_type=p["claim_type"],
                messages=messages, true_claim=p["true_claim"], true_reasoning=t_reason,
                false_claim=p["false_claim"], false_reasoning=f_reason, status=status,
                source=p["source"]))
    return rows


def generate_clipper(n_books: int, seed: int, out_dir: str | os.PathLike,
                     n_pairs: int = 12) -> dict:
    """Write ``n_books`` books with ``n_pairs`` claim pairs each; return summary statistics
    (with "files": the paths written, relative to ``out_dir``)."""
    if not 3 <= n_pairs <= 36:
        raise ValueError(f"generate_clipper: n_pairs={n_pairs} must be between 3 and 36")
    out, rows, meta, book_words = Path(out_dir), [], [], []
    files = ["test.jsonl", "books/gutenberg.csv"]
    for k in range(n_books):
        rng = rng_for("clipper", seed, k)
        book = plan_book(rng, rng.randint(6, 10))
        name = f"synthetic_s{seed}_b{k + 1}"
        chapters = [render_chapter(rng, book, i) for i in range(len(book["chapters"]))]
        full = "\n\n".join(chapters) + "\n"
        for i, text in enumerate(chapters, 1):
            atomic_write_text(out / "books" / name / f"{i}.txt", text + "\n")
        atomic_write_text(out / "books" / f"{name}.txt", full)
        files += [f"books/{name}/{i}.txt" for i in range(1, len(chapters) + 1)]
        files += [f"books/{name}.txt"] + [f"books/output/{name}/claims/claims_{kind}.csv"
                                          for kind in ("single", "multiple")]
        pairs = claim_pairs(rng, book, n_pairs)
        for kind in ("single", "multiple"):
            atomic_write_text(out / "books" / "output" / name / "claims" / f"claims_{kind}.csv",
                              _csv([p for p in pairs if p["claim_type"] == kind]))
        book_words.append(word_count(full))
        meta.append(dict(title=book["title"], book_name=name, author=book["author"],
                         num_chapters=len(chapters), num_tokens=est_tokens(word_count(full))))
        rows += _rows(name, book, meta[-1]["num_tokens"], full, pairs, len(rows))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=META_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(meta)
    atomic_write_text(out / "books" / "gutenberg.csv", buf.getvalue())
    write_jsonl(out / "test.jsonl", rows, sort_keys=False)
    return {"files": files, "n_books": n_books, "n_pairs": len(rows) // 2, "n_rows": len(rows),
            "book_words": book_words, "max_book_tokens": est_tokens(max(book_words, default=0))}
