"""Per-sample seeds: a pure function of the run's seed and the sample's id.

So a sample is reproducible on its own, whatever the batch it lands in, the process that makes it
or the order of the work.
"""

import hashlib

import numpy as np
import torch


def sample_seed(base_seed: int, sample_id: str) -> int:
    """A 63-bit seed from ``base_seed`` and ``sample_id``."""
    digest = hashlib.blake2b(f"{base_seed}:{sample_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def numpy_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def torch_generator(seed: int) -> torch.Generator:
    """A CPU generator: initial noise drawn on the CPU is the same whatever the device that runs."""
    return torch.Generator("cpu").manual_seed(seed)
