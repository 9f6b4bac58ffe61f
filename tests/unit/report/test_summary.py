"""End-of-run / end-of-sweep summaries: exact renderings from hand-set rows and job records."""
from qrexp.evals.kinds import KINDS
from qrexp.experiment.config import EvalConfig, RunConfig
from qrexp.report.summary import (RunRow, format_counts, format_table, headline, read_job_records, row_of,
                           sweep_report, write_job_record)


def test_headline_measures_follow_the_evaluation_kind():
    metrics = {"R@1": 0.1, "Success@1": 0.2, "R_all@1": 0.0, "R@5": 0.5, "Acc@5": 0.4, "parse_failures@5": 1}
    lme = KINDS.get("lme").headline(["nDCG@10"], [5, 1])
    assert lme == ["R@1", "R@5"] and headline(lme, metrics) == ["R@1", "R@5", "Acc@5"]
    beir = {"nDCG@10": 0.46, "R@1": 0.2, "R@5": 0.6}
    retrieval = KINDS.get("retrieval").headline(["ndcg_cut_10", "recall_5"], [1])
    assert retrieval == ["nDCG@10", "R@5"] and headline(retrieval, beir) == ["nDCG@10", "R@5"]


def test_row_of_keeps_headline_measures_in_canonical_names():
    cfg = RunConfig(eval=EvalConfig(name="nq", kind="retrieval", measures=("ndcg_cut_10", "recall_100")))
    shown = KINDS.get(cfg.eval.kind).headline(cfg.eval.measures, cfg.eval.ks)
    row = row_of(cfg, "qrhead", "done", {"ndcg_cut_10": 0.586, "recall_100": 0.9, "R@5": 0.1}, 512, "runs/x",
                 retrieval=shown)
    assert row.measures == {"nDCG@10": 0.586, "R@100": 0.9} and row.n == 512 and row.path == "runs/x"


def test_table_is_method_by_measure_on_the_paper_scale():
    rows = [RunRow("nq", "qrhead", "done", {"nDCG@10": 0.58612, "R@100": 0.9}, 512, "runs/a"),
            RunRow("nq", "icr", "reused", {"nDCG@10": 0.54}, 512, "runs/b"),
            RunRow("nq", "rankgpt", "failed", reason="ValueError: boom")]
    assert format_table(rows) == (
        "nq (measures x100)\n"
        "method  nDCG@10  R@100    n  status  run\n"
        "qrhead     58.6   90.0  512  done    runs/a\n"
        "icr        54.0      –  512  reused  runs/b\n")
    assert format_counts(rows) == ("runs: 1 done, 1 reused, 1 failed\n"
                                   "  failed nq/rankgpt: ValueError: boom\n")


def test_sweep_records_name_jobs_by_the_swept_keys(tmp_path):
    base = ["model=tiny", "eval=fixture_beir"]
    write_job_record(tmp_path / "0", [*base, "heads.k=4"],
                     [RunRow("nq", "qrhead", "done", {"nDCG@10": 0.5}, 3, "runs/k4")], None)
    write_job_record(tmp_path / "1", [*base, "heads.k=16"],
                     [RunRow("nq", "qrhead", "reused", {"nDCG@10": 0.25}, 3, "runs/k16")], None)
    write_job_record(tmp_path / "10", [*base, "heads.k=99"], [], "ValueError: k=99 exceeds 6 heads")
    rows, failed_jobs = read_job_records(tmp_path)
    assert [r.job for r in rows] == ["heads.k=4", "heads.k=16"]          # numeric job order, swept key only
    assert failed_jobs == {"heads.k=99": "ValueError: k=99 exceeds 6 heads"}
    text = sweep_report(tmp_path)
    assert "job         method  nDCG@10  n  status  run" in text
    assert "heads.k=16  qrhead     25.0  3  reused  runs/k16" in text
    assert text.endswith("runs: 1 done, 1 reused, 1 failed\n  failed job heads.k=99: ValueError: k=99 exceeds 6 heads\n")
