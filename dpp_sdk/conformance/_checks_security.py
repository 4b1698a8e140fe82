"""Security: secrets stay out of everything the platform shows; a provider reaches only its own
instance; a probe or context dies with its instance."""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Callable
from functools import partial

from dpp_sdk.conformance._registry import Category, Skip, check
from dpp_sdk.conformance._steps import member_hosts
from dpp_sdk.conformance._trial import Trial, report_text, said
from dpp_sdk.contract import DppError, HealthStatus, NotFound, ScopeViolation, to_json

Z = Category.SECURITY


def _secret_values(t: Trial, name: str) -> dict[str, str]:
    found = t.lab.secret_values(t.platform, name)
    return {secret: value for secret, value in found.items() if len(value) >= 6}


_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{8,}")


def _appears(value: str, text: str) -> bool:
    """Whether ``value`` appears in ``text`` as is, URL-encoded, or inside a base64 or hex
    token (a password in a Basic authorization header, say)."""
    if value in text or urllib.parse.quote(value, safe="") in text:
        return True
    wanted = value.encode()
    for token in _TOKEN.findall(text):
        for decode in (_b64, _hex):
            decoded = decode(token)
            if decoded is not None and wanted in decoded:
                return True
    return False


def _b64(token: str) -> bytes | None:
    try:
        return base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        return None


def _hex(token: str) -> bytes | None:
    try:
        return bytes.fromhex(token)
    except ValueError:
        return None


def _surfaces(t: Trial, name: str) -> dict[str, str]:
    """Everything the platform shows about ``name``, as text, by where it is shown, and what
    the provider's monitor returns before the platform redacts it."""
    platform = t.platform
    shown = {
        "provider's own health report": report_text(t.provider_report(name)),
        "instance (dpp instance show)": to_json(platform.get_instance(name)),
        "health (dpp instance health)": to_json(platform.instance_health(name)),
        "cluster health": to_json(platform.cluster_health()),
        "audit (dpp audit)": "\n".join(to_json(r) for r in platform.audit(limit=None)),
        "events (dpp events)": "\n".join(to_json(e) for e in platform.events()),
        "operations (dpp operation list)": "\n".join(
            to_json(o) for o in platform.list_operations(limit=None)
        ),
        "endpoints": "\n".join(e.url for e in platform.get_instance(name).endpoints),
    }
    log = t.lab.log_text(platform)
    if log is not None:
        shown["platform log"] = log
    return shown


@check(
    "SEC-001",
    Z,
    "Secret values never appear in logs, health, audit, events, operations, endpoints or documents",
    quick=True,
)
def secrets_stay_hidden(t: Trial) -> None:
    t.open(on_disk=True)  # so the platform log is a file that can be read
    t.create("c1")
    secrets = _secret_values(t, "c1")
    if not secrets:
        raise Skip("the instance holds no secret of 6 characters or more")
    hosts = sorted(set(member_hosts(t.platform.get_instance("c1")).values()))
    if hosts:
        t.platform.inject_host_failure(hosts[0])  # health under a fault says the most
    for where, text in _surfaces(t, "c1").items():
        for secret, value in secrets.items():
            t.expect(
                not _appears(value, text),
                f"secret {secret!r}'s value kept out of the {where}",
                f"it appears in the {where}",
            )


@check(
    "SEC-002",
    Z,
    "Two instances of the service never see each other's data or holdings",
    needs=("data_probe",),
    quick=True,
)
def instances_are_isolated(t: Trial) -> None:
    t.create("a")
    t.create("b")
    data_a = t.write_canary("a", key="shared-key")
    data_b = t.write_canary("b", key="shared-key")
    t.read_canary("a", data_a, after="b wrote the same key", key="shared-key")
    t.read_canary("b", data_b, after="a wrote the same key", key="shared-key")
    before = t.holding("b")
    t.remove("a")
    t.read_canary("b", data_b, after="a was removed", key="shared-key")
    after = t.holding("b")
    t.expect(after == before, "b unchanged by a's removal", after.difference(before))
    t.expect(
        t.health("b") == HealthStatus.GREEN, "b green after a's removal", lambda: t.health_text("b")
    )


@check(
    "SEC-003",
    Z,
    "A probe or context of a removed instance refuses to act, even if a new one takes its name",
    quick=True,
)
def probe_and_context_die_with_the_instance(t: Trial) -> None:
    t.create("c1")
    ctx = t.lab.hold_context(t.platform, "c1")
    probe = t.lab.probe(t.platform, "c1")
    t.remove("c1")
    t.create("c1")
    attempts: list[tuple[str, Callable[[], object]]] = [("context volumes.list", ctx.list_volumes)]
    if probe is not None:
        attempts += [
            ("probe write", partial(probe.write, "stale", b"x")),
            ("probe read", partial(probe.read, "conformance-canary")),
        ]
    for what, attempt in attempts:
        try:
            attempt()
        except (NotFound, ScopeViolation):
            continue
        except KeyError:
            t.fail(
                f"the old {what} to refuse (NotFound or ScopeViolation)",
                "it reached the new instance (KeyError: no such key there)",
            )
        except DppError as error:
            t.fail(
                f"the old {what} to refuse with NotFound or ScopeViolation",
                f"it raised {said(error)}",
            )
        else:
            t.fail(f"the old {what} to refuse", "it acted on the new instance of the same name")
