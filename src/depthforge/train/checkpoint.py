"""Checkpoints that resume a run exactly, and that load without unpickling arbitrary objects.

``RUN/checkpoints/step-NNNNNNN/`` holds ``model.safetensors``, ``state.pt`` (optimizer, scheduler,
grad scaler: tensors and plain containers only, read with ``torch.load(weights_only=True)``),
``rng-RANK.pt`` (each process's torch RNG) and ``trainer.json`` (step, data position, counters).
A checkpoint is written to a hidden folder and renamed into place, so a kill never leaves half of one.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model
from torch import nn


def checkpoint_dir(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step-{step:07d}"


def checkpoints(run: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folder = run / "checkpoints"
    return (
        sorted(p for p in folder.glob("step-*") if (p / "trainer.json").is_file()) if folder.is_dir() else []
    )


def save_checkpoint(
    folder: Path,
    model: nn.Module,
    training_state: dict[str, Any],
    trainer: dict[str, Any],
    is_main: bool,
    rank: int,
) -> None:
    """Write this process's part of a checkpoint (the main process writes the shared part)."""
    staging = folder.parent / f".{folder.name}.partial"
    staging.mkdir(parents=True, exist_ok=True)
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    torch.save(rng, staging / f"rng-{rank}.pt")
    if is_main:
        save_model(model, str(staging / "model.safetensors"))
        torch.save(training_state, staging / "state.pt")
        (staging / "trainer.json").write_text(json.dumps(trainer, indent=2))


def publish_checkpoint(folder: Path, keep: int) -> None:
    """Main process, after every process saved: move the checkpoint into place, drop the oldest."""
    staging = folder.parent / f".{folder.name}.partial"
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    for old in checkpoints(folder.parent.parent)[:-keep]:
        shutil.rmtree(old)


def remove_partial_checkpoints(run: Path) -> None:
    """Main process, before training: drop checkpoints that a kill left half-written."""
    for staging in (run / "checkpoints").glob(".step-*.partial"):
        shutil.rmtree(staging)


def load_checkpoint(folder: Path, model: nn.Module, rank: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load the weights into ``model`` and this process's RNG; return the training state and trainer info."""
    load_model(model, str(folder / "model.safetensors"))
    rng_file = folder / f"rng-{rank}.pt"
    if rng_file.exists():
        rng = torch.load(rng_file, weights_only=True)
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"])
    state = torch.load(folder / "state.pt", weights_only=True)
    return state, json.loads((folder / "trainer.json").read_text())
