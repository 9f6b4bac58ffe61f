"""Paper-scale rehearsal: a paper table's exact pipeline on tiny real-format data, so that a GPU
user's first real run cannot fail on plumbing.

:func:`write_rehearsal_data` lays out a ``data_dir`` like the real one (README "Reproducing the
paper"): ``longmemeval/longmemeval_s.json`` (LongMemEval JSON array), ``clipper/test.jsonl`` +
``clipper/books/`` (CLIPPER rows and chapter files), a local BEIR folder ``beir/`` and its TREC run,
all written by qrexp's generators in the official formats. :func:`rehearsal_overrides` turns
``experiment=paper/tableN`` into the same experiment over that data at tiny scale: every BEIR
evaluation and detection reads the local folder (``n_queries``/``top_k`` small), LongMemEval and
CLIPPER are capped with ``limit``, the LLM judge becomes the offline string check, dense models
the packaged MiniLM, NIAH lengths short, published heads (none for small models) detected heads.
Everything else (methods, detection, head sets, report
layout) stays as the table's config has it. ``experiments/rehearse.py`` runs it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from qrexp.data.synthetic import generate_all
from qrexp.experiment.cli import CONF_DIR
from qrexp.experiment.naming import register_resolvers
from qrexp.io.jsonio import read_json, write_json

TABLES = ("table1", "table2", "table3", "table5", "table6", "table8")
# table5 sweeps detect=nq,lme,niah: each choice needs its own data overrides, which one Hydra
# multirun command cannot give, so its rehearsal is one run per choice (rehearsal_jobs); the
# report reads every finished run of the experiment, as after the sweep.
SWEPT_GROUPS = {"table5": ("detect", ("nq", "lme", "niah"))}
N_QUERIES = 2                    # queries per BEIR evaluation of a rehearsal
SIZES = {"lme_detect": 6, "lme_eval_per_split": 2, "beir_entities": 12, "beir_queries": 10, "beir_top_k": 6,
         "clipper_books": 1, "clipper_pairs": 3}


def write_rehearsal_data(data_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Write the tiny real-format ``data_dir`` (see the module docstring); returns it. Overwrites."""
    data_dir = Path(data_dir)
    src = data_dir / "generated"
    generate_all(src, seed=seed, sizes=SIZES)
    (data_dir / "longmemeval").mkdir(parents=True, exist_ok=True)
    # one LongMemEval-S file: detection questions (single-session-user) then the evaluation ones
    write_json(read_json(src / "lme_detect.json") + read_json(src / "lme_eval.json"),
               data_dir / "longmemeval" / "longmemeval_s.json")
    for name in ("clipper", "beir"):
        shutil.rmtree(data_dir / name, ignore_errors=True)
        shutil.copytree(src / name, data_dir / name)
    return data_dir


def _beir(prefix: str, data_dir: Path, n_queries: int) -> list[str]:
    return [f"{prefix}.data.args.source={data_dir / 'beir'}", f"{prefix}.data.args.run={data_dir / 'beir' / 'bm25.run'}",
            f"{prefix}.data.args.n_queries={n_queries}", f"{prefix}.data.args.top_k=6",
            f"{prefix}.data.args.truncate_words=40"]


def rehearsal_jobs(table: str, data_dir: str | os.PathLike, model_overrides: list[str]) -> list[list[str]]:
    """The rehearsal's commands: one override list per ``qrexp`` call (``-m`` when the table's
    config sweeps). A sweep over a config group whose choices need their own data overrides
    (SWEPT_GROUPS: table 5's ``detect``) becomes one single run per choice, ``hydra.mode=RUN``.
    Raises ValueError for an unknown table."""
    if table not in SWEPT_GROUPS:
        return [rehearsal_overrides(table, data_dir, model_overrides)]
    group, choices = SWEPT_GROUPS[table]
    return [rehearsal_overrides(table, data_dir, [*model_overrides, f"{group}={c}", "hydra.mode=RUN"])
            for c in choices]


def rehearsal_overrides(table: str, data_dir: str | os.PathLike, model_overrides: list[str]) -> list[str]:
    """Hydra overrides that run ``experiment=paper/<table>`` on the rehearsal data (module docstring).

    Raises ValueError for an unknown table.
    """
    if table not in TABLES:
        raise ValueError(f"no rehearsal for paper table {table!r} (have: {', '.join(TABLES)}; see TABLES)")
    data_dir = Path(data_dir).resolve()
    base = [f"experiment=paper/{table}", f"data_dir={data_dir}", *model_overrides]
    register_resolvers()                          # ${dataset:...} in detect.name
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        composed = compose("config", overrides=[o for o in base if not o.startswith("hydra.")])
        cfg = OmegaConf.to_container(composed, resolve=False)
        cfg["detect"]["name"] = composed.detect.name        # resolved: follows the real source ("nq")
    out = list(base)
    if cfg["heads"]["source"] == "published" and not cfg["model"].get("published_key"):
        out.append("heads=detected")      # no published heads for this model: detect them (same pipeline)
    for label, ev in (cfg.get("suite") or {}).items():
        loader = ev["data"]["loader"]
        if loader == "beir":              # every BEIR column reads the one local folder, under its own name
            out += [f"suite.{label}.name={label}", *_beir(f"suite.{label}", data_dir, N_QUERIES)]
        elif loader in ("lme", "clipper"):
            out.append(f"suite.{label}.data.limit=2")
        qa = ev.get("qa") or {}
        if qa.get("enabled"):
            # the table's own top_k (its columns are Acc@k): only the judge and the answer length shrink
            out += [f"suite.{label}.qa.judge=contains", f"suite.{label}.qa.max_new_tokens=8"]
        if ev.get("dense_model"):
            out.append(f"suite.{label}.dense_model=null")
    return out + detect_overrides(cfg, data_dir)


def detect_overrides(cfg: dict, data_dir: Path) -> list[str]:
    """Overrides for the table's detection data (BEIR / LongMemEval / NIAH) and NIAH sizes."""
    out = ["niah.lengths=[160,320]", "niah.depths=[0.5]", "niah.n_needles=1", "niah.max_new_tokens=24"]
    data = cfg["detect"]["data"]
    if data["loader"] == "beir":              # the local folder, under the real detection's name (row labels)
        out += [f"detect.name={cfg['detect']['name']}", *_beir("detect", data_dir, 3)]
    elif data["loader"] == "lme":
        out.append("detect.data.limit=2")
    elif data["loader"] == "niah":
        out += ["detect.data.args.lengths=[160,320]", "detect.data.args.depths=[0.5]",
                "detect.data.args.chunk_tokens=20"]
    return out
