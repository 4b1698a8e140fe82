"""Fixtures shared by several test modules of ``tests/``."""

# The gateway over an in-memory platform, with a client holding the admin token: defined with
# the gateway's API tests, used by the tests of the client's conditional updates too.
from tests.test_gateway_api import gateway  # noqa: F401 - a fixture, found by pytest here
