"""Data sets: every loader turns files into ``list[qrexp.types.Example]`` (query, candidate docs, gold).

``LOADERS`` maps the config's ``data.loader`` names to loader functions; :func:`load_examples` calls
one by name with its keyword arguments (paths and protocol fields, the config's ``data.args``), e.g.
``load_examples("lme", path=..., unit="round")``. Unknown names raise KeyError with "did you mean".

How to add a data set (one loader file + one YAML):
  1. ``qrexp/data/<name>.py`` with ``load_<name>(path, ..., limit=None) -> list[Example]``: read the
     files with :mod:`qrexp.io.jsonio` (errors name file, record and field), one Example per query with
     unique ``qid``, the candidates as ``docs`` (unique ``doc_id``), ``gold`` the relevant doc ids, and
     whatever the protocol needs in ``meta`` (``meta["qrels"]`` for graded judgements); register it
     below with ``LOADERS.register("<name>")(<name>.load_<name>)``.
  2. One YAML in ``conf/eval/`` (or ``conf/detect/``) with ``data.loader: <name>`` and ``data.args``:
     the loader's keyword arguments.
A loader imports only the leaves (types, io, registry) and other data modules, never the engine.
"""
from __future__ import annotations

from typing import Any, Callable

from qrexp.data import beir, clipper, instances, lme, niah
from qrexp.registry import Registry
from qrexp.types import Example

LOADERS: Registry[Callable[..., list[Example]]] = Registry("data loader")
LOADERS.register("instances")(instances.load_instances)
LOADERS.register("lme")(lme.load_lme)
LOADERS.register("clipper")(clipper.load_clipper)
LOADERS.register("beir")(beir.load_beir)
LOADERS.register("niah")(niah.niah_grid)


def load_examples(name: str, **kwargs: Any) -> list[Example]:
    """Run the loader registered as ``name`` with ``kwargs`` -> list[Example].

    Raises KeyError (with "did you mean") for an unknown name; the loader's own errors (ValueError
    naming file, record and field; FileNotFoundError) pass through.
    """
    return LOADERS.get(name)(**kwargs)
