"""`depthforge evaluate` and `depthforge report`."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import numpy as np

    from depthforge.depth.alignment import Alignment
    from depthforge.depth.model import DepthModel
    from depthforge.depth.spaces import DepthSpace
    from depthforge.evaluate.readers import BenchmarkReader, SampleRef

from depthforge.cli.common import (
    Device,
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
    benchmark: Annotated[
        str, typer.Option(help="Protocol: md4all-nuscenes, kitti-eigen, depth4tom-booster, generic, ...")
    ],
    root: Annotated[Path, typer.Option(help="The benchmark's root folder.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Evaluation folder (cache, CSV, JSON, Markdown, figures).")
    ],
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", "-m", metavar="MODEL", help="Model to score (repeatable); the first is the reference."
        ),
    ] = None,
    predictions: Annotated[
        list[str] | None,
        typer.Option(
            metavar="DIR:SPACE",
            help="Predictions made elsewhere, DIR/ID.npy per sample, in SPACE (relative_inverse_depth, "
            "metric_depth, inverse_depth); repeatable, scored after the models.",
        ),
    ] = None,
    split: Annotated[
        Path | None, typer.Option(help="Split file, for benchmarks that take one (KITTI).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Score only the first N samples.")] = None,
    metric_alignment: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ALIGNMENT",
            help="Alignment of metric models (repeatable): none, median, lstsq-inverse, lstsq-depth; each "
            "has its own tables. Default: lstsq-inverse (as relative models) and none.",
        ),
    ] = None,
    figures: Annotated[
        int, typer.Option(help="Figure grids to draw, taken from the conditions in turn.")
    ] = 8,
    corruption: Annotated[
        str | None,
        typer.Option(help="Corrupt the images first: KITTI-C's (gaussian_noise, fog...), physics-night..."),
    ] = None,
    severities: Annotated[
        str, typer.Option(help="Corruption severities, 1-5, comma-separated.")
    ] = "1,2,3,4,5",
    batch_size: Annotated[int, typer.Option(min=1)] = 4,
    device: Device = "auto",
    dtype: Annotated[
        str,
        typer.Option(help="fp32 (as published numbers are), bf16, fp16 or auto; part of the cache's key."),
    ] = "fp32",
) -> None:
    """Score models, and predictions made elsewhere, on a benchmark with its published protocol;
    tables, per-sample CSV and figures."""
    from depthforge.evaluate.protocols import PROTOCOLS
    from depthforge.evaluate.readers import ReaderError
    from depthforge.evaluate.run import (
        Evaluation,
        cache_predictions,
        external_predictions,
        score,
        write_figures,
        write_outputs,
    )
    from depthforge.evaluate.tables import terminal_table

    models, folders, alignments, kind = _check_options(
        model, predictions, metric_alignment, corruption, dtype, device
    )
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

    def load(name: str) -> "DepthModel":
        return load_depth_model(name, device, dtype)

    table = ("dee", "abs_rel", "delta<1.25") if corruption else protocol.table
    names = [*models, *(str(folder) for folder, _ in folders)]
    evaluation = Evaluation(protocol, names, reader.unit, table, dtype=kind[0], device=kind[1])
    for variant, transform in _variants(reader, corruption, severities):
        with refusing_conflicts():
            cached = {
                name: cache_predictions(
                    name, reader, refs, out, load, batch_size, show_error, kind, variant, transform
                )
                for name in models
            }
        cached |= {
            str(folder): external_predictions(folder, space, refs, show_error) for folder, space in folders
        }
        score(evaluation, reader, refs, out, cached, show_error, alignments, variant or None)
    summary = write_outputs(evaluation, out)
    if not corruption:
        write_figures(protocol, reader, refs, out, cached, figures, alignments)
    typer.echo(terminal_table(summary, table))
    typer.echo(f"Every condition side by side: {out / 'report.md'}; every metric: {out / 'per_sample.csv'}.")
    scored = len(evaluation.scored())
    finish(len(refs) - scored, f"{scored} of {len(refs)} samples scored; outputs in {out}")


def _check_options(
    model: list[str] | None,
    predictions: list[str] | None,
    metric_alignment: list[str] | None,
    corruption: str | None,
    dtype: str,
    device: str,
) -> tuple[list[str], list[tuple[Path, "DepthSpace"]], tuple["Alignment", ...], tuple[str, str]]:
    """The models, prediction folders, metric alignments and precision asked for, or one error
    line and exit status 2."""
    from depthforge.depth.alignment import Alignment
    from depthforge.evaluate.protocols import DEFAULT_METRIC_ALIGNMENTS
    from depthforge.evaluate.run import parse_predictions, precision

    try:
        if not model and not predictions:
            raise ValueError("nothing to score: give --model or --predictions (or both)")
        if predictions and corruption:
            raise ValueError("--predictions are scored as they are: they cannot be given --corruption")
        folders = [parse_predictions(spec) for spec in predictions or []]
        known = [alignment.value for alignment in Alignment]
        wrong = [name for name in metric_alignment or [] if name not in known]
        if wrong:
            raise ValueError(f"unknown --metric-alignment '{wrong[0]}'; known: {', '.join(known)}")
        alignments = tuple(map(Alignment, metric_alignment or [])) or DEFAULT_METRIC_ALIGNMENTS
        return list(model or []), folders, alignments, precision(dtype, device)
    except ValueError as error:
        show_error(str(error))
        raise typer.Exit(2) from error


def _variants(reader: "BenchmarkReader", corruption: str | None, severities: str) -> list[tuple[str, object]]:
    """``("", None)`` for clean images, else one ``(name-level, transform)`` per severity."""
    from depthforge.evaluate.corruptions import PHYSICS, canonical_name, corrupt
    from depthforge.generate.seeds import numpy_rng, sample_seed

    if corruption is None:
        return [("", None)]
    try:
        name = canonical_name(corruption)
    except ValueError as error:
        show_error(str(error))
        raise typer.Exit(2) from error
    variants = []
    for level in (int(v) for v in split(severities)):
        variant = f"{name}-{level}"

        def transform(
            ref: "SampleRef", image: "np.ndarray", level: int = level, variant: str = variant
        ) -> "np.ndarray":
            depth = reader.load(ref).depth if name in PHYSICS else None
            return corrupt(image, name, level, numpy_rng(sample_seed(0, f"{variant}/{ref.id}")), depth)

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
