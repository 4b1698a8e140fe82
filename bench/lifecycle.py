"""In-process lifecycle throughput of the mock platform, side by side with moto's EC2.

What it measures (PRODUCT.md section 9, first target): how many instance lifecycles per second
the in-process platform completes, against how many volume lifecycles moto's in-process EC2
completes, in one process and one run.

- **in-process**: ``Platform.create_instance`` + ``instance_health`` + ``remove_instance`` of
  a minimal one-member provider (``bench/_provider.py``), on the durable SQLite store in a
  fresh temporary state directory, default 4-host cluster.
- **moto**: ``create_volume`` + ``describe_volumes(VolumeIds=[id])`` + ``delete_volume`` with a
  boto3 EC2 client in us-east-1 under ``moto.mock_aws`` (dummy credentials).

Both are warmed up first; then rounds alternate between the two (the order flips every round)
so that machine noise hits both. Each system's figure is its total lifecycles divided by the
total time of its rounds. The target is a ratio of at least 10.

Run from the repository root, after ``pip install -e '.[bench]'``::

    python -m bench.lifecycle --quick            # under a minute
    python -m bench.lifecycle --rounds 10 --per-round 200
    python -m bench.lifecycle --quick --profile lifecycle.prof

The last line of stdout is ``bench: in-process A lifecycles/s vs moto B (ratio R)``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

import dpp_sdk as dpp
from bench._provider import MANIFEST, MinimalProvider
from bench._report import progress, table, versions

_QUICK = {"rounds": 10, "per_round": 50, "warmup": 20}
_FULL = {"rounds": 10, "per_round": 100, "warmup": 50}

_REGION = "us-east-1"
_DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": _REGION,
}


class System(Protocol):
    """One side of the comparison: runs ``count`` lifecycles per call."""

    name: str

    def run(self, count: int) -> None: ...

    def close(self) -> None: ...


class InProcessPlatform:
    """Lifecycles of the minimal provider through ``dpp.Platform`` on a durable store."""

    name = "in-process"

    def __init__(self, provider: type[dpp.ServiceProvider] = MinimalProvider) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="dpp-bench-lifecycle-")
        self.state_dir = self._dir.name
        self.platform = dpp.Platform.open(self.state_dir, config=dpp.ClusterConfig.default())
        self.platform.register_service(provider)
        self._next = 0

    def run(self, count: int) -> None:
        platform = self.platform
        for _ in range(count):
            name = f"lc-{self._next}"
            self._next += 1
            platform.create_instance(service=MANIFEST.name, name=name, capacity_gb=1)
            health = platform.instance_health(name)
            if health.status is not dpp.HealthStatus.GREEN:
                raise RuntimeError(f"instance {name} is {health.status.value}, not green")
            platform.remove_instance(name)

    def close(self) -> None:
        self.platform.close()
        self._dir.cleanup()


class MotoEC2:
    """Volume lifecycles against moto's in-process EC2 (``moto.mock_aws``)."""

    name = "moto"

    def __init__(self) -> None:
        dummy_credentials()
        try:
            import boto3
            from moto import mock_aws
        except ImportError as exc:
            raise SystemExit(
                f"bench/lifecycle.py needs moto and boto3 ({exc}); "
                "install them with: pip install -e '.[bench]'"
            ) from exc
        self._mock = mock_aws()
        self._mock.start()
        self._ec2: Any = boto3.client("ec2", region_name=_REGION)

    def run(self, count: int) -> None:
        volume_lifecycles(self._ec2, count)

    def close(self) -> None:
        self._mock.stop()


def dummy_credentials() -> None:
    """Dummy AWS credentials, and nothing that could point boto3 at a real account."""
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(variable, None)
    os.environ.update(_DUMMY_AWS_ENV)


def volume_lifecycles(ec2: Any, count: int) -> None:
    """``count`` EC2 volume lifecycles (create, describe by id, delete) through ``ec2``."""
    for _ in range(count):
        volume_id = ec2.create_volume(AvailabilityZone=f"{_REGION}a", Size=1)["VolumeId"]
        found = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
        if [v["VolumeId"] for v in found] != [volume_id]:
            raise RuntimeError(f"moto described {found!r} for volume {volume_id}")
        ec2.delete_volume(VolumeId=volume_id)


