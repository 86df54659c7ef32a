"""The torch-native preprocessing against the models' own image processors.

Tolerance: the PIL processors resize 8-bit images, we resize floats. Outputs must agree to within
1.5 8-bit levels at every pixel and 0.5 level on average (levels expressed after normalisation),
on images without saturated edges (see ``depthforge.depth.preprocess``).
"""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor, DPTImageProcessorPil

from depthforge.depth.preprocess import Padding, Preprocessing
from tests.conftest import smooth_image

SIZES = [(75, 130), (120, 90), (64, 64), (33, 47)]


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def assert_matches_processor(processor: object, image: np.ndarray) -> None:
    reference = processor(images=Image.fromarray(image), return_tensors="pt")["pixel_values"]
    ours, _ = Preprocessing.from_processor(processor)(to_tensor(image))
    assert ours.shape == reference.shape
    level = 1 / 255 / min(processor.image_std)
    difference = (ours - reference).abs()
    assert difference.max().item() <= 1.5 * level
    assert difference.mean().item() <= 0.5 * level


@pytest.mark.parametrize("arch", ["dpt", "depth-anything", "zoedepth"])
@pytest.mark.parametrize("size", SIZES)
def test_matches_the_models_own_processor(tiny_models, arch, size):
    processor = AutoImageProcessor.from_pretrained(tiny_models[arch])
    assert_matches_processor(processor, smooth_image(*size))


def test_matches_dpt_processor_with_padding():
    processor = DPTImageProcessorPil(
        size={"height": 40, "width": 40}, keep_aspect_ratio=True, do_pad=True, size_divisor=32
    )
    assert_matches_processor(processor, smooth_image(50, 90))


def test_depth_anything_size_rule_on_a_driving_frame():
    # 1600 x 900 at 518: the height scale (0.58) is closer to 1 than the width scale (0.32), so the
    # short side becomes 518 and the long side 920.9 -> the nearest multiple of 14, 924.
    rule = Preprocessing(518, 518, keep_aspect_ratio=True, multiple=14)
    assert rule.resized_size(900, 1600) == (518, 924)
    assert Preprocessing(384, 384).resized_size(900, 1600) == (384, 384)


def test_zoedepth_reflect_padding_sizes():
    rule = Preprocessing(384, 512, keep_aspect_ratio=True, multiple=32, reflect_pad=True, align_corners=True)
    _, padding = rule(torch.rand(1, 3, 40, 60))
    # int(3 * sqrt(40 / 2)) = 13 and int(3 * sqrt(60 / 2)) = 16.
    assert padding == Padding(13, 13, 16, 16)


def test_gradients_reach_the_pixels(tiny_models):
    rule = Preprocessing.from_processor(AutoImageProcessor.from_pretrained(tiny_models["depth-anything"]))
    pixels = torch.rand(2, 3, 30, 50, requires_grad=True)
    inputs, _ = rule(pixels)
    inputs.square().sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0


def test_restore_matches_dpt_post_processing(tiny_models):
    processor = AutoImageProcessor.from_pretrained(tiny_models["dpt"])
    raw = torch.rand(2, 64, 64)
    output = type("Output", (), {"predicted_depth": raw})()
    reference = processor.post_process_depth_estimation(output, target_sizes=[(50, 70), (50, 70)])
    ours = Preprocessing.from_processor(processor).restore(raw, (64, 64), Padding(), (50, 70))
    for mine, theirs in zip(ours, reference, strict=True):
        assert torch.allclose(mine, theirs["predicted_depth"], atol=1e-6)


def test_restore_cuts_zoedepth_padding_at_the_right_place():
    # The raw output is the column coordinate of the padded source frame (92 = 60 + 2 * 16 wide);
    # after restoring, column j of the source must read j + 16.
    rule = Preprocessing(64, 96, keep_aspect_ratio=True, multiple=32, reflect_pad=True, align_corners=True)
    out_h, out_w = 128, 184
    columns = (torch.arange(out_w) + 0.5) * 92 / out_w - 0.5
    raw = columns.expand(1, out_h, out_w)
    restored = rule.restore(raw, (64, 96), Padding(13, 13, 16, 16), (40, 60))
    assert restored.shape == (1, 40, 60)
    expected = torch.arange(60.0) + 16
    assert torch.allclose(restored[0, 20, 2:-2], expected[2:-2], atol=1e-3)


def test_restore_cuts_centre_padding_scaled_to_the_output():
    rule = Preprocessing(32, 32, pad_divisor=32)
    # Input 32 x 48 padded to 32 x 64 (8 each side); the output has twice the input's resolution.
    raw = torch.zeros(1, 64, 128)
    raw[..., 16:-16] = 1.0
    restored = rule.restore(raw, (32, 64), Padding(0, 0, 8, 8), (32, 48))
    assert torch.allclose(restored, torch.ones(1, 32, 48))


def test_unsupported_processor_is_refused():
    with pytest.raises(ValueError, match="unsupported image processor"):
        Preprocessing.from_processor(object())
