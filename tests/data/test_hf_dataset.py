"""A dataset folder read by Hugging Face datasets: imagefolder over metadata.jsonl, and the card's configs."""

import json
import sys

import datasets
import numpy as np
import pytest
import yaml
from huggingface_hub import DatasetCard
from PIL import Image
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.data.dataset import DatasetFolder, hf_dataset
from depthforge.depth.model import DepthModel
from depthforge.label import label_images
from tests.generate.conftest import write_easy_images


@pytest.fixture(scope="module")
def dataset(tiny_models, tmp_path_factory) -> DatasetFolder:
    """Three labelled easy images and one physics-made fog and night image of each."""
    root = tmp_path_factory.mktemp("hf")
    folder = DatasetFolder(root / "dataset")
    teacher = DepthModel.from_pretrained(str(tiny_models["depth-anything"]))
    label_images([write_easy_images(root / "easy")], teacher, folder, report=lambda _: None)
    args = ["generate", str(folder.root), "--conditions", "fog,night", "--backend", "physics"]
    result = CliRunner().invoke(app, [*args, "--per-condition", "1"])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(autouse=True)
def offline_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_metadata_names_the_image_file_and_the_label_without_an_image_key(dataset):
    rows = [json.loads(line) for line in (dataset.root / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 9 and not any("image" in row for row in rows)
    assert all((dataset.root / row["file_name"]).is_file() for row in rows)
    assert all(np.load(dataset.root / row["label_file"]).dtype == np.float32 for row in rows)


def test_hf_dataset_gives_pil_images_and_depth_arrays_with_their_rows(dataset):
    loaded = hf_dataset(dataset.root)
    expected = {sample["id"]: sample for sample in dataset.samples()}
    assert len(loaded) == len(expected) == 9
    for row in loaded:
        sample = expected[row["id"]]
        assert isinstance(row["image"], Image.Image)
        assert np.array_equal(np.asarray(row["image"]), np.asarray(Image.open(sample["image"])))
        assert row["depth"].dtype == np.float32
        assert np.array_equal(row["depth"], np.load(sample["label"]))
        assert row["condition"] == sample["condition"]
        if sample["condition"] == "easy":
            assert row["easy_id"] == row["id"] and row["seed"] is None and row["prompt"] is None
        else:
            assert row["id"].startswith(f"{row['condition']}/")
            assert row["easy_id"] == sample["easy_id"] and row["seed"] == sample["seed"]
            assert row["prompt"] == sample["prompt"]
    assert {row["condition"] for row in loaded} == {"easy", "fog", "night"}


def test_card_front_matter_parses_and_gives_one_config_per_condition(dataset):
    text = (dataset.root / "README.md").read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front == DatasetCard.load(dataset.root / "README.md").data.to_dict()
    assert front["task_categories"] == ["depth-estimation"] and "depthforge" in front["tags"]
    assert [c["config_name"] for c in front["configs"]] == ["default", "easy", "fog", "night"]
    assert "| night | 3 | 0 |" in text
    for name, count in [("default", 9), ("easy", 3), ("fog", 3), ("night", 3)]:
        subset = datasets.load_dataset(str(dataset.root), name, split="train")
        assert len(subset) == count
        assert name == "default" or set(subset["condition"]) == {name}
        assert isinstance(subset[0]["image"], Image.Image)


def test_hf_dataset_names_the_extra_without_datasets(dataset, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'depthforge\[hf\]'"):
        hf_dataset(dataset.root)
