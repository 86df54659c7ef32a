import json
import threading
from dataclasses import dataclass

import pytest

from depthforge.data.manifest import part_path, read_part
from depthforge.jobs import WHOLE, SettingsMismatch, check_settings, run_job


def test_settings_are_recorded_then_checked_once_work_started(tmp_path):
    check_settings(tmp_path, "render", {"seed": 3, "size": (32, 24)}, started=False)
    assert json.loads((tmp_path / "render.settings.json").read_text()) == {"seed": 3, "size": [32, 24]}
    check_settings(tmp_path, "render", {"size": [32, 24], "seed": 3}, started=True)  # same: resumes
    with pytest.raises(SettingsMismatch, match=r"seed 3 -> 4; size \[32, 24\] -> None.*render-\*\.jsonl"):
        check_settings(tmp_path, "render", {"seed": 4}, started=True)
    check_settings(tmp_path, "label", {"teacher": "x"}, started=True)  # each stage has its own record


def test_a_record_with_no_work_behind_it_is_replaced(tmp_path):
    check_settings(tmp_path, "render", {"seed": 3}, started=False)  # e.g. a run that failed at once
    check_settings(tmp_path, "render", {"seed": 4}, started=False)
    assert json.loads((tmp_path / "render.settings.json").read_text()) == {"seed": 4}
    assert [p.name for p in tmp_path.iterdir()] == ["render.settings.json"]  # no temporary left


@dataclass(frozen=True)
class Item:
    id: str


def test_a_batch_finishes_on_the_writer_thread_while_the_next_is_computed(tmp_path):
    started = [threading.Event() for _ in range(3)]
    overlapped = []

    def process(batch):
        index = int(batch[0].id) // 2
        started[index].set()

        def finish():
            if index + 1 < len(started):  # the next batch's computing began while this one writes
                overlapped.append(started[index + 1].wait(timeout=5))
            return [{"id": item.id} for item in batch]

        return finish

    summary = run_job([Item(str(i)) for i in range(6)], tmp_path, "stage", WHOLE, process, 2)
    assert overlapped == [True, True] and summary.done == 6
    assert [row["id"] for row in read_part(part_path(tmp_path, "stage", 0, 1))] == [str(i) for i in range(6)]


def test_the_next_batch_is_read_while_this_one_is_processed(tmp_path):
    started = [threading.Event() for _ in range(3)]
    overlapped = []

    def read(batch):
        started[int(batch[0].id) // 2].set()
        return [item.id for item in batch]

    def process(batch, loaded):
        index = int(batch[0].id) // 2
        if index + 1 < len(started):  # the next batch's reading began while this one is processed
            overlapped.append(started[index + 1].wait(timeout=5))
        return [{"id": name} for name in loaded]

    summary = run_job([Item(str(i)) for i in range(6)], tmp_path, "stage", WHOLE, process, 2, read=read)
    assert overlapped == [True, True] and summary.done == 6
    assert [row["id"] for row in read_part(part_path(tmp_path, "stage", 0, 1))] == [str(i) for i in range(6)]
