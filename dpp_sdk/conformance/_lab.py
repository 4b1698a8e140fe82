"""Where a trial's platforms come from, and the few things a check does beside the public
platform interface (:class:`~dpp_sdk.platform.PlatformAPI`): call one provider verb
directly, read an instance's secret values, hold a context past its instance's removal,
use the data probe, count a verb's context calls, and kill a verb at one of them and resume
(the platform reopened from its state directory, recovering the operation).

:class:`Lab` is that interface. :class:`LocalLab` does it in this process. The client's
:class:`~dpp_sdk.client.RemoteLab` does it in a gateway's sandbox (``/v1/sandboxes``),
where the server runs this same :class:`LocalLab`, so a check runs unchanged in-process or
through the gateway: everything else it does goes through the public platform interface.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import attrs

from dpp_sdk.contract import (
    ConfigureRequest,
    DataProbe,
    DecommissionRequest,
    HealthReport,
    Operation,
    ProvisionRequest,
    ScaleRequest,
    ServiceProvider,
    ValidationError,
)
from dpp_sdk.platform import ClusterConfig, ManualClock, Platform, PlatformAPI
from dpp_sdk.testing import context, count_context_calls, crash_and_resume, open_platform

__all__ = [
    "CLOCK_START",
    "Lab",
    "LocalLab",
    "ProviderRequest",
    "Step",
    "StepCall",
    "verb_of",
]

#: Simulated time starts here on every platform a lab opens, so a seed replays the same run.
CLOCK_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

StepCall = Literal["create_instance", "configure_instance", "scale_instance", "remove_instance"]
STEP_CALLS: tuple[str, ...] = get_args(StepCall)

ProviderRequest = ProvisionRequest | ConfigureRequest | ScaleRequest | DecommissionRequest | None
"""What :meth:`Lab.call_provider` hands the provider; None calls ``monitor``."""

_VERBS: dict[type[Any], str] = {
    ProvisionRequest: "provision",
    ConfigureRequest: "configure",
    ScaleRequest: "scale",
    DecommissionRequest: "decommission",
    type(None): "monitor",
}


def verb_of(request: ProviderRequest) -> str:
    """The provider verb ``request`` is for (``monitor`` for None)."""
    return _VERBS[type(request)]


@attrs.frozen(kw_only=True)
class Step:
    """One platform call a crash check runs, as data (so a gateway can run it too): one of
    :data:`StepCall` with its keyword arguments (JSON values)."""

    call: StepCall
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.call not in STEP_CALLS:
            raise ValidationError.single(
                "$.step.call", self.call, f"must be one of {', '.join(STEP_CALLS)}"
            )

    def run(self, platform: PlatformAPI) -> Operation:
        """Make the call on ``platform``."""
        method: Callable[..., Operation] = getattr(platform, self.call)
        return method(**self.kwargs)


class HeldContext(Protocol):
    """A provider context of an instance, kept open (see :meth:`Lab.hold_context`)."""

    def list_volumes(self) -> list[str]:
        """The names of the instance's volumes, as the context lists them (it refuses once its
        instance is gone)."""
        ...


class Lab(Protocol):
    """Where checks get platforms, and what they do beside the public interface."""

    @property
    def where(self) -> str:
        """Where the platforms run, as the report records it (``in-process``, ``gateway
        URL``)."""
        ...

    def open(
        self,
        provider: str | type[ServiceProvider],
        *,
        config: ClusterConfig,
        on_disk: bool = False,
    ) -> PlatformAPI:
        """A fresh platform on ``config`` with ``provider`` registered, its clock manual at
        :data:`CLOCK_START`; ``on_disk`` keeps its state in a new state directory (which a
        crash needs, and which makes the platform log a file)."""
        ...

    def call_provider(
        self, platform: PlatformAPI, instance: str, request: ProviderRequest
    ) -> HealthReport | None:
        """Call the provider's verb for ``request`` directly (not as an operation) with a
        fresh context of ``instance`` (read-only for ``monitor``); ``monitor``'s report is
        returned. What the verb raises is raised."""
        ...

    def secret_values(self, platform: PlatformAPI, instance: str) -> dict[str, str]:
        """The revealed values of ``instance``'s secrets, by name."""
        ...

    def hold_context(self, platform: PlatformAPI, instance: str) -> HeldContext:
        """A context of ``instance`` that stays open until the platform is discarded."""
        ...

    def probe(self, platform: PlatformAPI, instance: str) -> DataProbe | None:
        """``instance``'s data probe (bound to it: it refuses once the instance is gone), or
        None when the provider offers none."""
        ...

    def count_context_calls(
        self, platform: PlatformAPI, step: Step, *, verbs: Collection[str]
    ) -> int:
        """Run ``step`` and return how many context calls ``verbs`` made."""
        ...

    def crash_and_resume(
        self, platform: PlatformAPI, step: Step, *, after_calls: int, verbs: Collection[str]
    ) -> tuple[bool, PlatformAPI]:
        """Run ``step`` on the on-disk ``platform``, kill it after ``after_calls`` context
        calls of ``verbs``, and reopen its state directory (recovery resumes the operation).
        Returns whether the kill happened and the platform to go on with."""
        ...

    def log_text(self, platform: PlatformAPI) -> str | None:
        """The platform log's text, or None when the platform keeps no log file."""
        ...

    def discard(self, platform: PlatformAPI) -> None:
        """Close ``platform`` and delete its files (repeating it does nothing)."""
        ...


