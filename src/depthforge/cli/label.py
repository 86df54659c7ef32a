"""`depthforge predict` and `depthforge label`."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from depthforge.depth.spaces import DepthSpace

if TYPE_CHECKING:
    pass

from depthforge.cli.common import (
    Device,
    Dtype,
    ShardOption,
    app,
    finish,
    launch,
    load_depth_model,
    log_to,
    refusing_conflicts,
    require_images,
    show_error,
)


@app.command()
def predict(
    inputs: Annotated[
        list[Path], typer.Argument(metavar="INPUTS", help="Image files and folders (searched recursively).")
    ],
    model: Annotated[str, typer.Option("--model", "-m", help="Preset name, hub id or local folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 4,
    device: Device = "auto",
    dtype: Dtype = "auto",
    space: Annotated[
        DepthSpace | None, typer.Option(help="Output space, for models that do not say.")
    ] = None,
) -> None:
    """Predict depth for images: NAME.npy (raw, float32) and NAME.png (coloured) per image."""
    from depthforge.predict import predict_images

    require_images(inputs)
    depth_model = load_depth_model(model, device, dtype, space)
    log_to(out, "predict.log")
    try:
        with refusing_conflicts():
            summary = predict_images(inputs, depth_model, out, batch_size=batch_size, report=show_error)
    except ValueError as error:
        show_error(str(error))
        raise typer.Exit(2) from error
    finish(
        len(summary.failed),
        f"{summary.written} predicted into {out} ({depth_model.space.value}, unit {depth_model.space.unit}); "
        f"{summary.already_done} already there",
    )


@app.command()
def label(
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUTS", help="Easy images: files and folders.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The teacher: preset, hub id or folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The dataset folder.")],
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    shard: ShardOption = "0/1",
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Label easy images with the teacher: the dataset's easy images, labels and label manifest."""
    from depthforge.data.dataset import DatasetFolder
    from depthforge.label import flat_label_warning, label_images

    require_images(inputs)
    part, device = launch(shard, device)
    teacher = load_depth_model(model, device, dtype)
    log_to(out, "label.log")
    dataset = DatasetFolder(out)
    with refusing_conflicts():
        summary = label_images(inputs, teacher, dataset, part, batch_size, report=show_error)
    dataset.write_metadata()
    if warning := flat_label_warning(dataset.labels()):
        typer.echo(f"warning: {warning}", err=True)
    finish(len(summary.failed), f"{summary.done} labelled into {out}; {summary.already_done} already there")
