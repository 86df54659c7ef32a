import numpy as np
from PIL import Image

from depthforge.data.dataset import DatasetFolder
from depthforge.depth.model import DepthModel
from depthforge.label import label_images
from tests.conftest import smooth_image, write_scenes


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


def test_object_maps_beside_the_images_come_along_and_bad_ones_are_named(tiny_models, tmp_path):
    instances = np.zeros((40, 56), np.uint8)
    instances[10:20, 10:30] = 1
    wrong_size = np.zeros((8, 8), np.uint8)
    images = write_scenes(tmp_path / "scenes", {"s0": instances, "s2": wrong_size})  # s1 has none
    dataset = DatasetFolder(tmp_path / "data")
    errors = []
    teacher = DepthModel.from_pretrained(str(tiny_models["depth-anything"]))
    summary = label_images([images], teacher, dataset, report=errors.append)
    assert summary.done == 2 and len(errors) == 1
    assert "s2.png: object map is 8x8, but its image is 40x56" in errors[0]
    rows = {row["id"]: row for row in dataset.labels()}
    assert rows["s1"]["objects"] is None
    np.testing.assert_array_equal(np.asarray(Image.open(dataset.root / rows["s0"]["objects"])), instances)


def test_nearly_constant_labels_are_warned_about():
    from depthforge.label import flat_label_warning

    def row(low, high):
        stats = {"min": low, "max": high, "median": (low + high) / 2}
        return {"label": f"labels/{low}.npy", "label_stats": stats, "teacher": "simbench-teacher"}

    flat, varied = row(0.996, 1.055), row(0.1, 3.0)
    warning = flat_label_warning([flat, flat, varied])
    assert warning and warning.startswith("2 of 3 labels are nearly constant")
    assert "labels/0.996.npy: 0.996 to 1.055" in warning and "simbench-teacher" in warning
    assert flat_label_warning([flat, varied, varied]) is None and flat_label_warning([]) is None
