"""The user docs say what issue reports found missing (issue 10, problem 5)."""

from __future__ import annotations

import re
from pathlib import Path

import dpp_sdk as dpp

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _section(page: str, heading: str) -> str:
    text = (DOCS / page).read_text(encoding="utf-8")
    return text.split(heading, 1)[1].split("\n#", 1)[0]


def test_the_table_of_what_each_provider_receives_lists_every_failure_kind() -> None:
    table = _section("platform.md", "### What each provider receives")
    kinds = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE))
    assert kinds == {kind.name for kind in dpp.FailureKind}


def test_list_operations_is_documented_as_keyword_only() -> None:
    text = (DOCS / "platform.md").read_text(encoding="utf-8")
    assert "list_operations(*, target=None" in text
    assert "list_operations(target=None" not in text


def test_configure_and_scale_say_ctx_spec_is_already_the_new_spec() -> None:
    configure = _section("provider-contract.md", "### `configure(ctx, request) -> None`")
    scale = _section("provider-contract.md", "### `scale(ctx, request) -> None`")
    assert "`ctx.spec` is already the new spec" in configure
    assert "request.previous" in configure
    assert "`ctx.spec.capacity_gb` is already the new" in scale
    assert "recorded when `configure` succeeds" in configure


def test_the_contract_says_how_a_providers_own_tests_import_it() -> None:
    section = _section("provider-contract.md", "## Your provider's own tests")
    assert "register_service(str(HERE))" in section
    assert "from .provider import" in section
