"""A tiny name -> factory registry for swappable parts (networks, captioners, strategies)."""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from vlcp.errors import VlcpError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories; ``names()`` feeds the CLI's ``choices``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def unregister(self, name: str) -> T:
        """Remove ``name`` (a plug-in's teardown, e.g. in a test); returns what was registered."""
        return self._items.pop(name)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise VlcpError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def in_order(self) -> list[str]:
        """The names in the order they were registered (for help texts that follow a declared order)."""
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose names (name → submodule) load on first use."""
    import importlib
    import sys

    def getattr_(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return getattr_, dir_
