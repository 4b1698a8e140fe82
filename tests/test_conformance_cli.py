"""``dpp conformance run | verify | list``: exit codes, selection, waivers, the report files,
verification against the provider's code, and usage errors that name the option."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import dpp_sdk as dpp
from dpp_sdk import conformance
from dpp_sdk.cli._app import cli

ROOT = Path(__file__).resolve().parent.parent
MINIO = str(ROOT / "samples" / "minio")

# The SDK's test KV provider never re-creates a member lost with its host: this check fails.
KV, KV_MISSES = "tests.providers:KVProvider", "RES-004"

# Checks that pass on the MinIO sample and take a few hundredths of a second each.
FAST = "REG-001,REG-004"


def dpp_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _checks_run(result: Result) -> list[str]:
    """The IDs of the per-check progress lines of a ``conformance run``."""
    ids = {spec.id for spec in conformance.all_checks()}
    return [
        line.split()[1]
        for line in result.stdout.splitlines()
        if len(line.split()) > 1 and line.split()[1] in ids
    ]


@pytest.fixture(scope="module")
def fresh_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A passing report of the MinIO sample, written by ``dpp conformance run --report``."""
    path = tmp_path_factory.mktemp("report") / "report.json"
    result = dpp_run("conformance", "run", MINIO, "--only", FAST, "--report", str(path))
    assert result.exit_code == 0, result.output
    return path


def test_a_run_with_only_passing_checks_exits_0_and_prints_a_line_per_check() -> None:
    result = dpp_run("conformance", "run", MINIO, "--only", "REG-001", "--only", "REG-004")
    assert result.exit_code == 0, result.output
    assert _checks_run(result) == ["REG-001", "REG-004"]
    assert "PASSED (2 pass, 0 fail, 0 error, 0 skipped, 0 waived)" in result.stdout


def test_only_takes_a_category_and_skip_leaves_checks_out() -> None:
    result = dpp_run(
        "conformance", "run", MINIO, "--only", "registration", "--skip", "REG-002,REG-005"
    )
    assert result.exit_code == 0, result.output
    assert _checks_run(result) == ["REG-001", "REG-003", "REG-004"]


def test_a_failing_required_check_exits_1_and_shows_its_evidence_and_replay() -> None:
    spec = next(spec for spec in conformance.all_checks() if spec.id == KV_MISSES)
    result = dpp_run("conformance", "run", KV, "--only", KV_MISSES, "--seed", "7")
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.stdout
    for evidence in (f"rule: {spec.rule}", "expected: ", "actual: ", "operations:", "audit:"):
        assert evidence in result.stdout, evidence
    assert f"replay: dpp conformance run {KV} --only {KV_MISSES} --seed 7" in result.stdout


def test_a_waived_failure_is_reported_with_its_reason_and_exits_0() -> None:
    result = dpp_run(
        "conformance", "run", KV, "--only", KV_MISSES, "--waive", f"{KV_MISSES}=fix in 2.1"
    )
    assert result.exit_code == 0, result.output
    assert "WAIVED" in result.stdout
    assert "(fix in 2.1)" in result.stdout


def test_the_json_and_junit_files_are_written_and_valid(tmp_path: Path) -> None:
    report_path, junit_path = tmp_path / "out" / "r.json", tmp_path / "j.xml"
    result = dpp_run(
        "conformance",
        "run",
        MINIO,
        "--only",
        FAST,
        "--seed",
        "3",
        "--report",
        str(report_path),
        "--junit",
        str(junit_path),
    )
    assert result.exit_code == 0, result.output
    document = json.loads(report_path.read_text(encoding="utf-8"))
    dpp.validate_document("conformance-report", document)
    assert document["seed"] == 3
    assert [r["id"] for r in document["results"]] == FAST.split(",")
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "2"
    assert [case.get("name", "").split()[0] for case in suite.iter("testcase")] == FAST.split(",")


def test_verify_accepts_a_fresh_report_of_the_same_provider(fresh_report: Path) -> None:
    result = dpp_run("conformance", "verify", str(fresh_report), MINIO)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("VERIFIED")


def test_verify_refuses_a_report_once_the_provider_file_changed(tmp_path: Path) -> None:
    provider = tmp_path / "minio"
    shutil.copytree(MINIO, provider, ignore=shutil.ignore_patterns("__pycache__"))
    report = tmp_path / "r.json"
    ran = dpp_run("conformance", "run", str(provider), "--only", FAST, "--report", str(report))
    assert ran.exit_code == 0, ran.output
    assert dpp_run("conformance", "verify", str(report), str(provider)).exit_code == 0
    source = provider / "provider.py"
    source.write_text(source.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    result = dpp_run("conformance", "verify", str(report), str(provider))
    assert result.exit_code == 1, result.output
    assert "NOT VERIFIED" in result.stdout
    assert "  - fingerprint: " in result.stdout


def test_verify_lists_every_schema_problem_of_a_tampered_report(
    fresh_report: Path, tmp_path: Path
) -> None:
    document = json.loads(fresh_report.read_text(encoding="utf-8"))
    document["results"][0]["outcome"] = "passed-really"
    document["signed_by"] = "me"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document), encoding="utf-8")
    result = dpp_run("conformance", "verify", str(tampered), MINIO)
    assert result.exit_code == 1, result.output
    assert "does not match the conformance report schema (2 problems)" in result.stdout
    assert "$.results[0].outcome" in result.stdout
    assert "$.signed_by" in result.stdout


def test_verify_refuses_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("not json", encoding="utf-8")
    result = dpp_run("conformance", "verify", str(path), MINIO)
    assert result.exit_code == 1
    assert "is not a JSON report" in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--only", "PROV-999"], ["--only", "PROV-999"]),
        (["--skip", "nonsense"], ["--skip", "nonsense"]),
        (["--waive", "REG-001"], ["--waive", "REG-001"]),
        (["--waive", "REG-001="], ["--waive", "REG-001="]),
        (["--waive", "NOPE-001=reason"], ["--waive", "NOPE-001"]),
        (["--seed", "-1"], ["--seed", "-1"]),
        (["--seed", "abc"], ["--seed", "abc"]),
        (["--profile", "slow"], ["--profile", "slow"]),
    ],
)
def test_a_usage_error_exits_2_naming_the_option_and_value(
    args: list[str], named: list[str]
) -> None:
    result = dpp_run("conformance", "run", MINIO, *args)
    assert result.exit_code == 2, result.output
    for word in named:
        assert word in result.stderr


def test_list_prints_the_catalog_as_a_table_and_as_json() -> None:
    checks = conformance.all_checks()
    table = dpp_run("conformance", "list")
    assert table.exit_code == 0
    assert all(spec.id in table.stdout for spec in checks)
    assert checks[0].rule.split()[0] in table.stdout  # long rules wrap in their column
    rows = json.loads(dpp_run("conformance", "list", "--json").stdout)
    assert [(row["id"], row["rule"]) for row in rows] == [(s.id, s.rule) for s in checks]
    assert set(rows[0]) == {"id", "category", "level", "quick", "needs", "rule"}


def test_dpp_help_loads_neither_the_conformance_suite_nor_the_platform() -> None:
    code = (
        "import sys\n"
        "from dpp_sdk.cli._app import run\n"
        "for args in (['--help'], ['conformance', '--help'], ['conformance', 'run', '--help']):\n"
        "    assert run(args) == 0\n"
        "print(sorted(m for m in ('dpp_sdk.conformance', 'dpp_sdk.platform') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "[]"
