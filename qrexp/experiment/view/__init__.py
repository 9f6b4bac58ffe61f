"""A static HTML results viewer (``qrexp view``): leaderboards, per-experiment figures and a
per-query drill-down with token shading from the cached attention scores. See build.build_view."""
from qrexp.experiment.view.build import build_view, view_dir

__all__ = ["build_view", "view_dir"]
