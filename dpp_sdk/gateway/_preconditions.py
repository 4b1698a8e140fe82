"""``ETag`` and ``If-Match`` on instances: the entity tag of an instance document, and which
updates honour a precondition on it (``412`` when the version named is not current)."""

from __future__ import annotations

import hashlib
import json

from dpp_sdk.contract import InstanceInfo, unstructure

__all__ = ["CONDITIONAL", "etag_of", "if_match_admits"]

CONDITIONAL = frozenset({"configureInstance", "scaleInstance", "changeInstance", "removeInstance"})
"""The ``operation_id`` of the instance updates that honour ``If-Match``."""


def etag_of(info: InstanceInfo) -> str:
    """The instance document's entity tag: a strong ETag, a hash of the document (any
    change to the instance, its ``updated_at`` included, changes it)."""
    canonical = json.dumps(unstructure(info), sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32] + '"'


def if_match_admits(if_match: str, etag: str) -> bool:
    """Whether an ``If-Match`` header value admits ``etag`` (``*`` admits any version)."""
    tags = [t.strip() for t in if_match.split(",")]
    return "*" in tags or etag in tags
