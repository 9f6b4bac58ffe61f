"""A tiny name -> object registry with "did you mean" errors, used for every pluggable choice.

To add a choice, decorate it where it is defined: ``@OBJECTIVES.register("qrscore")``; the name is
then valid in configs and listed in errors. (Pattern of lm-evaluation-harness' api/registry.)
"""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps config names to objects. ``@REG.register("name")`` decorates a function or class."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; returns ``obj`` unchanged. Re-registering the
        same object is a no-op; another object under a taken name raises KeyError."""
        def deco(obj: T) -> T:
            """Register ``obj`` (see :meth:`Registry.register`)."""
            if name in self._items and self._items[name] is not obj:
                raise KeyError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj
        return deco

    def get(self, name: str) -> T:
        """The object registered as ``name``; KeyError naming the kind, close matches and every known name."""
        if name not in self._items:
            close = difflib.get_close_matches(name, list(self._items), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise KeyError(f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(self._items))})")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)
