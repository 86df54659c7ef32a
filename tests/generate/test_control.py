import numpy as np

from depthforge.depth.spaces import DepthSpace
from depthforge.generate.control import control_image, generation_size, nearness, to_source_size


def test_near_is_bright_in_every_space():
    depth = np.array([[1.0, 10.0, 100.0]], np.float32)
    metric = nearness(depth, DepthSpace.METRIC_DEPTH, (0, 100))
    relative = nearness(1 / depth, DepthSpace.RELATIVE_INVERSE_DEPTH, (0, 100))
    assert metric[0, 0] == 1.0 and metric[0, 2] == 0.0
    np.testing.assert_allclose(metric, relative, atol=1e-6)


def test_invalid_depth_is_far():
    assert nearness(np.array([[np.nan, 1.0, 2.0]], np.float32), DepthSpace.METRIC_DEPTH)[0, 0] == 0.0


def test_generation_size_keeps_the_models_area_and_the_aspect():
    assert generation_size(900, 1600, 512, 64) == (384, 704)  # nuScenes on SD 1.5
    assert generation_size(900, 1600, 1024, 32) == (768, 1376)  # nuScenes on SDXL, not 1024x1824
    assert generation_size(375, 1242, 512, 64) == (256, 960)  # KITTI on SD 1.5
    assert generation_size(10, 10, 512, 64) == (512, 512)
    for height, width, side, multiple in [(900, 1600, 1024, 32), (480, 640, 512, 64), (1080, 1920, 512, 64)]:
        h, w = generation_size(height, width, side, multiple)
        assert h % multiple == 0 and w % multiple == 0
        assert abs(h * w / side**2 - 1) < 0.15
        assert abs(w / h - width / height) <= multiple / h * width / height + multiple / h


def test_control_image_size_and_channels():
    depth = np.random.default_rng(0).random((30, 40)).astype(np.float32)
    image = control_image(depth, DepthSpace.RELATIVE_INVERSE_DEPTH, (64, 128))
    assert image.size == (128, 64) and image.mode == "RGB"
    assert control_image(depth, DepthSpace.RELATIVE_INVERSE_DEPTH, (64, 64), channels=1).mode == "L"


def test_back_to_source_size():
    image = np.zeros((64, 128, 3), np.uint8)
    assert to_source_size(image, (30, 50)).shape == (30, 50, 3)
    assert to_source_size(image, (64, 128)) is image
