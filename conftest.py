"""Shared test configuration: Hypothesis profiles for development and CI."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# The fixtures partners get from dpp_sdk.testing (``dpp_platform``), for the SDK's own tests too.
# pytester runs pytest inside a test (the conformance plugin's tests).
pytest_plugins = ["dpp_sdk.testing.plugin", "pytester"]
