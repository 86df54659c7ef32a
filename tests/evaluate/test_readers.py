import numpy as np
import pytest
from PIL import Image

from depthforge.evaluate.readers import (
    Booster,
    CachedLidar,
    ClearGrasp,
    DrivingStereo,
    GenericFolder,
    KittiEigen,
    Middlebury,
    ReaderError,
    project_to_image,
)
from tests.evaluate.fixtures import (
    png16,
    ramp_depth,
    rgb,
    write_booster,
    write_cached_lidar,
    write_generic,
    write_kitti,
)


def test_generic_folder_with_conditions_and_categories(tmp_path):
    reader = GenericFolder(write_generic(tmp_path / "g"))
    refs = reader.refs()
    assert [r.id for r in refs] == ["day/s0", "day/s1", "night/s0", "night/s1"]
    sample = reader.load(refs[2])
    assert sample.condition == "night" and sample.image.shape == (48, 64, 3)
    np.testing.assert_allclose(sample.depth, ramp_depth(48, 64), atol=1e-3)
    assert sample.categories["tom"].sum() == 200 and sample.categories["other"].sum() == 48 * 64 - 200


def test_generic_disparity_needs_intrinsics(tmp_path):
    root = tmp_path / "g"
    rgb(root / "images" / "a.png", 8, 8)
    np.save(
        (root / "disparity").mkdir(parents=True) or root / "disparity" / "a.npy",
        np.full((8, 8), 50.0, np.float32),
    )
    reader = GenericFolder(root)
    with pytest.raises(ReaderError, match=r"a\.png: disparity ground truth needs baseline and fx"):
        reader.load(reader.refs()[0])
    (root / "intrinsics").mkdir()
    (root / "intrinsics" / "a.json").write_text('{"fx": 1000, "baseline": 0.1}')
    assert reader.load(reader.refs()[0]).depth[0, 0] == pytest.approx(2.0)


def test_kitti_eigen_reads_annotated_ground_truth_and_reports_missing(tmp_path):
    reader = KittiEigen(write_kitti(tmp_path / "k"))
    refs = reader.refs()
    assert [r.id for r in refs] == [
        "2011_09_26_drive_0002_sync/image_02/0000000069",
        "2011_09_26_drive_0002_sync/image_02/0000000070",
    ]
    sample = reader.load(refs[0])
    assert sample.depth.shape == (60, 200) and not sample.valid[:, :5].any()
    assert sample.depth[0, 10] == pytest.approx(20.0, abs=1 / 256)
    with pytest.raises(ReaderError, match=r"0000000070\.png: no annotated ground truth"):
        reader.load(refs[1])


def test_drivingstereo_weather_subsets(tmp_path):
    root = tmp_path / "ds"
    rgb(root / "rainy" / "left-image-full-size" / "f1.png", 20, 40)
    png16(root / "rainy" / "depth-map-full-size" / "f1.png", np.full((20, 40), 10 * 256))
    reader = DrivingStereo(root)
    sample = reader.load(reader.refs()[0])
    assert sample.condition == "rainy" and sample.depth[0, 0] == 10.0


def test_cached_lidar(tmp_path):
    reader = CachedLidar(write_cached_lidar(tmp_path / "n"))
    refs = reader.refs()
    assert [r.condition for r in refs] == ["day-clear", "night", "day-rain"]
    sample = reader.load(refs[1])
    assert sample.valid.sum() == 12 * 16 and sample.depth[0, 0] == pytest.approx(20.0)


def test_projection_keeps_the_nearest_point():
    intrinsics = np.array([[10.0, 0, 2], [0, 10.0, 2], [0, 0, 1]])
    points = np.array([[0.0, 0, 5], [0.0, 0, 3], [0.5, 0, 5], [0, 0, -1]])
    depth = project_to_image(points, intrinsics, (4, 4))
    assert depth[2, 2] == 3.0 and depth[2, 3] == 5.0 and (depth > 0).sum() == 2


