"""Argument checks shared by the platform's requests; every problem names its JSON path.

These run before anything is stored or allocated, and report every problem at once where a
request has several fields.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TypeVar, cast

from dpp_sdk.contract import (
    AntiAffinity,
    MaintenanceMode,
    PlacementFailed,
    PoolAntiAffinity,
    Problem,
    QuotaExceeded,
    ValidationError,
    VolumeClaim,
)
from dpp_sdk.contract._errors import count
from dpp_sdk.platform._cluster import PlacementError
from dpp_sdk.platform._cluster import QuotaExceeded as QuotaShortfall
from dpp_sdk.platform._policies import Policy

__all__ = [
    "MASK",
    "mask_parameters",
    "secret_parameter_names",
    "DEFAULT_PAGE",
    "check_limit",
    "check_seq",
    "check_text",
    "decode_cursor",
    "encode_cursor",
    "INSTANCE_NAME",
    "anti_affinity_rules",
    "check_member_request",
    "check_pool_anti_affinity",
    "check_request_types",
    "check_resource_name",
    "check_size",
    "maintenance_mode",
    "placement_errors",
]

T = TypeVar("T")
MASK = "********"  # what a secret parameter shows (the journal redacts to the same)
DEFAULT_PAGE = 100
MAX_PAGE = 10_000
MAX_SEQ = 2**63 - 1  # SQLite's largest integer: a sequence number or a cursor's position
RESOURCE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
INSTANCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")


def check_size(path: str, size_gb: object) -> None:
    if (
        isinstance(size_gb, bool)
        or not isinstance(size_gb, int | float)
        or not math.isfinite(size_gb)
        or size_gb <= 0
    ):
        raise ValidationError.single(path, size_gb, "must be a finite number of GB > 0")


def _claim_problems(volumes: Sequence[object]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, claim in enumerate(volumes):
        if not isinstance(claim, VolumeClaim):
            problems.append(
                Problem(path=f"$.volumes[{i}]", value=repr(claim), message="must be a VolumeClaim")
            )
            continue
        if claim.name in seen:
            problems.append(
                Problem(path=f"$.volumes[{i}].name", value=claim.name, message="claimed twice")
            )
        seen.add(claim.name)
        try:
            check_size(f"$.volumes[{i}].size_gb", claim.size_gb)
        except ValidationError as exc:
            problems.extend(exc.problems)
        problems.extend(_pool_rule_problems(f"$.volumes[{i}].pool_anti_affinity", claim))
    return problems


def _rule_problems(path: str, group: object, required: object) -> list[Problem]:
    """What is wrong with an anti-affinity rule's ``group`` and ``required`` (partners' code
    may not be typed)."""
    problems: list[Problem] = []
    if not isinstance(required, bool):
        problems.append(
            Problem(
                path=f"{path}.required",
                value=required,
                message="must be true (required) or false (preferred)",
            )
        )
    if not (isinstance(group, str) and group):
        problems.append(
            Problem(path=f"{path}.group", value=group, message="must be a non-empty string")
        )
    return problems


def _split_rules(value: object) -> tuple[object, ...]:
    """``members.ensure``'s ``anti_affinity`` as a tuple: None, one rule, or several."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(value)
    return (value,)


def anti_affinity_rules(
    value: AntiAffinity | Sequence[AntiAffinity] | None,
) -> tuple[AntiAffinity, ...]:
    """A checked (:func:`check_member_request`) ``anti_affinity`` as a tuple of rules."""
    rules = _split_rules(value)
    assert all(isinstance(rule, AntiAffinity) for rule in rules), rules
    return cast(tuple[AntiAffinity, ...], rules)


def _anti_affinity_problems(value: object) -> list[Problem]:
    rules = _split_rules(value)
    if len(rules) == 1 and not isinstance(value, list | tuple):
        return _one_rule_problems("$.anti_affinity", rules[0])
    problems = []
    for i, rule in enumerate(rules):
        problems.extend(_one_rule_problems(f"$.anti_affinity[{i}]", rule))
    return problems


