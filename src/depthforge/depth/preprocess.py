"""A differentiable, torch-native copy of a depth model's image processor.

``Preprocessing.from_processor`` reads the settings of a ``transformers`` DPT-style (DPT, MiDaS,
Depth Anything) or ZoeDepth image processor and applies the same steps to a float tensor in
[0, 1], on any device, with gradients. ``restore`` undoes the padding and resizes a prediction back
to the source resolution (ZoeDepth's post-processing included, without torchvision).

Equality with the processor: the PIL processors resize 8-bit images with PIL's antialiased bicubic
filter; we use torch's antialiased bicubic (the same a = -0.5 kernel) on floats. PIL also rounds
and clips between its horizontal and vertical passes, so next to saturated pixels (pure black or
white against an edge) single pixels can differ by a few levels. The two agree to
within about one 8-bit level (``tests/depth/test_preprocess.py`` states the tolerance).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# PIL resampling codes -> torch interpolation modes. LANCZOS, BOX and HAMMING have no torch
# counterpart and fall back to antialiased bicubic, the nearest in effect.
_PIL_TO_TORCH = {0: "nearest", 2: "bilinear", 3: "bicubic"}


@dataclass(frozen=True)
class Padding:
    """Pixels added to each side of the network input: top, bottom, left, right."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0


@dataclass(frozen=True)
class Preprocessing:
    """The resize, normalisation and padding that a depth network expects."""

    height: int
    width: int
    keep_aspect_ratio: bool = False
    multiple: int = 1
    mode: str = "bicubic"
    antialias: bool = True
    align_corners: bool | None = None
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    reflect_pad: bool = False
    """ZoeDepth: reflect-pad each side by ``int(3 * sqrt(side / 2))`` before resizing."""
    pad_divisor: int | None = None
    """DPT with ``do_pad``: centre zero-pad the normalised input to a multiple of this."""

    @classmethod
    def from_processor(cls, processor: object) -> "Preprocessing":
        """Settings of a ``transformers`` DPT- or ZoeDepth-style image processor."""
        name = type(processor).__name__
        if "DPT" not in name and "ZoeDepth" not in name:
            raise ValueError(f"unsupported image processor {name}: expected a DPT or ZoeDepth processor")
        if getattr(processor, "do_rescale", True) and not math.isclose(processor.rescale_factor, 1 / 255):
            raise ValueError(f"{name}: rescale_factor {processor.rescale_factor} is not 1/255")
        multiple = processor.ensure_multiple_of if processor.do_resize else 1
        if multiple < 1 or multiple != int(multiple):
            raise ValueError(f"{name}: ensure_multiple_of must be a positive integer, got {multiple}")
        is_zoe = "ZoeDepth" in name
        return cls(
            height=processor.size["height"],
            width=processor.size["width"],
            keep_aspect_ratio=bool(processor.keep_aspect_ratio) and processor.do_resize,
            multiple=int(multiple),
            mode=_PIL_TO_TORCH.get(int(processor.resample), "bicubic"),
            antialias=not is_zoe,
            align_corners=True if is_zoe else None,
            mean=tuple(processor.image_mean) if processor.do_normalize else (0.0, 0.0, 0.0),
            std=tuple(processor.image_std) if processor.do_normalize else (1.0, 1.0, 1.0),
            reflect_pad=is_zoe and bool(processor.do_pad),
            pad_divisor=(getattr(processor, "size_divisor", None) or None)
            if not is_zoe and processor.do_pad
            else None,
        )

    def _reflect_padding(self, height: int, width: int) -> Padding:
        if not self.reflect_pad:
            return Padding()
        pad_h, pad_w = int(math.sqrt(height / 2) * 3), int(math.sqrt(width / 2) * 3)
        return Padding(pad_h, pad_h, pad_w, pad_w)

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """Size of the resized image for a source of ``height x width`` (after any reflect padding)."""
        pad = self._reflect_padding(height, width)
        height, width = height + pad.top + pad.bottom, width + pad.left + pad.right
        scale_h, scale_w = self.height / height, self.width / width
        if self.keep_aspect_ratio:
            # The scale closer to 1 wins: the image changes as little as possible.
            scale_h = scale_w = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
        return self._to_multiple(scale_h * height), self._to_multiple(scale_w * width)

    def _to_multiple(self, value: float) -> int:
        return max(self.multiple, round(value / self.multiple) * self.multiple)

    def __call__(self, pixels: torch.Tensor) -> tuple[torch.Tensor, Padding]:
        """Network input from ``pixels`` ``[B, 3, H, W]`` in [0, 1], and the padding it carries."""
        height, width = pixels.shape[-2:]
        x = pixels.float()
        reflect = self._reflect_padding(height, width)
        if self.reflect_pad:
            x = F.pad(x, (reflect.left, reflect.right, reflect.top, reflect.bottom), mode="reflect")
        size = self.resized_size(height, width)
        if size != tuple(x.shape[-2:]):
            x = self._resize(x, size)
        mean = x.new_tensor(self.mean).view(1, -1, 1, 1)
        std = x.new_tensor(self.std).view(1, -1, 1, 1)
        x = (x - mean) / std
        if self.pad_divisor:
            x, padding = self._pad_to_divisor(x)
            return x, padding
        return x, reflect

    def _resize(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self.mode == "nearest":
            return F.interpolate(x, size=size, mode="nearest")
        x = F.interpolate(
            x, size=size, mode=self.mode, align_corners=self.align_corners, antialias=self.antialias
        )
        # PIL resizes 8-bit images, which clips the bicubic overshoot.
        return x.clamp(0.0, 1.0) if self.antialias else x

    def _pad_to_divisor(self, x: torch.Tensor) -> tuple[torch.Tensor, Padding]:
        height, width = x.shape[-2:]
        extra_h = math.ceil(height / self.pad_divisor) * self.pad_divisor - height
        extra_w = math.ceil(width / self.pad_divisor) * self.pad_divisor - width
        pad = Padding(extra_h // 2, extra_h - extra_h // 2, extra_w // 2, extra_w - extra_w // 2)
        return F.pad(x, (pad.left, pad.right, pad.top, pad.bottom)), pad

    def restore(
        self, depth: torch.Tensor, input_size: tuple[int, int], padding: Padding, size: tuple[int, int]
    ) -> torch.Tensor:
        """Prediction ``[B, h, w]`` for a network input of ``input_size`` back to the source ``size``.

        The padding is cut out (scaled to the output's resolution) and the rest resized with bicubic
        interpolation, as the processors' ``post_process_depth_estimation`` does.
        """
        x = depth.float().unsqueeze(1)
        if padding != Padding():
            if self.reflect_pad:
                # ZoeDepth resizes to the padded source size first, then cuts the padding.
                padded = (size[0] + padding.top + padding.bottom, size[1] + padding.left + padding.right)
                x = F.interpolate(x, size=padded, mode="bicubic", align_corners=False)
                x = x[..., padding.top : padded[0] - padding.bottom, padding.left : padded[1] - padding.right]
                return x[:, 0]
            fy, fx = x.shape[-2] / input_size[0], x.shape[-1] / input_size[1]
            x = x[
                ...,
                round(padding.top * fy) : x.shape[-2] - round(padding.bottom * fy),
                round(padding.left * fx) : x.shape[-1] - round(padding.right * fx),
            ]
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
        return x[:, 0]
