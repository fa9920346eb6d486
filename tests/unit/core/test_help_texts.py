"""``--help`` reads as paragraphs at any terminal width: the docstrings are wrapped for
the source, the terminal wraps them again, and RST's double backquotes are not shown."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from router.app.cli import app

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("command", "sentence"),
    [
        (["tail"], "A topic that does not exist is one line and exit 2."),
        (["forget"], "(said on stdout: erasing twice is not an error);"),
        (
            ["topics", "ensure"],
            "a wrong cleanup policy is altered (exit 1 when the broker refuses)",
        ),
        (
            ["rules", "explain"],
            "Without --customer, the CRM-only customer fields the rules read and the event "
            "does not carry are named in a note",
        ),
        (
            ["rules", "explain"],
            "A message the router would not route (an auto-reply, a call that is no customer "
            "contact) is evaluated all the same, with a note saying so.",
        ),
    ],
)
def test_help_paragraphs_are_not_broken_where_the_source_wrapped_them(
    command: list[str], sentence: str
) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "``" not in result.output
    lines = [" ".join(line.strip(" │").split()) for line in result.output.splitlines()]
    assert any(sentence in line for line in lines), result.output


def test_every_command_help_is_free_of_rst_literals() -> None:
    runner = CliRunner()
    commands = [["dev"], ["run"], ["bench"], ["tail"], ["forget"], ["topics", "ensure"]]
    commands += [["rules", name] for name in ("check", "test", "explain", "simulate", "bench")]
    for command in commands:
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
        assert "``" not in result.output, command
