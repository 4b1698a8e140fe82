"""The conformance suite: certify a provider against the mock platform.

Checks are plain functions in a registry, each with a stable ID, a category, a level and a
one-line rule; each runs in its own trial on a fresh platform, so one failure never poisons
the next. Run it three ways: ``dpp conformance run PROVIDER``, ``pytest --dpp-provider
PROVIDER``, or from Python::

    from dpp_sdk import conformance

    report = conformance.run("samples/minio", seed=7, profile="quick")
    assert report.passed, conformance.summary(report)

Not imported by ``import dpp_sdk``. Importing this package is light: its names (and with
them the checks and the platform) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpp_sdk._lazy import lazy_names

if TYPE_CHECKING:
    from dpp_sdk.conformance._lab import (
        CLOCK_START,
        HeldContext,
        Lab,
        LocalLab,
        ProviderRequest,
        Step,
        StepCall,
        verb_of,
    )
    from dpp_sdk.conformance._registry import (
        REGISTRY_VERSION,
        Category,
        CheckFailed,
        CheckSpec,
        Level,
        Skip,
        all_checks,
    )
    from dpp_sdk.conformance._report import (
        REPORT_FORMAT,
        CheckResult,
        Outcome,
        Report,
        details,
    )
    from dpp_sdk.conformance._runner import Verification, run, run_check, select, verify
    from dpp_sdk.conformance._subject import ProviderRef, Subject, load_subject
    from dpp_sdk.conformance._trial import Holding, Trial, conformance_cluster

# Every name loads on first use, so that importing this package (as pytest does for the
# ``pytest11`` plugin, dpp_sdk.conformance.plugin, in every run) loads neither the checks nor
# the platform.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ("CLOCK_START", "HeldContext", "Lab", "LocalLab", "ProviderRequest", "Step", "StepCall"),
        "dpp_sdk.conformance._lab",
    ),
    "verb_of": "dpp_sdk.conformance._lab",
    **dict.fromkeys(
        ("REGISTRY_VERSION", "Category", "CheckFailed", "CheckSpec", "Level", "Skip"),
        "dpp_sdk.conformance._registry",
    ),
    "all_checks": "dpp_sdk.conformance._registry",
    **dict.fromkeys(
        ("REPORT_FORMAT", "CheckResult", "Outcome", "Report", "details"),
        "dpp_sdk.conformance._report",
    ),
    **dict.fromkeys(
        ("Verification", "run", "run_check", "select", "verify"), "dpp_sdk.conformance._runner"
    ),
    **dict.fromkeys(("ProviderRef", "Subject", "load_subject"), "dpp_sdk.conformance._subject"),
    **dict.fromkeys(("Holding", "Trial", "conformance_cluster"), "dpp_sdk.conformance._trial"),
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

__all__ = [
    "CLOCK_START",
    "REGISTRY_VERSION",
    "REPORT_FORMAT",
    "Category",
    "CheckFailed",
    "CheckResult",
    "CheckSpec",
    "HeldContext",
    "Holding",
    "Lab",
    "Level",
    "LocalLab",
    "Outcome",
    "ProviderRef",
    "ProviderRequest",
    "Report",
    "Skip",
    "Step",
    "StepCall",
    "Subject",
    "Trial",
    "Verification",
    "all_checks",
    "conformance_cluster",
    "details",
    "load_subject",
    "run",
    "run_check",
    "select",
    "summary",
    "verb_of",
    "verify",
]


def summary(report: Report) -> str:
    """A short text summary: the counts, then each failure's evidence."""
    from dpp_sdk.conformance._report import Outcome, details

    counts = ", ".join(f"{count} {outcome}" for outcome, count in report.counts().items())
    lines = [
        f"{report.service} {report.service_version}: "
        f"{'PASSED' if report.passed else 'FAILED'} ({counts}) seed {report.seed}"
    ]
    for result in report.results:
        if result.outcome in (Outcome.FAIL, Outcome.ERROR):
            lines.append(f"\n{result.id} {result.outcome} ({result.level}): {result.message}")
            lines.append(details(result))
    return "\n".join(lines)
