import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.evaluate.readers import GenericFolder
from depthforge.sim.render import ground_truth, render_image, render_scenes
from depthforge.sim.scenes import Layout, Part

SIZE = (32, 24)


def facing_plane(distance: float) -> Part:
    """A large square at z = ``distance``, facing a camera on the z axis."""
    return Part(
        "wall",
        {
            "type": "rectangle",
            "transform": {"translate": (0, 0, distance), "scale": (50, 50, 1), "rotate_x": 180},
        },
        (0.5, 0.5, 0.5),
    )


def camera_on_z(*parts: Part) -> Layout:
    return Layout("test", list(parts), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 60.0)


def test_depth_is_camera_z_so_a_facing_plane_is_constant():
    truth = ground_truth(camera_on_z(facing_plane(5.0)), SIZE)
    np.testing.assert_allclose(truth.depth, 5.0, atol=1e-4)  # the ray distance would grow to the corners
    assert not truth.tom.any() and not truth.objects.any()


def test_masks_mark_exactly_the_tom_objects():
    # A glass cube on the axis (only its front face, at z = 2.5, is seen) and an opaque box off
    # axis spanning z = 1-2: the mask must be exactly the pixels at depth 2.5.
    glass = Part(
        "glass",
        {"type": "cube", "transform": {"translate": (0, 0, 3), "scale": (0.5, 0.5, 0.5), "rotate_x": 0}},
        (0.2, 0.6, 0.2),
        tom="glass",
        is_object=True,
    )
    box = Part(
        "box",
        {"type": "cube", "transform": {"translate": (1.2, 0, 1.5), "scale": (0.3, 0.3, 0.5), "rotate_x": 0}},
        (0.6, 0.2, 0.2),
        is_object=True,
    )
    truth = ground_truth(camera_on_z(facing_plane(6.0), glass, box), SIZE)
    depth, tom, objects = truth.depth, truth.tom, truth.objects
    assert tom.sum() > 20
    np.testing.assert_array_equal(tom, np.isclose(depth, 2.5, atol=1e-4))
    box_pixels = (depth > 0.9) & (depth < 2.1)
    assert box_pixels.any()  # the box is in view, and not in the mask
    # Object instances: the glass is 1, the box 2, the wall none.
    np.testing.assert_array_equal(objects == 1, tom)
    np.testing.assert_array_equal(objects == 2, box_pixels)


def test_same_material_parts_keep_their_ids_so_every_window_is_in_the_mask():
    from depthforge.sim.scenes import street

    for seed in range(3):
        layout = street(np.random.default_rng(seed))
        truth = ground_truth(layout, (64, 64))
        windows = [part.id for part in layout.parts if part.id.startswith("win")]
        # Windows share one material; merged into one mesh they lost their ids and left the mask.
        assert len(windows) > 1
        numbers = [layout.object_ids.index(w) + 1 for w in windows]
        assert np.isin(truth.objects, numbers).any()
        assert (truth.tom & np.isin(truth.objects, numbers)).sum() == np.isin(truth.objects, numbers).sum()


def test_renders_are_byte_identical_across_processes(tmp_path):
    # Street scenes have many parts sharing a material: Mitsuba's merging of them used to change
    # the scene build, and a few per cent of the pixels, from one process to the next.
    args = ["sim", "render", "--family", "street", "--conditions", "day,tom", "--n", "3", "--seed", "10"]
    args += ["--size", "48x48", "--spp", "4"]
    for name in ("a", "b"):
        command = [sys.executable, "-m", "depthforge.cli", *args, "--out", str(tmp_path / name)]
        subprocess.run(command, check=True, capture_output=True)
    files = sorted(
        p.relative_to(tmp_path / "a")
        for p in (tmp_path / "a").rglob("*")
        if p.is_file() and p.suffix != ".log"
    )
    assert len([f for f in files if f.suffix == ".png"]) == 3 * 2 * 3  # images, categories, objects
    for path in files:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes(), path


def test_conditions_share_the_layout_and_differ_in_light():
    from depthforge.sim.scenes import street

    layout = street(np.random.default_rng(0))
    day, night = (render_image(layout, c, SIZE, 4, 0) for c in ("day", "night"))
    assert night.mean() < 0.5 * day.mean()


def test_the_generic_reader_loads_a_rendered_set(tmp_path):
    args = [
        "sim",
        "render",
        "--family",
        "street",
        "--conditions",
        "day,fog,tom",
        "--n",
        "2",
        "--size",
        "32x24",
        "--spp",
        "2",
        "--out",
        str(tmp_path / "sb"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    reader = GenericFolder(tmp_path / "sb")
    refs = reader.refs()
    assert sorted({r.condition for r in refs}) == ["day", "fog", "tom"] and len(refs) == 6
    tom = reader.load(next(r for r in refs if r.condition == "tom"))
    assert tom.depth.shape == (24, 32) and tom.valid.any() and set(tom.categories) == {"tom", "other"}
    again = CliRunner().invoke(app, args)
    assert "0 scenes rendered" in again.stdout and "2 already there" in again.stdout
    # Another seed into the same folder would resume over the old scenes: refused, nothing touched.
    before = (tmp_path / "sb" / "day" / "images" / "street-00000.png").read_bytes()
    reseeded = CliRunner().invoke(app, [*args, "--seed", "1"])
    assert reseeded.exit_code == 2 and reseeded.stderr.count("\n") == 1
    assert (
        "done with other settings (seed 0 -> 1)" in reseeded.stderr
        and str(tmp_path / "sb") in reseeded.stderr
    )
    assert (tmp_path / "sb" / "day" / "images" / "street-00000.png").read_bytes() == before


def test_unknown_condition_and_family(tmp_path):
    bad = CliRunner().invoke(
        app, ["sim", "render", "--family", "street", "--conditions", "hail", "--out", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "unknown condition(s) hail" in bad.stderr
    with pytest.raises(ValueError, match="unknown scene family"):
        render_scenes(tmp_path, "forest", ["day"], 1, 0, SIZE)


def test_rendered_day_scenes_become_a_training_set_labelled_with_exact_depth(tmp_path):
    from depthforge.data.dataset import DatasetFolder
    from depthforge.sim.dataset import ground_truth_dataset

    render_scenes(tmp_path / "street", "street", ["day"], 2, 3, SIZE, spp=2, report=lambda _: None)
    dataset = DatasetFolder(tmp_path / "data")
    assert ground_truth_dataset([tmp_path / "street"], dataset) == 2
    assert ground_truth_dataset([tmp_path / "street"], dataset) == 0  # already there
    row = dataset.labels()[0]
    assert row["label_space"] == "metric_depth" and row["teacher"] == "rendered"
    label = np.load(dataset.root / row["label"])
    np.testing.assert_array_equal(label, np.load(tmp_path / "street" / "day" / "depth" / "street-00000.npy"))
