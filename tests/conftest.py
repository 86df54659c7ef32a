"""Shared fixtures: determinism, offline mode and tiny saved depth models."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from pathlib import Path

import numpy as np
import pytest
import torch

from depthforge.depth.tiny import TinyArch, save_tiny_model

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each tiny architecture saved once to a folder, as a user's local model would be."""
    root = tmp_path_factory.mktemp("models")
    return {arch.value: save_tiny_model(arch, root / arch.value) for arch in TinyArch}


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A uint8 RGB image with structure at several scales (gradients, blobs, noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [
        0.5
        + 0.4 * np.sin(6 * x + 3 * y + phase) * np.cos(4 * y - phase)
        + 0.03 * rng.standard_normal((height, width))
        for phase in (0.0, 1.0, 2.0)
    ]
    return (np.clip(np.stack(channels, axis=-1), 0, 1) * 255).round().astype(np.uint8)
