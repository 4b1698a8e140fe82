"""Situations a test needs that the platform's public interface cannot make happen on purpose.

A process killed half-way through an operation, a provider's code uninstalled between two
runs, a loss recorded but not yet acted upon, an instance caught busy: each is something a
real platform goes through (after a crash, an upgrade, a power cut), and what recovery,
health and repair must cope with. The public interface cannot produce them at will (and
should not), so a test that checks how the platform copes sets them up here::

    from dpp_sdk.testing import faults

    with testing.open_platform(HERE, state_dir=state) as platform:
        platform.create_instance(service="mydb", name="db1", capacity_gb=10)
        op = faults.leave_running(platform, "repair", "db1", holds_instance=True)
    with testing.open_platform(state_dir=state) as platform:  # recovery runs here
        assert platform.get_operation(op.id).state is dpp.OperationState.FAILED

Each function changes what the platform stores (or what it has loaded) as that situation
would, nothing else; none of them calls a provider. This module (with the crash helpers of
:mod:`dpp_sdk.testing`) is the one place where tests reach the platform's internals: tests
themselves never touch a platform's private attributes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import attrs

from dpp_sdk.contract import InstanceStatus, NotFound, Operation, VolumeInfo
from dpp_sdk.platform import Platform, _resources
from dpp_sdk.platform._records import OperationRecord

__all__ = [
    "DEAD_OWNER",
    "before_each_resume",
    "busy",
    "forget_providers",
    "leave_running",
    "mark_component_lost",
    "on_byte_store_listing",
    "provider_vanished",
    "set_status",
    "while_growing_a_volume",
]

DEAD_OWNER = "999999999::dead"
"""An operation owner that is no live process (no such process id): what
:func:`leave_running` records unless told another."""


_ABSENT = object()


@contextlib.contextmanager
def _replaced(owner: object, name: str, replacement: object) -> Iterator[None]:
    """``owner.name`` is ``replacement`` for the block, then what it was. On an object, an
    instance attribute shadows the class's method for that object only; on a module, its
    global. Set through ``vars()``: assigning to a method is what mypy rightly refuses in
    ordinary code, and these seams are the audited exception."""
    namespace = vars(owner)
    saved = namespace.get(name, _ABSENT)
    namespace[name] = replacement
    try:
        yield
    finally:
        if saved is _ABSENT:
            namespace.pop(name, None)
        else:
            namespace[name] = saved


def leave_running(
    platform: Platform,
    kind: str,
    target: str,
    *,
    owner: str = DEAD_OWNER,
    holds_instance: bool = False,
) -> Operation:
    """Record an operation of ``kind`` (``provision``, ``configure``, ``scale``,
    ``decommission``, ``repair``) on instance ``target`` as ``running``, owned by
    ``owner``, as a process that died while running it leaves it: nothing of its work is
    done. With ``holds_instance``, the instance names it as its current operation, as the
    operation's first commit does (``target`` must then exist). ``owner`` is a process's
    owner tag (``pid:start:token``); the default is no live process, so
    :meth:`~dpp_sdk.platform.Platform.interrupted_operations` lists the operation and the
    next recovery resumes or fails it. Returns the operation as recorded."""
    engine = platform._engine
    run, _ = engine.new(kind, target, {}, None)
    engine.save(run, state="running", owner=owner)
    if holds_instance:
        platform._repo.update_instance(target, operation=run.id)
    return run.record.public


def set_status(platform: Platform, instance: str, status: InstanceStatus) -> None:
    """Record ``instance`` in ``status`` and nothing else, as an operation that ended (or
    is still running) leaves it: ``FAILED`` after a verb gave up, ``SCALING`` while a scale
    runs, ... No provider is called and no queued failure event is delivered (see
    :func:`busy` for that)."""
    platform._repo.update_instance(instance, status=status)


@contextlib.contextmanager
def busy(
    platform: Platform, instance: str, status: InstanceStatus = InstanceStatus.SCALING
) -> Iterator[None]:
    """Hold ``instance`` busy in ``status`` for the block, as while one of its operations
    runs: other verbs are refused with ``Conflict`` and failure events are queued, not
    delivered. When the block ends the instance returns to the status it had and the failure
    events queued meanwhile are handed to its provider's ``on_failure``, oldest first, as
    when an operation ends."""
    if status not in {
        InstanceStatus.PROVISIONING,
        InstanceStatus.CONFIGURING,
        InstanceStatus.SCALING,
        InstanceStatus.DECOMMISSIONING,
    }:
        raise ValueError(f"status: {status!r} is not a status an operation holds")
    before = platform.get_instance(instance).status
    set_status(platform, instance, status)
    try:
        yield
    finally:
        set_status(platform, instance, before)
    platform._repairs.deliver_pending(instance)


def forget_providers(platform: Platform) -> None:
    """Drop the provider objects ``platform`` has loaded, as a restarted process starts
    without them: the next use of each service loads its provider again by reference."""
    platform._catalog.forget_providers()


def provider_vanished(platform: Platform, service: str) -> None:
    """Make every registered version of ``service`` name a provider module that no longer
    exists, and forget the loaded providers, as when a provider's package is uninstalled and
    the process restarts. Its instances cannot reach their provider any more (health
    ``provider/unavailable``, maintenance vetoed; force removal still works)."""
    forget_providers(platform)
    record = platform._repo.service(service)
    gone = tuple(attrs.evolve(v, provider=f"vanished.{v.provider}") for v in record.versions)
    platform._repo.put_service(attrs.evolve(record, versions=gone))


def mark_component_lost(platform: Platform, instance: str, volume: str, component: int) -> None:
    """Record component ``component`` (its index) of volume ``volume`` of ``instance`` as
    lost without destroying its bytes or rebuilding it, as a process killed between
    recording a loss and acting on it leaves it; the next platform opened on the state
    directory finishes the job. NotFound when there is no such component."""
    record = platform._repo.volume(instance, volume)
    found = [c for c in record.components if c.index == component]
    if not found:
        raise NotFound(
            "component", str(component), f"volume {volume!r} of {instance!r} has no such index"
        )
    platform._repo.put_volume(
        record.with_components({component: attrs.evolve(found[0], state="lost")})
    )


@contextlib.contextmanager
def on_byte_store_listing(platform: Platform, action: Callable[[], object]) -> Iterator[None]:
    """Run ``action()`` once, the first time in the block that ``platform`` lists the volumes
    its byte store holds, before the listing is taken. Recovery's tidying does that after it
    has read the volume records and before it saves what it healed: a test can make another
    process act in exactly that window (a race that scheduling otherwise makes rare)."""
    store = platform._resources.bytes
    listing = store.volume_ids
    armed = [True]

    def listed() -> set[str]:
        if armed:
            armed.clear()
            action()
        return listing()

    with _replaced(store, "volume_ids", listed):
        yield


@contextlib.contextmanager
def before_each_resume(platform: Platform, action: Callable[[], object]) -> Iterator[None]:
    """Run ``action()`` each time, in the block, that ``platform``'s recovery is about to
    resume (or fail) an interrupted operation, after it has listed them all and before it
    claims the operation. Open the platform with ``recover=False`` and call
    :meth:`~dpp_sdk.platform.Platform.recover` in the block: two processes that wait for
    each other here make "both listed the operation before either claimed it" certain."""
    recovery = platform._recovery
    resume = recovery._resume

    def resume_after_action(record: OperationRecord) -> None:
        action()
        resume(record)

    with _replaced(recovery, "_resume", resume_after_action):
        yield


@contextlib.contextmanager
def while_growing_a_volume(platform: Platform, action: Callable[[], object]) -> Iterator[None]:
    """Run ``action()`` once, the first time in the block that ``platform`` grows a volume
    (a provider's ``ctx.volumes.expand``, as in a scale), after it has read the volume's
    record and before it changes it: a test can make another process act in exactly that
    window (write to the volume, say), which scheduling otherwise makes rare."""
    resources = platform._resources
    grow = resources.expand_volume
    check_size: Callable[[str, object], None] = vars(_resources)["check_size"]
    armed = [True]
    growing: list[bool] = []

    def expand_volume(instance: str, name: str, size_gb: float) -> VolumeInfo:
        growing.append(True)
        try:
            return grow(instance, name, size_gb)
        finally:
            growing.pop()

    def checked(path: str, size_gb: object) -> None:
        # expand_volume checks the size asked right after reading the record.
        if growing and armed:
            armed.clear()
            action()
        check_size(path, size_gb)

    # The size check is the module's (its expand_volume calls it by its global name), so
    # it acts only while this platform's expand_volume runs.
    with (
        _replaced(resources, "expand_volume", expand_volume),
        _replaced(_resources, "check_size", checked),
    ):
        yield
