"""A new evaluation kind is one KINDS entry: a test registers a graded-passage kind (its own loader in
LOADERS, its own QA plan, no identical-id rule) and runs it end to end through run_experiment on a
tiny random Llama (attention), BM25 and chance. The written run.trec re-scores, with pytrec_eval and
by hand, against the judgements written here to the metrics.json the runner wrote; QA accuracy is
recomputed from the rankings."""
import json
import math

import pytest
import pytrec_eval

from qrexp.data import LOADERS
from qrexp.engine.chat import user_turn
from qrexp.evals.kinds import KINDS, EvalKind, QAPlan
from qrexp.evals.llm import Generator
from qrexp.evals.protocol import Relevance
from qrexp.evals.qa_units import ranking_of, select_units
from qrexp.experiment import qa_stage
from qrexp.experiment.config import DataConfig, EvalConfig, ModelConfig, QAConfig, RunConfig
from qrexp.experiment.evaluate import eval_config, eval_id
from qrexp.experiment.run import run_experiment
from qrexp.io.trec import read_trec_run
from qrexp.types import Doc, Example

RECORDS = [   # graded passages; q1 lists a candidate whose id is the query id; q4 has nothing relevant
    {"qid": "q1", "query": "Which river flows past the old mill town?", "answer": "Avon",
     "passages": [["p1", "The Avon river flows past the old mill town.", 2],
                  ["p2", "Mills along a river once ground corn for the town.", 1],
                  ["q1", "Which river flows past the old mill town, asked the visitor.", 0],
                  ["p3", "The cathedral bells ring every hour on Sundays.", 0]]},
    {"qid": "q2", "query": "Who built the first telescope in the harbour city?", "answer": "Lorne",
     "passages": [["p4", "Harbour ships bring tea and spices from abroad.", 0],
                  ["p5", "Ada Lorne built the first telescope in the harbour city.", 2],
                  ["p6", "Lenses were polished by glass makers near the harbour.", 1]]},
    {"qid": "q3", "query": "What colour is the flag of the mountain guild?", "answer": "green",
     "passages": [["p7", "The mountain guild flies a green flag with a white star.", 1],
                  ["p8", "Guild members climb the northern ridge every spring.", 0],
                  ["p9", "Red roofs cover the houses in the valley.", 0]]},
    {"qid": "q4", "query": "When does the night market open?", "answer": "dusk",
     "passages": [["p10", "Lanterns hang over the square.", 0], ["p11", "Fishermen mend nets at noon.", 0]]},
]
QRELS = {r["qid"]: {pid: grade for pid, _, grade in r["passages"]} for r in RECORDS}
JUDGED = {q: rels for q, rels in QRELS.items() if any(g > 0 for g in rels.values())}   # q4 left out


def load_passages(path: str) -> list[Example]:
    """The test's data format: one JSON record per line, passages as [id, text, grade]."""
    out = []
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        out.append(Example(r["qid"], r["query"], tuple(Doc(p, t) for p, t, _ in r["passages"]),
                           {p for p, _, g in r["passages"] if g > 0}, r["answer"],
                           meta={"qrels": {p: g for p, _, g in r["passages"]}}))
    return out


def passage_plan(examples, run, k) -> QAPlan:
    """QA over the top-k passages, best first: one prompt per question, judged by the answer."""
    prompts = []
    for ex in examples:
        text = {d.doc_id: d.text for d in ex.docs}
        ids = select_units(ex, ranking_of(run, ex), k, "rank")
        prompts.append(user_turn("Passages:\n" + "\n".join(text[i] for i in ids) + f"\nQuestion: {ex.query}"))
    return QAPlan(None, prompts, [ex.qid for ex in examples])


class FirstPassage(Generator):
    """Answers with the first passage of the prompt: correct iff the top passage holds the answer."""

    def generate(self, prompts, max_new_tokens):
        return [p[-1]["content"].split("\n")[1] for p in prompts]


@pytest.fixture
def passages_kind(monkeypatch):
    LOADERS.register("test-passages")(load_passages)
    KINDS.register("test-passages")(EvalKind(
        "graded passages, no identical-id rule, QA from the top passages",
        Relevance(judged=True, identical_ids=False, no_relevant="no passage graded above 0"), qa=passage_plan))
    monkeypatch.setattr(qa_stage, "generator_of", lambda cfg: FirstPassage())
    yield
    KINDS._items.pop("test-passages")
    LOADERS._items.pop("test-passages")


def _config(tiny_dir, tmp_path, **eval_overrides) -> RunConfig:
    path = tmp_path / "passages.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    e = EvalConfig(name="passages", kind="test-passages",
                   data=DataConfig(name="passages", loader="test-passages", args={"path": str(path)}, qrels=True),
                   methods=("icr", "bm25", "chance"), measures=("nDCG@10", "R@1", "RR"), ks=(1,),
                   qa=QAConfig(enabled=True, top_k=(1,), max_new_tokens=4, methods=("icr", "bm25")),
                   **eval_overrides)
    return RunConfig(name="kinds", stage="evaluate", out_dir=str(tmp_path / "out"), progress=False,
                     model=ModelConfig(path=str(tiny_dir), dtype="float32", device="cpu", k=4), eval=e)


