"""Run both samples through the conformance suite over many seeds, looking for false positives.

    .venv/bin/python scripts/conformance_seeds.py            # 100 seeds, full profile
    .venv/bin/python scripts/conformance_seeds.py --seeds 20 --profile quick --jobs 2

Prints every seed on which a sample fails (or errors) a required check, with the one command
that replays it, and exits 1 if there is any; run it from the repository root. A correct
sample must pass every seed: a failure is a bug in the sample or in the check.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SAMPLES = ("samples/mongodb", "samples/minio")


def run_one(sample: str, seed: int, profile: str) -> list[str]:
    """The required failures of ``sample`` on ``seed``: one line each, then its replay."""
    from dpp_sdk import conformance

    report = conformance.run(sample, seed=seed, profile=profile)
    return [
        f"{sample} seed {seed}: {result.id} {result.outcome}: {result.message}\n"
        f"    replay: {result.replay}"
        for result in report.results
        if result.blocking
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="seeds 0..N-1 (default 100)")
    parser.add_argument("--first", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--profile", choices=("quick", "full"), default="full")
    parser.add_argument("--sample", action="append", help="a provider (default: both samples)")
    parser.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path.cwd()))
    samples = tuple(args.sample or SAMPLES)
    seeds = range(args.first, args.first + args.seeds)
    jobs = [(sample, seed) for seed in seeds for sample in samples]
    started = time.perf_counter()
    failed_seeds: set[tuple[str, int]] = set()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_one, sample, seed, args.profile) for sample, seed in jobs]
        for (sample, seed), future in zip(jobs, futures, strict=True):
            lines = future.result()
            if lines:
                failed_seeds.add((sample, seed))
                print("\n".join(lines), flush=True)
    elapsed = time.perf_counter() - started
    print(
        f"{len(failed_seeds)} of {len(jobs)} sample runs failed a required check "
        f"({len(samples)} samples x {len(seeds)} seeds, {args.profile} profile, {elapsed:.0f} s)"
    )
    return 1 if failed_seeds else 0


if __name__ == "__main__":
    sys.exit(main())
