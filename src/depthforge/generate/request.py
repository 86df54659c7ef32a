"""What a generator is asked for, and what every generator (physics or diffusion) offers."""

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from depthforge.depth.spaces import DepthSpace


@dataclass(frozen=True)
class Request:
    """One image to make: the source, the depth that conditions it, the prompt and the seed."""

    image: np.ndarray
    depth: np.ndarray
    space: DepthSpace
    condition: str
    prompt: str
    negative_prompt: str
    seed: int


class Generator(Protocol):
    def describe(self) -> dict[str, Any]:
        """The backend, its models and settings, recorded with every sample."""

    def __call__(self, requests: list[Request]) -> list[tuple[np.ndarray, dict[str, Any]]]:
        """One uint8 image at the source's size per request, with per-sample parameters."""
