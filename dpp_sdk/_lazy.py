"""Module attributes bound on first use: a package lists which submodule defines each of its
heavier names, and its ``__getattr__`` imports that submodule when the name is first read."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, table: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: a name in ``table`` is imported from
    the submodule it maps to and bound in ``namespace`` (the package's globals), so the
    next read is a plain lookup; any other name raises AttributeError."""

    def attribute(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted({*namespace, *table})

    return attribute, names
