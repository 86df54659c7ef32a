"""`depthforge push`."""

from pathlib import Path
from typing import Annotated

import typer

from depthforge.cli.common import app, show_error


@app.command()
def push(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="A dataset folder or a saved student.")],
    repo_id: Annotated[str, typer.Argument(metavar="REPO_ID", help="The hub repository, user/name.")],
    private: Annotated[bool, typer.Option("--private", help="Create the repository private.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be uploaded; touch no network.")
    ] = False,
) -> None:
    """Upload a dataset (as a hub dataset) or a student (as a model) with its card."""
    from depthforge.hub import files_to_push, is_offline_failure, repo_type
    from depthforge.hub import push as upload

    try:
        kind = repo_type(folder)
    except ValueError as error:
        show_error(str(error))
        raise typer.Exit(2) from error
    files = files_to_push(folder)
    if dry_run:
        size = sum((folder / f).stat().st_size for f in files)
        for name in files:
            typer.echo(f"  {name}")
        typer.echo(f"would upload {len(files)} files ({size / 1e6:.1f} MB) to {kind} repository {repo_id}")
        return
    try:
        url = upload(folder, repo_id, private)
    except Exception as error:  # the hub client raises many kinds; each becomes one line
        cause = "the hub cannot be reached" if is_offline_failure(error) else str(error).splitlines()[0]
        show_error(f"cannot push {folder} to {repo_id}: {cause}")
        raise typer.Exit(1) from error
    typer.echo(f"pushed {len(files)} files to {url}")
