"""``ETag`` and ``If-Match`` on instances: which updates honour a precondition on the
instance's version (``412`` when the version named is not current). The entity tag itself is
:func:`dpp_sdk.platform._api.etag_of`, shared with the client."""

from __future__ import annotations

from dpp_sdk.platform._api import etag_of, etag_of_document

__all__ = ["CONDITIONAL", "etag_of", "etag_of_document", "if_match_admits"]

CONDITIONAL = frozenset({"configureInstance", "scaleInstance", "changeInstance", "removeInstance"})
"""The ``operation_id`` of the instance updates that honour ``If-Match``."""


def if_match_admits(if_match: str, etag: str) -> bool:
    """Whether an ``If-Match`` header value admits ``etag`` (``*`` admits any version)."""
    tags = [t.strip() for t in if_match.split(",")]
    return "*" in tags or etag in tags
