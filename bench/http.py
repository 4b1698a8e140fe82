"""Lifecycles through the HTTP gateway, side by side with moto's server mode (EC2 volumes).

What it measures (issue 12, item 9): one keep-alive client doing create + get + delete, in
alternating rounds of one run so machine noise hits both:

- **gateway**: ``dpp platform serve`` in a child process on a fresh state directory (the
  minimal provider of ``bench/_provider.py`` registered), driven through
  ``dpp_sdk.client.PlatformClient``: ``create_instance`` + ``get_instance`` +
  ``remove_instance``.
- **moto-server**: moto's threaded server on loopback, driven by a boto3 EC2 client:
  ``create_volume`` + ``describe_volumes(VolumeIds=[id])`` + ``delete_volume``.

Run from the repository root, after ``pip install -e '.[bench,gateway]'``::

    python -m bench.http --quick

Before the last line, ``gateway cost:`` gives the requests per lifecycle (counted in the server's
access log) and the CPU time per request of the client (the benchmark's thread) and of the
server process (all its threads, the platform's work included), over the timed rounds: steadier
than lifecycles/s on a shared machine (the server's figure needs Linux's ``/proc``).

The last line of stdout is ``http: gateway A lifecycles/s vs moto-server B (ratio R)``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench._provider import MANIFEST
from bench._report import progress, versions
from bench.lifecycle import _REGION, apply_preset, compare, dummy_credentials, volume_lifecycles

_QUICK = {"rounds": 6, "per_round": 30, "warmup": 10}
_FULL = {"rounds": 10, "per_round": 100, "warmup": 30}
_ROOT = Path(__file__).resolve().parent.parent
_ACCESS_LINE = re.compile(rb'"[A-Z]+ /\S* HTTP/1\.[01]" [0-9]{3}')
"""A request in uvicorn's access log (``127.0.0.1:50000 - "GET /v1/... HTTP/1.1" 200 OK``)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_cpu(pid: int) -> float | None:
    """CPU seconds (user and system, every thread) process ``pid`` has used; None without
    ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_until_up(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode} before serving")
        with contextlib.suppress(requests.ConnectionError):
            requests.get(url, timeout=2)
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not answer at {url} within 60 s")


class Gateway:
    """Lifecycles of the minimal provider through ``dpp platform serve`` over HTTP."""

    name = "gateway"

    def __init__(self) -> None:
        from dpp_sdk.client import PlatformClient

        self._dir = tempfile.TemporaryDirectory(prefix="dpp-bench-http-")
        token = secrets.token_urlsafe(24)
        port = _free_port()
        env = {**os.environ, "DPP_ADMIN_TOKEN": token, "PYTHONPATH": str(_ROOT)}
        dpp = Path(sys.executable).with_name("dpp")
        # The server's output (its access log) goes to a file, to count the requests.
        self._output = Path(self._dir.name) / "serve.out"
        state = Path(self._dir.name) / "state"
        with self._output.open("wb") as output:
            self._server = subprocess.Popen(
                [str(dpp), "--state-dir", str(state), "platform", "serve", "--port", str(port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{url}/v1/openapi.json", self._server, "dpp platform serve")
        self.client = PlatformClient(url, token)
        self.client.register_service("bench._provider:MinimalProvider")
        self._next = 0
        self._runs = 0
        self._counted: list[tuple[int, int]] = []  # (start, end) in the server's output
        self._lifecycles = 0
        self._client_cpu = 0.0
        self._server_cpu: float | None = 0.0

    def run(self, count: int) -> None:
        self._runs += 1
        counted = self._runs > 1  # the first run is the warm-up
        start = self._output.stat().st_size
        client_cpu, server_cpu = time.thread_time(), _process_cpu(self._server.pid)
        client = self.client
        for _ in range(count):
            name = f"lc-{self._next}"
            self._next += 1
            client.create_instance(service=MANIFEST.name, name=name, capacity_gb=1)
            if client.get_instance(name).status != "ready":
                raise RuntimeError(f"instance {name} is not ready")
            client.remove_instance(name)
        if not counted:
            return
        self._client_cpu += time.thread_time() - client_cpu
        server_end = _process_cpu(self._server.pid)
        if self._server_cpu is None or server_cpu is None or server_end is None:
            self._server_cpu = None
        else:
            self._server_cpu += server_end - server_cpu
        self._lifecycles += count
        self._counted.append((start, self._output.stat().st_size))

    def cost(self) -> str:
        """Requests per lifecycle and CPU per request of client and server, timed rounds only."""
        output = self._output.read_bytes()
        requests = sum(len(_ACCESS_LINE.findall(output[a:b])) for a, b in self._counted)
        if not requests:
            return "gateway cost: no request found in the server's access log"
        server = "?" if self._server_cpu is None else f"{self._server_cpu / requests * 1e6:.0f}"
        return (
            f"gateway cost: {requests / self._lifecycles:.2f} requests per lifecycle; CPU per "
            f"request: client {self._client_cpu / requests * 1e6:.0f} us, "
            f"server {server} us (platform included)"
        )

    def close(self) -> None:
        self._server.send_signal(signal.SIGTERM)
        try:
            self._server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._server.kill()
        self._dir.cleanup()


class MotoServer:
    """Volume lifecycles against moto's threaded server on loopback, through boto3."""

    name = "moto-server"

    def __init__(self) -> None:
        dummy_credentials()
        try:
            import boto3
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise SystemExit(
                f"bench/http.py needs moto's server mode and boto3 ({exc}); "
                "install them with: pip install -e '.[bench]'"
            ) from exc
        port = _free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        self._ec2: Any = boto3.client(
            "ec2", region_name=_REGION, endpoint_url=f"http://127.0.0.1:{port}"
        )

    def run(self, count: int) -> None:
        volume_lifecycles(self._ec2, count)

    def close(self) -> None:
        self._server.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http",
        description="Gateway lifecycles/s over HTTP against moto's server mode, in "
        "alternating rounds of one run.",
    )
    parser.add_argument("--quick", action="store_true", help="a short run, under a minute")
    parser.add_argument("--rounds", type=int, help=f"rounds per system (default {_FULL['rounds']})")
    parser.add_argument(
        "--per-round", type=int, help=f"lifecycles per round (default {_FULL['per_round']})"
    )
    parser.add_argument(
        "--warmup", type=int, help=f"untimed lifecycles first (default {_FULL['warmup']})"
    )
    args = parser.parse_args(argv)
    apply_preset(parser, args, _QUICK if args.quick else _FULL)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"http benchmark: {versions('moto', 'boto3', 'uvicorn', 'starlette')}")
    print(f"{args.rounds} rounds x {args.per_round} lifecycles per system, {args.warmup} warm-up")
    with contextlib.ExitStack() as stack:
        ours = Gateway()
        stack.callback(ours.close)
        peer = MotoServer()
        stack.callback(peer.close)
        ours_rate, peer_rate = compare(ours, peer, args)
        print(ours.cost())
    progress(f"done in {time.perf_counter() - started:.1f} s")
    print(
        f"http: gateway {ours_rate:.1f} lifecycles/s vs moto-server {peer_rate:.1f} "
        f"(ratio {ours_rate / peer_rate:.2f})"
    )


if __name__ == "__main__":
    main()
