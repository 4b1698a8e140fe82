"""``dpp conformance``: run the conformance suite, verify a report, list the checks.

These commands never open the state directory: each check runs on a fresh in-memory
platform of its own. The conformance package (and with it the platform) is imported when a
command runs, never for ``dpp --help``.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from rich.text import Text

from dpp_sdk.cli import _render
from dpp_sdk.cli._errors import CliError, format_error
from dpp_sdk.cli._options import pass_session
from dpp_sdk.cli._session import Session

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from dpp_sdk.conformance import CheckResult, CheckSpec, Report
    from dpp_sdk.platform import ClusterConfig

__all__ = ["OUTCOME_STYLES", "conformance_group"]

#: How each outcome is coloured on a terminal.
OUTCOME_STYLES: Mapping[str, str] = {
    "pass": "green",
    "fail": "bold red",
    "error": "bold magenta",
    "skipped": "yellow",
    "waived": "cyan",
}


@click.group("conformance")
def conformance_group() -> None:
    """Certify a provider: run the conformance suite, verify a report, list the checks.

    Each check runs on a fresh mock platform of its own (never the state directory), so the
    suite needs no setup and one failure never affects the next check. See
    docs/conformance.md.

    \b
    Example:
      dpp conformance run samples/minio --report report.json --junit junit.xml
      dpp conformance verify report.json samples/minio
    """


# --------------------------------------------------------------------------- run


def _split(values: Sequence[str]) -> list[str]:
    """Repeated options, each of which may also hold a comma-separated list."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _catalog() -> tuple[CheckSpec, ...]:
    from dpp_sdk.conformance import all_checks

    return all_checks()


