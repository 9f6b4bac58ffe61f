"""Task loaders: every data set becomes ``list[qrexp.types.Example]``.

``TASK_LOADERS`` maps config names to loader functions; :func:`load_examples` calls one by name with
its keyword arguments (paths and protocol fields), e.g. ``load_examples("lme", path=..., unit="round")``.
"""
from __future__ import annotations

from typing import Any, Callable

from qrexp.registry import Registry
from qrexp.data import beir, clipper, instances, lme, niah
from qrexp.types import Example

TASK_LOADERS: Registry[Callable[..., list[Example]]] = Registry("task loader")
TASK_LOADERS.register("instances")(instances.load_instances)
TASK_LOADERS.register("lme")(lme.load_lme)
TASK_LOADERS.register("clipper")(clipper.load_clipper)
TASK_LOADERS.register("beir")(beir.load_beir)
TASK_LOADERS.register("niah")(niah.niah_grid)


def load_examples(name: str, **kwargs: Any) -> list[Example]:
    """Run the loader registered as ``name`` (unknown names get a did-you-mean error)."""
    return TASK_LOADERS.get(name)(**kwargs)
