"""Tiny diffusion pipelines and a small labelled dataset, built once per session."""

from pathlib import Path

import pytest
from PIL import Image

from depthforge.data.dataset import DatasetFolder
from depthforge.depth.model import DepthModel
from depthforge.generate.diffusion import Family
from depthforge.generate.random_pipelines import save_random_control, save_random_pipeline
from depthforge.label import label_images
from tests.conftest import smooth_image


@pytest.fixture(scope="session")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """``{"sd15-adapter": (base, control), ...}`` for both families and both control kinds."""
    root = tmp_path_factory.mktemp("diffusion")
    found = {}
    for family in Family:
        base = save_random_pipeline(root / family.value, family)
        for kind in ("adapter", "controlnet"):
            found[f"{family.value}-{kind}"] = (
                base,
                save_random_control(root / f"{family.value}-{kind}", base, kind),
            )
    return found


def write_easy_images(folder: Path, count: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(smooth_image(40, 56, index)).save(folder / f"easy{index}.png")
    return folder


@pytest.fixture
def labelled(tiny_models, tmp_path) -> DatasetFolder:
    """Three easy images labelled by the tiny Depth Anything teacher."""
    dataset = DatasetFolder(tmp_path / "dataset")
    teacher = DepthModel.from_pretrained(str(tiny_models["depth-anything"]))
    summary = label_images([write_easy_images(tmp_path / "easy")], teacher, dataset, report=lambda _: None)
    assert summary.done == 3
    return dataset
