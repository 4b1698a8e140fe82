"""JSON conversion for every model, through one cattrs converter."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import cattrs
from cattrs.preconf.json import make_converter

__all__ = ["converter", "from_json", "structure", "to_json", "unstructure"]

T = TypeVar("T")

#: The converter used for every document. Datetimes become ISO 8601 strings, enums their
#: values, tuples JSON arrays.
converter: cattrs.Converter = make_converter()


def unstructure(obj: Any) -> Any:
    """A model as plain JSON-compatible data (dicts, lists, strings, numbers)."""
    return converter.unstructure(obj)


def structure(data: Any, cls: type[T]) -> T:
    """Build a ``cls`` from plain data; raises ``cattrs`` errors naming the failing field."""
    return converter.structure(data, cls)


def to_json(obj: Any, *, indent: int | None = None) -> str:
    """Serialise a model (or list of models) to a JSON string."""
    return json.dumps(unstructure(obj), indent=indent, sort_keys=indent is not None)


def from_json(text: str | bytes, cls: type[T]) -> T:
    """Parse a JSON string into a ``cls``."""
    return structure(json.loads(text), cls)
