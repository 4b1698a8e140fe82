"""Sandboxes: fresh platforms inside the gateway for running the conformance suite through it
(``dpp conformance run PROVIDER --url ...``). Admin only.

A conformance check runs on a platform of its own: a cluster it chooses, a manual clock,
nothing else on it. Through the gateway, each such platform is a sandbox the client opens
with ``POST /v1/sandboxes`` and addresses by sending its id in the ``Dpp-Sandbox`` header on
any ``/v1`` route (the gateway's own platform is untouched). What a check does beside the
public platform interface (call a provider verb directly, hold a context, use the data
probe, count a verb's context calls, kill a verb and resume) goes to
``POST /v1/sandboxes/{id}/actions``, which runs the conformance suite's own
:class:`~dpp_sdk.conformance.LocalLab` here, so a check behaves the same in-process and over
HTTP. Contexts and probes a check holds stay here, named by handles.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from dpp_sdk.conformance import LocalLab, Step
from dpp_sdk.contract import (
    ConfigureRequest,
    Conflict,
    DataProbe,
    DecommissionRequest,
    DppError,
    NotFound,
    Problem,
    ProvisionRequest,
    ScaleRequest,
    ValidationError,
    structure,
    unstructure,
)
from dpp_sdk.gateway._problems import Raised, problem_for
from dpp_sdk.gateway._routes import Args, Endpoint, not_a_platform_call
from dpp_sdk.platform import ClusterConfig, ConfigError, PlatformAPI
from dpp_sdk.platform._config_ini import parse_config
from dpp_sdk.testing import cluster

__all__ = ["SANDBOX_CALLS", "SANDBOX_ENDPOINTS", "SANDBOX_HEADER", "Sandboxes"]

SANDBOX_HEADER = "Dpp-Sandbox"
MAX_SANDBOXES = 16

_REQUESTS: dict[str, type[Any]] = {
    "provision": ProvisionRequest,
    "configure": ConfigureRequest,
    "scale": ScaleRequest,
    "decommission": DecommissionRequest,
}


@attrs.define
class _Sandbox:
    id: str
    provider: str
    on_disk: bool
    created_at: _dt.datetime
    platform: PlatformAPI
    handles: dict[str, Any] = attrs.field(factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "on_disk": self.on_disk,
            "created_at": self.created_at.isoformat(),
        }


def _config(text: str) -> ClusterConfig:
    """The cluster ``text`` (INI) describes; ValidationError naming ``$.cluster`` and each
    problem's place in the text when it is not a valid configuration."""
    try:
        return parse_config(text, "$.cluster")
    except ConfigError as invalid:
        raise ValidationError(
            "the cluster configuration ($.cluster) is invalid",
            [
                Problem(path="$.cluster", value=f"{p.location}: {p.value}", message=p.message)
                for p in invalid.problems
            ],
        ) from None


