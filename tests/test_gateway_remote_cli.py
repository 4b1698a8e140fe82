"""The remote CLI: ``dpp --url URL --token T ...`` drives a gateway's platform through
``dpp_sdk.client.PlatformClient`` and prints what the local CLI prints for the same steps.

A gateway is served on 127.0.0.1 (an ephemeral port) over a temporary state directory, as
``dpp platform serve`` would, and the same commands run once against it and once against
another, local, state directory.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

import dpp_sdk as dpp
from dpp_sdk.cli._app import cli, run
from dpp_sdk.client import PlatformClient
from dpp_sdk.gateway import AdminToken, create_app
from tests.gateways import TOKEN, running
from tests.test_cli import TinyProvider

PROVIDER = "tests.test_cli:TinyProvider"


class Served:
    """A gateway over a platform on a state directory of its own."""

    def __init__(self, url: str, platform: dpp.Platform) -> None:
        self.url = url
        self.platform = platform

    def dpp(self, *args: str, token: str = TOKEN) -> Result:
        return CliRunner().invoke(cli, ["--url", self.url, "--token", token, *args])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    platform = dpp.Platform.open(tmp_path / "served", recover=False)
    try:
        with running(create_app(platform, AdminToken(TOKEN, "test"))) as url:
            yield Served(url, platform)
    finally:
        platform.close()


def _local(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--state-dir", str(state_dir), *args])


_VARYING = re.compile(
    r"op-[0-9a-f]{12}"  # operation ids
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?"  # times
    r"|/[^\s\"']*/(served|local)\b[^\s\"']*"  # paths under the two state directories
    r"|\b[0-9a-f]{32}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
)


def _same(text: str) -> str:
    """``text`` with what differs between two platforms by nature (ids, times) masked."""
    return _VARYING.sub("<>", text)


BOTH = ("json", "table")
JSON = ("json",)  # mutations run once; audit and events tables show times only JSON can mask

LIFECYCLE: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("service", "register", PROVIDER), JSON),
    (("service", "list"), BOTH),
    (("instance", "create", "--service", "tiny-kv", "--name", "kv1", "--capacity-gb", "2"), JSON),
    (
        ("instance", "create", "--service", "tiny-kv", "--name", "kv2", "--param", "replicas=2"),
        JSON,
    ),
    (("instance", "list"), BOTH),
    (("instance", "show", "kv1"), BOTH),
    (("instance", "set", "kv1", "--param", "replicas=3", "--capacity-gb", "4"), JSON),
    (("instance", "set", "kv2", "--capacity-gb", "3", "--idempotency-key", "grow-kv2"), JSON),
    (("instance", "set", "kv2", "--capacity-gb", "3", "--idempotency-key", "grow-kv2"), JSON),
    (("instance", "show", "kv1"), BOTH),
    (("health", "kv1"), BOTH),
    (("health",), JSON),
    (("operation", "list", "--target", "kv1"), BOTH),
    (("instance", "remove", "kv2", "--yes"), JSON),
    (("instance", "list"), BOTH),
    (("platform", "recover"), BOTH),
    (("audit",), JSON),
    (("events",), JSON),
)


def test_the_lifecycle_through_a_gateway_prints_what_the_local_cli_prints(
    served: Served, tmp_path: Path
) -> None:
    """Every step gives the same output through --url/--token as on a local state directory
    (ids and times aside): the same JSON document, and the same table where it prints one;
    the served platform is left consistent."""
    local = tmp_path / "local"
    for step, outputs in LIFECYCLE:
        for output in outputs:
            args = ("-o", output, *step)
            remote, here = served.dpp(*args), _local(local, *args)
            assert remote.exit_code == 0, (step, remote.output)
            assert here.exit_code == 0, (step, here.output)
            assert remote.stdout.strip(), step
            if output == "json":
                assert _masked(json.loads(remote.stdout)) == _masked(json.loads(here.stdout)), step
            else:
                assert _same(remote.stdout) == _same(here.stdout), step
    assert served.platform.check_consistency() == []
    kv1 = served.platform.get_instance("kv1")
    assert kv1.spec.parameters["replicas"] == 3
    assert kv1.spec.capacity_gb == 4
    assert [r.principal for r in served.platform.audit(limit=None)][-1] == "admin"


def _masked(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _masked(v) for k, v in data.items() if k not in {"principal"}}
    if isinstance(data, list):
        return [_masked(v) for v in data]
    if isinstance(data, str):
        return _same(data)
    return data


def test_instance_set_through_the_client_keys_each_operation_and_notes_a_half_done_change(
    served: Served,
) -> None:
    """change_instance over HTTP: the keys K:configure and K:scale (a repeat returns the
    same operations), a refused scale refuses it all before configuring, and a scale that
    fails after the configure raises OperationFailed noting what was done, as in-process."""
    with PlatformClient(served.url, TOKEN) as client:
        client.register_service(PROVIDER)
        client.create_instance(service="tiny-kv", name="kv1", capacity_gb=2)
        first = client.change_instance(
            "kv1", parameters={"replicas": 2}, capacity_gb=3, idempotency_key="k"
        )
        assert [(o.kind, o.idempotency_key) for o in first] == [
            ("configure", "k:configure"),
            ("scale", "k:scale"),
        ]
        again = client.change_instance(
            "kv1", parameters={"replicas": 2}, capacity_gb=3, idempotency_key="k"
        )
        assert again == first
        with pytest.raises(dpp.ValidationError) as refused:
            client.change_instance("kv1", parameters={"replicas": 5}, capacity_gb=1000)
        assert [p.path for p in refused.value.problems] == ["$.capacity_gb"]
        assert client.get_instance("kv1").spec.parameters["replicas"] == 2
        with pytest.raises(dpp.ValidationError):
            client.change_instance("kv1")


class ScaleFailsProvider(TinyProvider):
    """TinyProvider whose scale always fails."""

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        raise dpp.PermanentError("no room to grow")


def test_a_scale_failing_after_the_configure_notes_what_was_done_as_in_process(
    served: Served,
) -> None:
    """The client raises OperationFailed of the scale with the note 'already done:
    configure ... succeeded', and the remote CLI's error line ends with it."""
    with PlatformClient(served.url, TOKEN) as client:
        client.register_service("tests.test_gateway_remote_cli:ScaleFailsProvider")
        client.create_instance(service="tiny-kv", name="kv1", capacity_gb=2)
        with pytest.raises(dpp.OperationFailed) as failed:
            client.change_instance("kv1", parameters={"replicas": 2}, capacity_gb=3)
    operations = served.platform.list_operations(target="kv1")
    configure, scale = operations[-2:]
    assert failed.value.operation == scale
    assert str(failed.value) == str(dpp.OperationFailed(scale))
    assert failed.value.__notes__ == [f"already done: configure {configure.id} succeeded"]

    result = served.dpp("instance", "set", "kv1", "--param", "replicas=3", "--capacity-gb", "4")
    assert result.exit_code == 1
    assert "no room to grow" in result.stderr
    assert re.search(r"\(already done: configure op-[0-9a-f]+ succeeded\)$", result.stderr.strip())


def test_usage_errors_of_the_remote_switch_exit_2_naming_the_option(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token without a URL, a URL that is not one, options of a local state directory
    with --url, and the commands that only work locally: exit 2, one line naming them."""
    cases = [
        (["--token", "t", "instance", "list"], "--token is the token of a gateway"),
        (["--url", "localhost:8080", "instance", "list"], "is not the URL of a gateway"),
        (["--url", served.url, "--state-dir", str(tmp_path), "audit"], "--state-dir is for"),
        (["--url", served.url, "--config", __file__, "audit"], "--config is for"),
        (["--url", served.url, "platform", "serve"], "does not take --url"),
    ]
    for args, message in cases:
        assert run(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("dpp: error: "), (args, err)
        assert message in err, (args, err)
        assert err.count("\n") == 1
    env = {"DPP_TOKEN": "t", "DPP_URL": ""}
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path / "x"), "audit"], env=env)
    assert result.exit_code == 2
    assert "DPP_TOKEN is the token of a gateway" in result.output
    assert not (tmp_path / "x").exists()


