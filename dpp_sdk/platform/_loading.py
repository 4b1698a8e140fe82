"""Loading provider classes from a ``module:Class`` reference or a provider directory.

A directory is a provider when it holds a ``dpp-provider.toml`` descriptor::

    # dpp-provider.toml
    provider = "provider:MinioProvider"   # MODULE:CLASS, MODULE relative to this directory

The directory is loaded as a package of its own (its ``__init__.py`` is optional), so its
modules may use relative imports and never clash with installed packages of the same name.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
import tomllib
from pathlib import Path

from dpp_sdk.contract import ServiceProvider, ValidationError

__all__ = ["DESCRIPTOR", "load_provider_class", "normalise_ref"]

DESCRIPTOR = "dpp-provider.toml"


def normalise_ref(ref: str) -> str:
    """A reference that loads the same class from any working directory.

    Directories become absolute paths; ``module:Class`` stays as is.
    """
    path = Path(ref)
    if path.is_dir():
        return str(path.resolve())
    return ref


def _bad(ref: str, message: str) -> ValidationError:
    return ValidationError.single("$.provider", ref, message)


def _split(ref: str, spec: str) -> tuple[str, str]:
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise _bad(
            ref,
            f"expected MODULE:CLASS (e.g. 'my_pkg.provider:MyProvider') or a directory "
            f"containing {DESCRIPTOR}",
        )
    return module, attr


def _package_for_directory(directory: Path) -> str:
    digest = hashlib.sha1(str(directory).encode(), usedforsecurity=False).hexdigest()[:10]
    name = f"_dpp_provider_{directory.name.replace('-', '_')}_{digest}"
    if name in sys.modules:
        return name
    init = directory / "__init__.py"
    spec: importlib.machinery.ModuleSpec | None
    if init.exists():
        spec = importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[str(directory)]
        )
    else:  # a namespace-like package: the directory's modules, no __init__ to run
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(directory)]
    if spec is None:  # pragma: no cover - only for unloadable paths
        raise _bad(str(directory), "cannot be loaded as a package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return name


def _from_directory(ref: str, path: Path) -> tuple[str, str]:
    """(qualified module, class path) named by a provider directory's descriptor."""
    descriptor = path / DESCRIPTOR
    if not descriptor.is_file():
        raise _bad(ref, f"directory has no {DESCRIPTOR} naming its provider class")
    try:
        data = tomllib.loads(descriptor.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise _bad(str(descriptor), f"is not valid TOML: {exc}") from exc
    spec = data.get("provider")
    if not isinstance(spec, str):
        raise _bad(str(descriptor), "needs a string key 'provider = \"MODULE:CLASS\"'")
    module_name, attr = _split(ref, spec)
    package = _package_for_directory(path.resolve())
    return f"{package}.{module_name}", attr


def load_provider_class(ref: str) -> type[ServiceProvider]:
    """Import the provider class named by ``ref``; errors name the reference and the cause."""
    path = Path(ref)
    if path.is_dir():
        qualified, attr = _from_directory(ref, path)
    else:
        if ("/" in ref or ref.startswith(".")) and ":" not in ref:
            raise _bad(ref, "no such provider directory")
        qualified, attr = _split(ref, ref)
    try:
        module = importlib.import_module(qualified)
    except Exception as exc:  # ImportError, or any error the module raises while loading
        raise _bad(ref, f"cannot import module {qualified!r}: {type(exc).__name__}: {exc}") from exc
    if "<locals>" in attr:
        raise _bad(
            ref,
            "a class defined inside a function cannot be loaded again by reference; define "
            "the provider at module level",
        )
    cls: object = module
    for part in attr.split("."):  # nested classes: Outer.Inner
        cls = getattr(cls, part, None)
        if cls is None:
            raise _bad(ref, f"module {qualified!r} has no attribute {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, ServiceProvider)):
        raise _bad(ref, f"{attr!r} is not a subclass of dpp_sdk.ServiceProvider")
    return cls
