"""Report tables written by several processes at once (jobs of concurrent sweeps) come out whole:
the same bytes as a table written alone, one "Sample sizes" line, no appended duplicates."""
import multiprocessing as mp
from pathlib import Path

from qrexp.experiment.config import DataConfig, EvalConfig, ReportConfig, RunConfig
from qrexp.experiment.report import write_report
from qrexp.runs.store import RunStore, run_id

SPEC = {"name": "conc", "title": "Concurrent", "row_key": "method", "col_key": "scoring.calibrate",
        "metric": "ndcg_cut_10", "filters": {"eval.name": "fx"}, "select": "all", "scale": 100,
        "digits": 1, "claims": [["icr", ">", "random", "True"]]}
DATA = DataConfig(name="fx", loader="instances",       # run ids hash the data's content: it must load
                  args={"path": str(Path(__file__).resolve().parents[2] / "data" / "instances_tiny.json")})
VALUES = {("icr", True): 0.75, ("icr", False): 0.5, ("random", True): 0.25, ("random", False): 0.125}


def _config(out_dir) -> RunConfig:
    return RunConfig(out_dir=str(out_dir), eval=EvalConfig(name="fx", methods=("icr", "random"), data=DATA),
                     report=ReportConfig(tables=(SPEC,)))


def _fill(out_dir) -> None:
    store = RunStore(out_dir / "runs")
    for (method, calibrate), value in VALUES.items():
        config = {"stage": "evaluate", "method": method, "scoring": {"calibrate": calibrate},
                  "eval": {"name": "fx"}}
        store.finish(run_id(config, ("method",)), {"ndcg_cut_10": value}, n=4, config=config)


def _writer(out_dir: str, barrier, times: int) -> None:
    cfg = _config(out_dir)
    barrier.wait(300)                               # every process imported: start together
    for _ in range(times):
        write_report(cfg, log=lambda m: None)


def test_concurrent_report_writers_leave_the_solo_table(tmp_path):
    solo = tmp_path / "solo"
    _fill(solo)
    write_report(_config(solo), log=lambda m: None)
    expected = (solo / "tables" / "conc.md").read_text()
    assert expected.count("Sample sizes: scoring.calibrate=False n=4, scoring.calibrate=True n=4.") == 1
    assert "| icr | 50.0 | 75.0 |" in expected
    assert "icr > random on True: holds (75.0 vs 25.0)" in expected

    shared = tmp_path / "shared"
    _fill(shared)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_writer, args=(str(shared), barrier, 5)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    for ext in ("md", "tex", "csv"):
        assert (shared / "tables" / f"conc.{ext}").read_text() == (solo / "tables" / f"conc.{ext}").read_text()
    assert not list((shared / "tables").glob(".*.tmp"))           # no temp files left behind