def measure(systems: list[System], rounds: int, per_round: int) -> dict[str, list[float]]:
    """Seconds each system took for each round of ``per_round`` lifecycles."""
    seconds: dict[str, list[float]] = {s.name: [] for s in systems}
    for number in range(rounds):
        order = systems if number % 2 == 0 else systems[::-1]
        for system in order:
            start = time.perf_counter()
            system.run(per_round)
            seconds[system.name].append(time.perf_counter() - start)
        figures = ", ".join(f"{n} {per_round / s[-1]:.1f}/s" for n, s in seconds.items())
        progress(f"round {number + 1}/{rounds}: {figures}")
    return seconds


def report(
    seconds: dict[str, list[float]], per_round: int, ours: str = "in-process", peer: str = "moto"
) -> tuple[float, float]:
    """Print the per-round table; return the overall (``ours``, ``peer``) lifecycles/s."""
    mine, theirs = seconds[ours], seconds[peer]
    rows = [
        [
            str(i + 1),
            ours if i % 2 == 0 else peer,
            f"{per_round / a:.1f}",
            f"{per_round / b:.1f}",
            f"{b / a:.2f}",
        ]
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True))
    ]
    ours_rate = per_round * len(mine) / sum(mine)
    peer_rate = per_round * len(theirs) / sum(theirs)
    rows.append(["all", "", f"{ours_rate:.1f}", f"{peer_rate:.1f}", f"{ours_rate / peer_rate:.2f}"])
    headers = ["round", "first", f"{ours} /s", f"{peer} /s", "ratio"]
    print(table(headers, rows))
    return ours_rate, peer_rate


def compare(ours: System, peer: System, args: argparse.Namespace) -> tuple[float, float]:
    """Warm both systems up, run the alternating rounds, print the table; return the overall
    lifecycles/s of ``ours`` and ``peer``."""
    for system in (ours, peer):
        progress(f"warming up {system.name}: {args.warmup} lifecycles")
        system.run(args.warmup)
    seconds = measure([ours, peer], args.rounds, args.per_round)
    return report(seconds, args.per_round, ours.name, peer.name)


def apply_preset(
    parser: argparse.ArgumentParser, args: argparse.Namespace, preset: dict[str, int]
) -> None:
    """Fill the options left out from ``preset``; refuse rounds or lifecycles below one."""
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("rounds", "per_round"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1; got {getattr(args, key)}")


def profile(system: InProcessPlatform, count: int, path: Path) -> None:
    """Profile ``count`` further in-process lifecycles into ``path``; print the top entries."""
    progress(f"profiling {count} in-process lifecycles into {path}")
    profiler = cProfile.Profile()
    profiler.enable()
    system.run(count)
    profiler.disable()
    profiler.dump_stats(path)
    print(f"\nProfile of {count} in-process lifecycles (top 25 by cumulative time):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.lifecycle",
        description="In-process platform lifecycles/s against moto's in-process EC2, "
        "in alternating rounds of one run.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short run, under a minute: {_QUICK['rounds']} rounds of "
        f"{_QUICK['per_round']} lifecycles per system",
    )
    parser.add_argument("--rounds", type=int, help=f"rounds per system (default {_FULL['rounds']})")
    parser.add_argument(
        "--per-round",
        type=int,
        help=f"lifecycles per system per round (default {_FULL['per_round']})",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help=f"untimed lifecycles per system before the rounds (default {_FULL['warmup']})",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="after the timed rounds, profile two rounds' worth of in-process lifecycles "
        "(the platform side only) with cProfile, write the stats to FILE and print the top 25 "
        "entries by cumulative time; the timed figures are not affected",
    )
    args = parser.parse_args(argv)
    apply_preset(parser, args, _QUICK if args.quick else _FULL)
    if args.warmup < 0:
        parser.error(f"--warmup must be 0 or more; got {args.warmup}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"lifecycle benchmark: {versions('moto', 'boto3')}")
    print(f"{args.rounds} rounds x {args.per_round} lifecycles per system, {args.warmup} warm-up")
    with contextlib.ExitStack() as stack:
        ours = InProcessPlatform()
        stack.callback(ours.close)
        peer = MotoEC2()
        stack.callback(peer.close)
        ours_rate, peer_rate = compare(ours, peer, args)
        if args.profile is not None:
            profile(ours, 2 * args.per_round, args.profile)
    progress(f"done in {time.perf_counter() - started:.1f} s")
    print(
        f"bench: in-process {ours_rate:.1f} lifecycles/s vs moto {peer_rate:.1f} "
        f"(ratio {ours_rate / peer_rate:.2f})"
    )


if __name__ == "__main__":
    main()
