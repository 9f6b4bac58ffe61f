"""The typed experiment configuration, its Hydra schema, and its one conversion from Hydra's DictConfig.

The library only sees these frozen dataclasses; Hydra and OmegaConf stay in qrexp/experiment/.
Every protocol choice of the paper is a named field here, so it is logged with every run. The
field defaults are the defaults of every composed config: the dataclasses are registered in Hydra's
ConfigStore as the structured schema ``qrexp_schema`` (qrexp.experiment.schema), which
``conf/config.yaml`` lists first, so the YAML files state only what differs and a wrong key or type
fails when Hydra composes.

How to add a config group option: one YAML in ``conf/<group>/`` stating only the fields that
differ from the group's dataclass below (model: ModelConfig, detect: DetectConfig, heads:
HeadsConfig, eval: EvalConfig, logger: LoggerConfig, report: ReportConfig), with a leading comment
(``qrexp list`` prints its first sentence). How to add an option to every config: one field with
its default in the dataclass (the schema and the run id follow; a new field changes run ids only
of configs whose semantic part includes it).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from qrexp.engine.model_names import resolve_name
from qrexp.experiment.config_check import build
from qrexp.experiment.config_values import check_values
from qrexp.experiment.naming import register_resolvers
from qrexp.experiment.schema import register
from qrexp.types import ConfigError


EXECUTION_ONLY = {"execution_only": True}   # field metadata: changes speed or memory, never a number


@dataclass(frozen=True)
class ModelConfig:
    """The model to load. ``name`` (label in run ids, tables, head files, W&B tags) is derived from
    ``path`` when unset and must not contradict it (:func:`qrexp.engine.model_names.resolve_name`)."""
    name: str | None = None              # None: derived from path
    path: str = field(default="smollm2-135m", metadata={"compose_default": "???"})
    # hub id, local folder, .gguf file, or embedded alias. Every model YAML sets it; when composed
    # its default is ??? (OmegaConf keeps a default under a YAML's ???: model=hf must name a path).
    gguf_file: str | None = None
    revision: str | None = None
    dtype: str | None = None             # None: bf16 on GPU, fp32 on CPU
    device: str | None = None
    device_map: str | None = None        # "auto" shards over several GPUs
    prompt_style: str = "chat"           # chat | reference
    reference_family: str | None = None
    k: int = 16                          # heads kept: 16 under 10B parameters, 32 for 70B
    published_key: str | None = None     # key of results/heads/published/<key>_<task>.json

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", resolve_name(self.name, self.path, self.gguf_file,
                                                      self.published_key))


@dataclass(frozen=True)
class ScoringConfig:
    query_span: str = "instruction"      # instruction (paper code: late instruction + query + chat suffix) | query
    null_query: str = "N/A"              # the calibration query (null-query scores are subtracted)
    calibrate: bool = True
    mask_sigma: float | None = 2.0       # None: no outlier mask (mean - sigma * std)
    aggregation: str = "paper"           # paper: sum heads then mask (score_docs) | per_head
    # How fast, not what: both are exact (scores equal to 1e-5, same rankings), so they take no part
    # in run ids or score-cache keys (EXECUTION_ONLY: to_dict leaves them out).
    prefill_chunk: int | None = field(default=None, metadata=EXECUTION_ONLY)   # prefix tokens per forward; None: one shot
    batch_size: int = field(default=1, metadata=EXECUTION_ONLY)   # queries per forward (left-padded; short prompts)


@dataclass(frozen=True)
class DataConfig:
    name: str = "data"                   # label, e.g. lme, nq, generated-beir
    loader: str = "instances"            # key of qrexp.data.LOADERS
    args: Mapping[str, Any] = field(default_factory=dict)   # paths and protocol fields
    generate: str | None = None          # built-in generator that writes the files first
    sizes: Mapping[str, int] = field(default_factory=dict)   # generator sizes (defaults if empty)
    limit: int | None = None
    qrels: bool = False                  # graded meta["qrels"] instead of gold sets (detection and metrics)
    fit_window: str = "fail"             # prompts over the model window: fail | truncate (qrexp.engine.window)


@dataclass(frozen=True)
class DetectConfig:
    name: str = "detect"
    data: DataConfig = DataConfig()
    objective: str = "qrscore"           # qrscore | ndcg10 | recall1 (| niah for NIAH data)


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
    overflow: str = "error"              # prompt + new tokens > model window: error | truncate_middle


@dataclass(frozen=True)
class EvalConfig:
    name: str = "eval"
    kind: str = "retrieval"              # an evaluation kind of qrexp.evals.kinds.KINDS
    data: DataConfig = DataConfig()
    methods: tuple[str, ...] = ("qrhead",)
    measures: tuple[str, ...] = ("nDCG@10", "R@10", "R@100")   # qrexp.measures names (trec_eval accepted)
    ks: tuple[int, ...] = (3, 5, 10)
    dense_model: str | None = None       # None: the packaged all-MiniLM-L6-v2
    qa: QAConfig = QAConfig()
    detect: DetectConfig | None = None   # heads for this eval detected on other data (e.g. BEIR: NQ)
    ignore_identical_ids: bool = True    # retrieval: drop a candidate whose id is the query id (BEIR)
    claim_queries: str = "per_claim"     # CLIPPER: per_claim (paper: each claim its own query) | per_pair


@dataclass(frozen=True)
class LoggerConfig:
    kind: str = "none"                   # none | wandb
    project: str = "qrexp"
    mode: str = "offline"                # offline | online | disabled
    entity: str | None = None


@dataclass(frozen=True)
class ReportConfig:
    tables: tuple[Mapping[str, Any], ...] = ()   # table specs (qrexp.experiment.report.spec_from_dict)
    out: str | None = None                        # None: <out_dir>/tables


@dataclass(frozen=True)
class CacheConfig:
    """The score cache's disk budget (qrexp.engine.cache_plan): DocScores are always kept; token
    scores only while a data set's records stay under ``max_gb`` (1e9 bytes; None: no budget);
    ``compress``: zlib over the token-score records (9-16% smaller, ~13 MB/s of CPU)."""
    max_gb: float | None = None
    compress: bool = False
    token_dtype: str = "float32"      # "float16": half the disk, paper-aggregation scores rounded <= 2^-11

    def __post_init__(self) -> None:
        if self.max_gb is not None and not self.max_gb > 0:
            raise ValueError(f"config cache.max_gb={self.max_gb!r}: must be > 0, or null for no budget")
        if self.token_dtype not in ("float32", "float16"):
            raise ValueError(f"config cache.token_dtype={self.token_dtype!r}: must be float32 or float16")

    @property
    def max_bytes(self) -> int | None:
        return None if self.max_gb is None else int(self.max_gb * 1e9)


@dataclass(frozen=True)
class RunConfig:
    name: str = "default"                # experiment name: run folders and tables are grouped by it
    stage: str = "pipeline"              # detect | evaluate | pipeline (detect -> evaluate -> report) | report | view
    seed: int = 0
    out_dir: str = "results"             # runs/, heads/detected/, tables/ (relative to where qrexp is started)
    cache_dir: str | None = None         # score cache and generated data; None: <out_dir>/cache
    cache: CacheConfig = CacheConfig()   # score-cache disk budget (DocScores always, token scores while they fit)
    data_dir: str = "data"               # downloaded data sets (configs interpolate it)
    generated_sizes: Mapping[str, int] = field(default_factory=dict)   # sizes of generated data
    progress: bool = True
    model: ModelConfig = ModelConfig()
    scoring: ScoringConfig = ScoringConfig()
    detect: DetectConfig = DetectConfig()
    niah: NiahConfig = NiahConfig()
    heads: HeadsConfig = HeadsConfig()
    eval: EvalConfig = EvalConfig()
    suite: Mapping[str, EvalConfig] = field(default_factory=dict)   # several evals in one run: {label: EvalConfig}
    logger: LoggerConfig = LoggerConfig()
    report: ReportConfig = ReportConfig()

    def __post_init__(self) -> None:
        check_values(self)                  # ConfigError (one line) for a value out of range


def evals_of(cfg: RunConfig) -> list[RunConfig]:
    """One RunConfig per evaluation: the suite's entries if any, else the single ``eval``."""
    if not cfg.suite:
        return [dataclasses.replace(cfg, detect=cfg.eval.detect or cfg.detect)]
    return [dataclasses.replace(cfg, eval=e, suite={}, detect=e.detect or cfg.detect)
            for e in cfg.suite.values()]


