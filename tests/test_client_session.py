"""The client's HTTP session reads the environment's proxy and CA settings once."""

from __future__ import annotations

import pytest

from dpp_sdk.client._client import _session_for


def test_the_session_takes_the_proxy_for_its_url_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/lab.pem")
    remote = _session_for("http://gateway.example:8080")
    assert remote.proxies.get("http") == "http://proxy.example:3128"
    assert remote.verify == "/etc/ssl/certs/lab.pem"
    assert remote.trust_env is False  # requests no longer scans the environment per call
    local = _session_for("http://127.0.0.1:8080")
    assert "http" not in local.proxies
