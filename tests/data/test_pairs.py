import json
from collections import Counter

import numpy as np
import pytest

from depthforge.config import AugmentConfig, DataConfig, DataSource, GeometryConfig
from depthforge.data import pairs
from depthforge.data.pairs import PairError, PairStream, PositionSampler, collect_pairs
from depthforge.io import read_rgb
from tests.conftest import NO_COLOUR, make_dataset


@pytest.fixture
def two_sets(tiny_models, tmp_path):
    return (
        make_dataset(tmp_path / "a", tiny_models["depth-anything"]),
        make_dataset(tmp_path / "b", tiny_models["depth-anything"], count=2),
    )


def conditions(groups):
    return Counter(entry.condition for group in groups for entry in group)


def test_filters_on_condition_and_consistency(two_sets):
    first, _ = two_sets
    groups, _ = collect_pairs(DataConfig(sources=[DataSource(path=first.root)]))
    assert conditions(groups) == {"easy": 3, "fog": 3, "night": 3}
    groups, _ = collect_pairs(DataConfig(sources=[DataSource(path=first.root)], conditions=["night"]))
    assert conditions(groups) == {"easy": 3, "night": 3}
    # Give one sample a bad score: the consistency filter leaves it out.
    part = next(first.manifest.glob("generate-*.jsonl"))
    rows = [json.loads(line) for line in part.read_text().splitlines()]
    rows[0]["inconsistency"] = 0.9
    part.write_text("".join(json.dumps(row) + "\n" for row in rows))
    groups, _ = collect_pairs(DataConfig(sources=[DataSource(path=first.root)], max_inconsistency=0.5))
    assert sum(conditions(groups).values()) == 8


def test_mixing_follows_weights_and_easy_fraction(two_sets):
    first, second = two_sets
    config = DataConfig(
        sources=[DataSource(path=first.root, weight=3), DataSource(path=second.root, weight=1)],
        easy_fraction=0.25,
    )
    groups, probabilities = collect_pairs(config)
    np.testing.assert_allclose(probabilities, [0.75 * 0.25, 0.75 * 0.75, 0.25 * 0.25, 0.25 * 0.75])
    stream = PairStream(groups, probabilities, GeometryConfig(size=32), AugmentConfig(**NO_COLOUR), seed=0)
    picks = Counter(
        ("a" if "/a/" in str(e.image) else "b", e.condition == "easy")
        for e in (stream.entry(np.random.default_rng([0, p])) for p in range(4000))
    )
    assert abs(picks[("a", True)] / 4000 - 0.1875) < 0.03
    assert abs(picks[("b", False)] / 4000 - 0.1875) < 0.03


def test_stream_is_a_function_of_seed_and_position(distill_set):
    groups, probabilities = collect_pairs(DataConfig(sources=[DataSource(path=distill_set.root)]))
    stream = PairStream(groups, probabilities, GeometryConfig(size=32), AugmentConfig(**NO_COLOUR), seed=5)
    a, b = stream[17], stream[17]
    assert all(np.array_equal(a[k], b[k]) for k in ("image", "label", "mask"))
    assert not np.array_equal(stream[18]["image"], a["image"]) or not np.array_equal(
        stream[19]["image"], a["image"]
    )


@pytest.mark.parametrize(("world", "accumulation"), [(1, 1), (2, 1), (2, 2), (1, 4)])
def test_positions_cover_each_step_exactly_once(world, accumulation):
    ranks = [list(PositionSampler(3, 6, 8, accumulation, rank, world)) for rank in range(world)]
    assert sorted(p for positions in ranks for p in positions) == list(range(24, 48))


def test_batch_must_split_over_processes():
    with pytest.raises(ValueError, match="multiple of processes x accumulation"):
        PositionSampler(0, 1, 6, 4, 0, 1)


