"""docs/first-hour.md is run as written: each ``bash`` block's depthforge commands, and the printed
lines of the ``text`` block after it are found in their output (numbers may differ)."""

import re
import shlex
import shutil
from pathlib import Path

from typer.testing import CliRunner

from depthforge.cli import app

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "first-hour.md"
NUMBER = re.compile(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?%?")


def steps(text: str) -> list[tuple[list[list[str]], list[str]]]:
    """Each bash block's commands, with the lines of the text block that follows it (if any)."""
    blocks = re.findall(r"```(bash|text)\n(.*?)```", text, re.S)
    found = []
    for index, (kind, body) in enumerate(blocks):
        if kind != "bash":
            continue
        commands = [shlex.split(line) for line in body.replace("\\\n", " ").splitlines() if line.strip()]
        after = blocks[index + 1] if index + 1 < len(blocks) else ("", "")
        found.append((commands, after[1].splitlines() if after[0] == "text" else []))
    return found


def normal(line: str) -> str:
    return NUMBER.sub("#", line.strip())


def test_the_first_hour_runs_as_written(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    walked = steps(DOC.read_text())
    assert len(walked) >= 6
    for commands, expected in walked:
        printed = []
        for command in commands:
            assert command[0] == "depthforge", command
            result = runner.invoke(app, command[1:])
            assert result.exit_code == 0, (command, result.output)
            printed += [normal(line) for line in (result.stdout + result.stderr).splitlines()]
        for line in expected:
            if line.strip() and "..." not in line:
                assert normal(line) in printed, (commands, line, printed)
