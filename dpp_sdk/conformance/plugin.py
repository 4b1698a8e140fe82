"""The conformance suite as pytest items: ``pytest --dpp-provider PROVIDER``.

Registered through the ``pytest11`` entry point, so it is active wherever dpp-sdk is
installed; without ``--dpp-provider`` it only adds its options and does nothing else (the
checks and the platform load only when the option is given). With it, the session gets one
item per selected check, with the check ID as its name (``dpp-conformance::PROV-001``), in ID
order, identically on every pytest-xdist worker (``-n auto``)::

    pytest --dpp-provider samples/minio -m dpp_conformance              # only the checks
    pytest --dpp-provider samples/minio --dpp-profile quick -n auto
    pytest --dpp-provider samples/minio --dpp-only PROV-004 --dpp-seed 7
    pytest --dpp-provider samples/minio --dpp-url http://127.0.0.1:8470 --dpp-token ADMIN

Each check's platform is opened in process, unless an implementation of the
:func:`~dpp_sdk.conformance.hookspec.pytest_dpp_lab` hook supplies a lab: dpp-sdk's own, in
:mod:`dpp_sdk.client.plugin`, opens them in a gateway's sandboxes when ``--dpp-url`` (or
``DPP_URL``) is given, as ``dpp conformance run --url`` does.

Outcomes map as follows: pass passes; a required check's fail or error fails, showing the
rule, expected, actual, operations, audit entries, leaks and the replay command; skipped is a
pytest skip with the reason; waived (``--dpp-waive ID=REASON``) and a recommended check's
failure are xfails with the reason (neither fails certification).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dpp_sdk.conformance import CheckResult, CheckSpec, Lab, Subject

__all__ = ["ConformanceFailed", "ConformanceItem", "ConformanceSuite"]

_GROUP = "dpp-conformance"
_MARKER = "dpp_conformance"
_KEY: pytest.StashKey[_Options] = pytest.StashKey()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from dpp_sdk.conformance import hookspec

    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(_GROUP, "dpp-sdk conformance suite (dpp_sdk.conformance.plugin)")
    group.addoption(
        "--dpp-provider",
        metavar="PROVIDER",
        default=None,
        help="Add one test per conformance check of PROVIDER (a directory or module:Class).",
    )
    group.addoption(
        "--dpp-seed",
        metavar="N",
        type=int,
        default=0,
        help="Seed for every choice the checks make; the same seed replays (default 0).",
    )
    group.addoption(
        "--dpp-profile",
        choices=("quick", "full"),
        default="full",
        help="quick: the fast checks only; full: every check (default).",
    )
    group.addoption(
        "--dpp-only",
        metavar="ID|CATEGORY",
        action="append",
        default=[],
        help="Run only these checks (repeatable; commas separate too).",
    )
    group.addoption(
        "--dpp-skip",
        metavar="ID|CATEGORY",
        action="append",
        default=[],
        help="Leave out these checks (repeatable; commas separate too).",
    )
    group.addoption(
        "--dpp-waive",
        metavar="ID=REASON",
        action="append",
        default=[],
        help="Accept a failure of check ID for a written REASON (an xfail). Repeatable.",
    )


class _Options:
    """The run's options, validated, and the provider under test once loaded (per process,
    so per xdist worker)."""

    def __init__(self, config: pytest.Config, provider: str) -> None:
        self.provider = provider
        self.seed: int = config.getoption("--dpp-seed")
        self.profile: str = config.getoption("--dpp-profile")
        self.only = _split(config.getoption("--dpp-only"))
        self.skip = _split(config.getoption("--dpp-skip"))
        self.waivers = _waivers(config.getoption("--dpp-waive"))
        self._subject: Subject | None = None
        self._load_error: BaseException | None = None
        self._lab: Lab | None = config.hook.pytest_dpp_lab(config=config)

    def checks(self) -> list[CheckSpec]:
        from dpp_sdk import conformance

        return conformance.select(profile=self.profile, only=self.only, skip=self.skip)

    def subject(self) -> Subject:
        if self._load_error is not None:
            raise self._load_error
        if self._subject is None:
            from dpp_sdk import conformance

            try:
                cluster = conformance.conformance_cluster()
                subject = conformance.load_subject(self.provider, cluster)
                if self._lab is not None:
                    # Fail once, the same way in every check, when the lab cannot open the
                    # provider (a gateway that cannot load it, or refuses the token).
                    self._lab.discard(self._lab.open(subject.ref, config=cluster))
                self._subject = subject
            except Exception as exc:
                self._load_error = exc
                raise
        return self._subject

    @property
    def lab(self) -> Lab | None:
        """Where the checks' platforms open (None: in process), from ``pytest_dpp_lab``."""
        return self._lab

    def close(self) -> None:
        """Close the lab, if it has a ``close`` (a gateway's connection)."""
        close = getattr(self._lab, "close", None)
        if close is not None:
            close()


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _waivers(values: list[str]) -> dict[str, str]:
    waivers = {}
    for value in values:
        check_id, equals, reason = value.partition("=")
        if not equals or not check_id.strip() or not reason.strip():
            raise pytest.UsageError(f"--dpp-waive: {value!r} is not ID=REASON")
        waivers[check_id.strip()] = reason.strip()
    return waivers


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{_MARKER}: a check of the dpp-sdk conformance suite (--dpp-provider)"
    )
    provider = config.getoption("--dpp-provider", default=None)
    if not provider:
        return
    options = _Options(config, provider)
    if options.seed < 0:
        raise pytest.UsageError(f"--dpp-seed: {options.seed} must be an integer >= 0")
    try:
        options.checks()
    except ValueError as exc:  # "only: X is not a check ID or category ..."
        raise pytest.UsageError(f"--dpp-{exc}") from None
    unknown = sorted(set(options.waivers) - {spec.id for spec in _all()})
    if unknown:
        raise pytest.UsageError(f"--dpp-waive: {', '.join(unknown)} is not a check ID")
    config.stash[_KEY] = options


