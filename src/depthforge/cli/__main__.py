"""``python -m depthforge.cli`` (and ``accelerate launch -m depthforge.cli``)."""

from depthforge.cli import app

app()
