"""The bad-input table of docs/reliability.md: each kind of broken input fed to the command a user
would run, with the lines the user sees, the exit status and what still got processed.

    .venv/bin/python scripts/bad_input_table.py --workdir outputs/bad-inputs > outputs/bad-inputs.md
"""

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from depthforge.locks import WriterLock

DEPTHFORGE = str(Path(sys.executable).parent / "depthforge")


@dataclass
class Case:
    kind: str
    command: str
    argv: Callable[[Path], list[str]]
    """The command line, given the case's folder (already holding a fresh copy of the inputs)."""
    breaks: Callable[[Path], None]
    processed: Callable[[Path], str]
    """What still got processed, read from the case's folder after the run."""


def good_images(folder: Path, count: int = 3) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"good{index}.png")


def count(pattern: str, unit: str) -> Callable[[Path], str]:
    return lambda case: f"{len(list(case.glob(pattern)))} {unit}"


def rows(stage: str) -> Callable[[Path], str]:
    def read(case: Path) -> str:
        parts = (case / "dataset" / "manifest").glob(f"{stage}-*.jsonl")
        return f"{sum(len(p.read_text().splitlines()) for p in parts)} {stage} rows"

    return read


def trained(case: Path) -> str:
    student = case / "run" / "student" / "model.safetensors"
    return "student trained on the usable rows" if student.is_file() else "nothing (refused)"


def edit_row(case: Path, stage: str, change: Callable[[dict], None]) -> None:
    """Apply ``change`` to the first row of a stage's manifest."""
    part = next((case / "dataset" / "manifest").glob(f"{stage}-*.jsonl"))
    lines = part.read_text().splitlines()
    row = json.loads(lines[0])
    change(row)
    part.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")


def first_label(case: Path) -> Path:
    return sorted((case / "dataset" / "labels").glob("*.npy"))[0]


def predict_case(kind: str, breaks: Callable[[Path], None]) -> Case:
    return Case(
        kind,
        "predict",
        lambda case: ["predict", str(case / "images"), "-m", "simbench-teacher", "-o", str(case / "out")],
        breaks,
        count("out/*.npy", "depth maps written"),
    )


def finetune_case(kind: str, breaks: Callable[[Path], None], *extra: str) -> Case:
    return Case(
        kind,
        "finetune",
        lambda case: [
            "finetune",
            "-o",
            str(case / "run"),
            "--data",
            str(case / "dataset"),
            "-m",
            "simbench-teacher",
            "--iterations",
            "2",
            "--size",
            "56",
            "--batch-size",
            "2",
            "--set",
            "data.num_workers=0",
            *extra,
        ],
        breaks,
        trained,
    )


def truncate(path: Path, keep: int = 100) -> None:
    path.write_bytes(path.read_bytes()[:keep])