def test_the_environment_switches_to_the_gateway_and_a_wrong_token_fails_clearly(
    served: Served,
) -> None:
    """DPP_URL and DPP_TOKEN do what --url and --token do (the URL 'platform serve' prints,
    ending in /v1, works too); a wrong token exits 1 with one
    line saying the token is not valid and what to check, and changes nothing."""
    env = {"DPP_URL": f"{served.url}/v1/", "DPP_TOKEN": TOKEN}  # as 'platform serve' prints it
    result = CliRunner().invoke(cli, ["service", "register", PROVIDER], env=env)
    assert result.exit_code == 0, result.output
    assert served.platform.get_service("tiny-kv").name == "tiny-kv"
    wrong = served.dpp("instance", "create", "--service", "tiny-kv", "--name", "a", token="nope")
    assert wrong.exit_code == 1
    assert wrong.stderr == (
        "dpp: error: gateway answered 401 Unauthorized: the bearer token is not valid "
        "(check --token or DPP_TOKEN)\n"
    )
    assert wrong.stdout == ""
    assert served.platform.list_instances() == []
    missing = served.dpp("instance", "show", "nope")
    assert missing.exit_code == 1
    assert missing.stderr == "dpp: error: instance 'nope' not found\n"


def test_nothing_listening_is_one_line_naming_the_url() -> None:
    """A gateway that cannot be reached: exit 1, one line naming its URL."""
    result = CliRunner().invoke(cli, ["--url", "http://127.0.0.1:9", "-o", "json", "audit"])
    assert result.exit_code == 1
    assert result.stderr.startswith("dpp: error: cannot reach the gateway at http://127.0.0.1:9")
    assert result.stderr.count("\n") == 1


