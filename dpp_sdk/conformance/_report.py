"""Conformance results and the report: JSON (schema ``conformance-report.schema.json`` in
the package's schemas), JUnit XML, and the certification evidence a report carries."""

from __future__ import annotations

import enum
import json
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

import attrs

from dpp_sdk.conformance._registry import Category, Level

__all__ = ["REPORT_FORMAT", "CheckResult", "Outcome", "Report"]

#: The version of the report's JSON layout (the ``format`` field).
REPORT_FORMAT = 1


class Outcome(enum.StrEnum):
    """How a check ended. ``error``: the harness or the environment broke, not the rule."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    WAIVED = "waived"


@attrs.frozen(kw_only=True)
class CheckResult:
    """One check's verdict, with the evidence a partner needs to act on a failure: what the
    rule expected, what happened, the operations and audit entries of the check's platform,
    notes on what was tried, leaks found while cleaning up, and the command that replays it."""

    id: str
    category: Category
    level: Level
    rule: str
    outcome: Outcome
    duration_s: float = 0.0
    message: str = ""
    expected: str = ""
    actual: str = ""
    reason: str = ""
    notes: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    audit: tuple[str, ...] = ()
    leaks: tuple[str, ...] = ()
    replay: str = ""

    @property
    def blocking(self) -> bool:
        """True when this result fails certification: a required check failed or errored."""
        return self.level is Level.REQUIRED and self.outcome in (Outcome.FAIL, Outcome.ERROR)


@attrs.frozen(kw_only=True)
class Report:
    """A conformance run: certification evidence and one result per selected check.

    ``passed`` is true when no required check failed or errored (the exit code of
    ``dpp conformance run`` is 0 exactly then)."""

    format: int = REPORT_FORMAT
    sdk_version: str
    registry_version: str
    provider: str
    service: str
    service_version: str
    fingerprint: str
    files: tuple[str, ...]
    seed: int
    profile: str
    cluster: str
    started_at: str
    duration_s: float
    results: tuple[CheckResult, ...]
    #: Where the checks' platforms ran: ``in-process``, or ``gateway URL`` (each check in a
    #: sandbox of that gateway).
    platform: str = "in-process"

    @property
    def passed(self) -> bool:
        return not any(result.blocking for result in self.results)

    def counts(self) -> dict[str, int]:
        """How many results ended in each outcome (every outcome listed, zeros included)."""
        found = Counter(result.outcome for result in self.results)
        return {outcome.value: found.get(outcome, 0) for outcome in Outcome}

    def result(self, check_id: str) -> CheckResult:
        """The result of check ``check_id`` (KeyError when it was not run)."""
        for result in self.results:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=True)
        data["passed"] = self.passed
        data["counts"] = self.counts()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """A report read back from :meth:`to_dict`'s form (after schema validation)."""
        fields = {f.name for f in attrs.fields(cls)}
        values = {key: value for key, value in data.items() if key in fields}
        values["files"] = tuple(values.get("files", ()))
        values["results"] = tuple(_result(item) for item in data.get("results", ()))
        return cls(**values)

    # ------------------------------------------------------------------ JUnit

    def to_junit(self) -> str:
        """The results as JUnit XML: one ``testcase`` per check, classname
        ``dpp.conformance.<category>``, named ``<ID> <rule>``; fail as ``failure``, error as
        ``error``, skipped and waived as ``skipped`` with the reason."""
        counts = self.counts()
        suite = ET.Element(
            "testsuite",
            {
                "name": f"dpp-conformance {self.service}",
                "tests": str(len(self.results)),
                "failures": str(counts["fail"]),
                "errors": str(counts["error"]),
                "skipped": str(counts["skipped"] + counts["waived"]),
                "time": f"{self.duration_s:.3f}",
                "timestamp": self.started_at,
            },
        )
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("sdk_version", self.sdk_version),
            ("registry_version", self.registry_version),
            ("provider", self.provider),
            ("fingerprint", self.fingerprint),
            ("seed", str(self.seed)),
            ("profile", self.profile),
            ("platform", self.platform),
        ):
            ET.SubElement(properties, "property", {"name": name, "value": value})
        for result in self.results:
            case = ET.SubElement(
                suite,
                "testcase",
                {
                    "classname": f"dpp.conformance.{result.category}",
                    "name": f"{result.id} {result.rule}",
                    "time": f"{result.duration_s:.3f}",
                },
            )
            if result.outcome is Outcome.FAIL:
                failure = ET.SubElement(case, "failure", {"message": result.message})
                failure.text = _details(result)
            elif result.outcome is Outcome.ERROR:
                error = ET.SubElement(case, "error", {"message": result.message})
                error.text = _details(result)
            elif result.outcome in (Outcome.SKIPPED, Outcome.WAIVED):
                label = "waived: " if result.outcome is Outcome.WAIVED else ""
                ET.SubElement(case, "skipped", {"message": label + result.reason})
        root = ET.Element("testsuites")
        root.append(suite)
        ET.indent(root)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _details(result: CheckResult) -> str:
    """A failure's evidence as text (JUnit bodies, the CLI's failure section)."""
    lines = [f"rule: {result.rule}"]
    if result.expected:
        lines.append(f"expected: {result.expected}")
    if result.actual:
        lines.append(f"actual: {result.actual}")
    elif result.message:
        lines.append(result.message)
    for title, items in (
        ("notes", result.notes),
        ("operations", result.operations),
        ("audit", result.audit),
        ("leaks", result.leaks),
    ):
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  {item}" for item in items)
    if result.replay:
        lines.append(f"replay: {result.replay}")
    return "\n".join(lines)


def details(result: CheckResult) -> str:
    """A result's evidence as text: the rule, expected, actual, what was involved, replay."""
    return _details(result)


def _result(data: dict[str, Any]) -> CheckResult:
    values = {f.name: data[f.name] for f in attrs.fields(CheckResult) if f.name in data}
    values["category"] = Category(values["category"])
    values["level"] = Level(values["level"])
    values["outcome"] = Outcome(values["outcome"])
    for name in ("notes", "operations", "audit", "leaks"):
        values[name] = tuple(values.get(name, ()))
    return CheckResult(**values)
