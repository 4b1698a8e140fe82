"""The public namespace is curated: __all__ matches what is exported, and stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys

import dpp_sdk as dpp


def test_all_is_sorted_and_every_name_in_it_resolves() -> None:
    """Each name in dpp.__all__ is reachable as an attribute; the list is sorted."""
    assert dpp.__all__ == sorted(dpp.__all__)
    for name in dpp.__all__:
        assert getattr(dpp, name) is not None, name


def test_every_public_looking_attribute_is_in_all() -> None:
    """No public name leaks into the namespace without being listed (submodules aside)."""
    import types

    exported = {
        name
        for name, value in vars(dpp).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    helpers = {"annotations", "importlib", "Any", "TYPE_CHECKING"}
    assert exported - helpers <= set(dpp.__all__)


def test_importing_dpp_sdk_does_not_load_the_cli_or_the_platform() -> None:
    """import dpp_sdk stays light: click, cattrs, jsonschema, the CLI and the platform load on
    demand."""
    code = (
        "import sys, dpp_sdk; "
        "print(sorted(m for m in ('click', 'rich', 'jsonschema', 'cattrs', 'logging',"
        " 'dpp_sdk.cli', 'dpp_sdk.platform', 'dpp_sdk.contract._schemas', 'sqlite3')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazily_loaded_names_resolve_to_the_same_objects() -> None:
    """dpp.structure and dpp.validate_manifest load on first use and are the contract's own."""
    from dpp_sdk.contract import _schemas, _serde

    assert dpp.structure is _serde.structure
    assert dpp.validate_manifest is _schemas.validate_manifest
    assert dpp.contract.to_json is _serde.to_json


def test_the_platform_namespace_is_curated_and_reachable_from_dpp() -> None:
    """dpp_sdk.platform.__all__ is sorted, names only what it defines, and every name is also
    dpp.NAME (one import for partners), loaded lazily."""
    from dpp_sdk import platform

    assert platform.__all__ == sorted(platform.__all__)
    public = {n for n in vars(platform) if not n.startswith("_")}
    modules = {n for n, v in vars(platform).items() if inspect.ismodule(v)}
    assert public - modules == set(platform.__all__)
    for name in platform.__all__:
        assert getattr(dpp, name) is getattr(platform, name), name
        assert name in dpp.__all__, name
