"""Stable Diffusion pipelines with depth adapters and ControlNets, built from configs with random
weights and saved like hub checkpoints, so every code path runs offline.

``tiny`` sizes run in milliseconds (tests); ``full`` has SD 1.5's real architecture, so its compute
is the real one whatever the weights (benchmarks). A random model's images are noise.
"""

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    DDIMScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    T2IAdapter,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from depthforge.generate.diffusion import Family

_TINY_UNET = {
    "block_out_channels": (16, 32),
    "layers_per_block": 1,
    "sample_size": 16,
    "norm_num_groups": 8,
    "attention_head_dim": 2,
}
_FULL_SD15_UNET = {
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "sample_size": 64,
    "norm_num_groups": 32,
    "attention_head_dim": 8,
    "cross_attention_dim": 768,
}


def save_tokenizer(folder: Path) -> CLIPTokenizer:
    """A byte-level CLIP tokenizer with no merges: 256 byte characters, their word-final forms, 2 specials."""
    folder.mkdir(parents=True, exist_ok=True)
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    shifted = iter(range(256, 512))
    chars = [chr(b) if b in printable else chr(next(shifted)) for b in range(256)]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab |= {f"{c}</w>": 256 + i for i, c in enumerate(chars)}
    vocab |= {"<|startoftext|>": 512, "<|endoftext|>": 513}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(folder)
    return tokenizer


def _text_encoder(full: bool, projection: bool, hidden: int) -> torch.nn.Module:
    sizes = (
        {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "vocab_size": 49408,
        }
        if full
        else {
            "hidden_size": hidden,
            "intermediate_size": 2 * hidden,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "vocab_size": 514,
        }
    )
    config = CLIPTextConfig(**sizes, max_position_embeddings=77, projection_dim=hidden)
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def _vae(full: bool) -> AutoencoderKL:
    channels = (128, 256, 512, 512) if full else (8, 16)
    return AutoencoderKL(
        block_out_channels=channels,
        down_block_types=("DownEncoderBlock2D",) * len(channels),
        up_block_types=("UpDecoderBlock2D",) * len(channels),
        latent_channels=4,
        layers_per_block=2 if full else 1,
        norm_num_groups=32 if full else 8,
        sample_size=512 if full else 32,
    )


def _unet_kwargs(family: Family, full: bool) -> dict[str, Any]:
    if full:
        if family is Family.SDXL:
            raise ValueError("only SD 1.5 has a full-size random architecture here")
        return {
            **_FULL_SD15_UNET,
            "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        }
    # The block order follows the real models: the adapters' feature sizes depend on it.
    sd15 = {
        "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    }
    sdxl = {
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        # Two 8-wide text encoders, an 8-wide pooled projection and six 4-wide time ids: 8 + 24.
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": 4,
        "projection_class_embeddings_input_dim": 32,
        "use_linear_projection": True,
    }
    kwargs = {**_TINY_UNET, "cross_attention_dim": 16, **(sdxl if family is Family.SDXL else sd15)}
    return kwargs


def save_random_pipeline(
    folder: str | Path, family: Family = Family.SD15, full: bool = False, seed: int = 0
) -> Path:
    """Save a text-to-image pipeline with random weights to ``folder`` (loadable by ``from_pretrained``)."""
    folder = Path(folder)
    torch.manual_seed(seed)
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, **_unet_kwargs(family, full))
    tokenizer = save_tokenizer(folder / "tokenizer")
    common = {"vae": _vae(full), "unet": unet, "scheduler": scheduler}
    if family is Family.SDXL:
        pipe = StableDiffusionXLPipeline(
            text_encoder=_text_encoder(full, False, 8),
            text_encoder_2=_text_encoder(full, True, 8),
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            **common,
        )
    else:
        pipe = StableDiffusionPipeline(
            text_encoder=_text_encoder(full, False, 16),
            tokenizer=tokenizer,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
            **common,
        )
    pipe.save_pretrained(folder)
    return folder


def save_random_control(folder: str | Path, base: str | Path, kind: str, seed: int = 0) -> Path:
    """Save a random depth T2I-Adapter (``kind="adapter"``) or ControlNet fitting the pipeline at ``base``."""
    folder, base = Path(folder), Path(base)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(base / "unet")
    vae_scale = 2 ** (len(AutoencoderKL.load_config(base / "vae")["block_out_channels"]) - 1)
    xl = unet.config.addition_embed_type == "text_time"
    if kind == "adapter":
        model = T2IAdapter(
            in_channels=3,
            channels=list(unet.config.block_out_channels),
            num_res_blocks=2 if vae_scale == 8 else 1,
            downscale_factor=vae_scale * (2 if xl else 1),
            adapter_type="full_adapter_xl" if xl else "full_adapter",
        )
    else:
        model = ControlNetModel.from_unet(
            unet, conditioning_embedding_out_channels=_embedding_channels(vae_scale)
        )
    model.save_pretrained(folder)
    return folder


def _embedding_channels(vae_scale: int) -> tuple[int, ...]:
    """ControlNet's condition embedding downsamples by the VAE scale: log2(scale) + 1 stages."""
    stages = vae_scale.bit_length()
    return tuple(16 * 2**i for i in range(stages))
