"""`depthforge evaluate` and `depthforge report`."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import numpy as np

    from depthforge.depth.model import DepthModel
    from depthforge.evaluate.readers import BenchmarkReader, SampleRef

from depthforge.cli.common import (
    Device,
    Dtype,
    app,
    finish,
    load_depth_model,
    log_to,
    refusing_conflicts,
    show_error,
    split,
)


@app.command()
def evaluate(
    model: Annotated[
        list[str],
        typer.Option(
            "--model", "-m", metavar="MODEL", help="Model to score (repeatable); the first is the reference."
        ),
    ],
    benchmark: Annotated[
        str, typer.Option(help="Protocol: md4all-nuscenes, kitti-eigen, depth4tom-booster, generic, ...")
    ],
    root: Annotated[Path, typer.Option(help="The benchmark's root folder.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Evaluation folder (cache, CSV, JSON, Markdown, figures).")
    ],
    split: Annotated[
        Path | None, typer.Option(help="Split file, for benchmarks that take one (KITTI).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Score only the first N samples.")] = None,
    metric_alignment: Annotated[
        str | None, typer.Option(help="Override for metric models: none or median.")
    ] = None,
    figures: Annotated[
        int, typer.Option(help="Figure grids to draw, taken from the conditions in turn.")
    ] = 8,
    corruption: Annotated[
        str | None, typer.Option(help="Corrupt the images first: gaussian-noise, fog, night, ... (see docs).")
    ] = None,
    severities: Annotated[
        str, typer.Option(help="Corruption severities, 1-5, comma-separated.")
    ] = "1,2,3,4,5",
    batch_size: Annotated[int, typer.Option(min=1)] = 4,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Score models on a benchmark with its published protocol; tables, per-sample CSV and figures."""
    from depthforge.depth.alignment import Alignment
    from depthforge.evaluate.protocols import PROTOCOLS
    from depthforge.evaluate.readers import ReaderError
    from depthforge.evaluate.run import Evaluation, cache_predictions, score, write_figures, write_outputs
    from depthforge.evaluate.tables import terminal_table

    if benchmark not in PROTOCOLS:
        show_error(f"unknown benchmark '{benchmark}'; known: {', '.join(PROTOCOLS)}")
        raise typer.Exit(2)
    protocol = PROTOCOLS[benchmark]
    log_to(out, "evaluate.log")
    try:
        reader = protocol.make_reader(str(root), **({"split": split} if split else {}))
        refs = reader.refs()[:limit]
        if not refs:
            raise ReaderError(f"{root}: no samples found for {benchmark}")
        protocol = protocol.for_reader(reader, refs)
    except (ReaderError, TypeError) as error:
        show_error(str(error))
        raise typer.Exit(2) from error
    alignment = Alignment(metric_alignment) if metric_alignment else None

    def load(name: str) -> "DepthModel":
        return load_depth_model(name, device, dtype)

    table = ("dee", "abs_rel", "delta<1.25") if corruption else protocol.table
    evaluation = Evaluation(protocol, list(model), reader.unit, table)
    for variant, transform in _variants(reader, corruption, severities):
        with refusing_conflicts():
            cached = {
                name: cache_predictions(
                    name, reader, refs, out, load, batch_size, show_error, variant, transform
                )
                for name in model
            }
        score(evaluation, reader, refs, out, cached, show_error, alignment, variant or None)
    summary = write_outputs(evaluation, out)
    if not corruption:
        write_figures(protocol, reader, refs, out, cached, figures, alignment)
    typer.echo(terminal_table(summary, table))
    typer.echo(f"Every condition side by side: {out / 'report.md'}; every metric: {out / 'per_sample.csv'}.")
    scored = len({row["id"] for row in evaluation.rows})
    finish(len(refs) - scored, f"{scored} of {len(refs)} samples scored; outputs in {out}")


def _variants(reader: "BenchmarkReader", corruption: str | None, severities: str) -> list[tuple[str, object]]:
    """``("", None)`` for clean images, else one ``(name-level, transform)`` per severity."""
    from depthforge.evaluate.corruptions import CORRUPTIONS, corrupt
    from depthforge.generate.physics import EFFECTS
    from depthforge.generate.seeds import numpy_rng, sample_seed

    if corruption is None:
        return [("", None)]
    if corruption not in CORRUPTIONS:
        show_error(f"unknown corruption '{corruption}'; known: {', '.join(CORRUPTIONS)}")
        raise typer.Exit(2)
    variants = []
    for level in (int(v) for v in split(severities)):
        variant = f"{corruption}-{level}"

        def transform(
            ref: "SampleRef", image: "np.ndarray", level: int = level, variant: str = variant
        ) -> "np.ndarray":
            depth = reader.load(ref).depth if corruption in EFFECTS else None
            return corrupt(image, corruption, level, numpy_rng(sample_seed(0, f"{variant}/{ref.id}")), depth)

        variants.append((variant, transform))
    return variants


@app.command()
def report(
    evaluations: Annotated[
        list[Path], typer.Argument(metavar="EVALUATIONS", help="Folders written by `depthforge evaluate`.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The merged Markdown report.")] = Path("report.md"),
    quiet: Annotated[bool, typer.Option(help="Write the report without printing it.")] = False,
) -> None:
    """Merge evaluation runs into one comparison (e.g. teacher vs student on every benchmark)."""
    from depthforge.evaluate.report import merge_reports

    try:
        text = merge_reports(evaluations)
    except (OSError, ValueError, KeyError) as error:
        show_error(str(error))
        raise typer.Exit(2) from error
    out.write_text(text)
    if not quiet:
        typer.echo(text)
