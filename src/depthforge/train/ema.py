"""An exponential moving average (EMA) of a network's weights, the usual companion of distillation.

After every optimiser step ``average = decay * average + (1 - decay) * weights``. It starts from the
starting weights (the teacher's, when self-distilling) with no warm-up, so a slow decay also keeps
the student near where it began: with decay 0.999 over 400 steps two thirds of the average is still
the start.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class WeightAverage:
    """The EMA of a model's floating-point parameters and buffers."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.average = {
            name: value.detach().clone()
            for name, value in model.state_dict().items()
            if value.is_floating_point()
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, value in model.state_dict().items():
            if name in self.average:
                self.average[name].lerp_(value.detach(), 1 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.average

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            self.average[name].copy_(value)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """``model`` carries the average inside the block and its own weights again after it."""
        own = {name: value.detach().clone() for name, value in model.state_dict().items()}
        model.load_state_dict(self.average, strict=False)
        try:
            yield
        finally:
            model.load_state_dict(own)