CASES = [
    predict_case("dangling symlink", lambda c: (c / "images" / "gone.png").symlink_to(c / "nowhere.png")),
    predict_case("folder with an image suffix", lambda c: (c / "images" / "folder.png").mkdir()),
    predict_case("zero-size file", lambda c: (c / "images" / "empty.png").write_bytes(b"")),
    predict_case("text file named .png", lambda c: (c / "images" / "notes.png").write_text("hello")),
    predict_case(
        "truncated PNG", lambda c: truncate(shutil.copy(c / "images" / "good0.png", c / "images" / "cut.png"))
    ),
    predict_case(
        "two inputs, one output name",
        lambda c: shutil.copy(c / "images" / "good0.png", c / "images" / "good0.jpg"),
    ),
    predict_case(
        "temporary file of a killed job",
        lambda c: (c / "images" / ".good0.png.vm.9.ab12cd34.tmp").write_bytes(b"x"),
    ),
    Case(
        "missing input folder",
        "label",
        lambda case: [
            "label",
            str(case / "images"),
            str(case / "no-such-folder"),
            "-m",
            "simbench-teacher",
            "-o",
            str(case / "dataset2"),
        ],
        lambda c: None,
        count("dataset2/labels/*.npy", "images labelled"),
    ),
    Case(
        "object map of the wrong size",
        "label",
        lambda case: [
            "label",
            str(case / "scenes" / "images"),
            "-m",
            "simbench-teacher",
            "-o",
            str(case / "dataset2"),
        ],
        lambda c: Image.fromarray(np.ones((5, 5), np.uint8)).save(c / "scenes" / "objects" / "good1.png"),
        count("dataset2/labels/*.npy", "images labelled"),
    ),
    Case(
        "second generate on the same shard",
        "generate",
        lambda case: ["generate", str(case / "dataset"), "--backend", "physics", "--conditions", "night,fog"],
        lambda c: None,
        rows("generate"),
    ),
    finetune_case("label of the wrong size", lambda c: np.save(first_label(c), np.zeros((5, 5), np.float32))),
    finetune_case("all-NaN label", lambda c: np.save(first_label(c), np.full((48, 64), np.nan, np.float32))),
    finetune_case("missing hard image", lambda c: next((c / "dataset" / "hard").rglob("*.png")).unlink()),
    finetune_case("truncated hard image", lambda c: truncate(next((c / "dataset" / "hard").rglob("*.png")))),
    finetune_case(
        "manifest path leaving the dataset",
        lambda c: edit_row(c, "generate", lambda row: row.update(image="../../../../etc/hostname")),
    ),
    finetune_case(
        "a broken row with --strict",
        lambda c: np.save(first_label(c), np.zeros((5, 5), np.float32)),
        "--strict",
    ),
    Case(
        "finetune with neither --model nor --preset",
        "finetune",
        lambda case: ["finetune", "-o", str(case / "run"), "--data", str(case / "dataset")],
        lambda c: None,
        trained,
    ),
    Case(
        "malformed pipeline YAML",
        "run",
        lambda case: ["run", str(case / "pipeline.yaml")],
        lambda c: (c / "pipeline.yaml").write_text("workdir: w\nstages:\n  - {name: a, command: label\n"),
        lambda case: "nothing (no stage can be read)",
    ),
    Case(
        "unknown variable in a pipeline",
        "run",
        lambda case: ["run", str(case / "pipeline.yaml")],
        lambda c: (c / "pipeline.yaml").write_text(
            "workdir: w\nstages:\n  - {name: a, command: label, args: {out: '{nope}'}}\n"
        ),
        lambda case: "nothing (no stage started)",
    ),
    Case(
        "unknown benchmark",
        "evaluate",
        lambda case: [
            "evaluate",
            "-m",
            "simbench-teacher",
            "--benchmark",
            "kitti",
            "--root",
            str(case),
            "-o",
            str(case / "eval"),
        ],
        lambda c: None,
        lambda case: "nothing (no model loaded)",
    ),
]


def inputs(work: Path) -> Path:
    """Good images, the same with object maps, and a labelled dataset with physics samples."""
    source = work / "inputs"
    if not (source / "dataset" / "manifest").is_dir():
        shutil.rmtree(source, ignore_errors=True)
        good_images(source / "images")
        shutil.copytree(source / "images", source / "scenes" / "images")
        (source / "scenes" / "objects").mkdir()
        for image in (source / "images").iterdir():
            Image.fromarray(np.zeros((48, 64), np.uint8)).save(source / "scenes" / "objects" / image.name)
        dataset = str(source / "dataset")
        subprocess.run(
            [DEPTHFORGE, "label", str(source / "images"), "-m", "simbench-teacher", "-o", dataset],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [DEPTHFORGE, "generate", dataset, "--backend", "physics", "--conditions", "night,fog"],
            check=True,
            capture_output=True,
        )
    return source


def run_case(case: Case, source: Path, folder: Path) -> tuple[list[str], int]:
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder, symlinks=True)
    case.breaks(folder)
    argv = [DEPTHFORGE, *case.argv(folder)]
    if case.kind == "second generate on the same shard":
        with WriterLock(folder / "dataset" / "manifest" / "generate-00000-of-00001.jsonl"):
            result = subprocess.run(argv, capture_output=True, text=True)
    else:
        result = subprocess.run(argv, capture_output=True, text=True)
    lines = [
        part for line in result.stderr.splitlines() for part in line.split("\r") if part.startswith("error:")
    ]
    lines += [line for line in result.stdout.splitlines() if line.startswith("no --preset")]
    return [line.replace(str(folder), "CASE") for line in lines], result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("outputs/bad-inputs"))
    args = parser.parse_args()
    source = inputs(args.workdir)
    print("| input | command | what the user sees | exit | still processed |")
    print("|---|---|---|---|---|")
    for number, case in enumerate(CASES):
        folder = args.workdir / f"case-{number:02d}"
        lines, status = run_case(case, source, folder)
        seen = "<br>".join(f"`{line}`" for line in lines) or "(nothing)"
        print(f"| {case.kind} | {case.command} | {seen} | {status} | {case.processed(folder)} |", flush=True)


if __name__ == "__main__":
    main()
