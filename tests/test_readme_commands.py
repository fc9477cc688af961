"""The README's command table is checked against the CLI, so neither can drift."""

import re
from pathlib import Path

import click
import pytest

from offline_sched.cli.main import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def _table_rows() -> dict[str, str]:
    """Command name → its row in the README's "Commands" table."""
    text = README.read_text()
    section = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`offline-sched (\S+)", line)
        if m:
            rows[m.group(1)] = line
    return rows


def _options(cmd: click.Command) -> set[str]:
    out = set()
    for p in cmd.params:
        if isinstance(p, click.Option):
            out |= {o for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}
    return out - {"--help"}


def test_every_command_is_in_the_readme_table():
    assert set(_table_rows()) == set(cli.commands)


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_readme_row_lists_exactly_the_commands_options(name):
    row = _table_rows()[name]
    cell = re.split(r"(?<!\\)\|", row)[1]
    written = set(re.findall(r"--[a-z][a-z0-9-]*", cell))
    assert written == _options(cli.commands[name]), (
        f"README row for {name}: missing {sorted(_options(cli.commands[name]) - written)}, "
        f"unknown {sorted(written - _options(cli.commands[name]))}")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example(name):
    help_text = cli.commands[name].help or ""
    assert help_text.strip() and "offline-sched" in help_text
