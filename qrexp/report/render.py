"""Rendering a leaderboard table (qrexp.report.tables.build_table) as Markdown, LaTeX (booktabs) and
CSV, and writing the three files atomically. Missing cells render as an en dash (Markdown) or "--"
(LaTeX), never as 0; deltas carry a sign.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from qrexp.io.files import atomic_write_text
from qrexp.report.tables import TableSpec

MISSING = "–"


def _fmt(value: float, source: str, digits: int) -> str | None:
    if value is None or math.isnan(value):
        return None
    value = round(value, digits) + 0.0  # no "-0.0"
    return f"{value:+.{digits}f}" if source == "delta" else f"{value:.{digits}f}"


NAMED_COLUMNS = ("eval.name", "eval.data.name")     # column values that name themselves (data sets)


def column_label(spec: TableSpec, value: Any) -> str:
    """A column's header: a swept config key is named with its value ("heads.k=16", not "16"); data-set
    columns, paper tables' columns and the average column keep their own names."""
    if spec.col_key is None or spec.col_key in NAMED_COLUMNS or spec.paper or value == spec.average:
        return str(value)
    return f"{spec.col_key}={value}"


def column_labels(table: pd.DataFrame, spec: TableSpec) -> list[str]:
    """The header of every column of ``table`` (:func:`column_label`)."""
    return [column_label(spec, c) for c in table.columns]


def _show_source(table: pd.DataFrame) -> bool:
    """The source column (ours / paper / delta) is shown only when it varies."""
    return table.index.get_level_values("source").nunique() > 1


def to_markdown(table: pd.DataFrame, spec: TableSpec) -> str:
    """A "### title" heading and a pipe table of ``table`` (index (row, source), as build_table
    returns): numbers rounded to ``spec.digits``, deltas signed and shown as "Δ", missing cells "–";
    the source column only when the table has paper numbers."""
    source_col = _show_source(table)
    header = [spec.row_key, *(["source"] if source_col else []), *column_labels(table, spec)]
    lines = [f"### {spec.title}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * (2 if source_col else 1) + ["---:"] * len(table.columns)) + "|"]
    previous = None
    for (row, source), values in table.iterrows():
        cells = [_fmt(v, source, spec.digits) or MISSING for v in values]
        label = "" if row == previous else row
        previous = row
        shown = ["Δ" if source == "delta" else source] if source_col else []
        lines.append("| " + " | ".join([label, *shown, *cells]) + " |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters (\\ & % $ # _ { } ~ ^) escaped."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(table: pd.DataFrame, spec: TableSpec) -> str:
    """A booktabs LaTeX table of ``table`` (needs \\usepackage{booktabs}), labelled ``tab:<name>``; a
    rule separates row groups, missing cells are "--", deltas signed and headed $\\Delta$."""
    names = {"ours": "ours", "paper": "paper", "delta": r"$\Delta$"}
    source_col = _show_source(table)
    lead = "l" * (2 if source_col else 1)
    lines = [r"\begin{table}[t]", r"\centering", f"\\caption{{{latex_escape(spec.title)}}}",
             f"\\label{{tab:{spec.name}}}", r"\begin{tabular}{" + lead + "r" * len(table.columns) + "}",
             r"\toprule",
             " & ".join([latex_escape(spec.row_key), *([""] if source_col else []),
                         *map(latex_escape, column_labels(table, spec))]) + r" \\",
             r"\midrule"]
    previous = None
    for (row, source), values in table.iterrows():
        if previous is not None and row != previous and len(table.index.levels[1]) > 1:
            lines.append(r"\midrule")
        cells = [_fmt(v, source, spec.digits) or "--" for v in values]
        label = "" if row == previous else latex_escape(row)
        previous = row
        lines.append(" & ".join([label, *([names[source]] if source_col else []), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(table: pd.DataFrame) -> str:
    """Long-form CSV (row, source, columns...), unrounded up to float noise (8 decimals);
    missing cells are empty."""
    return table.round(8).reset_index().to_csv(index=False, na_rep="")


def write_table(table: pd.DataFrame, spec: TableSpec, out_dir: str | os.PathLike,
                notes: str = "") -> dict[str, Path]:
    """Atomically write <out_dir>/<name>.md (the table, then ``notes``), .tex and .csv, each built
    whole in memory and written once (concurrent writers never mix); returns {"md": path, ...}."""
    out = Path(out_dir)
    md = to_markdown(table, spec) + (f"\n{notes}" if notes else "")
    texts = {"md": md, "tex": to_latex(table, spec), "csv": to_csv(table)}
    return {ext: atomic_write_text(out / f"{spec.name}.{ext}", text) for ext, text in texts.items()}
