"""Composing a RunConfig the way the command line does, from Python: overrides checked strictly
first (qrexp.experiment.schema), then Hydra's composition into the typed schema, then
:func:`qrexp.experiment.config.from_hydra`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from qrexp.experiment.config import RunConfig, from_hydra
from qrexp.experiment.schema import check_command_line, check_overrides, composition_error
from qrexp.io.package_data import package_data


def compose_config(overrides: Sequence[str] = (), conf_dir: str | Path | None = None) -> RunConfig:
    """The RunConfig Hydra composes from ``conf_dir`` (default: the packaged conf/) with ``overrides``.

    The Python counterpart of the command line: overrides are checked strictly first
    (qrexp.experiment.schema.check_overrides), Hydra composes them into the typed schema, and
    :func:`from_hydra` converts the result. Raises ConfigError (one line naming the key) for an
    unknown key, a value of the wrong type, a missing value or a value out of range.
    """
    checked = check_overrides(RunConfig, overrides)
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir or package_data("conf"))):
        try:
            cfg = compose("config", overrides=checked)
        except HydraException as exc:
            raise composition_error(RunConfig, exc) from None
    return from_hydra(cfg)


def command_line_overrides(argv: Sequence[str]) -> list[str]:
    """The command line after ``qrexp``, its overrides checked against RunConfig before Hydra composes
    them (qrexp's strict types; a single value for a list becomes a one-item list). Raises ConfigError."""
    return check_command_line(RunConfig, argv)
