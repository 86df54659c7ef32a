"""depthforge: diffusion-distilled robustness for monocular depth networks."""

import logging

__version__ = "0.1.0"

# A library logs to no one unless its user (the command line: a log file per stage) says where.
logging.getLogger("depthforge").addHandler(logging.NullHandler())
