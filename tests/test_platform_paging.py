"""Listings in pages (limit and cursor), and change_instance (the CLI's instance set)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk.platform import Page, Platform

pytestmark = pytest.mark.dpp_platform("tests.providers:KVProvider")


@settings(max_examples=15, deadline=None)
@given(count=st.integers(0, 12), limit=st.integers(1, 5))
def test_following_next_cursor_lists_every_instance_once_in_name_order(
    count: int, limit: int
) -> None:
    """Pages of any size, chained by next_cursor, cover the listing exactly."""
    with Platform.open() as p:
        p.register_service("tests.providers:KVProvider")
        for i in range(count):
            p.create_instance(service="kv", name=f"n{i:02d}", capacity_gb=1)
        page = p.list_instances(limit=limit)
        seen = [i.name for i in page]
        while page.next_cursor is not None:
            assert len(page) == limit
            page = p.list_instances(limit=limit, cursor=page.next_cursor)
            seen += [i.name for i in page]
        assert seen == [f"n{i:02d}" for i in range(count)]


def test_a_cursor_stays_right_while_instances_come_and_go(dpp_platform: Platform) -> None:
    """A cursor remembers where the page ended, not an offset."""
    for name in ("a", "b", "c", "d"):
        dpp_platform.create_instance(service="kv", name=name, capacity_gb=1)
    first = dpp_platform.list_instances(limit=2)
    assert [i.name for i in first] == ["a", "b"]
    dpp_platform.remove_instance("a")
    dpp_platform.create_instance(service="kv", name="bb", capacity_gb=1)
    rest = dpp_platform.list_instances(limit=10, cursor=first.next_cursor)
    assert [i.name for i in rest] == ["bb", "c", "d"]
    assert rest.next_cursor is None


def test_listings_default_to_a_page_of_100_and_none_means_all(dpp_platform: Platform) -> None:
    """With no limit a listing stops at 100 and says where to go on; limit=None lists all."""
    for i in range(101):
        dpp_platform.create_instance(service="kv", name=f"i{i:03d}", capacity_gb=1)
    page = dpp_platform.list_instances()
    assert isinstance(page, Page)
    assert len(page) == 100
    assert page.next_cursor is not None
    assert len(dpp_platform.list_instances(limit=None)) == 101
    assert len(dpp_platform.list_instances(service="kv", limit=None)) == 101
    assert dpp_platform.list_instances(service="other", limit=None) == []


def test_operations_page_oldest_first_and_by_target(dpp_platform: Platform) -> None:
    """list_operations pages in creation order; target filters before paging."""
    for name in ("a", "b", "c"):
        dpp_platform.create_instance(service="kv", name=name, capacity_gb=1)
    dpp_platform.remove_instance("b")
    page = dpp_platform.list_operations(limit=2)
    rest = dpp_platform.list_operations(limit=10, cursor=page.next_cursor)
    kinds = [(o.kind, o.target) for o in [*page, *rest]]
    assert kinds == [
        ("provision", "a"),
        ("provision", "b"),
        ("provision", "c"),
        ("decommission", "b"),
    ]
    assert [o.kind for o in dpp_platform.list_operations(target="b")] == [
        "provision",
        "decommission",
    ]


def test_audit_gives_the_last_records_or_those_after_a_cursor(dpp_platform: Platform) -> None:
    """audit(limit=N) is the tail; a cursor pages forward from where a page ended."""
    for name in ("a", "b", "c"):
        dpp_platform.create_instance(service="kv", name=name, capacity_gb=1)
    everything = dpp_platform.audit()
    assert [r.target for r in dpp_platform.audit(limit=2)] == [r.target for r in everything[-2:]]
    assert all(a.seq < b.seq for a, b in itertools.pairwise(everything))


def test_events_take_a_limit_and_continue_from_a_sequence_number(dpp_platform: Platform) -> None:
    """events(since=seq, limit=N) gives the next N events after seq."""
    dpp_platform.create_instance(service="kv", name="a", capacity_gb=1)
    for _ in range(3):
        dpp_platform.inject_host_failure("esx-01")
        dpp_platform.clear_host_failure("esx-01")
    first = dpp_platform.events(limit=2)
    assert len(first) == 2
    after = dpp_platform.events(since=first[-1].seq, limit=2)
    assert [e.seq for e in after] == [e.seq for e in dpp_platform.events()[2:4]]


@pytest.mark.parametrize(
    ("limit", "cursor"),
    [(0, None), (10_001, None), (True, None), ("5", None), (5, "not-a-cursor")],
)
def test_a_bad_limit_or_cursor_is_refused_naming_the_field(
    dpp_platform: Platform, limit: object, cursor: str | None
) -> None:
    """limit must be 1..10,000 or None; a cursor must come from the same listing."""
    with pytest.raises(dpp.ValidationError, match=r"\$\.(limit|cursor)"):
        dpp_platform.list_instances(limit=limit, cursor=cursor)  # type: ignore[arg-type]


def test_a_cursor_of_another_listing_is_refused(dpp_platform: Platform) -> None:
    """An operations cursor given to list_instances names $.cursor."""
    for name in ("a", "b"):
        dpp_platform.create_instance(service="kv", name=name, capacity_gb=1)
    cursor = dpp_platform.list_operations(limit=1).next_cursor
    with pytest.raises(dpp.ValidationError, match=r"\$\.cursor.*instances listing"):
        dpp_platform.list_instances(cursor=cursor)


def test_change_instance_configures_then_scales_with_suffixed_keys(dpp_platform: Platform) -> None:
    """Both parts run, in order; the same key returns the same two operations."""
    dpp_platform.create_instance(service="kv", name="a", capacity_gb=1)
    ops = dpp_platform.change_instance(
        "a", parameters={"cacheMb": 64}, capacity_gb=2, idempotency_key="k"
    )
    assert [o.kind for o in ops] == ["configure", "scale"]
    assert [o.idempotency_key for o in ops] == ["k:configure", "k:scale"]
    again = dpp_platform.change_instance(
        "a", parameters={"cacheMb": 64}, capacity_gb=2, idempotency_key="k"
    )
    assert [o.id for o in again] == [o.id for o in ops]
    spec = dpp_platform.get_instance("a").spec
    assert (spec.parameters["cacheMb"], spec.capacity_gb) == (64, 2)


def test_change_instance_refuses_everything_when_the_scale_would_be_refused(
    dpp_platform: Platform,
) -> None:
    """A scale outside the plan refuses the change before the parameters move."""
    dpp_platform.create_instance(service="kv", name="a", capacity_gb=5)
    with pytest.raises(dpp.ValidationError, match=r"\$\.capacity_gb"):
        dpp_platform.change_instance("a", parameters={"cacheMb": 77}, capacity_gb=100_000)
    spec = dpp_platform.get_instance("a").spec
    assert spec.parameters.get("cacheMb") != 77
    assert spec.capacity_gb == 5
    refused = [r for r in dpp_platform.audit() if r.outcome == "refused"]
    assert refused[-1].action == "instance.scale"


def test_change_instance_with_nothing_to_change_is_refused(dpp_platform: Platform) -> None:
    """Neither parameters nor capacity is a ValidationError naming the request."""
    dpp_platform.create_instance(service="kv", name="a", capacity_gb=1)
    with pytest.raises(dpp.ValidationError, match="nothing to change"):
        dpp_platform.change_instance("a")


def test_get_host_names_the_hosts_when_it_does_not_know_one(dpp_platform: Platform) -> None:
    """get_host returns one host; an unknown name is NotFound listing the hosts."""
    assert dpp_platform.get_host("esx-03").name == "esx-03"
    with pytest.raises(dpp.NotFound, match="esx-01"):
        dpp_platform.get_host("esx-99")
