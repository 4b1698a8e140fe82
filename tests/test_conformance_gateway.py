"""The conformance suite through the gateway: each check's platform is a sandbox of a served
gateway (``POST /v1/sandboxes``), every platform call goes over HTTP, and both samples pass
as they do in-process; the sandbox routes are the admin's and refuse bad input clearly."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

import dpp_sdk as dpp
from dpp_sdk import conformance
from dpp_sdk.cli._app import cli
from dpp_sdk.client import PlatformClient, RemoteLab
from dpp_sdk.conformance import Step
from dpp_sdk.contract import NotFound, ProvisionRequest
from dpp_sdk.gateway._sandboxes import MAX_SANDBOXES
from dpp_sdk.testing import cluster
from tests.broken_providers import BROKEN, Broken
from tests.gateways import TOKEN, Gateway

ROOT = Path(__file__).resolve().parent.parent
MINIO = str(ROOT / "samples" / "minio")
MONGODB = str(ROOT / "samples" / "mongodb")


def _headers(token: str = TOKEN, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


@pytest.mark.parametrize(("provider", "profile"), [(MINIO, "full"), (MONGODB, "full")])
def test_both_samples_pass_the_suite_through_the_gateway_leaving_no_sandbox(
    gateway: Gateway, provider: str, profile: str
) -> None:
    url, platform = gateway.url, gateway.platform
    with RemoteLab(url, TOKEN) as lab:
        report = conformance.run(provider, profile=profile, lab=lab)
    assert report.passed, conformance.summary(report)
    assert len(report.results) == len(conformance.select(profile=profile))
    listed = requests.get(f"{url}/v1/sandboxes", headers=_headers(), timeout=10)
    assert listed.json() == []
    assert platform.list_instances() == []  # the gateway's own platform was never touched


#: Broken providers caught by checks that use the lab's steps (direct verb calls, a crash,
#: the probe, held contexts, secret values, the log), which run in the sandbox over HTTP.
THROUGH_THE_LAB = ("PROV-003", "PROV-004", "MON-002", "SEC-001", "SEC-003", "RES-004")


@pytest.mark.parametrize(
    "provider",
    [cls for cls in BROKEN if cls.caught_by in THROUGH_THE_LAB],
    ids=lambda cls: cls.__name__,
)
def test_a_broken_provider_fails_through_the_gateway_as_it_does_in_process(
    gateway: Gateway, provider: type[Broken]
) -> None:
    url = gateway.url
    local = conformance.run(provider, only=[provider.caught_by])
    with RemoteLab(url, TOKEN) as lab:
        remote = conformance.run(provider, only=[provider.caught_by], lab=lab)
    assert [r.outcome for r in remote.results] == [r.outcome for r in local.results] == ["fail"]
    assert remote.results[0].expected == local.results[0].expected
    missing = [words for words in provider.says if words not in remote.results[0].message]
    assert not missing, remote.results[0].message


def test_the_cli_certifies_through_the_gateway_and_verify_accepts_the_report(
    gateway: Gateway, tmp_path: Path
) -> None:
    url = gateway.url
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            *("--url", url, "--token", TOKEN, "conformance", "run", MINIO),
            *("--profile", "quick", "--report", str(report)),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(report.read_text())
    assert document["results"]
    assert document["platform"] == f"gateway {url}"
    assert f"through the gateway {url}" in result.output
    verified = CliRunner().invoke(cli, ["conformance", "verify", str(report), MINIO])
    assert verified.exit_code == 0, verified.output


def test_a_provider_the_gateway_cannot_load_fails_once_up_front_naming_it(
    gateway: Gateway, tmp_path: Path
) -> None:
    """The harness loads the provider here; the gateway cannot (a module only this side
    has): the run stops before any check with the gateway's refusal."""
    url = gateway.url
    with RemoteLab(url, TOKEN) as lab, pytest.raises(dpp.ValidationError) as refused:
        lab.open("no_such_module_here:Provider", config=cluster())
    assert "$.provider" in str(refused.value.problems[0].path)
    result = CliRunner().invoke(
        cli, ["--url", url, "--token", "wrong", "conformance", "run", MINIO, "--profile", "quick"]
    )
    assert result.exit_code == 1
    assert "check --token or DPP_TOKEN" in result.output