def pytest_unconfigure(config: pytest.Config) -> None:
    options = config.stash.get(_KEY, None)
    if options is not None:
        options.close()


def _all() -> tuple[CheckSpec, ...]:
    from dpp_sdk import conformance

    return conformance.all_checks()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append the checks' items (before -k and -m deselect, so those apply to them too)."""
    options = config.stash.get(_KEY, None)
    if options is None:
        return
    suite = ConformanceSuite.from_parent(session, name=_GROUP, nodeid=_GROUP)
    checks = [
        ConformanceItem.from_parent(suite, name=spec.id, spec=spec) for spec in options.checks()
    ]
    items.extend(checks)
    # Reported as the suite's collection, so "collected N items" counts the checks too.
    report = pytest.CollectReport(_GROUP, "passed", None, list(checks))
    config.hook.pytest_collectreport(report=report)


class ConformanceSuite(pytest.Collector):
    """The parent of the check items (they are made at collection, not found in files)."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []  # pragma: no cover - the items are added by pytest_collection_modifyitems


class ConformanceFailed(Exception):
    """A required check failed or errored; carries its result for the failure report."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(f"{result.id} {result.outcome}: {result.message}")
        self.result = result


class ConformanceItem(pytest.Item):
    """One conformance check, run in its own trial on a fresh platform."""

    def __init__(self, *, spec: CheckSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.add_marker(_MARKER)
        self.keywords[str(spec.category)] = True  # -k provisioning selects a category
        self.user_properties.append(("level", str(spec.level)))
        self.user_properties.append(("rule", spec.rule))

    def runtest(self) -> None:
        from dpp_sdk import conformance

        options = self.config.stash[_KEY]
        subject = options.subject()
        result = conformance.run_check(
            self.spec,
            subject,
            seed=options.seed,
            profile=options.profile,
            waiver=options.waivers.get(self.spec.id),
            lab=options.lab,
        )
        self.user_properties.append(("outcome", str(result.outcome)))
        where = "in-process" if options.lab is None else options.lab.where
        self.user_properties.append(("platform", where))
        outcome = str(result.outcome)
        if outcome == "skipped":
            # Reported at the check's own location, not at this line.
            raise pytest.skip.Exception(f"{self.spec.id}: {result.reason}", _use_item_location=True)
        if outcome == "waived":
            pytest.xfail(f"waived: {result.reason}")
        if outcome in ("fail", "error"):
            if not result.blocking:
                pytest.xfail(f"recommended check {outcome}: {result.message}")
            raise ConformanceFailed(result)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        if isinstance(excinfo.value, ConformanceFailed):
            from dpp_sdk.conformance import details

            result = excinfo.value.result
            return (
                f"{result.id} {result.outcome} ({result.level}): {result.message}\n"
                f"{details(result)}"
            )
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        import inspect

        function = self.spec.function
        path = Path(inspect.getsourcefile(function) or self.config.rootpath)
        line = function.__code__.co_firstlineno - 1
        return path, line, f"{self.spec.id} {self.spec.rule}"
