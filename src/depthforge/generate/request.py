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
    objects: np.ndarray | None = None
    """The easy image's object instances (0 = background), where it came with them."""
    control: Any = None
    """The control image, made ahead by ``Generator.prepare`` (diffusion backends)."""


@dataclass(frozen=True)
class Generated:
    """One generated sample: the uint8 image at the source's size and its parameters; for a
    material condition the ``region`` made transparent or mirror; no image, and the reason, when
    the sample could not be made (``skipped``)."""

    image: np.ndarray | None
    params: dict[str, Any]
    region: np.ndarray | None = None
    skipped: str | None = None


class Generator(Protocol):
    def describe(self) -> dict[str, Any]:
        """The backend, its models and settings, recorded with every sample."""

    def __call__(self, requests: list[Request]) -> list[Generated]:
        """One result per request."""

    def batch_key(self, height: int, width: int) -> Any:
        """Requests of one key run in one call: work is ordered by it before it is batched."""

    def prepare(self, request: Request) -> Request:
        """The request with the work that needs no network done, so that it can run ahead on the
        reader thread while the previous batch computes (the diffusion backends' control image)."""
