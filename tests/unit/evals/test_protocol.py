"""Protocol rules between ranking and metrics, with values computed independently: BEIR's
ignore_identical_ids on an ArguAna-style folder (1.0 vs 1/log2(3)), queries without a relevant
document left out, gold ids outside the candidates warned about, the missing-query convention
recorded, and run.trec re-scored by pytrec_eval equal to metrics.json."""
import json
import logging
import math
from pathlib import Path

import pytest
import pytrec_eval

from qrexp.experiment.config import DataConfig, EvalConfig, HeadsConfig, RunConfig
from qrexp.experiment.run import run_experiment
from qrexp.evals.metrics import evaluate_run
from qrexp.io.trec import read_trec_run

DATA = Path(__file__).parents[2] / "data"


@pytest.fixture(autouse=True)
def irds_home(tmp_path, monkeypatch):
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))


def _cfg(tmp_path, data: DataConfig, **eval_fields) -> RunConfig:
    ev = EvalConfig(name="probe", kind="retrieval", data=data, methods=("bm25",),
                    measures=("ndcg_cut_10", "recall_1"), **eval_fields)
    return RunConfig(name="probe", stage="evaluate", out_dir=str(tmp_path / "out"), progress=False,
                     heads=HeadsConfig(source="full"), eval=ev)


def _arguana(tmp_path, **eval_fields) -> RunConfig:
    data = DataConfig(name="arguana-tiny", loader="beir", qrels=True,
                      args={"source": str(DATA / "arguana_tiny"), "run": None, "top_k": 10,
                            "n_queries": None, "order": "bm25"})
    return _cfg(tmp_path, data, **eval_fields)


def _record(tmp_path) -> dict:
    (folder,) = [p for p in (tmp_path / "out" / "runs").iterdir() if (p / "metrics.json").exists()]
    return {"folder": folder, **json.loads((folder / "metrics.json").read_text())}


def test_identical_ids_dropped_as_beir_gives_ndcg_1(tmp_path):
    out = run_experiment(_arguana(tmp_path))
    assert out["metrics"]["probe/bm25"]["nDCG@10"] == pytest.approx(1.0)
    rec = _record(tmp_path)
    proto = rec["extra"]["protocol"]
    assert proto["ignore_identical_ids"] is True and proto["n_identical_dropped"] == 2
    assert proto["n_candidates_equal_query_id"] == 2
    run = read_trec_run(rec["folder"] / "run.trec")
    assert "a1" not in run["a1"] and "a2" not in run["a2"]
    # the written run, scored by pytrec_eval itself, gives the same number
    qrels = {"a1": {"a1-con": 1}, "a2": {"a2-con": 1}}
    scored = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"}).evaluate(run)
    assert sum(v["ndcg_cut_10"] for v in scored.values()) / 2 == pytest.approx(1.0)


def test_identical_ids_kept_when_asked_gives_the_bm25_self_match(tmp_path):
    run_experiment(_arguana(tmp_path, ignore_identical_ids=False))
    rec = _record(tmp_path)
    # each query's own document ranks first, its counter-argument second: DCG = 1/log2(3), IDCG = 1
    assert rec["metrics"]["nDCG@10"] == pytest.approx(1 / math.log2(3))
    assert rec["metrics"]["R@1"] == 0.0
    assert rec["extra"]["protocol"]["n_identical_dropped"] == 0
    assert rec["config"]["eval"]["ignore_identical_ids"] is False


def _instances(tmp_path, records) -> DataConfig:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(records))
    return DataConfig(name="inst", loader="instances", args={"path": str(path)})


def _inst(idx, question, paras, gold):
    return {"idx": idx, "question": question, "gt_docs": gold, "num_gold_docs": len(gold),
            "paragraphs": [{"idx": i, "title": None, "paragraph_text": t} for i, t in paras]}


