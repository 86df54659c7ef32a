"""Jobs at scale: kill -9 and resume, several processes. These run the real command line."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

from depthforge.data.dataset import DatasetFolder
from tests.generate.test_generate import diffusion_args, image_bytes

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def command(dataset, *args):
    return [sys.executable, "-m", "depthforge.cli", "generate", str(dataset.root), *args]


def manifest_lines(dataset):
    return [
        line for path in dataset.manifest.glob("generate-*.jsonl") for line in path.read_text().splitlines()
    ]


def test_killed_run_resumes_with_exactly_the_expected_rows(pipelines, labelled, tmp_path):
    clean = DatasetFolder(shutil.copytree(labelled.root, tmp_path / "clean"))
    args = [
        "--conditions",
        "night,rain",
        "--per-condition",
        "6",
        "--no-consistency",
        *diffusion_args(pipelines, batch_size=1),
        "--steps",
        "6",
    ]
    expected = {f"{c}/easy{i}-{k}" for c in ("night", "rain") for i in range(3) for k in range(6)}
    process = subprocess.Popen(
        command(labelled, *args), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while len(manifest_lines(labelled)) < 5 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = len(manifest_lines(labelled))
    assert 5 <= written < len(expected), "the run was not killed midway"
    # A kill can also cut a row in half: resume must cope with that too.
    part = next(labelled.manifest.glob("generate-*.jsonl"))
    with part.open("a") as file:
        file.write('{"id": "night/easy0-0", "cut')
    subprocess.run(command(labelled, *args), env=ENV, check=True, capture_output=True)
    ids = [json.loads(line)["id"] for line in manifest_lines(labelled)]
    assert set(ids) == expected
    assert max(Counter(ids).values()) == 1
    subprocess.run(command(clean, *args), env=ENV, check=True, capture_output=True)
    assert image_bytes(labelled) == image_bytes(clean)


def test_two_processes_make_the_same_set_as_one(pipelines, labelled, tmp_path):
    two = DatasetFolder(shutil.copytree(labelled.root, tmp_path / "two"))
    args = [
        "--conditions",
        "fog,snow",
        "--per-condition",
        "2",
        "--no-consistency",
        *diffusion_args(pipelines),
    ]
    subprocess.run(command(labelled, *args), env=ENV, check=True, capture_output=True)
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "depthforge.cli",
    ]
    subprocess.run([*torchrun, *command(two, *args)[3:]], env=ENV, check=True, capture_output=True)
    assert sorted(p.name for p in two.manifest.glob("generate-*")) == [
        "generate-00000-of-00002.jsonl",
        "generate-00001-of-00002.jsonl",
    ]
    assert len(image_bytes(two)) == 12
    assert image_bytes(two) == image_bytes(labelled)
