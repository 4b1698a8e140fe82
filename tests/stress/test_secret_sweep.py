"""The secret sweep: a provider plants secrets with quotes, backslashes and non-ASCII characters
through every path it has (stored secrets, a ``writeOnly`` parameter, member labels,
``ctx.state``, log lines, exceptions, ``validate`` problems, health checks, vetoes); then every
``dpp`` command's output, the log and every database row other than the secrets' own are
searched for each secret in its raw, JSON-escaped and repr-escaped forms."""

from __future__ import annotations

import contextlib
import io
import json
import random
import sqlite3
import string
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from dpp_sdk.cli._app import run
from tests.stress import providers
from tests.stress._harness import Outcome, Settings

WEIRD = ('"', "'", "\\", "é", "ü", "密", "✓", "ß", "\t", "\\n", "\\u00e9", "%s", "{0}", "$")
"""Characters (and escape-like sequences) a secret is built from, besides a random token."""


@attrs.frozen
class Planted:
    """One secret the sweep plants, and the random token inside it (found, the token proves a
    leak in whatever form or cut the secret took)."""

    label: str
    value: str
    token: str

    def forms(self) -> dict[str, str]:
        """Each form a careless program writes the value in."""
        v = self.value
        return {
            "raw": v,
            "json": json.dumps(v)[1:-1],
            "json-utf8": json.dumps(v, ensure_ascii=False)[1:-1],
            "repr": repr(v)[1:-1],
            "ascii": ascii(v)[1:-1],
            "json-in-json": json.dumps(json.dumps(v))[3:-3],
            "token": self.token,
        }


def make_secret(rng: random.Random, label: str) -> Planted:
    """A secret with a double quote, a single quote, a backslash and a non-ASCII character
    at least, plus seeded odd characters and a random token."""
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(12))
    odd = "".join(rng.choice(WEIRD) for _ in range(rng.randint(2, 6)))
    return Planted(label, f"{label[:3]}-{token}\"'\\é{odd}", token)


class Sweep:
    """Runs ``dpp`` commands on one state directory and keeps what each printed."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.outputs: list[tuple[str, str]] = []

    def dpp(self, *args: str, expect: int | None = 0) -> str:
        """Run ``dpp --state-dir STATE ARGS`` in this process; keep stdout and stderr."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(["--state-dir", str(self.state), *args])
        text = out.getvalue() + err.getvalue()
        self.outputs.append((f"dpp {' '.join(args)} (exit {code})", text))
        if expect is not None and code != expect:
            raise AssertionError(f"dpp {' '.join(args)} exited {code}, not {expect}:\n{text}")
        return out.getvalue()

    def both(self, *args: str) -> str:
        """Run a command as a table and with ``-o json``; return the JSON."""
        self.dpp(*args)
        return self.dpp("-o", "json", *args)


def plant_everything(sweep: Sweep, secrets: dict[str, Planted]) -> None:
    """Drive the planting provider through every path: create (ok, failing in provision,
    refused by validate), configure (ok, raising, refused, retrying, password change), scale
    (raising), health, maintenance (vetoed), faults (failing repairs), removal."""
    p = {k: v.value for k, v in secrets.items()}
    create = ("instance", "create", "--service", "planting", "--capacity-gb", "1")
    sweep.dpp("service", "register", "tests.stress.providers:SecretPlantingProvider")
    sweep.dpp(*create, "--name", "alpha", "--param", f"password={p['param']}")
    beta = ("--name", "beta", "--param", f"password={p['param2']}", "--policy", "vsan-raid5")
    sweep.dpp(*create, *beta)
    for cache, name, expect in (
        (providers.FAIL_PROVISION, "gamma", 1),
        (providers.FAIL_VALIDATE, "delta", 1),
    ):
        params = ("--param", f"password={p['refused']}", "--param", f"cacheMb={cache}")
        sweep.dpp(*create, "--name", name, *params, expect=expect)
    for cache in (providers.FAIL_CONFIGURE, providers.FAIL_VALIDATE):
        sweep.dpp("instance", "set", "alpha", "--param", f"cacheMb={cache}", expect=1)
    retrying = ("instance", "set", "alpha", "--param", f"cacheMb={providers.FAIL_TEMPORARY}")
    sweep.dpp("--operation-timeout", "1", *retrying, expect=1)
    sweep.dpp("instance", "set", "alpha", "--param", f"password={p['changed']}")
    sweep.dpp("instance", "set", "beta", "--capacity-gb", "2", expect=1)
    host = json.loads(sweep.dpp("-o", "json", "instance", "show", "alpha"))["members"][0]["host"]
    maintenance = ("host", "maintenance", "enter", host, "--mode", "ensure-accessibility")
    sweep.both(*maintenance, "--precheck")
    sweep.dpp(*maintenance, expect=1)
    sweep.dpp("fault", "inject", "host-failure", host)
    sweep.dpp("fault", "clear")


