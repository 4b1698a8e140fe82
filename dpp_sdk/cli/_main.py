"""The ``dpp`` command line."""

from __future__ import annotations

import click

from dpp_sdk._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dpp")
def cli() -> None:
    """dpp: run service providers on a local mock Data Persistence Platform."""