def _one_rule_problems(path: str, rule: object) -> list[Problem]:
    if not isinstance(rule, AntiAffinity):
        return [Problem(path=path, value=repr(rule), message="must be a dpp_sdk.AntiAffinity")]
    problems: list[Problem] = []
    if rule.scope not in ("host", "fault-domain"):
        problems.append(
            Problem(
                path=f"{path}.scope",
                value=rule.scope,
                message="must be 'host' or 'fault-domain'",
            )
        )
    return problems + _rule_problems(path, rule.group, rule.required)


def _pool_rule_problems(path: str, claim: VolumeClaim) -> list[Problem]:
    rule: object = claim.pool_anti_affinity
    if rule is None:
        return []
    if not isinstance(rule, PoolAntiAffinity):
        return [
            Problem(
                path=path,
                value=repr(rule),
                message="must be a dpp_sdk.PoolAntiAffinity, or None for no anti-affinity",
            )
        ]
    return _rule_problems(path, rule.group, rule.required)


def _mixed_strength(path: str, rule: PoolAntiAffinity, other: str) -> Problem:
    return Problem(
        path=path,
        value=rule.required,
        message=(
            f"volume {other!r} has storage-pool anti-affinity group {rule.group!r} "
            f"{'preferred' if rule.required else 'required'}; all volumes of a group must "
            "agree on required or preferred"
        ),
    )


def check_pool_anti_affinity(
    claims: Sequence[tuple[str, VolumeClaim, Policy]],
    existing: Iterable[tuple[str, PoolAntiAffinity]],
    *,
    checked: bool = False,
) -> None:
    """Refuse storage-pool anti-affinity that is malformed, on a volume whose policy is not
    ``vsan-direct`` (the only policy with storage pools to spread over), or of a group that
    another volume (of ``existing``, ``(name, rule)`` of the instance's volumes, or another
    claim) gives the other strength; every problem at once. ``claims`` are ``(path of the
    rule, claim, the claim's policy)``; ``checked``: the rules' fields were checked already,
    with the rest of the request."""
    problems: list[Problem] = []
    strength: dict[str, tuple[bool, str]] = {}  # group -> required, the volume that said so
    for name, known in existing:
        strength.setdefault(known.group, (known.required, name))
    for path, claim, policy in claims:
        malformed = [] if checked else _pool_rule_problems(path, claim)
        problems += malformed
        rule = claim.pool_anti_affinity
        if malformed or rule is None:
            continue
        first = strength.setdefault(rule.group, (rule.required, claim.name))
        if first[0] != rule.required:
            problems.append(_mixed_strength(f"{path}.required", rule, first[1]))
        if policy.kind == "direct":
            continue
        problems.append(
            Problem(
                path=path,
                value=rule.group,
                message=(
                    "storage-pool anti-affinity keeps vsan-direct volumes on different direct "
                    f"disks; volume {claim.name!r} has policy {policy.name}, which has no "
                    "storage pools to spread over (leave pool_anti_affinity out)"
                ),
            )
        )
    if problems:
        raise ValidationError(
            f"storage-pool anti-affinity is invalid ({count(len(problems), 'problem')})",
            problems,
        )


def _label_problems(labels: object) -> list[Problem]:
    if not isinstance(labels, Mapping):
        return [Problem(path="$.labels", value=repr(labels), message="must be a mapping")]
    return [
        Problem(
            path=f"$.labels.{key}", value=value, message="labels map non-empty strings to strings"
        )
        for key, value in labels.items()
        if not (isinstance(key, str) and key and isinstance(value, str))
    ]


def check_member_request(volumes: Sequence[object], anti_affinity: object, labels: object) -> None:
    """Every problem with a members.ensure request, before anything is stored."""
    problems = [
        *_claim_problems(volumes),
        *_anti_affinity_problems(anti_affinity),
        *_label_problems(labels),
    ]
    if problems:
        raise ValidationError(
            f"member request is invalid ({count(len(problems), 'problem')})", problems
        )


