"""One wrapper for every depth network: ``AutoModelForDepthEstimation`` plus its image processor."""

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoImageProcessor, AutoModelForDepthEstimation, PretrainedConfig

from depthforge import registry
from depthforge.depth import network
from depthforge.depth.preprocess import Preprocessing
from depthforge.depth.spaces import DepthSpace
from depthforge.hub import load_failure

SPACE_CONFIG_KEY = "depthforge_depth_space"
"""Config attribute in which a saved model records the space of its output."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded from the given name."""


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` is the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 on CUDA devices that have it, float16 on other CUDA devices, float32 on CPU."""
    if dtype != "auto":
        return {
            "float32": torch.float32,
            "fp32": torch.float32,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
            "float16": torch.float16,
            "fp16": torch.float16,
        }[dtype]
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def infer_space(config: PretrainedConfig) -> DepthSpace:
    """The output space a model's config implies; raises ``ValueError`` when it does not say."""
    if recorded := getattr(config, SPACE_CONFIG_KEY, None):
        return DepthSpace(recorded)
    model_type = config.model_type
    if model_type == "depth_anything":
        metric = getattr(config, "depth_estimation_type", "relative") == "metric"
        return DepthSpace.METRIC_DEPTH if metric else DepthSpace.RELATIVE_INVERSE_DEPTH
    if model_type == "dpt":
        return DepthSpace.RELATIVE_INVERSE_DEPTH
    if model_type in {"zoedepth", "glpn", "depth_pro"}:
        return DepthSpace.METRIC_DEPTH
    raise ValueError(f"cannot tell the output space of a '{model_type}' model: pass the space explicitly")


class DepthModel(nn.Module):
    """A depth network that knows its preprocessing and the space of its output.

    ``forward`` is differentiable and maps images in [0, 1] to depth at their own resolution;
    ``predict`` is the batched inference path for uint8 images of any sizes. ``from_pretrained``
    loads a ``transformers`` depth model (preset, folder or hub id) or any torch network through its
    factory (``depth/network.py``); both behave the same in every stage.
    """

    def __init__(self, net: nn.Module, preprocessing: Preprocessing, space: DepthSpace, name: str) -> None:
        super().__init__()
        self.net = net
        self.preprocessing = preprocessing
        self.space = space
        self.name = name

    @classmethod
    def from_pretrained(
        cls,
        name: str,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "auto",
        space: DepthSpace | str | None = None,
        revision: str | None = None,
    ) -> "DepthModel":
        """Load from a preset name, a local folder, a hub id or a network factory, on ``device`` in
        ``dtype``."""
        device = resolve_device(device) if isinstance(device, str) else device
        dtype = resolve_dtype(dtype, device) if isinstance(dtype, str) else dtype
        from depthforge.depth import marigold  # it subclasses DepthModel: imported here, not on top

        if network.is_factory(name) or network.is_saved(name):
            model: DepthModel = FactoryDepthModel.load(name)
        elif marigold.is_marigold(name, revision):
            model = marigold.MarigoldDepthModel.load(name, revision)
        else:
            model = TransformersDepthModel.load(name, revision, space)
        if space:
            model.space = DepthSpace(space)
        model.net.to(device=device, dtype=dtype)
        return model.eval()

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.net.parameters()).dtype

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Depth ``[B, H, W]`` (float32, in ``self.space``) for images ``[B, 3, H, W]`` in [0, 1]."""
        size = tuple(pixels.shape[-2:])
        inputs, padding = self.preprocessing(pixels)
        output = self.infer(inputs.to(self.dtype))
        return self.preprocessing.restore(output, tuple(inputs.shape[-2:]), padding, size)

    def infer(self, inputs: torch.Tensor) -> torch.Tensor:
        """The network's depth ``[B, h, w]`` for its preprocessed input."""
        raise NotImplementedError

    def save_pretrained(self, folder: str | Path) -> None:
        """Save the network so that ``from_pretrained(folder)`` loads it back, with its space."""
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, images: Sequence[np.ndarray], batch_size: int = 4) -> list[np.ndarray]:
        """Float32 depth maps at each image's own resolution, for uint8 ``H x W x 3`` images.

        Images of the same size are batched together; the result keeps the input order.
        """
        by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, image in enumerate(images):
            by_size[image.shape[:2]].append(index)
        results: list[np.ndarray] = [np.empty(0, np.float32)] * len(images)
        for indices in by_size.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                batch = torch.from_numpy(np.stack([images[i] for i in chunk])).to(self.device)
                depth = self(batch.permute(0, 3, 1, 2).float() / 255.0)
                for i, single in zip(chunk, depth.cpu().numpy(), strict=True):
                    results[i] = single
        return results


class TransformersDepthModel(DepthModel):
    """A ``transformers`` depth model (``AutoModelForDepthEstimation``) and its image processor."""

    def __init__(self, net: nn.Module, processor: object, space: DepthSpace, name: str) -> None:
        super().__init__(net, Preprocessing.from_processor(processor), space, name)
        self.processor = processor

    @classmethod
    def load(
        cls, name: str, revision: str | None = None, space: DepthSpace | str | None = None
    ) -> "TransformersDepthModel":
        source, preset_space = registry.resolve(name)
        try:
            net = AutoModelForDepthEstimation.from_pretrained(source, revision=revision)
            processor = AutoImageProcessor.from_pretrained(source, revision=revision)
        except (OSError, ValueError) as error:
            raise ModelLoadError(load_failure("depth model", source, error)) from error
        resolved = DepthSpace(space) if space else preset_space or infer_space(net.config)
        return cls(net, processor, resolved, name)

    def infer(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_values=inputs).predicted_depth

    def save_pretrained(self, folder: str | Path) -> None:
        """Network and processor in the plain ``transformers`` format, recording the depth space."""
        setattr(self.net.config, SPACE_CONFIG_KEY, self.space.value)
        self.net.save_pretrained(folder)
        self.processor.save_pretrained(folder)


class FactoryDepthModel(DepthModel):
    """Any torch network, built by its factory (``depth/network.py``)."""

    def __init__(self, built: network.Network, factory: str, name: str) -> None:
        super().__init__(built.module, built.preprocessing, built.space, name)
        self.factory = factory

    @classmethod
    def load(cls, name: str) -> "FactoryDepthModel":
        try:
            factory, built = network.load(name) if network.is_saved(name) else (name, network.build(name))
        except network.NetworkError as error:
            raise ModelLoadError(str(error)) from error
        return cls(built, factory, name)

    def infer(self, inputs: torch.Tensor) -> torch.Tensor:
        depth = self.net(inputs)
        return depth[:, 0] if depth.dim() == 4 else depth

    def save_pretrained(self, folder: str | Path) -> None:
        network.save(self.factory, network.Network(self.net, self.preprocessing, self.space), folder)
