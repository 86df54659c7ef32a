"""`depthforge finetune`."""

import logging
from pathlib import Path
from typing import Annotated

import typer

from depthforge.cli.common import app, log_to, show_error


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
        typer.Option(
            "--data",
            metavar="DATASET[:WEIGHT]",
            help="Dataset folder, optionally DATASET:WEIGHT (repeatable).",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="The student's start: preset, hub id or folder.")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="paper-dpt, paper-midas, paper-zoedepth or paper-depth-anything. Default (without "
            "--config): the one of --model's family."
        ),
    ] = None,
    config: Annotated[
        list[Path] | None,
        typer.Option("--config", metavar="YAML", help="YAML config on top of the preset (repeatable)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override any field: optim.lr=1e-6 (repeatable)."),
    ] = None,
    iterations: Annotated[
        int | None,
        typer.Option(
            help="Optimiser steps. Default: the preset's, 5000 for paper-depth-anything, 30000 for the "
            "others."
        ),
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Learning rate. Default: the preset's, 1e-6 in every paper preset.")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Samples per step, over all processes. Default: the preset's, 8 (3 for paper-zoedepth)."
        ),
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(
            help="Side of the square training crop; a multiple of the model processor's "
            "ensure_multiple_of (14, the ViT patch, for Depth Anything; 32 for ZoeDepth). Default: the "
            "preset's, 518 for paper-depth-anything, 384 for the others."
        ),
    ] = None,
    online_teacher: Annotated[str | None, typer.Option(help="Label on the fly with this model.")] = None,
    validation: Annotated[Path | None, typer.Option(help="Held-out dataset folder to score.")] = None,
    validate_every: Annotated[int | None, typer.Option(help="Steps between validations.")] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue from the run's last checkpoint, with its settings (a larger --iterations trains "
            "longer; other changes are refused).",
        ),
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse the run if any training row is unusable.")
    ] = False,
) -> None:
    """Self-distillation: fine-tune a depth network on its own labels of easy and generated hard images."""
    from depthforge.config import ConfigError, load_config, parse_assignment
    from depthforge.data.pairs import PairError
    from depthforge.depth.model import ModelLoadError
    from depthforge.jobs import SettingsMismatch
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
    log_to(out, "finetune.log")
    try:
        overrides = [_without_none(options), *(parse_assignment(a) for a in set_ or [])]
        if not preset and not config:
            preset = _family_preset(model)
        sources = ([preset] if preset else []) + [str(c) for c in config or []]
        settings = load_config(sources, overrides)
        result = run_finetune(settings, out, resume, report=show_error, inform=_show_info)
    except (ConfigError, PairError, ModelLoadError, LockHeld, SettingsMismatch) as error:
        show_error(str(error))
        raise typer.Exit(2) from error
    except TrainingAborted as error:
        show_error(str(error))
        raise typer.Exit(1) from error
    steps = f"{result.start_step} -> {result.start_step + result.steps}, {result.skipped_steps} skipped"
    typer.echo(f"trained {result.steps} steps ({steps}); student saved to {result.student}")


def _show_info(message: str) -> None:
    """What the run does, on stdout and in the log file (problems go to ``show_error``)."""
    logging.getLogger("depthforge").info(message)
    typer.echo(message)


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
