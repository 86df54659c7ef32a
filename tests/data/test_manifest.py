import json

import pytest

from depthforge.data.manifest import ManifestWriter, part_path, read_part, read_rows
from depthforge.jobs import Shard


def test_a_line_cut_by_a_kill_is_ignored_then_cut_off(tmp_path):
    path = part_path(tmp_path, "generate", 0, 1)
    with ManifestWriter(path) as writer:
        writer.append([{"id": "a"}, {"id": "b"}])
    with path.open("a") as file:
        file.write('{"id": "c", "half')  # what a kill mid-write leaves
    assert [row["id"] for row in read_part(path)] == ["a", "b"]
    with ManifestWriter(path) as writer:
        writer.append([{"id": "c"}])
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "b", "c"]


def test_rows_of_all_parts_merge_sorted_without_duplicates(tmp_path):
    with ManifestWriter(part_path(tmp_path, "generate", 1, 2)) as writer:
        writer.append([{"id": "b", "n": 1}, {"id": "a", "n": 1}])
    with ManifestWriter(part_path(tmp_path, "generate", 0, 1)) as writer:
        writer.append([{"id": "b", "n": 2}, {"id": "c", "n": 2}])
    with ManifestWriter(part_path(tmp_path, "label", 0, 1)) as writer:
        writer.append([{"id": "z"}])
    with ManifestWriter(part_path(tmp_path, "generate-objects", 0, 1)) as writer:
        writer.append([{"id": "y"}])  # another stage whose name starts with this one's
    rows = read_rows(tmp_path, "generate")
    assert [row["id"] for row in rows] == ["a", "b", "c"]
    assert len(read_rows(tmp_path, "label")) == 1


def test_shards_partition_the_items():
    items = list(range(10))
    parts = [Shard(i, 3).take(items) for i in range(3)]
    assert sorted(item for part in parts for item in part) == items
    assert Shard.parse("1/3") == Shard(1, 3)
    assert Shard(1, 2).within(1, 2) == Shard(3, 4)
    for bad in ["3/3", "x", "1/0", "-1/2"]:
        with pytest.raises(ValueError, match="shard"):
            Shard.parse(bad)