def look_everywhere(sweep: Sweep) -> None:
    """Every reading command, as a table and as JSON, on everything there is."""
    for args in (
        ("instance", "list"),
        ("instance", "show", "alpha"),
        ("instance", "show", "beta"),
        ("operation", "list", "--all"),
        ("audit",),
        ("events",),
        ("health",),
        ("health", "alpha"),
        ("resource", "list"),
        ("host", "list"),
        ("service", "list"),
        ("service", "show", "planting"),
        ("platform", "status"),
    ):
        sweep.both(*args)
    for op in json.loads(sweep.dpp("-o", "json", "operation", "list", "--all")):
        sweep.both("operation", "show", op["id"])
    sweep.dpp("logs")
    sweep.dpp("instance", "remove", "beta", "--yes")
    sweep.dpp("events", "--since", "0")


def database_rows(db: Path) -> Iterator[tuple[str, str]]:
    """(where, text) for every row of every table, except the secrets' own rows: records of
    kinds ``secret`` and ``parameter`` and the ``secret_values`` table. An instance record's
    provider state (``ctx.state``) is yielded apart, as ``provider-state``."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            if table == "secret_values":
                continue
            cursor = conn.execute(f"SELECT * FROM {table}")
            columns = [c[0] for c in cursor.description]
            for values in cursor:
                row = dict(zip(columns, values, strict=True))
                if table == "records" and row["kind"] in ("secret", "parameter"):
                    continue
                where = f"{table} row {row.get('kind', '')}/{row.get('name', row.get('id', ''))}"
                if table == "records" and row["kind"] == "instance":
                    body = json.loads(row["body"])
                    yield f"{where} provider-state", json.dumps(body.pop("provider_state", {}))
                    row["body"] = json.dumps(body)
                yield where, " ".join(str(v) for v in row.values())


def secret_values(db: Path) -> set[str]:
    """Every secret value the platform knows (its ``secret_values`` table)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {r[0] for r in conn.execute("SELECT value FROM secret_values")}


def leaks(where: str, text: str, secrets: list[Planted]) -> Iterator[str]:
    """Each secret found in ``text``, with the form it was found in."""
    for secret in secrets:
        found = [name for name, form in secret.forms().items() if form and form in text]
        if found:
            yield f"{secret.label} secret in {where} ({', '.join(found)})"


def sweep_trial(
    state: Path, seed: int, monkeypatch: pytest.MonkeyPatch, outcome: Outcome
) -> list[str]:
    """Plant, look, search; every leak found."""
    rng = random.Random(seed)
    labels = ("stored", "state", "param", "param2", "refused", "changed")
    planted = {label: make_secret(rng, label) for label in labels}
    monkeypatch.setenv(
        providers.SWEEP_SECRETS_ENV,
        json.dumps({"stored": planted["stored"].value, "state": planted["state"].value}),
    )
    monkeypatch.setenv("COLUMNS", "1000")  # tables do not wrap a secret over two lines
    state.mkdir(parents=True)
    sweep = Sweep(state)
    plant_everything(sweep, planted)
    look_everywhere(sweep)
    outcome.operations += len(sweep.outputs)
    db = state / "platform.db"
    known = secret_values(db)
    generated = [
        Planted("generated", v, v) for v in known if not any(s.value == v for s in planted.values())
    ]
    everything = [*planted.values(), *generated]
    found = [
        f"{s.label} secret never registered as one"
        for s in planted.values()
        if s.value not in known and s.label != "refused"
    ]
    for where, text in sweep.outputs:
        found += leaks(f"the output of {where}", text, everything)
    log = (state / "datapersistence.log").read_text(encoding="utf-8")
    found += leaks("the log", log, everything)
    held = []
    for where, text in database_rows(db):
        if where.endswith("provider-state") and any(leaks(where, text, [planted["state"]])):
            held.append(where)  # the platform keeps provider state; it shows it nowhere
        state_only = [planted["state"]] if where.endswith("provider-state") else []
        found += leaks(f"database {where}", text, [s for s in everything if s not in state_only])
    if held != ["records row instance/alpha provider-state"]:
        found.append(f"ctx.state holding a secret was expected in alpha's row only: {held}")
    return found + unplanted(sweep, log)


