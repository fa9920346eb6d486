"""What a command that cannot start prints: one line naming the setting, whatever the
message holds (rich markup read into it had crashed the printer), and the right setting
when the HTTP address cannot be taken."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import orjson
import pytest
import typer

from router.app.console import fail, period_or_exit, settings_or_exit
from router.app.web import bind_http
from router.errors import ConfigError
from router.kafka import client_options
from router.redis import make_client
from router.settings import Settings

pytestmark = pytest.mark.unit


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


@pytest.fixture(autouse=True)
def plain_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The line as a person reads it, not the JSON record of ``LOG_FORMAT=json``."""
    monkeypatch.delenv("SWITCHBOARD_LOG_FORMAT", raising=False)


def test_a_settings_message_holding_markup_is_printed_as_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``SWITCHBOARD_PUBLIC_URL=example.com``: its message says https://host[:port][/prefix],
    and ``[/prefix]`` was read as a closing tag: a MarkupError traceback."""
    monkeypatch.setenv("SWITCHBOARD_PUBLIC_URL", "example.com")
    with pytest.raises(typer.Exit) as exited:
        settings_or_exit()
    assert exited.value.exit_code == 2
    assert one_line(capsys) == (
        "error: SWITCHBOARD_PUBLIC_URL: not an http(s) URL: "
        "write it as https://host[:port][/prefix]"
    )


def test_any_message_is_printed_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        fail(ConfigError("SWITCHBOARD_[bold]X", "a [red]value[/red] and [/] and [/x]"))
    assert one_line(capsys) == "error: SWITCHBOARD_[bold]X: a [red]value[/red] and [/] and [/x]"


def test_a_bad_period_holding_markup_is_printed_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(typer.Exit) as exited:
        period_or_exit("[/x]", "2026-01-02")
    assert exited.value.exit_code == 2
    assert one_line(capsys).startswith("error: --from: '[/x]' is neither")


def test_a_malformed_redis_url_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", "redis://[::1:6379/0")
    with pytest.raises(typer.Exit) as exited:
        settings_or_exit()
    assert exited.value.exit_code == 2
    assert one_line(capsys).startswith("error: SWITCHBOARD_REDIS_URL: not a URL")


def test_a_host_that_does_not_resolve_names_the_host_setting() -> None:
    """It had named SWITCHBOARD_HTTP_PORT, which was not the problem."""
    with pytest.raises(ConfigError) as caught:
        bind_http(Settings(http_host="nosuch.invalid", http_port=0))
    assert caught.value.setting == "SWITCHBOARD_HTTP_HOST"
    assert caught.value.message.startswith("cannot listen on nosuch.invalid:0 (")


def test_an_address_this_machine_does_not_have_names_the_host_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        bind_http(Settings(http_host="192.0.2.1", http_port=0))  # TEST-NET-1: nobody's
    assert caught.value.setting == "SWITCHBOARD_HTTP_HOST"


def test_a_port_in_use_still_names_the_port_setting() -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(ConfigError) as caught:
            bind_http(Settings(http_host="127.0.0.1", http_port=taken.getsockname()[1]))
        assert caught.value.setting == "SWITCHBOARD_HTTP_PORT"
    finally:
        taken.close()


def test_a_tool_without_the_kafka_or_redis_setting_says_where_to_find_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second terminal beside ``switchboard dev``: the hint points at what dev printed."""
    monkeypatch.delenv("SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("SWITCHBOARD_REDIS_URL", raising=False)
    settings = Settings()
    for check in (lambda: client_options(settings.kafka), lambda: make_client(settings)):
        with pytest.raises(ConfigError) as failed:
            check()
        assert "a running `switchboard dev` printed" in failed.value.message


def test_every_command_names_a_misspelt_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``topics ensure`` with ``SWITCHBOARD_KAFKA_PARTITION=12`` had made topics of 6
    partitions without a word: only ``dev`` and ``run`` said so."""
    monkeypatch.setenv("SWITCHBOARD_KAFKA_PARTITION", "12")
    settings_or_exit()
    assert one_line(capsys) == (
        "warning: SWITCHBOARD_KAFKA_PARTITION is no setting; "
        "did you mean SWITCHBOARD_KAFKA_PARTITIONS?"
    )


def _switchboard(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return subprocess.run(
        [sys.executable, "-m", "router.app", *args],
        env={**environ, "SWITCHBOARD_LOG_FORMAT": "json", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_with_json_logs_a_usage_error_is_one_record_too() -> None:
    """A mistyped option in a manifest had been a box of text a log pipeline cannot
    read, though the README promises JSON from a failed start."""
    result = _switchboard("run", "--roles", "router")
    assert result.returncode == 2
    [record] = [orjson.loads(line) for line in result.stderr.splitlines()]
    assert (record["event"], record["setting"]) == ("startup_failed", "command line")
    assert "No such option: --roles" in record["error"]


def test_a_failed_start_and_its_warnings_name_the_role() -> None:
    """A pipeline filtering on ``role`` had missed the only lines a crash-looping pod
    writes."""
    result = _switchboard(
        "run",
        "--role",
        "router",
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
        SWITCHBOARD_KAFKA_PARTITION="12",
    )
    assert result.returncode == 2
    records = [orjson.loads(line) for line in result.stderr.splitlines()]
    assert [r["event"] for r in records] == ["unknown_setting", "startup_failed"]
    assert {r["role"] for r in records} == {"router"}


def test_with_json_logs_a_group_named_alone_answers_its_help_and_no_empty_record() -> None:
    result = _switchboard("topics")
    assert result.returncode == 2
    assert "ensure" in result.stdout
    assert result.stderr == ""
