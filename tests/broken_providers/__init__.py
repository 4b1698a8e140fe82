"""Deliberately broken providers: the conformance suite's self-test.

Each class subclasses a sample and overrides one method to seed exactly one defect. Its
docstring's first line names the defect, and ``caught_by`` the check that must catch it.
The classes live at module level in importable modules, so crash checks, which reopen the
platform and reload the provider by ``module:Class``, find them again.

:data:`BROKEN` lists every one, for ``tests/test_conformance_selftest.py``.
"""

from __future__ import annotations

from tests.broken_providers import minio, mongodb
from tests.broken_providers._base import Broken

__all__ = ["BROKEN", "Broken"]

#: Every broken provider, in the order of the checks that catch them.
BROKEN: tuple[type[Broken], ...] = tuple(
    sorted(
        (
            value
            for module in (mongodb, minio)
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, Broken)
            and value.__module__ == module.__name__
        ),
        key=lambda cls: (cls.caught_by, cls.__name__),
    )
)
