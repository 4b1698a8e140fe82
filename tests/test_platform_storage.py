"""The storage layout: schema 2, migration from schema 1, caches shared by several processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.platform import Platform
from dpp_sdk.platform._store import SCHEMA_VERSION

SCHEMA1 = Path(__file__).parent / "data" / "schema1.sql"


def _schema1_state(tmp_path: Path) -> Path:
    """A state directory as dpp-sdk 0.1 left it: two kv instances, esx-02 failed, a failed disk."""
    db = sqlite3.connect(tmp_path / "platform.db")
    db.executescript(SCHEMA1.read_text("utf-8"))
    db.close()
    return tmp_path


def test_a_schema_1_state_directory_is_migrated_when_opened(tmp_path: Path) -> None:
    """Instances, volumes, host and disk states and reservations survive the conversion."""
    with Platform.open(_schema1_state(tmp_path)) as p:
        assert [i.name for i in p.list_instances()] == ["k1", "k2"]
        assert p.get_host("esx-02").state == "failed"
        assert {d.name: d.state for d in p.get_host("esx-03").disks}["cap-1"] == "failed"
        assert p.check_consistency() == []
        reserved = p.resources().reserved_gb
        assert reserved == pytest.approx(2.0 + 2 * 4 / 3, abs=1e-6)
        p.clear_faults()
        p.create_instance(service="kv", name="k3", capacity_gb=1)
        p.remove_instance("k1")
        assert p.check_consistency() == []
    db = sqlite3.connect(tmp_path / "platform.db")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    schema = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
    db.close()
    assert "docs" not in tables
    assert schema == str(SCHEMA_VERSION)


def test_a_migrated_secret_is_still_redacted(tmp_path: Path) -> None:
    """Secret values stored under schema 1 are known to the redactor after migration."""
    with Platform.open(_schema1_state(tmp_path)) as p:
        probe = testing.context(p, "k1").secrets.find("password")
        assert probe is not None
        value = probe.reveal()
        testing.context(p, "k1").log.info("leaking %s", value)
        assert value not in (p.log_path or Path()).read_text("utf-8")
        assert p.events(kind="secret-leak")


def test_a_state_directory_from_a_newer_sdk_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """A schema this SDK does not know is refused, naming the directory and the way out."""
    with Platform.open(tmp_path):
        pass
    db = sqlite3.connect(tmp_path / "platform.db")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(dpp.Conflict, match=r"schema 99.*upgrade dpp-sdk"):
        Platform.open(tmp_path)


def test_two_platforms_on_one_directory_see_each_others_changes(tmp_path: Path) -> None:
    """Caches are dropped when another connection commits: creates, faults and removals show."""
    with Platform.open(tmp_path) as a, Platform.open(tmp_path) as b:
        a.register_service("tests.providers:KVProvider")
        # Thick, so that each instance reserves its raw size from the start.
        a.create_instance(service="kv", name="one", capacity_gb=1, policy="vsan-default-thick")
        assert [i.name for i in b.list_instances()] == ["one"]
        b.inject_host_failure("esx-01")
        assert a.get_host("esx-01").state == "failed"
        b.clear_host_failure("esx-01")
        b.create_instance(service="kv", name="two", capacity_gb=2, policy="vsan-default-thick")
        assert a.resources().reserved_gb == pytest.approx(6.0)
        a.remove_instance("two")
        assert b.resources().reserved_gb == pytest.approx(2.0)
        assert [i.name for i in b.list_instances()] == ["one"]
        assert a.check_consistency() == []
        assert b.check_consistency() == []


def test_a_refused_placement_leaves_the_cached_accounting_equal_to_the_records() -> None:
    """A mutation that raises halfway is rolled back in the database and in memory alike."""
    config = dpp.ClusterConfig.uniform(hosts=4, capacity_disk_gb=100, direct_disks_per_host=0)
    with Platform.open(config=config) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="a", capacity_gb=10)
        before = p.resources().reserved_gb
        with pytest.raises((dpp.OperationFailed, dpp.ValidationError, dpp.QuotaExceeded)):
            p.create_instance(service="kv", name="b", capacity_gb=400)
        assert p.resources().reserved_gb == pytest.approx(before)
        assert p.check_consistency() == []


def test_a_zero_byte_database_is_refused_naming_it_and_what_to_do(tmp_path: Path) -> None:
    """An empty platform.db (a truncated one) is not silently started afresh."""
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:KVProvider")
    (tmp_path / "platform.db").write_bytes(b"")
    for leftover in ("platform.db-wal", "platform.db-shm"):
        (tmp_path / leftover).unlink(missing_ok=True)
    with pytest.raises(dpp.Conflict) as info:
        Platform.open(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "platform.db") in message
    assert "empty" in message
    assert "restore it from a backup, or delete it to start afresh" in message
    assert (tmp_path / "platform.db").stat().st_size == 0


def _damaged(path: Path) -> None:
    """Overwrite page 1 of the database at ``path`` after its header: the schema is lost."""
    data = bytearray(path.read_bytes())
    data[100:4096] = bytes(range(256)) * 15 + bytes(range(156))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["not sqlite", "damaged"])
def test_an_unreadable_database_is_a_dpp_error_naming_it_and_what_to_do(
    tmp_path: Path, kind: str
) -> None:
    """A file that is not SQLite, or a damaged one, is a Conflict, not a raw sqlite3 error."""
    database = tmp_path / "platform.db"
    if kind == "not sqlite":
        database.write_text("these are not the bytes of a database\n" * 200)
    else:
        with Platform.open(tmp_path) as p:
            p.register_service("tests.providers:KVProvider")
        _damaged(database)
    with pytest.raises(dpp.Conflict) as info:
        Platform.open(tmp_path)
    message = str(info.value)
    assert str(database) in message
    assert "restore it from a backup, or delete it" in message
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_concurrent_opens_of_a_new_state_directory_all_succeed(tmp_path: Path) -> None:
    """Processes creating the database at once never see it empty, so none is refused."""
    script = (
        "import sys; from dpp_sdk.platform import Platform; "
        "Platform.open(sys.argv[1], recover=False).close()"
    )
    for trial in range(3):
        state = tmp_path / f"s{trial}"
        procs = [
            subprocess.Popen([sys.executable, "-c", script, str(state)], stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        errors = [proc.communicate(timeout=60)[1].decode() for proc in procs]
        assert [proc.returncode for proc in procs] == [0] * 4, errors
