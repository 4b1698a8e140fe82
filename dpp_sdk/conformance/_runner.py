"""Running the suite: select checks, run each in its own trial, classify, and build the
report; and verifying a report against provider code."""

from __future__ import annotations

import datetime as dt
import time
import traceback
from collections.abc import Callable, Collection, Mapping
from typing import Literal

import attrs

from dpp_sdk._version import __version__
from dpp_sdk.conformance._lab import Lab
from dpp_sdk.conformance._registry import REGISTRY_VERSION, CheckFailed, CheckSpec, Skip, all_checks
from dpp_sdk.conformance._report import CheckResult, Outcome, Report
from dpp_sdk.conformance._subject import ProviderRef, Subject, load_subject
from dpp_sdk.conformance._trial import Trial, conformance_cluster
from dpp_sdk.contract import DppError
from dpp_sdk.platform import ClusterConfig
from dpp_sdk.platform._config_ini import parse_config

__all__ = ["Profile", "Progress", "Verification", "run", "run_check", "select", "verify"]

Profile = Literal["quick", "full"]
PROFILES: tuple[str, ...] = ("quick", "full")

Progress = Callable[[CheckSpec, CheckResult | None], None]
"""Called with ``(check, None)`` before a check runs and ``(check, result)`` after."""


def select(
    *,
    profile: str = "full",
    only: Collection[str] = (),
    skip: Collection[str] = (),
) -> list[CheckSpec]:
    """The checks a run with these options runs, in ID order. ``only`` and ``skip`` take check
    IDs or category names; an unknown one raises ValueError naming it."""
    if profile not in PROFILES:
        raise ValueError(f"profile: {profile!r} is not one of {', '.join(PROFILES)}")
    checks = all_checks()
    known = {spec.id for spec in checks} | {spec.category.value for spec in checks}
    for option, values in (("only", only), ("skip", skip)):
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"{option}: {', '.join(unknown)} is not a check ID or category "
                "(see `dpp conformance list`)"
            )
    chosen = []
    for spec in checks:
        names = {spec.id, spec.category.value}
        if only and not names & set(only):
            continue
        if names & set(skip):
            continue
        if profile == "quick" and not spec.quick and not only:
            continue
        chosen.append(spec)
    return chosen


def run(
    provider: ProviderRef,
    *,
    seed: int = 0,
    profile: str = "full",
    only: Collection[str] = (),
    skip: Collection[str] = (),
    waivers: Mapping[str, str] | None = None,
    config: ClusterConfig | None = None,
    progress: Progress | None = None,
    lab: Lab | None = None,
) -> Report:
    """Run the conformance suite against ``provider`` and return the report.

    ``provider`` is ``module:Class``, a provider directory, or a provider class. ``seed``
    drives every choice the checks make (which host fails, where a crash lands, the lifecycle
    sequences), so the same seed replays the same run. ``profile`` is ``quick`` (the checks
    marked quick) or ``full``. ``waivers`` maps check IDs to the written reason a failure of
    that check is accepted. ``config`` replaces the conformance cluster (six hosts in three
    racks). ``lab`` is where the checks' platforms are opened: this process (the default,
    :class:`~dpp_sdk.conformance.LocalLab`) or a gateway's sandboxes
    (:class:`dpp_sdk.client.RemoteLab`). ``report.passed`` is true exactly when no required
    check failed or errored."""
    waivers = dict(waivers or {})
    checks = select(profile=profile, only=only, skip=skip)
    unknown = sorted(set(waivers) - {spec.id for spec in all_checks()})
    if unknown:
        raise ValueError(f"waive: {', '.join(unknown)} is not a check ID")
    for check_id, reason in waivers.items():
        if not reason.strip():
            raise ValueError(f"waive: {check_id} needs a reason (ID=REASON)")
    if not (isinstance(seed, int) and seed >= 0):
        raise ValueError(f"seed: {seed!r} must be an integer >= 0")
    cluster = config if config is not None else conformance_cluster()
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    subject = load_subject(provider, cluster)
    if lab is not None:
        # Fail once, up front, when the lab cannot open the provider (a gateway that cannot
        # load it, or refuses the token), rather than once in every check.
        lab.discard(lab.open(subject.ref, config=cluster))
    results = []
    for spec in checks:
        if progress is not None:
            progress(spec, None)
        result = run_check(
            spec,
            subject,
            seed=seed,
            profile=profile,
            config=cluster,
            waiver=waivers.get(spec.id),
            lab=lab,
        )
        results.append(result)
        if progress is not None:
            progress(spec, result)
    return Report(
        sdk_version=__version__,
        registry_version=REGISTRY_VERSION,
        provider=subject.display,
        service=subject.manifest.name,
        service_version=subject.manifest.version,
        fingerprint=subject.fingerprint,
        files=tuple(str(path) for path in subject.files),
        seed=seed,
        profile=profile,
        cluster=cluster.to_ini(),
        started_at=started.isoformat(timespec="seconds"),
        duration_s=round(time.perf_counter() - clock, 3),
        results=tuple(results),
        platform=lab.where if lab is not None else "in-process",
    )


