"""The pytest plugin: ``pytest --dpp-provider PROVIDER`` adds one item per check, maps the
outcomes to pytest's, works under pytest-xdist, and does nothing without the option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MINIO = str(ROOT / "samples" / "minio")

# ``--dpp-provider=PATH`` in one word: pytest takes the rootdir from the path-like arguments it
# sees before plugins load, and would otherwise take the repository's for these runs.
PROVIDER = f"--dpp-provider={MINIO}"

# For runs in a subprocess: Hypothesis's plugin alone takes seconds to import.
LEAN = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")

# A check that passes on MinIO, one it skips (no horizontal_scale declared) and a recommended one.
CHECKS = "REG-001,SCALE-006,REG-004"


def test_the_option_adds_one_item_per_check_named_by_its_id(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(PROVIDER, "--dpp-only", CHECKS, "-rs", "-v")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "dpp-conformance::REG-001 PASSED*",
            "dpp-conformance::REG-004 PASSED*",
            "dpp-conformance::SCALE-006 SKIPPED*",
            "*SCALE-006: the manifest does not declare capabilities.horizontal_scale*",
        ]
    )


def test_a_failing_check_fails_with_its_evidence_and_a_waived_one_is_an_xfail(
    pytester: pytest.Pytester,
) -> None:
    # The SDK's test KV provider never re-creates a member lost with its host: RES-004 fails.
    pytester.syspathinsert(ROOT)
    kv = "--dpp-provider=tests.providers:KVProvider"
    failed = pytester.runpytest(kv, "--dpp-only", "RES-004", "--dpp-seed", "2")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(
        [
            "RES-004 fail (required): expected *",
            "rule: *",
            "expected: *",
            "actual: gave up after *",
            "operations:",
            "audit:",
            "replay: dpp conformance run tests.providers:KVProvider --only RES-004 --seed 2 *",
        ]
    )
    waived = pytester.runpytest(kv, "--dpp-only", "RES-004", "--dpp-waive", "RES-004=a cache")
    waived.assert_outcomes(xfailed=1)


def test_the_checks_run_under_xdist_in_the_same_order(pytester: pytest.Pytester) -> None:
    """xdist refuses to run when its workers collect different items or orders."""
    result = pytester.runpytest_subprocess(
        *LEAN, "-p", "xdist", "-n", "2", PROVIDER, "--dpp-only", CHECKS
    )
    result.assert_outcomes(passed=2, skipped=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dpp-only", "PROV-999"], "--dpp-only: PROV-999 is not a check ID or category*"),
        (["--dpp-waive", "REG-001"], "--dpp-waive: 'REG-001' is not ID=REASON"),
        (["--dpp-seed", "-3"], "--dpp-seed: -3 must be an integer >= 0"),
    ],
)
def test_a_bad_option_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = pytester.runpytest(PROVIDER, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}"])


def test_without_the_option_the_plugin_adds_nothing_and_loads_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_light():
            loaded = [m for m in ("dpp_sdk.platform", "dpp_sdk.conformance._registry")
                      if m in sys.modules]
            assert loaded == []
        """
    )
    result = pytester.runpytest_subprocess(*LEAN)
    result.assert_outcomes(passed=1)


def test_the_plugins_are_registered_through_the_pytest11_entry_point() -> None:
    code = (
        "from importlib.metadata import entry_points\n"
        "print(sorted((e.name, e.value) for e in entry_points(group='pytest11')"
        " if e.name.startswith('dpp-')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(
        [("dpp-client", "dpp_sdk.client.plugin"), ("dpp-conformance", "dpp_sdk.conformance.plugin")]
    )
