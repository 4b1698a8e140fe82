"""The MongoDB sample provider: a replica set with elections and majority writes."""

from .provider import (
    MANIFEST,
    MongoDBProvider,
    ReplicaSetProbe,
    ReplicaSetView,
    majority,
    member_name,
    volume_name,
)

__all__ = [
    "MANIFEST",
    "MongoDBProvider",
    "ReplicaSetProbe",
    "ReplicaSetView",
    "majority",
    "member_name",
    "volume_name",
]
