"""docs/conformance.md: its check catalog is the registry's (generated, never edited by hand),
and the docs reach it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpp_sdk.conformance import catalog

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "conformance.md"


def test_the_catalog_in_the_doc_is_the_one_generated_from_the_registry() -> None:
    document = DOC.read_text(encoding="utf-8")
    expected = catalog.replace_catalog(document, catalog.catalog_markdown())
    assert document == expected, (
        "docs/conformance.md's check catalog differs from the registry; regenerate it with: "
        f"{catalog.WRITE_COMMAND}"
    )


def test_the_generator_replaces_only_the_block_between_the_markers() -> None:
    document = f"intro\n{catalog.START}\nold\n{catalog.END}\noutro\n"
    assert catalog.replace_catalog(document, "new\n") == (
        f"intro\n{catalog.START}\nnew\n{catalog.END}\noutro\n"
    )


def test_the_check_option_fails_on_a_stale_catalog_and_prints_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "conformance.md"
    stale.write_text(f"{catalog.START}\nold\n{catalog.END}\n", encoding="utf-8")
    assert catalog.main(["--check", str(stale)]) == 1
    assert catalog.WRITE_COMMAND in capsys.readouterr().out
    assert catalog.main(["--write", str(stale)]) == 0
    assert catalog.main(["--check", str(stale)]) == 0


def test_the_readme_the_index_and_the_cli_doc_point_to_the_conformance_doc() -> None:
    for name in ("README.md", "docs/index.md"):
        assert "conformance.md" in (ROOT / name).read_text(encoding="utf-8"), name
    cli_doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in ("dpp conformance run", "dpp conformance verify", "dpp conformance list"):
        assert command in cli_doc, command
