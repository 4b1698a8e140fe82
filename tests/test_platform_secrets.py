"""Secrets never shown, in whatever form they travel (issue 8, defect 5)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.platform import Platform
from tests.providers import WEIRD_SECRET

FORMS = {
    WEIRD_SECRET,
    json.dumps(WEIRD_SECRET)[1:-1],
    json.dumps(WEIRD_SECRET, ensure_ascii=False)[1:-1],
    repr(WEIRD_SECRET)[1:-1],
    ascii(WEIRD_SECRET)[1:-1],
}


def _leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


# A platform on disk with the blabbing provider's instance b1.
pytestmark = pytest.mark.dpp_platform("tests.providers:BlabbingProvider", on_disk=True)


@pytest.fixture(autouse=True)
def _b1(request: pytest.FixtureRequest) -> None:
    if "dpp_platform" in request.fixturenames:
        dpp_platform: Platform = request.getfixturevalue("dpp_platform")
        dpp_platform.create_instance(service="blabbing", name="b1", capacity_gb=1)


def test_a_secret_quoted_in_an_exception_is_redacted_in_every_escaped_form(
    dpp_platform: Platform,
) -> None:
    """The failed configure's error, the audit and the log show no form of the secret."""
    with pytest.raises(dpp.OperationFailed) as info:
        dpp_platform.configure_instance("b1", {"cacheMb": 99})
    error = info.value.operation.error
    assert error is not None
    assert _leaks(error.message + (error.traceback or "")) == []
    assert _leaks(str(info.value)) == []
    assert _leaks(" ".join(r.detail for r in dpp_platform.audit(limit=None))) == []
    assert _leaks((dpp_platform.log_path or Path()).read_text("utf-8")) == []


def test_a_secret_quoted_by_validate_is_redacted(dpp_platform: Platform) -> None:
    """Problems the provider's validate returns never carry a stored secret."""
    with pytest.raises(dpp.ValidationError) as info:
        dpp_platform.configure_instance("b1", {"cacheMb": 17})
    text = str(info.value) + repr(info.value.problems)
    assert "cacheMb" in text
    assert _leaks(text) == []


def test_a_secret_put_in_a_member_label_is_stored_redacted(dpp_platform: Platform) -> None:
    """The label shows asterisks, in the API and the database, and a secret-leak is reported."""
    (member,) = dpp_platform.get_instance("b1").members
    assert member.labels["token"] == "********"
    assert any(
        e.data.get("where") == "member labels" for e in dpp_platform.events(kind="secret-leak")
    )
    assert dpp_platform.state_dir is not None
    db = sqlite3.connect(dpp_platform.state_dir / "platform.db")
    rows = db.execute("SELECT body FROM records WHERE kind != 'secret'").fetchall()
    db.close()
    assert _leaks(" ".join(r[0] for r in rows)) == []


def test_a_json_escaped_secret_in_a_provider_log_line_is_redacted(dpp_platform: Platform) -> None:
    """The provider logged json.dumps({"password": secret}): the log shows asterisks."""
    log = (dpp_platform.log_path or Path()).read_text("utf-8")
    assert "connecting with" in log
    assert _leaks(log) == []


def test_a_write_only_parameter_reaches_the_provider_and_is_never_shown(tmp_path: Path) -> None:
    """writeOnly / format: password parameters: the provider gets the value; the instance,
    its operations, listings and the database rows show asterisks."""
    from tests.providers import PasswordProvider

    PasswordProvider.SEEN.clear()
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:PasswordProvider")
        p.create_instance(
            service="guarded", name="g", capacity_gb=1, parameters={"password": "first-pass-1"}
        )
        assert testing.context(p, "g").secrets.find("admin") is not None
        shown = p.get_instance("g").spec.parameters
        assert (shown["password"], shown["pin"]) == ("********", "********")
        p.configure_instance("g", {"password": "second-pass-2"})
        assert PasswordProvider.SEEN[-1] == ("second-pass-2", "first-pass-1", ("password",))
        with pytest.raises(dpp.OperationFailed):
            p.configure_instance("g", {"password": "bad-password"})
        p.configure_instance("g", {"cacheMb": 32})
        assert PasswordProvider.SEEN[-1] == ("second-pass-2", "second-pass-2", ("cacheMb",))
        everything = json.dumps(
            [dpp.unstructure(i) for i in p.list_instances()]
            + [dpp.unstructure(o) for o in p.list_operations(limit=None)]
        )
    for value in ("first-pass-1", "second-pass-2", "bad-password", "123456"):
        assert value not in everything
    db = sqlite3.connect(tmp_path / "platform.db")
    rows = [
        r[0]
        for r in db.execute(
            "SELECT body FROM records WHERE kind NOT IN ('secret', 'parameter') "
            "UNION ALL SELECT body FROM operations UNION ALL SELECT body FROM audit "
            "UNION ALL SELECT body FROM events"
        )
    ]
    db.close()
    for value in ("first-pass-1", "second-pass-2", "bad-password"):
        assert not any(value in row for row in rows), value
    assert "first-pass-1" not in (tmp_path / "datapersistence.log").read_text("utf-8")


def test_a_refused_secret_parameter_is_not_quoted_by_the_refusal() -> None:
    """A writeOnly parameter that breaks its schema (too short) is refused without showing
    the value, in create and in configure."""
    with Platform.open() as p:
        p.register_service("tests.providers:PasswordProvider")
        with pytest.raises(dpp.ValidationError) as info:
            p.create_instance(
                service="guarded", name="g", capacity_gb=1, parameters={"password": "shorty7"}
            )
        text = str(info.value) + repr(info.value.problems)
        assert "$.parameters.password" in text
        assert "shorty7" not in text
        p.create_instance(
            service="guarded", name="g", capacity_gb=1, parameters={"password": "long-enough-1"}
        )
        with pytest.raises(dpp.ValidationError) as info:
            p.configure_instance("g", {"password": "tiny-pw"})
        text = str(info.value) + repr(info.value.problems)
        assert "tiny-pw" not in text
        assert "long-enough-1" not in text
        assert all("tiny-pw" not in r.detail for r in p.audit(limit=None))
