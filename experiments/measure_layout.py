"""Layout measures of issue 10: qrexp frames between ``run_experiment`` and the model's forward, and
the files that name methods, head sources, evaluation kinds and objectives.

Frames: one tiny evaluation (method ``icr`` on the BEIR fixture, one query, every head) and one tiny
detection (QRscore on the instance fixture, one example) and one NIAH detection (method ``rethead``,
one haystack), each into a fresh score cache, with the embedded SmolLM2 on CPU. A forward pre-hook on
the loaded model records the Python stack at every forward; the count is the frames whose file lies
under qrexp/ from ``run_experiment`` (inclusive) down to the model call. The deepest forward of each
run is reported, with its frames listed.

Files: the qrexp/ modules that choose by a method, head-source, evaluation-kind or objective name
(string comparisons and name tables), i.e. the files a new entry of that kind must touch.

    python experiments/measure_layout.py [--list]
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "qrexp"
sys.path.insert(0, str(ROOT))


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from qrexp.experiment.config import from_hydra
    os.environ.setdefault("QREXP_TEST_DATA", str(ROOT / "tests" / "data"))
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose("config", overrides=[f"hydra.searchpath=[file://{ROOT / 'tests' / 'conf'}]",
                                           "progress=false", *overrides])
    return from_hydra(cfg)


_STACKS: list[list[str]] = []       # filled by the forward hook (a model loaded once serves every run)


def _frames_at_forward(overrides: list[str], through: str = "") -> list[str]:
    """The qrexp frames (file:function) from run_experiment down to the deepest model forward whose
    stack passes through a file path containing ``through``."""
    import torch
    from qrexp.engine import models
    from qrexp.experiment.run import run_experiment
    stacks = _STACKS
    stacks.clear()

    def hook(module, args, kwargs):
        frames = traceback.extract_stack()
        names = [f"{Path(f.filename).relative_to(ROOT)}:{f.name}" for f in frames
                 if Path(f.filename).resolve().is_relative_to(PKG)]
        start = max((i for i, n in enumerate(names) if n.endswith(":run_experiment")), default=None)
        if start is not None:
            _STACKS.append(names[start:])

    load = models.load_model

    def hooked_load(*a, **kw):
        model, tok = load(*a, **kw)
        model.register_forward_pre_hook(hook, with_kwargs=True)
        return model, tok

    with tempfile.TemporaryDirectory(prefix="qrexp-layout-") as out:
        cfg = _compose([f"out_dir={out}", *overrides])
        patched = [m for m in list(sys.modules.values())
                   if m and m.__name__.startswith("qrexp") and getattr(m, "load_model", None) is load]
        for m in patched:
            m.load_model = hooked_load
        try:
            with torch.no_grad():
                run_experiment(cfg)
        finally:
            for m in patched:
                m.load_model = load
    stacks = [s for s in stacks if any(through in n for n in s)]
    if not stacks:
        raise RuntimeError(f"no model forward seen for {overrides}")
    return max(stacks, key=len)


RUNS = {
    "evaluation (icr, 1 query)": (["stage=evaluate", "eval=fixture_beir", "eval.methods=[icr]",
                                   "eval.data.limit=1"], ""),
    "detection (qrscore, 1 example)": (["stage=detect", "detect=fixture", "detect.data.limit=1"], ""),
    "NIAH detection (rethead)": (["stage=evaluate", "eval=fixture_beir", "eval.methods=[rethead]",
                                  "eval.data.limit=1", "niah.lengths=[300]", "niah.depths=[0.1,0.5]",
                                  "niah.n_needles=2"], "heads/niah.py"),
}

# Name-based choices: a comparison with a name literal (``method == "icr"``, ``kind in ("lme", ...)``),
# or a table literal holding two or more names (a dict, tuple, list or set). A new entry of that kind
# has to be added in each such file (plus its registry entry, where there is a registry).
NAMES = {
    "method": {"qrhead", "icr", "icr-uncal", "random", "rethead", "published", "bm25", "dense", "rankgpt",
               "chance", "full-context"},
    "head source": {"detected", "published", "full", "random", "niah", "explicit"},
    "evaluation kind": {"retrieval", "lme", "clipper"},
    "objective": {"qrscore", "ndcg10", "recall1"},
}


def _choices(tree: ast.AST, names: set[str]) -> int:
    """How many comparisons with, and table literals of, ``names`` a module holds."""
    def named(node) -> int:
        return int(isinstance(node, ast.Constant) and node.value in names)
    found = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            found += any(named(p) or (isinstance(p, (ast.Tuple, ast.List, ast.Set))
                                      and any(map(named, p.elts))) for p in parts)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            found += sum(map(named, node.elts)) >= 2
        elif isinstance(node, ast.Dict):
            found += sum(named(k) for k in node.keys if k is not None) >= 2
    return found


def choice_files(root: Path) -> dict[str, list[str]]:
    """{kind: the qrexp/ modules under ``root`` that choose by a name of that kind}."""
    trees = {str(p.relative_to(root)): ast.parse(p.read_text(encoding="utf-8"))
             for p in sorted((root / "qrexp").rglob("*.py"))}
    return {what: [f for f, tree in trees.items() if _choices(tree, names)] for what, names in NAMES.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="list the frames and files, not only counts")
    ap.add_argument("--no-frames", action="store_true", help="skip the model runs")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout whose files are counted (default: this one)")
    args = ap.parse_args()
    if not args.no_frames:
        for label, (overrides, through) in RUNS.items():
            frames = _frames_at_forward(overrides, through)
            print(f"qrexp frames run_experiment -> model, {label}: {len(frames)}")
            if args.list:
                print("".join(f"    {f}\n" for f in frames), end="")
    for what, files in choice_files(args.root).items():
        print(f"files choosing by {what} name: {len(files)}" + (f"  {' '.join(files)}" if args.list else ""))


if __name__ == "__main__":
    main()
