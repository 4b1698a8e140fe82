"""The client's conditional updates: ``etag_of`` a document it read is the gateway's ``ETag``,
and an update with a stale ``if_match`` raises ``PreconditionFailed`` and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import dpp_sdk as dpp
from dpp_sdk.client import PlatformClient, PreconditionFailed, etag_of
from tests.gateways import KV, Gateway

MINIO = "samples/minio"


def test_the_etag_of_a_document_the_client_read_is_the_one_the_gateway_sends(
    gateway: Gateway,
) -> None:
    """For instances with volumes, members, endpoints, secrets and parameters, the tag the
    client computes from the document equals the gateway's ETag header for it."""
    client = gateway.client
    client.register_service(KV)
    client.register_service(MINIO)
    client.create_instance(service="kv", name="kv1", capacity_gb=2, parameters={"cacheMb": 32})
    client.create_instance(service="minio", name="m1", capacity_gb=40)
    for name in ("kv1", "m1"):
        header = gateway.get(f"/v1/instances/{name}").headers["ETag"]
        assert etag_of(client.get_instance(name)) == header
        assert etag_of(gateway.platform.get_instance(name)) == header


Update = Callable[[PlatformClient, "str | None"], Any]

UPDATES: dict[str, tuple[Update, list[str]]] = {
    "configure": (
        lambda c, tag: c.configure_instance("kv1", {"cacheMb": 99}, if_match=tag),
        ["configure"],
    ),
    "scale": (lambda c, tag: c.scale_instance("kv1", 5, if_match=tag), ["scale"]),
    "change": (lambda c, tag: c.change_instance("kv1", capacity_gb=5, if_match=tag), ["scale"]),
    "remove": (lambda c, tag: c.remove_instance("kv1", if_match=tag), ["decommission"]),
}
"""Each update the client can make conditional (called with a tag), and the kinds of the
operations it runs when the tag is current."""


@pytest.mark.parametrize("verb", list(UPDATES))
def test_a_stale_if_match_raises_precondition_failed_and_changes_nothing(
    gateway: Gateway, verb: str
) -> None:
    """An update given the tag of a version that another update has replaced raises
    PreconditionFailed (a Conflict) naming the instance; the instance and its operations
    stay as they were. Given the current tag, the same update goes through."""
    update, kinds = UPDATES[verb]
    client = gateway.client
    client.register_service(KV)
    client.create_instance(service="kv", name="kv1", capacity_gb=2)
    stale = etag_of(client.get_instance("kv1"))
    client.configure_instance("kv1", {"cacheMb": 128})
    before = client.get_instance("kv1")
    operations = list(client.list_operations(target="kv1", limit=None))

    with pytest.raises(PreconditionFailed) as refused:
        update(client, stale)
    assert isinstance(refused.value, dpp.Conflict)
    assert "instance 'kv1' changed since the version If-Match names" in str(refused.value)
    assert client.get_instance("kv1") == before
    assert list(client.list_operations(target="kv1", limit=None)) == operations

    done = update(client, etag_of(before))
    ops = done if isinstance(done, list) else [done]
    assert [(op.kind, op.state) for op in ops] == [
        (kind, dpp.OperationState.SUCCEEDED) for kind in kinds
    ]


def test_without_if_match_an_update_proceeds_whatever_changed_meanwhile(
    gateway: Gateway,
) -> None:
    """if_match is optional: an update without it is not conditional (as before)."""
    client = gateway.client
    client.register_service(KV)
    client.create_instance(service="kv", name="kv1", capacity_gb=2)
    client.configure_instance("kv1", {"cacheMb": 128})
    assert client.scale_instance("kv1", 3).state is dpp.OperationState.SUCCEEDED
    assert client.get_instance("kv1").spec.capacity_gb == 3
