"""Tests reach a platform only through its public interface and ``dpp_sdk.testing``.

The rule (``docs/design.md``, "Tests and the platform's internals"): tests of a Platform
object go through its public API or :mod:`dpp_sdk.testing` (whose ``faults`` and crash helpers
are the one audited place that touches internals); only unit tests of a private module import
that module, to test its own functions. This guard scans ``tests/`` and ``samples/`` so the rule
cannot regress: no ``<expr>._private`` attribute access other than on ``self`` or ``cls``, no
private name handed to ``setattr``/``getattr``/``monkeypatch.setattr``, and no fixture of
their own that opens a platform (use ``dpp_platform`` or ``dpp_platform_factory``).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "samples").rglob("*.py")])

ALLOWED = {
    # The CLI asks whether stdin is a terminal before prompting; a test cannot give it one.
    ("tests/test_cli.py", "_stdin_is_terminal"),
}
"""(file, private name) pairs allowed, each with its reason above it."""

_BY_NAME = {"setattr", "getattr", "delattr", "hasattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imported(tree: ast.Module) -> dict[str, str]:
    """Names the file's imports bind, mapped to what they name in full."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _is_module(node: ast.Attribute, imported: dict[str, str]) -> bool:
    """Whether ``node`` names a module (``conformance._registry``, ``dpp_sdk.platform._calls``):
    a unit test of a private module reaching it, not a private attribute of an object."""
    parts = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    if not (isinstance(value, ast.Name) and value.id in imported):
        return False
    dotted = ".".join([imported[value.id], *reversed(parts)])
    try:
        return importlib.util.find_spec(dotted) is not None
    except (ImportError, ValueError):
        return False


def _findings(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line: what`` for each breach of the rule in ``path`` (``root``: the
    repository, which file names are relative to)."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    where = path.relative_to(root).as_posix()
    imported = _imported(tree)
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                continue  # an object's own attributes (test providers, harness classes)
            if _is_module(node, imported):
                continue
            found.append((node.lineno, node.attr, ast.unparse(node)))
        elif isinstance(node, ast.Call) and len(node.args) >= 2:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            second = node.args[1]
            if (
                name in _BY_NAME
                and isinstance(second, ast.Constant)
                and isinstance(second.value, str)
                and _private(second.value)
            ):
                found.append((node.lineno, second.value, ast.unparse(node)))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            fixture = any("fixture" in ast.unparse(d) for d in node.decorator_list)
            returns = ast.unparse(node.returns) if node.returns is not None else ""
            if node.name == "platform" or (fixture and "Platform" in returns):
                found.append((node.lineno, node.name, f"a platform fixture {node.name!r}"))
    return [
        f"{where}:{line}: {text}"
        for line, name, text in sorted(found)
        if (where, name) not in ALLOWED
    ]


def test_tests_touch_no_private_platform_attribute_and_define_no_platform_fixture() -> None:
    """Every test file uses the public API, dpp_sdk.testing and its fixtures instead."""
    problems = [problem for path in SCANNED for problem in _findings(path)]
    assert problems == [], "\n".join(
        [
            "tests reach private attributes or open platforms in fixtures of their own; use",
            "the public API, dpp_sdk.testing (faults, stored_volumes, dies_after, ...) or the",
            "dpp_platform / dpp_platform_factory fixtures (docs/testing.md):",
            *problems,
        ]
    )


def test_the_guard_finds_what_it_is_meant_to(tmp_path: Path) -> None:
    """A private attribute (of an object or a class), a private name by string and a
    platform fixture are each found; an object's own attributes and module paths are not."""
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import pytest\n"
        "import dpp_sdk.platform._calls\n"
        "from dpp_sdk.platform import _recovery\n"
        "def test_a(p):\n"
        "    p._repo.update_instance('x')\n"
        "    monkeypatch.setattr(p, '_engine', None)\n"
        "    self._ok = dpp_sdk.platform._calls.ProviderTimeout\n"
        "    _recovery.Recovery._resume = None\n"
        "@pytest.fixture\n"
        "def platform():\n"
        "    pass\n"
        "@pytest.fixture\n"
        "def small() -> Iterator[Platform]:\n"
        "    pass\n",
        "utf-8",
    )
    found = [problem.split(":")[1] for problem in _findings(sample, root=tmp_path)]
    assert found == ["5", "6", "8", "10", "13"]
