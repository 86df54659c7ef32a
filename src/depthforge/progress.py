"""Progress of a long stage: a tqdm bar on a terminal, a plain line every few per cent elsewhere.

Off a terminal (a log file, CI, ``nohup``) tqdm's bar becomes one line per redraw, joined by
carriage returns; tqdm has no mode that writes a line per share of the work, so this module adds it.
"""

import sys
import time
from types import TracebackType
from typing import IO, Any

from tqdm import tqdm

LINE_EVERY = 0.05
"""Off a terminal, a line each time this share of the work is done."""


class Progress:
    """``update`` and ``set_postfix`` like tqdm's, drawn as a bar or written as lines."""

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str,
        initial: int = 0,
        disable: bool = False,
        file: IO[str] | None = None,
    ) -> None:
        self.file = file or sys.stderr
        self.total, self.desc, self.unit, self.done = total, desc, unit, initial
        self.postfix: dict[str, Any] = {}
        self.started, self.start_count = time.perf_counter(), initial
        self.bar = None
        self.next_line = initial
        self.disabled = disable or total <= 0
        if not self.disabled and self.file.isatty():
            self.bar = tqdm(
                total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, file=self.file
            )

    def __enter__(self) -> "Progress":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.close()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = values
        if self.bar is not None:
            self.bar.set_postfix(values)

    def update(self, count: int = 1) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
        elif not self.disabled and (self.done >= self.next_line or self.done >= self.total):
            self._line()
            self.next_line = self.done + max(1, round(self.total * LINE_EVERY))

    def _line(self) -> None:
        elapsed = time.perf_counter() - self.started
        rate = (self.done - self.start_count) / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        extra = "".join(f", {key} {value}" for key, value in self.postfix.items())
        print(
            f"{self.desc}: {self.done}/{self.total} {self.unit} ({self.done / self.total:.0%}), "
            f"{rate:.3g} {self.unit}/s, {_duration(left)} left{extra}",
            file=self.file,
            flush=True,
        )


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
