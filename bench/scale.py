"""Scale of the mock platform: cost per operation as instances and hosts grow, memory, start-up.

What it measures (PRODUCT.md section 9, scale and cold-start targets):

1. Fills one platform, on the durable SQLite store in a temporary directory, with N instances
   of a minimal one-member provider (``bench/_provider.py``, 1 GB each) over H hosts, through
   the public API only (``create_instance``). Fill progress goes to stderr every 10%.
2. At 100 instances and again at N, takes samples of:
   - a **lifecycle**: ``create_instance`` + ``instance_health`` + ``remove_instance`` of one
     extra instance;
   - ``get_instance`` of a random existing instance;
   - one **page** of ``list_instances``: ``list_instances(limit=100)`` when the platform's
     ``list_instances`` takes ``limit``, otherwise the whole ``list_instances()`` (labelled
     "unpaginated").
   Each figure takes ``--samples`` samples, or fewer when its ``--budget`` of seconds runs out
   (never fewer than 10); the tables say how many. Percentiles are nearest-rank.
3. Peak RSS of this process (``ru_maxrss``), after the fill and the measurements.
4. Cold start, the median of 5 runs of each subprocess: ``python -c pass`` (the interpreter
   alone, for reference), ``python -c "import dpp_sdk"``, ``dpp --help`` and
   ``dpp --state-dir DIR instance list -o json`` on the filled state directory.

Growth is the lifecycle p50 at N divided by the lifecycle p50 at 100 instances: 1.0 means the
cost of an operation does not depend on how many instances there are.

Run from the repository root, after ``pip install -e .``::

    python -m bench.scale --quick                 # 2,000 instances over 200 hosts
    python -m bench.scale                         # 10,000 instances over 1,000 hosts
    python -m bench.scale --instances 500 --hosts 50 --samples 50
    python -m bench.scale --quick --profile scale.prof

The last line of stdout is ``scale: N instances H hosts lifecycle p99 X ms get p99 Y ms page p99
Z ms rss M MiB growth G``.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import math
import os
import pstats
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dpp_sdk as dpp
from bench._provider import MANIFEST, MinimalProvider
from bench._report import percentile, progress, table, versions

_QUICK = {"instances": 2_000, "hosts": 200}
_FULL = {"instances": 10_000, "hosts": 1_000}
_EARLY = 100  # the first measuring point, in instances
_MIN_SAMPLES = 10
_COLD_RUNS = 5
_INSTANCE_GB = 1
_POOL_USE_LIMIT = 0.25  # keep the filled pool this far below full: no quota or warning trouble
_REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Samples:
    """Seconds per call of one measured operation."""

    label: str
    seconds: list[float]

    def ms(self, fraction: float) -> float:
        return 1000 * percentile(self.seconds, fraction)


@dataclass(frozen=True)
class Checkpoint:
    """Everything measured at one size of the platform."""

    instances: int
    lifecycle: Samples
    get: Samples
    page: Samples


def cluster_config(hosts: int, instances: int) -> dpp.ClusterConfig:
    """Default hosts, with capacity disks grown if needed so that ``instances`` fit easily.

    Each instance reserves twice its size (``vsan-default`` mirrors). The pool is sized so the
    fill stays under a quarter of it: far from the quota and from the capacity warning.
    """
    default = dpp.ClusterConfig.uniform(hosts=hosts)
    disks = default.hosts[0].capacity_disks
    needed_gb = 2 * _INSTANCE_GB * (instances + 1) / _POOL_USE_LIMIT
    disk_gb = max(disks[0], math.ceil(needed_gb / (hosts * len(disks))))
    return dpp.ClusterConfig.uniform(
        hosts=hosts, capacity_disks_per_host=len(disks), capacity_disk_gb=disk_gb
    )


class Filler:
    """Creates the instances ``inst-000001`` ... in order, reporting every 10% on stderr."""

    def __init__(self, platform: dpp.Platform, target: int) -> None:
        self.platform = platform
        self.target = target
        self.names: list[str] = []
        self.seconds = 0.0
        self._step = max(1, target // 10)

    def fill_to(self, count: int) -> None:
        create = self.platform.create_instance
        while len(self.names) < count:
            started = time.perf_counter()
            chunk_end = min(count, (len(self.names) // self._step + 1) * self._step)
            chunk = [f"inst-{n:06d}" for n in range(len(self.names) + 1, chunk_end + 1)]
            for name in chunk:
                create(service=MANIFEST.name, name=name, capacity_gb=_INSTANCE_GB)
            elapsed = time.perf_counter() - started
            self.seconds += elapsed
            self.names.extend(chunk)
            if len(self.names) % self._step == 0 or len(self.names) == self.target:
                progress(
                    f"filled {len(self.names):,}/{self.target:,} "
                    f"({100 * len(self.names) / self.target:.0f}%) in {self.seconds:.1f} s; "
                    f"last {len(chunk):,} at {1000 * elapsed / len(chunk):.1f} ms each"
                )


def sample(label: str, call: Callable[[], object], count: int, budget: float) -> Samples:
    """Time ``call`` ``count`` times, or fewer (at least 10) once ``budget`` seconds are spent."""
    seconds: list[float] = []
    deadline = time.perf_counter() + budget
    while len(seconds) < count:
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
        if len(seconds) >= min(count, _MIN_SAMPLES) and started > deadline:
            break
    return Samples(label, seconds)


class Probe:
    """The three measured operations, on a filled platform."""

    def __init__(self, platform: dpp.Platform, names: list[str], seed: int = 0) -> None:
        self.platform = platform
        self.names = names
        self.random = random.Random(seed)
        # Pagination is being added to the platform; use it once it is there.
        self.paginated = "limit" in inspect.signature(dpp.Platform.list_instances).parameters
        self._page_arguments: dict[str, int] = {"limit": 100} if self.paginated else {}
        self._next = 0

    @property
    def page_label(self) -> str:
        return "page (limit=100)" if self.paginated else "page (unpaginated)"

    def lifecycle(self) -> None:
        self._next += 1
        name = f"probe-{self._next:06d}"
        self.platform.create_instance(service=MANIFEST.name, name=name, capacity_gb=_INSTANCE_GB)
        health = self.platform.instance_health(name)
        if health.status is not dpp.HealthStatus.GREEN:
            raise RuntimeError(f"instance {name} is {health.status.value}, not green")
        self.platform.remove_instance(name)

    def get(self) -> None:
        self.platform.get_instance(self.random.choice(self.names))

    def page(self) -> None:
        self.platform.list_instances(**self._page_arguments)

    def checkpoint(self, samples: int, budget: float) -> Checkpoint:
        count = len(self.names)
        progress(f"measuring at {count:,} instances ({samples} samples each, {budget:g} s budget)")
        return Checkpoint(
            instances=count,
            lifecycle=sample("lifecycle", self.lifecycle, samples, budget),
            get=sample("get_instance", self.get, samples, budget),
            page=sample(self.page_label, self.page, samples, budget),
        )

    def profile(self, path: Path) -> pstats.Stats:
        """Profile 20 lifecycles, 100 gets and 5 pages; write the stats to ``path``."""
        progress(f"profiling 20 lifecycles, 100 gets and 5 pages into {path}")
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            self.lifecycle()
        for _ in range(100):
            self.get()
        for _ in range(5):
            self.page()
        profiler.disable()
        profiler.dump_stats(path)
        return pstats.Stats(profiler, stream=sys.stdout)


def peak_rss_mib() -> int:
    """This process's peak resident set size so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024))


