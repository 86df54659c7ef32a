"""Manifests: JSON-lines files with one row per sample, safe to append to under ``kill -9``.

Each process appends to its own part file, ``<stage>-<index>-of-<count>.jsonl``, so no two writers
share a file. A row is one ``write`` of a whole line, flushed and fsynced, and is written only after
the files it names are in place. A kill can therefore leave at most a cut last line: readers ignore
it and a writer cuts it off before appending. A rerun reads every part of the stage (whatever the
number of processes that wrote them) to know which samples are done.
"""

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

Row = dict[str, Any]


def _complete_lines(path: Path) -> tuple[list[str], int]:
    """The complete lines of a file and the byte length they span (a cut last line is left out)."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    return data[:end].decode().splitlines(), end


def read_part(path: Path) -> list[Row]:
    """Rows of one part file, without a line cut by a kill."""
    return [json.loads(line) for line in _complete_lines(path)[0] if line.strip()]


def part_path(folder: Path, stage: str, index: int, count: int) -> Path:
    return folder / f"{stage}-{index:05d}-of-{count:05d}.jsonl"


def read_rows(folder: Path, stage: str) -> list[Row]:
    """Every row of a stage, over all part files, sorted by ``id``, the first of any duplicate kept."""
    rows: dict[str, Row] = {}
    own = re.compile(re.escape(stage) + r"-\d+-of-\d+\.jsonl")  # not the parts of "STAGE-other"
    for path in sorted(p for p in folder.glob(f"{stage}-*-of-*.jsonl") if own.fullmatch(p.name)):
        for row in read_part(path):
            rows.setdefault(row["id"], row)
    return [rows[key] for key in sorted(rows)]


class ManifestWriter:
    """Appends rows to one part file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            _, end = _complete_lines(path)
            if end != path.stat().st_size:
                os.truncate(path, end)
        self.path = path
        self._file: IO[str] = path.open("a")

    def append(self, rows: Iterable[Row]) -> None:
        """Append rows, each as one line, and make them durable."""
        text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
        if not text:
            return
        self._file.write(text)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ManifestWriter":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