def test_a_sandbox_is_a_fresh_platform_the_header_addresses_and_delete_removes(
    gateway: Gateway,
) -> None:
    url, platform = gateway.url, gateway.platform
    with RemoteLab(url, TOKEN) as lab:
        sandbox = lab.open(MINIO, config=cluster(hosts=5))
        assert [h.name for h in sandbox.list_hosts()] == [f"esx-0{i}" for i in range(1, 6)]
        sandbox.create_instance(service="minio", name="m1", capacity_gb=20)
        assert [i.name for i in sandbox.list_instances()] == ["m1"]
        assert platform.list_instances() == []
        assert platform.list_services() == []
        assert sandbox.check_consistency() == []
        lab.discard(sandbox)
        lab.discard(sandbox)  # a second discard does nothing
    gone = PlatformClient(url, TOKEN, sandbox=str(sandbox.sandbox))
    with gone, pytest.raises(NotFound, match="sandbox"):
        gone.list_instances()


def test_sandbox_actions_run_the_labs_steps_and_crash_and_resume_recovers(
    gateway: Gateway,
) -> None:
    url = gateway.url
    with RemoteLab(url, TOKEN) as lab:
        sandbox = lab.open(MINIO, config=cluster(), on_disk=True)
        try:
            create = Step(
                call="create_instance",
                kwargs={"service": "minio", "name": "a", "capacity_gb": 20},
            )
            calls = lab.count_context_calls(sandbox, create, verbs={"provision"})
            assert calls > 2
            probe = lab.probe(sandbox, "a")
            assert probe is not None
            probe.write("k", b"\x00canary\xff")
            assert probe.read("k") == b"\x00canary\xff"
            with pytest.raises(KeyError):
                probe.read("never-written")  # the provider's KeyError, raised again here
            report = lab.call_provider(sandbox, "a", None)
            assert report is not None
            assert report.status == "green"
            info = sandbox.get_instance("a")
            request = ProvisionRequest(
                instance="a", service="minio", spec=info.spec, operation_id="again"
            )
            assert lab.call_provider(sandbox, "a", request) is None
            other = Step(
                call="create_instance",
                kwargs={"service": "minio", "name": "b", "capacity_gb": 20},
            )
            crashed, after = lab.crash_and_resume(
                sandbox, other, after_calls=1, verbs={"provision"}
            )
            assert crashed
            assert after.get_instance("b").status == "ready"  # resumed on reopening
            assert after.check_consistency() == []
            log = lab.log_text(after)
            assert log is not None
            assert "provision" in log
        finally:
            lab.discard(sandbox)


def test_sandbox_routes_and_the_header_are_the_admins_only(
    gateway: Gateway,
) -> None:
    url = gateway.url
    made = requests.post(
        f"{url}/v1/tokens", json={"vendor": "acme"}, headers=_headers(), timeout=10
    )
    partner = made.json()["token"]
    refused = [
        requests.post(f"{url}/v1/sandboxes", json={"provider": MINIO}, headers=_headers(partner)),
        requests.get(f"{url}/v1/sandboxes", headers=_headers(partner)),
        requests.get(f"{url}/v1/instances", headers=_headers(partner, **{"Dpp-Sandbox": "x"})),
    ]
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    anonymous = requests.get(f"{url}/v1/sandboxes", timeout=10)
    assert anonymous.status_code == 401


def test_bad_sandbox_requests_get_problems_naming_the_field_and_value(
    gateway: Gateway,
) -> None:
    url = gateway.url
    with RemoteLab(url, TOKEN) as lab:
        sandbox = lab.open(MINIO, config=cluster())
        actions = f"{url}/v1/sandboxes/{sandbox.sandbox}/actions"
        try:
            cases = [
                ({"action": "fly"}, "$.action", "fly"),
                ({"action": "call-provider", "instance": "a", "verb": "dance"}, "$.verb", "dance"),
                ({"action": "probe-read", "handle": 7, "key": "k"}, "$.handle", 7),
                (
                    {
                        "action": "crash-and-resume",
                        "step": {"call": "drop_tables"},
                        "after_calls": 0,
                        "verbs": [],
                    },
                    "$.step.call",
                    "drop_tables",
                ),
            ]
            for body, path, value in cases:
                answer = requests.post(actions, json=body, headers=_headers(), timeout=10)
                assert answer.status_code in (404, 422), (body, answer.text)
                problem = answer.json()
                if answer.status_code == 422:
                    assert problem["problems"][0]["path"] == path, problem
                    assert problem["problems"][0]["value"] == value, problem
                else:
                    assert repr(value) in problem["detail"], problem
            bad_cluster = requests.post(
                f"{url}/v1/sandboxes",
                json={"provider": MINIO, "cluster": "[cluster]\nhosts = many\n"},
                headers=_headers(),
                timeout=10,
            )
            assert bad_cluster.status_code == 422, bad_cluster.text
            assert "many" in bad_cluster.text
            data = base64.b64encode(b"x").decode()
            unknown = requests.post(
                actions,
                json={"action": "probe-write", "handle": "nope", "key": "k", "data": data},
                headers=_headers(),
                timeout=10,
            )
            assert unknown.status_code == 404
        finally:
            lab.discard(sandbox)


