"""How long the conformance suite takes on a sample: the full profile and the quick one.

What it measures (issue 11, "Speed"): the wall-clock time of ``conformance.run`` against
``samples/minio`` (or ``--provider``), in one process, for the full profile (every check) and
the quick profile, each over a few rounds after one warm-up run of each; the figure is the
median round. The table adds the median CPU seconds of the process, which a busy machine
inflates less than wall-clock time (the suite runs in one thread). Targets on two cores: full
under 15 s, quick under 3 s. The outcome of the checks does not matter here (a failing check
still counts, with its time); the table says how many passed.

Run from the repository root::

    python -m bench.conformance                 # 3 rounds of each
    python -m bench.conformance --rounds 5 --seed 7
    python -m bench.conformance --provider samples/mongodb

The last line of stdout is exactly ``conformance: full X s quick Y s checks N``, N being the
number of checks in the full run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench._report import progress, table, versions
from dpp_sdk import conformance

_ROOT = Path(__file__).resolve().parent.parent
_DEFAULT_PROVIDER = _ROOT / "samples" / "minio"


def _time_run(provider: str, profile: str, seed: int) -> tuple[float, float, conformance.Report]:
    """Wall-clock seconds, CPU seconds of this process, and the report of one run."""
    started, cpu = time.perf_counter(), time.process_time()
    report = conformance.run(provider, seed=seed, profile=profile)
    return time.perf_counter() - started, time.process_time() - cpu, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", default=str(_DEFAULT_PROVIDER), help="provider to run")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each profile")
    parser.add_argument("--seed", type=int, default=0, help="the suite's seed")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    times: dict[str, list[float]] = {"full": [], "quick": []}
    cpu_times: dict[str, list[float]] = {"full": [], "quick": []}
    reports: dict[str, conformance.Report] = {}
    for profile in times:
        progress(f"warm-up: {profile}")
        _time_run(args.provider, profile, args.seed)
    for index in range(args.rounds):
        # Alternate the order, so that machine noise hits both profiles alike.
        order = ("full", "quick") if index % 2 == 0 else ("quick", "full")
        for profile in order:
            seconds, cpu, report = _time_run(args.provider, profile, args.seed)
            times[profile].append(seconds)
            cpu_times[profile].append(cpu)
            reports[profile] = report
            progress(f"round {index + 1}/{args.rounds}: {profile} {seconds:.2f} s")

    rows = []
    for profile, samples in times.items():
        counts = reports[profile].counts()
        slowest = max(reports[profile].results, key=lambda r: r.duration_s, default=None)
        rows.append(
            [
                profile,
                str(len(reports[profile].results)),
                f"{counts['pass']} pass, {counts['fail'] + counts['error']} fail/error, "
                f"{counts['skipped']} skipped",
                f"{statistics.median(samples):.2f}",
                f"{min(samples):.2f}",
                f"{max(samples):.2f}",
                f"{statistics.median(cpu_times[profile]):.2f}",
                f"{slowest.id} {slowest.duration_s:.2f}" if slowest else "-",
            ]
        )
    print(versions())
    print(f"provider {args.provider}, seed {args.seed}, {args.rounds} rounds (median)")
    print()
    print(
        table(
            [
                "profile",
                "checks",
                "outcomes",
                "median s",
                "min s",
                "max s",
                "cpu s",
                "slowest check s",
            ],
            rows,
        )
    )
    print()
    full, quick = statistics.median(times["full"]), statistics.median(times["quick"])
    print(
        f"conformance: full {full:.2f} s quick {quick:.2f} s checks {len(reports['full'].results)}"
    )


if __name__ == "__main__":
    main()
