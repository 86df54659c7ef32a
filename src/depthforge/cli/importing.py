"""`depthforge import`."""

from pathlib import Path
from typing import Annotated

import typer

from depthforge.cli.common import (
    Device,
    Dtype,
    ShardOption,
    app,
    finish,
    labelled_dataset,
    launch,
    load_depth_model,
    log_to,
    refusing_conflicts,
    show_error,
)
from depthforge.cli.generate import MaxInconsistency, Teacher, finalize, show_conditions


@app.command("import")
def import_hard_images(
    dataset_path: Annotated[
        Path, typer.Argument(metavar="DATASET", help="A dataset folder made by `label`.")
    ],
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="Hard images made elsewhere.")],
    condition: Annotated[
        str | None, typer.Option(help="The images' condition (default: each file's first folder).")
    ] = None,
    pattern: Annotated[
        str | None,
        typer.Option(
            help="Regex matched against a file's path (no suffix); group 'id' names its easy image."
        ),
    ] = None,
    resize: Annotated[
        bool, typer.Option("--resize", help="Resize images of their easy image's aspect but not its size.")
    ] = False,
    teacher: Teacher = None,
    consistency: Annotated[bool, typer.Option(help="Score each image's structure consistency.")] = True,
    max_inconsistency: MaxInconsistency = None,
    drop_inconsistent: Annotated[
        bool, typer.Option("--drop-inconsistent", help="Drop (do not keep) flagged images.")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per batch.")] = 8,
    shard: ShardOption = "0/1",
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Bring hard images made elsewhere into a dataset, paired with its easy images and their labels."""
    from depthforge.generate.importing import DEFAULT_PATTERN, import_images, pair_files
    from depthforge.generate.job import Consistency

    dataset, labels = labelled_dataset(dataset_path)
    if not folder.is_dir():
        show_error(f"{folder}: no such folder")
        raise typer.Exit(2)
    items, problems = pair_files(folder, labels, pattern or DEFAULT_PATTERN, condition)
    for problem in problems:
        show_error(problem)
    log_to(dataset_path, "import.log")
    part, device = launch(shard, device)
    scorer = load_depth_model(teacher or labels[0]["teacher"], device, dtype) if consistency else None
    checker = Consistency(scorer, max_inconsistency, drop_inconsistent) if scorer else None
    with refusing_conflicts():
        summary = import_images(dataset, items, checker, resize, batch_size, part, report=show_error)
    finalize(dataset, {"stage": "import", "folder": str(folder), "pattern": pattern or DEFAULT_PATTERN})
    show_conditions(dataset)
    finish(
        len(summary.failed) + len(problems),
        f"{summary.done} imported into {dataset_path}; {summary.already_done} already there;"
        f" {len(problems)} not paired",
    )