def test_no_more_than_the_limit_of_sandboxes_open_at_once(
    gateway: Gateway,
) -> None:
    url = gateway.url
    with RemoteLab(url, TOKEN) as lab:
        opened = [lab.open(MINIO, config=cluster()) for _ in range(MAX_SANDBOXES)]
        try:
            with pytest.raises(dpp.Conflict, match="delete one"):
                lab.open(MINIO, config=cluster())
        finally:
            for sandbox in opened:
                lab.discard(sandbox)
        lab.discard(lab.open(MINIO, config=cluster()))  # room again


# ``--dpp-provider=PATH`` in one word (see tests/test_conformance_plugin.py); a check that
# runs its steps in the lab (PROV-003 calls verbs directly), a plain one and a skipped one.
PLUGIN_CHECKS = "REG-001,PROV-003,SCALE-006"


def test_pytest_runs_the_checks_in_the_gateways_sandboxes_with_dpp_url(
    gateway: Gateway, pytester: pytest.Pytester
) -> None:
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest(
        f"--dpp-provider={MINIO}",
        *("--dpp-url", gateway.url, "--dpp-token", TOKEN, "--dpp-only", PLUGIN_CHECKS),
        f"--junitxml={junit}",
    )
    result.assert_outcomes(passed=2, skipped=1)
    properties = junit.read_text()
    assert f'name="platform" value="gateway {gateway.url}"' in properties
    assert 'value="in-process"' not in properties
    listed = requests.get(f"{gateway.url}/v1/sandboxes", headers=_headers(), timeout=10)
    assert listed.json() == []
    assert gateway.platform.list_instances() == []


def test_pytest_takes_the_gateway_from_dpp_url_and_dpp_token_in_the_environment(
    gateway: Gateway, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPP_URL", gateway.url)
    monkeypatch.setenv("DPP_TOKEN", TOKEN)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest(
        f"--dpp-provider={MINIO}", "--dpp-only", "REG-001", f"--junitxml={junit}"
    )
    result.assert_outcomes(passed=1)
    assert f'value="gateway {gateway.url}"' in junit.read_text()


def test_a_broken_provider_fails_under_pytest_through_the_gateway(
    gateway: Gateway, pytester: pytest.Pytester
) -> None:
    provider = next(cls for cls in BROKEN if cls.caught_by == "PROV-003")
    pytester.syspathinsert(ROOT)
    result = pytester.runpytest(
        f"--dpp-provider={provider.__module__}:{provider.__qualname__}",
        *("--dpp-url", gateway.url, "--dpp-token", TOKEN, "--dpp-only", "PROV-003"),
    )
    assert result.parseoutcomes() == {"failed": 1}, result.stdout.str()[-4000:]
    result.stdout.fnmatch_lines(["PROV-003 fail (required): *"])


def test_a_token_the_gateway_refuses_fails_every_check_with_its_answer(
    gateway: Gateway, pytester: pytest.Pytester
) -> None:
    result = pytester.runpytest(
        f"--dpp-provider={MINIO}",
        *(
            "--dpp-url",
            gateway.url,
            "--dpp-token",
            "not-the-token",
            "--dpp-only",
            "REG-001,REG-004",
        ),
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*401*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dpp-url", "http://127.0.0.1:9"], "*--dpp-url http://127.0.0.1:9: nothing to run*"),
        (
            [f"--dpp-provider={MINIO}", "--dpp-url", "http://127.0.0.1:9"],
            "*the gateway's sandboxes need its admin token; give --dpp-token or set DPP_TOKEN*",
        ),
    ],
    ids=["no provider", "no token"],
)
def test_dpp_url_without_a_provider_or_a_token_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.delenv("DPP_TOKEN", raising=False)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
