"""`depthforge run`, `depthforge demo` and `depthforge make-tiny-model`."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from depthforge.pipeline import Signature

from depthforge.cli.common import app, show_error


def key_of(flag: str) -> str:
    """The pipeline key of an option: ``--per-condition`` -> ``per_condition``."""
    return flag[2:].replace("-", "_")


class AppCommands:
    """The ``CommandLine`` of a pipeline: depthforge's own commands, read from typer's command tree
    (by duck typing: typer may bring click or its own copy of it)."""

    def _command(self, argv: list[str]) -> tuple[Any, int]:
        """The command that ``argv`` starts with (None if there is none), and how many words name it."""
        command: Any = typer.main.get_command(app)
        used = 0
        while isinstance(getattr(command, "commands", None), dict):
            command = command.commands.get(argv[used]) if used < len(argv) else None
            used += 1
        return command, used

    def signature(self, words: list[str]) -> "Signature | None":
        from depthforge.pipeline import Signature

        command, used = self._command(words)
        if command is None or used != len(words):
            return None
        positional = tuple(
            (p.metavar or p.name).lower() for p in command.params if p.param_type_name == "argument"
        )
        options = {
            key_of(flag): (flag, next(iter(p.secondary_opts), None))
            for p in command.params
            if p.param_type_name == "option" and p.name != "help"
            for flag in [next((o for o in p.opts if o.startswith("--")), None)]
            if flag
        }
        return Signature(positional, options)

    def check(self, argv: list[str]) -> str | None:
        command, used = self._command(argv)
        if command is None:
            return f"unknown command '{' '.join(argv[:used])}'"
        try:
            command.make_context(" ".join(argv[:used]), argv[used:])
        except Exception as error:
            if not hasattr(error, "format_message"):  # not a usage error of click's
                raise
            return error.format_message()
        return None


@app.command("run")
def run_config(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="A pipeline YAML (see configs/).")],
    force: Annotated[bool, typer.Option(help="Run every stage again, even the complete ones.")] = False,
) -> None:
    """Run the method end to end from one YAML file; complete stages are skipped, so a rerun resumes."""
    from depthforge.pipeline import PipelineError, run_pipeline

    def invoke(argv: list[str]) -> int:
        try:
            result = app(argv, standalone_mode=False)
        except typer.Exit as stop:
            return stop.exit_code
        except SystemExit as stop:
            return int(stop.code or 0)
        return result if isinstance(result, int) else 0

    try:
        ran = run_pipeline(config, invoke, AppCommands(), report=typer.echo, force=force)
    except PipelineError as error:
        show_error(str(error))
        raise typer.Exit(1) from error
    typer.echo(f"pipeline {config}: {len(ran)} stage(s) run")


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the scenes, the generation and the training.")] = 0,
    workdir: Annotated[Path, typer.Option(help="Where everything goes.")] = Path("outputs/demo"),
) -> None:
    """The method end to end on SimBench, offline on a CPU: render, label, generate, fine-tune, evaluate."""
    from importlib import resources

    import yaml

    from depthforge.evaluate.report import compact_table
    from depthforge.sim.render import SIMBENCH_PIXEL_ROWS
    from depthforge.train.card import add_evaluation

    document = yaml.safe_load(resources.files("depthforge").joinpath("presets/demo.yaml").read_text())
    document["workdir"] = str(workdir)
    document["vars"]["seed"] = str(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "demo.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    run_config(config)
    table = compact_table(sorted((workdir / "eval").iterdir()), SIMBENCH_PIXEL_ROWS)
    (workdir / "summary.md").write_text(table)
    add_evaluation(workdir / "student" / "student", table, "SimBench (depthforge demo), teacher vs student")
    typer.echo(f"\nTeacher vs student, AbsRel and delta1 (full tables: {workdir / 'report.md'}):\n\n{table}")


@app.command("make-tiny-model")
def make_tiny_model(
    arch: Annotated[str, typer.Argument(metavar="ARCH", help="dpt, depth-anything or zoedepth.")],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Folder to save the model to.")],
    seed: int = 0,
) -> None:
    """Save a tiny, UNTRAINED depth network (real architecture, random weights) for smoke runs."""
    from depthforge.depth.tiny import save_tiny_model

    save_tiny_model(arch, out, seed)
    typer.echo(f"saved an untrained tiny {arch} model to {out} (random weights: its depth is meaningless)")
