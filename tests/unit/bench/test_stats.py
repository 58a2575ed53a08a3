"""s3free.bench.stats: percentiles, summaries, the per-second series, autoterm, sizes."""
from __future__ import annotations

import random

import pytest

from s3free.bench.stats import (OpStats, human_size, is_stable, parse_size, parse_size_range, percentile,
                                summary_ms)


def test_percentile_interpolates_between_closest_ranks():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20, 30], 90) == pytest.approx(28.0)
    assert percentile([5], 99) == 5
    assert percentile([], 50) == 0.0
    assert percentile([3, 1, 2], 0) == 1 and percentile([3, 1, 2], 100) == 3


def test_percentile_matches_a_reference_on_random_data():
    rng = random.Random(7)
    data = [rng.expovariate(1.0) for _ in range(1001)]
    ordered = sorted(data)
    # 1001 values: the q-th percentile is exactly the element at rank 10*q
    for q in (1, 50, 90, 99):
        assert percentile(data, q) == pytest.approx(ordered[10 * q])
    assert percentile(data, 50) <= percentile(data, 90) <= percentile(data, 99)


def test_percentile_refuses_out_of_range():
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_in_milliseconds():
    s = summary_ms([0.001, 0.002, 0.003, 0.004])
    assert s == {"mean": 2.5, "p50": 2.5, "p90": 3.7, "p99": 3.97, "max": 4.0}
    assert summary_ms([]) == {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}


def test_opstats_counts_throughput_and_series():
    st = OpStats("get", origin=100.0)
    st.record(100.0, 100.5, 1 << 20, ttfb=0.1)
    st.record(100.5, 101.0, 1 << 20, ttfb=0.2)
    st.record(102.0, 102.5, 2 << 20)
    st.error(102.5, 102.6, "boom")
    d = st.to_dict()
    assert (d["ops"], d["errors"], d["bytes"]) == (3, 1, 4 << 20)
    assert d["seconds"] == pytest.approx(2.6)
    assert d["mbps"] == pytest.approx(4 / 2.6, rel=1e-3)
    assert d["ops_per_s"] == pytest.approx(3 / 2.6, rel=1e-3)
    assert d["latency_ms"]["p50"] == 500.0
    assert d["ttfb_ms"]["max"] == 200.0
    # seconds 0..2 since the origin, the empty second 1... is filled
    assert [(p["t"], p["ops"], p["mbps"]) for p in d["series"]] == [(0, 1, 1.0), (1, 1, 1.0), (2, 1, 2.0)]
    assert d["error_samples"] == ["boom"]


def test_is_stable_needs_enough_samples_within_the_band():
    assert not is_stable([100] * 6)
    assert is_stable([5, 50, 100, 100, 104, 97, 100, 96, 103])
    assert not is_stable([100, 100, 100, 100, 100, 100, 120])
    assert not is_stable([0] * 10)
    assert is_stable([10, 10, 11], samples=3, pct=10)


@pytest.mark.parametrize("text,value", [("4KiB", 4096), ("64MiB", 64 << 20), ("1MB", 10 ** 6), ("512", 512),
                                        ("1.5GiB", 3 << 29), ("2k", 2048), ("10 B", 10)])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "KiB", "4XB", "-1", "0.5B"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_size_ranges_and_names():
    assert parse_size_range("4KiB") == (4096, 4096)
    assert parse_size_range("1KiB-1MiB") == (1024, 1 << 20)
    with pytest.raises(ValueError):
        parse_size_range("1MiB-1KiB")
    assert human_size(64 << 20) == "64MiB" and human_size(4096) == "4KiB" and human_size(1000) == "1000B"
