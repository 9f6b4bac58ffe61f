"""Names of data sets and runs that do not depend on where the data lives.

Labels (``eval.name``, ``detect.name``, ``*.data.name``) start run ids, folder names, W&B tags and
table columns; they must name the data set, never a machine path. Run ids add a content fingerprint
of the loaded data (qrexp.experiment.data.data_semantics), so two copies of one data set share ids.

Configs derive a label from a data source with the OmegaConf resolver ``dataset``:
``name: ${dataset:${.data.args.source}}`` gives "nq" for the ir_datasets name ``nq`` and "scifact"
for a local BEIR folder ``/data/beir/scifact``; :func:`register_resolvers` installs it (the Hydra
edge calls it before resolving).
"""
from __future__ import annotations

import re

_EXTENSIONS = re.compile(r"\.(jsonl?|json\.gz|jsonl\.gz|tsv|trec|txt|zip|tar\.gz)$", re.I)


def dataset_name(source: object) -> str:
    """The data-set label of a source: a bare name as is; a path -> its last component without a
    data-file extension ("/x/longmemeval_s.json" -> "longmemeval_s"). Raises ValueError when empty."""
    text = str(source).strip()
    parts = [p for p in re.split(r"[\\/]+", text) if p not in ("", ".")]
    if not parts:
        raise ValueError(f"cannot derive a data-set name from {source!r}")
    return _EXTENSIONS.sub("", parts[-1]) or parts[-1]


def check_label(where: str, value: object) -> None:
    """Raise ValueError when a label looks like a path (contains / or \\\\): labels name data sets."""
    if not isinstance(value, str) or not value or re.search(r"[\\/]", value):
        raise ValueError(f"config {where}={value!r}: a label must be a non-empty name without '/' or '\\' "
                         f"(it names run folders and tables); name the data set, e.g. "
                         f"{where}={dataset_name(value) if value else 'nq'!r}")


def register_resolvers() -> None:
    """Install the ``dataset`` OmegaConf resolver (idempotent)."""
    from omegaconf import OmegaConf
    if not OmegaConf.has_resolver("dataset"):
        OmegaConf.register_new_resolver("dataset", dataset_name)
