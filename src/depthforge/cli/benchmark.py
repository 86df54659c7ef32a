"""`depthforge check-benchmark` and `depthforge prepare-nuscenes`: benchmarks before evaluate."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from depthforge.cli.common import (
    ShardOption,
    app,
    finish,
    launch,
    log_to,
    refusing_conflicts,
    show_error,
)


@app.command("check-benchmark")
def check_benchmark(
    benchmark: Annotated[
        str, typer.Argument(metavar="BENCHMARK", help="Protocol name, as evaluate's --benchmark.")
    ],
    root: Annotated[Path, typer.Option(help="The benchmark's root folder.")],
    split: Annotated[Path | None, typer.Option(help="Split file, for benchmarks that take one.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Samples read at once.")] = 4,
) -> None:
    """Check a downloaded benchmark: every sample read as evaluate reads it, counts per condition."""
    from depthforge.evaluate.check import EXPECTED
    from depthforge.evaluate.check import check_benchmark as check
    from depthforge.evaluate.protocols import PROTOCOLS

    if benchmark not in PROTOCOLS:
        show_error(f"unknown benchmark '{benchmark}'; known: {', '.join(PROTOCOLS)}")
        raise typer.Exit(2)
    try:
        reader = PROTOCOLS[benchmark].make_reader(str(root), **({"split": split} if split else {}))
    except TypeError as error:
        show_error(f"{benchmark} takes no --split ({error})")
        raise typer.Exit(2) from error
    result = check(reader, workers, report=show_error)
    for condition in sorted(result.readable.keys() | result.without_ground_truth.keys()):
        empty = result.without_ground_truth[condition]
        typer.echo(
            f"{condition}: {result.readable[condition]} readable"
            + (f", {empty} without any valid ground truth (scored as nothing)" if empty else "")
        )
    for line in result.against(EXPECTED.get(benchmark, {})):
        typer.echo(line)
    typer.echo(f"{sum(result.readable.values())} samples ready in {root}; {len(result.problems)} problems")
    if result.problems or not result.readable:
        raise typer.Exit(1)


@app.command("prepare-nuscenes")
def prepare_nuscenes(
    dataroot: Annotated[Path, typer.Option(help="The nuScenes dataroot (holds v1.0-trainval/, samples/).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The prepared benchmark folder.")],
    version: Annotated[str, typer.Option(help="The devkit's table version.")] = "v1.0-trainval",
    split: Annotated[str, typer.Option(help="val (md4all's validation scenes) or all.")] = "val",
    shard: ShardOption = "0/1",
) -> None:
    """md4all's nuScenes ground truth (front camera, LiDAR keyframes) for the md4all-nuscenes protocol."""
    from depthforge.evaluate.prepare import prepare_nuscenes as prepare

    expected = "md4all-nuscenes" if split == "val" and version == "v1.0-trainval" else None
    _prepare(
        out, shard, expected, lambda part: prepare(dataroot, out, version, split, part, report=show_error)
    )


@app.command("prepare-robotcar")
def prepare_robotcar(
    dataroot: Annotated[
        Path, typer.Option(help="md4all's RobotCar root: models/, splits/, the scenes' images and clouds.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The prepared benchmark folder.")],
    shard: ShardOption = "0/1",
) -> None:
    """md4all's RobotCar test ground truth (its precomputed LiDAR clouds) for the md4all-robotcar protocol."""
    from depthforge.evaluate.prepare import prepare_robotcar as prepare

    _prepare(out, shard, "md4all-robotcar", lambda part: prepare(dataroot, out, part, show_error))


def _prepare(out: Path, shard: str, expected: str | None, run: "Callable") -> None:
    """Run a preparation on this process's shard; print the frames per condition, a warning where
    they differ from the published split's counts, and the summary."""
    from depthforge.evaluate.check import EXPECTED
    from depthforge.evaluate.prepare import PrepareError

    log_to(out, "prepare.log")
    part, _ = launch(shard, "cpu")
    try:
        with refusing_conflicts():
            summary, conditions = run(part)
    except PrepareError as error:
        show_error(str(error))
        raise typer.Exit(2) from error
    found = {"all": conditions.total(), **conditions}
    for condition, count in sorted(conditions.items()):
        typer.echo(f"{condition}: {count}")
    for group, count in EXPECTED.get(expected or "", {}).items():
        if found.get(group, 0) != count:
            typer.echo(
                f"warning: md4all's split has {count} frames in {group}, this one {found.get(group, 0)}"
            )
    finish(
        len(summary.failed),
        f"{summary.done} frames prepared into {out}; {summary.already_done} already there",
    )
