"""Options of the stress tests: their size and the seed to replay; the figures they report.

``--stress-scale N`` (or ``DPP_STRESS_SCALE=N``) multiplies the number of trials; CI runs
scale 1. ``--stress-seed S`` (or ``DPP_STRESS_SEED=S``) runs only the trial with seed ``S``,
which is how a failure is replayed. The options exist when pytest is started on this directory
(``pytest tests/stress``); the environment variables work from anywhere.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.stress._harness import REPORT_ENV, Outcome, Settings, settings_from

_OUTCOMES = pytest.StashKey[list[Outcome]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--stress-scale`` and ``--stress-seed``."""
    group = parser.getgroup("dpp-stress", "dpp-sdk stress tests (docs/reliability.md)")
    group.addoption(
        "--stress-scale",
        type=int,
        default=None,
        help="Multiply the stress tests' trials by N (default 1, the CI size; env "
        "DPP_STRESS_SCALE).",
    )
    group.addoption(
        "--stress-known-defects",
        action="store_true",
        default=None,
        help="Run the interleavings that once hit now-fixed defects (the default; "
        "DPP_STRESS_KNOWN_DEFECTS=0 leaves them out).",
    )
    group.addoption(
        "--stress-seed",
        type=int,
        default=None,
        help="Run only the trial with this seed in each stress test (env DPP_STRESS_SEED).",
    )


@pytest.fixture(scope="session")
def stress(pytestconfig: pytest.Config) -> Settings:
    """The run's size and the seed to replay, if any."""
    return settings_from(pytestconfig)


@pytest.fixture
def outcome(request: pytest.FixtureRequest, stress: Settings) -> Outcome:
    """The counts and violations of this test, reported at the end of the run."""
    result = Outcome(nodeid=request.node.nodeid, known=stress.known)
    request.config.stash.setdefault(_OUTCOMES, []).append(result)
    return result


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A table of what each stress test did; JSON to ``DPP_STRESS_REPORT`` when set."""
    outcomes = terminalreporter.config.stash.get(_OUTCOMES, [])
    if not outcomes:
        return
    settings = settings_from(terminalreporter.config)
    rows = [o.figures() for o in outcomes]
    known = ", with known defects" if settings.known else ""
    terminalreporter.section(f"dpp stress figures (scale {settings.scale}{known})")
    columns = ("trials", "operations", "acked_writes", "verified_writes", "kills")
    header = " ".join(f"{c:>15}" for c in (*columns, "recovery_kills", "violations", "seconds"))
    terminalreporter.write_line(f"{'test':<60} {header}")
    for row in rows:
        cells = " ".join(
            f"{row[c]:>15}" for c in (*columns, "recovery_kills", "violations", "seconds")
        )
        terminalreporter.write_line(f"{_label(row['nodeid']):<60} {cells}")
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as out:
            report = {"scale": settings.scale, "known_defects": settings.known, "tests": rows}
            json.dump(report, out, indent=2)


def _label(nodeid: str) -> str:
    """A test's name cut to 60 characters, keeping its parameters."""
    name, _, params = nodeid.rsplit("::", maxsplit=1)[-1].partition("[")
    params = f"[{params}" if params else ""
    return name[: 60 - len(params)] + params