def check_request_types(
    *, capacity_gb: object, parameters: object, need_parameters: bool = False
) -> None:
    """Refuse arguments of the wrong type with a ValidationError naming them (``parameters``
    may be None unless ``need_parameters``)."""
    problems = []
    if capacity_gb is not None and (
        isinstance(capacity_gb, bool) or not isinstance(capacity_gb, int)
    ):
        problems.append(
            Problem(path="$.capacity_gb", value=capacity_gb, message="must be a whole number of GB")
        )
    if (parameters is not None or need_parameters) and not isinstance(parameters, Mapping):
        problems.append(
            Problem(
                path="$.parameters",
                value=repr(parameters),
                message="must be a mapping of parameter names to values",
            )
        )
    if problems:
        raise ValidationError(f"request is invalid ({count(len(problems), 'problem')})", problems)


def maintenance_mode(mode: MaintenanceMode | str) -> MaintenanceMode:
    try:
        return MaintenanceMode(mode)
    except ValueError:
        raise ValidationError.single(
            "$.mode", mode, f"must be one of {[m.value for m in MaintenanceMode]}"
        ) from None


def check_resource_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not RESOURCE_NAME.fullmatch(name):
        raise ValidationError.single(
            f"$.{kind}.name",
            name,
            "must be 1-63 lower-case letters, digits or dashes, starting and ending with a "
            "letter or digit",
        )


@contextlib.contextmanager
def placement_errors(what: str) -> Iterator[None]:
    """Translate the cluster's placement and quota errors into the contract's, once.

    ``what`` names the thing being placed (``"volume 'data' of 'kv1'"``) and prefixes the
    message."""
    try:
        yield
    except PlacementError as exc:
        raise PlacementFailed(exc.reason, f"{what}: {exc.message}") from exc
    except QuotaShortfall as exc:
        raise QuotaExceeded(
            f"{what}: {exc}",
            limit="resource_quota",
            used=exc.used_gb,
            asked=exc.asked_gb,
            left=exc.left_gb,
        ) from exc


def encode_cursor(kind: str, position: str | int) -> str:
    """An opaque cursor for the page after ``position`` in a listing of ``kind``."""
    text = json.dumps([kind, position], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None, position: type[T]) -> T | None:
    """The position a cursor of :func:`encode_cursor` names; ValidationError naming
    ``$.cursor`` when it is not a cursor of this listing."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found_kind, found = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, TypeError, UnicodeDecodeError):
        found_kind, found = None, None
    if (
        found_kind != kind
        or not isinstance(found, position)
        or isinstance(found, bool)
        or (isinstance(found, int) and not 0 <= found <= MAX_SEQ)
    ):
        raise ValidationError.single(
            "$.cursor", cursor, f"is not a cursor of the {kind} listing (pass next_cursor back)"
        )
    return found


def check_seq(path: str, value: object) -> int:
    """A sequence number (an event's ``seq``): an integer 0..2**63-1, as SQLite stores it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise ValidationError.single(path, value, "must be a sequence number (an integer >= 0)")
    return value


def check_text(path: str, value: object, what: str) -> str:
    """``value`` if it is a string; otherwise a ValidationError saying it must be ``what``."""
    if not isinstance(value, str):
        raise ValidationError.single(path, value, f"must be {what} (a string)")
    return value


def check_limit(limit: object) -> int | None:
    """A page size: None (everything) or 1..MAX_PAGE."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError.single("$.limit", limit, f"must be an integer 1..{MAX_PAGE}")
    return limit


def secret_parameter_names(schema: Mapping[str, object]) -> frozenset[str]:
    """Top-level parameters a schema marks secret: ``"writeOnly": true`` or
    ``"format": "password"``."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return frozenset()
    return frozenset(
        name
        for name, sub in properties.items()
        if isinstance(sub, Mapping)
        and (sub.get("writeOnly") is True or sub.get("format") == "password")
    )


def mask_parameters(
    parameters: Mapping[str, object], names: frozenset[str]
) -> tuple[dict[str, object], dict[str, object]]:
    """(``parameters`` with each secret one replaced by ``********``, the secret values)."""
    masked = {k: (MASK if k in names else v) for k, v in parameters.items()}
    secrets = {k: v for k, v in parameters.items() if k in names and v != MASK}
    return masked, secrets