def cold_start(command: list[str], env: dict[str, str]) -> float:
    """Median wall-clock seconds of ``command`` over 5 runs; fails if any run fails."""
    seconds: list[float] = []
    for _ in range(_COLD_RUNS):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=_REPO, env=env, capture_output=True, check=False)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace").strip()
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {stderr}")
    return statistics.median(seconds)


def cold_starts(state_dir: Path) -> list[tuple[str, float]]:
    """The cold-start commands with their median seconds."""
    dpp_script = Path(sys.executable).with_name("dpp")
    if not dpp_script.exists():
        raise SystemExit(f"no dpp script next to {sys.executable}; run: pip install -e .")
    # The provider module must be importable by a command that loads it.
    path = os.pathsep.join(filter(None, [str(_REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import dpp_sdk"': [sys.executable, "-c", "import dpp_sdk"],
        "dpp --help": [str(dpp_script), "--help"],
        "dpp --state-dir DIR instance list -o json": [
            str(dpp_script),
            "--state-dir",
            str(state_dir),
            "instance",
            "list",
            "-o",
            "json",
        ],
    }
    results = []
    for label, command in commands.items():
        progress(f"cold start: {label} ({_COLD_RUNS} runs)")
        results.append((label, cold_start(command, env)))
    return results


def report(
    *,
    early: Checkpoint,
    full: Checkpoint,
    hosts: int,
    fill_seconds: float,
    rss_mib: int,
    starts: list[tuple[str, float]],
) -> float:
    """Print the tables; return the growth of the lifecycle p50."""
    print(f"\nfilled {full.instances:,} instances over {hosts:,} hosts in {fill_seconds:.1f} s")
    headers = [
        "operation",
        f"n @{early.instances:,}",
        f"p50 ms @{early.instances:,}",
        f"p99 ms @{early.instances:,}",
        f"n @{full.instances:,}",
        f"p50 ms @{full.instances:,}",
        f"p99 ms @{full.instances:,}",
        "p50 growth",
    ]
    rows = []
    for attribute in ("lifecycle", "get", "page"):
        small: Samples = getattr(early, attribute)
        large: Samples = getattr(full, attribute)
        rows.append(
            [
                large.label,
                str(len(small.seconds)),
                f"{small.ms(0.5):.2f}",
                f"{small.ms(0.99):.2f}",
                str(len(large.seconds)),
                f"{large.ms(0.5):.2f}",
                f"{large.ms(0.99):.2f}",
                f"{large.ms(0.5) / small.ms(0.5):.2f}",
            ]
        )
    print(table(headers, rows))
    print(f"\npeak RSS: {rss_mib} MiB")
    print(
        table(
            ["cold start (median of 5)", "ms"],
            [[label, f"{1000 * seconds:.1f}"] for label, seconds in starts],
        )
    )
    return full.lifecycle.ms(0.5) / early.lifecycle.ms(0.5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description="Fill one platform with many instances over many hosts and measure the "
        "cost of a lifecycle, a get and a list page at 100 instances and at full size; "
        "peak RSS; cold start.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{_QUICK['instances']:,} instances over {_QUICK['hosts']:,} hosts",
    )
    parser.add_argument(
        "--instances", type=int, help=f"instances to fill (default {_FULL['instances']:,})"
    )
    parser.add_argument(
        "--hosts", type=int, help=f"hosts in the cluster (default {_FULL['hosts']:,}; max 1000)"
    )
    parser.add_argument(
        "--samples", type=int, default=200, help="samples per figure and size (default 200)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="stop sampling one figure after this long, once it has 10 samples (default 30)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="at full size, after the timed samples, profile 20 lifecycles, 100 gets and 5 "
        "pages with cProfile, write the stats to FILE and print the top 25 entries by "
        "cumulative time; the timed figures are not affected",
    )
    args = parser.parse_args(argv)
    preset = _QUICK if args.quick else _FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.instances < 1:
        parser.error(f"--instances must be at least 1; got {args.instances}")
    if not 3 <= args.hosts <= 1000:
        parser.error(f"--hosts must be 3 to 1000 (vsan-default needs 3); got {args.hosts}")
    if args.samples < 1:
        parser.error(f"--samples must be at least 1; got {args.samples}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"scale benchmark: {versions()}")
    state_dir = Path(tempfile.mkdtemp(prefix="dpp-bench-scale-"))
    try:
        config = cluster_config(args.hosts, args.instances)
        platform = dpp.Platform.open(state_dir, config=config)
        try:
            platform.register_service(MinimalProvider)
            filler = Filler(platform, args.instances)
            probe = Probe(platform, filler.names)
            filler.fill_to(min(_EARLY, args.instances))
            early = probe.checkpoint(args.samples, args.budget)
            filler.fill_to(args.instances)
            full = probe.checkpoint(args.samples, args.budget)
            stats = None if args.profile is None else probe.profile(args.profile)
            rss_mib = peak_rss_mib()
        finally:
            platform.close()
        starts = cold_starts(state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    growth = report(
        early=early,
        full=full,
        hosts=args.hosts,
        fill_seconds=filler.seconds,
        rss_mib=rss_mib,
        starts=starts,
    )
    if stats is not None:
        print(
            f"\nProfile at {full.instances:,} instances: 20 lifecycles, 100 gets, 5 pages "
            "(top 25 by cumulative time):"
        )
        stats.sort_stats("cumulative").print_stats(25)
    progress(f"done in {time.perf_counter() - started:.1f} s")
    print(
        f"scale: {full.instances} instances {args.hosts} hosts "
        f"lifecycle p99 {full.lifecycle.ms(0.99):.2f} ms get p99 {full.get.ms(0.99):.2f} ms "
        f"page p99 {full.page.ms(0.99):.2f} ms rss {rss_mib} MiB growth {growth:.2f}"
    )


if __name__ == "__main__":
    main()
