"""The ``depthforge`` command line: parses arguments, then calls the stage functions."""

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from depthforge.depth.spaces import DepthSpace

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """depthforge: make monocular depth networks robust to hard conditions, without real data of them."""


def _log_to(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / name)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("depthforge").addHandler(handler)
    logging.getLogger("depthforge").setLevel(logging.INFO)


def _error(message: str) -> None:
    logging.getLogger("depthforge").error(message)
    # tqdm.write keeps the line whole while a progress bar is drawn.
    tqdm.write(f"error: {message}", file=sys.stderr)


@app.command()
def predict(
    inputs: Annotated[list[Path], typer.Argument(help="Image files and folders (searched recursively).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Preset name, hub id or local folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 4,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    dtype: Annotated[
        str, typer.Option(help="auto (bf16/fp16 on CUDA, fp32 on CPU), fp32, bf16, fp16.")
    ] = "auto",
    space: Annotated[
        DepthSpace | None, typer.Option(help="Output space, for models that do not say.")
    ] = None,
) -> None:
    """Predict depth for images: NAME.npy (raw, float32) and NAME.png (coloured) per image."""
    from depthforge.depth.model import DepthModel, ModelLoadError
    from depthforge.predict import predict_images

    _log_to(out, "predict.log")
    try:
        depth_model = DepthModel.from_pretrained(model, device=device, dtype=dtype, space=space)
    except (ModelLoadError, ValueError) as error:
        _error(str(error))
        raise typer.Exit(2) from error
    try:
        summary = predict_images(inputs, depth_model, out, batch_size=batch_size, report=_error)
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(2) from error
    typer.echo(
        f"{summary.written} predicted into {out} ({depth_model.space.value}, unit {depth_model.space.unit}); "
        f"{summary.already_done} already there; {len(summary.failed)} failed"
    )
    if summary.failed:
        raise typer.Exit(1)


@app.command("make-tiny-model")
def make_tiny_model(
    arch: Annotated[str, typer.Argument(help="dpt, depth-anything or zoedepth.")],
    out: Annotated[Path, typer.Argument(help="Folder to save the model to.")],
    seed: int = 0,
) -> None:
    """Save a tiny, UNTRAINED depth network (real architecture, random weights) for smoke runs."""
    from depthforge.depth.tiny import save_tiny_model

    save_tiny_model(arch, out, seed)
    typer.echo(f"saved an untrained tiny {arch} model to {out} (random weights: its depth is meaningless)")
