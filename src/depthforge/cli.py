"""The ``depthforge`` command line: parses arguments, then calls the stage functions."""

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from tqdm import tqdm

from depthforge.depth.spaces import DepthSpace

if TYPE_CHECKING:
    import numpy as np

    from depthforge.data.dataset import DatasetFolder
    from depthforge.depth.model import DepthModel
    from depthforge.evaluate.readers import BenchmarkReader, SampleRef
    from depthforge.generate.request import Generator
    from depthforge.jobs import JobSummary, Shard

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.callback()
def main(
    png_compression: Annotated[
        int, typer.Option(min=0, max=9, help="zlib level of the PNGs written: 1 is fast, 9 small.")
    ] = 1,
) -> None:
    """depthforge: make monocular depth networks robust to hard conditions, without real data of them."""
    from depthforge.io import PNG_COMPRESSION

    PNG_COMPRESSION["level"] = png_compression


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


@contextmanager
def _refusing_conflicts() -> Iterator[None]:
    """A stage asked to resume outputs made with other settings, or to write a shard that another
    process is writing: one error line, exit status 2."""
    from depthforge.jobs import SettingsMismatch
    from depthforge.locks import LockHeld

    try:
        yield
    except (SettingsMismatch, LockHeld) as error:
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
        with _refusing_conflicts():
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
    with _refusing_conflicts():
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


BackendOption = Annotated[str, typer.Option(help="t2i-adapter (the paper's), controlnet or physics.")]
BaseModel = Annotated[str | None, typer.Option(help="Stable Diffusion 1.5 or SDXL: hub id or folder.")]
ControlModel = Annotated[str | None, typer.Option(help="Depth T2I-Adapter or ControlNet: hub id or folder.")]
FamilyOption = Annotated[str | None, typer.Option(help="sd15 or sdxl: picks the default models.")]
Steps = Annotated[int, typer.Option(min=1, help="Denoising steps.")]
Resolution = Annotated[
    int | None, typer.Option(help="Generate at the area of a square of this side (default 512 / 1024).")
]
Strength = Annotated[
    float | None, typer.Option(help="ControlNet image-to-image: keep the source's look (0-1).")
]
Scheduler = Annotated[str | None, typer.Option(help="ddim, pndm, unipc, dpm, euler or euler-a.")]
Vae = Annotated[str | None, typer.Option(help="Another VAE; for fp16 SDXL: madebyollin/sdxl-vae-fp16-fix.")]
ChannelsLast = Annotated[bool, typer.Option(help="Channels-last memory layout (fast path).")]
Compile = Annotated[
    bool, typer.Option("--compile", help="torch.compile the UNet and control network (fast path).")
]
SafetyChecker = Annotated[
    bool, typer.Option(help="Load SD 1.5's safety checker: flagged images are made again, then dropped.")
]
Teacher = Annotated[
    str | None, typer.Option(help="Depth model for the consistency score (default: the labels').")
]
MaxInconsistency = Annotated[
    float | None, typer.Option(help="Flag samples whose consistency score is above.")
]
PromptBanks = Annotated[
    list[Path] | None, typer.Option("--prompt-bank", help="Extra prompt bank YAML (repeatable).")
]
Prompts = Annotated[
    list[str] | None, typer.Option("--prompt", help="A free prompt, 'condition: text' (repeatable).")
]
BatchSize = Annotated[int, typer.Option(min=1, help="Samples per pipeline call.")]


@dataclass
class DiffusionOptions:
    """The command-line choices that make a generator."""

    backend: str
    base_model: str | None
    control_model: str | None
    family: str | None
    sampling: dict
    """``DiffusionSettings``' fields, by name."""


def _sampling(arguments: dict) -> dict:
    """``DiffusionSettings``' fields from a command's arguments (``--compile`` arrives as ``compile_``)."""
    from dataclasses import fields

    from depthforge.generate.diffusion import DiffusionSettings

    named = {("compile" if key == "compile_" else key): value for key, value in arguments.items()}
    return {f.name: named[f.name] for f in fields(DiffusionSettings) if f.name in named}


