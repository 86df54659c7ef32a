import numpy as np
from PIL import Image

from depthforge.data.dataset import DatasetFolder
from depthforge.depth.model import DepthModel
from depthforge.label import label_images
from tests.conftest import smooth_image


def test_label_writes_images_labels_and_rows_and_resumes(tiny_models, tmp_path):
    easy = tmp_path / "easy"
    (easy / "sub").mkdir(parents=True)
    Image.fromarray(smooth_image(40, 56, 0)).save(easy / "a.jpg")
    Image.fromarray(smooth_image(30, 30, 1)).save(easy / "sub" / "b.png")
    (easy / "bad.png").write_bytes(b"not a png")
    dataset = DatasetFolder(tmp_path / "data")
    teacher = DepthModel.from_pretrained(str(tiny_models["zoedepth"]))
    errors = []
    summary = label_images([easy], teacher, dataset, report=errors.append)
    assert summary.done == 2 and len(errors) == 1 and "bad.png" in errors[0]
    rows = dataset.labels()
    assert [row["id"] for row in rows] == ["a", "sub/b"]
    row = rows[1]
    assert row["label_space"] == "metric_depth" and row["label_unit"] == "m"
    assert np.load(dataset.root / row["label"]).shape == (30, 30)
    assert np.asarray(Image.open(dataset.root / row["image"])).shape == (30, 30, 3)
    assert row["label_stats"]["valid_fraction"] == 1.0
    again = label_images([easy], teacher, dataset, report=errors.append)
    assert again.done == 0 and again.already_done == 2
