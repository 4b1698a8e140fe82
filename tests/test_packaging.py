"""What the package imports, it declares: every third-party module ``dpp_sdk`` imports is in
the package's dependencies, except the gateway's (its extra) and pytest's (only the pytest
plugins import it, and only pytest loads them). The README's first command installs the base
package alone, so a missing dependency breaks it on a fresh machine."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dpp_sdk"

#: Imported only where the base install never goes: the gateway (the ``gateway`` extra) and
#: the pytest plugins (loaded by pytest, which the user has when they run it).
OPTIONAL = {
    "dpp_sdk/gateway": {"starlette", "uvicorn"},
    "plugin.py": {"pytest", "_pytest"},
    "hookspec.py": {"pytest"},  # the conformance plugin's hook, loaded only with the plugin
}


def _imported(path: Path) -> set[str]:
    """The top-level names of the modules ``path`` imports (absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return {
        _normalise(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0])
        for requirement in project["dependencies"]
    }


def test_every_third_party_module_the_package_imports_is_a_declared_dependency() -> None:
    distributions = importlib.metadata.packages_distributions()
    declared = _declared()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        optional = set().union(*(names for part, names in OPTIONAL.items() if part in where))
        for name in sorted(_imported(path) - optional):
            if name in sys.stdlib_module_names or name == "dpp_sdk":
                continue
            owners = {_normalise(d) for d in distributions.get(name, [name])}
            if not owners & declared:
                missing.append(f"{where} imports {name} ({', '.join(sorted(owners))})")
    assert missing == [], "add these to [project] dependencies in pyproject.toml:\n" + "\n".join(
        missing
    )
