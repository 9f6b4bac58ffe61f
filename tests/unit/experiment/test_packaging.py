"""A plain (non-editable) install carries the config tree, the paper's numbers and the published heads
(qrexp.io.package_data): the wheel built from a copy of the source holds every file of conf/,
results/paper/ and results/heads/published/ byte for byte, and the wheel installed into a fresh venv
composes the demo from its own package data, away from any checkout. Offline: --no-index,
--no-build-isolation, --no-deps; the venv sees the test interpreter's packages through a .pth line."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = {"conf": "package_data/conf", "results/paper": "package_data/paper",
           "results/heads/published": "package_data/published_heads"}


def _pip(*args, cwd=None):
    subprocess.run([sys.executable, "-m", "pip", *args, "--no-index", "--disable-pip-version-check", "-q"],
                   check=True, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a minimal copy of this checkout (what `pip install .` builds), links kept as links."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for part in ("qrexp", "conf", "results/paper", "results/heads/published"):
        shutil.copytree(ROOT / part, src / part, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    assert (src / "qrexp" / "package_data" / "conf").is_symlink()          # one copy in git
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src))
    (built,) = (tmp / "dist").glob("qrexp-*.whl")
    return built


def test_wheel_holds_every_shipped_file(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for source, inside in SHIPPED.items():
            files = sorted(p for p in (ROOT / source).rglob("*") if p.is_file())
            assert files, source
            for path in files:
                name = f"qrexp/{inside}/{path.relative_to(ROOT / source).as_posix()}"
                assert name in names, name
                assert z.read(name) == path.read_bytes(), name
        assert "qrexp/io/package_data.py" in names and "qrexp/experiment/view/templates/index.html" in names
        assert not [n for n in names if n.startswith(("conf/", "results/", "tests/"))]   # nothing loose


PROBE = """
import json, qrexp
from qrexp.experiment.compose import compose_config
from qrexp.heads.sets import published
from qrexp.io.package_data import package_data
from qrexp.report.tables import PAPER_DIR
cfg = compose_config(["experiment=demo"])
print(json.dumps({"qrexp": qrexp.__file__, "conf": str(package_data("conf")), "paper": str(PAPER_DIR),
                  "name": cfg.name, "evals": sorted(cfg.suite), "report": [t["name"] for t in cfg.report.tables],
                  "heads": list(published("llama3.1-8b", "lme").heads)}))
"""


@pytest.mark.slow            # ~20 s: a venv, an install and two interpreters that import torch
def test_installed_wheel_composes_the_demo_from_package_data(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies (torch, hydra, ...) from the test interpreter; a plain path line, so that
    # interpreter's own .pth files (an editable qrexp) are not processed
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _pip("install", "--no-deps", "--target", str(site), str(wheel))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "QREXP_DATA")}
    run = subprocess.run([str(python), "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    installed = site / "qrexp"
    assert Path(got["qrexp"]).parent == installed                       # not the checkout's qrexp
    assert Path(got["conf"]) == installed / "package_data" / "conf" and not Path(got["conf"]).is_symlink()
    assert Path(got["paper"]) == installed / "package_data" / "paper"
    assert got["name"] == "demo" and got["evals"] == ["beir", "clipper", "lme"]
    assert got["report"] == ["demo_retrieval"]
    shipped = json.loads((ROOT / "results/heads/published/llama3.1-8b_lme.json").read_text())["heads"]
    assert [f"{layer}-{head}" for layer, head in got["heads"]] == shipped
    listed = subprocess.run([str(python), "-m", "qrexp", "list", "experiments"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and "experiment=paper/table2" in listed.stdout, listed.stderr[-2000:]
