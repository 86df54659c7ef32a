"""A pytest plugin: the run fails when tests leave files in the checkout (tests write only under
temporary folders). It compares ``git status --porcelain`` of the root folder before and after."""

import subprocess
from pathlib import Path

import pytest

_BEFORE = pytest.StashKey[set[str] | None]()


def checkout_changes(root: Path) -> set[str] | None:
    """The changed and untracked (not ignored) paths of the git checkout at ``root``; None outside one."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=root, capture_output=True, text=True
    )
    return set(status.stdout.splitlines()) if status.returncode == 0 else None


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[_BEFORE] = checkout_changes(session.config.rootpath)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before, after = session.stash.get(_BEFORE, None), checkout_changes(session.config.rootpath)
    if before is None or after is None or not (left := sorted(after - before)):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"tests left {len(left)} file(s) in the checkout: {', '.join(left)}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
