"""s3free.bench.workloads: the object pool, the mix parser, payload slices, sizes, keys."""
from __future__ import annotations

import pytest

from s3free.bench.stats import OpStats
from s3free.bench.workloads import MIX_DEFAULT, WORKLOADS, Context, Payloads, Pool, Sizer, parse_mix


def test_parse_mix():
    assert parse_mix("get=45,put=15,delete=10,stat=30") == MIX_DEFAULT
    assert parse_mix(" GET=1 , stat=0 ") == {"get": 1}
    for bad in ("get", "get=x", "copy=3", "", "get=0"):
        with pytest.raises(ValueError):
            parse_mix(bad)


def test_pool_never_deletes_a_key_being_read():
    pool = Pool()
    for i in range(4):
        pool.add(f"k{i}", i)
    reading = pool.pick()
    deleted = {pool.take_for_delete() for _ in range(40)} - {None}
    assert reading not in deleted and reading in pool.index
    pool.release(reading)
    assert not pool.busy
    while len(pool):
        assert pool.take_for_delete() is not None
    assert not pool.sizes and not pool.index


def test_pool_add_is_idempotent_and_index_stays_consistent():
    pool = Pool()
    for i in range(100):
        pool.add(f"k{i}", i)
    pool.add("k5", 55)
    assert len(pool) == 100 and pool.sizes["k5"] == 55
    for _ in range(60):
        pool.take_for_delete()
    assert len(pool) == 40 and all(pool.keys[i] == k for k, i in pool.index.items())


def test_payload_slices_are_views_of_one_buffer():
    p = Payloads(64 * 1024, seed=1)
    a, b = p.get(64 * 1024, 1), p.get(64 * 1024, 2)
    assert isinstance(a, memoryview) and len(a) == len(b) == 64 * 1024 and bytes(a) != bytes(b)
    assert a.obj is p.data
    assert Payloads(10, seed=3).data == Payloads(10, seed=3).data


def test_sizer_and_keys():
    s = Sizer(100, 200, seed=4)
    sizes = [s.next() for _ in range(500)]
    assert min(sizes) >= 100 and max(sizes) <= 200 and len(set(sizes)) > 50
    assert Sizer(7, 7).next() == 7
    ctx = Context("b", "pre/", Payloads(10), Sizer(1, 1), {"put": OpStats("put", 0.0)})
    keys = [ctx.new_key() for _ in range(1000)]
    assert len(set(keys)) == 1000 and all(k.startswith("pre/") for k in keys) and keys != sorted(keys)


def test_every_workload_reports_its_phases():
    for wl in WORKLOADS.values():
        assert {ph.name for ph in wl.phases} - {"mixed"} <= set(wl.stats)
