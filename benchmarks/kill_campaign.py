"""kill -9 at random moments during sim render, label, physics generate and finetune; resume each.

Each stage first runs once uninterrupted: the reference, which also gives W, the time its job
works (from taking its writer lock, after start-up and model loading, to its end). Then, in rounds
on a fresh folder, the same command is started, killed with SIGKILL a random 0 .. W after its job
took the lock, and started again, until it completes on its own; rounds go on until the stage has
taken ``--kills`` kills. (When the first run of a round outlives its kill time, its own working
time becomes the new W: the machine is shared, and a slow reference would let most runs finish.)
Every finished round is checked against the reference:

- rows lost: ids of the reference manifest missing from the round's;
- rows duplicated: rows in the part files beyond one per id;
- orphaned temp files: hidden temporary files (``.*.tmp``) or half-written checkpoints
  (``.step-*.partial``) left in the folder;
- identical: every output file (images, arrays, student weights) equal to the reference's, bytes
  for bytes (for finetune: the resumed student against the uninterrupted one).

    .venv/bin/python benchmarks/kill_campaign.py --workdir outputs/kill-campaign --kills 20
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEPTHFORGE = str(Path(sys.executable).parent / "depthforge")
DATA_SUFFIXES = {".png", ".npy", ".json", ".safetensors"}
SKIPPED_FILES = {"benchmark.json"}  # settings records, written identically; the rest is data


@dataclass
class Stage:
    name: str
    command: Callable[[Path], list[str]]
    """The command line that writes into a given folder."""
    manifest: str | None
    """The manifest stage whose rows are counted (None: finetune, which has checkpoints instead)."""
    lock: str
    """The job's lock file in its folder: it names a pid while the job works."""


@dataclass
class Tally:
    kills: int = 0
    rounds: int = 0
    lost: int = 0
    duplicated: int = 0
    orphans: int = 0
    left_by_kills: int = 0
    """Temporary files found right after the kills (the resumes remove them)."""
    different: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Scale:
    scenes: str = "48"
    size: str = "96x72"
    spp: str = "8"
    iterations: str = "60"
    checkpoint_every: str = "5"


TINY = Scale("4", "32x24", "1", "6", "2")
"""A smoke test of this script: measures nothing."""


def stages(work: Path, scale: Scale) -> list[Stage]:
    render = work / "render-reference"
    dataset = work / "generate-reference"
    lock = "manifest/.{}-00000-of-00001.jsonl.lock".format
    render_args = ["--family", "street", "--n", scale.scenes, "--size", scale.size, "--spp", scale.spp]
    label_args = ["-m", "simbench-teacher", "--batch-size", "2", "--device", "cpu"]
    generate_args = [
        "--backend",
        "physics",
        "--conditions",
        "night,fog,transparent,mirror",
        "--batch-size",
        "2",
    ]
    finetune_args = [
        "-m",
        "simbench-teacher",
        "--iterations",
        scale.iterations,
        "--size",
        "56",
        "--batch-size",
        "2",
    ]
    sets = [f"checkpoint_every={scale.checkpoint_every}", "log_every=5", "data.num_workers=0"]
    finetune_args += [arg for value in sets for arg in ("--set", value)] + ["--resume"]
    return [
        Stage(
            "sim render",
            lambda out: [
                DEPTHFORGE,
                "sim",
                "render",
                *render_args,
                "--conditions",
                "day,fog",
                "--out",
                str(out),
            ],
            "render",
            lock("render"),
        ),
        Stage(
            "label",
            lambda out: [DEPTHFORGE, "label", str(render / "day" / "images"), "-o", str(out), *label_args],
            "label",
            lock("label"),
        ),
        Stage(
            "physics generate",
            lambda out: [DEPTHFORGE, "generate", str(out), *generate_args],
            "generate",
            lock("generate"),
        ),
        Stage(
            "finetune",
            lambda out: [DEPTHFORGE, "finetune", "-o", str(out), "--data", str(dataset), *finetune_args],
            None,
            ".finetune.lock",
        ),
    ]


