"""The provider under test: how it is referred to, its manifest, and its fingerprint.

The fingerprint is a SHA-256 over the provider's source files (the provider directory, or the
module or package that defines its class) and its manifest, so a report names exactly the code
it certifies: ``dpp conformance verify`` recomputes it.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
from pathlib import Path

import attrs

from dpp_sdk.contract import Manifest, ServiceProvider, to_json
from dpp_sdk.platform import ClusterConfig
from dpp_sdk.platform._loading import load_provider_class, normalise_ref
from dpp_sdk.testing import open_platform

__all__ = ["ProviderRef", "Subject", "load_subject"]

ProviderRef = str | os.PathLike[str] | type[ServiceProvider]
"""A provider as the suite takes it: ``module:Class``, a provider directory, or a class."""

_SKIPPED_PARTS = {"__pycache__", ".git", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


@attrs.frozen(kw_only=True)
class Subject:
    """The provider under test: ``ref`` as the platform registers it, its class, manifest,
    source files and fingerprint."""

    ref: str | type[ServiceProvider]
    display: str
    provider_class: type[ServiceProvider] = attrs.field(eq=False, repr=False)
    manifest: Manifest
    files: tuple[Path, ...]
    fingerprint: str


def load_subject(provider: ProviderRef, config: ClusterConfig) -> Subject:
    """Load ``provider`` and register it once on ``config`` to read its manifest (a provider
    that cannot register raises the platform's error, naming the problem)."""
    if isinstance(provider, type):
        cls = provider
        ref: str | type[ServiceProvider] = provider
        display = f"{provider.__module__}:{provider.__qualname__}"
    else:
        display = normalise_ref(os.fspath(provider))
        ref = display
        cls = load_provider_class(display)
    with open_platform(ref, config=config) as platform:
        service = platform.list_services()[0]
        manifest = service.active.manifest
    files = source_files(ref, cls)
    return Subject(
        ref=ref,
        display=display,
        provider_class=cls,
        manifest=manifest,
        files=files,
        fingerprint=fingerprint(files, manifest),
    )


def source_files(ref: str | type[ServiceProvider], cls: type[ServiceProvider]) -> tuple[Path, ...]:
    """The files that make up the provider: every file of its directory when ``ref`` is one,
    otherwise the package (or the single module) that defines ``cls``."""
    if isinstance(ref, str) and Path(ref).is_dir():
        return _tree(Path(ref))
    module = sys.modules.get(cls.__module__)
    path = Path(inspect.getfile(module)) if module is not None else Path(inspect.getfile(cls))
    if path.name == "__init__.py":
        return _tree(path.parent)
    return (path.resolve(),)


def _tree(root: Path) -> tuple[Path, ...]:
    found = [
        path.resolve()
        for path in root.rglob("*")
        if path.is_file()
        and not (_SKIPPED_PARTS & set(path.relative_to(root).parts))
        and path.suffix not in (".pyc", ".pyo")
    ]
    return tuple(sorted(found))


def fingerprint(files: tuple[Path, ...], manifest: Manifest) -> str:
    """``sha256:<hex>`` over each file's name relative to their common folder and bytes, then
    the manifest's JSON."""
    digest = hashlib.sha256()
    root = Path(os.path.commonpath([str(f.parent) for f in files])) if files else Path()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    digest.update(to_json(manifest).encode())
    return "sha256:" + digest.hexdigest()
