"""Composing a RunConfig the way the command line does, from Python: overrides checked strictly
first (qrexp.experiment.schema), then Hydra's composition into the typed schema, then
:func:`qrexp.experiment.config.from_hydra`.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Sequence

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from qrexp.experiment.config import RunConfig, from_hydra
from qrexp.experiment.schema import check_command_line, check_overrides, composition_error
from qrexp.io.package_data import package_data
from qrexp.types import ConfigError

_OTHER_CONF = ("-cp", "--config-path", "-cd", "--config-dir")   # config trees this check cannot see


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


def check_group_options(argv: Sequence[str], conf_dir: str | Path) -> None:
    """Raise ConfigError (one line, with a did-you-mean) when an override picks a config-group option
    that has no YAML, e.g. ``eval=generated_lmee``, instead of Hydra's multi-line "Could not find".

    Looks in ``conf_dir`` and the ``file://`` folders of a ``hydra.searchpath=[...]`` override; checks
    nothing when the command line names another config tree (``-cp``/``-cd``, a ``pkg://`` search
    path). Hydra's own groups (``hydra/...``), deletions (``~``), interpolations and sweep functions
    are left to Hydra; a sweep's comma-separated options are checked one by one.
    """
    dirs = [Path(conf_dir)]
    for arg in argv:
        if arg in _OTHER_CONF or arg.startswith(tuple(f + "=" for f in _OTHER_CONF)):
            return
        if arg.startswith("hydra.searchpath="):
            for entry in arg.partition("=")[2].strip("[]").split(","):
                entry = entry.strip().strip("'\"")
                if entry and not entry.startswith("file://"):
                    return
                if entry:
                    dirs.append(Path(entry[len("file://"):]))
    for arg in argv:
        key, eq, value = arg.partition("=")
        group = key.lstrip("+").split("@")[0].strip("/")
        if (not eq or arg.startswith(("-", "~")) or group.startswith("hydra") or not group
                or not any((d / group).is_dir() for d in dirs) or any(c in value for c in "()[]{}$*")):
            continue
        options = sorted({name for d in dirs for name, _ in group_options(d, group)})
        for option in value.split(","):
            if option in ("", "null") or option in options:
                continue
            hint = difflib.get_close_matches(option, options, n=1)
            raise ConfigError(f"config group {group!r} has no option {option!r}"
                              f"{f'; did you mean {hint[0]!r}?' if hint else ''} (options: {', '.join(options)})")


def group_options(conf_dir: str | Path, group: str) -> list[tuple[str, Path]]:
    """The options of config group ``group`` under ``conf_dir``, sorted: (name, YAML path), the name
    relative to the group's folder without ``.yaml`` (``paper/table2``); none when it has no folder."""
    root = Path(conf_dir) / group
    return sorted((str(p.relative_to(root).with_suffix("")), p) for p in root.rglob("*.yaml")) if root.is_dir() else []
