"""`depthforge generate` and `depthforge generate-objects`."""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from depthforge.data.dataset import DatasetFolder
    from depthforge.depth.model import DepthModel
    from depthforge.generate.request import Generator
    from depthforge.jobs import JobSummary, Shard

from depthforge.cli.common import (
    Device,
    Dtype,
    ShardOption,
    app,
    finish,
    labelled_dataset,
    launch,
    load_depth_model,
    log_to,
    refusing_conflicts,
    show_error,
    split,
)


def finalize(dataset: "DatasetFolder", settings: dict) -> None:
    """After every process is done: the merged metadata and the dataset card, written once."""
    from depthforge.jobs import launch_state

    state = launch_state()
    state.wait_for_everyone()
    if state.is_main_process:
        dataset.write_metadata()
        dataset.write_card(settings)


def show_conditions(dataset: "DatasetFolder") -> None:
    """Per condition, the images the dataset holds and their consistency scores."""
    from depthforge.data.dataset import summarise_conditions

    summaries = summarise_conditions(dataset.generated())
    typer.echo(
        f"{'condition':12s} {'images':>7s} {'flagged':>8s} {'dropped':>8s} {'skipped':>8s}  inconsistency"
    )
    for c in summaries:
        scores = (
            f"median {c.median_inconsistency:.3f}, worst {c.worst_inconsistency:.3f}"
            if c.median_inconsistency is not None and c.worst_inconsistency is not None
            else "not scored"
        )
        typer.echo(f"{c.condition:12s} {c.kept:7d} {c.flagged:8d} {c.dropped:8d} {c.skipped:8d}  {scores}")
    if any(c.median_inconsistency is not None for c in summaries):
        typer.echo(
            "(inconsistency: the teacher's depth of a generated image against its label, 0 = the same "
            "structure, about 0.8 = unrelated; --max-inconsistency X flags those above X)"
        )


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
ChannelsLast = Annotated[
    bool, typer.Option("--channels-last", help="Channels-last memory layout (fast path).")
]
Compile = Annotated[
    bool, typer.Option("--compile", help="torch.compile the UNet and control network (fast path).")
]
CacheInterval = Annotated[
    int, typer.Option(min=1, help="Feature caching: the whole UNet every N-th step, 1 = off (fast path).")
]
SafetyChecker = Annotated[
    bool,
    typer.Option(
        "--safety-checker", help="Load SD 1.5's safety checker: flagged images are made again, then dropped."
    ),
]
Teacher = Annotated[
    str | None, typer.Option(help="Depth model for the consistency score (default: the labels').")
]
MaxInconsistency = Annotated[
    float | None, typer.Option(help="Flag samples whose consistency score is above.")
]
PromptBanks = Annotated[
    list[Path] | None,
    typer.Option("--prompt-bank", metavar="YAML", help="Extra prompt bank YAML (repeatable)."),
]
Prompts = Annotated[
    list[str] | None,
    typer.Option("--prompt", metavar="TEXT", help="A free prompt, 'condition: text' (repeatable)."),
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
        from diffusers.utils.logging import disable_progress_bar

        disable_progress_bar()  # "Loading pipeline components": no environment variable turns it off
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
        show_error(str(error))
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
        show_error(str(error))
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
    with refusing_conflicts():
        return generate_samples(dataset, job, samples, settings, shard, report=show_error)


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
    drop_inconsistent: Annotated[
        bool, typer.Option("--drop-inconsistent", help="Drop (do not keep) flagged samples.")
    ] = False,
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
    cache_interval: CacheInterval = 1,
    safety_checker: SafetyChecker = False,
    seed: int = 0,
    batch_size: BatchSize = 4,
    shard: ShardOption = "0/1",
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Turn a labelled dataset's easy images into hard ones, K per condition, sharing their labels."""
    dataset, labels = labelled_dataset(dataset_path)
    log_to(dataset_path, "generate.log")
    wanted = split(conditions)
    banks = _banks(backend, wanted, prompt_bank or [], prompt or [])
    part, device = launch(shard, device)
    options = DiffusionOptions(backend, base_model, control_model, family, _sampling(locals()))
    generator = _generator(options, wanted, batch_size, device, dtype)
    scorer = load_depth_model(teacher or labels[0]["teacher"], device, dtype) if consistency else None
    conditioner = load_depth_model(condition_model, device, dtype) if condition_model else None
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
    finalize(
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
    show_conditions(dataset)
    finish(
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
    cache_interval: CacheInterval = 1,
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
        show_error("generate-objects needs a diffusion backend (t2i-adapter or controlnet)")
        raise typer.Exit(2)
    dataset = DatasetFolder(dataset_path)
    log_to(dataset_path, "generate-objects.log")
    wanted = split(materials)
    banks = _banks(backend, wanted, prompt_bank or [], prompt or [])
    try:
        bank = ObjectBank.load(object_bank)
    except (OSError, ValueError) as error:
        show_error(str(error))
        raise typer.Exit(2) from error
    part, device = launch(shard, device)
    options = DiffusionOptions(backend, base_model, control_model, family, _sampling(locals()))
    generator = _generator(options, wanted, batch_size, device, dtype)
    labeller = load_depth_model(teacher, device, dtype)
    with refusing_conflicts():
        planned = plan_scenes(n, bank, seed)
        settings = {"seed": seed, "object_bank": digest(asdict(bank))}
        scenes = make_object_scenes(
            dataset, generator, labeller, planned, bank.negative, settings, part, show_error
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
    finalize(
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
    show_conditions(dataset)
    finish(
        len(scenes.failed) + len(summary.failed),
        f"{scenes.done} object scenes and {summary.done} {'/'.join(wanted)} samples into {dataset_path}",
    )
