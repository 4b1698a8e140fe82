"""The ``dpp`` command groups, one module per area; :mod:`dpp_sdk.cli._app` adds them.

Each module owns its groups and commands. A command that only looks is marked
``@read_only`` where it is declared (see :mod:`dpp_sdk.cli._options`).
"""
