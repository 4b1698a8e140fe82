"""A provider loaded from a directory, as partners' own providers are."""

from __future__ import annotations

import attrs

import dpp_sdk as dpp
from tests.providers import KV_MANIFEST, KVProvider


class DirKV(KVProvider):
    """The KV provider under another name."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(KV_MANIFEST, name="dirkv")
