"""The typed experiment configuration and its one conversion from Hydra's DictConfig.

The library only sees these frozen dataclasses; Hydra and OmegaConf stay in the runner. Every
protocol choice of the paper is a named field here, so it is logged with every run.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

STAGES = ("detect", "evaluate", "pipeline", "report", "view")
HEAD_SOURCES = ("detected", "published", "full", "random", "niah", "explicit")
EVAL_KINDS = ("retrieval", "lme", "clipper")


@dataclass(frozen=True)
class ModelConfig:
    name: str = "smollm2-135m"           # label in tables and run ids
    path: str = "smollm2-135m"           # hub id, local folder, .gguf file, or embedded alias
    gguf_file: str | None = None
    revision: str | None = None
    dtype: str | None = None             # None: bf16 on GPU, fp32 on CPU
    device: str | None = None
    device_map: str | None = None        # "auto" shards over several GPUs
    prompt_style: str = "chat"           # chat | reference
    reference_family: str | None = None
    k: int = 16                          # heads kept: 16 under 10B parameters, 32 for 70B
    published_key: str | None = None     # key of results/heads/published/<key>_<task>.json


@dataclass(frozen=True)
class ScoringConfig:
    query_span: str = "instruction"      # instruction | query
    null_query: str = "N/A"
    calibrate: bool = True
    mask_sigma: float | None = 2.0       # None: no outlier mask
    aggregation: str = "paper"           # paper: sum heads then mask | per_head


@dataclass(frozen=True)
class DataConfig:
    name: str = "data"                   # label, e.g. lme, nq, generated-beir
    loader: str = "instances"            # key of qrexp.tasks.TASK_LOADERS
    args: Mapping[str, Any] = field(default_factory=dict)   # paths and protocol fields
    generate: str | None = None          # built-in generator that writes the files first
    sizes: Mapping[str, int] = field(default_factory=dict)   # generator sizes (defaults if empty)
    limit: int | None = None
    qrels: bool = False                  # graded qrels from meta["qrels"] instead of gold sets


@dataclass(frozen=True)
class DetectConfig:
    name: str = "detect"
    data: DataConfig = DataConfig()
    objective: str = "qrscore"           # qrscore | ndcg10 | recall1 (| niah for NIAH data)
    max_new_tokens: int = 16             # NIAH generation length


@dataclass(frozen=True)
class NiahConfig:
    """NIAH retrieval-head detection (Wu et al.): needles x context lengths x depths."""
    lengths: tuple[int, ...] = (300, 600)            # haystack lengths in tokens of the model
    depths: tuple[float, ...] = (0.1, 0.5, 0.9)
    n_needles: int = 3
    max_new_tokens: int = 24
    threshold: float = 0.5                           # ROUGE-1 recall for a run to count


@dataclass(frozen=True)
class HeadsConfig:
    source: str = "detected"             # detected | published | full | random | niah | explicit
    k: int | None = None                 # None: the model's k
    seed: int = 0                        # random heads
    task: str | None = None              # published task (lme, nq)
    heads: str | None = None             # explicit "13-18,13-21"


@dataclass(frozen=True)
class QAConfig:
    enabled: bool = False
    top_k: tuple[int, ...] = (5,)
    max_new_tokens: int = 32
    judge: str = "contains"              # contains | llm
    judge_url: str | None = None         # OpenAI-compatible endpoint for judge=llm
    judge_model: str | None = None
    methods: tuple[str, ...] = ()        # methods whose rankings feed QA (empty: every method)
    limit: int | None = None             # answer only the first N questions (CPU demos)


@dataclass(frozen=True)
class EvalConfig:
    name: str = "eval"
    kind: str = "retrieval"              # retrieval | lme | clipper
    data: DataConfig = DataConfig()
    methods: tuple[str, ...] = ("qrhead",)
    measures: tuple[str, ...] = ("ndcg_cut_10", "recall_10", "recall_100")
    ks: tuple[int, ...] = (3, 5, 10)
    dense_model: str | None = None       # None: the packaged all-MiniLM-L6-v2
    qa: QAConfig = QAConfig()
    detect: DetectConfig | None = None   # heads for this eval detected on other data (e.g. BEIR: NQ)


@dataclass(frozen=True)
class LoggerConfig:
    kind: str = "none"                   # none | wandb
    project: str = "qrexp"
    mode: str = "offline"                # offline | online | disabled
    entity: str | None = None


@dataclass(frozen=True)
class ReportConfig:
    tables: tuple[Mapping[str, Any], ...] = ()   # table specs (qrexp.reporting.spec_from_dict)
    out: str | None = None                        # None: <out_dir>/tables


@dataclass(frozen=True)
class RunConfig:
    name: str = "default"                # experiment name: run folders and tables are grouped by it
    stage: str = "pipeline"
    seed: int = 0
    out_dir: str = "results"
    cache_dir: str | None = None         # score cache; None: <out_dir>/cache
    data_dir: str = "data"               # downloaded data sets (configs interpolate it)
    generated_sizes: Mapping[str, int] = field(default_factory=dict)   # sizes of generated data
    progress: bool = True
    model: ModelConfig = ModelConfig()
    scoring: ScoringConfig = ScoringConfig()
    detect: DetectConfig = DetectConfig()
    niah: NiahConfig = NiahConfig()
    heads: HeadsConfig = HeadsConfig()
    eval: EvalConfig = EvalConfig()
    suite: Mapping[str, EvalConfig] = field(default_factory=dict)   # several evals in one run
    logger: LoggerConfig = LoggerConfig()
    report: ReportConfig = ReportConfig()

    def __post_init__(self) -> None:
        checks = [("stage", self.stage, STAGES), ("heads.source", self.heads.source, HEAD_SOURCES),
                  ("eval.kind", self.eval.kind, EVAL_KINDS),
                  ("scoring.aggregation", self.scoring.aggregation, ("paper", "per_head")),
                  ("logger.kind", self.logger.kind, ("none", "wandb"))]
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"config {name}={value!r}: must be one of {', '.join(allowed)}")


NESTED_MAPS = {"RunConfig": {"suite": EvalConfig}}
OPTIONAL_NESTED = {"EvalConfig": {"detect": DetectConfig}}


def evals_of(cfg: RunConfig) -> list[RunConfig]:
    """One RunConfig per evaluation: the suite's entries if any, else the single ``eval``."""
    if not cfg.suite:
        return [dataclasses.replace(cfg, detect=cfg.eval.detect or cfg.detect)]
    return [dataclasses.replace(cfg, eval=e, suite={}, detect=e.detect or cfg.detect)
            for e in cfg.suite.values()]


def from_dict(cls, data: Mapping[str, Any] | None, where: str = "config"):
    """Build dataclass ``cls`` from a plain mapping; unknown keys are errors naming the path."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            kwargs[name] = from_dict(type(default), value, f"{where}.{name}")
        elif name in OPTIONAL_NESTED.get(cls.__name__, {}):
            item = OPTIONAL_NESTED[cls.__name__][name]
            kwargs[name] = None if value is None else from_dict(item, value, f"{where}.{name}")
        elif name in NESTED_MAPS.get(cls.__name__, {}):
            item = NESTED_MAPS[cls.__name__][name]
            kwargs[name] = {k: from_dict(item, v, f"{where}.{name}.{k}") for k, v in (value or {}).items()}
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def to_dict(cfg) -> dict[str, Any]:
    """Plain nested dict of a config dataclass (tuples as lists)."""
    def plain(x):
        if dataclasses.is_dataclass(x):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, Mapping):
            return {str(k): plain(v) for k, v in x.items()}
        return x
    return plain(cfg)


def from_hydra(cfg) -> RunConfig:
    """The one conversion from Hydra's DictConfig (resolved) to the typed RunConfig."""
    from omegaconf import OmegaConf
    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("hydra", None)
    return from_dict(RunConfig, data)