def prepare(stage: Stage, work: Path, out: Path) -> None:
    """A fresh folder for a round; generate works inside a labelled dataset, so it starts from a
    copy of the label reference without generated rows."""
    shutil.rmtree(out, ignore_errors=True)
    if stage.name == "physics generate":
        shutil.copytree(work / "label-reference", out)


def run(command: list[str], lock: Path, kill_after: float | None) -> tuple[bool, float]:
    """Run ``command``; SIGKILL it ``kill_after`` seconds after its job took ``lock`` (never if
    None). Returns whether it was killed, and how long its job had worked."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    began = None
    while process.poll() is None:
        now = time.perf_counter()
        if began is None and lock.is_file() and lock.stat().st_size:
            began = now
        if began is not None and kill_after is not None and now - began >= kill_after:
            process.kill()
            process.wait()
            return True, now - began
        time.sleep(0.01)
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed with status {process.returncode}")
    return False, time.perf_counter() - (began or time.perf_counter())


def rows(folder: Path, stage: str) -> tuple[list[str], list[str]]:
    """Ids of the complete rows in the stage's part files (with repeats), and those of the reference."""
    ids = []
    for part in sorted((folder / "manifest").glob(f"{stage}-*-of-*.jsonl")):
        text = part.read_text()
        ids += [json.loads(line)["id"] for line in text[: text.rfind("\n") + 1].splitlines() if line]
    return ids, sorted(set(ids))


def data_files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix in DATA_SUFFIXES
        and p.name not in SKIPPED_FILES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and "checkpoints" not in p.parts
    }


def temporary_files(folder: Path) -> list[Path]:
    return [*folder.rglob(".*.tmp"), *folder.rglob(".step-*.partial")]


def check(stage: Stage, reference: Path, out: Path, tally: Tally) -> None:
    if stage.manifest:
        ids, unique = rows(out, stage.manifest)
        _, expected = rows(reference, stage.manifest)
        tally.lost += len(set(expected) - set(unique))
        tally.duplicated += len(ids) - len(unique)
    tally.orphans += len(temporary_files(out))
    mine, theirs = data_files(out), data_files(reference)
    tally.different += sorted(
        name for name in theirs.keys() | mine.keys() if mine.get(name) != theirs.get(name)
    )


def campaign(stage: Stage, work: Path, kills: int, rng: random.Random) -> tuple[Tally, float]:
    slug = stage.name.split()[-1]
    reference = work / f"{slug}-reference"
    prepare(stage, work, reference)
    _, window = run(stage.command(reference), reference / stage.lock, None)
    working = window
    tally = Tally()
    while tally.kills < kills:
        out = work / f"{slug}-round-{tally.rounds}"
        prepare(stage, work, out)
        first = True
        while tally.kills < kills:
            killed, worked = run(stage.command(out), out / stage.lock, rng.uniform(0, window))
            if not killed:
                window = worked if first else window
                break
            first = False
            tally.kills += 1
            tally.left_by_kills += len(temporary_files(out))
        run(stage.command(out), out / stage.lock, None)  # the round ends with a run to completion
        check(stage, reference, out, tally)
        tally.rounds += 1
        shutil.rmtree(out)
    return tally, working


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("outputs/kill-campaign"))
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tiny", action="store_true", help="Tiny stages: checks the script, measures nothing."
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(
        "| stage | kills | rounds | working time W (s) | rows lost | rows duplicated | orphaned temp files"
        " | temp files left by the kills | outputs identical to the uninterrupted run |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for stage in stages(args.workdir, TINY if args.tiny else Scale()):
        tally, duration = campaign(stage, args.workdir, args.kills, rng)
        identical = "yes" if not tally.different else f"no: {', '.join(tally.different[:5])}"
        lost, duplicated = (tally.lost, tally.duplicated) if stage.manifest else ("n/a", "n/a")
        print(
            f"| {stage.name} | {tally.kills} | {tally.rounds} | {duration:.1f} | {lost} | "
            f"{duplicated} | {tally.orphans} | {tally.left_by_kills} | {identical} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
