"""Structure consistency, beyond the paper: does a generated image still match its depth label?

The teacher re-predicts depth on the generated image; the SSI loss between that prediction and the
label (both in inverse-depth space) is the sample's inconsistency. 0 means the same structure up to
scale and shift; unrelated maps score around 0.8 (the SSI of two independent normalised maps).
"""

import numpy as np
import torch

from depthforge.depth.model import DepthModel
from depthforge.depth.spaces import DepthSpace, to_inverse_depth
from depthforge.train.losses import ssi_loss


def inconsistency(
    prediction: np.ndarray, prediction_space: DepthSpace, label: np.ndarray, label_space: DepthSpace
) -> float:
    """SSI loss between two depth maps of the same size, compared in inverse-depth space."""
    pred = to_inverse_depth(torch.from_numpy(prediction), prediction_space)[None]
    target = to_inverse_depth(torch.from_numpy(label), label_space)[None]
    return float(ssi_loss(pred, target))


def score_images(
    teacher: DepthModel,
    images: list[np.ndarray],
    labels: list[np.ndarray],
    label_space: DepthSpace,
    batch_size: int,
) -> list[float]:
    """The inconsistency of each generated image against its label."""
    predictions = teacher.predict(images, batch_size=batch_size)
    return [
        inconsistency(p, teacher.space, label, label_space)
        for p, label in zip(predictions, labels, strict=True)
    ]


def score_by_space(
    teacher: DepthModel,
    images: list[np.ndarray],
    labels: list[np.ndarray],
    spaces: list[str],
    batch_size: int,
) -> list[float]:
    """``score_images`` for images whose labels may be in different spaces: one call per space (the
    labels of one dataset share one; grouping keeps it right when they do not)."""
    scores = [0.0] * len(images)
    for space in dict.fromkeys(spaces):
        chosen = [i for i, s in enumerate(spaces) if s == space]
        values = score_images(
            teacher, [images[i] for i in chosen], [labels[i] for i in chosen], DepthSpace(space), batch_size
        )
        for i, value in zip(chosen, values, strict=True):
            scores[i] = value
    return scores
