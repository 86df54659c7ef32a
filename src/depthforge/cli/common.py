"""The command line's app and what its commands share: logging, errors, devices, shards."""

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from tqdm import tqdm

from depthforge.depth.spaces import DepthSpace

if TYPE_CHECKING:
    from depthforge.data.dataset import DatasetFolder
    from depthforge.depth.model import DepthModel
    from depthforge.jobs import Shard

QUIET_LIBRARIES = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
}
"""Set (unless the user set them) before the libraries load: no download and weight-loading bars,
no advice; depthforge prints its own progress."""

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)


def _show_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"depthforge {version('depthforge')}")
        raise typer.Exit()


@app.callback()
def main(
    png_compression: Annotated[
        int, typer.Option(min=0, max=9, help="zlib level of the PNGs written: 1 is fast, 9 small.")
    ] = 1,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """depthforge: make monocular depth networks robust to hard conditions, without real data of them."""
    from depthforge.io import PNG_COMPRESSION

    for key, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(key, value)

    PNG_COMPRESSION["level"] = png_compression


def log_to(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / name)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("depthforge").addHandler(handler)
    logging.getLogger("depthforge").setLevel(logging.INFO)


def show_error(message: str) -> None:
    logging.getLogger("depthforge").error(message)
    # tqdm.write keeps the line whole while a progress bar is drawn.
    tqdm.write(f"error: {message}", file=sys.stderr)


Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")]
Dtype = Annotated[str, typer.Option(help="auto (bf16/fp16 on CUDA, fp32 on CPU), fp32, bf16, fp16.")]
ShardOption = Annotated[str, typer.Option("--shard", help="i/n: this job's share of the work (job arrays).")]


def load_depth_model(name: str, device: str, dtype: str, space: DepthSpace | None = None) -> "DepthModel":
    """The model, or one error line and exit status 2."""
    from depthforge.depth.model import DepthModel, ModelLoadError

    try:
        return DepthModel.from_pretrained(name, device=device, dtype=dtype, space=space)
    except (ModelLoadError, ValueError) as error:
        show_error(str(error))
        raise typer.Exit(2) from error


@contextmanager
def refusing_conflicts() -> Iterator[None]:
    """A stage asked to resume outputs made with other settings, or to write a shard that another
    process is writing: one error line, exit status 2."""
    from depthforge.jobs import SettingsMismatch
    from depthforge.locks import LockHeld

    try:
        yield
    except (SettingsMismatch, LockHeld) as error:
        show_error(str(error))
        raise typer.Exit(2) from error


def finish(failed: int, message: str) -> None:
    typer.echo(f"{message}; {failed} failed")
    if failed:
        raise typer.Exit(1)


def launch(shard: str, device: str) -> tuple["Shard", str]:
    """This process's shard of the work and its device, within any ``accelerate``/``torchrun`` launch."""
    from depthforge.jobs import Shard, launch_device, launch_shard

    try:
        return launch_shard(Shard.parse(shard)), launch_device(device)
    except ValueError as error:
        show_error(str(error))
        raise typer.Exit(2) from error


def labelled_dataset(path: Path) -> tuple["DatasetFolder", list[dict]]:
    """The dataset folder and its label rows; one error line and exit 2 when it has none."""
    from depthforge.data.dataset import DatasetFolder

    dataset = DatasetFolder(path)
    labels = dataset.labels()
    if not labels:
        show_error(f"{path}: no labelled images; run `depthforge label` first")
        raise typer.Exit(2)
    return dataset, labels


def require_images(inputs: list[Path]) -> None:
    """Before a model loads or a folder is made: when ``inputs`` hold no image, name the problems
    found, one error line, exit status 2."""
    from depthforge.io import IMAGE_SUFFIXES, find_images

    images, problems = find_images(inputs)
    if images:
        return
    for problem in problems:
        show_error(problem)
    where = ", ".join(map(str, inputs))
    show_error(f"no images in {where} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, and .txt/.lst lists)")
    raise typer.Exit(2)


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