def test_query_without_relevant_document_is_left_out_and_counted(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="qrexp")
    paras = [("p1", "apples grow on trees"), ("p2", "oranges are citrus fruit")]
    records = [_inst("q1", "where do apples grow", paras, ["p1"]),
               _inst("q2", "oranges citrus", paras, ["p2"]),
               _inst("q3", "apples", paras, [])]                          # no relevant document
    run_experiment(_cfg(tmp_path, _instances(tmp_path, records)))
    rec = _record(tmp_path)
    # q1, q2: the gold paragraph is BM25's top hit (shared terms) -> 1.0; q3 is not averaged in as 0
    assert rec["metrics"]["nDCG@10"] == pytest.approx(1.0)
    proto = rec["extra"]["protocol"]
    assert proto["n_no_relevant"] == 1 and proto["n_scored"] == 2 and proto["n_examples"] == 3
    assert "trec_eval -c" in proto["missing_queries"]
    rows = [json.loads(x) for x in (rec["folder"] / "per_query.jsonl").read_text().splitlines()]
    assert sorted(r["qid"] for r in rows) == ["q1", "q2"]
    assert "1 of 3 queries have no relevant document" in capsys.readouterr().out + caplog.text


def test_gold_outside_candidates_is_warned_with_a_count(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="qrexp")
    paras = [("p1", "apples grow on trees"), ("p2", "oranges are citrus fruit")]
    records = [_inst("q1", "where do apples grow", paras, ["p1", "p9"]),
               _inst("q2", "oranges citrus", paras, ["p2", "p8", "p7"])]
    run_experiment(_cfg(tmp_path, _instances(tmp_path, records)))
    out = capsys.readouterr().out + caplog.text
    assert "3 gold id(s) of 2 quer(y/ies) are not among their candidates" in out
    rec = _record(tmp_path)
    assert rec["extra"]["protocol"]["n_gold_outside_candidates"] == 3
    # recall@1 counts the missing gold: q1 1/2, q2 1/3
    assert rec["metrics"]["R@1"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_missing_query_counts_zero_like_trec_eval_c():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    run = {"q1": {"d1": 2.0, "d3": 1.0}}
    _, zero = evaluate_run(run, qrels, ["ndcg_cut_10"], missing="zero")
    _, skip = evaluate_run(run, qrels, ["ndcg_cut_10"], missing="skip")
    assert zero["nDCG@10"] == pytest.approx(0.5)            # (1 + 0) / 2, trec_eval -c
    assert skip["nDCG@10"] == pytest.approx(1.0)            # pytrec_eval / BEIR: q2 dropped
    direct = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"}).evaluate(run)
    assert list(direct) == ["q1"]                               # pytrec_eval itself skips q2


def test_library_calls_take_one_measure_or_cut_off_as_a_scalar():
    from qrexp.evals.metrics import retrieval_metrics
    qrels, run = {"q1": {"d1": 1}}, {"q1": {"d2": 2.0, "d1": 1.0}}
    _, one = evaluate_run(run, qrels, "ndcg_cut_10")                 # not the letters of the name
    assert one == {"nDCG@10": pytest.approx(1 / math.log2(3))}
    _, mean = retrieval_metrics(run, {"q1": {"d1"}}, 2)
    assert mean["R@2"] == 1.0 and "R@1" not in mean


def test_one_rule_for_examples_without_gold():
    """has_relevant (protocol counts) and gold_coverage (recall's left-out report) use one rule."""
    from qrexp.evals.protocol import GOLD_UNITS, data_counts, gold_coverage, has_relevant, left_out_reason
    from qrexp.types import Doc, Example
    docs = [Doc("r1", "a"), Doc("r2", "b")]
    examples = [Example("gold", "q", docs, {"r1"}),
                Example("abs", "q", docs, {"r2"}, meta={"abstention": True}),
                Example("none", "q", docs, set(), meta={"no_gold": "evidence sessions absent"}),
                Example("bare", "q", docs, set())]
    assert [left_out_reason(ex) for ex in examples] == [None, "abstention question", "evidence sessions absent",
                                                         "no gold unit"]
    assert [has_relevant(ex, GOLD_UNITS) for ex in examples] == [True, False, False, False]
    cov = gold_coverage(examples)
    assert cov == {"n": 4, "with_gold": 1, "left_out": {"abstention question": 1, "evidence sessions absent": 1,
                                                        "no gold unit": 1}}
    assert data_counts(examples, GOLD_UNITS)["n_no_relevant"] == sum(cov["left_out"].values()) == 3
