"""The ``dpp`` command. Imported only when the command runs."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``dpp`` console script."""
    import sys

    from dpp_sdk.cli._app import run

    sys.exit(run())
