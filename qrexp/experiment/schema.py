"""The Hydra structured schema of the experiment config, registered in Hydra's ConfigStore.

``conf/config.yaml`` lists ``qrexp_schema`` first in its defaults, so Hydra merges every YAML and
every command-line override into the typed schema of :class:`qrexp.experiment.config.RunConfig`:

- the defaults are the dataclass defaults: a YAML states only what differs from them;
- a key that is not a field, or a value OmegaConf cannot convert to the field's type, fails at
  composition, naming the dotted key (:func:`composition_error` words it as qrexp's other errors);
- each group's node is typed wherever the group lands: ``model`` is a ModelConfig, ``suite`` a
  ``dict[str, EvalConfig]`` (``/eval@suite.lme: generated_lme``), ``eval.detect`` a DetectConfig
  or null. The group schemas are also registered on their own (``qrexp_schema_<group>``).

Adding a config group option is one YAML in ``conf/<group>/`` that states the fields that differ
from the group's dataclass in qrexp.experiment.config (e.g. ``conf/model/my-model.yaml`` with
``path: org/My-Model`` and ``k: 32``); its leading comment is what ``qrexp list`` prints. A new
field is one dataclass field with its default; the schema follows.

The schema is derived (:func:`schema_of`), not the dataclasses themselves: those are frozen
(OmegaConf would make their nodes read-only, so no YAML could be merged), use ``Mapping`` and
``tuple`` (OmegaConf knows dict and list) and check values in ``__post_init__``. Each derived class
(``ModelConfigSchema`` for ModelConfig, an attribute of the same module, so that Hydra's launchers
can pickle a composed config) has the same fields and defaults: there is one list of fields.

OmegaConf converts some values qrexp refuses (``no`` or ``1`` for a boolean, ``123`` for a string)
and refuses one it accepts (a single value for a list: ``eval.methods=bm25``). Command-line
overrides are therefore checked first by :func:`check_overrides` with qrexp's strict rules
(qrexp.experiment.config_check), which also promotes a single value to a one-item list; the composed
config is checked again, strictly, when it is converted (qrexp.experiment.config.from_hydra).
"""
from __future__ import annotations

import copy
import dataclasses
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from functools import lru_cache, partial
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override, QuotedString, ValueType
from hydra.errors import HydraException
from omegaconf import Node, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from qrexp.experiment.config_check import coerce, field_types, unknown_key
from qrexp.types import ConfigError

SCHEMA = "qrexp_schema"            # the name conf/config.yaml lists first in its defaults


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_mapping(tp: Any) -> bool:
    return typing.get_origin(tp) in (Mapping, dict, typing.Mapping)


def _schema_type(tp: Any) -> Any:
    """The annotation OmegaConf understands for library annotation ``tp``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        return Optional[_schema_type(_strip_optional(tp))]
    if origin is tuple:
        return List[_schema_type(args[0])]
    if _is_mapping(tp):
        return Dict[str, _schema_type(args[1]) if args else Any]
    if dataclasses.is_dataclass(tp):
        return schema_of(tp)
    return tp


def _schema_value(value: Any) -> Any:
    """A default of the library dataclass as the schema holds it (dataclass -> its schema twin)."""
    if dataclasses.is_dataclass(value):
        twin = schema_of(type(value))
        if value == type(value)():           # the declared defaults (ModelConfig() has name resolved)
            return twin()
        return twin(**{f.name: _schema_value(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, (list, tuple)):
        return [_schema_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _schema_value(v) for k, v in value.items()}
    return value


@lru_cache(maxsize=None)
def schema_of(cls: type) -> type:
    """The mutable, OmegaConf-typed twin of config dataclass ``cls``: same fields, same defaults."""
    hints, fields = field_types(cls), []
    for f in dataclasses.fields(cls):
        if "compose_default" in f.metadata:   # e.g. ??? where a merged ??? must not keep a default
            default = f.metadata["compose_default"]
        elif f.default is not dataclasses.MISSING:
            default = _schema_value(f.default)
        else:
            default = _schema_value(f.default_factory())
        spec = (dataclasses.field(default=default) if default is None or isinstance(default, (str, int, float))
                else dataclasses.field(default_factory=partial(copy.deepcopy, default)))
        fields.append((f.name, _schema_type(hints[f.name]), spec))
    name = f"{cls.__name__}Schema"
    twin = dataclasses.make_dataclass(name, fields, namespace={"__doc__": cls.__doc__,
                                                               "__module__": cls.__module__})
    setattr(sys.modules[cls.__module__], name, twin)   # importable: launchers pickle composed configs
    return twin


def register(root: type, groups: Mapping[str, type]) -> None:
    """Store the schema of ``root`` as ``qrexp_schema`` and each group's as ``qrexp_schema_<group>``."""
    store = ConfigStore.instance()
    store.store(name=SCHEMA, node=schema_of(root))
    for group, cls in groups.items():
        store.store(name=f"{SCHEMA}_{group}", node=schema_of(cls))


