"""Reading images and YAML files, writing arrays and pictures atomically, and colour-mapping depth
for people.

Files are written durably by hand (``write_atomic``): a temporary sibling is fsynced, renamed into
place and its folder fsynced, so that a manifest row written afterwards never points to an empty
file after a power loss. Temporary names are hidden and name their writer (``.NAME.HOST.PID.RANDOM.tmp``),
so that readers skip them and a later job can tell a dead writer's leftovers from a live one's.
"""

import os
import secrets
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
LIST_SUFFIXES = frozenset({".txt", ".lst"})


TEMP_SUFFIX = ".tmp"


class ImageReadError(ValueError):
    """An input file is not a readable image."""


def find_images(inputs: Iterable[str | Path]) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Image files named by ``inputs``: files, folders (searched recursively, sorted) and file lists
    (``.txt``/``.lst``, one path per line).

    Returns ``(source, name)`` pairs, where ``name`` is the path an output should take relative to
    the output folder (the path below the given folder, or the file name), and the problems found
    (missing inputs, two inputs that would write the same output).
    """
    found: list[tuple[Path, Path]] = []
    problems: list[str] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files, unusable = _images_below(item)
            found.extend((p, p.relative_to(item)) for p in files)
            problems.extend(unusable)
        elif item.is_file() and item.suffix.lower() in LIST_SUFFIXES:
            found.extend(_listed(item))
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            problems.append(_unusable(item))
    seen: dict[Path, Path] = {}
    unique = []
    for source, name in found:
        stem = name.with_suffix("")
        if stem in seen:
            problems.append(f"{source}: skipped, its output name '{stem}' is taken by {seen[stem]}")
            continue
        seen[stem] = source
        unique.append((source, name))
    return unique, problems


def _images_below(folder: Path) -> tuple[list[Path], list[str]]:
    """The image files below ``folder`` (sorted, hidden ones left out) and a line for each entry
    that has an image suffix but is no file: a dangling link or a folder."""
    files, problems = [], []
    for path in sorted(folder.rglob("*")):
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
        if hidden or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.is_file():
            files.append(path)
        else:
            problems.append(_unusable(path))
    return files, problems


def _unusable(path: Path) -> str:
    """Why ``path``, named as an image, is not a file to read."""
    if path.is_symlink() and not path.exists():
        return f"{path}: skipped, a link to {os.readlink(path)}, which does not exist"
    if path.is_dir():
        return f"{path}: skipped, a folder, not an image"
    return f"{path}: no such file or folder"


def _listed(list_file: Path) -> list[tuple[Path, Path]]:
    """Images named in a file list, one path per line (relative ones from the list's folder).

    The output name is the path as written for relative paths, the file name for absolute ones.
    """
    pairs = []
    for line in list_file.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            written = Path(line.strip())
            source = written if written.is_absolute() else list_file.parent / written
            pairs.append((source, Path(written.name) if written.is_absolute() else written))
    return pairs


def _to_uint8_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> ``H x W x 3`` uint8. 16- and 32-bit greyscale are scaled down, alpha is dropped."""
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) <= 65535 else float(values.max())
        grey = np.clip(np.round(values / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode == "F":
        grey = np.clip(np.round(np.nan_to_num(np.asarray(image)) * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode == "P":
        image = image.convert("RGBA")
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as ``H x W x 3`` uint8 RGB, upright per its EXIF orientation.

    Raises ``ImageReadError`` naming the file for empty, truncated or non-image files.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(_unusable(path))
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file")
    try:
        with Image.open(path) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            return _to_uint8_rgb(upright)
    except UnidentifiedImageError as error:
        raise ImageReadError(f"{path}: not an image ({error})") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"{path}: cannot read image ({error})") from error


class YamlReadError(ValueError):
    """A YAML file cannot be read or parsed."""


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """A YAML file's document. Errors are one line: the file, the line and column of a syntax
    error, what the file was read as (``what``) and the problem."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise YamlReadError(f"{path}: cannot read {what} ({error.strerror})") from error
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = error.problem or error.context or "malformed"
        raise YamlReadError(f"{where}: cannot read {what}: {problem}") from error
    except yaml.YAMLError as error:
        raise YamlReadError(f"{path}: cannot read {what}: {' '.join(str(error).split())}") from error


def read_object_map(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """An object instance map (0 = background, each other value one object) of an image of
    ``shape`` (h, w), as integers; a colour map's distinct colours become the instances.

    Raises ``ImageReadError`` naming the file when it cannot be read or has another size.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            values = np.asarray(image)
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"{path}: cannot read object map ({error})") from error
    if values.ndim == 3:
        colours = values[..., :3].reshape(-1, 3)
        _, inverse = np.unique(colours, axis=0, return_inverse=True)
        background = (colours == 0).all(-1)
        ids = inverse.reshape(-1) + 1
        values = np.where(background, 0, ids).reshape(values.shape[:2])
    if values.shape != tuple(shape):
        raise ImageReadError(
            f"{path}: object map is {values.shape[0]}x{values.shape[1]}, "
            f"but its image is {shape[0]}x{shape[1]}"
        )
    return values.astype(np.int32)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _host() -> str:
    """This host's name as it appears in temporary names (no dots: they separate the fields)."""
    return socket.gethostname().replace(".", "-")


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def write_atomic(path: Path, write: Callable[[Path], None], replace: bool = True) -> None:
    """Write a file through ``write(tmp)`` to a temporary sibling, make it durable, then rename it
    into place (and make the rename durable).

    A reader never sees a half-written file, and a kill or power loss leaves the old file (or none).
    With ``replace=False`` an existing file is kept and ``FileExistsError`` raised (even in a race).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        write(tmp)
        _fsync(tmp)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
        _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _writer_is_gone(temp: Path) -> bool:
    """Whether the process named in a temporary file's name (on this host) no longer runs."""
    parts = temp.name.rsplit(".", 4)
    if len(parts) != 5 or not parts[2].isdigit() or parts[1] != _host():
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it runs, under another user
    return False


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temporary files below ``folder`` left by killed writers on this host; return them.

    Those of running processes (another shard at work) and of other hosts are left alone.
    """
    stale = [p for p in folder.rglob(f".*{TEMP_SUFFIX}") if _writer_is_gone(p)] if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def save_npy(path: Path, array: np.ndarray) -> None:
    """Save an array as ``.npy``, atomically."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as file:  # a file object: np.save would add ".npy" to a path
            np.save(file, array)

    write_atomic(path, write)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Save named arrays as a compressed ``.npz``, atomically."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as file:  # a file object: np.savez would add ".npz" to a path
            np.savez_compressed(file, **arrays)

    write_atomic(path, write)


PNG_COMPRESSION = {"level": 1}
"""zlib level of every PNG written (0-9); ``depthforge --png-compression N`` sets it. Measured on a
street render upscaled to 1600x900: 60 ms at 1 against 233 ms at PIL's default 6, for a file 30%
larger (0.83 against 0.64 MB); noisy images compress badly at any level and gain little."""


def save_png(path: Path, rgb: np.ndarray) -> None:
    """Save a uint8 image as PNG, atomically."""
    level = PNG_COMPRESSION["level"]
    write_atomic(path, lambda tmp: Image.fromarray(rgb).save(tmp, format="PNG", compress_level=level))


def colorize(
    nearness: np.ndarray, cmap: str = "Spectral_r", percentiles: tuple[float, float] = (2, 98)
) -> np.ndarray:
    """A nearness map (larger = closer, e.g. inverse depth) as a uint8 RGB picture, near = warm.

    Values are stretched between two percentiles of the finite pixels; invalid pixels are black.
    """
    from matplotlib import colormaps

    finite = np.isfinite(nearness)
    if not finite.any():
        return np.zeros((*nearness.shape, 3), np.uint8)
    lo, hi = np.percentile(nearness[finite], percentiles)
    scaled = np.clip((nearness - lo) / (hi - lo), 0, 1) if hi > lo else np.full(nearness.shape, 0.5)
    rgb = (colormaps[cmap](np.where(finite, scaled, 0))[..., :3] * 255).round().astype(np.uint8)
    rgb[~finite] = 0
    return rgb


class DepthReadError(ValueError):
    """A ground-truth depth or disparity file cannot be read."""


def _read_pfm(path: Path) -> np.ndarray:
    """A PFM file (greyscale ``Pf``), top row first."""
    with path.open("rb") as file:
        kind = file.readline().strip()
        if kind != b"Pf":
            raise DepthReadError(f"{path}: not a greyscale PFM (header {kind!r})")
        width, height = (int(v) for v in file.readline().split())
        scale = float(file.readline())
        data = np.fromfile(file, "<f4" if scale < 0 else ">f4", width * height)
    if data.size != width * height:
        raise DepthReadError(f"{path}: PFM holds {data.size} values, expected {width * height}")
    return np.flipud(data.reshape(height, width)).astype(np.float32)


def _read_exr(path: Path) -> np.ndarray:
    import OpenEXR

    with OpenEXR.File(str(path)) as file:
        channels = file.channels()
        for name in ("Z", "Y", "R", "depth", *channels):
            if name in channels:
                pixels = np.array(channels[name].pixels, np.float32)
                return pixels if pixels.ndim == 2 else pixels[..., 0]
    raise DepthReadError(f"{path}: EXR has no channels")


def read_depth_map(path: str | Path, png_scale: float = 1.0) -> np.ndarray:
    """A depth or disparity map as float32: ``.npy``, ``.pfm``, ``.exr``, or 16-bit ``.png``/``.tif``
    divided by ``png_scale`` (KITTI: 256). Errors name the file."""
    path = Path(path)
    try:
        suffix = path.suffix.lower()
        if suffix == ".npy":
            values = np.load(path)
        elif suffix == ".npz":
            with np.load(path) as archive:
                values = archive[archive.files[0]]
        elif suffix == ".pfm":
            values = _read_pfm(path)
        elif suffix == ".exr":
            values = _read_exr(path)
        else:
            with Image.open(path) as image:
                values = np.asarray(image).astype(np.float32) / png_scale
    except DepthReadError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise DepthReadError(f"{path}: cannot read depth ({error})") from error
    if values.ndim != 2:
        raise DepthReadError(f"{path}: expected a single-channel map, got shape {values.shape}")
    return values.astype(np.float32)
