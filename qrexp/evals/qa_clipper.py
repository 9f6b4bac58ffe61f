"""CLIPPER claim verification as the QRHead paper runs and scores it.

Protocol (QRHead code, ``exp_scripts/``; paper Section 4, Table 1):

* **Each claim is its own query.** The paper's input files hold the true claims and the false claims
  as separate samples; each sample is retrieved for (``run_retrieval.py``), its recall computed
  (``eval_retrieval.py``: recall@k = |top-k ∩ gold| / |gold| per claim, mean over claims), and
  verified on *its own* top-k chapters (``run_generation_clipper.py``). :func:`claim_examples` splits
  every loaded pair into the two claim examples ``<pair qid>:true`` / ``<pair qid>:false`` (query =
  the claim, same chapters and gold chapters). ``claim_queries="per_pair"`` keeps the older ablation:
  one ranking per pair (the loader's query) on which both claims are verified.
* **Prompt**: the top-k chapters in chapter order, joined by three newlines, in the TRUE/FALSE
  verification prompt (:data:`qrexp.evals.qa_prompts.CLIPPER_TEMPLATE`), greedy, 1000 new tokens.
* **Verdict** (``eval_generation_clipper.py``): the FIRST ``<answer>...</answer>`` match (tag
  case-sensitive, content may span lines), stripped and lower-cased; "true" / "false" is a verdict,
  any other content is a wrong answer, no tag at all is a missing answer ("None").
* **Pair accuracy**: a pair is correct iff its true claim reads "true" and its false claim "false".
  We also count replies with no tag, several tags, or other tag content, and the pairs with a
  missing answer (the reference's "entries with None answers").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from qrexp.data.clipper import chapter_order
from qrexp.engine.chat import Messages, user_turn
from qrexp.evals.qa_prompts import CLIPPER_TEMPLATE
from qrexp.evals.qa_units import ranking_of, select_units
from qrexp.evals.qa_window import fit_prompts
from qrexp.types import Example, Run

CLAIMS = ("true_claim", "false_claim")
CLAIM_QUERIES = ("per_claim", "per_pair")
CLIPPER_MAX_NEW_TOKENS = 1000
_SUFFIX = {"true_claim": "true", "false_claim": "false"}
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S)     # as the reference: case-sensitive, DOTALL


@dataclass(frozen=True)
class Verdict:
    """What one reply says: ``value`` "TRUE"/"FALSE" or None; ``n_tags`` complete answer tags;
    ``raw`` the first tag's stripped, lower-cased content (None without a tag)."""
    value: str | None
    n_tags: int
    raw: str | None


def read_verdict(text: str) -> Verdict:
    """The verdict of one reply, read from its FIRST ``<answer>...</answer>`` tag (reference rule)."""
    tags = _ANSWER_TAG.findall(text)
    raw = tags[0].strip().lower() if tags else None
    return Verdict(raw.upper() if raw in ("true", "false") else None, len(tags), raw)


def parse_answer_tag(text: str) -> str | None:
    """"TRUE" / "FALSE" from the first answer tag; None without a tag or with any other content."""
    return read_verdict(text).value


def check_claim_queries(mode: str) -> None:
    """Raise ValueError unless ``mode`` is one of CLAIM_QUERIES (per_claim, per_pair)."""
    if mode not in CLAIM_QUERIES:
        raise ValueError(f"eval.claim_queries={mode!r}: must be one of {', '.join(CLAIM_QUERIES)}")


def claim_examples(pairs: Sequence[Example]) -> list[Example]:
    """Each CLIPPER pair -> its true-claim and false-claim examples, in that order.

    qid ``<pair qid>:true`` / ``:false``; query = the claim; answer "TRUE" / "FALSE"; docs and gold
    chapters shared; ``meta`` = the pair's meta plus "pair" (pair qid) and "claim" (claim field).
    Raises ValueError naming the example when its meta lacks a claim.
    """
    out = []
    for ex in pairs:
        for claim in CLAIMS:
            text = ex.meta.get(claim)
            if not isinstance(text, str) or not text:
                raise ValueError(f"CLIPPER example {ex.qid}: meta lacks the {claim!r} text")
            out.append(replace(ex, qid=f"{ex.qid}:{_SUFFIX[claim]}", query=text, answer=_SUFFIX[claim].upper(),
                               meta={**ex.meta, "pair": ex.qid, "claim": claim}))
    return out


def clipper_prompt(example: Example, doc_ids: Sequence[str], claim: str) -> Messages:
    """The claim-verification chat prompt for ``claim`` ("true_claim" / "false_claim") over the chapters."""
    if claim not in CLAIMS:
        raise ValueError(f"unknown claim {claim!r} (known: {', '.join(CLAIMS)})")
    text_of = {d.doc_id: d.text for d in example.docs}
    unknown = [d for d in doc_ids if d not in text_of]
    if unknown:
        raise KeyError(f"example {example.qid}: unknown chapter id(s) {unknown[:3]}")
    context = "\n\n\n".join(text_of[d] for d in chapter_order(example, doc_ids))
    return user_turn(CLIPPER_TEMPLATE.format(context, example.meta[claim]))


