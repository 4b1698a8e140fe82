"""``PlatformAPI``, the protocol the CLI is typed against, and ``Platform``, which satisfies it.

mypy checks the types where the CLI's session assigns a ``Platform`` to a ``PlatformAPI``;
these tests keep the member lists and the parameters from drifting apart.
"""

from __future__ import annotations

import inspect
from typing import Any

from typing_extensions import get_protocol_members

from dpp_sdk.platform import Platform
from dpp_sdk.platform._api import PlatformAPI

API_MEMBERS = sorted(get_protocol_members(PlatformAPI))

# Public Platform members a front end must not rely on: they hand out in-process objects
# (a provider, a probe bound to a context), or exist for tests and the conformance suite.
# ``acting_as`` is for a server acting for several principals (the gateway); over HTTP the
# principal is the token's, so a client has nothing to implement it with.
LEFT_OUT = {
    *("open", "config", "provider_for", "data_probe"),
    "acting_as",
}


def _parameters(function: Any) -> list[tuple[str, object, object]]:
    """Name, kind and default of every parameter but ``self``."""
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()][1:]


def test_every_api_member_exists_on_platform_with_the_same_parameters() -> None:
    """Each method takes the same parameters, kinds and defaults; each property is one."""
    assert len(API_MEMBERS) > 30
    for name in API_MEMBERS:
        declared = inspect.getattr_static(PlatformAPI, name)
        implemented = inspect.getattr_static(Platform, name, None)
        assert implemented is not None, f"Platform has no {name}"
        if isinstance(declared, property):
            assert isinstance(implemented, property), f"Platform.{name} is not a property"
        else:
            assert _parameters(implemented) == _parameters(declared), name


def test_every_public_platform_member_is_in_the_api_or_deliberately_left_out() -> None:
    """A new public Platform method is added to PlatformAPI, or to LEFT_OUT with a reason."""
    public = {name for name in dir(Platform) if not name.startswith("_")}
    assert public - set(API_MEMBERS) == LEFT_OUT
    assert not LEFT_OUT & set(API_MEMBERS)


def test_every_api_member_has_a_one_line_docstring() -> None:
    """The protocol documents each member in one sentence."""
    for name in API_MEMBERS:
        doc = inspect.getdoc(inspect.getattr_static(PlatformAPI, name))
        assert doc, name
        assert "\n" not in doc, name


def test_an_open_platform_is_usable_as_a_platform_api() -> None:
    """An in-memory platform answers the protocol's calls (and its ``with`` block closes it)."""
    platform: PlatformAPI
    with Platform.open() as platform:
        assert platform.log_path is None
        assert platform.interrupted_operations() == []
        assert [h.name for h in platform.list_hosts()][:1] == ["esx-01"]