def test_logs_through_the_gateway_print_the_tail_and_follow_it(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'dpp logs -n N' prints the last lines of the served platform's log, as the local
    command does from the file; -f prints what is written next (complete lines, read from
    the offset the last answer gave)."""
    from dpp_sdk.cli._logs import tail

    served.platform.register_service(PROVIDER)
    served.platform.create_instance(service="tiny-kv", name="kv1", capacity_gb=1)
    path = served.platform.log_path
    assert path is not None
    last, _ = tail(path, 2)
    result = served.dpp("logs", "-n", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout == "".join(last)
    assert served.dpp("logs").stdout == "".join(tail(path, None)[0])

    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:
            served.platform.scale_instance("kv1", 2)
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", sleep)
    followed = served.dpp("logs", "-n", "0", "-f")
    assert followed.exit_code == 0, followed.output
    assert followed.stdout.count("\n") == 1
    assert "audit instance.scale kv1 by admin: succeeded" in followed.stdout

    with PlatformClient(served.url, TOKEN) as client:
        text, end = client.read_log(lines=1)
        assert text == "".join(tail(path, 1)[0])
        assert client.read_log(offset=end) == ("", end)
        assert client.read_log(offset=end + 10**6)[0] == "".join(tail(path, None)[0])


def test_logs_of_an_in_memory_platform_are_not_found(
    dpp_platform_factory: Any,
) -> None:
    """A platform without a log file: 404 over HTTP, one error line from the CLI."""
    platform = dpp_platform_factory()
    with running(create_app(platform, AdminToken(TOKEN, "test"))) as url:
        result = CliRunner().invoke(cli, ["--url", url, "--token", TOKEN, "logs"])
    assert result.exit_code == 1
    assert "this platform keeps no log file" in result.stderr


class _Interrupted:
    """A platform with one interrupted operation on kv1 (as if a process died holding it),
    recording what it is asked to recover; everything else is the real platform's."""

    def __init__(self, platform: dpp.Platform, op: dpp.Operation) -> None:
        self._platform = platform
        self.left = [op]
        self.recovered: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._platform, name)

    def interrupted_operations(self) -> list[dpp.Operation]:
        return list(self.left)

    def recover(self, *, targets: Any = None) -> list[dpp.Operation]:
        self.recovered.append(targets)
        done, self.left = self.left, []
        return done


