import numpy as np
from matplotlib import colormaps
from PIL import Image

from depthforge.depth.spaces import DepthSpace
from depthforge.evaluate.protocols import DEFAULT_METRIC_ALIGNMENTS, PROTOCOLS
from depthforge.evaluate.readers import GenericFolder
from depthforge.evaluate.run import write_figures
from depthforge.io import save_npy
from tests.evaluate.fixtures import write_generic


def test_figures_show_every_condition_with_an_absrel_scale_and_no_empty_panel(tmp_path):
    height, width = 96, 128
    root = write_generic(tmp_path / "bench", ("day", "night", "snow"), count=2, size=(height, width))
    reader = GenericFolder(root)
    refs = reader.refs()
    out, rng = tmp_path / "eval", np.random.default_rng(0)
    cached = {}
    for model in ("runs/teacher", "runs/student"):  # noisy relative inverse depth
        cached[model] = {}
        for ref in refs:
            path = f"predictions/{model}/{ref.id}.npy"
            save_npy(
                out / path,
                (rng.uniform(0.7, 1.3, (height, width)) / reader.read_depth(ref)).astype(np.float32),
            )
            cached[model][ref.id] = {"path": path, "space": DepthSpace.RELATIVE_INVERSE_DEPTH.value}
    protocol = PROTOCOLS["generic"].for_reader(reader, refs)
    written = write_figures(protocol, reader, refs, out, cached, 3, DEFAULT_METRIC_ALIGNMENTS)
    assert [p.relative_to(out / "figures").as_posix() for p in written] == [
        "day/s0.png",
        "night/s0.png",
        "snow/s0.png",
    ]
    grid = np.asarray(Image.open(written[0]).convert("RGB"))
    tiles = [
        grid[row : row + height, col : col + width]
        for row in range(0, grid.shape[0], height)
        for col in range(0, grid.shape[1], width)
    ]
    assert len(tiles) == 8
    assert all(len(np.unique(tile.reshape(-1, 3), axis=0)) > 50 for tile in tiles)  # pictures, not blanks
    scales = {tuple(colour) for colour in tiles[5].reshape(-1, 3)}  # below the ground truth
    ends = (colormaps["inferno"](np.array([0.0, 1.0]))[:, :3] * 255).round().astype(np.uint8)
    assert {tuple(colour) for colour in ends} <= scales  # the AbsRel colour bar, 0 to 0.5
