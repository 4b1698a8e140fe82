"""Kill a platform as SIGKILL would, at a chosen provider context call, and resume it."""

from __future__ import annotations

import os
from collections.abc import Callable

from dpp_sdk.platform import Clock, Platform
from dpp_sdk.platform._owners import register_owner

__all__ = ["crash_and_resume", "kill"]


class _Killed(BaseException):
    """The simulated process died; nothing after it reaches the state directory.

    A ``BaseException``: no ``except Exception`` of the platform's or a provider's catches it,
    and the platform's clean-ups cannot land anything either, as after a real kill."""


def _refuse() -> None:
    raise _Killed("the process was killed; nothing more reaches the state directory")


def kill(platform: Platform) -> None:
    """Drop ``platform`` as if its process had been SIGKILLed now: it writes nothing more,
    its operations become a dead process's (the next platform on the state directory
    recovers them) and its files are closed. The object is unusable afterwards."""
    store = platform._repo.store
    store.before_begin = _refuse
    register_owner(platform._owner, None)
    platform._journal.close()
    store.close()


def crash_and_resume(
    state_dir: str | os.PathLike[str],
    action: Callable[[Platform], object],
    *,
    after_calls: int,
    clock: Clock | None = None,
) -> tuple[bool, Platform]:
    """Run ``action`` on a platform opened on ``state_dir``, killing the process right after
    the provider's ``after_calls``-th context call (its next call never happens), then open
    the directory again, which resumes (or fails) the interrupted operation as recovery does.

    Returns whether the kill happened (False if ``action`` made fewer calls) and the reopened
    platform, for the caller to check and close. A verb that converges leaves the same
    instance as an uninterrupted run would, with nothing allocated twice."""
    if not (isinstance(after_calls, int) and after_calls >= 0):
        raise ValueError(f"after_calls: {after_calls!r} must be an integer >= 0")
    platform = Platform.open(state_dir, clock=clock)
    calls = 0

    def count() -> None:
        nonlocal calls
        calls += 1
        if calls > after_calls:
            platform._repo.store.before_begin = _refuse  # nothing more is written
            raise _Killed(f"killed before context call {calls}")

    platform._contexts.on_call = count
    crashed = False
    try:
        action(platform)
    except _Killed:
        crashed = True
    finally:
        kill(platform)
    return crashed, Platform.open(state_dir, clock=clock)