def test_interrupted_operations_and_recover_over_http_and_the_remote_cli_resumes_them(
    dpp_platform_factory: Any,
) -> None:
    """GET /v1/recovery lists what a dead process left, POST recovers it (all, or only the
    targets); a changing remote command resumes its instance's first, as locally, and asks
    for no recovery when nothing was left."""
    platform = dpp_platform_factory()
    platform.register_service(PROVIDER)
    op = platform.create_instance(service="tiny-kv", name="kv1", capacity_gb=1)
    stub = _Interrupted(platform, op)
    with (
        running(create_app(stub, AdminToken(TOKEN, "test"))) as url,
        PlatformClient(url, TOKEN) as client,
    ):
        assert client.interrupted_operations() == [op]
        assert client.recover(targets={"kv1", "a"}) == [op]
        assert stub.recovered == [["a", "kv1"]]
        assert client.recover() == []
        assert stub.recovered == [["a", "kv1"], None]
        invalid = requests.post(
            f"{url}/v1/recovery",
            json={"targets": "kv1"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert invalid.status_code == 422
        assert [p["path"] for p in invalid.json()["problems"]] == ["$.targets"]

        base = ["--url", url, "--token", TOKEN]
        nothing_left = CliRunner().invoke(cli, [*base, "service", "disable", "tiny-kv"])
        assert nothing_left.exit_code == 0, nothing_left.output
        assert len(stub.recovered) == 2  # nothing interrupted: the gateway is not asked

        stub.left = [op]
        args = [*base, "instance", "set", "kv1", "--capacity-gb", "2"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert f"dpp: resuming operation {op.id} (provision kv1)" in result.stderr
        assert stub.recovered == [["a", "kv1"], None, ["kv1"]]
        assert platform.get_instance("kv1").spec.capacity_gb == 2


def test_dpp_help_names_the_remote_options_and_loads_no_client() -> None:
    """--url/--token and their variables are in 'dpp --help'; neither help nor a local
    command imports the HTTP client or requests."""
    result = CliRunner().invoke(cli, ["--help"])
    for word in ("--url", "--token", "DPP_URL", "DPP_TOKEN"):
        assert word in result.output
    code = (
        "import sys, tempfile\n"
        "from dpp_sdk.cli._app import run\n"
        "assert run(['--help']) == 0\n"
        "assert run(['--state-dir', tempfile.mkdtemp(), '-o', 'json', 'audit']) == 0\n"
        "print(sorted(m for m in ('dpp_sdk.client', 'requests') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "[]"


def test_a_partner_changes_and_recovers_only_its_own_instances_and_is_refused_the_log(
    dpp_platform_factory: Any,
) -> None:
    """Through a partner token, 'dpp instance set' on the vendor's instance shows the keys
    as given (K:configure, K:scale), and another vendor's instance is not found; recovery
    lists and resumes only the vendor's own instances' operations (another's target is not
    found); the platform log, which mixes every vendor's lines, is admin-only (403)."""
    platform = dpp_platform_factory()
    platform.register_service(PROVIDER)  # TinyProvider's vendor: "dpp-sdk tests"
    platform.create_instance(service="tiny-kv", name="kv1", capacity_gb=1)
    admin = {"Authorization": f"Bearer {TOKEN}"}
    with running(create_app(platform, AdminToken(TOKEN, "test"))) as url:
        partner, other = (
            requests.post(f"{url}/v1/tokens", json={"vendor": v}, headers=admin, timeout=10).json()[
                "token"
            ]
            for v in ("dpp-sdk tests", "Someone Else")
        )
        base = ["--url", url, "-o", "json"]
        change = ["instance", "set", "kv1", "--param", "replicas=2", "--capacity-gb", "2"]
        mine = CliRunner().invoke(
            cli, [*base, "--token", partner, *change, "--idempotency-key", "k"]
        )
        assert mine.exit_code == 0, mine.output
        keys = [o["idempotency_key"] for o in json.loads(mine.stdout)]
        assert keys == ["k:configure", "k:scale"]
        theirs = CliRunner().invoke(cli, [*base, "--token", other, *change])
        assert theirs.exit_code == 1
        assert theirs.stderr == "dpp: error: instance 'kv1' not found\n"

        refused = CliRunner().invoke(cli, [*base, "--token", partner, "logs"])
        assert refused.exit_code == 1
        assert "403 Forbidden: GET /v1/log is for the admin only" in refused.stderr
        recovered = CliRunner().invoke(cli, [*base, "--token", partner, "platform", "recover"])
        assert recovered.exit_code == 0, recovered.output
        assert json.loads(recovered.stdout) == []
        as_other = {"Authorization": f"Bearer {other}"}
        listed = requests.get(f"{url}/v1/recovery", headers=as_other, timeout=10)
        assert (listed.status_code, listed.json()) == (200, [])
        body = {"targets": ["kv1"]}
        hidden = requests.post(f"{url}/v1/recovery", json=body, headers=as_other, timeout=10)
        assert hidden.status_code == 404
    assert platform.get_instance("kv1").spec.capacity_gb == 2