def verification_jobs(examples: Sequence[Example], run: Run | None, k: int | None
                      ) -> list[dict[str, Any]]:
    """One job per claim to verify: {"qid" (the ranked example), "pair", "claim", "chapters", "prompt"}.

    A claim example (from :func:`claim_examples`) is verified on its own top-``k``; a pair example on
    its one ranking, for both claims (the per-pair ablation). ``run=None``: every chapter.
    """
    jobs = []
    for ex in examples:
        chapters = select_units(ex, ranking_of(run, ex), k, "chapter")
        claims = [ex.meta["claim"]] if "claim" in ex.meta else list(CLAIMS)
        for claim in claims:
            jobs.append({"qid": ex.qid, "pair": ex.meta.get("pair", ex.qid), "claim": claim,
                         "chapters": chapters, "prompt": clipper_prompt(ex, chapters, claim)})
    return jobs


def pair_rows(jobs: Sequence[Mapping[str, Any]], replies: Sequence[str]) -> tuple[list[dict], list[dict]]:
    """(rows per ranked example, rows per pair) from the jobs and their replies (same order).

    Example rows: "<claim prefix>_pred", "_tags", "_chapters" per claim it verified (prefix "true" /
    "false"). Pair rows: "qid" (pair), "true_pred", "false_pred", "true_tags", "false_tags",
    "true_answer", "false_answer" (raw tag content), "correct".
    """
    if len(jobs) != len(replies):
        raise ValueError(f"got {len(replies)} replies for {len(jobs)} verification prompts")
    by_example: dict[str, dict[str, Any]] = {}
    by_pair: dict[str, dict[str, Any]] = {}
    pair_of: dict[str, str] = {}
    for job, reply in zip(jobs, replies):
        v, side = read_verdict(reply), _SUFFIX[job["claim"]]
        values = {f"{side}_pred": v.value, f"{side}_tags": v.n_tags, f"{side}_answer": v.raw}
        by_example.setdefault(job["qid"], {"qid": job["qid"]}).update(
            {**values, f"{side}_chapters": list(job["chapters"]), f"{side}_response": reply})
        by_pair.setdefault(job["pair"], {"qid": job["pair"]}).update(values)
        pair_of[job["qid"]] = job["pair"]
    for row in by_pair.values():
        missing = [c for c in ("true_pred", "false_pred") if c not in row]
        if missing:
            raise ValueError(f"CLIPPER pair {row['qid']}: no reply for {missing[0][:-5]} claim")
        row["correct"] = row["true_pred"] == "TRUE" and row["false_pred"] == "FALSE"
    for row in by_example.values():
        row["pair_correct"] = by_pair[pair_of[row["qid"]]]["correct"]
    return list(by_example.values()), list(by_pair.values())


def pair_accuracy(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pair accuracy and answer-format counts over pair rows (see :func:`pair_rows`).

    "pair_accuracy": pairs with true_pred "TRUE" and false_pred "FALSE"; "true_accuracy" /
    "false_accuracy" per claim side; "no_answer_tag" / "several_answer_tags" / "other_answer": replies
    with no tag, more than one tag, a tag that is neither true nor false; "pairs_missing_answer":
    pairs with a reply without a tag (the reference's count of None answers). Raises on no rows.
    """
    if not rows:
        raise ValueError("pair_accuracy: no rows")
    sides = [(r.get(f"{s}_pred"), r.get(f"{s}_tags", 1)) for r in rows for s in ("true", "false")]
    n = len(rows)
    return {"n": n,
            "pair_accuracy": sum(r["true_pred"] == "TRUE" and r["false_pred"] == "FALSE" for r in rows) / n,
            "true_accuracy": sum(r["true_pred"] == "TRUE" for r in rows) / n,
            "false_accuracy": sum(r["false_pred"] == "FALSE" for r in rows) / n,
            "no_answer_tag": sum(tags == 0 for _, tags in sides),
            "several_answer_tags": sum(tags > 1 for _, tags in sides),
            "other_answer": sum(pred is None and tags > 0 for pred, tags in sides),
            "pairs_missing_answer": sum(r.get("true_tags", 1) == 0 or r.get("false_tags", 1) == 0
                                        for r in rows)}


def verify_claims(examples: Sequence[Example], run: Run | None, k: int | None, generator: Any,
                  max_new_tokens: int = CLIPPER_MAX_NEW_TOKENS, overflow: str = "error"
                  ) -> tuple[list[dict], list[dict]]:
    """Verify every claim on its top-``k`` chapters (window-checked first, qrexp.evals.qa_window); returns
    (rows per ranked example, rows per pair) as :func:`pair_rows`; score them with :func:`pair_accuracy`."""
    jobs = verification_jobs(examples, run, k)
    ready, _ = fit_prompts(generator, [j["prompt"] for j in jobs], [f"{j['pair']}/{j['claim']}" for j in jobs],
                           max_new_tokens, overflow)
    return pair_rows(jobs, generator.generate(ready, max_new_tokens))
