"""`s3free bench` against a live s3free: every workload, briefly, through the CLI, with
its JSON checked (keys, types, sane values) and its clean-up checked from outside."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

OP_KEYS = {"ops": int, "errors": int, "bytes": int, "seconds": float, "ops_per_s": float, "mbps": float,
           "latency_ms": dict, "ttfb_ms": dict, "series": list, "error_samples": list}
TOP_KEYS = {"tool": str, "workload": str, "endpoint": str, "bucket": str, "prefix": str, "signing": str,
            "concurrency": int, "size_min": int, "size_max": int, "duration_limit_s": float, "count_limit": int,
            "autoterm": bool, "autoterm_stopped": list, "objects_prepared": int, "prepare_s": float,
            "ops": dict, "total": dict, "client": dict, "cleanup": dict}


def bench(server, *args: str, env_creds: bool = True, check: bool = True) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    cmd = [str(BIN / "s3free"), "bench", *args, "--endpoint", server.endpoint, "--json"]
    if env_creds:   # credentials from the environment, as with the AWS tools
        env.update(AWS_ACCESS_KEY_ID=server.env["S3FREE_ROOT_USER"],
                   AWS_SECRET_ACCESS_KEY=server.env["S3FREE_ROOT_PASSWORD"])
    else:
        cmd += ["--access-key", server.env["S3FREE_ROOT_USER"], "--secret-key", server.env["S3FREE_ROOT_PASSWORD"]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    assert proc.stdout.count("\n") == 1, proc.stdout   # one JSON document, nothing else on stdout
    return json.loads(proc.stdout)


def check_schema(result: dict, ops: tuple[str, ...]) -> None:
    for key, kind in TOP_KEYS.items():
        assert isinstance(result[key], (int, float) if kind is float else kind), key
    assert "UNSIGNED-PAYLOAD" in result["signing"]
    assert result["tool"] == "s3free bench"
    assert set(result["ops"]) == set(ops)
    for name in ops:
        st = result["ops"][name]
        for key, kind in OP_KEYS.items():
            assert isinstance(st[key], (int, float) if kind is float else kind), (name, key)
        assert st["ops"] > 0 and st["errors"] == 0, (name, st)
        lat = st["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], (name, lat)
        assert st["ops_per_s"] > 0 and st["seconds"] > 0
        assert all(set(p) == {"t", "ops", "mbps"} for p in st["series"]) and st["series"]
        assert sum(p["ops"] for p in st["series"]) == st["ops"]
    tot = result["total"]
    assert tot["errors"] == 0 and tot["ops"] > 0 and tot["ops_per_s"] > 0
    assert 0 <= result["client"]["cpu_pct"] and result["client"]["connections"] == result["concurrency"]


def check_cleaned(server, result: dict) -> None:
    """The JSON says nothing is left, and the server agrees."""
    c = result["cleanup"]
    assert c["enabled"] and c["remaining"] == 0 and "error" not in c, c
    s3 = server.client()
    if c["bucket_removed"]:
        assert result["bucket"] not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    else:
        assert s3.list_objects_v2(Bucket=result["bucket"], Prefix=result["prefix"]).get("KeyCount", 0) == 0


@pytest.fixture
def bucket_name():
    return f"bench-{uuid.uuid4().hex[:10]}"


def test_put(http_server, bucket_name):
    r = bench(http_server, "put", "--size", "4KiB", "--count", "60", "-c", "4", "--bucket", bucket_name)
    check_schema(r, ("put",))
    st = r["ops"]["put"]
    assert st["ops"] == 60 and st["bytes"] == 60 * 4096
    assert r["cleanup"]["deleted"] == 60
    check_cleaned(http_server, r)


def test_get_with_random_sizes(http_server, bucket_name):
    r = bench(http_server, "get", "--size", "1KiB-300KiB", "--count", "50", "-c", "4", "--objects", "20",
              "--bucket", bucket_name, env_creds=False)
    check_schema(r, ("get",))
    assert r["objects_prepared"] == 20 and r["size_min"] == 1024 and r["size_max"] == 300 * 1024
    assert 1024 * 50 <= r["ops"]["get"]["bytes"] <= 300 * 1024 * 50
    assert r["ops"]["get"]["ttfb_ms"]["p50"] <= r["ops"]["get"]["latency_ms"]["p50"]
    check_cleaned(http_server, r)


def test_mixed(http_server, bucket_name):
    r = bench(http_server, "mixed", "--size", "8KiB", "--count", "200", "-c", "8", "--objects", "40",
              "--mix", "get=40,put=20,delete=20,stat=20", "--bucket", bucket_name)
    check_schema(r, ("get", "put", "delete", "stat"))
    assert r["mix"] == {"get": 40, "put": 20, "delete": 20, "stat": 20}
    assert r["total"]["ops"] == 200
    check_cleaned(http_server, r)


def test_small(http_server, bucket_name):
    r = bench(http_server, "small", "--count", "100", "-c", "8", "--bucket", bucket_name)
    check_schema(r, ("put", "get"))
    assert r["size_min"] == r["size_max"] == 1024
    assert r["ops"]["put"]["ops"] == r["ops"]["get"]["ops"] == 100
    check_cleaned(http_server, r)


def test_list(http_server, bucket_name):
    r = bench(http_server, "list", "--objects", "1100", "--count", "4", "-c", "2", "--size", "1",
              "--bucket", bucket_name)
    check_schema(r, ("list",))
    assert r["objects_prepared"] == 1100 and r["ops"]["list"]["ops"] == 4   # each a 2-page listing, checked
    assert r["cleanup"]["deleted"] == 1100
    check_cleaned(http_server, r)


def test_multipart(http_server, bucket_name):
    r = bench(http_server, "multipart", "--size", "11MiB", "--part-size", "5MiB", "--count", "2", "-c", "2",
              "--bucket", bucket_name)
    check_schema(r, ("multipart", "part"))
    assert r["ops"]["multipart"]["ops"] == 2 and r["ops"]["part"]["ops"] == 6
    assert r["total"]["bytes"] == 2 * 11 * (1 << 20)
    check_cleaned(http_server, r)


def test_duration_autoterm_and_no_cleanup(http_server, bucket_name, h):
    r = bench(http_server, "put", "--size", "1KiB", "--duration", "3", "--autoterm", "-c", "2",
              "--no-cleanup", "--bucket", bucket_name, "--prefix", "kept/")
    check_schema(r, ("put",))
    assert r["cleanup"]["enabled"] is False and r["prefix"] == "kept/"
    assert r["ops"]["put"]["seconds"] <= 3.5
    s3 = http_server.client()
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket_name)
            for o in page.get("Contents", [])]
    assert len(keys) == r["ops"]["put"]["ops"] and all(k.startswith("kept/") for k in keys)
    h.empty_and_delete(s3, bucket_name)


def test_https_endpoint(https_server, bucket_name):
    r = bench(https_server, "small", "--count", "20", "-c", "2", "--insecure", "--bucket", bucket_name)
    check_schema(r, ("put", "get"))
    assert r["endpoint"].startswith("https://")
    check_cleaned(https_server, r)


def test_bad_credentials_fail_in_one_line(http_server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run([str(BIN / "s3free"), "bench", "put", "--endpoint", http_server.endpoint,
                           "--access-key", "nobody", "--secret-key", "wrong-secret", "--count", "1"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "InvalidAccessKeyId" in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2
