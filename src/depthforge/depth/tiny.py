"""Tiny, randomly initialised depth networks with real architectures and image processors.

They run in milliseconds on a CPU, need no download, and load back through the same
``from_pretrained`` code as a hub model: for tests, smoke runs and the offline demo.
"""

from enum import StrEnum
from pathlib import Path

import torch
from transformers import (
    AutoModelForDepthEstimation,
    BeitConfig,
    DepthAnythingConfig,
    Dinov2Config,
    DPTConfig,
    DPTImageProcessorPil,
    PretrainedConfig,
    ZoeDepthConfig,
    ZoeDepthImageProcessorPil,
)

_STAGES = ["stage1", "stage2", "stage3", "stage4"]
_VIT = {"hidden_size": 16, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 32}
_NECK = {"neck_hidden_sizes": [8, 8, 8, 8], "fusion_hidden_size": 8}


class TinyArch(StrEnum):
    DPT = "dpt"
    DEPTH_ANYTHING = "depth-anything"
    ZOEDEPTH = "zoedepth"


def _config(arch: TinyArch) -> PretrainedConfig:
    if arch is TinyArch.DPT:
        return DPTConfig(**_VIT, **_NECK, image_size=32, patch_size=8, backbone_out_indices=[0, 1, 2, 3])
    if arch is TinyArch.DEPTH_ANYTHING:
        backbone = Dinov2Config(
            **_VIT, image_size=28, patch_size=14, out_features=_STAGES, reshape_hidden_states=False
        )
        return DepthAnythingConfig(
            backbone_config=backbone, reassemble_hidden_size=16, head_hidden_size=8, **_NECK
        )
    backbone = BeitConfig(
        **_VIT,
        image_size=32,
        patch_size=8,
        out_features=_STAGES,
        reshape_hidden_states=False,
        use_relative_position_bias=True,
        use_absolute_position_embeddings=False,
    )
    return ZoeDepthConfig(
        backbone_config=backbone,
        **_NECK,
        bottleneck_features=8,
        num_relative_features=8,
        bin_embedding_dim=8,
        num_attractors=[4, 2, 2, 1],
        bin_configurations=[{"n_bins": 8, "min_depth": 0.001, "max_depth": 10.0, "name": "nyu"}],
        num_patch_transformer_layers=1,
        patch_transformer_hidden_size=8,
        patch_transformer_intermediate_size=16,
        patch_transformer_num_attention_heads=2,
    )


def _processor(arch: TinyArch) -> object:
    if arch is TinyArch.DPT:
        # Like Intel/dpt-large: a fixed square input.
        return DPTImageProcessorPil(size={"height": 64, "width": 64}, keep_aspect_ratio=False)
    if arch is TinyArch.DEPTH_ANYTHING:
        # Like Depth Anything: aspect kept, sides multiples of the 14-pixel patch.
        return DPTImageProcessorPil(
            size={"height": 56, "width": 56},
            keep_aspect_ratio=True,
            ensure_multiple_of=14,
            image_mean=[0.485, 0.456, 0.406],
            image_std=[0.229, 0.224, 0.225],
        )
    return ZoeDepthImageProcessorPil(
        size={"height": 64, "width": 96}, keep_aspect_ratio=True, ensure_multiple_of=32
    )


def save_tiny_model(arch: TinyArch | str, folder: str | Path, seed: int = 0) -> Path:
    """Build a tiny ``arch`` network and its processor with fixed random weights; save them to ``folder``."""
    arch = TinyArch(arch)
    torch.manual_seed(seed)
    net = AutoModelForDepthEstimation.from_config(_config(arch))
    net.save_pretrained(folder)
    _processor(arch).save_pretrained(folder)
    return Path(folder)


def save_depth_anything(
    folder: str | Path,
    width: int,
    layers: int,
    heads: int,
    out_indices: list[int],
    neck: list[int],
    fusion: int,
    head: int,
    size: int,
    head_bias: float | None = None,
    seed: int = 0,
) -> Path:
    """Save a Depth Anything network of any size (DINOv2 ViT with 14 px patches + DPT head), random
    weights, with Depth Anything's image processor at ``size``. ``head_bias`` starts the last
    head convolution's bias there (a positive value keeps the final ReLU alive from scratch)."""
    backbone = Dinov2Config(
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * width,
        image_size=size,
        patch_size=14,
        out_indices=out_indices,
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=width,
        neck_hidden_sizes=neck,
        fusion_hidden_size=fusion,
        head_hidden_size=head,
    )
    torch.manual_seed(seed)
    net = AutoModelForDepthEstimation.from_config(config)
    if head_bias is not None:
        torch.nn.init.constant_(net.head.conv3.bias, head_bias)
    net.save_pretrained(folder)
    DPTImageProcessorPil(
        size={"height": size, "width": size},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)
    return Path(folder)


def save_depth_anything_small(folder: str | Path) -> Path:
    """Depth Anything V2 Small's full architecture (DINOv2 ViT-S/14 + DPT head, 518 px), random
    weights: for throughput benchmarks, whose compute does not depend on the weights' values."""
    if (Path(folder) / "config.json").exists():
        return Path(folder)
    return save_depth_anything(
        folder,
        width=384,
        layers=12,
        heads=6,
        out_indices=[3, 6, 9, 12],
        neck=[48, 96, 192, 384],
        fusion=64,
        head=32,
        size=518,
    )
