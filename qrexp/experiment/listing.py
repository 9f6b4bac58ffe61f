"""``qrexp list [models|data|methods|kinds|measures|experiments|tables]``: what exists, one line each.

Models, data sets (evaluation and detection configs), experiments and tables come from the
Hydra config tree ``conf/`` (each YAML's leading comment is its description) and from the paper's
numbers in results/paper; methods from the method table (qrexp.experiment.methods.TABLE); evaluation
kinds from qrexp.evals.kinds.KINDS; measures from qrexp.measures.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from qrexp.evals.kinds import KINDS
from qrexp.experiment.compose import group_options
from qrexp.experiment.methods import TABLE
from qrexp.io.package_data import package_data
from qrexp.measures import describe as describe_measures

CONF = package_data("conf")                    # conf/, shipped in the package
WHAT = ("models", "data", "methods", "kinds", "measures", "experiments", "tables")


def describe(path: Path, width: int = 110) -> str:
    """The first sentence of a YAML file's leading comment (without '@package' lines), cut to ``width``."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("# ").strip()
        if text and not text.startswith("@package"):
            lines.append(text)
    text, depth, end = " ".join(lines), 0, None
    for i, ch in enumerate(text):                   # the first sentence: ". " or "; " outside brackets
        depth += (ch in "([") - (ch in ")]")
        if ch in ".;" and depth == 0 and text[i + 1:i + 2] in (" ", ""):
            end = i
            break
    sentence = text[:end]
    return sentence if len(sentence) <= width else sentence[: width - 3].rstrip() + "..."


def _rows(what: str) -> list[tuple[str, str]]:
    if what == "models":
        out = []
        for name, path in group_options(CONF, "model"):
            cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            about = describe(path)
            path = cfg.get("path")
            where = "" if path in (None, "???") or about.startswith(str(path)) else f"{path}: "
            out.append((f"model={name}", f"{where}{about} (k={cfg.get('k', 16)})"))
        return out
    if what == "data":
        return ([(f"eval={n}", describe(p)) for n, p in group_options(CONF, "eval")]
                + [(f"detect={n}", describe(p)) for n, p in group_options(CONF, "detect")])
    if what == "methods":
        return [(f"eval.methods=[{m}]", method.description) for m, method in TABLE.items()]
    if what == "kinds":
        return [(f"eval.kind={k}", KINDS.get(k).description) for k in KINDS]
    if what == "measures":
        return describe_measures()
    if what == "experiments":
        return [(f"experiment={n}", describe(p)) for n, p in group_options(CONF, "experiment")]
    if what == "tables":
        return _tables()
    raise ValueError(f"qrexp list: unknown {what!r}; choose from {', '.join(WHAT)}")


def _tables() -> list[tuple[str, str]]:
    """Every table spec (report configs and experiments' own) with its title and where it comes from."""
    out = []
    for group, prefix in (("report", "report"), ("experiment", "experiment")):
        for name, path in group_options(CONF, group):
            cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            tables = cfg.get("tables") or (cfg.get("report") or {}).get("tables") or []
            for spec in tables:
                paper = f"; paper numbers results/paper/{spec['paper_table']}.yaml" if spec.get("paper_table") else ""
                out.append((spec["name"], f"{spec.get('title', '')} ({prefix}={name}{paper})"))
    return out


def lines(what: str) -> list[str]:
    """The aligned lines ``qrexp list <what>`` prints."""
    rows = _rows(what)
    width = max((len(k) for k, _ in rows), default=0)
    return [f"{k.ljust(width)}  {v}" for k, v in rows]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="qrexp list", description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="?", choices=WHAT, help="what to list (default: all)")
    args = ap.parse_args(argv)
    for what in [args.what] if args.what else WHAT:
        if not args.what:
            print(f"{what}:")
        for line in lines(what):
            print(("  " if not args.what else "") + line)


if __name__ == "__main__":
    main()
