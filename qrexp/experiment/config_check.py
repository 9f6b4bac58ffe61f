"""Strict conversion of a plain mapping (Hydra's resolved config) into the typed config dataclasses.

Every field is checked against its annotation when the config is built, before any work:
  bool      true/false only ("maybe", "no", 1 are errors: no truthiness)
  int       an integer (not a bool, not a float)
  float     an integer or a float (stored as float, so 2 and 2.0 give the same run id)
  str       a string (a number is refused with the quoting fix)
  tuple[T, ...]   a list; a single scalar is promoted to a one-item tuple (eval.methods=bm25)
  Mapping[str, T] a mapping with string keys
  dataclass       a mapping; unknown keys are errors listing the allowed ones
Errors are :class:`ConfigError` with one line: the dotted path, the value, what is expected, the fix.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from qrexp.types import ConfigError

_SCALARS = (str, int, float, bool)


@lru_cache(maxsize=None)
def field_types(cls) -> dict[str, Any]:
    """Field name -> resolved type annotation of config dataclass ``cls``."""
    return typing.get_type_hints(cls)


def unknown_key(cls, where: str, name: str) -> ConfigError:
    """The error for key ``name`` that is not a field of ``cls`` (found at dotted path ``where``)."""
    path = f"{where}.{name}" if where else name
    fields = sorted(f.name for f in dataclasses.fields(cls))
    return ConfigError(f"config {path}: unknown key (allowed in {where or 'the root'}: {', '.join(fields)})")


def _kind(value: Any) -> str:
    return "null" if value is None else {bool: "a boolean", int: "an integer", float: "a number",
                                          str: "a string", list: "a list", tuple: "a list",
                                          dict: "a mapping"}.get(type(value), type(value).__name__)


def _fail(where: str, value: Any, expected: str, fix: str = "") -> ConfigError:
    shown = repr(value) if not isinstance(value, (dict, list, tuple)) else _kind(value)
    return ConfigError(f"config {where}={shown}: expected {expected}, got {_kind(value)}"
                       + (f"; {fix}" if fix else ""))


def build(cls, data: Any, where: str = ""):
    """Dataclass ``cls`` from mapping ``data`` with every field type-checked (see module docstring)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _fail(where or "(root)", data, f"a mapping of {cls.__name__} fields")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise unknown_key(cls, where, unknown[0])
    hints = field_types(cls)
    kwargs = {name: coerce(hints[name], value, f"{where}.{name}" if where else name)
              for name, value in data.items()}
    try:
        return cls(**kwargs)
    except ValueError as err:                      # a __post_init__ check: one line, as every other
        msg = " ".join(str(err).split())
        raise ConfigError(msg if msg.startswith("config ") else f"config {msg}") from None


def coerce(tp: Any, value: Any, where: str, expected: str | None = None) -> Any:
    """``value`` checked against (and converted to) type annotation ``tp``; raises ConfigError.

    ``expected`` replaces the description of ``tp`` in the message (used for optional fields)."""
    if tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None:
            if type(None) in args:
                return None
            raise _fail(where, value, _describe(tp), "this field cannot be null")
        if len(options) != 1:
            raise TypeError(f"{where}: unsupported union annotation {tp}")
        return coerce(options[0], value, where, _describe(tp))
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if origin is tuple:
        item = args[0]
        if isinstance(value, _SCALARS):
            value = [value]                                    # eval.methods=bm25 -> ("bm25",)
        if not isinstance(value, (list, tuple)):
            raise _fail(where, value, expected or _describe(tp))
        if item is str:
            for i, v in enumerate(value):
                if i > 0 and isinstance(v, (int, float)) and not isinstance(v, bool):
                    raise _fail(f"{where}[{i}]", v, "a string", "an item that contains a comma must be "
                                f"quoted, e.g. '{where}=[\"{value[i - 1]},{v}\"]'")
        return tuple(coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict, typing.Mapping):
        if not isinstance(value, Mapping):
            raise _fail(where, value, expected or _describe(tp))
        key_t, val_t = args if args else (str, Any)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"config {where}: key {k!r} must be a string")
            out[k] = coerce(val_t, v, f"{where}.{k}")
        return out
    expected = expected or _describe(tp)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(where, value, expected, f"write {where}=true or {where}=false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(where, value, expected)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _fail(where, value, expected)
    if tp is str:
        if isinstance(value, str):
            return value
        fix = f"quote it: '{where}=\"{value}\"'" if isinstance(value, (int, float, bool)) else ""
        raise _fail(where, value, expected, fix)
    raise TypeError(f"{where}: unsupported annotation {tp}")


def _describe(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if tp is type(None):
        return "null"
    if origin is tuple:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin in (Mapping, dict, typing.Mapping):
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return f"a mapping of {tp.__name__} fields"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))
