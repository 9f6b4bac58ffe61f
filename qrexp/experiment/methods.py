"""The method table: one registry, ``METHODS``, name -> :class:`Method` (``eval.methods=[...]``).

An attention method ranks with a head set over the cached per-example scores: its head source
(qrexp.heads.sources.SOURCES; ``CONFIGURED`` = the config's ``heads.source``) and its scoring
overrides (e.g. icr-uncal: no null-query calibration). A ranker method ranks with a
qrexp.evals.baselines ranker built from the config. A method with neither (full-context) ranks
nothing and answers from the whole context. ``depends_on`` lists the config parts, besides the
evaluation, that enter its run id (``model``, ``scoring``, ``heads``, ``dense_model``).

How to add a method: one ``"name": Method(...)`` entry of ``TABLE`` below (a new head source is
one entry of qrexp.heads.sources). ``qrexp list methods`` prints the descriptions.
"""
from __future__ import annotations

import difflib
import random as random_mod
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from qrexp.engine.rerank import Ranker
from qrexp.evals.baselines import RANKERS
from qrexp.experiment.config import RunConfig
from qrexp.experiment.context import generator_of
from qrexp.experiment.resume import journaled
from qrexp.heads.sources import SOURCES
from qrexp.registry import Registry
from qrexp.types import Example, Run

CONFIGURED = "configured"                 # the head source the config names (heads.source)


@dataclass(frozen=True)
class Method:
    """One row of the method table (see the module docstring)."""
    description: str
    heads: str | None = None                               # head source (CONFIGURED: heads.source)
    scoring: Mapping[str, Any] = field(default_factory=dict)   # ScoringConfig overrides
    ranker: Callable[[RunConfig, Any], Any] | None = None  # (cfg, checkpoint) -> a ranker, .rank(examples) -> Run
    depends_on: tuple[str, ...] = ()                       # config parts in the run id besides eval

    @property
    def attention(self) -> bool:
        return self.heads is not None

    @property
    def answers_only(self) -> bool:
        """No ranking: QA from the whole context (full-context)."""
        return self.heads is None and self.ranker is None

    @property
    def uses_model(self) -> bool:
        """Whether ranking loads the scored model (QA always does)."""
        return "model" in self.depends_on


class ChanceRanker(Ranker):
    """A seeded random ranking, the chance level: one ``random.Random(f"chance-{seed}")`` draw per
    candidate, in example and candidate order (the generator restarts with every ``rank`` call)."""

    desc = "chance"

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def rank(self, examples: Sequence[Example]) -> Run:
        self.rng = random_mod.Random(f"chance-{self.seed}")
        return super().rank(examples)

    def score(self, example: Example) -> list[float]:
        return [self.rng.random() for _ in example.docs]


METHODS: Registry[Method] = Registry("method")
ATTENTION = ("model", "scoring", "heads")
TABLE: dict[str, Method] = {                 # in the order users see them (qrexp list methods)
    "qrhead": Method("the configured head set (default: QRHeads detected with QRscore), calibrated attention",
                     heads=CONFIGURED, depends_on=ATTENTION),
    "icr": Method("all heads, calibrated (in-context re-ranking, Chen et al. 2025)",
                  heads="full", depends_on=ATTENTION),
    "icr-uncal": Method("all heads without the null-query calibration", heads="full",
                        scoring={"calibrate": False}, depends_on=ATTENTION),
    "random": Method("k random heads (heads.seed)", heads="random", depends_on=ATTENTION),
    "rethead": Method("k NIAH retrieval heads (Wu et al. 2025; copy-paste score)", heads="niah",
                      depends_on=ATTENTION),
    "published": Method("the paper's published head list for the model (model.published_key, heads.task)",
                         heads="published", depends_on=ATTENTION),
    "bm25": Method("the first-stage BM25 ranking (BEIR: the supplied run or the whole corpus; long-context: "
                   "the question's own history or book), Anserini settings, never a pool re-score",
                   ranker=lambda cfg, ckpt: RANKERS.get("bm25")()),
    "dense": Method("a sentence-transformers bi-encoder (eval.dense_model; default all-MiniLM-L6-v2)",
                    ranker=lambda cfg, ckpt: RANKERS.get("dense")(model=cfg.eval.dense_model),
                    depends_on=("dense_model",)),
    "rankgpt": Method("listwise LLM re-ranking with a sliding window, with the scored model",
                      ranker=lambda cfg, ckpt: RANKERS.get("rankgpt")(journaled(ckpt, generator_of(cfg), "rankgpt")), depends_on=("model",)),
    "chance": Method("a seeded random ranking (the chance level)", ranker=lambda cfg, ckpt: ChanceRanker(cfg.seed)),
    "full-context": Method("QA from the whole context (no retrieval)", depends_on=("model",)),
}
for _name, _method in TABLE.items():
    METHODS.register(_name)(_method)


def check_method(name: str) -> Method:
    """The method called ``name``; ValueError "unknown method 'x'; did you mean y?" otherwise."""
    if name not in METHODS:
        known = [*TABLE, *(n for n in METHODS if n not in TABLE)]
        close = difflib.get_close_matches(name, known, n=2)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"unknown method {name!r}{hint} (known: {', '.join(known)})")
    return METHODS.get(name)


OPTION_KEYS = {"k": "heads.k", "seed": "heads.seed", "key": "model.published_key", "task": "heads.task",
               "heads": "heads.heads"}     # HeadRequest field -> the config key that sets it


def head_options(cfg: RunConfig) -> dict:
    """The configured head-set options a source may use (HeadRequest fields; heads.k=None: the model's k)."""
    hc = cfg.heads
    return {"k": cfg.model.k if hc.k is None else hc.k, "seed": hc.seed, "key": cfg.model.published_key,
            "task": hc.task, "heads": hc.heads}


def missing_options(cfg: RunConfig, name: str) -> list[str]:
    """The config keys method ``name``'s head source needs and ``cfg`` leaves unset."""
    method = METHODS.get(name)
    if not method.attention:
        return []
    options = head_options(cfg)
    return [OPTION_KEYS[f] for f in SOURCES.get(head_source(cfg, method)).needs if not options[f]]


def head_source(cfg: RunConfig, method: Method) -> str:
    """The head source an attention method uses (qrhead: the configured one)."""
    return cfg.heads.source if method.heads == CONFIGURED else method.heads


def wants_qa(cfg: RunConfig, name: str) -> bool:
    """Whether QA runs on ``name``'s ranking: eval.qa.enabled and (no eval.qa.methods or listed)."""
    qa = cfg.eval.qa
    return qa.enabled and (not qa.methods or name in qa.methods)


def runs_qa(cfg: RunConfig, name: str) -> bool:
    """Whether evaluating ``name`` answers questions: always for full-context, else :func:`wants_qa`."""
    return METHODS.get(name).answers_only or wants_qa(cfg, name)


def detections(cfg: RunConfig) -> set[str]:
    """The detectors (qrexp.experiment.detect.DETECTORS) whose heads ``cfg``'s attention methods read,
    e.g. {"qr"} for qrhead with heads.source=detected, {"niah"} for rethead."""
    found = set()
    for name in cfg.eval.methods:
        method = METHODS.get(name) if name in METHODS else None
        if method is not None and method.attention:
            found.add(SOURCES.get(head_source(cfg, method)).detection)
    return found - {None}