def to_dict(cfg) -> dict[str, Any]:
    """Plain nested dict of a config dataclass (tuples as lists): what run ids and data keys hash.

    Fields marked :data:`EXECUTION_ONLY` (``scoring.prefill_chunk``, ``scoring.batch_size``: exact
    ways to compute the same scores) are left out, so setting them reuses finished runs and cached
    scores."""
    def plain(x):
        if dataclasses.is_dataclass(x):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)
                    if not f.metadata.get("execution_only")}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, Mapping):
            return {str(k): plain(v) for k, v in x.items()}
        return x
    return plain(cfg)


def from_dict(cls, data: Mapping[str, Any] | None, where: str = ""):
    """Build dataclass ``cls`` from a plain mapping, every field type-checked (ConfigError if not)."""
    return build(cls, data, where)


def from_hydra(cfg) -> RunConfig:
    """The one conversion from Hydra's DictConfig (resolved) to the typed RunConfig.

    Raises ConfigError (one line) for a missing value (``???``), an interpolation that cannot be
    resolved, a value of the wrong type, an unknown key or a value out of range.
    """
    register_resolvers()                 # ${dataset:...} labels (qrexp.experiment.naming)
    try:
        data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        if "Missing mandatory value" in str(err):
            raise ConfigError(f"config {key}: no value set (???); set it on the command line, "
                              f"e.g. {key}=<value>") from None
        raise ConfigError(f"config {key}: {str(err).splitlines()[0]}") from None
    data.pop("hydra", None)
    return build(RunConfig, data)


register(RunConfig, {"model": ModelConfig, "detect": DetectConfig, "heads": HeadsConfig,
                     "eval": EvalConfig, "logger": LoggerConfig, "report": ReportConfig})
