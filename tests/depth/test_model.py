import numpy as np
import pytest
import torch
from transformers import pipeline

from depthforge import registry
from depthforge.depth.model import SPACE_CONFIG_KEY, DepthModel, ModelLoadError, resolve_dtype
from depthforge.depth.spaces import DepthSpace
from tests.conftest import smooth_image

SPACES = {
    "dpt": DepthSpace.RELATIVE_INVERSE_DEPTH,
    "depth-anything": DepthSpace.RELATIVE_INVERSE_DEPTH,
    "zoedepth": DepthSpace.METRIC_DEPTH,
}


@pytest.mark.parametrize("arch", list(SPACES))
def test_loads_from_a_folder_and_predicts_at_original_resolution(tiny_models, arch):
    model = DepthModel.from_pretrained(str(tiny_models[arch]))
    assert model.space is SPACES[arch]
    images = [smooth_image(40, 60, 1), smooth_image(57, 31, 2), smooth_image(40, 60, 3)]
    depths = model.predict(images, batch_size=2)
    assert [d.shape for d in depths] == [(40, 60), (57, 31), (40, 60)]
    assert all(d.dtype == np.float32 and np.isfinite(d).all() for d in depths)


@pytest.mark.parametrize("arch", list(SPACES))
def test_batching_does_not_change_results(tiny_models, arch):
    model = DepthModel.from_pretrained(str(tiny_models[arch]))
    images = [smooth_image(40, 60, seed) for seed in range(3)]
    one_by_one = model.predict(images, batch_size=1)
    together = model.predict(images, batch_size=3)
    for a, b in zip(one_by_one, together, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


def test_predict_keeps_the_input_order(tiny_models):
    model = DepthModel.from_pretrained(str(tiny_models["depth-anything"]))
    # Mix sizes so that grouping by size reorders the work internally.
    images = [smooth_image(40, 60, 1), smooth_image(30, 30, 2), smooth_image(40, 60, 3)]
    mixed = model.predict(images, batch_size=4)
    alone = [model.predict([image])[0] for image in images]
    for a, b in zip(mixed, alone, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("arch", list(SPACES))
def test_forward_is_differentiable(tiny_models, arch):
    model = DepthModel.from_pretrained(str(tiny_models[arch])).train()
    pixels = torch.rand(2, 3, 42, 56)
    depth = model(pixels)
    assert depth.shape == (2, 42, 56) and depth.dtype == torch.float32
    depth.mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_explicit_dtype_on_cpu(tiny_models):
    model = DepthModel.from_pretrained(str(tiny_models["depth-anything"]), dtype="bf16")
    assert model.dtype == torch.bfloat16
    depth = model.predict([smooth_image(30, 40)])[0]
    assert depth.dtype == np.float32 and depth.shape == (30, 40)


def test_saved_model_records_its_space_and_loads_with_stock_transformers(tiny_models, tmp_path):
    model = DepthModel.from_pretrained(str(tiny_models["dpt"]), space="inverse_depth")
    model.save_pretrained(tmp_path / "saved")
    again = DepthModel.from_pretrained(str(tmp_path / "saved"))
    assert again.space is DepthSpace.INVERSE_DEPTH
    assert getattr(again.net.config, SPACE_CONFIG_KEY) == "inverse_depth"
    estimator = pipeline("depth-estimation", model=str(tmp_path / "saved"), device="cpu")
    from PIL import Image

    result = estimator(Image.fromarray(smooth_image(30, 40)))
    assert result["predicted_depth"].shape[-2:] == (30, 40)


def test_registry_resolves_presets_folders_and_hub_ids(tmp_path):
    assert registry.resolve("depth-anything-v2-small") == (
        "depth-anything/Depth-Anything-V2-Small-hf",
        DepthSpace.RELATIVE_INVERSE_DEPTH,
    )
    assert registry.resolve("zoedepth-nyu-kitti")[1] is DepthSpace.METRIC_DEPTH
    assert registry.resolve("depth-anything-v2-metric-outdoor-large")[0] == (
        "depth-anything/Depth-Anything-V2-Metric-Outdoor-Large-hf"
    )
    assert registry.resolve("someone/their-model") == ("someone/their-model", None)
    folder = tmp_path / "dpt-large"
    folder.mkdir()
    assert registry.resolve(str(folder)) == (str(folder), None)


def test_every_issue_preset_is_registered():
    expected = {"dpt-large", "dpt-hybrid-midas", "zoedepth-nyu-kitti"}
    expected |= {f"depth-anything-{s}" for s in ("small", "base", "large")}
    expected |= {f"depth-anything-v2-{s}" for s in ("small", "base", "large")}
    expected |= {
        f"depth-anything-v2-metric-{k}-{s}" for k in ("indoor", "outdoor") for s in ("small", "base", "large")
    }
    assert set(registry.PRESETS) == expected


def test_unloadable_model_gets_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot load depth model 'nobody/nothing'"):
        DepthModel.from_pretrained("nobody/nothing")


def test_dtype_resolution():
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("fp16", torch.device("cpu")) == torch.float16
