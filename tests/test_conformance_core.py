"""The conformance harness itself: the registry, selection, outcomes, evidence, reports and
certification evidence. (What each check catches is tested with broken providers in
test_conformance_selftest.py.)"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from dpp_sdk import conformance
from dpp_sdk.conformance import Category, CheckSpec, Level, Outcome, Report, Trial

ROOT = Path(__file__).resolve().parent.parent
KV = "tests.providers:KVProvider"


def test_the_registry_holds_at_least_forty_checks_spanning_all_eight_categories() -> None:
    checks = conformance.all_checks()
    assert len(checks) >= 40
    assert {spec.category for spec in checks} == set(Category)
    assert len({spec.id for spec in checks}) == len(checks)
    assert all(spec.rule and not spec.rule.endswith(".") for spec in checks)


def test_every_category_has_required_checks_and_quick_ones() -> None:
    checks = conformance.all_checks()
    for category in Category:
        mine = [spec for spec in checks if spec.category is category]
        assert any(spec.level is Level.REQUIRED for spec in mine), category
    assert {spec.category for spec in checks if spec.quick} >= {
        Category.REGISTRATION,
        Category.PROVISIONING,
        Category.SECURITY,
    }


def test_a_check_id_must_look_like_a_stable_id_and_name_known_capabilities() -> None:
    with pytest.raises(ValueError, match="check id: 'prov3'"):
        conformance._registry.check("prov3", Category.PROVISIONING, "rule")
    with pytest.raises(ValueError, match="unknown capabilities"):
        conformance._registry.check("ZZZ-001", Category.PROVISIONING, "rule", needs=("teleport",))


def test_selecting_an_unknown_check_or_category_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="only: NOPE-001 is not a check ID or category"):
        conformance.select(only=["NOPE-001"])
    with pytest.raises(ValueError, match="profile: 'slow'"):
        conformance.select(profile="slow")


def test_the_quick_profile_is_a_subset_and_only_by_category_picks_that_category() -> None:
    full = {spec.id for spec in conformance.select()}
    quick = {spec.id for spec in conformance.select(profile="quick")}
    assert quick < full
    security = conformance.select(only=["security"])
    assert security
    assert all(spec.category is Category.SECURITY for spec in security)
    assert "SEC-001" not in {s.id for s in conformance.select(skip=["SEC-001"])}


def test_a_check_needing_an_undeclared_capability_is_skipped_with_the_reason() -> None:
    report = conformance.run(KV, only=["RES-005"])
    result = report.result("RES-005")
    assert result.outcome is Outcome.SKIPPED
    assert "capabilities.maintenance_aware" in result.reason
    assert report.passed


def test_a_failure_carries_the_rule_what_was_expected_what_happened_and_the_replay() -> None:
    # The test KV provider never re-creates a member lost with its host: RES-004 catches it.
    report = conformance.run(KV, only=["RES-004"], seed=3)
    result = report.result("RES-004")
    assert result.outcome is Outcome.FAIL
    assert not report.passed
    assert "green health after the repair timer" in result.expected
    assert "gave up after" in result.actual
    assert "kv-0" in result.actual
    assert any("provision c1" in line for line in result.operations)
    assert any("fault.inject.host-failure" in line for line in result.audit)
    assert result.replay == (f"dpp conformance run {KV} --only RES-004 --seed 3 --profile full")
    assert "replay: dpp conformance run" in conformance.details(result)


def test_a_waived_failure_is_reported_with_its_reason_and_does_not_fail_the_run() -> None:
    report = conformance.run(KV, only=["RES-004"], waivers={"RES-004": "KV is a cache"})
    result = report.result("RES-004")
    assert result.outcome is Outcome.WAIVED
    assert result.reason == "KV is a cache"
    assert report.passed


def test_waivers_must_name_a_known_check_and_give_a_reason() -> None:
    with pytest.raises(ValueError, match="waive: NOPE-001"):
        conformance.run(KV, only=["REG-001"], waivers={"NOPE-001": "x"})
    with pytest.raises(ValueError, match="waive: REG-001 needs a reason"):
        conformance.run(KV, only=["REG-001"], waivers={"REG-001": " "})


def _spec(function: Callable[[Trial], None]) -> CheckSpec:
    return CheckSpec(
        id="TEST-001",
        category=Category.PROVISIONING,
        level=Level.REQUIRED,
        rule="a rule for the harness test",
        function=function,
    )


def test_a_check_that_breaks_the_harness_is_an_error_and_its_instances_are_cleaned_up() -> None:
    subject = conformance.load_subject(KV, conformance.conformance_cluster())
    seen: list[Trial] = []

    def broken(t: Trial) -> None:
        seen.append(t)
        t.create("c1")
        raise RuntimeError("the harness tripped")

    result = conformance.run_check(_spec(broken), subject)
    assert result.outcome is Outcome.ERROR
    assert "RuntimeError: the harness tripped" in result.message
    assert "Traceback" in result.actual
    assert result.leaks == ()  # the KV provider released everything at clean-up


def test_leaks_found_while_cleaning_up_after_a_failed_check_are_recorded() -> None:
    subject = conformance.load_subject(
        "tests.providers:LeakyProvider", conformance.conformance_cluster()
    )

    def fails_midway(t: Trial) -> None:
        t.create("c1")
        t.fail("something", "it did not happen")

    result = conformance.run_check(_spec(fails_midway), subject)
    assert result.outcome is Outcome.FAIL
    assert result.leaks
    assert all(leak.startswith("c1: ") for leak in result.leaks)


def test_the_same_seed_makes_the_same_choices_and_another_seed_others() -> None:
    subject = conformance.load_subject(KV, conformance.conformance_cluster())
    spec = conformance.select(only=["RES-003"])[0]
    draws = [Trial(spec, subject, seed=seed).random.random() for seed in (1, 1, 2)]
    assert draws[0] == draws[1] != draws[2]


def test_a_report_round_trips_through_json_and_its_junit_counts_match() -> None:
    report = conformance.run(KV, only=["registration", "RES-004"], waivers={"RES-004": "cache"})
    again = Report.from_dict(__import__("json").loads(report.to_json()))
    assert again == report
    suite = ET.fromstring(report.to_junit()).find("testsuite")
    assert suite is not None
    assert int(suite.get("tests", "0")) == len(report.results)
    assert int(suite.get("skipped", "0")) == report.counts()["waived"] + report.counts()["skipped"]
    names = [case.get("name", "") for case in suite.iter("testcase")]
    assert any(name.startswith("REG-001 ") for name in names)
    assert report.cluster.startswith("; dpp mock platform cluster configuration")


def test_verify_accepts_the_report_of_unchanged_code_and_refuses_it_after_an_edit(
    tmp_path: Path,
) -> None:
    provider = tmp_path / "minio"
    shutil.copytree(
        ROOT / "samples" / "minio", provider, ignore=shutil.ignore_patterns("__pycache__")
    )
    report = conformance.run(provider, only=["REG-001"])
    assert report.passed
    assert conformance.verify(report, provider).ok
    code = provider / "provider.py"
    code.write_text(code.read_text() + "\n# an edit after certification\n")
    verdict = conformance.verify(report, provider)
    assert not verdict.ok
    assert any(problem.startswith("fingerprint: ") for problem in verdict.problems)
