"""Head masking on NIAH: masking the planted copy head (found by the NIAH score) breaks every cell,
masking random other heads does not; heat maps are written (by the experiment script); random heads
avoid the top heads."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from copy_organism import copy_model
from organisms import word_tokenizer
from qrexp.heads.sets import random as random_heads, top_k
from qrexp.evals.intervene import as_mask, cells_from_examples, grid_axes, masking_grids, niah_accuracy_grid
from qrexp.heads.niah import NiahCase, niah_retrieval_scores
from qrexp.data.niah import NEEDLES, make_niah

NEEDLE = " ".join(f"w{i}" for i in range(10, 18))
GEN = dict(max_new_tokens=8, chat=False, template="{context} {question}")
DEPTHS, LENGTHS = (0.0, 0.5, 1.0), (20, 40)


def _case(length, depth, seed):
    filler = [f"w{i}" for i in np.random.default_rng(seed).integers(100, 200, size=length)]
    at = round(depth * length)
    return NiahCase(" ".join(filler[:at] + [NEEDLE] + filler[at:]), NEEDLE, "w9", NEEDLE)


@pytest.fixture(scope="module")
def setup():
    tok = word_tokenizer(220)
    model = copy_model(len(tok), tok.eos_token_id, layer=0, head=1)
    cells = {(d, n): [_case(n, d, seed=i)] for i, (d, n) in enumerate(
        (d, n) for d in DEPTHS for n in LENGTHS)}
    return tok, model, cells


def test_masking_the_detected_head_breaks_niah(setup, tmp_path):
    tok, model, cells = setup
    detected = niah_retrieval_scores(model, tok, [c for cs in cells.values() for c in cs], **GEN)
    top = top_k(detected.scores, 1, name="niah")
    assert top.heads == ((0, 1),)
    result = masking_grids(model, tok, cells, top, n_random=3, seed=0, **GEN)
    assert list(result.grids) == ["none", "top1", "random3"]
    assert result.depths == list(DEPTHS) and result.lengths == list(LENGTHS)
    assert (result.grids["none"] == 1).all() and result.grids["none"].shape == (3, 2)
    assert (result.grids["top1"] == 0).all()
    assert (result.grids["random3"] == 1).all()
    assert (0, 1) not in result.heads["random3"] and len(result.heads["random3"]) == 3
    assert result.titles["top1"] == "NIAH, top-1 heads masked (niah): mean accuracy 0.00"
    assert result.titles["none"] == "NIAH, no masking: mean accuracy 1.00"
    assert not list(tmp_path.iterdir())                                   # evals write nothing
    script = Path(__file__).resolve().parents[2] / "experiments" / "masking_figure.py"
    spec = importlib.util.spec_from_file_location("masking_figure", script)
    figure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figure)
    paths = figure.write_heatmaps(result, tmp_path / "fig" / "mask.png")
    assert list(paths) == ["none", "top1", "random3"]
    for name, path in paths.items():
        assert path.name == f"mask-{name}.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_grid_layout_and_missing_cells(setup):
    tok, model, cells = setup
    partial = {k: v for k, v in cells.items() if k != (0.5, 40)}
    partial[(0.5, 20)] = partial[(0.5, 20)] + [_case(20, 0.5, seed=99)._replace(question="w49")]
    grid = niah_accuracy_grid(model, tok, partial, mask_heads={1: [0, 2]}, **GEN)
    assert grid.shape == (3, 2) and torch.isnan(grid[1, 1])
    assert grid[1, 0] == 0.5                                      # one right, one wrong answer
    assert (grid[[0, 2]] == 1).all()
    with pytest.raises(ValueError, match="no cells"):
        grid_axes({})


def test_random_heads_and_masks():
    a = random_heads(5, seed=3, n_layers=4, n_heads=8, exclude=[(0, 1), (2, 2)])
    assert a == random_heads(5, seed=3, n_layers=4, n_heads=8, exclude=[(0, 1), (2, 2)])
    assert len(a) == 5 and not {(0, 1), (2, 2)} & set(a.heads) and list(a.heads) == sorted(a.heads)
    assert random_heads(5, seed=4, n_layers=4, n_heads=8, exclude=[(0, 1), (2, 2)]).heads != a.heads
    every = random_heads(30, seed=0, n_layers=4, n_heads=8, exclude=[(0, 1), (2, 2)])
    assert len(set(every.heads)) == 30
    with pytest.raises(ValueError, match=r"k=31 must be in \[1, 30\] for 4x8 heads \(2 excluded\)"):
        random_heads(31, seed=0, n_layers=4, n_heads=8, exclude=[(0, 1), (2, 2)])
    # no exclusion: the same draw as the flat randperm over all L*H heads (layer-major)
    flat = sorted(torch.randperm(32, generator=torch.Generator().manual_seed(3))[:5].tolist())
    assert random_heads(5, seed=3, n_layers=4, n_heads=8).heads == tuple(divmod(i, 8) for i in flat)
    assert as_mask([(2, 3), (0, 5), (2, 1)]) == {0: [5], 2: [1, 3]}
    assert as_mask(None) == {}


def test_cells_from_niah_examples():
    hay = ["One two three four.", "Five six seven eight."]
    exs = [make_niah(hay, nd, length=n, depth=d) for nd in NEEDLES[:2] for n in (40, 80) for d in (0.0, 1.0)]
    cells = cells_from_examples(exs)
    assert grid_axes(cells) == ([0.0, 1.0], [40, 80])
    assert all(len(v) == 2 for v in cells.values())
    assert cells[(1.0, 80)][1].answer == NEEDLES[1].answer
