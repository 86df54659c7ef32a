"""The Hugging Face hub: what to tell a user whose model could not be fetched, and pushing a
dataset or a student to it.

transformers and diffusers report a missing network as a missing file ("does not appear to have a
file named config.json") or as a cache miss; the cause is in the exception chain, which this reads.
"""

import os
from pathlib import Path

OFFLINE_FIX = (
    "download it where there is a network (`hf download {name}`) and pass its folder, or work offline "
    "with the bundled models (`simbench-teacher`, `--backend physics`)"
)


def _chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def is_offline_failure(error: BaseException) -> bool:
    """The hub could not be reached (offline mode, or no network) and the model was not cached."""
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    for link in _chain(error):
        if isinstance(link, LocalEntryNotFoundError | OfflineModeIsEnabled | ConnectionError | TimeoutError):
            return True
        text = str(link).lower()
        if "couldn't connect" in text or "offline mode" in text or "cannot reach" in text:
            return True
    return False


def load_failure(kind: str, name: str, error: BaseException) -> str:
    """One line: which model failed to load and, for a hub id, what to do about it."""
    if Path(name).exists():
        return f"cannot load {kind} from folder '{name}': {error}"
    if is_offline_failure(error):
        mode = (
            "HF_HUB_OFFLINE=1 is set" if os.environ.get("HF_HUB_OFFLINE") in {"1", "true"} else "no network"
        )
        return (
            f"cannot load {kind} '{name}': it is not in the local cache and the hub cannot be reached "
            f"({mode}); {OFFLINE_FIX.format(name=name)}"
        )
    return f"cannot load {kind} '{name}': {error}"


PUSH_IGNORED = ["*.lock", "*.log", ".*", "**/.*", "conditions/**"]
"""Not pushed: writers' locks, logs, hidden temporary files, cached conditioning depth."""


def repo_type(folder: Path) -> str:
    """``dataset`` for a depthforge dataset folder, ``model`` for a saved network; ValueError else."""
    if (folder / "manifest").is_dir():
        return "dataset"
    if (folder / "config.json").is_file() or (folder / "depthforge_network.json").is_file():
        return "model"
    raise ValueError(f"{folder}: neither a depthforge dataset (manifest/) nor a saved model (config.json)")


def files_to_push(folder: Path) -> list[Path]:
    """The files a push uploads, relative to ``folder``."""
    from fnmatch import fnmatch

    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if not any(
            fnmatch(relative.as_posix(), pattern) or fnmatch(path.name, pattern) for pattern in PUSH_IGNORED
        ):
            found.append(relative)
    return found


def push(folder: Path, repo_id: str, private: bool = False) -> str:
    """Create the repository if needed and upload the folder; return the repository's address."""
    from huggingface_hub import HfApi

    kind = repo_type(folder)
    api = HfApi()
    url = api.create_repo(repo_id, repo_type=kind, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=kind, ignore_patterns=PUSH_IGNORED)
    return str(url)