REDACTED = "********"

PLANTED_IN = {
    "a member label": ("instance show alpha", '"stored": "********"'),
    "a failing provision's error": ("--name gamma", "plain ********"),
    "validate problems": ("--name delta", "repr '********'"),
    "a configure's exception": (f"cacheMb={providers.FAIL_CONFIGURE}", "'********'"),
    "a temporary error": (f"cacheMb={providers.FAIL_TEMPORARY}", "plain ********"),
    "a scale's exception": ("capacity-gb 2", "cannot grow: plain ********"),
    "health check names": ("health alpha", "login ********"),
    "health check messages": ("-o json health alpha", 'json \\"********\\"'),
    "a maintenance veto": ("--mode ensure-accessibility (exit 1)", 'json-utf8 "********"'),
    "a failing repair": ("operation show", "provider raised RuntimeError: plain ********"),
    "secret-leak events": ("events", "secret-leak"),
}
"""Where each path of the provider must have left a redacted secret (the command's arguments
contain the first string, its output the second): proof that the sweep planted it."""


def unplanted(sweep: Sweep, log: str) -> list[str]:
    """Paths whose redacted trace is missing: the sweep did not plant there, so it proves
    nothing about them."""
    missing = [
        f"nothing planted through {path} ({command!r} never printed {trace!r})"
        for path, (command, trace) in PLANTED_IN.items()
        if not any(command in where and trace in text for where, text in sweep.outputs)
    ]
    for line in ("plain ********", "repr '********'", 'json {"password": "********"}'):
        if line not in log:
            missing.append(f"no provider log line {line!r}")
    return missing


def test_secrets_planted_through_every_provider_path_reach_no_output_log_or_row(
    tmp_path: Path, stress: Settings, outcome: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No form of any planted secret reaches a dpp output, the log or a database row."""
    for seed in stress.seeds(base=5000):
        found = sweep_trial(tmp_path / f"trial-{seed}", seed, monkeypatch, outcome)
        outcome.trials += 1
        outcome.violated(seed, "secret sweep", found)
    outcome.check()


def _planted_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Sweep, Planted]:
    """A state directory with instance alpha of the planting provider; its stored secret."""
    rng = random.Random(5000)
    stored, state = make_secret(rng, "stored"), make_secret(rng, "state")
    monkeypatch.setenv(
        providers.SWEEP_SECRETS_ENV, json.dumps({"stored": stored.value, "state": state.value})
    )
    monkeypatch.setenv("COLUMNS", "1000")
    sweep = Sweep(tmp_path)
    sweep.dpp("service", "register", "tests.stress.providers:SecretPlantingProvider")
    create = ("instance", "create", "--service", "planting", "--capacity-gb", "1")
    sweep.dpp(*create, "--name", "alpha", "--param", "password=first-password")
    return sweep, stored


def _everywhere(sweep: Sweep, secret: Planted) -> list[str]:
    """Leaks of ``secret`` in every output so far, the log, and the operation and audit rows."""
    sweep.both("operation", "list", "--all")
    sweep.both("audit")
    found = [f for where, text in sweep.outputs for f in leaks(where, text, [secret])]
    found += leaks("the log", (sweep.state / "datapersistence.log").read_text("utf-8"), [secret])
    for where, text in database_rows(sweep.state / "platform.db"):
        found += leaks(where, text, [secret])
    return found


def test_a_secret_quoted_inside_a_quoted_exception_message_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret quoted in a message that an exception's repr quotes again is redacted."""
    sweep, stored = _planted_instance(tmp_path, monkeypatch)
    cache = f"cacheMb={providers.FAIL_NESTED}"
    sweep.dpp("instance", "set", "alpha", "--param", cache, expect=1)
    assert _everywhere(sweep, stored) == []


def test_a_write_only_parameter_refused_by_the_schema_is_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password parameter the schema refuses appears in no error line, audit, log or row."""
    sweep, _ = _planted_instance(tmp_path, monkeypatch)
    token = "Refused9Token"
    value = f"{token}-\"q'\\é" + "x" * providers.PASSWORD_MAX_LENGTH
    create = ("instance", "create", "--service", "planting", "--capacity-gb", "1")
    sweep.dpp(*create, "--name", "beta", "--param", f"password={value}", expect=1)
    sweep.dpp("instance", "set", "alpha", "--param", f"password={value}", expect=1)
    assert _everywhere(sweep, Planted("refused", value, token)) == []