def replay_command(subject: Subject, spec: CheckSpec, seed: int, profile: str) -> str:
    """The one command that replays ``spec`` with this seed."""
    return (
        f"dpp conformance run {subject.display} --only {spec.id} --seed {seed} --profile {profile}"
    )


def run_check(
    spec: CheckSpec,
    subject: Subject,
    *,
    seed: int = 0,
    profile: str = "full",
    config: ClusterConfig | None = None,
    waiver: str | None = None,
    lab: Lab | None = None,
) -> CheckResult:
    """Run one check in a fresh trial and classify the outcome."""
    base = CheckResult(
        id=spec.id,
        category=spec.category,
        level=spec.level,
        rule=spec.rule,
        outcome=Outcome.PASS,
        replay=replay_command(subject, spec, seed, profile),
    )
    missing = [need for need in spec.needs if not getattr(subject.manifest.capabilities, need)]
    if missing:
        return attrs.evolve(
            base,
            outcome=Outcome.SKIPPED,
            reason=f"the manifest does not declare capabilities.{', capabilities.'.join(missing)}",
        )
    trial = Trial(spec, subject, seed=seed, config=config, quick=profile == "quick", lab=lab)
    started = time.perf_counter()
    outcome, fields = Outcome.PASS, dict[str, str]()
    try:
        spec.function(trial)
    except Skip as skipped:
        outcome, fields = Outcome.SKIPPED, {"reason": str(skipped)}
    except CheckFailed as failed:
        outcome = Outcome.FAIL
        fields = {"message": str(failed), "expected": failed.expected, "actual": failed.actual}
    except DppError as error:
        outcome = Outcome.FAIL
        fields = {
            "message": f"{type(error).__name__}: {error}",
            "expected": "the provider to complete the check's steps",
            "actual": f"the platform raised {type(error).__name__}: {error}",
        }
    except Exception as error:
        outcome = Outcome.ERROR
        fields = {
            "message": f"{type(error).__name__}: {error}",
            "actual": "".join(traceback.format_exception(error)).strip(),
        }
    broke = outcome in (Outcome.FAIL, Outcome.ERROR)
    operations = tuple(trial.operations()) if broke else ()
    audit = tuple(trial.audit_entries()) if broke else ()
    trial.close()
    result = attrs.evolve(
        base,
        outcome=outcome,
        duration_s=round(time.perf_counter() - started, 4),
        message=fields.get("message", ""),
        expected=fields.get("expected", ""),
        actual=fields.get("actual", ""),
        reason=fields.get("reason", ""),
        notes=tuple(trial.notes),
        leaks=tuple(trial.leaks),
        operations=operations,
        audit=audit,
    )
    if waiver is not None and outcome in (Outcome.FAIL, Outcome.ERROR):
        result = attrs.evolve(result, outcome=Outcome.WAIVED, reason=waiver)
    return result


@attrs.frozen(kw_only=True)
class Verification:
    """Whether a report certifies ``provider``: its fingerprint matches the code and
    manifest as they are now, and it passed. ``problems`` says what is wrong when not."""

    ok: bool
    problems: tuple[str, ...]
    fingerprint: str


def verify(report: Report, provider: ProviderRef) -> Verification:
    """Check that ``report`` was produced by exactly ``provider``'s current code and manifest
    (same fingerprint), with this SDK's check registry, and that it passed."""
    cluster = parse_config(report.cluster) if report.cluster else conformance_cluster()
    subject = load_subject(provider, cluster)
    problems = []
    if report.fingerprint != subject.fingerprint:
        problems.append(
            f"fingerprint: the report's {report.fingerprint} is not this provider's "
            f"{subject.fingerprint} (its files or manifest changed since the run)"
        )
    if report.registry_version != REGISTRY_VERSION:
        problems.append(
            f"registry_version: the report was made with check registry "
            f"{report.registry_version}, this SDK has {REGISTRY_VERSION}"
        )
    if not report.passed:
        failed = [r.id for r in report.results if r.blocking]
        problems.append(f"passed: required checks failed or errored: {', '.join(failed)}")
    return Verification(ok=not problems, problems=tuple(problems), fingerprint=subject.fingerprint)
