"""What would a redesign of the lifecycle path be worth? Upper bounds, measured.

A diagnostic for the in-process throughput target (see ``bench/floor.py`` and
docs/performance.md, "The floor of today's design"). Each variant below *removes* one cost of
a lifecycle by patching the platform's internals for the duration of its rounds, on one
platform, in alternating rounds with the unpatched baseline:

``data-version-per-transaction``
    The row cache reads SQLite's data version only inside transactions, never per hold of the
    store lock outside them (what "one read per public call" could at best save).
``provider-calls-inline``
    Provider calls run in the calling thread, with no worker-thread handoff (and so no
    deadline: not a possible design, a bound).
``no-platform-log``
    The platform log writes nothing (audit records are still stored).
``no-health-after-provision``
    A provision does not evaluate the instance's health (no ``monitor`` call, no platform
    checks) before it concludes.
``all-four``
    All of the above at once.

A variant is a bound, not a design: some of them break guarantees the platform gives. This
script reaches into private modules on purpose; when they move, it has to follow.

Run from the repository root::

    python -m bench.what_if
    python -m bench.what_if --rounds 10 --per-round 300

The last line of stdout is ``what-if: baseline A ms; VARIANT saves P% ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench._provider import MANIFEST
from bench._report import progress, table, versions
from bench.lifecycle import InProcessPlatform
from dpp_sdk.contract import HealthStatus, OperationError
from dpp_sdk.platform import _health, _operations, _plans, _rows
from dpp_sdk.platform._models import InstanceHealth


def _data_version_per_transaction(self: _rows.RowCache) -> tuple[int, int]:
    if self.store.in_transaction:
        return _REAL_VERSION(self)
    return self._last_version


def _provision_without_health(
    self: _plans.Provision, run: _operations.Run
) -> OperationError | None:
    """Provision's own ``run``, with the health evaluation that follows the provider's call
    answering green at once."""
    health = self._l.health

    def green(name: str) -> InstanceHealth:
        return InstanceHealth(
            instance=name, service=MANIFEST.name, status=HealthStatus.GREEN, checks=()
        )

    with _patched([(health, "evaluate", green)]):
        return _REAL_PROVISION_RUN(self, run)


def _inline(verb: str, seconds: float, fn: Callable[[], Any]) -> Any:
    return fn()


def _silent(self: logging.Logger, *args: object, **kwargs: object) -> None:
    return None


_REAL_VERSION = _rows.RowCache._version
_REAL_PROVISION_RUN = _plans.Provision.run

_VARIANTS: dict[str, list[tuple[Any, str, Any]]] = {
    "baseline": [],
    "data-version-per-transaction": [(_rows.RowCache, "_version", _data_version_per_transaction)],
    "provider-calls-inline": [
        (_operations, "call_provider", _inline),
        (_health, "call_provider", _inline),
    ],
    "no-platform-log": [(logging.Logger, "info", _silent)],
    "no-health-after-provision": [(_plans.Provision, "run", _provision_without_health)],
}
_VARIANTS["all-four"] = [change for changes in _VARIANTS.values() for change in changes]


@contextlib.contextmanager
def _patched(changes: list[tuple[Any, str, Any]]) -> Iterator[None]:
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in changes]
    try:
        for owner, name, value in changes:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.what_if",
        description="Upper bounds of lifecycle redesigns: each variant removes one cost, in "
        "alternating rounds with the baseline on one platform.",
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds per variant (default 6)")
    parser.add_argument(
        "--per-round", type=int, default=200, help="lifecycles per round (default 200)"
    )
    args = parser.parse_args(argv)
    for key in ("rounds", "per_round"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1; got {getattr(args, key)}")
    print(f"what-if diagnostic: {versions()}")
    system = InProcessPlatform()
    try:
        system.run(100)
        names = list(_VARIANTS)
        seconds: dict[str, list[float]] = {name: [] for name in names}
        for number in range(args.rounds):
            for name in names if number % 2 == 0 else names[::-1]:
                with _patched(_VARIANTS[name]):
                    start = time.perf_counter()
                    system.run(args.per_round)
                    seconds[name].append(time.perf_counter() - start)
            progress(f"round {number + 1}/{args.rounds}")
    finally:
        system.close()
    each = {name: sum(s) / (len(s) * args.per_round) for name, s in seconds.items()}
    base = each["baseline"]
    rows = [
        [name, f"{each[name] * 1e3:.2f}", f"{(1 - each[name] / base) * 100:.1f}%"] for name in names
    ]
    print(table(["variant", "ms per lifecycle", "saved"], rows))
    summary = "; ".join(
        f"{name} saves {(1 - each[name] / base) * 100:.1f}%" for name in names if name != "baseline"
    )
    print(f"what-if: baseline {base * 1e3:.2f} ms; {summary}")


if __name__ == "__main__":
    sys.exit(main())
