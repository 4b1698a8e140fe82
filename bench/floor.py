"""What a lifecycle cannot go below with today's storage design: the cost of its SQL
statements and provider-call handoffs alone, against the time the throughput target allows.

A diagnostic for the in-process target (``bench.lifecycle``: at least 10 times moto's
lifecycles/s). It measures, on this machine and in one run:

1. **The lifecycle's shape**: the SQL statements one create + health + remove of the minimal
   provider (``bench/_provider.py``) sends to the platform's database, by kind (read through
   SQLite's trace callback on the platform's connection), and how many provider calls it
   makes (each runs in a worker thread, which the platform waits for under a deadline).
2. **The primitives' costs**, on a scratch database with the same table layout, WAL and
   ``synchronous=NORMAL`` as the store: a ``PRAGMA data_version``, a keyed ``SELECT``, an
   upsert and a delete of a typical record, ``BEGIN IMMEDIATE`` + ``COMMIT`` around one
   write, and the platform's own worker-thread handoff of an empty provider call.
3. **The budget**: moto's in-process EC2 volume lifecycle time divided by ten, and the
   platform's own lifecycle time, each the best of a few alternating rounds.

The floor is the statement and handoff counts times the primitives' costs: Python work of
the platform itself (validation, placement, records, views, audit, health) comes on top.

Run from the repository root, after ``pip install -e '.[bench]'``::

    python -m bench.floor

The last line of stdout is ``floor: S us of SQL and handoffs per lifecycle (N statements,
C commits, H handoffs); lifecycle L us; ratio-10 budget B us (moto M us)``.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dpp_sdk as dpp
from bench._provider import MinimalProvider
from bench._report import progress, table, versions
from bench.lifecycle import InProcessPlatform, MotoEC2
from dpp_sdk.platform._calls import call_provider  # the platform's handoff, timed as is

_BODY = "x" * 400  # about the size of a stored instance or operation record


class _CountingProvider(MinimalProvider):
    """The minimal provider, counting the calls the platform makes into it."""

    calls = 0

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        type(self).calls += 1
        super().provision(ctx, request)

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        type(self).calls += 1
        return super().monitor(ctx)

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        type(self).calls += 1
        super().decommission(ctx, request)


def _kind(statement: str) -> str:
    word = statement.split(None, 1)[0].upper()
    if word == "BEGIN":
        return "begin"
    if word in ("PRAGMA", "SELECT", "COMMIT", "DELETE"):
        return word.lower()
    if word in ("INSERT", "UPDATE"):
        return "write"
    return "other"


def _platform_connections(state_dir: str) -> list[sqlite3.Connection]:
    """The open SQLite connections on a database in ``state_dir`` (the platform's store).

    The platform does not hand out its connection; a diagnostic finds it among the live
    objects and tells it by the file it has open."""
    found = []
    root = os.path.realpath(state_dir)
    for obj in gc.get_objects():
        if isinstance(obj, sqlite3.Connection):
            try:
                files = [row[2] for row in obj.execute("PRAGMA database_list")]
            except sqlite3.ProgrammingError:  # closed
                continue
            if any(f and os.path.realpath(f).startswith(root) for f in files):
                found.append(obj)
    return found


def lifecycle_shape(count: int) -> tuple[collections.Counter[str], float, float]:
    """Statements by kind and provider calls per lifecycle, and the lifecycle's best time
    (seconds) over a few rounds of ``count``."""
    system = InProcessPlatform(_CountingProvider)
    try:
        system.run(count)  # warm up
        statements: list[str] = []
        connections = _platform_connections(system.state_dir)
        if not connections:
            raise SystemExit("bench.floor: could not find the platform's database connection")
        for connection in connections:
            connection.set_trace_callback(statements.append)
        _CountingProvider.calls = 0
        system.run(count)
        for connection in connections:
            connection.set_trace_callback(None)
        kinds = collections.Counter(_kind(s) for s in statements)
        shape = collections.Counter({k: v / count for k, v in kinds.items()})
        handoffs = _CountingProvider.calls / count
        best = min(_timed(lambda: system.run(count)) for _ in range(3)) / count
        return shape, handoffs, best
    finally:
        system.close()


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _best(action: Callable[[], object], count: int) -> float:
    """Seconds per call of ``action``: the best of five runs of ``count`` calls."""

    def run() -> None:
        for _ in range(count):
            action()

    return min(_timed(run) for _ in range(5)) / count


def primitive_costs(count: int) -> dict[str, float]:
    """Seconds per statement kind (and per handoff) on a scratch database like the store's."""
    with tempfile.TemporaryDirectory(prefix="dpp-bench-floor-db-") as scratch:
        db = sqlite3.connect(Path(scratch) / "scratch.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE records (kind TEXT NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, "
            "attr TEXT, body TEXT NOT NULL, PRIMARY KEY (kind, scope, name)) WITHOUT ROWID"
        )
        db.execute("BEGIN IMMEDIATE")
        for n in range(2000):
            db.execute("INSERT INTO records VALUES ('instance', '', ?, NULL, ?)", (f"i-{n}", _BODY))
        db.execute("COMMIT")
        upsert = (
            "INSERT INTO records (kind, scope, name, attr, body) VALUES ('volume', ?, ?, NULL, ?) "
            "ON CONFLICT (kind, scope, name) DO UPDATE SET body = excluded.body"
        )
        serial = iter(range(10**9))
        costs = {
            "pragma": _best(lambda: db.execute("PRAGMA data_version").fetchone(), count),
            "select": _best(
                lambda: db.execute(
                    "SELECT body FROM records WHERE kind = 'instance' AND scope = '' AND name = ?",
                    ("i-7",),
                ).fetchone(),
                count,
            ),
        }
        db.execute("BEGIN IMMEDIATE")
        costs["write"] = _best(lambda: db.execute(upsert, ("s", f"v-{next(serial)}", _BODY)), count)
        costs["delete"] = _best(
            lambda: db.execute(
                "DELETE FROM records WHERE kind = 'volume' AND scope = 's' AND name = ?",
                (f"v-{next(serial)}",),
            ),
            count,
        )
        db.execute("COMMIT")

        def one_commit() -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute(upsert, ("c", "v", _BODY))
            db.execute("COMMIT")

        # BEGIN + COMMIT around one write, less the write: what a transaction adds (its
        # BEGIN is counted with its COMMIT).
        costs["commit"] = _best(one_commit, count) - costs["write"]
        db.close()
    costs["handoff"] = _handoff_cost(count)
    return costs


def _handoff_cost(count: int) -> float:
    """Seconds the platform's own provider-call path (a worker thread waited for under a
    deadline) adds to an empty call."""
    return _best(lambda: call_provider("monitor", 30.0, _nothing), count)


def _nothing() -> None:
    return None


def moto_lifecycle(count: int) -> float:
    """Seconds per moto in-process EC2 volume lifecycle (best of three rounds)."""
    peer = MotoEC2()
    try:
        peer.run(count)
        return min(_timed(lambda: peer.run(count)) for _ in range(3)) / count
    finally:
        peer.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.floor",
        description="The SQL and thread-handoff floor of an in-process lifecycle, against the "
        "time the ratio-10 target allows.",
    )
    parser.add_argument(
        "--lifecycles", type=int, default=200, help="lifecycles per measured round (default 200)"
    )
    args = parser.parse_args(argv)
    if args.lifecycles < 1:
        parser.error(f"--lifecycles must be at least 1; got {args.lifecycles}")
    print(f"floor diagnostic: {versions('moto', 'boto3')}")
    progress("tracing and timing platform lifecycles")
    shape, handoffs, lifecycle = lifecycle_shape(args.lifecycles)
    progress("timing the primitives on a scratch database")
    costs = primitive_costs(2000)
    progress("timing moto lifecycles")
    moto = moto_lifecycle(max(20, args.lifecycles // 4))
    rows = []
    floor = 0.0
    labels = {"commit": "begin + commit", "other": "other (priced as a select)"}
    for kind in ("pragma", "select", "write", "delete", "commit", "other"):
        n = shape.get(kind, 0.0)
        if not n:
            continue
        each = costs.get(kind, costs["select"])
        floor += n * each
        label = labels.get(kind, kind)
        rows.append([label, f"{n:.1f}", f"{each * 1e6:.1f}", f"{n * each * 1e6:.0f}"])
    floor += handoffs * costs["handoff"]
    rows.append(
        [
            "provider handoff",
            f"{handoffs:.1f}",
            f"{costs['handoff'] * 1e6:.1f}",
            f"{handoffs * costs['handoff'] * 1e6:.0f}",
        ]
    )
    print(table(["per lifecycle", "count", "us each", "us"], rows))
    statements = sum(shape.values())
    budget = moto / 10
    print(
        f"lifecycle {lifecycle * 1e6:.0f} us, of which the floor is {floor / lifecycle:.0%}; "
        f"the ratio-10 budget is {budget * 1e6:.0f} us, the floor alone {floor / budget:.0%} of it"
    )
    print(
        f"floor: {floor * 1e6:.0f} us of SQL and handoffs per lifecycle ({statements:.0f} "
        f"statements, {shape.get('commit', 0.0):.0f} commits, {handoffs:.0f} handoffs); "
        f"lifecycle {lifecycle * 1e6:.0f} us; ratio-10 budget {budget * 1e6:.0f} us "
        f"(moto {moto * 1e6:.0f} us)"
    )


if __name__ == "__main__":
    sys.exit(main())
