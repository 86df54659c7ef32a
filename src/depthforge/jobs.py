"""The sharded, resumable loop that every long stage (label, generate, generate-objects) runs.

Work is a list of items with stable ``id``s. A process takes its shard of the items (``--shard i/n``
for job arrays, times the processes of ``accelerate launch``), skips the ids already in the
stage's manifest, processes the rest in batches and appends one row per finished item; a stage
may read a batch's inputs on a reader thread and write its files on a writer thread, overlapping
the batches before and after it. Outputs therefore do not depend on the number of processes, and
a rerun after a kill resumes: it first removes the temporary files that killed writers left. One
process at a time writes a shard: a second one on the same shard is refused, naming the first.
The settings that decide the outputs (seed, model, sizes) are recorded next to the manifest: a run
with other settings refuses to resume over the old outputs instead of silently mixing them in.
"""

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from depthforge.data.manifest import ManifestWriter, Row, part_path, read_rows
from depthforge.io import remove_stale_temp_files, write_atomic
from depthforge.locks import WriterLock
from depthforge.progress import Progress

if TYPE_CHECKING:
    from accelerate import PartialState

log = logging.getLogger(__name__)


class Item(Protocol):
    @property
    def id(self) -> str: ...


class ItemError(Exception):
    """One item could not be processed; the others go on."""


Results = list[Row | ItemError]
Finish = Callable[[], Results]
"""What a stage's ``process`` may return instead of its results: the rest of the batch's work
(writing its files, then returning its rows), which runs on a background thread while the next
batch is computed."""


class SettingsMismatch(ValueError):
    """A stage was asked to resume outputs that were made with other settings."""


def digest(value: Any) -> str:
    """A short hash of a JSON-able value, for settings too long to record whole (prompt banks)."""
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def check_settings(manifest: Path, name: str, settings: Mapping[str, Any], started: bool) -> None:
    """Keep ``settings`` in ``manifest/NAME.settings.json``; once work was ``started`` under a record,
    other settings raise ``SettingsMismatch`` (a record with no work behind it is replaced)."""
    path = manifest / f"{name}.settings.json"
    wanted = json.loads(json.dumps(settings))  # tuples become lists, as in the record
    text = json.dumps(wanted, indent=2, sort_keys=True)
    if path.is_file() and not started:
        write_atomic(path, lambda tmp: tmp.write_text(text))
        return
    if not path.is_file():
        try:  # created only if absent, so that of two runs starting together one record wins
            write_atomic(path, lambda tmp: tmp.write_text(text), replace=False)
            return
        except FileExistsError:
            pass
    recorded = json.loads(path.read_text())
    changed = [
        f"{key} {recorded.get(key)!r} -> {wanted.get(key)!r}"
        for key in sorted({*recorded, *wanted})
        if recorded.get(key) != wanted.get(key)
    ]
    if changed:
        raise SettingsMismatch(
            f"{manifest.parent}: its {name} work was done with other settings ({'; '.join(changed)});"
            f" use another folder, or remove {manifest / name}-*.jsonl and {path.name} to redo it"
        )


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: the items whose position modulo ``count`` is ``index``."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """Read ``i/n``, with ``0 <= i < n``."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError as error:
            raise ValueError(f"shard must look like i/n, got '{text}'") from error
        if not 0 <= index < count:
            raise ValueError(f"shard index must be in [0, {count}), got {index}")
        return cls(index, count)

    def within(self, process_index: int, process_count: int) -> "Shard":
        """This shard split further among the processes of one launch."""
        return Shard(self.index * process_count + process_index, self.count * process_count)

    def take(self, items: Sequence[Any]) -> list[Any]:
        return list(items[self.index :: self.count])


WHOLE = Shard()
"""All items: no sharding."""


@dataclass
class JobSummary:
    """What one process did."""

    done: int = 0
    already_done: int = 0
    failed: list[str] = field(default_factory=list)


def launch_state() -> "PartialState":
    """The ``accelerate``/``torchrun`` launch this process belongs to (a single process if none).

    Without CUDA the processes of a launch talk over gloo on the CPU.
    """
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def launch_shard(shard: Shard) -> Shard:
    """``shard`` split among the processes of the current launch."""
    state = launch_state()
    return shard.within(state.process_index, state.num_processes)


def launch_device(device: str) -> str:
    """``auto`` becomes this process's own device when it is one of several; other values stay."""
    state = launch_state()
    return str(state.device) if device == "auto" and state.num_processes > 1 else device


def _with_inputs(
    todo: list[Any], batch_size: int, read: Callable[[list[Any]], Any] | None
) -> Iterator[tuple[list[Any], Any]]:
    """Each batch with its inputs (None without ``read``); batch k+1's are read on a thread while
    batch k is processed."""
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    if read is None or not batches:
        yield from ((batch, None) for batch in batches)
        return
    with ThreadPoolExecutor(max_workers=1) as reader:
        upcoming = reader.submit(read, batches[0])
        for index, batch in enumerate(batches):
            loaded = upcoming.result()
            if index + 1 < len(batches):
                upcoming = reader.submit(read, batches[index + 1])
            yield batch, loaded


def run_job(
    items: Sequence[Item],
    manifest: Path,
    stage: str,
    shard: Shard,
    process: Callable[[list[Any]], Results | Finish],
    batch_size: int,
    report: Callable[[str], None] = log.error,
    unit: str = "img",
    settings: Mapping[str, Any] | None = None,
    read: Callable[[list[Any]], Any] | None = None,
    desc: str | None = None,
) -> JobSummary:
    """Process this shard's items that the manifest does not hold yet; append a row per item.
    The progress shows ``desc`` (default: the stage).

    With ``read``, a batch's inputs are read on a reader thread while the batch before it is
    processed, and ``process`` gets ``(batch, read(batch))``. When ``process`` returns a
    ``Finish``, it runs on a writer thread while the next batch is processed, one batch at a time;
    its rows are appended, in batch order, once it has returned (after the files they name are
    written). ``settings`` (see ``check_settings``) must match those of the items already done.
    Raises ``LockHeld`` when another process is at work on the same shard.
    """
    part = part_path(manifest, stage, shard.index, shard.count)
    with WriterLock(part):
        if removed := remove_stale_temp_files(manifest.parent):
            log.info("removed %d temporary file(s) of killed jobs from %s", len(removed), manifest.parent)
        done = {row["id"] for row in read_rows(manifest, stage)}
        if settings is not None:
            check_settings(manifest, stage, settings, started=bool(done))
        mine = shard.take(items)
        todo = [item for item in mine if item.id not in done]
        summary = JobSummary(already_done=len(mine) - len(todo))
        with (
            ManifestWriter(part) as writer,
            Progress(len(todo), desc or stage, unit) as progress,
            ThreadPoolExecutor(max_workers=1) as finisher,
        ):

            def record(results: Results) -> None:
                for result in results:
                    if isinstance(result, ItemError):
                        report(str(result))
                        summary.failed.append(str(result))
                rows = [result for result in results if not isinstance(result, ItemError)]
                writer.append(rows)
                summary.done += len(rows)
                progress.update(len(results))

            pending: Future[Results] | None = None
            for batch, loaded in _with_inputs(todo, batch_size, read):
                outcome = process(batch) if read is None else process(batch, loaded)
                if pending is not None:
                    record(pending.result())
                    pending = None
                if callable(outcome):
                    pending = finisher.submit(outcome)
                else:
                    record(outcome)
            if pending is not None:
                record(pending.result())
    return summary
