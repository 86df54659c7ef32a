"""The ``depthforge`` command line: parses arguments, then calls the stage functions."""

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from tqdm import tqdm

from depthforge.depth.spaces import DepthSpace

if TYPE_CHECKING:
    from depthforge.data.dataset import DatasetFolder
    from depthforge.depth.model import DepthModel
    from depthforge.generate.request import Generator
    from depthforge.jobs import Shard

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


Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")]
Dtype = Annotated[str, typer.Option(help="auto (bf16/fp16 on CUDA, fp32 on CPU), fp32, bf16, fp16.")]
ShardOption = Annotated[str, typer.Option("--shard", help="i/n: this job's share of the work (job arrays).")]


def _load_depth_model(name: str, device: str, dtype: str, space: DepthSpace | None = None) -> "DepthModel":
    """The model, or one error line and exit status 2."""
    from depthforge.depth.model import DepthModel, ModelLoadError

    try:
        return DepthModel.from_pretrained(name, device=device, dtype=dtype, space=space)
    except (ModelLoadError, ValueError) as error:
        _error(str(error))
        raise typer.Exit(2) from error


def _finish(failed: int, message: str) -> None:
    typer.echo(f"{message}; {failed} failed")
    if failed:
        raise typer.Exit(1)


@app.command()
def predict(
    inputs: Annotated[list[Path], typer.Argument(help="Image files and folders (searched recursively).")],
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

    _log_to(out, "predict.log")
    depth_model = _load_depth_model(model, device, dtype, space)
    try:
        summary = predict_images(inputs, depth_model, out, batch_size=batch_size, report=_error)
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(2) from error
    _finish(
        len(summary.failed),
        f"{summary.written} predicted into {out} ({depth_model.space.value}, unit {depth_model.space.unit}); "
        f"{summary.already_done} already there",
    )


def _launch(shard: str, device: str) -> tuple["Shard", str]:
    """This process's shard of the work and its device, within any ``accelerate``/``torchrun`` launch."""
    from depthforge.jobs import Shard, launch_device, launch_shard

    try:
        return launch_shard(Shard.parse(shard)), launch_device(device)
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(2) from error


@app.command()
def label(
    inputs: Annotated[list[Path], typer.Argument(help="Easy images: files and folders.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The teacher: preset, hub id or folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The dataset folder.")],
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    shard: ShardOption = "0/1",
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Label easy images with the teacher: the dataset's easy images, labels and label manifest."""
    from depthforge.data.dataset import DatasetFolder
    from depthforge.label import label_images

    _log_to(out, "label.log")
    part, device = _launch(shard, device)
    teacher = _load_depth_model(model, device, dtype)
    dataset = DatasetFolder(out)
    summary = label_images(inputs, teacher, dataset, part, batch_size, report=_error)
    dataset.write_metadata()
    _finish(len(summary.failed), f"{summary.done} labelled into {out}; {summary.already_done} already there")


def _finalize(dataset: "DatasetFolder", settings: dict) -> None:
    """After every process is done: the merged metadata and the dataset card, written once."""
    from depthforge.jobs import launch_state

    state = launch_state()
    state.wait_for_everyone()
    if state.is_main_process:
        dataset.write_metadata()
        dataset.write_card(settings)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@app.command()
def generate(
    dataset_path: Annotated[
        Path, typer.Argument(metavar="DATASET", help="A dataset folder made by `label`.")
    ],
    conditions: Annotated[str, typer.Option(help="Comma-separated conditions, e.g. night,rain.")],
    per_condition: Annotated[int, typer.Option(min=1, help="Samples per easy image and condition.")] = 2,
    backend: Annotated[
        str, typer.Option(help="t2i-adapter (the paper's), controlnet or physics.")
    ] = "t2i-adapter",
    base_model: Annotated[
        str | None, typer.Option(help="Stable Diffusion 1.5 or SDXL: hub id or folder.")
    ] = None,
    control_model: Annotated[
        str | None, typer.Option(help="Depth adapter or ControlNet: hub id or folder.")
    ] = None,
    family: Annotated[str | None, typer.Option(help="sd15 or sdxl, for the default models.")] = None,
    condition_model: Annotated[
        str | None,
        typer.Option(help="Depth model whose depth conditions the generator (default: the label)."),
    ] = None,
    teacher: Annotated[
        str | None, typer.Option(help="Model for the consistency score (default: the labels' teacher).")
    ] = None,
    consistency: Annotated[bool, typer.Option(help="Score each sample's structure consistency.")] = True,
    max_inconsistency: Annotated[
        float | None, typer.Option(help="Flag samples whose score is above.")
    ] = None,
    drop_inconsistent: Annotated[bool, typer.Option(help="Drop (not keep) flagged samples.")] = False,
    prompt_bank: Annotated[
        list[Path] | None, typer.Option(help="Extra prompt bank YAML (repeatable).")
    ] = None,
    prompt: Annotated[
        list[str] | None, typer.Option(help="A free prompt, 'condition: text' (repeatable).")
    ] = None,
    steps: Annotated[int, typer.Option(min=1)] = 30,
    guidance_scale: float = 7.5,
    control_scale: float = 1.0,
    resolution: Annotated[
        int | None, typer.Option(help="Short side of generation (default 512 / 1024).")
    ] = None,
    strength: Annotated[
        float | None, typer.Option(help="ControlNet image-to-image: keep the source's look (0-1).")
    ] = None,
    scheduler: Annotated[str | None, typer.Option(help="ddim, pndm, unipc, dpm, euler, euler-a.")] = None,
    seed: int = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 4,
    shard: ShardOption = "0/1",
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Turn a labelled dataset's easy images into hard ones, K per condition, sharing their labels."""
    from depthforge.data.dataset import DatasetFolder
    from depthforge.generate.job import Consistency, GenerateJob, generate_samples, plan_samples

    dataset = DatasetFolder(dataset_path)
    _log_to(dataset_path, "generate.log")
    labels = dataset.labels()
    if not labels:
        _error(f"{dataset_path}: no labelled images; run `depthforge label` first")
        raise typer.Exit(2)
    wanted = _split(conditions)
    part, device = _launch(shard, device)
    generator, banks = _make_generator(
        backend,
        wanted,
        base_model,
        control_model,
        family,
        prompt_bank or [],
        prompt or [],
        steps,
        guidance_scale,
        control_scale,
        resolution,
        strength,
        scheduler,
        batch_size,
        device,
        dtype,
    )
    checker = None
    if consistency:
        checker = Consistency(
            _load_depth_model(teacher or labels[0]["teacher"], device, dtype),
            max_inconsistency,
            drop_inconsistent,
        )
    conditioner = _load_depth_model(condition_model, device, dtype) if condition_model else None
    job = GenerateJob(dataset, generator, batch_size, conditioner, checker)
    samples = plan_samples(labels, wanted, per_condition, seed, banks)
    summary = generate_samples(dataset, job, samples, part, report=_error)
    settings = {
        "stage": "generate",
        "conditions": wanted,
        "per_condition": per_condition,
        "seed": seed,
        "generator": job.description,
        "condition_model": condition_model,
        "max_inconsistency": max_inconsistency,
        "drop_inconsistent": drop_inconsistent,
    }
    _finalize(dataset, settings)
    _finish(
        len(summary.failed),
        f"{summary.done} generated into {dataset_path}; {summary.already_done} already there",
    )


def _make_generator(
    backend: str,
    conditions: list[str],
    base_model: str | None,
    control_model: str | None,
    family: str | None,
    prompt_banks: list[Path],
    prompts: list[str],
    steps: int,
    guidance_scale: float,
    control_scale: float,
    resolution: int | None,
    strength: float | None,
    scheduler: str | None,
    batch_size: int,
    device: str,
    dtype: str,
) -> tuple["Generator", "dict | None"]:
    """The generator and, for diffusion, the prompt banks; one error line and exit 2 if unusable."""
    from depthforge.depth.model import resolve_device, resolve_dtype
    from depthforge.generate.diffusion import (
        Backend,
        DiffusionGenerator,
        DiffusionLoadError,
        DiffusionSettings,
        Family,
    )
    from depthforge.generate.physics import EFFECTS, PhysicsGenerator
    from depthforge.generate.prompts import PromptBankError, load_banks, select

    try:
        kind = Backend(backend)
        if kind is Backend.PHYSICS:
            unknown = [c for c in conditions if c not in EFFECTS]
            if unknown:
                raise ValueError(
                    f"the physics backend cannot render {', '.join(unknown)}; it knows {', '.join(EFFECTS)}"
                )
            return PhysicsGenerator(), None
        banks = load_banks(prompt_banks, prompts)
        select(banks, conditions)
        settings = DiffusionSettings(steps, guidance_scale, control_scale, resolution, strength, scheduler)
        torch_device = resolve_device(device)
        generator = DiffusionGenerator(
            kind,
            base_model,
            control_model,
            settings,
            torch_device,
            resolve_dtype(dtype, torch_device),
            batch_size,
            Family(family) if family else None,
        )
        return generator, banks
    except (ValueError, PromptBankError, DiffusionLoadError) as error:
        _error(str(error))
        raise typer.Exit(2) from error


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


if __name__ == "__main__":
    app()
