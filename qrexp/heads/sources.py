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

How to add a head source: write ``def build(req: HeadRequest) -> HeadSet | None`` here, decorated
with ``@source("name", spec=(...), needs=(...))`` (plus ``detection="..."`` when it reads a detection's file);
``heads.source=name`` then selects it, and a method that always uses it is one entry of
qrexp.experiment.methods.METHODS.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from qrexp.heads.objectives import read_detection, read_detection_k
from qrexp.io.jsonio import read_text
from qrexp.registry import Registry
from qrexp.types import HeadSet, parse_head

PUBLISHED_DIR = Path(__file__).resolve().parents[2] / "results" / "heads" / "published"


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


def random(k: int, seed: int, n_layers: int, n_heads: int) -> HeadSet:
    """k distinct heads drawn uniformly with a seeded torch generator, sorted by (layer, head)."""
    total = n_layers * n_heads
    if not 1 <= k <= total:
        raise ValueError(f"random head set: k={k} must be in [1, {total}] for {n_layers}x{n_heads} heads")
    gen = torch.Generator().manual_seed(int(seed))
    flat = sorted(torch.randperm(total, generator=gen)[:k].tolist())
    return HeadSet(f"random-k{k}-s{seed}", tuple(divmod(i, n_heads) for i in flat), n_layers, n_heads)


def published_sets(root: str | Path | None = None) -> list[tuple[str, str]]:
    """(model_key, task) pairs available under ``root`` (default results/heads/published)."""
    folder = Path(root) if root is not None else PUBLISHED_DIR
    return sorted(tuple(p.stem.split("_", 1)) for p in folder.glob("*_*.json"))


def published(model_key: str, task: str, root: str | Path | None = None) -> HeadSet:
    """A head set shipped with the paper, read from ``<root>/<model_key>_<task>.json``.

    Raises KeyError (with close matches) for an unknown set, ValueError for a malformed file."""
    folder = Path(root) if root is not None else PUBLISHED_DIR
    path = folder / f"{model_key}_{task}.json"
    if not path.is_file():
        known = [f"{m}_{t}" for m, t in published_sets(folder)]
        close = difflib.get_close_matches(f"{model_key}_{task}", known, n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no published head set {model_key}/{task} in {folder}{hint} "
                       f"(known: {', '.join(known) or 'none'})")
    try:
        rec = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None
    for field in ("heads", "n_layers", "n_heads"):
        if field not in rec:
            raise ValueError(f"{path}: missing field {field!r}")
    if not isinstance(rec["heads"], list):
        raise ValueError(f"{path}: field 'heads' must be a list of 'layer-head' strings")
    where = f"{path} field 'heads'"
    heads = tuple(parse_head(t, where) for t in rec["heads"])
    try:
        return HeadSet(f"{model_key}-{task}", heads, rec["n_layers"], rec["n_heads"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def detected(path: str | Path, k: int | None = None) -> HeadSet:
    """The top-k heads of a detection file (either format of qrexp.heads.objectives); k=None uses the file's k."""
    ranked, scores = read_detection(path)
    k = k if k is not None else (read_detection_k(path) or len(ranked))
    if not 1 <= k <= len(ranked):
        raise ValueError(f"{path}: k={k} must be in [1, {len(ranked)}]")
    n_layers, n_heads = scores.shape
    return HeadSet(f"{Path(path).name.split('.')[0]}-top{k}", tuple(h for h, _ in ranked[:k]),
                   n_layers, n_heads)


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
