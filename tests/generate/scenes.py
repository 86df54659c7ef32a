"""A small lifted scene for the transparent and mirror tests."""

import numpy as np

from depthforge.generate.scene import Scene

SKY, WALL, BOX = (0.2, 0.4, 0.9), (0.8, 0.7, 0.1), (0.9, 0.1, 0.1)


def box_on_wall(height=48, width=64):
    """A yellow wall at 20 m under a blue sky band, with a red box at 5 m in the middle."""
    linear = np.zeros((height, width, 3), np.float32)
    linear[:] = WALL
    linear[: height // 6] = SKY
    distance = np.full((height, width), 20.0, np.float32)
    box = np.zeros((height, width), bool)
    box[18:34, 24:40] = True
    linear[box] = BOX
    distance[box] = 5.0
    return Scene(linear, distance), box
