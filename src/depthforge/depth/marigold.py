"""Marigold (diffusers' ``MarigoldDepthPipeline``) as a teacher and as the conditioning depth.

A folder or hub id (e.g. ``prs-eth/marigold-depth-v1-1``) is a Marigold model when its
``model_index.json`` names ``MarigoldDepthPipeline``; ``DepthModel.from_pretrained`` then loads it
as a :class:`MarigoldDepthModel`, and ``label``, ``generate --condition-model`` and ``evaluate`` use
it through ``predict`` like any other depth model. The command line uses Marigold's own defaults;
from Python, set the attributes after loading::

    model = DepthModel.from_pretrained("prs-eth/marigold-depth-v1-1")
    model.ensemble_size, model.steps = 10, 4

Space: Marigold's depth is affine-invariant (0 near, 1 far, between the scene's nearest and
farthest depth), and depthforge has no relative non-inverse depth space, so it is converted to
``relative_inverse_depth`` as ``1 / (1 + d (depth_range - 1))``: exact, up to scale, when the
scene's far/near depth ratio is ``depth_range``, and order-preserving whatever the ratio. Marigold
models that predict disparity need no conversion.
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from huggingface_hub import try_to_load_from_cache
from torch import nn

from depthforge import registry
from depthforge.depth.model import DepthModel, ModelLoadError
from depthforge.depth.preprocess import Preprocessing
from depthforge.depth.spaces import DepthSpace
from depthforge.hub import load_failure

if TYPE_CHECKING:
    from diffusers import MarigoldDepthPipeline

PIPELINE_CLASS = "MarigoldDepthPipeline"


def is_marigold(name: str, revision: str | None = None) -> bool:
    """Whether ``name`` holds a Marigold depth pipeline: a folder by its ``model_index.json``, a hub
    id by its cached ``model_index.json`` or, when not cached, by "marigold" in its name (asking the
    hub about every model would cost each load a request, and offline a long retry)."""
    source, _ = registry.resolve(name)
    if Path(source).is_dir():
        path: str | Path | None = Path(source) / "model_index.json"
    else:
        path = try_to_load_from_cache(source, "model_index.json", revision=revision)
        if not isinstance(path, str):
            return "marigold" in source.lower()
    try:
        return json.loads(Path(path).read_text()).get("_class_name") == PIPELINE_CLASS
    except (OSError, ValueError):
        return False


class MarigoldDepthModel(DepthModel):
    """A Marigold depth pipeline: inference only (``predict``, or ``forward`` without gradients).

    ``ensemble_size`` predictions per image are aligned and merged (Marigold's default: 1);
    ``steps`` denoising steps are run (``None``: the model's own default); noise is drawn from a
    generator seeded with ``seed`` at every call, so equal inputs give equal depth; ``depth_range``
    is the far/near depth ratio assumed when depth becomes inverse depth (see the module docstring).
    """

    def __init__(
        self,
        pipeline: "MarigoldDepthPipeline",
        name: str,
        ensemble_size: int = 1,
        steps: int | None = None,
        seed: int = 0,
        depth_range: float = 10.0,
    ) -> None:
        prediction_type = pipeline.config.prediction_type
        if prediction_type not in {"depth", "disparity"}:
            raise ModelLoadError(f"{name}: Marigold prediction type '{prediction_type}' is not depth")
        net = nn.ModuleDict({k: m for k, m in pipeline.components.items() if isinstance(m, nn.Module)})
        # What the pipeline does to its input by itself; it is not applied here.
        size, scale = pipeline.default_processing_resolution or 0, pipeline.vae_scale_factor
        preprocessing = Preprocessing(size, size, keep_aspect_ratio=True, multiple=scale, mode="bilinear")
        super().__init__(net, preprocessing, DepthSpace.RELATIVE_INVERSE_DEPTH, name)
        pipeline.set_progress_bar_config(disable=True)
        self.pipeline = pipeline
        self.ensemble_size, self.steps, self.seed, self.depth_range = ensemble_size, steps, seed, depth_range

    @classmethod
    def load(cls, name: str, revision: str | None = None) -> "MarigoldDepthModel":
        from diffusers import MarigoldDepthPipeline

        source, _ = registry.resolve(name)
        try:
            pipeline = MarigoldDepthPipeline.from_pretrained(source, revision=revision)
        except (OSError, ValueError) as error:
            raise ModelLoadError(load_failure("depth model", source, error)) from error
        return cls(pipeline, name)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Relative inverse depth ``[B, H, W]`` (float32) for images ``[B, 3, H, W]`` in [0, 1].

        Not differentiable: Marigold can be a teacher or the conditioning depth, not a student.
        """
        if torch.is_grad_enabled():
            raise RuntimeError(
                f"{self.name}: Marigold runs without gradients only; it cannot be fine-tuned as a student"
            )
        members = self.ensemble_size
        output = self.pipeline(
            pixels.clamp(0, 1).repeat_interleave(members, dim=0),
            num_inference_steps=self.steps,
            batch_size=len(pixels),
            generator=torch.Generator().manual_seed(self.seed),
            output_type="pt",
        )
        prediction = output.prediction[:, 0].float()
        if members > 1:
            prediction = torch.cat([self.merge(group) for group in prediction.split(members)])
        return self.to_inverse(prediction)

    def merge(self, members: torch.Tensor) -> torch.Tensor:
        """One image's ensemble ``[E, H, W]`` -> ``[1, H, W]``, aligned and merged as Marigold does.

        Done here, in float32 at the image's resolution, because the pipeline's alignment fails in bfloat16.
        """
        pipeline = self.pipeline
        merged, _ = pipeline.ensemble_depth(
            members[:, None], pipeline.scale_invariant, pipeline.shift_invariant
        )
        return merged[:, 0]

    def to_inverse(self, prediction: torch.Tensor) -> torch.Tensor:
        """Marigold's prediction in [0, 1] -> relative inverse depth (see the module docstring)."""
        if self.pipeline.config.prediction_type == "disparity":
            return prediction
        return 1.0 / (1.0 + prediction * (self.depth_range - 1.0))

    def save_pretrained(self, folder: str | Path) -> None:
        """The pipeline in diffusers' format, which ``from_pretrained(folder)`` recognises."""
        self.pipeline.save_pretrained(folder)
