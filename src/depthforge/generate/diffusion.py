"""Depth-conditioned diffusion backends: T2I-Adapter and ControlNet on Stable Diffusion 1.5 / SDXL.

One pipeline is loaded per process. A batch of requests runs as one pipeline call per generation
size, with one CPU generator per sample; a short batch is padded to the full batch size with
copies of its last request, so that every call has the same shape and a sample's result does not
depend on the samples it is batched with.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import torch
from PIL import Image

from depthforge.generate.control import control_image, generation_size, to_source_size
from depthforge.generate.request import Generated, Request
from depthforge.generate.seeds import torch_generator
from depthforge.hub import load_failure


class Backend(StrEnum):
    PHYSICS = "physics"
    T2I_ADAPTER = "t2i-adapter"
    CONTROLNET = "controlnet"


class Family(StrEnum):
    SD15 = "sd15"
    SDXL = "sdxl"


BASE_MODELS = {
    Family.SD15: "stable-diffusion-v1-5/stable-diffusion-v1-5",
    Family.SDXL: "stabilityai/stable-diffusion-xl-base-1.0",
}
CONTROL_MODELS = {
    (Backend.T2I_ADAPTER, Family.SD15): "TencentARC/t2iadapter_depth_sd15v2",
    (Backend.T2I_ADAPTER, Family.SDXL): "TencentARC/t2i-adapter-depth-midas-sdxl-1.0",
    (Backend.CONTROLNET, Family.SD15): "lllyasviel/control_v11f1p_sd15_depth",
    (Backend.CONTROLNET, Family.SDXL): "diffusers/controlnet-depth-sdxl-1.0",
}
RESOLUTIONS = {Family.SD15: 512, Family.SDXL: 1024}
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "unipc": "UniPCMultistepScheduler",
    "dpm": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler",
}


class DiffusionLoadError(RuntimeError):
    """A diffusion model could not be loaded."""


@dataclass(frozen=True)
class DiffusionSettings:
    """Sampling settings, recorded with every sample."""

    steps: int = 30
    guidance_scale: float = 7.5
    control_scale: float = 1.0
    resolution: int | None = None
    """Generated images keep the area of a square of this side (aspect kept); the family's native
    size (512 for SD 1.5, 1024 for SDXL) when unset."""
    strength: float | None = None
    """ControlNet only: start from the noised source image (img2img) with this strength."""
    scheduler: str | None = None
    vae: str | None = None
    """Another VAE (hub id or folder) in place of the base model's: for fp16 SDXL,
    ``madebyollin/sdxl-vae-fp16-fix``, which decodes in fp16 without overflowing."""
    channels_last: bool = False
    """UNet, control network and VAE in channels-last memory layout: faster convolutions on GPUs
    with tensor cores (and often on CPUs); the same numbers up to rounding."""
    compile: bool = False
    """``torch.compile`` the UNet and the control network. Shapes are static (every call is padded
    to the batch size, one generation size per call), so each size compiles once; the first call
    of a size pays the compilation."""
    cache_interval: int = 1
    """Feature caching (DeepCache): every ``cache_interval``-th step runs the whole UNet, the steps
    between reuse its deep features and recompute only its outermost blocks (branch 0). 1 = off.
    Saves most of the UNet's work on N - 1 of every N steps; the control network still runs every step, so the
    adapter (a small network) gains most, ControlNet (half a UNet) less. An approximation: images
    drift from those made without it."""
    safety_checker: bool = False
    """Load SD 1.5's safety checker; an image it flags is made again with the next seed, up to
    ``SAFETY_RETRIES`` times, then dropped (never kept black)."""


SAFETY_RETRIES = 2


def detect_family(base_model: str) -> Family:
    """SD 1.5 or SDXL, from the base model's ``model_index.json``."""
    from diffusers import DiffusionPipeline

    config = _loaded("diffusion model", base_model, DiffusionPipeline.load_config)
    return Family.SDXL if "XL" in config.get("_class_name", "") else Family.SD15


def _loaded(kind: str, name: str, load: Callable[..., Any], **kwargs: Any) -> Any:
    """``load(name, **kwargs)``; a failure becomes a ``DiffusionLoadError`` that names the model and,
    when the hub could not be reached, what to do."""
    try:
        return load(name, **kwargs)
    except (OSError, ValueError) as error:
        raise DiffusionLoadError(load_failure(kind, name, error)) from error


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def check_dtypes(pipe: Any, dtype: torch.dtype) -> None:
    """Every network of ``pipe`` holds ``dtype``; raises ``DiffusionLoadError`` naming those that do not."""
    wrong = [
        f"{name} ({parameter.dtype})"
        for name, module in pipe.components.items()
        if isinstance(module, torch.nn.Module)
        and (parameter := next(module.parameters(), None)) is not None
        and parameter.dtype != dtype
    ]
    if wrong:
        raise DiffusionLoadError(f"pipeline components not in {dtype}: {', '.join(wrong)}")


