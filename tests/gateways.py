"""Starting and stopping the gateway in tests: in a thread of the test's process (uvicorn on
127.0.0.1, an ephemeral port) or as a ``dpp platform serve`` process on a state directory."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import requests
import uvicorn

import dpp_sdk as dpp
from dpp_sdk.client import PlatformClient
from dpp_sdk.gateway._server import bind

ROOT = Path(__file__).resolve().parent.parent
DPP = [sys.executable, "-c", "from dpp_sdk.cli import main; main()"]


TOKEN = "test-admin-token"
KV = "tests.providers:KVProvider"


class Gateway:
    """A running gateway: its base URL, the platform behind it, a client with the token."""

    def __init__(self, url: str, platform: dpp.Platform) -> None:
        self.url = url
        self.platform = platform
        self.client = PlatformClient(url, TOKEN)

    def get(self, path: str, token: str | None = TOKEN, **kwargs: Any) -> requests.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return requests.get(f"{self.url}{path}", headers=headers, timeout=10, **kwargs)

    def post(self, path: str, body: object, **headers: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {TOKEN}", **headers}
        return requests.post(f"{self.url}{path}", json=body, headers=headers, timeout=30)


@contextlib.contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 and a free port in a thread; its base URL."""
    sock = bind("127.0.0.1", 0)  # as `dpp platform serve` binds (TCP_NODELAY on its connections)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.01)
    host, port = sock.getsockname()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def serve_env(**extra: str) -> dict[str, str]:
    """This process's environment without the gateway's and the CLI's own settings, plus
    ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DPP_ADMIN_TOKEN", "DPP_STATE_DIR")}
    return {**env, **extra}


class Served:
    """A ``dpp platform serve`` process on ``state_dir`` (any free port), its start-up lines
    and its URL. What it prints later (a line per request) is read as it comes, so a busy
    server never blocks on a full pipe."""

    def __init__(self, state_dir: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*DPP, "--state-dir", str(state_dir), "platform", "serve", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.lines: list[str] = []
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("stop with"):
                break
        found = re.search(r"at (http://\S+)/v1 ", "\n".join(self.lines))
        if found is None:  # it died, or printed something else: no process is left behind
            self.process.kill()
            raise AssertionError(self.lines, self.process.stderr.read())
        self.url = found.group(1)
        self._out: list[str] = []
        self._err: list[str] = []
        self._drains = [
            threading.Thread(target=_drain, args=(stream, into), daemon=True)
            for stream, into in ((self.process.stdout, self._out), (self.process.stderr, self._err))
        ]
        for drain in self._drains:
            drain.start()

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        """Send ``sig`` and wait for the end; the exit status and what it printed on stdout
        after its start-up lines (what it printed on stderr is in :attr:`stderr`)."""
        self.process.send_signal(sig)
        self.process.wait(timeout=20)
        for drain in self._drains:
            drain.join(timeout=10)
        return self.process.returncode, "".join(self._out)

    @property
    def stderr(self) -> str:
        return "".join(self._err)

    def kill(self) -> None:
        """End it now if it still runs (a test's clean-up)."""
        if self.process.poll() is None:
            self.stop(signal.SIGKILL)


def _drain(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)
