import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, DDIMScheduler, MarigoldDepthPipeline, UNet2DConditionModel
from PIL import Image
from transformers import CLIPTextConfig, CLIPTextModel
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.data.dataset import DatasetFolder
from depthforge.depth.marigold import MarigoldDepthModel, is_marigold
from depthforge.depth.model import DepthModel
from depthforge.generate.random_pipelines import save_tokenizer
from tests.conftest import smooth_image


@pytest.fixture(scope="module")
def tiny_marigold(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random Marigold: its UNet denoises a depth latent next to the image latent (4 + 4 channels)."""
    folder = tmp_path_factory.mktemp("marigold")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        in_channels=8,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=16,
        norm_num_groups=8,
        attention_head_dim=2,
        cross_attention_dim=16,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=32,
    )
    text = CLIPTextConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        vocab_size=514,
        max_position_embeddings=77,
    )
    # Marigold v1.1's scheduler: DDIM, v-prediction, trailing timesteps.
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear", prediction_type="v_prediction", timestep_spacing="trailing"
    )
    pipeline = MarigoldDepthPipeline(
        unet=unet,
        vae=vae,
        scheduler=scheduler,
        text_encoder=CLIPTextModel(text),
        tokenizer=save_tokenizer(folder / "tokenizer"),
        prediction_type="depth",
        default_denoising_steps=2,
        default_processing_resolution=32,
    )
    pipeline.save_pretrained(folder)
    return str(folder)


def test_a_saved_marigold_is_recognised_and_labels_images_through_the_cli(tiny_marigold, tmp_path):
    images = tmp_path / "easy"
    images.mkdir()
    sizes = {"a": (20, 28), "b": (24, 24)}
    for name, (height, width) in sizes.items():
        Image.fromarray(smooth_image(height, width, len(name))).save(images / f"{name}.png")
    out = tmp_path / "data"
    args = ["label", str(images), "--model", tiny_marigold, "--out", str(out), "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = DatasetFolder(out).labels()
    assert [row["id"] for row in rows] == ["a", "b"]
    for row in rows:
        assert row["label_space"] == "relative_inverse_depth"
        label = np.load(out / row["label"])
        assert label.dtype == np.float32 and label.shape == sizes[row["id"]]
        assert np.isfinite(label).all() and (label > 0).all()


def test_predictions_are_deterministic_and_settings_are_attributes(tiny_marigold):
    model = DepthModel.from_pretrained(tiny_marigold)
    assert isinstance(model, MarigoldDepthModel) and is_marigold(tiny_marigold)
    images = [smooth_image(20, 28, 0), smooth_image(16, 16, 1), smooth_image(20, 28, 2)]
    first, second = model.predict(images, batch_size=2), model.predict(images, batch_size=2)
    for one, two, image in zip(first, second, images, strict=True):
        assert one.shape == image.shape[:2] and one.dtype == np.float32
        np.testing.assert_array_equal(one, two)
    model.steps = 1
    single = model.predict(images[:1])[0]
    model.ensemble_size = 3
    merged = model.predict(images[:1])[0]
    assert merged.shape == (20, 28) and not np.array_equal(merged, single)
    assert (merged >= 1 / model.depth_range - 1e-6).all() and (merged <= 1 + 1e-6).all()


def test_marigold_cannot_be_a_student(tiny_marigold):
    model = DepthModel.from_pretrained(tiny_marigold)
    with pytest.raises(RuntimeError, match="cannot be fine-tuned"):
        model(torch.rand(1, 3, 16, 16))


def test_depth_becomes_relative_inverse_depth_in_order(tiny_marigold):
    model = DepthModel.from_pretrained(tiny_marigold)
    inverse = model.to_inverse(torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(inverse, torch.tensor([1.0, 1 / 5.5, 0.1]))