def _check_names(
    ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> tuple[str, ...]:
    """``--only``/``--skip``: check IDs or category names; an unknown one is a usage error."""
    names = _split(values)
    if not names:
        return ()
    checks = _catalog()
    known = {spec.id for spec in checks} | {spec.category.value for spec in checks}
    for name in names:
        if name not in known:
            raise click.BadParameter(
                f"{name!r} is not a check ID or category (see 'dpp conformance list')",
                ctx=ctx,
                param=param,
            )
    return tuple(names)


def _waivers(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> dict[str, str]:
    """``--waive ID=REASON``, repeatable: a known check ID and a written reason."""
    if not values:
        return {}
    ids = {spec.id for spec in _catalog()}
    waivers: dict[str, str] = {}
    for value in values:
        check_id, equals, reason = value.partition("=")
        check_id, reason = check_id.strip(), reason.strip()
        if not equals or not check_id or not reason:
            raise click.BadParameter(
                f"{value!r} is not ID=REASON (a waiver needs a written reason)",
                ctx=ctx,
                param=param,
            )
        if check_id not in ids:
            raise click.BadParameter(
                f"{value!r}: {check_id!r} is not a check ID (see 'dpp conformance list')",
                ctx=ctx,
                param=param,
            )
        waivers[check_id] = reason
    return waivers


class _Progress:
    """One line per check as it finishes (outcome coloured), and on a terminal a spinner
    naming the check that is running."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None
        self._width = max((len(spec.id) for spec in _catalog()), default=8)

    def __call__(self, spec: CheckSpec, result: CheckResult | None) -> None:
        if result is None:
            if self.console.is_terminal:
                self._status = self.console.status(f"{spec.id} {spec.rule}")
                self._status.start()
            return
        self.stop()
        self.console.print(_result_line(result, self._width), soft_wrap=True)

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _result_line(result: CheckResult, width: int) -> Text:
    outcome = str(result.outcome)
    line = Text()
    line.append(f"{outcome.upper():<7}", style=OUTCOME_STYLES.get(outcome, ""))
    line.append(f" {result.id:<{width}} ")
    line.append(f"{result.category!s:<15} ", style="dim")
    line.append(result.rule)
    if result.reason:
        line.append(f" ({result.reason})", style=OUTCOME_STYLES.get(outcome, ""))
    line.append(f" {result.duration_s:.2f}s", style="dim")
    return line


def _summary(report: Report) -> list[Text]:
    from dpp_sdk.conformance import Outcome, details

    counts = ", ".join(f"{count} {outcome}" for outcome, count in report.counts().items())
    verdict = Text("PASSED", style="bold green") if report.passed else Text("FAILED", "bold red")
    head = Text(f"\n{report.service} {report.service_version} ({report.provider}): ")
    head.append_text(verdict)
    head.append(f" ({counts}) in {report.duration_s:.1f} s")
    lines = [
        head,
        Text(
            f"seed {report.seed}, profile {report.profile}, registry {report.registry_version}, "
            f"fingerprint {report.fingerprint}"
            + ("" if report.platform == "in-process" else f", through the {report.platform}"),
            style="dim",
        ),
    ]
    for result in report.results:
        if result.outcome not in (Outcome.FAIL, Outcome.ERROR):
            continue
        title = Text(f"\n{result.id} ", style="bold")
        title.append(str(result.outcome), style=OUTCOME_STYLES[str(result.outcome)])
        title.append(f" ({result.level}): {result.message}")
        lines.append(title)
        lines.append(Text(details(result)))
    return lines


def _cluster(session: Session | None) -> ClusterConfig | None:
    """The cluster of the global ``--config``, when given (else the conformance cluster)."""
    if session is None or session.config_path is None:
        return None
    from dpp_sdk.platform import ConfigError, load_config

    try:
        return load_config(session.config_path)
    except ConfigError as exc:
        raise CliError(format_error(exc)) from exc


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[IO[str]]:
    """While the suite runs, what provider code prints goes to stderr; yields the real
    stdout, where the command prints."""
    real = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        yield real


def _write(path: Path, text: str, what: str, console: Console) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    console.print(Text(f"{what} written to {path}"))


@conformance_group.command("run")
@click.argument("provider")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the JSON report here (schema: conformance-report.schema.json).",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the results as JUnit XML here, for CI.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed for every choice the checks make; the same seed replays the same run.",
)
@click.option(
    "--only",
    metavar="ID|CATEGORY",
    multiple=True,
    callback=_check_names,
    help="Run only these checks (IDs or categories; repeat or separate with commas).",
)
@click.option(
    "--skip",
    metavar="ID|CATEGORY",
    multiple=True,
    callback=_check_names,
    help="Leave out these checks (IDs or categories; repeat or separate with commas).",
)
@click.option(
    "--waive",
    metavar="ID=REASON",
    multiple=True,
    callback=_waivers,
    help="Accept a failure of check ID for a written REASON (reported as waived). Repeatable.",
)
@click.option(
    "--profile",
    type=click.Choice(["quick", "full"]),
    default="full",
    show_default=True,
    help="quick: the fast checks only (for every commit); full: every check.",
)
@click.pass_context
def conformance_run(  # noqa: PLR0917 - click passes every option as an argument
    ctx: click.Context,
    provider: str,
    report_path: Path | None,
    junit_path: Path | None,
    seed: int,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    waive: dict[str, str],
    profile: str,
) -> None:
    """Run the conformance suite against PROVIDER (a directory with dpp-provider.toml, or
    MODULE:CLASS) and print each check's outcome, then a summary with the evidence of every
    failure and the command that replays it.

    Exits 0 when no required check failed or errored, 1 otherwise; 2 for a usage error. The
    cluster is the conformance cluster (six hosts in three racks) unless the global --config
    gives one. Each check runs on a fresh platform of its own: in this process, or, with
    the global --url and the admin --token, in a sandbox of that gateway, every platform
    call going over HTTP (the gateway loads PROVIDER itself: give a path it can read, or an
    importable MODULE:CLASS).

    \b
    Example:
      dpp conformance run samples/minio --report report.json --junit junit.xml
      dpp conformance run samples/minio --profile quick
      dpp conformance run samples/minio --only PROV-004 --seed 7
      dpp conformance run samples/minio --skip resilience --waive PROV-010="no thick pools"
      dpp --url http://127.0.0.1:8080 --token "$DPP_ADMIN_TOKEN" conformance run samples/minio
    """
    from dpp_sdk import conformance

    session = ctx.find_object(Session)
    config = _cluster(session)
    lab = None
    if session is not None and session.remote:
        from dpp_sdk.client import RemoteLab  # only with --url: keeps dpp light

        lab = RemoteLab(str(session.url), session.token)
    with _stdout_to_stderr() as stdout, contextlib.ExitStack() as stack:
        if lab is not None:
            stack.callback(lab.close)
        console = _render.make_console(stdout)
        progress = _Progress(console)
        try:
            report = conformance.run(
                provider,
                seed=seed,
                profile=profile,
                only=only,
                skip=skip,
                waivers=waive,
                config=config,
                progress=progress,
                lab=lab,
            )
        finally:
            progress.stop()
        for line in _summary(report):
            console.print(line, soft_wrap=True)
        if report_path is not None:
            _write(report_path, report.to_json(), "report", console)
        if junit_path is not None:
            _write(junit_path, report.to_junit(), "JUnit XML", console)
    if not report.passed:
        ctx.exit(1)


# --------------------------------------------------------------------------- verify


def _read_report(path: Path) -> tuple[Any, list[str]]:
    """The report's JSON document and every way it breaks the shipped schema."""
    from dpp_sdk.contract import ValidationError, validate_document

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CliError(f"{path} is not a JSON report: {exc}") from exc
    try:
        validate_document("conformance-report", document)
    except ValidationError as invalid:
        return document, [str(problem) for problem in invalid.problems]
    return document, []


@conformance_group.command("verify")
@click.argument(
    "report_file",
    metavar="REPORT.json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.argument("provider")
@click.pass_context
def conformance_verify(ctx: click.Context, report_file: Path, provider: str) -> None:
    """Verify that REPORT.json certifies PROVIDER: the report matches the shipped schema, was
    produced by exactly this provider code and manifest (same fingerprint) with this SDK's
    check registry, and passed.

    Prints VERIFIED and exits 0, or prints each problem and exits 1.

    \b
    Example:
      dpp conformance verify report.json samples/minio
    """
    document, problems = _read_report(report_file)
    stdout = sys.stdout
    if problems:
        click.echo(
            f"NOT VERIFIED: {report_file} does not match the conformance report schema "
            f"({len(problems)} problem{'s' if len(problems) != 1 else ''}):",
            file=stdout,
        )
        for problem in problems:
            click.echo(f"  - {problem}", file=stdout)
        ctx.exit(1)
    from dpp_sdk import conformance

    report = conformance.Report.from_dict(document)
    with contextlib.redirect_stdout(sys.stderr):
        verification = conformance.verify(report, provider)
    if not verification.ok:
        click.echo(f"NOT VERIFIED: {report_file} does not certify {provider}:", file=stdout)
        for problem in verification.problems:
            click.echo(f"  - {problem}", file=stdout)
        ctx.exit(1)
    click.echo(
        f"VERIFIED: {report_file} certifies {report.service} {report.service_version} at "
        f"{provider}\n  fingerprint {verification.fingerprint}\n"
        f"  registry {report.registry_version}, sdk {report.sdk_version}, seed {report.seed}, "
        f"profile {report.profile}, {len(report.results)} checks "
        f"({', '.join(f'{n} {o}' for o, n in report.counts().items() if n)})",
        file=stdout,
    )


# --------------------------------------------------------------------------- list


def catalog_rows(checks: Sequence[CheckSpec]) -> list[dict[str, Any]]:
    """The catalog as plain data (``dpp conformance list --json``)."""
    return [
        {
            "id": spec.id,
            "category": str(spec.category),
            "level": str(spec.level),
            "quick": spec.quick,
            "needs": list(spec.needs),
            "rule": spec.rule,
        }
        for spec in checks
    ]


_CATALOG_COLUMNS: tuple[_render.Column[Mapping[str, Any]], ...] = (
    _render.Column("ID", lambda row: row["id"]),
    _render.Column("Category", lambda row: row["category"]),
    _render.Column("Level", lambda row: row["level"]),
    _render.Column("Quick", lambda row: row["quick"]),
    _render.Column("Rule", lambda row: row["rule"]),
)


@conformance_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
@pass_session
def conformance_list(session: Session, as_json: bool) -> None:
    """List the checks: ID, category, level, whether the quick profile runs it, and its rule.

    \b
    Example:
      dpp conformance list
      dpp conformance list --json
    """
    rows = catalog_rows(_catalog())
    if as_json or session.json:
        click.echo(json.dumps(rows, indent=2))
        return
    _render.print_renderables([_render.table(_CATALOG_COLUMNS, rows)])
