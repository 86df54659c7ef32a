"""`depthforge run CONFIG.yaml`: the whole method from one file, as a list of stages.

Each stage is one depthforge command with its arguments, so a pipeline runs exactly what a user
would type. A YAML file looks like::

    workdir: runs/demo
    vars: {teacher: depth-anything-v2-small}
    stages:
      - name: label
        command: label
        inputs: ["{workdir}/easy"]
        args: {model: "{teacher}", out: "{workdir}/data"}
      - name: generate
        command: generate
        args: {dataset_path: "{workdir}/data", conditions: "night,fog", backend: physics}

``{workdir}`` and every ``vars`` entry are substituted in strings. ``args`` become ``--key value``
options (``true`` -> ``--key``, ``false`` -> ``--no-key``, lists -> the option repeated), except
keys named like a command's positional argument, listed in ``inputs`` (e.g. image folders).
A finished stage leaves ``WORKDIR/.stages/NAME.json`` with the hash of its command line; a rerun
skips it while the hash is the same and no earlier stage ran again, so a rerun resumes. A changed
stage runs again and so does every stage after it; one whose outputs were made with other settings
(another seed, teacher or generator) stops with an error instead of resuming over them.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthforge.io import YamlReadError, read_yaml

POSITIONAL = {"dataset_path"}
"""Argument names that commands take as positional arguments rather than options."""


class PipelineError(ValueError):
    """A pipeline file is malformed or a stage failed."""


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


def _options(args: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for key, value in args.items():
        flag = "--" + key.replace("_", "-")
        if key in POSITIONAL:
            argv.insert(0, str(value))
        elif value is True:
            argv.append(flag)
        elif value is False:
            argv.append("--no-" + key.replace("_", "-"))
        elif isinstance(value, list):
            for item in value:
                argv += [flag, str(item)]
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def load_pipeline(path: Path) -> tuple[Path, list[Stage]]:
    """The work folder and the stages of a pipeline file."""
    try:
        document = read_yaml(path, "pipeline") or {}
    except YamlReadError as error:
        raise PipelineError(str(error)) from error
    stages = document.get("stages") if isinstance(document, dict) else None
    if "workdir" not in document or not stages or not isinstance(stages, list):
        raise PipelineError(f"{path}: a pipeline needs 'workdir' and a list of 'stages'")
    try:
        return _stages(document)
    except PipelineError as error:
        raise PipelineError(f"{path}: {error}") from error


def _stages(document: dict[str, Any]) -> tuple[Path, list[Stage]]:
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
        args = _substitute(entry.get("args") or {}, variables)
        inputs = [str(i) for i in _substitute(entry.get("inputs") or [], variables)]
        stages.append(Stage(name, [*str(command).split(), *inputs, *_options(args)]))
    return Path(variables["workdir"]), stages


def run_pipeline(
    path: Path, invoke: Callable[[list[str]], int], report: Callable[[str], None] = print, force: bool = False
) -> list[str]:
    """Run the stages in order through ``invoke(argv) -> exit status``; return the names run.

    A stage whose status is not 0 stops the pipeline (its work is kept; a rerun resumes it).
    """
    workdir, stages = load_pipeline(path)
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
