"""Paper Fig. 1 on a real model: NIAH accuracy over context length x needle depth with no heads
masked, the top-k detected QRHeads masked, and k random heads masked (three heat maps).

    python experiments/masking_figure.py --heads results/heads/detected/smollm2-135m-generated-lme-qrscore-704dcbce51.json \
        [--model smollm2-135m] [--k 16] [--lengths 300 600 1200] [--depths 0.1 0.5 0.9] [--out results/figures/masking]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from qrexp.data.niah import NEEDLES, niah_grid
from qrexp.engine.forward import prepare_model
from qrexp.engine.models import load_model
from qrexp.evals.intervene import MaskingResult, cells_from_examples, masking_grids
from qrexp.heads.sets import detected
from qrexp.report.plots import plot_niah_heatmap


def write_heatmaps(result: MaskingResult, out_png: str | Path) -> dict[str, Path]:
    """One heat map per condition next to ``out_png``: <stem>-none.png, <stem>-top{k}.png,
    <stem>-random{n}.png (qrexp.report.plots.plot_niah_heatmap); returns {condition: path}."""
    out = Path(out_png)
    return {name: plot_niah_heatmap(grid, result.lengths, result.depths,
                                    out.with_name(f"{out.stem}-{name}.png"), title=result.titles[name])
            for name, grid in result.grids.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heads", required=True, help="a detection file (ours or the paper code's format)")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--lengths", type=int, nargs="+", default=[300, 600, 1200])
    ap.add_argument("--depths", type=float, nargs="+", default=[0.1, 0.5, 0.9])
    ap.add_argument("--needles", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/figures/masking")
    args = ap.parse_args()
    model, tok = load_model(args.model)
    prepare_model(model)
    count = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])
    examples = niah_grid(args.lengths, args.depths, NEEDLES[: args.needles], count_tokens=count, seed=args.seed)
    heads = detected(args.heads, args.k)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result = masking_grids(model, tok, cells_from_examples(examples), list(heads.heads), seed=args.seed,
                           max_new_tokens=args.max_new_tokens)
    paths = write_heatmaps(result, args.out)
    for name, grid in result.grids.items():
        print(f"{name}: mean NIAH accuracy {float(grid.nanmean()):.3f}")
    print("\n".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
