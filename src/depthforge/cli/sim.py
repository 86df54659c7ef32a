"""`depthforge sim render`."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    pass

from depthforge.cli.common import (
    ShardOption,
    app,
    finish,
    launch,
    log_to,
    refusing_conflicts,
    show_error,
    split,
)

sim_app = typer.Typer(
    no_args_is_help=True, help="SimBench: rendered scenes with exact ground truth (Mitsuba 3)."
)
app.add_typer(sim_app, name="sim")


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise typer.BadParameter(f"size must look like WIDTHxHEIGHT, got '{text}'")
    return int(width), int(height)


@sim_app.command("render")
def sim_render(
    family: Annotated[str, typer.Option(help="street or tabletop.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Benchmark folder (generic layout).")],
    conditions: Annotated[
        str, typer.Option(help="Comma-separated: day, night, fog, tom.")
    ] = "day,night,fog,tom",
    n: Annotated[int, typer.Option("--n", min=1, help="Scenes to render.")] = 10,
    seed: int = 0,
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT in pixels.")] = "256x192",
    spp: Annotated[int, typer.Option(min=1, help="Samples per pixel.")] = 32,
    shard: ShardOption = "0/1",
) -> None:
    """Render procedural scenes in several conditions from one layout and camera, with exact depth."""
    from depthforge.sim.render import render_scenes
    from depthforge.sim.scenes import CONDITIONS

    wanted = split(conditions)
    unknown = [c for c in wanted if c not in CONDITIONS]
    if unknown:
        show_error(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(CONDITIONS)}")
        raise typer.Exit(2)
    log_to(out, "render.log")
    part, _ = launch(shard, "cpu")
    try:
        with refusing_conflicts():
            summary = render_scenes(out, family, wanted, n, seed, _size(size), spp, part, show_error)
    except ValueError as error:
        show_error(str(error))
        raise typer.Exit(2) from error
    finish(
        len(summary.failed),
        f"{summary.done} scenes rendered into {out}; {summary.already_done} already there",
    )
