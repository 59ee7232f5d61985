"""Registries: one per kind of component, each mapping a short name to a class or function.

    FUSION = Registry("fusion method")

    @FUSION.register("tardal")
    class TarDALGenerator(nn.Module): ...

    net = FUSION.build("tardal", dim=16)

An unknown name raises :class:`~tardal.errors.UnknownNameError` listing close matches and
every valid name. Nothing is looked up with ``eval``.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Iterator, TypeVar

from tardal.errors import ConfigError, UnknownNameError

T = TypeVar("T")


def close_matches(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Return up to ``n`` of ``candidates`` that look like ``name`` (case-insensitive)."""
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


class Registry:
    """A name -> object table for one kind of component."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering a class or function under ``name``."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ConfigError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> Any:
        """Return the object registered as ``name``; raise UnknownNameError if there is none."""
        try:
            return self._entries[name]
        except KeyError:
            valid = sorted(self._entries)
            close = close_matches(name, valid)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Valid names: {', '.join(valid) or '(none)'}"
            ) from None

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Look up ``name`` and call it with the given arguments."""
        return self.get(name)(*args, **kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
