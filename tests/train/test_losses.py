import pytest
import torch

from depthforge.train.losses import SSILoss, gradient_matching_loss, normalize_median_mad, ssi_loss


@pytest.fixture
def maps() -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.rand(2, 16, 20) + 0.1
    pred = target + 0.3 * torch.rand(2, 16, 20)
    return pred, target


def test_hand_computed_value():
    # Lower medians 2 and 2, deviations 1 and 1: |[-1,0,1,2] - [-1,0,2,1]| sums to 2 over M = 4.
    pred = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    target = torch.tensor([[[1.0, 2.0, 4.0, 3.0]]])
    assert ssi_loss(pred, target).item() == pytest.approx(2 / (2 * 4))


def test_zero_for_identical_maps(maps):
    _, target = maps
    assert ssi_loss(target, target).item() == 0.0


@pytest.mark.parametrize(("scale", "shift"), [(3.0, 0.5), (0.01, -2.0), (1e4, 1e3), (1e-5, 0.0)])
def test_invariant_to_scale_and_shift_of_the_prediction(maps, scale, shift):
    pred, target = maps
    assert ssi_loss(scale * pred + shift, target).item() == pytest.approx(
        ssi_loss(pred, target).item(), rel=1e-4
    )


def test_positive_for_different_structure(maps):
    pred, target = maps
    assert ssi_loss(pred, target).item() > 0.01


def test_masked_pixels_have_no_influence(maps):
    pred, target = maps
    mask = torch.rand_like(target) > 0.3
    changed = torch.where(mask, pred, 1e6)
    target_changed = torch.where(mask, target, torch.nan)
    assert ssi_loss(changed, target_changed, mask).item() == pytest.approx(
        ssi_loss(pred, target, mask).item()
    )


def test_image_without_valid_pixels_is_left_out(maps):
    pred, target = maps
    mask = torch.ones_like(target, dtype=torch.bool)
    mask[1] = False
    assert ssi_loss(pred, target, mask).item() == pytest.approx(ssi_loss(pred[:1], target[:1]).item())
    assert ssi_loss(pred, target, torch.zeros_like(mask)).item() == 0.0


def test_constant_maps_are_stable():
    pred = torch.full((1, 8, 8), 0.7, requires_grad=True)
    target = torch.rand(1, 8, 8)
    loss = ssi_loss(pred, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    assert normalize_median_mad(torch.full((1, 4), 3.0), torch.ones(1, 4, dtype=torch.bool)).abs().max() == 0


def test_tiny_variance_prediction_is_normalised_not_zeroed(maps):
    # Randomly initialised depth networks output maps with a variance around 1e-9.
    pred, target = maps
    tiny = 0.7 + 3e-5 * (pred - pred.mean())
    assert ssi_loss(tiny, target).item() == pytest.approx(ssi_loss(pred, target).item(), rel=2e-2)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs(maps, dtype):
    pred, target = maps
    loss = ssi_loss(pred.to(dtype), target.to(dtype))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(ssi_loss(pred, target).item(), rel=5e-2)


def test_nan_labels_give_finite_gradients(maps):
    pred, target = maps
    pred = pred.clone().requires_grad_(True)
    target = target.clone()
    target[0, :4] = torch.nan
    ssi_loss(pred, target).backward()
    assert torch.isfinite(pred.grad).all()
    assert (pred.grad[0, :4] == 0).all()


def test_least_squares_variant(maps):
    pred, target = maps
    loss = SSILoss(alignment="lstsq")
    assert loss(2.5 * target - 1.0, target)["loss"].item() == pytest.approx(0.0, abs=1e-10)
    base = loss(pred, target)["loss"].item()
    assert base > 0
    assert loss(4.0 * pred + 3.0, target)["loss"].item() == pytest.approx(base, rel=1e-4)


def test_gradient_matching_term(maps):
    pred, target = maps
    loss = SSILoss(gradient_weight=0.5)
    affine = loss(3.0 * target + 1.0, target)
    assert affine["gradient"].item() == pytest.approx(0.0, abs=1e-5)
    parts = loss(pred, target)
    assert parts["gradient"].item() > 0
    assert parts["loss"].item() == pytest.approx(parts["ssi"].item() + 0.5 * parts["gradient"].item())
    assert "gradient" not in SSILoss()(pred, target)


def test_gradient_matching_hand_computed():
    # One row [0, 1, 3]: |1 - 0| + |3 - 1| = 3 over 3 pixels at scale 1; scale 2 keeps [0, 3]: 3 over 2.
    residual = torch.tensor([[[0.0, 1.0, 3.0]]])
    mask = torch.ones_like(residual, dtype=torch.bool)
    assert gradient_matching_loss(residual, mask, scales=1).item() == pytest.approx(1.0)
    assert gradient_matching_loss(residual, mask, scales=2).item() == pytest.approx(1.0 + 1.5)


def test_accepts_channel_dimension(maps):
    pred, target = maps
    assert ssi_loss(pred[:, None], target[:, None]).item() == pytest.approx(ssi_loss(pred, target).item())


def test_region_weights_give_a_region_more_say(maps):
    pred, target = maps
    wrong = pred.clone()
    wrong[:, :4, :4] = -5.0  # a small region the prediction gets badly wrong
    region = torch.zeros_like(target, dtype=torch.bool)
    region[:, :4, :4] = True
    loss = SSILoss()
    plain = loss(wrong, target)["ssi"]
    ones = loss(wrong, target, weights=torch.ones_like(target))["ssi"]
    weighted = loss(wrong, target, weights=1 + 9 * region.float())["ssi"]
    assert ones.item() == pytest.approx(plain.item(), rel=1e-6)
    assert weighted.item() > 2 * plain.item()
