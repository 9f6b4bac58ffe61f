"""Which runs a table may mix, and which file it goes to, so that tables from different configs never
share a file and a smaller smoke run never breaks (or overwrites) the full table.

* Scope keys: the data a run was scored on (``eval.data.*``, ``eval.qa.limit``), the model name and
  the seed. A table that reads every run of the store (``select: all``) keeps only runs whose scope
  values are those of the config the report runs with (the current config wins; the left-out runs
  are counted under the table). The table's own row/column/filter keys are never narrowed.
* File names: a config that caps the data (``eval.data.limit``, ``eval.qa.limit``) writes
  ``<name>-limit<N>`` (``-qa-limit<N>``), never the full table's ``<name>``; a model other than the
  one the table is made for (spec ``model`` or ``paper_model``) writes ``<name>-<model name>``.

Source: issue 9, section 2 (tables from different configs).
"""
from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from qrexp.experiment.config import RunConfig, evals_of, to_dict
from qrexp.report.tables import SCOPE_PREFIXES, TableSpec, config_label
from qrexp.runs.table import flatten


def same_model(a: str, b: str) -> bool:
    """Model names up to case and punctuation: "llama-3.1-8b" (paper) == "llama3.1-8b" (conf)."""
    return re.sub(r"[^a-z0-9]", "", a.lower()) == re.sub(r"[^a-z0-9]", "", b.lower())


def paper_model_for(paper_table: str, paper_model: str | None, model_name: str) -> tuple[str | None, str]:
    """(the paper table's model whose numbers a table of ``model_name`` runs shows, a note or "").

    The paper's own row for the model that was run when the paper has one; else the spec's
    ``paper_model`` (or the file's default), with a note that the paper numbers and deltas are
    for another model than the runs.
    """
    from qrexp.report.tables import load_paper_table
    data = load_paper_table(paper_table)
    known = sorted({e.get("model") for e in data["rows"]} - {None})
    for name in known:
        if same_model(name, model_name):
            return name, ""
    chosen = paper_model or data.get("default_model")
    if chosen and known:
        return chosen, f"paper numbers and deltas are for {chosen}; these runs use {model_name}"
    return chosen, ""


def table_stem(name: str, cfg: RunConfig, made_for: str | None = None) -> str:
    """``name`` plus the model when the table is made for another one (``made_for``: the spec's
    ``model`` or ``paper_model``; "llama-3.1-8b" and "llama3.1-8b" are the same model) and one
    qualifier per data cap the config sets: ``table2-qwen2.5-7b``, ``demo_retrieval-limit3``."""
    quals: list[str] = []
    if made_for and not same_model(str(made_for), cfg.model.name):
        quals.append(re.sub(r"[^A-Za-z0-9._-]+", "-", cfg.model.name))
    for one in evals_of(cfg):
        for qual, value in (("limit", one.eval.data.limit), ("qa-limit", one.eval.qa.limit)):
            if value is not None and f"{qual}{value}" not in quals:
                quals.append(f"{qual}{value}")
    return "-".join([name, *quals])


def config_scope(cfg: RunConfig) -> dict[str, set[str]]:
    """{scope key: the labels this config's evaluations use}, e.g. {"eval.data.limit": {"3"}}."""
    scope: dict[str, set[str]] = {}
    for one in evals_of(cfg):
        tree = {"eval": {"data": to_dict(one.eval.data), "qa": {"limit": one.eval.qa.limit}},
                "model": {"name": one.model.name}, "seed": one.seed}
        for key, value in flatten(tree).items():
            if key.startswith(SCOPE_PREFIXES):
                scope.setdefault(key, set()).add(config_label(value))
    return scope


def _spec_keys(spec: TableSpec, row_label: str | None) -> set[str]:
    keys = {spec.row_key, *(spec.filters or {})}
    keys |= {spec.col_key} if spec.col_key else set()
    for filters in (spec.column_filters or {}).values():
        keys |= set(filters)
    keys |= set(re.findall(r"\{([^}]+)\}", row_label or ""))
    return keys


def narrow_to_config(runs: pd.DataFrame, cfg: RunConfig, spec: TableSpec,
                     row_label: str | None = None) -> tuple[pd.DataFrame, str]:
    """(runs of this config's scope, a note naming what was left out, or "")."""
    if runs.empty:
        return runs, ""
    keep = pd.Series(True, index=runs.index)
    differing: dict[str, set[str]] = {}
    spec_keys = _spec_keys(spec, row_label)
    for key, allowed in config_scope(cfg).items():
        column = f"config.{key}"
        if key in spec_keys or column not in runs.columns:
            continue
        labels = runs[column].map(lambda v: None if _absent(v) else config_label(v))
        bad = labels.notna() & ~labels.isin(allowed)
        if bad.any():
            differing[key] = set(labels[bad])
        keep &= ~bad
    if keep.all():
        return runs, ""
    what = "; ".join(f"{k}={', '.join(sorted(v))}" for k, v in sorted(differing.items()))
    shown = "; ".join(f"{k}={', '.join(sorted(config_scope(cfg)[k]))}" for k in sorted(differing))
    note = (f"{int((~keep).sum())} run(s) of other configs left out ({what}); this table holds the "
            f"runs with {shown} (the config it was made with)")
    return runs[keep], note


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
