import os
import signal

import pytest

from depthforge.data.manifest import part_path
from depthforge.jobs import Shard, run_job
from depthforge.locks import LockHeld, WriterLock
from tests.conftest import hold


def test_a_second_writer_is_refused_by_name_and_a_killed_holder_blocks_nobody(tmp_path):
    part = part_path(tmp_path / "manifest", "label", 0, 1)
    holder = hold(part)
    try:
        with (
            pytest.raises(
                LockHeld, match=rf"label-00000-of-00001\.jsonl: another process .*pid {holder.pid} on"
            ),
            WriterLock(part),
        ):
            pass
        with pytest.raises(LockHeld):
            run_job([], tmp_path / "manifest", "label", Shard(0, 1), lambda batch: [], 1)
        run_job([], tmp_path / "manifest", "label", Shard(1, 2), lambda batch: [], 1)  # another shard: free
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with WriterLock(part) as lock:  # the kill released it: a resume is not blocked
        assert lock.path.read_text().startswith(f"pid {os.getpid()} ")
    assert lock.path.read_text() == ""  # a free lock names nobody
