"""`depthforge run CONFIG.yaml`: the whole method from one file, as a list of stages.

Each stage is one depthforge command with its arguments, so a pipeline runs exactly what a user
would type. A YAML file looks like::

    workdir: runs/demo
    vars: {teacher: depth-anything-v2-small}
    stages:
      - name: label
        command: label
        args: {inputs: ["{workdir}/easy"], model: "{teacher}", out: "{workdir}/data"}
      - name: generate
        command: generate
        args: {dataset: "{workdir}/data", conditions: "night,fog", backend: physics}

``{workdir}`` and every ``vars`` entry are substituted in strings. The keys of ``args`` are the
command's argument names as its ``--help`` shows them, with ``_`` for ``-``: positional arguments by
their name (``dataset``, ``inputs``), options without their dashes (``per_condition: 2`` is
``--per-condition 2``; ``true`` / ``false`` turn a flag on / off; a list repeats the option). Every
stage is checked before the first one runs: an unknown key or a value the command would refuse is
named with its stage and file.

A finished stage leaves ``WORKDIR/.stages/NAME.json`` with the hash of its command line; a rerun
skips it while the hash is the same and no earlier stage ran again, so a rerun resumes. A changed
stage runs again and so does every stage after it; one whose outputs were made with other settings
(another seed, teacher or generator) stops with an error instead of resuming over them.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Protocol

from depthforge.io import YamlReadError, read_yaml


class PipelineError(ValueError):
    """A pipeline file is malformed or a stage failed."""


@dataclass(frozen=True)
class Signature:
    """How a command takes its arguments: its positional argument names, in order, and for each
    option key its flag and the flag that turns it off (None for a flag without one)."""

    positional: tuple[str, ...]
    options: dict[str, tuple[str, str | None]]


class CommandLine(Protocol):
    def signature(self, words: list[str]) -> Signature | None:
        """The signature of the command named by ``words`` (``["sim", "render"]``); None if unknown."""

    def check(self, argv: list[str]) -> str | None:
        """Why the command line ``argv`` would be refused, or None: parsed, never run."""


@dataclass(frozen=True)
class Stage:
    name: str
    argv: list[str]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha1(json.dumps(self.argv).encode()).hexdigest()


def _substitute(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        try:
            return value.format(**variables)
        except KeyError as error:
            raise PipelineError(f"unknown variable {error} in '{value}'") from error
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {key: _substitute(v, variables) for key, v in value.items()}
    return value


def _argv(words: list[str], args: dict[str, Any], signature: Signature) -> list[str]:
    """The command line of a stage: its command, positional arguments in order, then options."""
    unknown = [key for key in args if key not in signature.positional and key not in signature.options]
    if unknown:
        known = [*signature.positional, *signature.options]
        close = get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; it takes {', '.join(known)}"
        raise PipelineError(f"unknown key '{unknown[0]}' for `depthforge {' '.join(words)}`{hint}")
    argv = list(words)
    for key in signature.positional:
        value = args.get(key)
        argv += [str(v) for v in value] if isinstance(value, list) else [] if value is None else [str(value)]
    for key, value in args.items():
        if key in signature.positional or value is None:
            continue
        flag, off = signature.options[key]
        if value is True:
            argv.append(flag)
        elif value is False:
            argv += [off] if off else []
        else:
            for item in value if isinstance(value, list) else [value]:
                argv += [flag, str(item)]
    return argv


def load_pipeline(path: Path, commands: CommandLine) -> tuple[Path, list[Stage]]:
    """The work folder and the stages of a pipeline file, every stage checked by ``commands``."""
    try:
        document = read_yaml(path, "pipeline") or {}
    except YamlReadError as error:
        raise PipelineError(str(error)) from error
    stages = document.get("stages") if isinstance(document, dict) else None
    if "workdir" not in document or not stages or not isinstance(stages, list):
        raise PipelineError(f"{path}: a pipeline needs 'workdir' and a list of 'stages'")
    try:
        return _stages(document, commands)
    except PipelineError as error:
        raise PipelineError(f"{path}: {error}") from error


def _stages(document: dict[str, Any], commands: CommandLine) -> tuple[Path, list[Stage]]:
    """The work folder and the stages of a pipeline document, its variables filled in."""
    variables = {key: str(value) for key, value in (document.get("vars") or {}).items()}
    variables["workdir"] = str(document["workdir"])
    variables = {key: _substitute(value, variables) for key, value in variables.items()}
    stages, names = [], set()
    for entry in document["stages"]:
        name, command = (entry.get("name"), entry.get("command")) if isinstance(entry, dict) else (None, None)
        if not name or not command or name in names:
            raise PipelineError(f"every stage needs a unique 'name' and a 'command' ({entry})")
        names.add(name)
        stages.append(Stage(name, _checked_argv(name, str(command).split(), entry, variables, commands)))
    return Path(variables["workdir"]), stages


def _checked_argv(
    name: str, words: list[str], entry: dict[str, Any], variables: dict[str, str], commands: CommandLine
) -> list[str]:
    """A stage's command line, refused (naming the stage and the key) if its command would refuse it."""
    signature = commands.signature(words)
    if signature is None:
        raise PipelineError(f"stage '{name}': unknown command '{' '.join(words)}'")
    args = entry.get("args") or {}
    if not isinstance(args, dict):
        raise PipelineError(f"stage '{name}': 'args' must be a mapping of argument names to values")
    try:
        argv = _argv(words, _substitute(args, variables), signature)
    except PipelineError as error:
        raise PipelineError(f"stage '{name}': {error}") from error
    if problem := commands.check(argv):
        # The command names its options as flags; the file names them as keys.
        problem = re.sub(r"'--([a-z0-9-]+)'", lambda m: "'" + m.group(1).replace("-", "_") + "'", problem)
        raise PipelineError(f"stage '{name}': {problem}")
    return argv


def run_pipeline(
    path: Path,
    invoke: Callable[[list[str]], int],
    commands: CommandLine,
    report: Callable[[str], None] = print,
    force: bool = False,
) -> list[str]:
    """Check every stage, then run them in order through ``invoke(argv) -> exit status``; return
    the names run.

    A stage whose status is not 0 stops the pipeline (its work is kept; a rerun resumes it).
    """
    workdir, stages = load_pipeline(path, commands)
    markers = workdir / ".stages"
    markers.mkdir(parents=True, exist_ok=True)
    ran: list[str] = []
    for stage in stages:
        marker = markers / f"{stage.name}.json"
        done = marker.is_file() and json.loads(marker.read_text()).get("fingerprint") == stage.fingerprint
        if done and not ran and not force:
            report(f"stage {stage.name}: complete, skipped")
            continue
        report(f"stage {stage.name}: depthforge {' '.join(stage.argv)}")
        status = invoke(stage.argv)
        if status != 0:
            raise PipelineError(
                f"stage {stage.name} failed (exit status {status}); its finished work is kept, and a"
                " rerun resumes it once the error above is dealt with"
            )
        marker.write_text(json.dumps({"fingerprint": stage.fingerprint, "argv": stage.argv}, indent=2))
        ran.append(stage.name)
    return ran
