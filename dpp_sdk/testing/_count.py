"""Count the provider's context calls an action makes (where crash points can land)."""

from __future__ import annotations

from collections.abc import Callable

from dpp_sdk.platform import Platform

__all__ = ["count_context_calls"]


def count_context_calls(platform: Platform, action: Callable[[Platform], object]) -> int:
    """Run ``action`` on ``platform`` and return how many provider context calls it made:
    :func:`~dpp_sdk.testing.crash_and_resume` can kill after any of them (``after_calls``
    from 0 to that count - 1)."""
    calls = 0
    previous = platform._contexts.on_call

    def count() -> None:
        nonlocal calls
        calls += 1
        if previous is not None:
            previous()

    platform._contexts.on_call = count
    try:
        action(platform)
    finally:
        platform._contexts.on_call = previous
    return calls
