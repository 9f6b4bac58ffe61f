"""Head sources: where a head set comes from. One registry, ``SOURCES``, name -> :class:`HeadSource`.

    full       every head (the ICR setting): ``None``, which the scorer reads as all L x H heads
    random     k distinct heads drawn with a seeded torch generator, sorted by (layer, head)
    published  the top-k of a head list shipped with the paper (results/heads/published)
    explicit   the heads written in the config, "13-18,13-21"
    detected   the top-k of a QR detection run's heads file (QRscore, nDCG@10, ...)
    niah       the top-k of a NIAH detection run's heads file (Wu et al.'s copy score)

A source builds a HeadSet from a :class:`HeadRequest` (the model's shape and the configured k, seed,
published key / task, explicit heads, and for detected sources the detection file). ``spec`` names
the request fields that identify the set in run ids; ``detection`` names the detection stage whose
heads file the source reads (qrexp.experiment.detect.DETECTORS runs it first).

The head-set functions themselves (random, published, detected) are in qrexp.heads.sets.

How to add a head source: write ``def build(req: HeadRequest) -> HeadSet | None`` here, decorated
with ``@source("name", spec=(...), needs=(...))`` (plus ``detection="..."`` when it reads a detection's file);
``heads.source=name`` then selects it, and a method that always uses it is one entry of
qrexp.experiment.methods.METHODS.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from qrexp.heads.sets import detected, published, random
from qrexp.registry import Registry
from qrexp.types import HeadSet


@dataclass(frozen=True)
class HeadRequest:
    """What a head source may use: the model's L x H, the number of heads k and the source's options."""
    n_layers: int
    n_heads: int
    k: int
    seed: int = 0                      # random
    key: str | None = None             # published: the model's key (model.published_key)
    task: str | None = None            # published: the task (lme, nq)
    heads: str | None = None           # explicit: "13-18,13-21"
    path: Path | None = None           # detected / niah: the detection's heads JSON


@dataclass(frozen=True)
class HeadSource:
    """A registered head source: ``build`` (None = every head), the request fields ``spec`` that
    identify its heads in run ids, the fields it ``needs`` set (checked before any work), and the
    detection stage it reads from (None: none)."""
    build: Callable[[HeadRequest], HeadSet | None]
    spec: tuple[str, ...] = ()
    detection: str | None = None
    needs: tuple[str, ...] = ()


SOURCES: Registry[HeadSource] = Registry("head source")


def source(name: str, spec: tuple[str, ...] = (), detection: str | None = None, needs: tuple[str, ...] = ()):
    """Decorator: register ``build`` as head source ``name``."""
    def deco(build: Callable[[HeadRequest], HeadSet | None]):
        SOURCES.register(name)(HeadSource(build, spec, detection, needs))
        return build
    return deco


@source("full")
def _full(req: HeadRequest) -> None:
    return None                                   # the scorer's "every head" (no subset)


@source("random", spec=("k", "seed"))
def _random(req: HeadRequest) -> HeadSet:
    return random(req.k, req.seed, req.n_layers, req.n_heads)


@source("explicit", spec=("heads",), needs=("heads",))
def _explicit(req: HeadRequest) -> HeadSet:
    return HeadSet.parse(req.heads, "explicit", req.n_layers, req.n_heads)


@source("published", spec=("key", "task"), needs=("key", "task"))
def _published(req: HeadRequest) -> HeadSet:
    if not req.key or not req.task:
        raise ValueError(f"heads.source=published needs model.published_key and heads.task "
                         f"(key {req.key!r}, task {req.task!r})")
    hs = published(req.key, req.task)
    return HeadSet(hs.name, hs.heads, req.n_layers, req.n_heads).top(req.k)


def _from_detection(req: HeadRequest) -> HeadSet:
    hs = detected(req.path, req.k)
    return HeadSet(hs.name, hs.heads, req.n_layers, req.n_heads)


source("detected", spec=("k",), detection="qr")(_from_detection)
source("niah", spec=("k",), detection="niah")(_from_detection)