def _pipeline_class(backend: Backend, family: Family, img2img: bool) -> type:
    import diffusers

    xl = "XL" if family is Family.SDXL else ""
    if backend is Backend.T2I_ADAPTER:
        return getattr(diffusers, f"StableDiffusion{xl}AdapterPipeline")
    return getattr(diffusers, f"StableDiffusion{xl}ControlNet{'Img2Img' if img2img else ''}Pipeline")


class DiffusionGenerator:
    """Turns requests into images with a depth-conditioned Stable Diffusion pipeline."""

    def __init__(
        self,
        backend: Backend,
        base_model: str | None,
        control_model: str | None,
        settings: DiffusionSettings,
        device: torch.device,
        dtype: torch.dtype,
        batch_size: int,
        family: Family | None = None,
    ) -> None:
        import diffusers

        if settings.strength is not None and backend is not Backend.CONTROLNET:
            raise ValueError("--strength (image-to-image) needs the controlnet backend")
        if settings.cache_interval > 1 and settings.compile:
            raise ValueError(
                "--cache-interval and --compile do not combine: caching changes the graph per step"
            )
        family = family or (detect_family(base_model) if base_model else Family.SD15)
        self.base_model = base_model or BASE_MODELS[family]
        self.control_model = control_model or CONTROL_MODELS[(backend, family)]
        self.backend, self.family, self.settings, self.batch_size = backend, family, settings, batch_size
        control_class = diffusers.T2IAdapter if backend is Backend.T2I_ADAPTER else diffusers.ControlNetModel
        key = "adapter" if backend is Backend.T2I_ADAPTER else "controlnet"
        control = _loaded(backend.value, self.control_model, control_class.from_pretrained, dtype=dtype)
        components = {key: control}
        if settings.vae:
            components["vae"] = _loaded(
                "VAE", settings.vae, diffusers.AutoencoderKL.from_pretrained, dtype=dtype
            )
        pipeline_class = _pipeline_class(backend, family, settings.strength is not None)
        self.pipe = _loaded(
            "base model",
            self.base_model,
            pipeline_class.from_pretrained,
            dtype=dtype,
            **components,
            **self._safety_kwargs(),
        )
        check_dtypes(self.pipe, dtype)
        if settings.scheduler:
            scheduler_class = getattr(diffusers, SCHEDULERS[settings.scheduler])
            self.pipe.scheduler = scheduler_class.from_config(self.pipe.scheduler.config)
        self.pipe.to(device)
        self._cache: Any = None
        self._speed_up(key)
        self.pipe.set_progress_bar_config(disable=True)
        self._text2image = None
        self.control_channels = control.config.in_channels if backend is Backend.T2I_ADAPTER else 3
        unet_levels = len(self.pipe.unet.config.block_out_channels)
        # Pipelines need multiples of 8 pixels; adapters need the UNet's whole downsampling (64 for SD).
        self.multiple = max(8, self.pipe.vae_scale_factor * 2 ** (unet_levels - 1))

    def _speed_up(self, control: str) -> None:
        """The optional fast path: channels-last layout, compiled networks, feature caching."""
        networks = [self.pipe.unet, getattr(self.pipe, control)]
        if self.settings.channels_last:
            for network in [*networks, self.pipe.vae]:
                network.to(memory_format=torch.channels_last)
        if self.settings.compile:
            for network in networks:
                network.compile()
        if self.settings.cache_interval > 1:
            from DeepCache import DeepCacheSDHelper

            self._cache = DeepCacheSDHelper(pipe=self.pipe)
            self._cache.set_params(cache_interval=self.settings.cache_interval, cache_branch_id=0)
            self._cache.enable()

    def _safety_kwargs(self) -> dict[str, Any]:
        """SD 1.5 pipelines load without their safety checker unless it is asked for (SDXL has none)."""
        if self.family is Family.SDXL or self.settings.safety_checker:
            return {}
        return {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}

    def _unflagged(
        self, pipe: Any, kwargs: dict[str, Any], seeds: list[int]
    ) -> list[tuple[np.ndarray | None, int]]:
        """Run ``pipe`` on a full batch (``kwargs``' lists and ``seeds`` hold one entry per sample);
        return each sample's image and the seed that made it. A sample the safety checker flags is
        made again, in a padded batch, with the next seed; after ``SAFETY_RETRIES`` its image is None."""
        results: list[tuple[np.ndarray | None, int]] = [(None, seed) for seed in seeds]
        pending = list(range(len(seeds)))
        for attempt in range(SAFETY_RETRIES + 1):
            picked = pending + [pending[-1]] * (self.batch_size - len(pending))
            call = {
                key: [value[i] for i in picked] if isinstance(value, list) else value
                for key, value in kwargs.items()
            }
            if self._cache is not None:  # counts steps from this call's first (image-to-image starts late)
                self._cache.start_timestep = None
            output = pipe(
                **call, generator=[torch_generator(seeds[i] + attempt) for i in picked], output_type="np"
            )
            flags = getattr(output, "nsfw_content_detected", None) or [False] * len(picked)
            for index, image, flagged in zip(pending, output.images, flags, strict=False):
                if not flagged:
                    results[index] = (_to_uint8(image), seeds[index] + attempt)
            pending = [i for i, flagged in zip(pending, flags, strict=False) if flagged]
            if not pending:
                break
        return results

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend.value,
            "family": self.family.value,
            "base_model": self.base_model,
            "control_model": self.control_model,
            "scheduler": type(self.pipe.scheduler).__name__,
            **asdict(self.settings),
            "resolution": self.resolution,
        }

    def batch_key(self, height: int, width: int) -> tuple[int, int]:
        """The generation size: one pipeline call per size."""
        return generation_size(height, width, self.resolution, self.multiple)

    @property
    def resolution(self) -> int:
        return self.settings.resolution or RESOLUTIONS[self.family]

    def prepare(self, request: Request) -> Request:
        """The request with its control image, at its generation size."""
        if request.control is not None:
            return request
        size = self.batch_key(*request.image.shape[:2])
        return replace(
            request, control=control_image(request.depth, request.space, size, self.control_channels)
        )

    def _call(self, requests: list[Request], size: tuple[int, int]) -> list[tuple[np.ndarray | None, int]]:
        controls = [self.prepare(r).control for r in requests]
        s = self.settings
        kwargs: dict[str, Any] = {
            "prompt": [r.prompt for r in requests],
            "negative_prompt": [r.negative_prompt for r in requests],
            "height": size[0],
            "width": size[1],
            "num_inference_steps": s.steps,
            "guidance_scale": s.guidance_scale,
        }
        if self.backend is Backend.T2I_ADAPTER:
            kwargs |= {"image": controls, "adapter_conditioning_scale": s.control_scale}
        elif s.strength is None:
            kwargs |= {"image": controls, "controlnet_conditioning_scale": s.control_scale}
        else:
            sources = [
                Image.fromarray(r.image).resize((size[1], size[0]), Image.Resampling.BICUBIC)
                for r in requests
            ]
            kwargs |= {
                "image": sources,
                "control_image": controls,
                "strength": s.strength,
                "controlnet_conditioning_scale": s.control_scale,
            }
        return self._unflagged(self.pipe, kwargs, [r.seed for r in requests])

    def text_to_image(
        self, prompts: list[str], negative_prompt: str, seeds: list[int], size: tuple[int, int]
    ) -> list[np.ndarray | None]:
        """Unconditioned images from the same base model (padded to the batch size like ``__call__``);
        None for those the safety checker flagged each time."""
        import diffusers

        if self._text2image is None:
            plain = "StableDiffusionXLPipeline" if self.family is Family.SDXL else "StableDiffusionPipeline"
            # from_pipe defaults to float32 and would move the shared UNet, VAE and text encoder.
            self._text2image = getattr(diffusers, plain).from_pipe(self.pipe, dtype=self.pipe.dtype)
            check_dtypes(self._text2image, self.pipe.dtype)
            self._text2image.set_progress_bar_config(disable=True)
        kwargs = {
            "prompt": prompts,
            "negative_prompt": [negative_prompt] * len(prompts),
            "height": size[0],
            "width": size[1],
            "num_inference_steps": self.settings.steps,
            "guidance_scale": self.settings.guidance_scale,
        }
        return [image for image, _ in self._unflagged(self._text2image, kwargs, seeds)]

    def __call__(self, requests: list[Request]) -> list[Generated]:
        """Images at each source's own size, and per-sample parameters (the generation size)."""
        by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            height, width = request.image.shape[:2]
            by_size[self.batch_key(height, width)].append(index)
        results: list[Generated] = [None] * len(requests)  # type: ignore[list-item]
        for size, indices in by_size.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                made = self._call([requests[i] for i in chunk], size)
                for index, (image, seed) in zip(chunk, made, strict=True):
                    results[index] = _generated(image, requests[index], size, seed)
        return results


def _generated(image: np.ndarray | None, request: Request, size: tuple[int, int], seed: int) -> Generated:
    """A sample at its source's size; its parameters say how often the safety checker flagged it."""
    params: dict[str, Any] = {"generation_size": list(size)}
    if seed != request.seed:
        params["safety_retries"] = seed - request.seed
    if image is None:
        return Generated(None, params, skipped=f"flagged by the safety checker {SAFETY_RETRIES + 1} times")
    return Generated(to_source_size(image, request.image.shape[:2]), params)
