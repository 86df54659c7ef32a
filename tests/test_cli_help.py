import pytest
import typer
from typer.testing import CliRunner

from depthforge.cli import app

runner = CliRunner()


def commands(group, path=()):
    """Every command and group below ``group`` (typer's click tree, read by duck typing)."""
    found = []
    for name, command in group.commands.items():
        found.append(((*path, name), command))
        if isinstance(getattr(command, "commands", None), dict):
            found += commands(command, (*path, name))
    return found


ALL = commands(typer.main.get_command(app))
assert ("sim", "render") in [path for path, _ in ALL]


@pytest.mark.parametrize("path,command", ALL, ids=[" ".join(path) for path, _ in ALL])
def test_help_shows_every_option_whole_at_80_columns(path, command):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in result.output
    for parameter in command.params:
        for name in [*parameter.opts, *parameter.secondary_opts]:
            if name.startswith("-"):
                assert any(name in line.split() or f"{name}," in line for line in lines), name
    assert "{inputs}" not in lines[0] and "{config}" not in lines[0]


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("depthforge 0.")