def test_booster_quarter_resolution_worked_example(tmp_path):
    # fx 4000 px, baseline 80 mm, disparity 400 px at full resolution: 80 * 4000 / 400 = 800 mm.
    # At a quarter: fx 1000 px, disparity 100 px: still 800 mm.
    reader = Booster(write_booster(tmp_path / "b"))
    refs = reader.refs()
    assert [r.id for r in refs] == ["Bathroom/im0", "Bathroom/im1"]
    sample = reader.load(refs[0])
    assert sample.image.shape == (16, 24, 3) and sample.depth.shape == (16, 24)
    np.testing.assert_allclose(sample.depth, 800.0)
    assert sample.baseline_x_focal == pytest.approx(80 * 1000)
    assert sample.categories["tom"][:8].all() and not sample.categories["tom"][8:].any()
    assert reader.unit == "mm"


def test_booster_malformed_calibration_names_the_file(tmp_path):
    root = write_booster(tmp_path / "b")
    (root / "train/balanced/Bathroom/calib_00-02.xml").write_text("<opencv_storage><oops")
    reader = Booster(root)
    with pytest.raises(ReaderError, match=r"calib_00-02\.xml: malformed calibration"):
        reader.load(reader.refs()[0])


def test_cleargrasp_real_split(tmp_path):
    import OpenEXR

    folder = tmp_path / "cg" / "real-test" / "d415"
    rgb(folder / "000000000-transparent-rgb-img.jpg", 12, 16)
    depth = np.full((12, 16), 0.5, np.float32)
    with OpenEXR.File({"type": OpenEXR.scanlineimage}, {"Y": depth}) as file:
        file.write(str(folder / "000000000-opaque-depth-img.exr"))
    mask = np.zeros((12, 16), np.uint8)
    mask[:4] = 255
    Image.fromarray(mask).save(folder / "000000000-mask.png")
    reader = ClearGrasp(tmp_path / "cg")
    sample = reader.load(reader.refs()[0])
    assert reader.refs()[0].id == "real-test/d415/000000000"
    np.testing.assert_allclose(sample.depth, 500.0)
    assert sample.categories["tom"].sum() == 64


def test_middlebury_depth_with_disparity_offset(tmp_path):
    scene = tmp_path / "mb" / "Adirondack"
    rgb(scene / "im0.png", 4, 4)
    disparity = np.full((4, 4), 100.0, np.float32)
    disparity[0, 0] = np.inf
    with (scene / "disp0.pfm").open("wb") as file:
        file.write(b"Pf\n4 4\n-1.0\n")
        file.write(np.flipud(disparity).astype("<f4").tobytes())
    (scene / "calib.txt").write_text(
        "cam0=[4000 0 2; 0 4000 2; 0 0 1]\ncam1=[4000 0 2; 0 4000 2; 0 0 1]\ndoffs=100\nbaseline=200\n"
    )
    reader = Middlebury(tmp_path / "mb")
    sample = reader.load(reader.refs()[0])
    # 200 mm * 4000 px / (100 + 100) px = 4000 mm; the unknown pixel is invalid.
    assert sample.depth[1, 1] == pytest.approx(4000.0) and not sample.valid[0, 0]


def test_corrupt_image_is_a_clear_error(tmp_path):
    root = write_generic(tmp_path / "g", conditions=("day",), count=1)
    (root / "day" / "images" / "s0.png").write_bytes(b"broken")
    reader = GenericFolder(root)
    with pytest.raises(ReaderError, match=r"s0\.png: not an image"):
        reader.load(reader.refs()[0])


def test_projection_truncates_like_md4alls_nuscenes_or_rounds_like_its_robotcar():
    intrinsics = np.array([[10.0, 0, 0], [0, 10.0, 0], [0, 0, 1]])
    point = np.array([[0.26, 0.14, 1.0]])  # u = 2.6, v = 1.4
    assert project_to_image(point, intrinsics, (4, 4))[1, 2] == 1.0
    assert project_to_image(point, intrinsics, (4, 4), nearest_pixel=True)[1, 3] == 1.0
