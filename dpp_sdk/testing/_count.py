"""Count the provider's context calls an action makes (where crash points can land)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from dpp_sdk.platform import Platform

__all__ = ["count_context_calls"]


def count_context_calls(
    platform: Platform,
    action: Callable[[Platform], object],
    *,
    verbs: Collection[str] | None = None,
) -> int:
    """Run ``action`` on ``platform`` and return how many provider context calls it made:
    :func:`~dpp_sdk.testing.crash_and_resume` can kill after any of them (``after_calls``
    from 0 to that count - 1). With ``verbs`` (``{"provision"}``), only the calls of
    contexts handed to those verbs count, not the platform's own ``monitor`` after it; pass
    the same ``verbs`` to ``crash_and_resume``."""
    calls = 0
    previous = platform._contexts.on_call

    def count(verb: str) -> None:
        nonlocal calls
        if verbs is None or verb in verbs:
            calls += 1
        if previous is not None:
            previous(verb)

    platform._contexts.on_call = count
    try:
        action(platform)
    finally:
        platform._contexts.on_call = previous
    return calls
