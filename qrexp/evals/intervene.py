"""Head-masking intervention on needle-in-a-haystack (paper Fig. 1): NIAH accuracy over needle
depth x context length while chosen heads' attention outputs are zeroed at every decoding step.

A run is correct when the ROUGE-1 recall of the greedy answer against the reference answer is above
0.5 (as in Wu et al.). Cells are keyed (depth, length); grids are [len(depths), len(lengths)] with
depths and lengths sorted ascending, NaN where a cell has no cases. Returns tensors and records
only: the heat maps are drawn by the caller (experiments/masking_figure.py, qrexp.report.plots).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import torch

from qrexp.engine.generate import MaskHeads, greedy_generate
from qrexp.heads.niah import NIAH_TEMPLATE, NiahCase, as_case, build_niah_prompt, case_from_example, rouge1_recall
from qrexp.heads.sets import random as random_heads
from qrexp.types import Example, Head, HeadSet, heads_by_layer

Cells = Mapping[tuple[float, int], Sequence[NiahCase]]


def cells_from_examples(examples: Iterable[Example]) -> dict[tuple[float, int], list[NiahCase]]:
    """Group :mod:`qrexp.data.niah` Examples by (meta["depth"], meta["length"])."""
    cells: dict[tuple[float, int], list[NiahCase]] = {}
    for ex in examples:
        missing = [k for k in ("depth", "length") if k not in ex.meta]
        if missing:
            raise ValueError(f"NIAH example {ex.qid}: meta lacks {missing}")
        key = (float(ex.meta["depth"]), int(ex.meta["length"]))
        cells.setdefault(key, []).append(case_from_example(ex))
    return cells


def grid_axes(cases_by_cell: Cells) -> tuple[list[float], list[int]]:
    """(sorted depths, sorted lengths) of the cells."""
    if not cases_by_cell:
        raise ValueError("NIAH grid: no cells")
    for key in cases_by_cell:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValueError(f"NIAH grid: cell key {key!r} must be (depth, length)")
    return sorted({float(d) for d, _ in cases_by_cell}), sorted({int(n) for _, n in cases_by_cell})


def as_mask(heads: MaskHeads | HeadSet | Iterable[Head] | None) -> MaskHeads:
    """None | {layer: heads} | HeadSet | [(layer, head), ...] -> {layer: sorted heads}."""
    if heads is None:
        return {}
    if isinstance(heads, Mapping):
        return {int(l): sorted(int(h) for h in hs) for l, hs in heads.items()}
    return heads_by_layer(heads)


def niah_accuracy_grid(model, tokenizer, cases_by_cell: Cells,
                       mask_heads: MaskHeads | HeadSet | Iterable[Head] | None = None,
                       max_new_tokens: int = 50, threshold: float = 0.5, chat: bool = True,
                       template: str = NIAH_TEMPLATE, stop_ids: Iterable[int] | None = None) -> torch.Tensor:
    """NIAH accuracy [len(depths), len(lengths)] in [0, 1] (axes from :func:`grid_axes`; NaN for a
    cell without cases) with ``mask_heads`` zeroed at every decoding step.

    One greedy generation per case (:func:`qrexp.engine.generate.greedy_generate`); a case is
    correct when ROUGE-1 recall of the answer > ``threshold``. Raises ValueError for a malformed
    case or heads outside the model."""
    depths, lengths = grid_axes(cases_by_cell)
    masks = as_mask(mask_heads)
    stops = None if stop_ids is None else list(stop_ids)
    grid = torch.full((len(depths), len(lengths)), float("nan"))
    for (depth, length), cases in cases_by_cell.items():
        hits = []
        for i, case in enumerate(cases):
            where = f"NIAH cell depth={depth} length={length} case {i}"
            case = as_case(case, where)
            prompt = build_niah_prompt(tokenizer, case, chat, template, where)
            trace = greedy_generate(model, tokenizer, prompt.ids, max_new_tokens, mask_heads=masks,
                                    stop_ids=stops)
            hits.append(rouge1_recall(trace.text, case.answer) > threshold)
        if hits:
            grid[depths.index(float(depth)), lengths.index(int(length))] = sum(hits) / len(hits)
    return grid


@dataclass(frozen=True)
class MaskingResult:
    """Accuracy grids [len(depths), len(lengths)] per condition ("none", "top{k}", "random{n}"), the
    masked heads (None for "none"), a plot title per condition (with its mean accuracy), the axes."""
    grids: dict[str, torch.Tensor]
    heads: dict[str, HeadSet | None]
    titles: dict[str, str]
    depths: list[float]
    lengths: list[int]


def masking_grids(model, tokenizer, grid_cases: Cells, top_heads: HeadSet | Iterable[Head],
                  n_random: int | None = None, seed: int = 0, **generation) -> MaskingResult:
    """Paper Fig. 1 comparison: NIAH accuracy with no masking, ``top_heads`` masked, and ``n_random``
    (default len(top_heads)) random heads masked, drawn outside ``top_heads`` with
    :func:`qrexp.heads.sets.random` (``exclude=top_heads``, ``seed``).

    ``generation`` goes to :func:`niah_accuracy_grid` (max_new_tokens, chat, template, ...). Runs
    3 x (number of cases) greedy generations; writes nothing. Raises ValueError for heads outside
    the model or ``n_random`` larger than the heads left.
    """
    n_layers, n_heads = model.config.num_hidden_layers, model.config.num_attention_heads
    top = top_heads if isinstance(top_heads, HeadSet) else HeadSet("top", tuple(top_heads))
    top = HeadSet(top.name, top.heads, n_layers, n_heads)                 # range check
    n_random = len(top) if n_random is None else int(n_random)
    rand = random_heads(n_random, seed, n_layers, n_heads, exclude=top.heads)
    conditions = {"none": None, f"top{len(top)}": top, f"random{n_random}": rand}
    what = {"none": "no masking", f"top{len(top)}": f"top-{len(top)} heads masked ({top.name})",
            f"random{n_random}": f"{n_random} random heads masked (seed {seed})"}
    depths, lengths = grid_axes(grid_cases)
    grids, titles = {}, {}
    for name, heads in conditions.items():
        grid = niah_accuracy_grid(model, tokenizer, grid_cases, heads, **generation)
        grids[name] = grid
        finite = grid[~grid.isnan()]
        mean = float(finite.mean()) if finite.numel() else float("nan")
        titles[name] = f"NIAH, {what[name]}: mean accuracy {mean:.2f}"
    return MaskingResult(grids, conditions, titles, depths, lengths)
