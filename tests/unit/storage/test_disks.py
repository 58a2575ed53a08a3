"""The disk set refuses to mix disks: wrong order, another deployment, another layout."""
import json
import os
import shutil

import pytest

from s3free.storage.disks import DiskSet, DiskSetupError


def _paths(root, n=3):
    return [str(root / f"d{i}") for i in range(n)]


def test_formats_fresh_disks_and_reopens(tmp_path):
    a = DiskSet(_paths(tmp_path), 2, 1)
    b = DiskSet(_paths(tmp_path), 2, 1)
    assert a.deployment_id == b.deployment_id and b.online() == [0, 1, 2]
    fmt = json.loads((tmp_path / "d1" / ".s3free" / "format.json").read_text())
    assert fmt["index"] == 1 and fmt["k"] == 2 and fmt["m"] == 1


def test_refuses_swapped_order(tmp_path):
    DiskSet(_paths(tmp_path), 2, 1)
    p = _paths(tmp_path)
    with pytest.raises(DiskSetupError, match="slot 2 .* given as slot 1"):
        DiskSet([p[1], p[0], p[2]], 2, 1)


def test_refuses_foreign_deployment_and_layout(tmp_path):
    DiskSet(_paths(tmp_path / "x"), 2, 1)
    DiskSet(_paths(tmp_path / "y"), 2, 1)
    mixed = [str(tmp_path / "x" / "d0"), str(tmp_path / "y" / "d1"), str(tmp_path / "x" / "d2")]
    with pytest.raises(DiskSetupError, match="another deployment"):
        DiskSet(mixed, 2, 1)
    with pytest.raises(DiskSetupError, match="formatted for 2\\+1"):
        DiskSet(_paths(tmp_path / "x"), 1, 2)


def test_missing_disk_runs_degraded_until_below_k(tmp_path):
    DiskSet(_paths(tmp_path, 4), 2, 2)
    shutil.rmtree(tmp_path / "d3")
    ds = DiskSet(_paths(tmp_path, 4), 2, 2)
    assert ds.online() == [0, 1, 2] and ds.disks[3].state == "offline"
    os.mkdir(tmp_path / "d3")
    ds = DiskSet(_paths(tmp_path, 4), 2, 2)
    assert ds.disks[3].state == "unformatted"
    shutil.rmtree(tmp_path / "d2")
    shutil.rmtree(tmp_path / "d1")
    with pytest.raises(DiskSetupError, match="only 1 of 4 disks are usable"):
        DiskSet(_paths(tmp_path, 4), 2, 2)


def test_too_few_disks_and_non_empty_foreign_dir(tmp_path):
    with pytest.raises(DiskSetupError, match="needs at least 3 disks"):
        DiskSet(_paths(tmp_path, 2), 2, 1)
    for p in _paths(tmp_path):
        os.makedirs(p)
    (tmp_path / "d0" / "precious.txt").write_text("mine")
    with pytest.raises(DiskSetupError, match="not empty"):
        DiskSet(_paths(tmp_path), 2, 1)


def test_placement_uses_k_plus_m_distinct_disks(tmp_path):
    ds = DiskSet(_paths(tmp_path, 12), 6, 3)
    seen = set()
    for i in range(200):
        p = ds.placement(f"id{i}")
        assert len(p) == 9 and len(set(p)) == 9
        seen.update(p)
    assert seen == set(range(12))
