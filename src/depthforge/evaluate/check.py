"""Check a downloaded benchmark before scoring on it: every sample read as `evaluate` would read it
(image, ground truth, valid mask, categories), counted per condition, and every problem named.

A missing or broken file found here costs seconds; found by `evaluate`, it costs a model's
inference first.
"""

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from depthforge.evaluate.readers import BenchmarkReader, ReaderError, SampleRef
from depthforge.progress import Progress

EXPECTED = {
    "md4all-nuscenes": {"all": 6019},
    "md4all-robotcar": {"all": 1411, "night-clear": 709},
}
"""Samples in the published splits (md4all's nuScenes validation and RobotCar test sets)."""


@dataclass
class BenchmarkCheck:
    """What a benchmark folder holds: readable samples per condition, and the problems."""

    readable: Counter[str] = field(default_factory=Counter)
    without_ground_truth: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def against(self, expected: dict[str, int]) -> list[str]:
        """Lines comparing the readable counts with a published split's (``all``: every condition)."""
        found = {"all": sum(self.readable.values()), **self.readable}
        return [
            f"{group}: {found.get(group, 0)} readable, the published split has {count}"
            + ("" if found.get(group, 0) == count else " (differs)")
            for group, count in expected.items()
        ]


def _valid_pixels(reader: BenchmarkReader, ref: SampleRef) -> int | str:
    """How many pixels of the sample have ground truth, or what is wrong with it."""
    try:
        return int(np.count_nonzero(reader.load(ref).valid))
    except (ReaderError, OSError, ValueError) as error:
        return str(error)


def check_benchmark(
    reader: BenchmarkReader, workers: int = 4, report: Callable[[str], None] = print
) -> BenchmarkCheck:
    """Read every sample of ``reader`` (on ``workers`` threads); report each problem as it is found."""
    try:
        refs = reader.refs()
    except (ReaderError, OSError) as error:
        report(str(error))
        return BenchmarkCheck(problems=[str(error)])
    result = BenchmarkCheck()
    with ThreadPoolExecutor(workers) as pool, Progress(len(refs), "check", "sample") as progress:
        for ref, outcome in zip(refs, pool.map(lambda ref: _valid_pixels(reader, ref), refs), strict=True):
            progress.update(1)
            if isinstance(outcome, str):
                result.problems.append(outcome)
                report(outcome)
            elif outcome:
                result.readable[ref.condition] += 1
            else:
                result.without_ground_truth[ref.condition] += 1
    return result
