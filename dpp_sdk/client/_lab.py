""":class:`RemoteLab`: the conformance suite's :class:`~dpp_sdk.conformance.Lab` in a
gateway's sandboxes, so ``dpp conformance run PROVIDER --url URL`` certifies a provider
through the gateway.

Each platform a check opens is a sandbox (``POST /v1/sandboxes``) driven by a
:class:`PlatformClient` that sends its id in the ``Dpp-Sandbox`` header: every platform call
the check makes goes over HTTP. The few things a check does beside the platform interface go
to ``POST /v1/sandboxes/{id}/actions``, where the gateway runs the suite's own
:class:`~dpp_sdk.conformance.LocalLab`. The provider runs in the gateway's process, so the
gateway must be able to load it: a provider directory at the same path, or an importable
``module:Class``.
"""

from __future__ import annotations

import base64
import builtins
from collections.abc import Collection
from typing import Any

from dpp_sdk.client._client import PlatformClient
from dpp_sdk.client._errors import GatewayError
from dpp_sdk.conformance import ProviderRequest, Step, verb_of
from dpp_sdk.contract import (
    DataProbe,
    HealthReport,
    NotFound,
    ServiceProvider,
    structure,
    unstructure,
)
from dpp_sdk.platform import ClusterConfig, PlatformAPI

__all__ = ["RemoteLab"]


class RemoteLab:
    """A :class:`~dpp_sdk.conformance.Lab` whose platforms are sandboxes of the gateway at
    ``url`` (the admin ``token`` is needed: sandboxes are the admin's)."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 660.0) -> None:
        self.url = url
        self._token = token
        self._timeout = timeout
        self._gateway = PlatformClient(url, token, timeout=timeout)

    def __repr__(self) -> str:
        return f"RemoteLab({self.url!r})"

    @property
    def where(self) -> str:
        return f"gateway {self._gateway.url}"

    def close(self) -> None:
        """Close the connection to the gateway (sandboxes are discarded one by one)."""
        self._gateway.close()

    def __enter__(self) -> RemoteLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(
        self,
        provider: str | type[ServiceProvider],
        *,
        config: ClusterConfig,
        on_disk: bool = False,
    ) -> PlatformClient:
        ref = (
            provider
            if isinstance(provider, str)
            else f"{provider.__module__}:{provider.__qualname__}"
        )
        created = self._gateway.request_json(
            "POST",
            "/v1/sandboxes",
            {"provider": ref, "cluster": config.to_ini(), "on_disk": on_disk},
        )
        return PlatformClient(
            self._gateway.url, self._token, timeout=self._timeout, sandbox=str(created["id"])
        )

    def _act(self, platform: PlatformAPI, action: str, **members: Any) -> dict[str, Any]:
        client = _sandbox_client(platform)
        try:
            answer = client.request_json(
                "POST", f"/v1/sandboxes/{client.sandbox}/actions", {"action": action, **members}
            )
        except GatewayError as exc:
            raise _raised(exc) from None
        return dict(answer)

    def call_provider(
        self, platform: PlatformAPI, instance: str, request: ProviderRequest
    ) -> HealthReport | None:
        members: dict[str, Any] = {"instance": instance, "verb": verb_of(request)}
        if request is not None:
            members["request"] = unstructure(request)
        report = self._act(platform, "call-provider", **members)["report"]
        return None if report is None else structure(report, HealthReport)

    def secret_values(self, platform: PlatformAPI, instance: str) -> dict[str, str]:
        values = self._act(platform, "secret-values", instance=instance)["values"]
        return {str(name): str(value) for name, value in values.items()}

    def hold_context(self, platform: PlatformAPI, instance: str) -> _RemoteContext:
        handle = self._act(platform, "hold-context", instance=instance)["handle"]
        return _RemoteContext(self, platform, str(handle))

    def probe(self, platform: PlatformAPI, instance: str) -> DataProbe | None:
        handle = self._act(platform, "open-probe", instance=instance)["handle"]
        return None if handle is None else _RemoteProbe(self, platform, str(handle))

    def count_context_calls(
        self, platform: PlatformAPI, step: Step, *, verbs: Collection[str]
    ) -> int:
        answer = self._act(platform, "count-context-calls", step=_step(step), verbs=sorted(verbs))
        return int(answer["calls"])

    def crash_and_resume(
        self, platform: PlatformAPI, step: Step, *, after_calls: int, verbs: Collection[str]
    ) -> tuple[bool, PlatformAPI]:
        answer = self._act(
            platform,
            "crash-and-resume",
            step=_step(step),
            after_calls=after_calls,
            verbs=sorted(verbs),
        )
        return bool(answer["crashed"]), platform  # the sandbox goes on with the reopened one

    def log_text(self, platform: PlatformAPI) -> str | None:
        text = self._act(platform, "log")["text"]
        return None if text is None else str(text)

    def discard(self, platform: PlatformAPI) -> None:
        client = _sandbox_client(platform)
        try:
            client.request_json("DELETE", f"/v1/sandboxes/{client.sandbox}")
        except NotFound:
            pass  # discarded already
        finally:
            client.close()


class _RemoteContext:
    def __init__(self, lab: RemoteLab, platform: PlatformAPI, handle: str) -> None:
        self._lab, self._platform, self._handle = lab, platform, handle

    def list_volumes(self) -> list[str]:
        answer = self._lab._act(self._platform, "context-volumes", handle=self._handle)
        return [str(name) for name in answer["volumes"]]


class _RemoteProbe(DataProbe):
    def __init__(self, lab: RemoteLab, platform: PlatformAPI, handle: str) -> None:
        self._lab, self._platform, self._handle = lab, platform, handle

    def write(self, key: str, data: bytes) -> None:
        encoded = base64.b64encode(data).decode("ascii")
        self._lab._act(self._platform, "probe-write", handle=self._handle, key=key, data=encoded)

    def read(self, key: str) -> bytes:
        answer = self._lab._act(self._platform, "probe-read", handle=self._handle, key=key)
        return base64.b64decode(answer["data"])


def _sandbox_client(platform: PlatformAPI) -> PlatformClient:
    if not isinstance(platform, PlatformClient) or platform.sandbox is None:
        raise TypeError(f"{platform!r} is not a sandbox this lab opened")
    return platform


def _step(step: Step) -> dict[str, Any]:
    return {"call": step.call, "kwargs": dict(step.kwargs)}


def _raised(exc: GatewayError) -> Exception:
    """What the provider raised in the sandbox, when it was a built-in exception (a
    ``KeyError`` from a probe's read of a key never written, say): that exception again.
    The platform's and the contract's exceptions are rebuilt by the client already."""
    name = exc.problem.get("error")
    found = getattr(builtins, name, None) if isinstance(name, str) else None
    if isinstance(found, type) and issubclass(found, Exception):
        return found(str(exc.problem.get("detail", "")))
    return exc