def _by_hand(ranking: dict[str, float], rels: dict[str, int]) -> dict[str, float]:
    """nDCG@10 (trec_eval: linear gains, log2 discount), R@1 and RR of one ranking."""
    order = sorted(ranking, key=lambda d: (-ranking[d], d))
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(order[:10]))
    ideal = sorted(rels.values(), reverse=True)
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal[:10]))
    relevant = [d for d, g in rels.items() if g > 0]
    first = next(i for i, d in enumerate(order) if rels.get(d, 0) > 0)
    return {"nDCG@10": dcg / idcg, "R@1": sum(d in relevant for d in order[:1]) / len(relevant),
            "RR": 1.0 / (first + 1)}


def test_a_kind_registered_in_a_test_runs_end_to_end(passages_kind, tiny_dir, tmp_path):
    cfg = _config(tiny_dir, tmp_path)
    sem = eval_config(cfg, "bm25")["eval"]
    assert sem["kind"] == "test-passages" and "ignore_identical_ids" not in sem and "claim_queries" not in sem
    flipped = _config(tiny_dir, tmp_path, ignore_identical_ids=False, claim_queries="per_pair")
    assert eval_id(flipped, "bm25") == eval_id(cfg, "bm25")          # fields of other kinds: same run

    out = run_experiment(cfg)
    assert not out["failed"] and len(out["summary"]) == 3
    evaluator = pytrec_eval.RelevanceEvaluator(JUDGED, {"ndcg_cut_10", "recall_1", "recip_rank"})
    for method in ("icr", "bm25", "chance"):
        folder = tmp_path / "out" / "runs" / eval_id(cfg, method)
        rec = json.loads((folder / "metrics.json").read_text())
        run = read_trec_run(folder / "run.trec")
        assert set(run) == set(QRELS) and "q1" in run["q1"]           # no identical-id rule: q1 kept
        per = evaluator.evaluate(run)
        mean = lambda m: sum(per[q][m] for q in JUDGED) / len(JUDGED)
        expected = {"nDCG@10": mean("ndcg_cut_10"), "R@1": mean("recall_1"), "RR": mean("recip_rank")}
        hand = [_by_hand(run[q], JUDGED[q]) for q in JUDGED]
        for name, value in expected.items():
            assert rec["metrics"][name] == pytest.approx(value, abs=1e-12), (method, name)
            assert value == pytest.approx(sum(h[name] for h in hand) / len(hand), abs=1e-12), (method, name)
        qrels = {}
        for line in (folder / "qrels.trec").read_text().splitlines():
            q, _, d, g = line.split()
            qrels.setdefault(q, {})[d] = int(g)
        assert qrels == JUDGED
        protocol = rec["extra"]["protocol"]
        assert protocol["n_no_relevant"] == 1 and protocol["n_scored"] == 3 and rec["n"] == 4
        assert "n_identical_dropped" not in protocol and "n_candidates_equal_query_id" not in protocol
        assert "gold_coverage" not in rec["extra"]                    # judged: no unit-recall report
        if method == "chance":
            assert not any(k.startswith("Acc") for k in rec["metrics"])
            continue
        answer = {r["qid"]: r["answer"] for r in RECORDS}
        text = {p: t for r in RECORDS for p, t, _ in r["passages"]}
        top = {q: sorted(run[q], key=lambda d: (-run[q][d], d))[0] for q in run}
        correct = [answer[q].lower() in text[top[q]].lower() for q in sorted(run)]
        assert rec["metrics"]["Acc@1"] == pytest.approx(sum(correct) / len(correct))
        rows = {r["qid"]: r for r in map(json.loads, (folder / "per_query.jsonl").read_text().splitlines())}
        assert [rows[q]["hypothesis@1"] for q in sorted(run)] == [text[top[q]] for q in sorted(run)]
    folder = tmp_path / "out" / "runs" / eval_id(cfg, "bm25")
    run = read_trec_run(folder / "run.trec")
    assert [sorted(run[q], key=lambda d: (-run[q][d], d))[0] for q in ("q1", "q2", "q3")] == ["q1", "p5", "p7"]
    assert json.loads((folder / "metrics.json").read_text())["metrics"]["Acc@1"] == 0.5   # q2 and q3 of 4
    shown = {r.method: sorted(r.measures) for r in out["summary"]}
    assert shown["bm25"] == ["Acc@1", "R@1", "RR", "nDCG@10"] and shown["chance"] == ["R@1", "RR", "nDCG@10"]
