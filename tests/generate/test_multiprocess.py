import os
import subprocess
import sys

from typer.testing import CliRunner

from depthforge.cli import app
from tests.generate.test_generate import copy_of, image_bytes


def test_two_torchrun_processes_make_the_same_bytes_as_one(labelled, tmp_path):
    twin = copy_of(labelled, tmp_path, "twin")
    args = ["generate", "--conditions", "night,fog", "--per-condition", "2", "--backend", "physics"]
    result = CliRunner().invoke(app, [args[0], str(labelled.root), *args[1:]])
    assert result.exit_code == 0, result.output
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command = [*launcher, "-m", "depthforge.cli", args[0], str(twin.root), *args[1:]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    parts = sorted(p.name for p in twin.manifest.glob("generate-*.jsonl"))
    assert parts == ["generate-00000-of-00002.jsonl", "generate-00001-of-00002.jsonl"]
    assert image_bytes(twin) == image_bytes(labelled) and len(image_bytes(twin)) == 12
