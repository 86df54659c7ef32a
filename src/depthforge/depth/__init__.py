"""Depth maps and depth networks: spaces, alignment, preprocessing and the model wrapper."""
