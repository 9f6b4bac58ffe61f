"""Paper Fig. 1 on a real model: NIAH accuracy over context length x needle depth with no heads
masked, the top-k detected QRHeads masked, and k random heads masked (three heat maps).

    python experiments/masking_figure.py --heads results/heads/detected/smollm2-135m-generated-lme-qrscore-704dcbce51.json \
        [--model smollm2-135m] [--k 16] [--lengths 300 600 1200] [--depths 0.1 0.5 0.9] [--out results/figures/masking]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from qrexp.engine.forward import prepare_model
from qrexp.heads.sources import detected
from qrexp.evals.intervene import cells_from_examples, masking_figure
from qrexp.engine.models import load_model
from qrexp.data.niah import NEEDLES, niah_grid


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
    result = masking_figure(model, tok, cells_from_examples(examples), list(heads.heads), seed=args.seed,
                            out_png=args.out, max_new_tokens=args.max_new_tokens)
    for name, grid in result.grids.items():
        print(f"{name}: mean NIAH accuracy {float(grid.nanmean()):.3f}")
    print("\n".join(str(p) for p in result.paths.values()))


if __name__ == "__main__":
    main()
