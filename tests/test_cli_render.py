"""The CLI's tables: declared per document as columns, read by one table function."""

from __future__ import annotations

import datetime as dt
import inspect
import io
import typing
from collections.abc import Sequence

from rich.console import Console, RenderableType
from typing_extensions import get_protocol_members

import dpp_sdk.contract
import dpp_sdk.platform
from dpp_sdk.cli import _render
from dpp_sdk.cli._render import Column, details, table
from dpp_sdk.platform import Page
from dpp_sdk.platform._api import PlatformAPI


def _plain(*renderables: RenderableType) -> str:
    """What ``renderables`` print without colour, trailing spaces removed."""
    stream = io.StringIO()
    console = Console(file=stream, width=120, color_system=None)
    for renderable in renderables:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in stream.getvalue().splitlines())


def _returned_documents() -> tuple[set[type], set[type]]:
    """The models PlatformAPI methods return one at a time, and those they return as lists."""
    single: set[type] = set()
    listed: set[type] = set()
    for name in get_protocol_members(PlatformAPI):
        member = inspect.getattr_static(PlatformAPI, name)
        if not inspect.isfunction(member):
            continue  # log_path: a path, not a document
        returned = typing.get_type_hints(member).get("return")
        if typing.get_origin(returned) in (list, Page):
            item = typing.get_args(returned)[0]
            if _is_model(item):  # not check_consistency's strings, ledger's raw entries
                listed.add(item)
        elif _is_model(returned):
            single.add(returned)
    return single, listed


def _is_model(kind: object) -> bool:
    return inspect.isclass(kind) and kind.__module__.startswith("dpp_sdk.")


def _views() -> tuple[set[type], set[type]]:
    """The models _render has a view of one document for, and those it has a table for."""
    names = {**vars(dpp_sdk.contract), **vars(dpp_sdk.platform), **vars(_render)}
    single: set[type] = set()
    listed: set[type] = set()
    for name in _render.__all__:
        function = getattr(_render, name)
        if not (inspect.isfunction(function) and name.endswith(("_view", "_table"))):
            continue
        first = next(iter(inspect.signature(function).parameters))
        shown = typing.get_type_hints(function, globalns=names)[first]
        if typing.get_origin(shown) is Sequence:
            listed.add(typing.get_args(shown)[0])
        else:
            single.add(shown)
    return single, listed


def test_every_document_the_platform_api_returns_has_a_view() -> None:
    """A model a PlatformAPI method returns has a view; a model it lists has a table."""
    returned_single, returned_listed = _returned_documents()
    viewed_single, viewed_listed = _views()
    assert len(returned_single) >= 8
    assert returned_single <= viewed_single, returned_single - viewed_single
    assert returned_listed <= viewed_listed, returned_listed - viewed_listed


def test_a_column_shows_each_kind_of_value_for_people() -> None:
    """text, bytes, list, json and alarm cells read naturally; missing values show as '-'."""
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    assert Column("X", lambda v: v).cell(None).plain == "-"
    assert Column("X", lambda v: v).cell(True).plain == "yes"
    assert Column("X", lambda v: v).cell(2000.0).plain == "2000"
    assert Column("X", lambda v: v).cell(1333.3333).plain == "1333.33"
    assert Column("X", lambda v: v).cell(when).plain == "2024-05-06T07:08:09+00:00"
    assert Column("X", lambda v: v, "bytes").cell(1536 * 1024**2).plain == "1.5 GiB"
    assert Column("X", lambda v: v, "list").cell(("a", "b")).plain == "a, b"
    assert Column("X", lambda v: v, "list").cell(()).plain == "-"
    assert Column("X", lambda v: v, "json").cell({"b": 1, "a": [2]}).plain == '{"a": [2], "b": 1}'
    assert str(Column("X", lambda v: v, "alarm").cell(("db1",)).style) == "red"
    assert str(Column("X", lambda v: v, "alarm").cell(()).style) == ""
    assert str(Column("X", lambda v: v, "state").cell("failed").style) == "bold red"


def test_a_table_has_a_row_per_document_and_never_reads_markup() -> None:
    """Headers come from the columns; a value like 'db[bold]1' prints as written."""
    columns = (Column("Name", lambda d: d["name"]), Column("Size", lambda d: d["size"], "bytes"))
    text = _plain(table(columns, [{"name": "db[bold]1", "size": 512}]))
    assert text.splitlines()[0].split() == ["Name", "Size"]
    assert "db[bold]1   512 B" in text


def test_an_empty_table_says_its_sentence_instead() -> None:
    """With no documents and an 'empty' sentence, the sentence (after the title) is shown."""
    columns = (Column("Name", lambda d: d),)
    assert _plain(table(columns, [], empty="No services.")) == "No services."
    assert _plain(table(columns, [], title="Instances", empty="none")) == "Instances: none"


def test_details_leave_out_an_optional_field_that_has_no_value() -> None:
    """An optional row with None is omitted; 'more' rows follow the fields."""
    fields = (
        Column("Host", lambda d: d["host"]),
        Column("Disk", lambda d: d["disk"], optional=True),
    )
    shown = _plain(details(fields, {"host": "esx-01", "disk": None}))
    assert shown.split() == ["Host", "esx-01"]
    with_disk = _plain(details(fields, {"host": "esx-01", "disk": "cap-0"}, more=[]))
    assert with_disk.split() == ["Host", "esx-01", "Disk", "cap-0"]
