"""The curl examples of ``docs/http-api.md``, run in order against a fresh gateway.

The page's ```` ```console ```` blocks hold commands (``$ ...``, a trailing ``\\`` continues
one on the next line) each followed by what it prints. Every ``curl`` command is run; its
output's status line (``HTTP/1.1 202 Accepted``) gives the status the answer must have, and
each header shown (``location: /v1/operations/op-...``) must be in the answer with that value,
``...`` standing for any text. The other commands (installing, starting the server, setting
``DPP`` and ``AUTH``) are what this test does itself: a gateway on 127.0.0.1 with the page's
admin token, over a state directory, run from the repository so ``samples/minio`` resolves.
Variables the page says to take from an earlier answer are taken from it: ``LOCATION`` and
``ETAG`` from the last such header, ``CURSOR`` from the last ``next_cursor``, ``PARTNER`` from
the last ``token`` created.

The commands are not given to a shell and curl (CI images such as ``python:*-slim`` have no
curl): each is split as a POSIX shell would (``shlex``) and sent with ``requests``, for the
curl options the page uses (``-s``, ``-i``, ``-X``, ``-H``, ``-d``). Any other option fails the
test, so the page cannot drift out of what is checked.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import pytest
import requests

import dpp_sdk as dpp
from dpp_sdk.gateway import ENV_VAR, AdminToken, PartnerTokens, create_app, openapi_document
from tests.gateways import running

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "http-api.md"
ADMIN_TOKEN = "s3cret-admin-token"

UNEXEMPLIFIED = {"consistency", "ledger", "recovery", "resources", "sandboxes", "status"}
"""The groups of routes (``/v1/GROUP/...``) the page has no example for, all in
docs/gateway.md: recovery (needed only after a crash), two read-only reports (a plain GET
each), and what the conformance suite uses through the gateway (sandboxes, the consistency
check, the ledger: ``dpp conformance run --url`` calls them)."""


@attrs.frozen(kw_only=True)
class Example:
    """One command of the page and what the page says it prints."""

    line: int
    command: str
    status: int | None
    headers: tuple[tuple[str, str], ...]


def examples(text: str) -> list[Example]:
    """Every command of the page's console blocks, with its status line and headers."""
    found: list[Example] = []
    for block in re.finditer(r"^```console\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        first = text.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).splitlines()
        index = 0
        while index < len(lines):
            start = index
            command = lines[index].removeprefix("$ ")
            while command.endswith("\\"):
                index += 1
                command = command[:-1] + lines[index].strip()
            index += 1
            output = []
            while index < len(lines) and not lines[index].startswith("$ "):
                output.append(lines[index])
                index += 1
            status = re.match(r"HTTP/1\.1 (\d{3}) ", output[0]) if output else None
            headers = []
            for shown in output[1:] if status else ():
                if not shown:
                    break
                name, _, value = shown.partition(": ")
                headers.append((name, value))
            found.append(
                Example(
                    line=first + start,
                    command=command,
                    status=int(status.group(1)) if status else None,
                    headers=tuple(headers),
                )
            )
    return found


EXAMPLES = examples(PAGE.read_text("utf-8"))
CURLS = [e for e in EXAMPLES if e.command.startswith("curl ")]


@attrs.frozen(kw_only=True)
class Sent:
    """A curl command line as the request it makes."""

    method: str
    url: str
    headers: dict[str, str]
    data: str | None


def request_of(argv: list[str]) -> Sent:
    """The request curl makes for ``argv`` (the options the page uses; others are refused)."""
    assert argv[0] == "curl"
    method, url, data = None, None, None
    headers: dict[str, str] = {}
    arguments = iter(argv[1:])
    for arg in arguments:
        if arg in ("-s", "-i", "-si", "-is"):
            continue  # silent, and print the headers: how curl shows the answer, not what it asks
        if arg == "-X":
            method = next(arguments)
        elif arg == "-H":
            name, _, value = next(arguments).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            data = next(arguments)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")  # as curl
        elif not arg.startswith("-") and url is None:
            url = arg
        else:
            raise AssertionError(f"curl argument {arg!r} is not one this test knows")
    assert url is not None, f"no URL in {argv}"
    return Sent(
        method=method or ("GET" if data is None else "POST"), url=url, headers=headers, data=data
    )


def expand(word: str, variables: dict[str, str]) -> str:
    """``word`` with ``$NAME`` and ``${NAME}`` replaced, as the shell would."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"${name} is not set by the page or by an earlier answer"
        return variables[name]

    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", value, word)


def matches(shown: str, actual: str) -> bool:
    """Whether a header value the page shows matches the answer's (``...``: any text)."""
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, actual) is not None


def remember(answer: requests.Response, variables: dict[str, str]) -> None:
    """Set the variables the page takes from an answer."""
    for header, name in (("location", "LOCATION"), ("etag", "ETAG")):
        if header in answer.headers:
            variables[name] = answer.headers[header]
    if answer.headers.get("content-type") == "application/json":
        document = answer.json()
        if isinstance(document, dict) and document.get("next_cursor"):
            variables["CURSOR"] = document["next_cursor"]
        if isinstance(document, dict) and "token" in document:
            variables["PARTNER"] = document["token"]


@pytest.fixture
def gateway_url(
    dpp_platform_factory: Callable[..., dpp.Platform],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A gateway as the page starts it: the admin token from DPP_ADMIN_TOKEN, a state
    directory, partner tokens kept there, run from the repository (for samples/minio)."""
    monkeypatch.chdir(ROOT)
    state_dir = tmp_path / "lab"
    platform = dpp_platform_factory(state_dir=state_dir)
    app = create_app(platform, AdminToken(ADMIN_TOKEN, ENV_VAR), PartnerTokens(state_dir))
    with running(app) as url:
        yield url


def test_every_curl_example_of_the_page_answers_as_shown(gateway_url: str) -> None:
    """Each curl command, run in the page's order, answers the status and headers the page
    shows for it; together they reach every group of routes of the OpenAPI document but
    those in UNEXEMPLIFIED."""
    variables = {"DPP": gateway_url, "AUTH": f"Authorization: Bearer {ADMIN_TOKEN}"}
    groups = set()
    for example in CURLS:
        where = f"docs/http-api.md:{example.line}: {example.command}"
        sent = request_of([expand(word, variables) for word in shlex.split(example.command)])
        answer = requests.request(
            sent.method, sent.url, headers=sent.headers, data=sent.data, timeout=60
        )
        assert answer.status_code == example.status, f"{where}\n{answer.status_code} {answer.text}"
        for name, shown in example.headers:
            assert name in answer.headers, f"{where}\nno {name} header: {answer.headers}"
            assert matches(shown, answer.headers[name]), f"{where}\n{answer.headers[name]}"
        remember(answer, variables)
        groups.add(urlsplit(sent.url).path.split("/")[2])
    documented = {path.split("/")[2] for path in openapi_document()["paths"]}
    assert documented - groups == UNEXEMPLIFIED


def test_every_curl_example_shows_its_status_and_the_other_commands_are_the_setup() -> None:
    """A curl example without a status line would check nothing; a command other than curl
    is one of those the test does itself (install, serve, set DPP and AUTH)."""
    assert len(CURLS) >= 20
    assert [e.line for e in CURLS if e.status is None] == []
    setup = [e.command for e in EXAMPLES if not e.command.startswith("curl ")]
    assert all(
        re.match(r"(pip install |export (DPP|AUTH|DPP_ADMIN_TOKEN)=|dpp .*platform serve)", c)
        for c in setup
    ), setup
