"""How closely the torch-native preprocessing matches each model's own (PIL) image processor.

Prints, per processor configuration, the largest and mean absolute difference in 8-bit levels over
random sizes, on smooth images and on noisy images with saturated pixels.

    .venv/bin/python benchmarks/preprocess_agreement.py [SIZES, default 8]
"""

import sys

import numpy as np
import torch
from PIL import Image
from transformers import DPTImageProcessorPil, ZoeDepthImageProcessorPil

from depthforge.depth.preprocess import Preprocessing

PROCESSORS = {
    "dpt-large (384 square)": DPTImageProcessorPil(size={"height": 384, "width": 384}),
    "depth-anything (518, x14)": DPTImageProcessorPil(
        size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14
    ),
    "zoedepth (384x512, x32)": ZoeDepthImageProcessorPil(ensure_multiple_of=32),
}


def image(height: int, width: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = [0.5 + 0.45 * np.sin(7 * x + 4 * y + p) * np.cos(5 * y - p) for p in (0.0, 1.0, 2.0)]
    pixels = np.stack(base, axis=-1) + noise * rng.standard_normal((height, width, 3))
    return (np.clip(pixels, 0, 1) * 255).round().astype(np.uint8)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    rng = np.random.default_rng(0)
    sizes = [tuple(rng.integers(120, 900, 2)) for _ in range(count)]
    for name, processor in PROCESSORS.items():
        rule = Preprocessing.from_processor(processor)
        level = 1 / 255 / min(processor.image_std)
        for label, noise in (("smooth", 0.02), ("noisy+saturated", 0.15)):
            worst, means = 0.0, []
            for height, width in sizes:
                pixels = image(height, width, noise, rng)
                reference = processor(images=Image.fromarray(pixels), return_tensors="pt")["pixel_values"]
                ours, _ = rule(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255)
                difference = (ours - reference).abs() / level
                worst, means = max(worst, difference.max().item()), [*means, difference.mean().item()]
            print(f"{name:28s} {label:16s} max {worst:5.2f} levels, mean {np.mean(means):.3f} levels")


if __name__ == "__main__":
    main()