def annotation_at(root: type, key: str) -> Any:
    """The library annotation of dotted ``key`` under dataclass ``root`` (mapping keys are free).

    Returns None when the first part is not a field (a config group such as ``experiment``, or an
    unknown top-level key Hydra reports); raises ConfigError for an unknown key below a field."""
    tp, parts = root, key.split(".")
    for i, part in enumerate(parts):
        part, *indices = part.replace("]", "").split("[")        # eval.ks[1]: an item of eval.ks
        tp = _strip_optional(tp)
        if dataclasses.is_dataclass(tp):
            hints = field_types(tp)
            if part not in hints:
                if i == 0:
                    return None
                raise unknown_key(tp, ".".join(parts[:i]), part)
            tp = hints[part]
            for _ in indices:
                tp = _strip_optional(tp)
                tp = typing.get_args(tp)[0] if typing.get_origin(tp) is tuple else Any
        elif _is_mapping(tp):
            args = typing.get_args(tp)
            tp = args[1] if args else Any
        else:
            return Any                       # below a free value (e.g. eval.data.args.<name>)
    return tp


def _strip_optional(tp: Any) -> Any:
    while _is_union(tp):
        (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
    return tp


def _is_list_type(tp: Any) -> bool:
    return typing.get_origin(_strip_optional(tp)) is tuple


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, QuotedString))


def _checked(root: type, text: str, override: Override) -> str:
    if override.is_delete() or override.is_hydra_override() or override.package is not None:
        return text
    key = override.key_or_group
    tp = annotation_at(root, key)
    if tp is None or tp is Any or (dataclasses.is_dataclass(_strip_optional(tp)) and "." not in key):
        return text                          # a group choice (model=tiny) or a free value: Hydra's
    if override.is_sweep_override():
        if not override.is_discrete_sweep() or override.value_type == ValueType.GLOB_CHOICE_SWEEP:
            return text                      # ranges, intervals and globs: Hydra's to check
        values = list(override.sweep_iterator())
    else:
        values = [override.value()]
    for value in values:
        if not (isinstance(value, str) and "${" in value):          # interpolations: after composing
            coerce(tp, value, key)
    if not _is_list_type(tp):
        return text
    head, tail = text.split("=", 1)
    if not override.is_sweep_override():
        return f"{head}=[{tail}]" if _is_scalar(override.value()) and override.value() is not None else text
    sweep = override.value()
    if not isinstance(sweep, ChoiceSweep) or sweep.shuffle or sweep.tags or not sweep.simple_form:
        return text
    items = [Override._get_value_element_as_str(v) for v in sweep.list]   # Hydra's own rendering
    return f"{head}=" + ",".join(f"[{s}]" if _is_scalar(v) else s for s, v in zip(items, sweep.list))


def check_overrides(root: type, overrides: Sequence[str]) -> list[str]:
    """Command-line ``overrides`` checked against ``root``'s fields with qrexp's strict rules.

    Returns the overrides to hand to Hydra: the same, except that a single value for a list field
    becomes a one-item list (``eval.methods=bm25`` -> ``eval.methods=[bm25]``, in a sweep each
    choice). Raises ConfigError (one line, as qrexp.experiment.config_check words it) for an
    unknown key below a field or a value of the wrong type. Overrides Hydra cannot parse are
    returned unchanged for Hydra to report.
    """
    overrides = list(overrides)
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:
        return overrides
    return [_checked(root, text, override) for text, override in zip(overrides, parsed)]


_VALUE_FLAGS = ("-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir", "-p", "--package",
                "-c", "--cfg", "--experimental-rerun")


def check_command_line(root: type, argv: Sequence[str]) -> list[str]:
    """``argv`` (Hydra's command line after the program) with its overrides checked and promoted as
    :func:`check_overrides` does; flags and their values are passed through. Raises ConfigError."""
    argv = list(argv)
    at = [i for i, arg in enumerate(argv)
          if not arg.startswith("-") and not (i > 0 and argv[i - 1] in _VALUE_FLAGS)]
    for i, arg in zip(at, check_overrides(root, [argv[i] for i in at])):
        argv[i] = arg
    return argv


def composition_error(root: type, exc: Exception) -> ConfigError:
    """Hydra's composition failure ``exc`` as qrexp's one-line ConfigError naming the dotted key."""
    cause = exc.__cause__ or exc.__context__ or exc
    key = getattr(cause, "full_key", None)
    text = str(exc).strip()
    source = text.split("'")[1] if text.startswith(("In '", "Error merging '")) else None   # a YAML
    if isinstance(cause, OmegaConfBaseException) and key:
        try:
            if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
                parent, _, name = key.rpartition(".")
                parent_type = _strip_optional(annotation_at(root, parent) if parent else root)
                if dataclasses.is_dataclass(parent_type):
                    raise unknown_key(parent_type, parent, name)
            tp, value = annotation_at(root, key), getattr(cause, "value", None)
            if isinstance(value, Node):                              # a YAML's value arrives wrapped
                value = OmegaConf.to_container(OmegaConf.create({"v": value}))["v"]
            if tp not in (None, Any):
                coerce(tp, value, key)                              # qrexp's words for the same fault
                if _is_list_type(tp) and _is_scalar(value):
                    raise ConfigError(f"config {key}={value!r}: expected a list; write [{value}]")
            raise ConfigError(f"config {key}: {str(cause).splitlines()[0]}")
        except ConfigError as err:
            return ConfigError(f"{err} (in {source}.yaml)") if source else err
    return ConfigError(f"config: {' '.join(text.split()) or type(exc).__name__}"
                       + (f": {str(cause).splitlines()[0]}" if cause is not exc and str(cause) else ""))
