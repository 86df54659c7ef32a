"""Shared fixtures: determinism, offline mode and tiny saved depth models."""

import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from depthforge.data.dataset import DatasetFolder
from depthforge.depth.model import DepthModel
from depthforge.depth.tiny import TinyArch, save_tiny_model
from depthforge.generate.job import GenerateJob, generate_samples, plan_samples
from depthforge.generate.physics import PhysicsGenerator
from depthforge.label import label_images

torch.set_num_threads(1)

pytest_plugins = ["tests.checkout_guard", "pytester"]


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


def write_scenes(root: Path, object_maps: dict[str, np.ndarray], count: int = 3) -> Path:
    """``count`` easy images ``ROOT/images/sK.png`` (40 x 56) and the given object maps beside them
    (``ROOT/objects/NAME.png``); returns the images folder."""
    (root / "images").mkdir(parents=True)
    (root / "objects").mkdir()
    for index in range(count):
        Image.fromarray(smooth_image(40, 56, index)).save(root / "images" / f"s{index}.png")
    for name, instances in object_maps.items():
        Image.fromarray(instances).save(root / "objects" / f"{name}.png")
    return root / "images"


HOLD = """
import sys, time
from pathlib import Path
from depthforge.locks import WriterLock
with WriterLock(Path(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(60)
"""


def hold(path: Path) -> subprocess.Popen:
    """A process that holds ``path``'s lock until killed."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "holding"
    return child


def finished_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


NO_COLOUR = {"hflip": 0.0, "brightness": 0, "contrast": 0, "saturation": 0, "hue": 0, "rgb_shift": 0}


def make_dataset(
    root: Path, teacher: Path, count: int = 3, size: tuple[int, int] = (56, 70)
) -> DatasetFolder:
    (root / "easy").mkdir(parents=True)
    for index in range(count):
        Image.fromarray(smooth_image(*size, index)).save(root / "easy" / f"e{index}.png")
    dataset = DatasetFolder(root / "dataset")
    label_images([root / "easy"], DepthModel.from_pretrained(str(teacher)), dataset, report=lambda _: None)
    y, x = np.mgrid[0 : size[0], 0 : size[1]] / size[0]
    for index, row in enumerate(dataset.labels()):
        blob = np.exp(-((x - 0.4 - 0.2 * index) ** 2 + (y - 0.5) ** 2) / 0.02)
        np.save(dataset.root / row["label"], (0.2 + y + 0.5 * blob).astype(np.float32))
    job = GenerateJob(dataset, PhysicsGenerator(), batch_size=4)
    samples = plan_samples(dataset.labels(), ["fog", "night"], 1, 0)
    generate_samples(dataset, job, samples, {"seed": 0}, report=lambda _: None)
    return dataset


@pytest.fixture
def distill_set(tiny_models, tmp_path) -> DatasetFolder:
    return make_dataset(tmp_path / "set", tiny_models["depth-anything"])


def run_config(model: Path, dataset: DatasetFolder, **extra: object) -> dict:
    """A small CPU run: 56 px crops, batch 4, no workers, no colour augmentation."""
    config = {
        "model": str(model),
        "data": {"sources": [{"path": str(dataset.root)}], "num_workers": 0},
        "optim": {"iterations": 20, "lr": 1e-3, "batch_size": 4},
        "geometry": {"size": 56},
        "augment": NO_COLOUR,
        "log_every": 5,
        "checkpoint_every": 10,
    }
    for key, value in extra.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    return config
