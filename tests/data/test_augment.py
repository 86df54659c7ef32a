import numpy as np
import pytest
import torch

from depthforge.config import AugmentConfig, GeometryConfig
from depthforge.data.augment import augment_pair, jitter_colour, resize_pair

NO_COLOUR = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0, rgb_shift=0, hflip=0.5)


def pattern(height=48, width=80):
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    label = 0.1 + 0.5 * x + 0.3 * y**2
    image = torch.stack([label, 1 - label, torch.full_like(label, 0.5)])
    return image, label


@pytest.mark.parametrize("side", ["short", "long"])
def test_image_and_label_get_the_same_geometry(side):
    image, label = pattern()
    for seed in range(6):  # several crops and flips
        out_image, out_label, _ = augment_pair(
            image, label, GeometryConfig(size=32, side=side), NO_COLOUR, np.random.default_rng(seed)
        )
        assert out_image.shape == (3, 32, 32) and out_label.shape == (32, 32)
        valid = torch.isfinite(out_label)
        assert valid.float().mean() > (0.99 if side == "short" else 0.55)
        torch.testing.assert_close(out_image[0][valid], out_label[valid], atol=2e-3, rtol=0)


def test_long_side_pads_with_invalid_label():
    image, label = pattern(48, 80)
    _, out_label, _ = augment_pair(image, label, GeometryConfig(size=40, side="long"), None, None)
    assert torch.isnan(out_label[-10:]).all() and torch.isfinite(out_label[:20]).all()


def test_colour_changes_the_image_only_and_follows_the_seed():
    image, label = pattern()
    geometry = GeometryConfig(size=32)
    a = augment_pair(image, label, geometry, AugmentConfig(hflip=0), np.random.default_rng(3))
    b = augment_pair(image, label, geometry, AugmentConfig(hflip=0), np.random.default_rng(3))
    plain = augment_pair(
        image, label, geometry, NO_COLOUR.model_copy(update={"hflip": 0}), np.random.default_rng(3)
    )
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(a[1], plain[1])  # same crop, same label
    assert not torch.allclose(a[0], plain[0])
    assert a[0].min() >= 0 and a[0].max() <= 1


def test_invalid_label_pixels_do_not_spread_into_valid_ones():
    image, label = pattern(40, 40)
    label[:, :20] = torch.nan
    _, resized = resize_pair(image, label, 20, "short")
    assert torch.isnan(resized[:, :10]).all()
    expected = resize_pair(image, pattern(40, 40)[1], 20, "short")[1]
    torch.testing.assert_close(resized[:, 11:], expected[:, 11:])


def test_extra_image_follows_the_geometry_without_colour():
    image, label = pattern()
    _, out_label, extra = augment_pair(
        image, label, GeometryConfig(size=32), AugmentConfig(), np.random.default_rng(1), extra=image.clone()
    )
    valid = torch.isfinite(out_label)
    torch.testing.assert_close(extra[0][valid], out_label[valid], atol=2e-3, rtol=0)


def test_colour_is_albumentations_colour_jitter_then_rgb_shift_seeded_from_the_generator(monkeypatch):
    monkeypatch.setenv("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as A

    image = pattern()[0]
    config = AugmentConfig(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, rgb_shift=0.1)
    shift = (-0.1, 0.1)
    seed = int(np.random.default_rng(4).integers(2**32))
    theirs = A.Compose(
        [A.ColorJitter(0.3, 0.3, 0.3, 0.05, p=1), A.RGBShift(shift, shift, shift, p=1)], seed=seed
    )(image=image.permute(1, 2, 0).numpy().copy())["image"]
    ours = jitter_colour(image, config, np.random.default_rng(4))
    assert torch.equal(ours, torch.from_numpy(theirs).permute(2, 0, 1).clamp(0, 1))
    assert not torch.equal(ours, jitter_colour(image, config, np.random.default_rng(5)))
