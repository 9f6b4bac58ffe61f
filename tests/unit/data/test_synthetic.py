"""Synthetic task data: determinism, real file formats, gold consistency, difficulty, budgets."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
from collections import defaultdict
from pathlib import Path

import bm25s
import pytest
import pytrec_eval

from qrexp.data.synthetic import DEFAULT_SIZES, generate_all, generate_lme, lme_words, write_lme
from qrexp.data.synthetic import names as N
from qrexp.data.synthetic.filler_chat import FILLER

MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
LME_KEYS = ["question_id", "question_type", "question", "answer", "question_date",
            "haystack_session_ids", "haystack_dates", "haystack_sessions", "answer_session_ids"]
CLIPPER_KEYS = ["id", "book_name", "book_title", "book_author", "book_length", "claim_type",
                "messages", "true_claim", "true_reasoning", "false_claim", "false_reasoning",
                "status", "source"]
FILLER_USER = {u for topic in FILLER for u, _ in topic}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "seed0"
    generate_all(out, seed=0)
    return out


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _lme(root: Path) -> list[dict]:
    return (json.loads((root / "lme_detect.json").read_text("utf-8"))
            + json.loads((root / "lme_eval.json").read_text("utf-8")))


def _parse_lme_date(text: str) -> dt.datetime:
    m = re.fullmatch(r"(\d{4}/\d{2}/\d{2}) \((\w{3})\) (\d{2}:\d{2})", text)
    assert m, text
    when = dt.datetime.strptime(f"{m[1]} {m[3]}", "%Y/%m/%d %H:%M")
    assert m[2] == N.WEEKDAYS[when.weekday()][:3], f"weekday of {text}"
    return when


def _evidence_turns(rec: dict) -> list[tuple[dt.datetime, str]]:
    """(session date, user text) of every has_answer turn, in session order."""
    out = []
    for sid, date, sess in zip(rec["haystack_session_ids"], rec["haystack_dates"],
                               rec["haystack_sessions"]):
        out += [(_parse_lme_date(date), t["content"]) for t in sess if t.get("has_answer")]
    return out


# ---------------------------------------------------------------- determinism and manifest

def test_same_seed_gives_identical_bytes_and_other_seed_differs(root, tmp_path):
    generate_all(tmp_path / "again", seed=0)
    first, again = _files(root), _files(tmp_path / "again")
    assert first.keys() == again.keys()
    assert all(first[k] == again[k] for k in first), [k for k in first if first[k] != again[k]]
    generate_all(tmp_path / "seed1", seed=1)
    other = _files(tmp_path / "seed1")
    for rel in ("lme_detect.json", "lme_eval.json", "beir/corpus.jsonl", "clipper/test.jsonl"):
        assert other[rel] != first[rel], rel


def test_manifest_records_seed_sizes_version_and_true_hashes(root):
    man = json.loads((root / "manifest.json").read_text("utf-8"))
    assert man["seed"] == 0 and man["sizes"] == DEFAULT_SIZES and man["version"]
    on_disk = {k for k in _files(root) if k != "manifest.json"}
    assert set(man["files"]) == on_disk
    for rel, digest in man["files"].items():
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest, rel


def test_bad_arguments_fail_with_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'single'"):
        generate_lme(1, 0, "single")
    with pytest.raises(ValueError, match="unknown size key"):
        generate_all(tmp_path, sizes={"lme_eval": 3})


# ---------------------------------------------------------------- LongMemEval format and gold

def test_lme_records_have_the_official_fields_and_types(root):
    detect = json.loads((root / "lme_detect.json").read_text("utf-8"))
    evals = json.loads((root / "lme_eval.json").read_text("utf-8"))
    assert len(detect) == 24 and {r["question_type"] for r in detect} == {"single-session-user"}
    types = [r["question_type"] for r in evals]
    assert {t: types.count(t) for t in set(types)} == {
        "multi-session": 12, "knowledge-update": 12, "temporal-reasoning": 12}
    ids = [r["question_id"] for r in detect + evals]
    assert len(set(ids)) == len(ids)
    for rec in detect + evals:
        qid = rec["question_id"]
        assert list(rec) == LME_KEYS, qid
        assert re.fullmatch(r"(gpt4_)?[0-9a-f]{8}", qid)
        assert isinstance(rec["question"], str) and isinstance(rec["answer"], str), qid
        n = len(rec["haystack_sessions"])
        assert 6 <= n <= 10 and len(rec["haystack_session_ids"]) == len(rec["haystack_dates"]) == n
        dates = [_parse_lme_date(d) for d in rec["haystack_dates"]]
        assert dates == sorted(dates) and _parse_lme_date(rec["question_date"]) > dates[-1], qid
        assert len(set(rec["haystack_session_ids"])) == n
        for sess in rec["haystack_sessions"]:
            assert 2 <= len(sess) // 2 <= 4 and len(sess) % 2 == 0, qid
            for k, turn in enumerate(sess):
                assert turn["role"] == ("user", "assistant")[k % 2], qid
                assert isinstance(turn["content"], str) and turn["content"]
                assert set(turn) <= {"role", "content", "has_answer"}
                assert isinstance(turn.get("has_answer", False), bool)


def test_lme_gold_marking_is_consistent(root):
    for rec in _lme(root):
        qid, answer = rec["question_id"], rec["answer"]
        gold = [s for s in rec["haystack_session_ids"] if "answer" in s]
        assert rec["answer_session_ids"] == gold and gold, qid
        for sid, sess in zip(rec["haystack_session_ids"], rec["haystack_sessions"]):
            marked = [t for t in sess if t.get("has_answer")]
            if sid in gold:
                assert marked and all(t["role"] == "user" for t in marked), (qid, sid)
            else:
                assert not marked, (qid, sid)
        evidence = [text for _, text in _evidence_turns(rec)]
        assert any(answer in text for text in evidence), (qid, answer)
        expected = {"single-session-user": 1, "multi-session": 2, "knowledge-update": 2}
        if rec["question_type"] in expected:
            assert len(gold) == expected[rec["question_type"]], qid
        if rec["question_type"] == "multi-session":   # two hops: only one turn holds the answer
            assert sum(answer in text for text in evidence) == 1, qid


def test_knowledge_update_gold_is_the_latest_value(root):
    banks = (N.CITIES, N.JOBS, N.HOBBIES, N.COLOURS)
    updates = [r for r in _lme(root) if r["question_type"] == "knowledge-update"]
    for rec in updates:
        (d_old, old), (d_new, new) = _evidence_turns(rec)
        assert d_old < d_new and rec["answer"] in new and rec["answer"] not in old
        bank = next(b for b in banks if rec["answer"] in b)
        assert any(v != rec["answer"] and re.search(rf"\b{re.escape(v)}\b", old) for v in bank), \
            (rec["question_id"], old)


def _event_date(text: str, session: dt.datetime) -> dt.date:
    m = re.search(rf"({MONTHS}) (\d{{1,2}})\b", text)
    assert m, text
    month = MONTHS.split("|").index(m[1]) + 1
    year = session.year if (month, int(m[2])) <= (session.month, session.day) else session.year - 1
    day = dt.date(year, month, int(m[2]))
    assert 0 < (session.date() - day).days <= 31, (text, session)
    return day


def test_temporal_answers_follow_the_stated_dates(root):
    patterns = (r"Which came first, (.+) or (.+)\?", r"Which did I do earlier: (.+) or (.+)\?",
                r"Out of (.+) and (.+), which happened first\?")
    temporal = [r for r in _lme(root) if r["question_type"] == "temporal-reasoning"]
    kinds = set()
    for rec in temporal:
        turns = _evidence_turns(rec)
        pair = next((m.groups() for p in patterns if (m := re.fullmatch(p, rec["question"]))), None)
        if pair is None:   # "when did I ...": the answer is the stated date
            kinds.add("when")
            (session, text), = turns
            assert re.fullmatch(rf"({MONTHS}) \d{{1,2}}", rec["answer"]) and rec["answer"] in text
            _event_date(text, session)
            continue
        kinds.add("first")
        days = {}
        for short in pair:
            (session, text), = [(s, t) for s, t in turns if short in t]
            days[short] = _event_date(text, session)
        assert days[pair[0]] != days[pair[1]]
        assert rec["answer"] == min(pair, key=days.get), rec["question_id"]
    assert kinds == {"when", "first"}


def test_lme_has_distractors_and_word_overlap_does_not_solve_it(root):
    """Every history has facts about other people, and BM25 ranks the round that states the
    answer first for well under 85% of the questions of each type."""
    by_type = defaultdict(list)
    for rec in _lme(root):
        inserted = [t["content"] for sid, sess in zip(rec["haystack_session_ids"],
                                                      rec["haystack_sessions"])
                    if "answer" not in sid for t in sess
                    if t["role"] == "user" and t["content"] not in FILLER_USER]
        assert inserted, f"{rec['question_id']}: no distractor facts about other people"
        rounds, gold = [], []
        for sess in rec["haystack_sessions"]:
            for u, a in zip(sess[::2], sess[1::2]):
                rounds.append(f"{u['content']} {a['content']}")
                gold.append(bool(u.get("has_answer")) and rec["answer"] in u["content"])
        model = bm25s.BM25()
        model.index(bm25s.tokenize(rounds, return_ids=False, show_progress=False),
                    show_progress=False)
        scores = model.get_scores(bm25s.tokenize([rec["question"]], return_ids=False,
                                                 show_progress=False)[0])
        by_type[rec["question_type"]].append(gold[max(range(len(rounds)), key=scores.__getitem__)])
    for qtype, hits in by_type.items():
        assert sum(hits) / len(hits) < 0.85, (qtype, sum(hits) / len(hits))


def test_filler_never_states_a_bank_value():
    text = " ".join(s for topic in FILLER for pair in topic for s in pair).lower()
    banks = (N.CITIES, N.JOBS, N.PET_NAMES, N.PET_SPECIES, N.HOBBIES, N.FOODS, N.COLOURS)
    leaks = [v for bank in banks for v in bank if re.search(rf"\b{re.escape(v.lower())}\b", text)]
    assert not leaks


def test_write_lme_is_one_json_array_without_temp_files(tmp_path):
    recs = generate_lme(2, 5, "knowledge-update")
    path = write_lme(recs, tmp_path / "sub" / "lme.json")
    assert json.loads(path.read_text("utf-8")) == recs
    assert [p.name for p in path.parent.iterdir()] == ["lme.json"]


# ---------------------------------------------------------------- BEIR format and difficulty

def _read_beir(folder: Path):
    corpus = _jsonl(folder / "corpus.jsonl")
    queries = _jsonl(folder / "queries.jsonl")
    lines = (folder / "qrels" / "test.tsv").read_text("utf-8").splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    qrels = defaultdict(dict)
    for line in lines[1:]:
        q, d, s = line.split("\t")
        qrels[q][d] = int(s)
    run = defaultdict(list)
    for line in (folder / "bm25.run").read_text("utf-8").splitlines():
        q, q0, d, rank, score, tag = line.split(" ")
        assert q0 == "Q0" and tag == "bm25s"
        run[q].append((int(rank), d, float(score)))
    return corpus, queries, dict(qrels), dict(run)


def test_beir_files_follow_the_beir_and_trec_formats(root):
    corpus, queries, qrels, run = _read_beir(root / "beir")
    assert 180 <= len(corpus) <= 230 and len(queries) == 40
    assert all(list(d) == ["_id", "title", "text", "metadata"] for d in corpus)
    assert all(list(q) == ["_id", "text", "metadata"] for q in queries)
    doc_ids, qids = {d["_id"] for d in corpus}, [q["_id"] for q in queries]
    assert len(doc_ids) == len(corpus) and set(qrels) == set(qids) == set(run)
    assert all(len(g) == 1 and set(g) <= doc_ids for g in qrels.values())
    for qid, rows in run.items():
        assert [r for r, _, _ in rows] == list(range(1, 21)), qid
        assert all(a[2] >= b[2] for a, b in zip(rows, rows[1:])), qid
        assert {d for _, d, _ in rows} <= doc_ids
    titles = {d["title"] for d in corpus}   # near-duplicates: "North X", "lesser X", "X Group"
    assert sum(any(t != u and u in t for u in titles) for t in titles) >= 10


def test_beir_loads_with_ir_datasets_own_beir_parsers(root, tmp_path, monkeypatch):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    import ir_datasets
    from ir_datasets.datasets.beir import BeirDocs, BeirQrels, BeirQueries, BeirTitleDoc
    from ir_datasets.formats import GenericQuery
    from ir_datasets.util import LocalDownload
    b = root / "beir"
    ds = ir_datasets.Dataset(BeirDocs("synth", LocalDownload(b / "corpus.jsonl"), BeirTitleDoc),
                             BeirQueries("synth", LocalDownload(b / "queries.jsonl"), GenericQuery),
                             BeirQrels(LocalDownload(b / "qrels" / "test.tsv"), {1: "relevant"}))
    corpus, queries, qrels, _ = _read_beir(b)
    assert [(d.doc_id, d.title, d.text) for d in ds.docs_iter()] == [
        (d["_id"], d["title"], d["text"]) for d in corpus]
    assert [q.query_id for q in ds.queries_iter()] == [q["_id"] for q in queries]
    assert {(r.query_id, r.doc_id) for r in ds.qrels_iter()} == {
        (q, d) for q, g in qrels.items() for d in g}


def test_bm25_run_is_lucene_bm25_and_clearly_imperfect(root):
    corpus, queries, qrels, run = _read_beir(root / "beir")
    man = json.loads((root / "manifest.json").read_text("utf-8"))["stats"]["beir"]
    # scores equal a hand computation of Lucene BM25 (k1=0.9, b=0.4; Lucene drops the (k1 + 1)
    # numerator, which does not change the ranking) on bm25s tokens
    docs = bm25s.tokenize([f"{d['title']} {d['text']}" for d in corpus], stopwords="en",
                          return_ids=False, show_progress=False)
    avgdl = sum(map(len, docs)) / len(docs)
    df = defaultdict(int)
    for toks in docs:
        for t in set(toks):
            df[t] += 1
    index = {d["_id"]: toks for d, toks in zip(corpus, docs)}
    for q in queries[:5]:
        terms = bm25s.tokenize([q["text"]], stopwords="en", return_ids=False,
                               show_progress=False)[0]
        for _, doc_id, score in run[q["_id"]][:3]:
            toks = index[doc_id]
            hand = sum(math.log(1 + (len(docs) - df[t] + 0.5) / (df[t] + 0.5))
                       * toks.count(t) / (toks.count(t) + 0.9 * (0.6 + 0.4 * len(toks) / avgdl))
                       for t in terms if t in df)
            assert score == pytest.approx(hand, abs=2e-3), (q["_id"], doc_id)
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"recall.1", "recall.20", "ndcg_cut.10"})
    per_q = ev.evaluate({q: {d: s for _, d, s in rows} for q, rows in run.items()})
    mean = lambda k: sum(v[k] for v in per_q.values()) / len(per_q)
    assert mean("recall_1") == pytest.approx(man["bm25_recall@1"])
    assert mean("ndcg_cut_10") == pytest.approx(man["bm25_ndcg@10"])
    assert 10 / len(corpus) < man["bm25_recall@1"] < 0.85   # far above chance, far below perfect
    assert mean("recall_20") >= 0.9 and man["bm25_recall@20"] == mean("recall_20")


# ---------------------------------------------------------------- CLIPPER format and claims

def test_clipper_rows_and_book_folders_follow_the_release(root):
    c = root / "clipper"
    rows = _jsonl(c / "test.jsonl")
    assert len(rows) == 2 * 2 * 12 and [r["id"] for r in rows] == list(range(len(rows)))
    meta = _csv_rows(c / "books" / "gutenberg.csv")
    assert [m["book_name"] for m in meta] == sorted({r["book_name"] for r in rows})
    for m in meta:
        n = int(m["num_chapters"])
        chapters = [(c / "books" / m["book_name"] / f"{i}.txt").read_text("utf-8").strip()
                    for i in range(1, n + 1)]
        assert 6 <= n <= 10 and len(list((c / "books" / m["book_name"]).iterdir())) == n
        assert all(ch.startswith("CHAPTER ") for ch in chapters)
        assert (c / "books" / f"{m['book_name']}.txt").read_text("utf-8").strip() == \
            "\n\n".join(chapters)
        for kind in ("single", "multiple"):
            claims = _csv_rows(c / "books" / "output" / m["book_name"] / "claims"
                               / f"claims_{kind}.csv")
            mine = [r for r in rows if r["book_name"] == m["book_name"]
                    and r["claim_type"] == kind and r["status"] == "TRUE"]
            assert [x["facts"] for x in claims] == [r["true_claim"] for r in mine]
            assert [x["source"] for x in claims] == [r["source"] for r in mine]
    for r in rows:
        assert list(r) == CLIPPER_KEYS
        assert all(isinstance(r[k], int) for k in ("id", "book_length"))
        assert r["status"] in ("TRUE", "FALSE") and r["claim_type"] in ("single", "multiple")
        assert [m["role"] for m in r["messages"]] == ["system", "user", "assistant"]
        assert r["messages"][2]["content"].endswith(f"<answer>{r['status']}</answer>")
        assert re.fullmatch(r"Chapter \d+(, \d+)*", r["source"])
    for t, f in zip(rows[::2], rows[1::2]):   # each pair appears twice, TRUE then FALSE
        assert (t["status"], f["status"]) == ("TRUE", "FALSE")
        assert (t["true_claim"], t["false_claim"]) == (f["true_claim"], f["false_claim"])


def test_clipper_claims_are_grounded_twins_differing_in_one_detail(root):
    c = root / "clipper"
    rows = _jsonl(c / "test.jsonl")[::2]
    assert {r["claim_type"] for r in rows} == {"single", "multiple"}
    for r in rows:
        chap = [int(x) for x in r["source"].removeprefix("Chapter ").split(", ")]
        assert (len(chap) == 1) == (r["claim_type"] == "single") and len(set(chap)) == len(chap)
        text = " ".join((c / "books" / r["book_name"] / f"{i}.txt").read_text("utf-8")
                        for i in chap)
        names = re.findall(r"\b[A-Z][a-z]+\b", r["true_claim"])
        assert all(n in text for n in names if n not in ("The", "In")), r["true_claim"]
        a, b = (re.findall(r"[\w'-]+", claim) for claim in (r["true_claim"], r["false_claim"]))
        # one detail: the words that differ form one short stretch (a value, or two swapped names)
        head = next(i for i, (x, y) in enumerate(zip(a + [None], b + [None])) if x != y)
        tail = next(i for i, (x, y) in enumerate(zip(a[::-1] + [None], b[::-1] + [None])) if x != y)
        span_a, span_b = a[head:len(a) - tail], b[head:len(b) - tail]
        assert span_a and span_b and max(len(span_a), len(span_b)) <= 6, (a, b)


# ---------------------------------------------------------------- context budgets

def test_every_example_fits_the_demo_context_budget(root):
    est = lambda words: words * 1.3
    for rec in _lme(root):
        assert 600 <= est(lme_words(rec)) <= 1500, rec["question_id"]
    corpus, queries, _, run = _read_beir(root / "beir")
    words = {d["_id"]: len(f"{d['title']} {d['text']}".split()) for d in corpus}
    for q in queries:
        total = len(q["text"].split()) + sum(words[d] for _, d, _ in run[q["_id"]])
        assert 600 <= est(total) <= 1500, q["_id"]
    for r in _jsonl(root / "clipper" / "test.jsonl"):
        book = (root / "clipper" / "books" / f"{r['book_name']}.txt").read_text("utf-8")
        total = len(book.split()) + len(r["true_claim"].split())
        assert 600 <= est(total) <= 1500, r["book_name"]


# ---------------------------------------------------------------- the project's real loaders

def test_the_real_loaders_read_the_files_unchanged(root, tmp_path, monkeypatch):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    from qrexp.data.beir import load_beir
    from qrexp.data.clipper import load_clipper
    from qrexp.data.lme import load_lme
    for name, n in (("lme_detect.json", 24), ("lme_eval.json", 36)):
        examples = load_lme(root / name)
        assert len(examples) == n
        assert all(ex.gold and not ex.meta["gold_fallback"] for ex in examples)
    pairs = load_clipper(root / "clipper" / "test.jsonl", root / "clipper" / "books")
    assert len(pairs) == 24 and all(ex.gold and ex.meta["statuses"] == ["TRUE", "FALSE"]
                                    for ex in pairs)
    beir = load_beir(root / "beir", run=root / "beir" / "bm25.run", top_k=20, n_queries=None)
    assert len(beir) == 40 and all(len(ex.docs) == 20 and len(ex.gold) == 1 for ex in beir)
