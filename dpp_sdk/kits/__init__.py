"""Helpers a provider may use: the plumbing both samples had to write for themselves.

Everything here works through the :class:`~dpp_sdk.InstanceContext` a verb is handed, so it
runs against the in-process platform and (later) the gateway alike. The contract and the
platform never import this package, and ``import dpp_sdk`` does not load it::

    from dpp_sdk import kits

    def on_failure(self, ctx, event):
        snap = kits.InstanceSnapshot.take(ctx)
        for name in snap.needing_replacement():
            kits.replace_member(ctx, name, volumes=[...])

- :class:`InstanceSnapshot`: members and volumes read once, with "is this member up, and if
  not, why" and "must it be replaced" decided the same way everywhere;
- :func:`replace_member`: delete a member with its volumes and create it again (placed anew);
- :func:`release_everything`: what ``decommission`` must do when nothing is special;
- :func:`load_state` / :func:`save_state`: typed provider state (attrs classes as JSON);
- :func:`majority`, :func:`validation_error`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from dpp_sdk.contract import (
    AntiAffinity,
    InstanceContext,
    MemberInfo,
    Problem,
    ValidationError,
    VolumeClaim,
    VolumeInfo,
)

__all__ = [
    "InstanceSnapshot",
    "load_state",
    "majority",
    "release_everything",
    "replace_member",
    "save_state",
    "validation_error",
]

T = TypeVar("T")


def majority(members: int) -> int:
    """Votes needed for a majority of ``members`` (``members // 2 + 1``)."""
    if isinstance(members, bool) or not (isinstance(members, int) and members >= 1):
        raise ValueError(f"members: {members!r} must be an integer >= 1")
    return members // 2 + 1


def validation_error(problems: Iterable[Problem], summary: str = "") -> ValidationError:
    """One :class:`~dpp_sdk.ValidationError` listing ``problems`` (every one, in order); the
    summary says how many unless given."""
    found = tuple(problems)
    if not found:
        raise ValueError("validation_error needs at least one problem")
    count = f"{len(found)} problem" + ("" if len(found) == 1 else "s")
    return ValidationError(summary or count, found)


@attrs.frozen(kw_only=True)
class InstanceSnapshot:
    """The instance's members and volumes, read once, for one consistent decision.

    A member is *up* when it runs and every volume attached to it is accessible. One that is
    not up is *waited for* when it may come back with its data (its host failed but the
    repair timer has not expired: ``unreachable``; or its host is in maintenance: ``stopped``)
    and *needs replacing* otherwise (``lost`` with its host, running without its data)."""

    members: Mapping[str, MemberInfo]
    volumes: Mapping[str, VolumeInfo]

    @classmethod
    def take(cls, ctx: InstanceContext) -> InstanceSnapshot:
        """Read members and volumes through ``ctx`` (changes nothing)."""
        return cls(
            members={m.name: m for m in ctx.members.list()},
            volumes={v.name: v for v in ctx.volumes.list()},
        )

    def volumes_of(self, member: str) -> list[VolumeInfo]:
        """The volumes attached to ``member`` (empty when it has none or does not exist)."""
        info = self.members.get(member)
        names = info.volumes if info is not None else ()
        return [self.volumes[n] for n in names if n in self.volumes]

    def is_up(self, member: str) -> bool:
        """Whether ``member`` exists, runs, and can use every volume attached to it."""
        return self.why_down(member) is None

    def why_down(self, member: str) -> str | None:
        """Why ``member`` is not up, for logs, health messages and vetoes; None when it is."""
        info = self.members.get(member)
        if info is None:
            return f"{member} missing"
        if info.state == "unreachable":
            return f"{member} unreachable on failed host {info.host}"
        if info.state == "lost":
            return f"{member} lost with host {info.host} (repair timer expired)"
        if info.state == "stopped":
            return f"{member} stopped on {info.host} (maintenance)"
        gone = [v.name for v in self.volumes_of(member) if not v.accessible]
        missing = [n for n in info.volumes if n not in self.volumes]
        if gone or missing:
            return f"{member} has lost its data ({', '.join([*gone, *missing])}) on {info.host}"
        return None

    def needs_replacement(self, member: str) -> bool:
        """Missing, lost with its host, or running without its data: re-create it elsewhere.
        An ``unreachable`` or ``stopped`` member is waited for: it comes back with its data."""
        info = self.members.get(member)
        if info is None or info.state == "lost":
            return True
        return info.state == "running" and not self.is_up(member)

    def up(self, members: Iterable[str] | None = None) -> tuple[str, ...]:
        """The members (of ``members``, else all, by name) that are up, in that order."""
        names = sorted(self.members) if members is None else list(members)
        return tuple(n for n in names if self.is_up(n))

    def needing_replacement(self, members: Iterable[str] | None = None) -> tuple[str, ...]:
        """The members (of ``members``, else all) that :meth:`needs_replacement`."""
        names = sorted(self.members) if members is None else list(members)
        return tuple(n for n in names if self.needs_replacement(n))


def replace_member(
    ctx: InstanceContext,
    name: str,
    *,
    volumes: Sequence[VolumeClaim] = (),
    anti_affinity: AntiAffinity | Sequence[AntiAffinity] | None = None,
    labels: Mapping[str, str] | None = None,
) -> MemberInfo:
    """Delete member ``name`` with its volumes and create it again with fresh ``volumes``,
    placed anew (never on a host that is failed, draining or in maintenance); returns it.

    Its data is gone: the service must fill the new volumes (initial sync, heal). Raises
    :class:`~dpp_sdk.PlacementFailed` or :class:`~dpp_sdk.QuotaExceeded` when there is no room,
    with the member deleted (call it again when room appears: it converges)."""
    ctx.members.delete(name, delete_volumes=True)
    for claim in volumes:  # a volume a crashed attempt left detached
        ctx.volumes.delete(claim.name)
    return ctx.members.ensure(name, volumes=volumes, anti_affinity=anti_affinity, labels=labels)


def release_everything(ctx: InstanceContext, *, keep_state: bool = False) -> None:
    """Delete every member with its volumes, every other volume, every endpoint and secret,
    and (unless ``keep_state``) every key of the provider's state: what ``decommission``
    does when nothing needs an order. Each delete tolerates absence, so it converges."""
    for member in ctx.members.list():
        ctx.members.delete(member.name, delete_volumes=True)
    for volume in ctx.volumes.list():
        ctx.volumes.delete(volume.name)
    for endpoint in ctx.endpoints.list():
        ctx.endpoints.delete(endpoint.name)
    for secret in ctx.secrets.list():
        ctx.secrets.delete(secret.name)
    if not keep_state:
        for key in ctx.state.as_dict():
            ctx.state.delete(key)


def load_state(ctx: InstanceContext, key: str, cls: type[T]) -> T | None:
    """The attrs (or other cattrs-structurable) value ``cls`` stored under ``key``, or None.
    Raises :class:`~dpp_sdk.ValidationError` naming the key when what is stored does not fit."""
    from dpp_sdk.contract._serde import structure

    raw: Any = ctx.state.get(key)
    if raw is None:
        return None
    try:
        return structure(raw, cls)
    except Exception as exc:
        raise ValidationError.single(
            f"$.state.{key}", raw, f"is not a {cls.__name__}: {exc}"
        ) from exc


def save_state(ctx: InstanceContext, key: str, value: Any) -> None:
    """Store ``value`` (an attrs instance, or anything cattrs turns into JSON) under ``key``."""
    from dpp_sdk.contract._serde import unstructure

    ctx.state.set(key, unstructure(value))