def _generator(
    options: DiffusionOptions, conditions: list[str], batch_size: int, device: str, dtype: str
) -> "Generator":
    """The generator for ``conditions``; one error line and exit 2 if it cannot be made."""
    from depthforge.depth.model import resolve_device, resolve_dtype
    from depthforge.generate.diffusion import (
        Backend,
        DiffusionGenerator,
        DiffusionLoadError,
        DiffusionSettings,
        Family,
    )
    from depthforge.generate.physics import CONDITIONS, PhysicsGenerator

    try:
        backend = Backend(options.backend)
        if backend is Backend.PHYSICS:
            unknown = [c for c in conditions if c not in CONDITIONS]
            if unknown:
                known = ", ".join(CONDITIONS)
                raise ValueError(f"the physics backend cannot render {', '.join(unknown)}; it knows {known}")
            return PhysicsGenerator()
        settings = DiffusionSettings(**options.sampling)
        torch_device = resolve_device(device)
        family = Family(options.family) if options.family else None
        return DiffusionGenerator(
            backend,
            options.base_model,
            options.control_model,
            settings,
            torch_device,
            resolve_dtype(dtype, torch_device),
            batch_size,
            family,
        )
    except (ValueError, DiffusionLoadError) as error:
        _error(str(error))
        raise typer.Exit(2) from error


def _banks(backend: str, conditions: list[str], files: list[Path], prompts: list[str]) -> "dict | None":
    """The prompt banks of ``conditions`` (none for the physics backend); exit 2 if unusable."""
    from depthforge.generate.prompts import PromptBankError, load_banks, select

    if backend == "physics":
        return None
    try:
        banks = load_banks(files, prompts)
        select(banks, conditions)
    except PromptBankError as error:
        _error(str(error))
        raise typer.Exit(2) from error
    return banks


def _generate(
    dataset: "DatasetFolder",
    generator: "Generator",
    banks: "dict | None",
    conditions: list[str],
    per_condition: int,
    easy: list[dict],
    teacher: "DepthModel | None",
    max_inconsistency: float | None,
    drop_inconsistent: bool,
    condition_model: "DepthModel | None",
    seed: int,
    shard: "Shard",
    batch_size: int,
) -> "JobSummary":
    """The generate stage proper, shared by `generate` and `generate-objects`."""
    from depthforge.generate.job import Consistency, GenerateJob, generate_samples, plan_samples
    from depthforge.jobs import digest

    checker = Consistency(teacher, max_inconsistency, drop_inconsistent) if teacher else None
    job = GenerateJob(dataset, generator, batch_size, condition_model, checker)
    samples = plan_samples(easy, conditions, per_condition, seed, banks)
    settings = {
        "seed": seed,
        "prompts": digest({c: asdict(banks[c]) for c in conditions}) if banks else None,
        "condition_model": condition_model.name if condition_model else None,
        "consistency_teacher": teacher.name if teacher else None,
        "max_inconsistency": max_inconsistency,
        "drop_inconsistent": drop_inconsistent,
    }
    with _refusing_conflicts():
        return generate_samples(dataset, job, samples, settings, shard, report=_error)