class Sandboxes:
    """The gateway's open sandboxes (at most :data:`MAX_SANDBOXES` at once)."""

    def __init__(self) -> None:
        self._lab = LocalLab()
        self._open: dict[str, _Sandbox] = {}
        self._opening = 0  # sandboxes being opened (counted against the limit)
        self._lock = threading.Lock()

    def create(self, provider: str, cluster_ini: str | None, on_disk: bool) -> dict[str, Any]:
        config = cluster() if cluster_ini is None else _config(cluster_ini)
        with self._lock:
            if len(self._open) + self._opening >= MAX_SANDBOXES:
                raise Conflict(
                    f"{MAX_SANDBOXES} sandboxes are open already; delete one "
                    "(DELETE /v1/sandboxes/{id}) before opening another"
                )
            self._opening += 1
        try:
            platform = self._lab.open(provider, config=config, on_disk=on_disk)
        finally:
            with self._lock:
                self._opening -= 1
        sandbox_id = f"sbx-{uuid.uuid4().hex[:12]}"
        sandbox = _Sandbox(sandbox_id, provider, on_disk, _dt.datetime.now(_dt.UTC), platform)
        with self._lock:
            self._open[sandbox_id] = sandbox
        return sandbox.describe()

    def get(self, sandbox_id: str) -> _Sandbox:
        with self._lock:
            found = self._open.get(sandbox_id)
        if found is None:
            raise NotFound("sandbox", sandbox_id, "no such sandbox (deleted, or never opened)")
        return found

    def platform(self, sandbox_id: str) -> PlatformAPI:
        """The platform of sandbox ``sandbox_id`` (NotFound if there is none)."""
        return self.get(sandbox_id).platform

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.describe() for s in self._open.values()]

    def delete(self, sandbox_id: str) -> None:
        sandbox = self.get(sandbox_id)
        with self._lock:
            self._open.pop(sandbox_id, None)
        self._lab.discard(sandbox.platform)

    def close(self) -> None:
        """Delete every sandbox (when the gateway stops)."""
        with self._lock:
            opened = list(self._open.values())
            self._open.clear()
        for sandbox in opened:
            self._lab.discard(sandbox.platform)

    # ------------------------------------------------------------------ actions

    def act(self, sandbox_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Run one action (``body["action"]``) in the sandbox; see :data:`_ACTIONS`."""
        sandbox = self.get(sandbox_id)
        name = body.get("action")
        action = _ACTIONS.get(name) if isinstance(name, str) else None
        if action is None:
            raise ValidationError.single(
                "$.action", name, f"must be one of {', '.join(sorted(_ACTIONS))}"
            )
        try:
            return action(self._lab, sandbox, _Body(body))
        except DppError as exc:
            if problem_for(exc) is not None:
                raise
            raise Raised(exc) from exc
        except Exception as exc:
            # What the provider, its probe or a context raised (a KeyError for a key never
            # written, say): the check judges it, so it is answered, not a server fault.
            raise Raised(exc) from exc


class _Body:
    """An action's members, each checked as it is read (naming ``$.member``)."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body

    def get(
        self, name: str, kind: type[Any] | tuple[type[Any], ...], *, required: bool = True
    ) -> Any:
        value = self.body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise ValidationError.single(f"$.{name}", value, f"must be {_kind(kind)}")
        return value

    def step(self) -> Step:
        raw = self.get("step", dict)
        kwargs = raw.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise ValidationError.single("$.step.kwargs", kwargs, "must be an object")
        return Step(call=raw.get("call"), kwargs=kwargs)

    def verbs(self) -> list[str]:
        verbs = self.get("verbs", list)
        if not all(isinstance(v, str) for v in verbs):
            raise ValidationError.single("$.verbs", verbs, "must be a list of verb names")
        return [str(verb) for verb in verbs]


def _kind(kind: type[Any] | tuple[type[Any], ...]) -> str:
    names = {str: "a string", int: "an integer", dict: "an object", list: "a list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _handle(sandbox: _Sandbox, body: _Body, kind: str) -> Any:
    handle = body.get("handle", str)
    found = sandbox.handles.get(handle)
    if found is None or found[0] != kind:
        raise NotFound(kind, handle, f"no {kind} of this sandbox has this handle")
    return found[1]


def _keep(sandbox: _Sandbox, kind: str, thing: object) -> str:
    handle = f"{kind}-{len(sandbox.handles) + 1}"
    sandbox.handles[handle] = (kind, thing)
    return handle


def _call_provider(lab: LocalLab, sandbox: _Sandbox, body: _Body) -> dict[str, Any]:
    verb = body.get("verb", str)
    if verb != "monitor" and verb not in _REQUESTS:
        raise ValidationError.single(
            "$.verb", verb, f"must be monitor or one of {', '.join(_REQUESTS)}"
        )
    request = None if verb == "monitor" else structure(body.get("request", dict), _REQUESTS[verb])
    report = lab.call_provider(sandbox.platform, body.get("instance", str), request)
    return {"report": None if report is None else unstructure(report)}


def _hold_context(lab: LocalLab, sandbox: _Sandbox, body: _Body) -> dict[str, Any]:
    held = lab.hold_context(sandbox.platform, body.get("instance", str))
    return {"handle": _keep(sandbox, "context", held)}


def _open_probe(lab: LocalLab, sandbox: _Sandbox, body: _Body) -> dict[str, Any]:
    probe = lab.probe(sandbox.platform, body.get("instance", str))
    return {"handle": None if probe is None else _keep(sandbox, "probe", probe)}


def _probe_write(lab: LocalLab, sandbox: _Sandbox, body: _Body) -> dict[str, Any]:
    probe: DataProbe = _handle(sandbox, body, "probe")
    try:
        data = base64.b64decode(body.get("data", str), validate=True)
    except binascii.Error as exc:
        raise ValidationError.single(
            "$.data", body.body["data"], f"must be base64: {exc}"
        ) from None
    probe.write(body.get("key", str), data)
    return {}


def _probe_read(lab: LocalLab, sandbox: _Sandbox, body: _Body) -> dict[str, Any]:
    probe: DataProbe = _handle(sandbox, body, "probe")
    return {"data": base64.b64encode(probe.read(body.get("key", str))).decode("ascii")}


def _crash(lab: LocalLab, sandbox: _Sandbox, body: _Body) -> dict[str, Any]:
    after = body.get("after_calls", int)
    if after < 0:
        raise ValidationError.single("$.after_calls", after, "must be >= 0")
    crashed, reopened = lab.crash_and_resume(
        sandbox.platform, body.step(), after_calls=after, verbs=body.verbs()
    )
    sandbox.platform = reopened
    sandbox.handles.clear()  # what was held belonged to the killed process
    return {"crashed": crashed}


_ACTIONS: dict[str, Callable[[LocalLab, _Sandbox, _Body], dict[str, Any]]] = {
    "call-provider": _call_provider,
    "secret-values": lambda lab, s, b: {
        "values": lab.secret_values(s.platform, b.get("instance", str))
    },
    "hold-context": _hold_context,
    "context-volumes": lambda lab, s, b: {"volumes": _handle(s, b, "context").list_volumes()},
    "open-probe": _open_probe,
    "probe-write": _probe_write,
    "probe-read": _probe_read,
    "count-context-calls": lambda lab, s, b: {
        "calls": lab.count_context_calls(s.platform, b.step(), verbs=b.verbs())
    },
    "crash-and-resume": _crash,
    "log": lambda lab, s, b: {"text": lab.log_text(s.platform)},
}
"""Every action of ``POST /v1/sandboxes/{id}/actions``, by name."""


def _create(sandboxes: Sandboxes, args: Args) -> dict[str, Any]:
    body = _Body(args.body)
    return sandboxes.create(
        body.get("provider", str),
        body.get("cluster", str, required=False),
        bool(body.get("on_disk", bool, required=False)),
    )


def _delete(sandboxes: Sandboxes, args: Args) -> None:
    sandboxes.delete(args.path["id"])


SANDBOX_CALLS: dict[str, Callable[[Sandboxes, Args], Any]] = {
    "createSandbox": _create,
    "listSandboxes": lambda sandboxes, args: sandboxes.list(),
    "deleteSandbox": _delete,
    "sandboxAction": lambda sandboxes, args: sandboxes.act(args.path["id"], args.body),
}


SANDBOX_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        method="POST",
        path="/v1/sandboxes",
        operation_id="createSandbox",
        summary="Open a sandbox (admin only): a fresh platform with `provider` registered "
        "(as the server resolves it), on the cluster `cluster` describes (INI text, as "
        "`dpp platform init --config` takes; default: 4 hosts), its clock manual, in memory "
        "or (`on_disk`) on a temporary state directory. Address it with the `Dpp-Sandbox` "
        "header on any /v1 route.",
        call=not_a_platform_call,
        body={"provider": "string", "cluster": "string", "on_disk": "boolean"},
        required=("provider",),
        reply="created",
        location=lambda created: f"/v1/sandboxes/{created['id']}",
    ),
    Endpoint(
        method="GET",
        path="/v1/sandboxes",
        operation_id="listSandboxes",
        summary="The open sandboxes (admin only).",
        call=not_a_platform_call,
        schema="DocumentList",
    ),
    Endpoint(
        method="DELETE",
        path="/v1/sandboxes/{id}",
        operation_id="deleteSandbox",
        summary="Close a sandbox and delete its files (admin only).",
        call=not_a_platform_call,
        reply="empty",
    ),
    Endpoint(
        method="POST",
        path="/v1/sandboxes/{id}/actions",
        operation_id="sandboxAction",
        summary="What a conformance check does beside the platform API (admin only): "
        "`action` is one of call-provider, secret-values, hold-context, context-volumes, "
        "open-probe, probe-write, probe-read, count-context-calls, crash-and-resume, log "
        "(see docs/gateway.md, Sandboxes). What the provider raised is answered as a "
        "422 problem naming its class in `error`.",
        call=not_a_platform_call,
        body={
            "action": "string",
            "instance": "string",
            "verb": "string",
            "request": "object",
            "handle": "string",
            "key": "string",
            "data": "string",
            "step": "object",
            "verbs": "array",
            "after_calls": "integer",
        },
        required=("action",),
    ),
)
