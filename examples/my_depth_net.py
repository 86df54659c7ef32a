"""A depth network of your own in depthforge: a factory that returns a ``Network``.

    depthforge predict photos/ --model examples/my_depth_net.py:tiny_depth --out depth/
    depthforge finetune --model examples/my_depth_net.py:tiny_depth --preset paper-depth-anything ...

The network takes normalised ``pixel_values [B, 3, h, w]`` and returns depth ``[B, h, w]`` (or
``[B, 1, h, w]``) in the space named; ``Preprocessing`` says how images become its input. Load
released weights in the factory (``depthforge.depth.network.load_weights(module, path)``).
"""

import torch
from torch import nn

from depthforge.depth.network import Network
from depthforge.depth.preprocess import Preprocessing
from depthforge.depth.spaces import DepthSpace


class TinyDepth(nn.Module):
    """Three convolutions, positive output: relative inverse depth (near = large)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 1, 3, padding=1), nn.Softplus(),
        )  # fmt: skip

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.layers(pixel_values)


def tiny_depth() -> Network:
    torch.manual_seed(0)
    preprocessing = Preprocessing(height=56, width=56, keep_aspect_ratio=True, multiple=14)
    return Network(TinyDepth(), preprocessing, DepthSpace.RELATIVE_INVERSE_DEPTH)