@attrs.define
class _Opened:
    platform: Platform
    clock: ManualClock
    base: Path | None


class LocalLab:
    """A :class:`Lab` in this process: platforms from :func:`~dpp_sdk.testing.open_platform`
    on manual clocks, in memory or on temporary state directories."""

    def __init__(self) -> None:
        self._opened: dict[int, _Opened] = {}

    @property
    def where(self) -> str:
        return "in-process"

    def _entry(self, platform: PlatformAPI) -> _Opened:
        entry = self._opened.get(id(platform))
        if entry is None or entry.platform is not platform:
            raise ValueError(f"{platform!r} was not opened by this lab (or was discarded)")
        return entry

    def platform(self, platform: PlatformAPI) -> Platform:
        """The in-process platform behind ``platform`` (one this lab opened)."""
        return self._entry(platform).platform

    def open(
        self,
        provider: str | type[ServiceProvider],
        *,
        config: ClusterConfig,
        on_disk: bool = False,
    ) -> Platform:
        base = Path(tempfile.mkdtemp(prefix="dpp-conformance-")) if on_disk else None
        clock = ManualClock(CLOCK_START)
        try:
            platform = open_platform(
                provider,
                state_dir=None if base is None else base / "state",
                clock=clock,
                config=config,
            )
        except BaseException:
            if base is not None:
                shutil.rmtree(base, ignore_errors=True)
            raise
        self._opened[id(platform)] = _Opened(platform, clock, base)
        return platform

    def call_provider(
        self, platform: PlatformAPI, instance: str, request: ProviderRequest
    ) -> HealthReport | None:
        local = self.platform(platform)
        provider = local.provider_for(instance)
        if request is None:
            return provider.monitor(context(local, instance, read_only=True))
        ctx = context(local, instance)
        if isinstance(request, ProvisionRequest):
            provider.provision(ctx, request)
        elif isinstance(request, ConfigureRequest):
            provider.configure(ctx, request)
        elif isinstance(request, ScaleRequest):
            provider.scale(ctx, request)
        else:
            provider.decommission(ctx, request)
        return None

    def secret_values(self, platform: PlatformAPI, instance: str) -> dict[str, str]:
        ctx = context(self.platform(platform), instance, read_only=True)
        found = {}
        for info in ctx.secrets.list():
            secret = ctx.secrets.find(info.name)
            if secret is not None:
                found[info.name] = secret.reveal()
        return found

    def hold_context(self, platform: PlatformAPI, instance: str) -> HeldContext:
        return _Held(context(self.platform(platform), instance))

    def probe(self, platform: PlatformAPI, instance: str) -> DataProbe | None:
        return self.platform(platform).data_probe(instance)

    def count_context_calls(
        self, platform: PlatformAPI, step: Step, *, verbs: Collection[str]
    ) -> int:
        return count_context_calls(self.platform(platform), step.run, verbs=verbs)

    def crash_and_resume(
        self, platform: PlatformAPI, step: Step, *, after_calls: int, verbs: Collection[str]
    ) -> tuple[bool, Platform]:
        entry = self._entry(platform)
        if entry.base is None:
            raise ValueError("a crash needs a platform opened on_disk")
        entry.platform.close()
        del self._opened[id(platform)]
        crashed, reopened = crash_and_resume(
            entry.base / "state", step.run, after_calls=after_calls, clock=entry.clock, verbs=verbs
        )
        self._opened[id(reopened)] = _Opened(reopened, entry.clock, entry.base)
        return crashed, reopened

    def log_text(self, platform: PlatformAPI) -> str | None:
        path = self.platform(platform).log_path
        if path is None or not path.exists():
            return None
        return path.read_text(errors="replace")

    def discard(self, platform: PlatformAPI) -> None:
        entry = self._opened.pop(id(platform), None)
        if entry is None or entry.platform is not platform:
            return
        with contextlib.suppress(Exception):  # a killed platform may refuse to close
            entry.platform.close()
        if entry.base is not None:
            shutil.rmtree(entry.base, ignore_errors=True)


@attrs.frozen
class _Held:
    ctx: Any

    def list_volumes(self) -> list[str]:
        return [v.name for v in self.ctx.volumes.list()]
