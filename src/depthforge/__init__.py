"""depthforge: diffusion-distilled robustness for monocular depth networks."""

__version__ = "0.1.0"