def break_rows(dataset) -> dict[str, str]:
    """Break one row in each way a training row can be unusable; the expected line for each."""
    root = dataset.root
    (root / "hard" / "fog" / "e1-0.png").unlink()
    np.save(root / "labels" / "e2.npy", np.zeros((5, 5), np.float32))
    label = np.load(root / "labels" / "e0.npy")
    np.save(root / "labels" / "e0.npy", np.full_like(label, np.nan))
    (root / "hard" / "night" / "e1-0.png").write_bytes(
        (root / "hard" / "night" / "e1-0.png").read_bytes()[:200]
    )
    part = next(dataset.manifest.glob("generate-*.jsonl"))
    rows = [json.loads(line) for line in part.read_text().splitlines()]
    escaping = next(r for r in rows if r["easy_id"] == "e1" and r["condition"] == "fog")
    escaping["image"] = "../../../../etc/hostname"
    part.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return {
        "escaping": "'../../../../etc/hostname', outside the dataset; refused",
        "short": "e1-0.png: cannot read image",
        "size": "e2.npy: label is 5x5",
        "nan": "e0.npy: label finite on 0.0% of its pixels",
    }


def test_every_unusable_row_is_named_and_the_rest_train(distill_set, tmp_path, monkeypatch):
    with pytest.raises(PairError, match="nothing: no such dataset folder"):
        collect_pairs(DataConfig(sources=[DataSource(path=tmp_path / "nothing")]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PairError, match="empty: no usable training pairs"):
        collect_pairs(DataConfig(sources=[DataSource(path=tmp_path / "empty")]))
    expected = break_rows(distill_set)
    opened = []
    monkeypatch.setattr(pairs, "read_rgb", lambda path: opened.append(path) or read_rgb(path))
    lines: list[str] = []
    groups, _ = collect_pairs(DataConfig(sources=[DataSource(path=distill_set.root)]), lines.append)
    for kind, text in expected.items():
        assert sum(text in line for line in lines) >= 1, (kind, lines)
    # e0's and e2's labels are shared by their hard pairs: 3 rows each; the night e1 and the fog e1.
    assert lines[-1] == "8 of 9 training rows unusable: skipped, training on the rest"
    assert [e.image.name for g in groups for e in g] == ["e1.png"]
    assert opened and not any("hostname" in str(path) for path in opened)


def test_strict_refuses_after_naming_every_bad_row(distill_set):
    break_rows(distill_set)
    lines: list[str] = []
    config = DataConfig(sources=[DataSource(path=distill_set.root)], strict=True)
    with pytest.raises(PairError, match=r"8 of 9 training rows unusable: refused \(--strict\)"):
        collect_pairs(config, lines.append)
    assert len(lines) == 8


def test_a_region_mask_follows_its_image_through_the_augmentation(distill_set):
    from PIL import Image

    from depthforge.data.pairs import PairEntry, load_pair
    from depthforge.depth.spaces import DepthSpace

    easy = distill_set.labels()[0]
    root = distill_set.root
    image = np.asarray(Image.open(root / easy["image"])).copy()
    region = np.zeros(image.shape[:2], np.uint8)
    region[10:30, 5:25] = 255
    image[region > 0] = (255, 0, 255)  # the region's pixels are the only magenta ones
    Image.fromarray(image).save(root / "marked.png")
    Image.fromarray(region).save(root / "region.png")
    entry = PairEntry(
        root / "marked.png",
        root / easy["label"],
        DepthSpace.RELATIVE_INVERSE_DEPTH,
        "mirror",
        root / "marked.png",
        root / "region.png",
    )
    geometry = GeometryConfig(size=40)
    for seed in range(6):  # random crops and flips
        pair = load_pair(
            entry, geometry, AugmentConfig(**(NO_COLOUR | {"hflip": 0.5})), np.random.default_rng(seed)
        )
        magenta = (pair["image"][0] > 0.9) & (pair["image"][1] < 0.1) & (pair["image"][2] > 0.9)
        assert pair["region"].shape == (40, 40)
        inner = magenta & pair["region"]
        assert inner.sum() >= 0.8 * magenta.sum() and inner.sum() >= 0.8 * pair["region"].sum()
    plain = PairEntry(
        root / easy["image"],
        root / easy["label"],
        DepthSpace.RELATIVE_INVERSE_DEPTH,
        "easy",
        root / easy["image"],
    )
    assert not load_pair(plain, geometry)["region"].any()
