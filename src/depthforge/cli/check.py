"""`depthforge check-benchmark`."""

from pathlib import Path
from typing import Annotated

import typer

from depthforge.cli.common import app, show_error


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
