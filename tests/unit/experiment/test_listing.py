"""`qrexp list`: every config option, method, measure and table appears, one line each."""
import subprocess
import sys
from pathlib import Path

import pytest

from qrexp.evals.kinds import KINDS
from qrexp.experiment import listing
from qrexp.experiment.methods import METHODS
from qrexp.measures import normalise

CONF = Path(__file__).resolve().parents[3] / "conf"


@pytest.mark.parametrize("what, group, key", [("models", "model", "model"), ("experiments", "experiment", "experiment"),
                                              ("data", "eval", "eval"), ("data", "detect", "detect")])
def test_every_config_option_is_listed_once(what, group, key):
    options = sorted(str(p.relative_to(CONF / group).with_suffix("")) for p in (CONF / group).rglob("*.yaml"))
    listed = [line.split()[0] for line in listing.lines(what) if line.startswith(f"{key}=")]
    assert listed == [f"{key}={o}" for o in options]
    assert all(len(line.split(None, 1)) == 2 and "\n" not in line for line in listing.lines(what))


def test_methods_are_exactly_the_ones_evaluation_runs():
    listed = [line.split()[0] for line in listing.lines("methods")]
    assert sorted(listed) == sorted(f"eval.methods=[{m}]" for m in METHODS.names())
    assert listed[:2] == ["eval.methods=[qrhead]", "eval.methods=[icr]"]      # the paper's order


def test_kinds_are_exactly_the_registered_ones():
    assert [line.split()[0] for line in listing.lines("kinds")] == [f"eval.kind={k}" for k in KINDS.names()]
    assert "pair accuracy" in listing.lines("kinds")[0]                     # clipper, with its description


def test_measures_and_tables():
    for line in listing.lines("measures"):
        name = line.split()[0].replace("[@k]", "").replace("@k", "@10")
        assert normalise(name) == name
    tables = [line.split()[0] for line in listing.lines("tables")]
    assert {"demo_retrieval", "table1", "table2", "table8", "ablation_num_heads"} <= set(tables)
    assert len(tables) == len(set(tables))


def test_command_line():
    out = subprocess.run([sys.executable, "-m", "qrexp.experiment.cli", "list", "measures"], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parents[3]).stdout
    assert out.splitlines() == listing.lines("measures")
