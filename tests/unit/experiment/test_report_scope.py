"""Tables never mix or overwrite runs of different configs (issue 9, section 2): a capped smoke run
writes its own file and does not break the full table, a report with no runs leaves a committed
table alone, and runs that still disagree name the differing key. No model is loaded: run folders
are written with the ids and configs the evaluation stage would use."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from qrexp.experiment.config import from_hydra
from qrexp.experiment.evaluate import eval_config, eval_id
from qrexp.experiment.report import write_report
from qrexp.experiment.context import store_of

CONF = Path(__file__).resolve().parents[3] / "conf"


def config(tmp_path, *overrides):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return from_hydra(compose("config", overrides=["experiment=ablation/calibration",
                                                       f"out_dir={tmp_path}", *overrides]))


def finish_runs(cfg, recall: dict) -> None:
    """Finished evaluation folders for every method of ``cfg``: recall@5 = recall[method]."""
    store = store_of(cfg)
    for method in cfg.eval.methods:
        rid = eval_id(cfg, method)
        store.start(rid, eval_config(cfg, method))
        store.finish(rid, {"recall@5": recall[method]}, 3, {**eval_config(cfg, method), "experiment": cfg.name})
        store.mark_used(rid, cfg.name)


def table(path: Path) -> dict:
    """{(method, column): value} from a table CSV (row, source, columns...)."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    out = {}
    for line in lines[1:]:
        cells = line.split(",")
        for col, cell in zip(header[2:], cells[2:]):
            out[(cells[0], col)] = float(cell) if cell else None
    return out


def test_smoke_run_after_full_run_keeps_tables_apart(tmp_path):
    tables = tmp_path / "tables"
    for calibrate, shift in (("true", 0.0), ("false", 0.05)):
        finish_runs(config(tmp_path, "eval.data.limit=3", f"scoring.calibrate={calibrate}"),
                    {"qrhead": 0.6 + shift, "icr": 0.5 + shift, "random": 0.2 + shift})
    # a smaller smoke run afterwards: same experiment, different numbers
    small = config(tmp_path, "eval.data.limit=2")
    finish_runs(small, {"qrhead": 1.0, "icr": 0.0, "random": 0.5})
    lines = []
    assert write_report(small, log=lines.append) == [tables / "ablation_calibration-limit2.md"]
    t2 = table(tables / "ablation_calibration-limit2.csv")
    assert t2[("qrhead", "True")] == 100.0 and t2[("icr", "True")] == 0.0 and ("icr", "False") not in t2
    md = (tables / "ablation_calibration-limit2.md").read_text()
    assert "6 run(s) of other configs left out (eval.data.limit=3)" in md
    assert "runs with eval.data.limit=2" in md
    # the capped-at-3 table: its own file, both columns, no "runs disagree"
    write_report(config(tmp_path, "eval.data.limit=3"), log=lines.append)
    t3 = table(tables / "ablation_calibration-limit3.csv")
    assert t3[("qrhead", "True")] == pytest.approx(60.0) and t3[("random", "False")] == pytest.approx(25.0)
    assert not (tables / "ablation_calibration.md").exists()


def test_report_without_runs_leaves_a_committed_table_alone(tmp_path):
    committed = tmp_path / "tables" / "ablation_calibration.md"
    committed.parent.mkdir(parents=True)
    committed.write_text("| method | ... committed numbers |\n")
    lines = []
    assert write_report(config(tmp_path, "stage=report"), log=lines.append) == []
    assert committed.read_text() == "| method | ... committed numbers |\n"
    assert [p.name for p in committed.parent.iterdir()] == ["ablation_calibration.md"]
    assert any("ablation_calibration: no finished runs of this config" in line and "left as it is" in line
               for line in lines)


def test_runs_that_still_disagree_name_the_key_and_how_to_select(tmp_path):
    finish_runs(config(tmp_path), {"qrhead": 0.6, "icr": 0.5, "random": 0.2})
    finish_runs(config(tmp_path, "scoring.mask_sigma=1.0"), {"qrhead": 0.7, "icr": 0.4, "random": 0.2})
    with pytest.raises(ValueError) as err:
        write_report(config(tmp_path), log=lambda line: None)
    message = str(err.value)
    assert "disagree on R@5" in message and "\n" not in message
    assert "they differ in scoring.mask_sigma (1, 2)" in message
    assert "the table filter {scoring.mask_sigma: <value>}" in message


def test_runs_of_another_model_go_to_their_own_file(tmp_path):
    from qrexp.experiment.report_scope import table_stem
    qwen = config(tmp_path, "model=qwen2.5-7b")
    finish_runs(qwen, {"qrhead": 0.3, "icr": 0.2, "random": 0.1})
    assert write_report(qwen, log=lambda line: None) == [tmp_path / "tables" / "ablation_calibration-qwen2.5-7b.md"]
    assert table(tmp_path / "tables" / "ablation_calibration-qwen2.5-7b.csv")[("qrhead", "True")] == 30.0
    llama = config(tmp_path, "model=llama3.1-8b", "eval.data.limit=5")
    assert table_stem("table2", llama, "llama-3.1-8b") == "table2-limit5"      # the paper's spelling
    assert table_stem("table2", qwen, "llama-3.1-8b") == "table2-qwen2.5-7b"
    assert table_stem("table2", qwen) == "table2"                              # made for no model


def test_paper_numbers_follow_the_model_that_was_run():
    from qrexp.report.tables import paper_numbers
    from qrexp.experiment.report_scope import paper_model_for
    assert paper_model_for("table2", "llama-3.1-8b", "llama3.1-70b") == ("llama-3.1-70b", "")
    assert paper_model_for("table2", "llama-3.1-8b", "llama3.1-8b") == ("llama-3.1-8b", "")
    chosen, note = paper_model_for("table2", "llama-3.1-8b", "smollm2-135m")
    assert chosen == "llama-3.1-8b"
    assert note == "paper numbers and deltas are for llama-3.1-8b; these runs use smollm2-135m"
    # the 70B rows differ from the 8B rows: a 70B table no longer shows deltas against 8B numbers
    assert paper_numbers("table2", "llama-3.1-70b")["qrhead"] != paper_numbers("table2", "llama-3.1-8b")["qrhead"]
