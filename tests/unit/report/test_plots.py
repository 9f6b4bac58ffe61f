"""Heat maps are written as real PNG files of non-trivial size."""
import struct

import numpy as np
import pytest
import torch

from qrexp.types import HeadSet
from qrexp.report.plots import plot_head_scores, plot_niah_heatmap

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR" and data.rstrip()[-8:-4] == b"IEND"
    return struct.unpack(">II", data[16:24]), len(data)


def test_head_scores_png(tmp_path):
    scores = torch.randn(30, 9, generator=torch.Generator().manual_seed(0))
    path = plot_head_scores(scores, tmp_path / "figs" / "heads.png", k=16, title="demo")
    (w, h), n_bytes = _png_size(path)
    assert h > w > 100 and n_bytes > 5_000  # 30 layers on y: taller than wide
    marked = plot_head_scores(scores, tmp_path / "marked.png", marked=HeadSet.parse("0-0,29-8"))
    assert _png_size(marked)[1] > 5_000
    with pytest.raises(ValueError, match="29-9 outside 30x9"):
        plot_head_scores(scores, tmp_path / "bad.png", marked=HeadSet.parse("29-9"))
    assert not list(tmp_path.rglob("*.tmp"))


def test_niah_png(tmp_path):
    lengths = [1000, 2000, 4000, 8000, 16000]
    depths = [0.0, 0.25, 0.5, 0.75, 1.0]
    values = np.random.default_rng(0).random((5, 5))
    values[0, 0] = np.nan  # a cell that was not run
    (w, h), n_bytes = _png_size(plot_niah_heatmap(values, lengths, depths, tmp_path / "niah.png"))
    assert w > 200 and h > 150 and n_bytes > 5_000
    with pytest.raises(ValueError, match=r"values shape \(5, 5\) != \(depths, lengths\) \(5, 4\)"):
        plot_niah_heatmap(values, lengths[:4], depths, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_niah_heatmap(values * 2, lengths, depths, tmp_path / "x.png")


def test_head_boxes_lie_inside_the_axes_at_every_edge():
    """Boxes of heads in the first/last layer and head column are drawn whole (not clipped): each
    outline, with half its line width, lies inside the axes' pixel box."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from qrexp.report.plots import head_scores_figure
    scores = torch.rand(30, 9, generator=torch.Generator().manual_seed(1))
    corners = HeadSet.parse("0-0,29-0,0-8,29-8,17-0")
    fig = head_scores_figure(scores, marked=corners)
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    box = ax.get_window_extent()
    boxes = [p for p in ax.patches]
    assert len(boxes) == len(corners)
    for patch in boxes:
        half = patch.get_linewidth() * fig.dpi / 72 / 2
        ext = patch.get_window_extent()
        assert ext.x0 - half >= box.x0 and ext.x1 + half <= box.x1, ext
        assert ext.y0 - half >= box.y0 and ext.y1 + half <= box.y1, ext