@app.command()
def generate(
    dataset_path: Annotated[
        Path, typer.Argument(metavar="DATASET", help="A dataset folder made by `label`.")
    ],
    conditions: Annotated[str, typer.Option(help="Comma-separated conditions, e.g. night,rain.")],
    per_condition: Annotated[int, typer.Option(min=1, help="Samples per easy image and condition.")] = 2,
    backend: BackendOption = "t2i-adapter",
    base_model: BaseModel = None,
    control_model: ControlModel = None,
    family: FamilyOption = None,
    condition_model: Annotated[
        str | None,
        typer.Option(help="Depth model whose depth conditions the generator (default: the label)."),
    ] = None,
    teacher: Teacher = None,
    consistency: Annotated[bool, typer.Option(help="Score each sample's structure consistency.")] = True,
    max_inconsistency: MaxInconsistency = None,
    drop_inconsistent: Annotated[bool, typer.Option(help="Drop (do not keep) flagged samples.")] = False,
    prompt_bank: PromptBanks = None,
    prompt: Prompts = None,
    steps: Steps = 30,
    guidance_scale: float = 7.5,
    control_scale: float = 1.0,
    resolution: Resolution = None,
    strength: Strength = None,
    scheduler: Scheduler = None,
    vae: Vae = None,
    channels_last: ChannelsLast = False,
    compile_: Compile = False,
    safety_checker: SafetyChecker = False,
    seed: int = 0,
    batch_size: BatchSize = 4,
    shard: ShardOption = "0/1",
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Turn a labelled dataset's easy images into hard ones, K per condition, sharing their labels."""
    from depthforge.data.dataset import DatasetFolder

    dataset = DatasetFolder(dataset_path)
    labels = dataset.labels()
    if not labels:
        _error(f"{dataset_path}: no labelled images; run `depthforge label` first")
        raise typer.Exit(2)
    _log_to(dataset_path, "generate.log")
    wanted = _split(conditions)
    banks = _banks(backend, wanted, prompt_bank or [], prompt or [])
    part, device = _launch(shard, device)
    options = DiffusionOptions(backend, base_model, control_model, family, _sampling(locals()))
    generator = _generator(options, wanted, batch_size, device, dtype)
    scorer = _load_depth_model(teacher or labels[0]["teacher"], device, dtype) if consistency else None
    conditioner = _load_depth_model(condition_model, device, dtype) if condition_model else None
    summary = _generate(
        dataset,
        generator,
        banks,
        wanted,
        per_condition,
        labels,
        scorer,
        max_inconsistency,
        drop_inconsistent,
        conditioner,
        seed,
        part,
        batch_size,
    )
    _finalize(
        dataset,
        {
            "stage": "generate",
            "conditions": wanted,
            "per_condition": per_condition,
            "seed": seed,
            "generator": generator.describe(),
            "condition_model": condition_model,
            "max_inconsistency": max_inconsistency,
            "drop_inconsistent": drop_inconsistent,
        },
    )
    skipped = sum(1 for row in dataset.generated() if row.get("skipped"))
    _finish(
        len(summary.failed),
        f"{summary.done} generated into {dataset_path}; {summary.already_done} already there"
        + (f"; {skipped} skipped without a usable region (reasons in generate.log)" if skipped else ""),
    )


@app.command("generate-objects")
def generate_objects(
    dataset_path: Annotated[Path, typer.Argument(metavar="DATASET", help="The dataset folder to write.")],
    teacher: Annotated[str, typer.Option("--teacher", "-m", help="Depth model that labels the objects.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Object scenes to draw.")] = 100,
    materials: Annotated[
        str, typer.Option(help="Comma-separated material conditions.")
    ] = "transparent,mirror",
    per_material: Annotated[int, typer.Option(min=1, help="Samples per scene and material.")] = 1,
    object_bank: Annotated[Path | None, typer.Option(help="Object x material x setting bank YAML.")] = None,
    backend: BackendOption = "t2i-adapter",
    base_model: BaseModel = None,
    control_model: ControlModel = None,
    family: FamilyOption = None,
    max_inconsistency: MaxInconsistency = None,
    prompt_bank: PromptBanks = None,
    prompt: Prompts = None,
    steps: Steps = 30,
    guidance_scale: float = 7.5,
    control_scale: float = 1.0,
    resolution: Resolution = None,
    scheduler: Scheduler = None,
    vae: Vae = None,
    channels_last: ChannelsLast = False,
    compile_: Compile = False,
    safety_checker: SafetyChecker = False,
    seed: int = 0,
    batch_size: BatchSize = 4,
    shard: ShardOption = "0/1",
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Lambertian object scenes from text, labelled by the teacher, turned transparent or mirror-like."""
    from depthforge.data.dataset import DatasetFolder
    from depthforge.generate.objects import OBJECT_PREFIX, ObjectBank, make_object_scenes, plan_scenes
    from depthforge.jobs import digest, launch_state

    if backend == "physics":
        _error("generate-objects needs a diffusion backend (t2i-adapter or controlnet)")
        raise typer.Exit(2)
    dataset = DatasetFolder(dataset_path)
    _log_to(dataset_path, "generate-objects.log")
    wanted = _split(materials)
    banks = _banks(backend, wanted, prompt_bank or [], prompt or [])
    try:
        bank = ObjectBank.load(object_bank)
    except (OSError, ValueError) as error:
        _error(str(error))
        raise typer.Exit(2) from error
    part, device = _launch(shard, device)
    options = DiffusionOptions(backend, base_model, control_model, family, _sampling(locals()))
    generator = _generator(options, wanted, batch_size, device, dtype)
    labeller = _load_depth_model(teacher, device, dtype)
    with _refusing_conflicts():
        planned = plan_scenes(n, bank, seed)
        settings = {"seed": seed, "object_bank": digest(asdict(bank))}
        scenes = make_object_scenes(
            dataset, generator, labeller, planned, bank.negative, settings, part, _error
        )
    launch_state().wait_for_everyone()  # every process's scenes are labelled before any is transformed
    objects = [row for row in dataset.labels() if row["id"].startswith(OBJECT_PREFIX)]
    summary = _generate(
        dataset,
        generator,
        banks,
        wanted,
        per_material,
        objects,
        labeller,
        max_inconsistency,
        False,
        None,
        seed,
        part,
        batch_size,
    )
    _finalize(
        dataset,
        {
            "stage": "generate-objects",
            "n": n,
            "materials": wanted,
            "per_material": per_material,
            "seed": seed,
            "generator": generator.describe(),
            "teacher": teacher,
            "object_bank": str(object_bank or "built-in"),
        },
    )
    _finish(
        len(scenes.failed) + len(summary.failed),
        f"{scenes.done} object scenes and {summary.done} {'/'.join(wanted)} samples into {dataset_path}",
    )


def _data_source(text: str) -> dict:
    """``DATASET`` or ``DATASET:WEIGHT``."""
    path, sep, weight = text.rpartition(":")
    if sep and weight.replace(".", "", 1).isdigit():
        return {"path": path, "weight": float(weight)}
    return {"path": text}


@app.command()
def finetune(
    out: Annotated[Path, typer.Option("--out", "-o", help="The run folder (checkpoints, logs, student).")],
    data: Annotated[
        list[str] | None,
        typer.Option("--data", help="Dataset folder, optionally DATASET:WEIGHT (repeatable)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="The student's start: preset, hub id or folder.")
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="paper-dpt, paper-midas, paper-zoedepth or paper-depth-anything.")
    ] = None,
    config: Annotated[
        list[Path] | None, typer.Option("--config", help="YAML config on top of the preset (repeatable).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override any field: optim.lr=1e-6 (repeatable).")
    ] = None,
    iterations: Annotated[int | None, typer.Option(help="Optimiser steps.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Samples per step, over all processes.")] = None,
    size: Annotated[int | None, typer.Option(help="Side of the square training crop.")] = None,
    online_teacher: Annotated[str | None, typer.Option(help="Label on the fly with this model.")] = None,
    validation: Annotated[Path | None, typer.Option(help="Held-out dataset folder to score.")] = None,
    validate_every: Annotated[int | None, typer.Option(help="Steps between validations.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run's last checkpoint.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse the run if any training row is unusable.")
    ] = False,
) -> None:
    """Self-distillation: fine-tune a depth network on its own labels of easy and generated hard images."""
    from depthforge.config import ConfigError, load_config, parse_assignment
    from depthforge.data.pairs import PairError
    from depthforge.depth.model import ModelLoadError
    from depthforge.locks import LockHeld
    from depthforge.train.finetune import TrainingAborted
    from depthforge.train.finetune import finetune as run_finetune

    options = {
        "model": model,
        "online_teacher": online_teacher,
        "validation": validation,
        "validate_every": validate_every,
        "data": {"sources": [_data_source(d) for d in data] if data else None, "strict": strict or None},
        "optim": {"iterations": iterations, "lr": lr, "batch_size": batch_size},
        "geometry": {"size": size},
    }
    _log_to(out, "finetune.log")
    try:
        overrides = [_without_none(options), *(parse_assignment(a) for a in set_ or [])]
        if not preset and not config:
            preset = _family_preset(model)
        sources = ([preset] if preset else []) + [str(c) for c in config or []]
        result = run_finetune(load_config(sources, overrides), out, resume, report=_error)
    except (ConfigError, PairError, ModelLoadError, LockHeld) as error:
        _error(str(error))
        raise typer.Exit(2) from error
    except TrainingAborted as error:
        _error(str(error))
        raise typer.Exit(1) from error
    typer.echo(
        f"trained {result.steps} steps ({result.skipped_steps} skipped); student saved to {result.student}"
    )


def _family_preset(model: str | None) -> str:
    """Without ``--preset`` or ``--config``: the paper's settings for the model's family."""
    from depthforge.config import PRESETS, ConfigError, paper_preset

    if model is None:
        raise ConfigError(f"name the network to fine-tune with --model, or a --preset: {', '.join(PRESETS)}")
    preset = paper_preset(model)
    typer.echo(f"no --preset given: using {preset}, the paper's settings for {model}'s family")
    return preset


def _without_none(options: dict) -> dict:
    """Options the user did not give (None) are dropped, so they do not override the config."""
    cleaned = {}
    for key, value in options.items():
        if isinstance(value, dict):
            value = _without_none(value)
        if value not in (None, {}):
            cleaned[key] = value
    return cleaned


@app.command()
def evaluate(
    model: Annotated[
        list[str],
        typer.Option("--model", "-m", help="Model to score (repeatable); the first is the reference."),
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
    figures: Annotated[int, typer.Option(help="Figure grids to draw.")] = 8,
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

    if benchmark not in PROTOCOLS:
        _error(f"unknown benchmark '{benchmark}'; known: {', '.join(PROTOCOLS)}")
        raise typer.Exit(2)
    protocol = PROTOCOLS[benchmark]
    _log_to(out, "evaluate.log")
    try:
        reader = protocol.make_reader(str(root), **({"split": split} if split else {}))
        refs = reader.refs()[:limit]
        protocol = protocol.for_reader(reader)
    except (ReaderError, TypeError) as error:
        _error(str(error))
        raise typer.Exit(2) from error
    if not refs:
        _error(f"{root}: no samples found for {benchmark}")
        raise typer.Exit(2)
    alignment = Alignment(metric_alignment) if metric_alignment else None

    def load(name: str) -> "DepthModel":
        return _load_depth_model(name, device, dtype)

    table = ("dee", "abs_rel", "delta<1.25") if corruption else protocol.table
    evaluation = Evaluation(protocol, list(model), reader.unit, table)
    for variant, transform in _variants(reader, corruption, severities):
        with _refusing_conflicts():
            cached = {
                name: cache_predictions(name, reader, refs, out, load, batch_size, _error, variant, transform)
                for name in model
            }
        score(evaluation, reader, refs, out, cached, _error, alignment, variant or None)
    write_outputs(evaluation, out)
    if not corruption:
        write_figures(protocol, reader, refs, out, cached, figures, alignment)
    typer.echo((out / "report.md").read_text())
    scored = len({row["id"] for row in evaluation.rows})
    _finish(len(refs) - scored, f"{scored} of {len(refs)} samples scored; outputs in {out}")


def _variants(reader: "BenchmarkReader", corruption: str | None, severities: str) -> list[tuple[str, object]]:
    """``("", None)`` for clean images, else one ``(name-level, transform)`` per severity."""
    from depthforge.evaluate.corruptions import CORRUPTIONS, corrupt
    from depthforge.generate.physics import EFFECTS
    from depthforge.generate.seeds import numpy_rng, sample_seed

    if corruption is None:
        return [("", None)]
    if corruption not in CORRUPTIONS:
        _error(f"unknown corruption '{corruption}'; known: {', '.join(CORRUPTIONS)}")
        raise typer.Exit(2)
    variants = []
    for level in (int(v) for v in _split(severities)):
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
    evaluations: Annotated[list[Path], typer.Argument(help="Folders written by `depthforge evaluate`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The merged Markdown report.")] = Path("report.md"),
    quiet: Annotated[bool, typer.Option(help="Write the report without printing it.")] = False,
) -> None:
    """Merge evaluation runs into one comparison (e.g. teacher vs student on every benchmark)."""
    from depthforge.evaluate.report import merge_reports

    try:
        text = merge_reports(evaluations)
    except (OSError, ValueError, KeyError) as error:
        _error(str(error))
        raise typer.Exit(2) from error
    out.write_text(text)
    if not quiet:
        typer.echo(text)


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

    wanted = _split(conditions)
    unknown = [c for c in wanted if c not in CONDITIONS]
    if unknown:
        _error(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(CONDITIONS)}")
        raise typer.Exit(2)
    _log_to(out, "render.log")
    part, _ = _launch(shard, "cpu")
    try:
        with _refusing_conflicts():
            summary = render_scenes(out, family, wanted, n, seed, _size(size), spp, part, _error)
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(2) from error
    _finish(
        len(summary.failed),
        f"{summary.done} scenes rendered into {out}; {summary.already_done} already there",
    )


@app.command("run")
def run_config(
    config: Annotated[Path, typer.Argument(help="A pipeline YAML (see configs/).")],
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
        ran = run_pipeline(config, invoke, report=typer.echo, force=force)
    except PipelineError as error:
        _error(str(error))
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

    document = yaml.safe_load(resources.files("depthforge").joinpath("presets/demo.yaml").read_text())
    document["workdir"] = str(workdir)
    document["vars"]["seed"] = str(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "demo.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    run_config(config)
    table = compact_table(sorted((workdir / "eval").iterdir()), SIMBENCH_PIXEL_ROWS)
    (workdir / "summary.md").write_text(table)
    typer.echo(f"\nTeacher vs student, AbsRel and delta1 (full tables: {workdir / 'report.md'}):\n\n{table}")


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
