"""How the ``dpp`` command reads and writes text: ``--param`` values, error lines, the log."""

from __future__ import annotations

from pathlib import Path

import pytest

import dpp_sdk as dpp
from dpp_sdk.cli._errors import LINE_LIMIT, CliError, format_error, one_line
from dpp_sdk.cli._logs import follow, tail
from dpp_sdk.cli._params import ParamError, parse_param_value, parse_params

# --------------------------------------------------------------------------- --param parsing


def test_param_values_are_json_when_they_parse_and_strings_otherwise() -> None:
    """3 is an int, true a bool, null None, lists and quoted strings JSON, the rest text."""
    assert parse_param_value("3") == 3
    assert parse_param_value("2.5") == 2.5
    assert parse_param_value("true") is True
    assert parse_param_value("null") is None
    assert parse_param_value('["a", 1]') == ["a", 1]
    assert parse_param_value('"x"') == "x"
    assert parse_param_value("hello") == "hello"
    assert parse_param_value("") == ""


def test_params_split_at_the_first_equals_sign() -> None:
    """KEY=VALUE pairs become a dict; a value may itself contain '='."""
    params = parse_params(["replicaCount=3", "tls=true", "args=a=b", "name=mongo"])
    assert params == {"replicaCount": 3, "tls": True, "args": "a=b", "name": "mongo"}


def test_malformed_params_are_all_reported_naming_the_flag_and_value() -> None:
    """A missing '=', an empty key and a repeated key are each named in one error."""
    with pytest.raises(ParamError) as info:
        parse_params(["replicaCount", "=3", "a=1", "a=2"], flag="--param")
    problems = info.value.problems
    assert len(problems) == 3
    assert "--param 'replicaCount'" in problems[0]
    assert "'=3'" in problems[1]
    assert "'a=2'" in problems[2]


# --------------------------------------------------------------------------- error lines


def test_a_validation_error_becomes_one_line_naming_each_path_and_value() -> None:
    """Every problem is on the line, joined with '; ', with its path and value."""
    exc = dpp.ValidationError(
        "invalid parameters for 'tiny-kv'",
        [
            dpp.Problem(path="$.replicas", value=0, message="must be >= 1"),
            dpp.Problem(path="$.mode", value="x", message="unknown"),
        ],
    )
    line = format_error(exc)
    assert "\n" not in line
    assert line.startswith("invalid parameters for 'tiny-kv': ")
    assert "$.replicas: must be >= 1 (got 0)" in line
    assert "; $.mode: unknown (got 'x')" in line


def test_a_single_problem_is_not_repeated_after_its_own_summary() -> None:
    """ValidationError.single's summary is the problem; the line shows it once."""
    exc = dpp.ValidationError.single("$.capacity_gb", 0, "must be at least 1")
    assert format_error(exc) == "$.capacity_gb: must be at least 1 (got 0)"


def test_a_failed_operation_line_names_the_operation_and_its_problems() -> None:
    """OperationFailed shows id, kind, target, error type and the recorded problems."""
    operation = dpp.Operation(
        id="op-7",
        kind="instance.create",
        target="kv",
        state=dpp.OperationState.FAILED,
        error=dpp.OperationError(
            type="PermanentError", message="cannot start\nsee log", problems=("disk full",)
        ),
    )
    line = format_error(dpp.OperationFailed(operation))
    assert "\n" not in line
    assert "op-7" in line
    assert "PermanentError: cannot start" in line
    assert line.endswith("disk full")


def test_a_config_error_lists_every_problem_on_one_line() -> None:
    """A bad cluster INI names each section, key and value in one line."""
    from dpp_sdk.platform._config import ConfigError
    from dpp_sdk.platform._config_ini import parse_config

    with pytest.raises(ConfigError) as info:
        parse_config("[cluster]\nhosts = zero\ncapacity_disk_gb = -1\n", source="bad.ini")
    line = format_error(info.value)
    assert "\n" not in line
    assert "bad.ini" in line
    assert "hosts" in line
    assert "zero" in line
    assert "capacity_disk_gb" in line


def test_multi_line_messages_are_flattened() -> None:
    """Lines are stripped and joined with '; ', a trailing colon joins with a space."""
    assert one_line("2 problems:\n  - a\n  - b\n") == "2 problems: a; b"
    assert one_line("first\nsecond") == "first; second"


def test_a_cli_error_prints_one_prefixed_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """CliError.show writes 'dpp: error: ...' to stderr only."""
    error = CliError("it broke:\n  - here")
    error.show()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "dpp: error: it broke: here\n"
    assert error.exit_code == 1


def test_a_huge_error_line_is_capped_and_its_control_characters_escaped() -> None:
    """A 2 MB message becomes at most LINE_LIMIT characters, saying how many more there were;
    an escape sequence is shown as \\x1b, not sent to the terminal."""
    line = CliError("boom \x1b[2J" + "x" * 2_000_000).format_message()
    assert line.startswith("boom \\x1b[2Jxxx")
    assert line.endswith(" more characters)")
    assert len(line) < LINE_LIMIT + 40
    assert line.isprintable()


# --------------------------------------------------------------------------- logs


def test_tail_returns_the_last_lines_and_the_end_offset(tmp_path: Path) -> None:
    """tail(path, 2) keeps the last two lines; None keeps all; a missing file has none."""
    log = tmp_path / "datapersistence.log"
    log.write_text("one\ntwo\nthree\n", encoding="utf-8")
    assert tail(log, 2) == (["two\n", "three\n"], 14)
    assert tail(log, None)[0] == ["one\n", "two\n", "three\n"]
    assert tail(log, 0) == ([], 14)
    assert tail(tmp_path / "missing.log", 5) == ([], 0)


def test_follow_prints_appended_text_and_rereads_a_truncated_file(tmp_path: Path) -> None:
    """Appends are printed as they arrive; a file that shrank is read again from the start."""
    log = tmp_path / "datapersistence.log"
    log.write_text("old\n", encoding="utf-8")

    def append() -> None:
        with log.open("a", encoding="utf-8") as stream:
            stream.write("new 1\n")

    def rotate() -> None:
        log.write_text("rotated\n", encoding="utf-8")

    pending = [append, rotate]
    idle = False

    def sleep(_seconds: float) -> None:
        nonlocal idle
        if pending:
            pending.pop(0)()
        else:
            idle = True

    written: list[str] = []
    follow(log, written.append, offset=4, interval=0, keep_going=lambda: not idle, sleep=sleep)
    assert "".join(written) == "new 1\nrotated\n"
