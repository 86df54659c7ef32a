import numpy as np
from PIL import Image
from typer.testing import CliRunner

from depthforge.cli import app
from tests.conftest import smooth_image

runner = CliRunner()


def write_made_elsewhere(folder, height, width):
    """Good, unpaired, wrong-size and undecodable files, in condition folders."""
    (folder / "night").mkdir(parents=True)
    (folder / "fog").mkdir()
    Image.fromarray(smooth_image(height, width, 1)).save(folder / "night" / "easy1_0.png")
    Image.fromarray(smooth_image(height, width, 2)).save(folder / "fog" / "easy0.png")
    Image.fromarray(smooth_image(height // 2, width // 2, 3)).save(folder / "night" / "easy2_1.png")
    Image.fromarray(smooth_image(height, width, 4)).save(folder / "night" / "nobody_0.png")
    (folder / "night" / "easy0_0.png").write_bytes(b"not a png")
    Image.fromarray(smooth_image(height, width + 20, 5)).save(folder / "night" / "easy0_7.png")


def import_(dataset, folder, *extra):
    return runner.invoke(app, ["import", str(dataset.root), str(folder), *extra])


def test_made_elsewhere_images_become_rows_and_the_others_are_named(labelled, tmp_path):
    easy = labelled.labels()[0]
    folder = tmp_path / "elsewhere"
    write_made_elsewhere(folder, easy["height"], easy["width"])
    result = import_(labelled, folder)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any("nobody_0.png: no easy image 'nobody' in the dataset" in line for line in lines)
    assert any("easy0_0.png" in line for line in lines)  # undecodable
    assert any("easy2_1.png: 20x28, its easy image easy2 is 40x56 (pass --resize" in line for line in lines)
    rows = {row["id"]: row for row in labelled.generated()}
    assert set(rows) == {"night/imported/easy1_0", "fog/imported/easy0"}
    row = rows["night/imported/easy1_0"]
    assert row["easy_id"] == "easy1" and row["label"] == "labels/easy1.npy" and row["kept"]
    assert row["params"]["source"].endswith("night/easy1_0.png") and isinstance(row["inconsistency"], float)
    assert np.asarray(Image.open(labelled.root / row["image"])).shape == (40, 56, 3)
    assert {s["condition"] for s in labelled.samples()} == {"easy", "night", "fog"}
    assert "2 imported" in result.stdout and "fog " in result.stdout  # the per-condition table

    again = import_(labelled, folder, "--resize")
    assert "1 imported" in again.stdout and "2 already there" in again.stdout
    assert any(
        "easy0_7.png: 40x76, its easy image easy0 is 40x56, another aspect" in line
        for line in again.stderr.splitlines()
    )
    assert len(labelled.generated()) == 3


def test_a_given_condition_and_pattern(labelled, tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    Image.fromarray(smooth_image(40, 56, 1)).save(folder / "rainy-easy2.jpg")
    result = import_(
        labelled, folder, "--condition", "rain", "--pattern", r"rainy-(?P<id>\w+)", "--no-consistency"
    )
    assert result.exit_code == 0, result.output
    (row,) = labelled.generated()
    assert (
        row["id"] == "rain/imported/rainy-easy2"
        and row["easy_id"] == "easy2"
        and row["inconsistency"] is None
    )
