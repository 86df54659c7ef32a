import os
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthforge.io import (
    ImageReadError,
    find_images,
    read_rgb,
    remove_stale_temp_files,
    save_npy,
)
from tests.conftest import finished_pid, smooth_image


def write(path, array, **save):
    Image.fromarray(array).save(path, **save)
    return path


def test_rgba_drops_alpha(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    out = read_rgb(write(tmp_path / "a.png", rgba))
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8 and (out[..., 0] == 200).all()


def test_greyscale_becomes_three_equal_channels(tmp_path):
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5)
    out = read_rgb(write(tmp_path / "g.png", grey))
    assert out.shape == (4, 5, 3) and (out[..., 1] == grey).all()


def test_sixteen_bit_greyscale_is_scaled_to_eight_bits(tmp_path):
    values = np.array([[0, 257 * 100, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    assert read_rgb(tmp_path / "d.png")[0, :, 0].tolist() == [0, 100, 255]


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(smooth_image(10, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "r.jpg", exif=exif)
    assert read_rgb(tmp_path / "r.jpg").shape == (30, 10, 3)


def test_palette_image(tmp_path):
    Image.fromarray(smooth_image(8, 8)).convert("P").save(tmp_path / "p.png")
    assert read_rgb(tmp_path / "p.png").shape == (8, 8, 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"plain text, not pixels", "not an image"), (None, "no such file")],
)
def test_non_images_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=rf"bad\.jpg: {message}"):
        read_rgb(path)


def test_truncated_image_gets_a_clear_error(tmp_path):
    path = write(tmp_path / "cut.jpg", smooth_image(64, 64), quality=95)
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(ImageReadError, match=r"cut\.jpg: cannot read image"):
        read_rgb(path)


def test_find_images_walks_folders_and_reports_problems(tmp_path):
    (tmp_path / "a" / "sub").mkdir(parents=True)
    for name in ["a/1.png", "a/sub/2.jpg", "a/notes.txt", "b.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "b.jpg").write_bytes(b"x")
    found, problems = find_images([tmp_path / "a", tmp_path / "b.png", tmp_path / "c", tmp_path / "missing"])
    assert [str(name) for _, name in found] == ["1.png", "sub/2.jpg", "b.png"]
    assert any("missing: no such file" in p for p in problems)
    assert any("c/b.jpg: skipped" in p for p in problems)


def test_hidden_files_are_never_inputs_and_unusable_entries_are_named(tmp_path):
    (tmp_path / "a" / ".cache").mkdir(parents=True)
    for name in ["a/1.png", "a/.2.png", "a/.3.png.vm.12.ab12cd34.tmp", "a/.cache/4.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "a" / "folder.jpg").mkdir()
    (tmp_path / "lonely.png").symlink_to("nowhere.png")
    found, problems = find_images([tmp_path / "a", tmp_path / "lonely.png"])
    assert [str(name) for _, name in found] == ["1.png"]
    assert sorted(problems) == [
        f"{tmp_path}/a/folder.jpg: skipped, a folder, not an image",
        f"{tmp_path}/a/gone.png: skipped, a link to {tmp_path}/nowhere.png, which does not exist",
        f"{tmp_path}/lonely.png: skipped, a link to nowhere.png, which does not exist",
    ]


def test_save_npy_leaves_no_temporary_files(tmp_path):
    save_npy(tmp_path / "x" / "d.npy", np.ones((2, 2), np.float32))
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["d.npy"]


def test_a_file_is_durable_before_it_is_renamed_and_its_folder_after(tmp_path, monkeypatch):
    events = []
    real_replace = os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", str(b))) or real_replace(a, b))
    save_npy(tmp_path / "d.npy", np.ones(3))
    temp = events[0][1]
    assert Path(temp).name.startswith(".d.npy.") and temp.endswith(".tmp")
    assert events[1:] == [("replace", str(tmp_path / "d.npy")), ("fsync", str(tmp_path))]


def test_temporary_files_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    host = socket.gethostname().replace(".", "-")
    dead = finished_pid()
    names = {
        "dead": f"sub/.a.png.{host}.{dead}.00ff00ff.tmp",
        "live": f".b.png.{host}.{os.getpid()}.00ff00ff.tmp",
        "other host": f".c.png.elsewhere.{dead}.00ff00ff.tmp",
        "not ours": ".notes.tmp",
    }
    for name in names.values():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert remove_stale_temp_files(tmp_path) == [tmp_path / names["dead"]]
    assert sorted(p.name for p in tmp_path.rglob(".*.tmp")) == sorted(
        Path(names[k]).name for k in ("live", "other host", "not ours")
    )
