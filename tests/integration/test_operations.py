"""Operator experience against real servers: metrics summed over 2 workers, SIGHUP reload,
every CLI subcommand (but bench) with its output, readiness flips, and the quickstart."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from serverkit import start_server, stop_server, wait_for

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
FAST = {"S3FREE_DISK_CHECK_INTERVAL": "0.3", "S3FREE_HEAL_RATE_MB": "0"}


def get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:                  # not listening (yet)
        return 0, b""


def scrape(server, token: str = "") -> dict[tuple, float]:
    """{(name, ((label, value), ...)): value} of one scrape."""
    from prometheus_client.parser import text_string_to_metric_families
    status, body = get(f"{server.endpoint}/_s3free/metrics", {"Authorization": f"Bearer {token}"} if token else {})
    assert status == 200, body
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(samples: dict, name: str, **labels) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))


def cli(server, *args, layout=True, check=True, env=None) -> subprocess.CompletedProcess:
    extra = [str(server.data / "disk{1...9}"), "--ec", "6+3", "--meta-dir", str(server.data / "meta")] if layout else []
    proc = subprocess.run([str(BIN / "s3free"), *args, *extra], capture_output=True, text=True, timeout=300,
                          env={**server.env, **(env or {})})
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("ops"), extra_env={**FAST, "S3FREE_AUTO_REPLACE": "false"})
    yield server
    stop_server(server)


def test_metrics_summed_over_workers(ops_server):
    server = ops_server
    s3 = server.client()
    s3.create_bucket(Bucket="metrics-test")
    for i in range(6):
        s3.put_object(Bucket="metrics-test", Key=f"big{i}", Body=os.urandom(300_000))
    before = scrape(server)
    n = 40                                   # anonymous: a new connection each, spread over workers
    for _ in range(n):
        assert get(f"{server.endpoint}/metrics-test")[0] == 403

    def counted() -> float:
        return (total(scrape(server), "s3free_requests_total", api="ListObjects", status="403")
                - total(before, "s3free_requests_total", api="ListObjects", status="403"))
    # workers push their counts once a second (and the scraped one at once): exactly n soon
    deadline = time.monotonic() + 5
    while counted() < n and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counted() == n
    after = scrape(server)
    pids = {int(m.group(1)) for m in (re.match(r"counter_(\d+)\.db", f) for f in os.listdir(server.data / "meta" / "metrics")) if m}
    assert set(server.worker_pids()) <= pids      # both workers wrote counters; the scrape summed them
    assert total(after, "s3free_request_duration_seconds_count", api="PutObject") == 6
    assert total(after, "s3free_bytes_received_total") >= 6 * 300_000
    assert total(after, "s3free_bytes_sent_total") > 0
    # the scrape itself; the other worker's gauge may still show a scrape it answered
    # until its next push (at most a second later)
    deadline = time.monotonic() + 5
    while total(scrape(server), "s3free_inflight_requests") != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert total(scrape(server), "s3free_inflight_requests") == 1
    assert total(after, "s3free_disk_state", state="online") == 9 and total(after, "s3free_disks_online") == 9
    assert 0 < total(after, "s3free_disk_used_bytes", slot="1") <= total(after, "s3free_disk_total_bytes", slot="1")
    assert total(after, "s3free_io_engine_info") == 1 and total(after, "s3free_erasure_data_shards") == 6
    assert total(after, "s3free_lmdb_used_bytes") > 0 and 0 <= total(after, "s3free_segment_live_ratio") <= 1
    assert total(after, "s3free_heal_queue_depth") == 0 and total(after, "s3free_unrecoverable_objects") == 0
    # bitrot: corrupt every shard file on disks 1-3 (at most m=3 per object), read, then scrub
    for d in (1, 2, 3):
        for shard in (server.data / f"disk{d}" / "objects").rglob("*.bxl"):
            with open(shard, "r+b") as fh:
                fh.seek(4096 + 10)
                b = fh.read(1)
                fh.seek(4096 + 10)
                fh.write(bytes([b[0] ^ 1]))
    for i in range(6):
        assert len(s3.get_object(Bucket="metrics-test", Key=f"big{i}")["Body"].read()) == 300_000
    assert total(scrape(server), "s3free_bitrot_events_total") >= 1
    stats = json.loads(cli(server, "admin", "scrub", "--now", "--json").stdout)
    assert stats["unrecoverable"] == 0
    m = scrape(server)
    assert total(m, "s3free_scrub_last_pass_objects_checked") == stats["objects_checked"] >= 6
    assert total(m, "s3free_scrub_last_pass_shards_damaged") == stats["shards_damaged"]
    assert total(m, "s3free_scrub_last_pass_end_timestamp_seconds") > time.time() - 300
    assert total(m, "s3free_heal_shards_repaired_total") + total(m, "s3free_scrub_last_pass_shards_repaired") >= 1
    assert total(m, "s3free_scrub_running") == 0


def test_access_log_has_one_json_line_per_request(ops_server):
    server = ops_server
    s3 = server.client()
    s3.create_bucket(Bucket="access-log")
    s3.put_object(Bucket="access-log", Key="logged/ключ", Body=b"x" * 1234)
    assert s3.get_object(Bucket="access-log", Key="logged/ключ")["Body"].read() == b"x" * 1234
    with pytest.raises(Exception):
        s3.get_object(Bucket="access-log", Key="missing")
    lines = []
    deadline = time.monotonic() + 5
    while len(lines) < 3 and time.monotonic() < deadline:
        lines = [json.loads(line) for line in server.log.read_text(errors="replace").splitlines()
                 if line.startswith("{") and '"s3free.access"' in line and '"access-log"' in line]
        time.sleep(0.1)
    by_api = {(e["api"], e["key"]): e for e in lines}
    put, get = by_api[("PutObject", "logged/ключ")], by_api[("GetObject", "logged/ключ")]
    missing = by_api[("GetObject", "missing")]
    assert put["status"] == 200 and put["bytes_in"] == 1234 and put["method"] == "PUT"
    assert get["status"] == 200 and get["bytes_out"] == 1234 and get["user"] == server.env["S3FREE_ROOT_USER"]
    assert missing["status"] == 404 and missing["error"] == "NoSuchKey"
    for e in (put, get, missing):
        assert e["level"] == "info" and e["msg"] == "request" and e["pid"] in server.worker_pids()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"])
        assert e["request_id"] and e["duration_ms"] >= 0 and e["remote"] == "127.0.0.1"


def test_every_cli_subcommand(ops_server, tmp_path):
    server = ops_server
    s3 = server.client()
    s3.create_bucket(Bucket="cli-test")
    for i in range(5):
        s3.put_object(Bucket="cli-test", Key=f"small{i}", Body=b"x" * 100)
    s3.put_object(Bucket="cli-test", Key="big", Body=os.urandom(300_000))
    # --version and --help of every command (bench has its own tests)
    assert cli(server, "--version", layout=False).stdout.strip() == "s3free 0.1.0"
    for cmd in (["server"], ["admin"], ["admin", "info"], ["admin", "native"], ["admin", "rebuild-index"],
                ["admin", "gc"], ["admin", "compact"], ["admin", "scrub"], ["admin", "heal"],
                ["admin", "heal", "status"], ["disk"], ["disk", "list"], ["disk", "status"], ["disk", "replace"]):
        out = cli(server, *cmd, "--help", layout=False).stdout
        assert out.startswith(f"usage: s3free {' '.join(cmd)}") and "options:" in out
    # admin info, JSON and text
    info = json.loads(cli(server, "admin", "info", "--endpoint", server.endpoint, "--json", layout=False).stdout)
    for key in ("version", "endpoint", "metrics_url", "live_url", "ready_url", "io_engine", "ec", "disks"):
        assert info[key], key
    assert info["ec"] == "6+3" and info["ready"] and info["metrics_url"] == f"{server.endpoint}/_s3free/metrics"
    assert [d["slot"] for d in info["disks"]] == list(range(1, 10))
    assert all(d["state"] == "online" and d["used_bytes"] > 0 and d["total_bytes"] > 0 for d in info["disks"])
    text = cli(server, "admin", "info", "--endpoint", server.endpoint, layout=False).stdout
    assert f"at {server.endpoint}: ready" in text and "ec:          6+3" in text and "9/9 online" in text
    native = json.loads(cli(server, "admin", "native", "--json", layout=False).stdout)
    assert native["io_engine"] in ("io_uring", "threadpool")
    # disks
    rows = json.loads(cli(server, "disk", "list", "--json").stdout)["disks"]
    assert [r["state"] for r in rows] == ["online"] * 9
    rows = json.loads(cli(server, "disk", "status", "--json").stdout)["disks"]
    assert all(r["shard_files"] >= 1 and r["total_bytes"] > 0 for r in rows)
    assert len(cli(server, "disk", "status").stdout.splitlines()) == 9
    # scrub: the last pass, then one now (through the server), with progress lines on stderr
    proc = cli(server, "admin", "scrub", "--now")
    assert "scrub pass" in proc.stdout and "objects_checked: " in proc.stdout and "scrubbing objects" in proc.stderr
    last = json.loads(cli(server, "admin", "scrub", "--json").stdout)
    assert last["objects_checked"] >= 6 and last["finished"] >= last["started"]
    # heal status, once and watched (plain lines off a terminal)
    status = json.loads(cli(server, "admin", "heal", "status", "--json").stdout)
    assert status["queue_depth"] == 0 and status["unrecoverable"] == []
    watch = cli(server, "admin", "heal", "status", "--watch", "--count", "2", "--interval", "0.2").stdout
    lines = watch.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("heal: queue 0") and "shards/s" in line for line in lines)
    gc = json.loads(cli(server, "admin", "gc", "--json").stdout)
    assert gc["scanned_files"] >= 1
    compact = json.loads(cli(server, "admin", "compact", "--json").stdout)
    assert "segments_compacted" in compact
    # replace a lost disk: take slot 9 away, put an empty folder there, replace it
    os.rename(server.data / "disk9", tmp_path / "lost9")
    wait_for(lambda: json.loads(get(f"{server.endpoint}/_s3free/health/ready")[1])["degraded"], 30, "slot 9 offline")
    (server.data / "disk9").mkdir()
    rep = json.loads(cli(server, "disk", "replace", "--slot", "9", "--json").stdout)
    assert rep == {"slot": 9, "path": str(server.data / "disk9")}
    wait_for(lambda: not json.loads(cli(server, "admin", "heal", "status", "--json").stdout)["refills"], 120, "refill")
    for i in range(5):
        assert s3.get_object(Bucket="cli-test", Key=f"small{i}")["Body"].read() == b"x" * 100
    # rebuild-index needs the server stopped: rebuild into a fresh index from the same disks
    stop_server(server)
    proc = subprocess.run([str(BIN / "s3free"), "admin", "rebuild-index", str(server.data / "disk{1...9}"), "--ec",
                           "6+3", "--meta-dir", str(tmp_path / "rebuilt"), "--json"], capture_output=True, text=True,
                          timeout=300, env=server.env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["objects"] >= 6 and "scanning segments" in proc.stderr


def test_readiness_flips_with_disks(tmp_path):
    server = start_server(tmp_path / "srv", extra_args=("--ec", "2+1"), extra_env=FAST, disks=3)
    ready = f"{server.endpoint}/_s3free/health/ready"
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="health")          # a bucket named like the health path segment
        s3.put_object(Bucket="health", Key="ready", Body=b"a bucket, not the endpoint")
        assert get(ready)[0] == 200
        moved = []
        for slot in (3, 2):
            os.rename(server.data / f"disk{slot}", tmp_path / f"away{slot}")
            moved.append(slot)
            if len(moved) == 1:    # 2 of 3 left: still ready, degraded
                wait_for(lambda: (lambda r: r[0] == 200 and json.loads(r[1])["degraded"])(get(ready)), 30, "degraded")
        # 1 of 3 left (< k=2): every worker says not ready
        wait_for(lambda: all(get(ready)[0] == 503 for _ in range(6)), 30, "not ready")
        body = json.loads(get(ready)[1])
        assert body["status"] == "unavailable" and body["disks_online"] == 1
        assert get(f"{server.endpoint}/_s3free/health/live")[0] == 200
        info = json.loads(cli(server, "admin", "info", "--endpoint", server.endpoint, "--json", layout=False).stdout)
        assert not info["ready"] and info["disks_online"] == 1
        for slot in moved:
            os.rename(tmp_path / f"away{slot}", server.data / f"disk{slot}")
        wait_for(lambda: all((lambda r: r[0] == 200 and not json.loads(r[1])["degraded"])(get(ready))
                         for _ in range(6)), 30, "ready again")
        assert s3.get_object(Bucket="health", Key="ready")["Body"].read() == b"a bucket, not the endpoint"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="health")["Contents"]] == ["ready"]
    finally:
        stop_server(server)


def test_sighup_reloads_runtime_settings(tmp_path):
    cfg = tmp_path / "s3free.yaml"
    cfg.write_text("log_level: info\nscrub_rate_mb: 10\nheal_rate_mb: 20\nscrub_interval: 500\n"
                   "metrics_token: sekrit-token\n")
    server = start_server(tmp_path / "srv", extra_args=("--config", str(cfg)),
                          extra_env={"S3FREE_SCRUB_INTERVAL": "1000"})       # env beats the file
    try:
        assert get(f"{server.endpoint}/_s3free/metrics")[0] == 401
        m = scrape(server, "sekrit-token")
        pids = {str(p) for p in server.worker_pids()}
        assert {dict(ls)["pid"] for (n, ls) in m if n == "s3free_scrub_rate_limit_bytes_per_second"} == pids
        assert total(m, "s3free_scrub_rate_limit_bytes_per_second") == 2 * 10 * 2**20
        assert total(m, "s3free_scrub_interval_seconds") == 2 * 1000
        # runtime-safe keys change; a bad value and a layout change are not taken
        cfg.write_text("log_level: debug\nscrub_rate_mb: 5\nheal_rate_mb: fast\nscrub_interval: 200\n"
                       "metrics_token: sekrit-token\nec: 4+2\n")
        os.kill(server.process.pid, signal.SIGHUP)

        def reloaded():
            now = {str(p) for p in server.worker_pids()}
            if len(now) != 2 or now & pids:
                return None
            try:
                m = scrape(server, "sekrit-token")
            except (AssertionError, OSError):
                return None
            live = {dict(ls)["pid"] for (n, ls) in m if n == "s3free_scrub_rate_limit_bytes_per_second"}
            return m if live == now else None
        m = wait_for(reloaded, 60, "both workers respawned with the new settings")
        assert total(m, "s3free_scrub_rate_limit_bytes_per_second") == 2 * 5 * 2**20
        assert total(m, "s3free_log_level_info", level="debug") == 2
        assert total(m, "s3free_heal_rate_limit_bytes_per_second") == 2 * 20 * 2**20   # kept
        assert total(m, "s3free_scrub_interval_seconds") == 2 * 1000                    # env still wins
        assert total(m, "s3free_erasure_data_shards") == 6
        log = server.log.read_text()
        assert "heal_rate_mb" in log and "keeping the value in force" in log
        s3 = server.client()
        s3.create_bucket(Bucket="after-reload")
        assert s3.list_objects_v2(Bucket="after-reload")["KeyCount"] == 0
    finally:
        stop_server(server)


def _quickstart_commands() -> list[str]:
    text = (ROOT / "docs" / "quickstart.md").read_text()
    block = text.split("<!-- quickstart-aws -->")[1].split("```sh")[1].split("```")[0]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("aws ")]


def test_readme_quickstart(tmp_path):
    """Acceptance 1: `./dev server` (the README's first command; data dir and port moved by
    environment so the test touches nothing outside tmp) prints endpoint and credentials,
    and the quickstart's aws commands work against it as written."""
    readme = (ROOT / "README.md").read_text()
    quick = (ROOT / "docs" / "quickstart.md").read_text()
    for text in (readme, quick):
        assert "./dev server" in text and "./dev test" in text
    if subprocess.run([str(ROOT / "dev"), "built"], cwd=ROOT).returncode != 0:
        pytest.skip("./dev would reinstall the shared .venv first; run ./dev env, then this test")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3FREE_", "AWS_"))}
    env.update(S3FREE_DATA_DIR=str(tmp_path / "s3free-data"), S3FREE_ADDRESS=f"127.0.0.1:{port}",
               S3FREE_WORKERS="2")
    log = tmp_path / "server.out"
    proc = subprocess.Popen([str(ROOT / "dev"), "server"], env=env, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(lambda: get(f"{endpoint}/_s3free/health/ready")[0] == 200 if proc.poll() is None else
             pytest.fail(log.read_text()), 90, "the server")
        out = log.read_text()
        assert f"endpoint:   {endpoint}" in out
        access = re.search(r"access key: (\S+)", out).group(1)
        secret = re.search(r"secret key: (\S+)", out).group(1)
        aws_env = {**env, "AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret,
                   "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                   "PATH": f"{BIN}:{os.environ['PATH']}"}
        if "AWS_DEFAULT_REGION=us-east-1" in quick:
            aws_env["AWS_DEFAULT_REGION"] = "us-east-1"
        commands = _quickstart_commands()
        assert [c.split()[4] for c in commands] == ["mb", "cp", "ls"]
        outputs = []
        for command in commands:
            command = command.replace("http://127.0.0.1:9000", endpoint)
            r = subprocess.run(command, shell=True, cwd=ROOT, env=aws_env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, (command, r.stderr)
            outputs.append(r.stdout)
        assert "make_bucket: my-bucket" in outputs[0] and "upload: ./README.md to s3://my-bucket/README.md" in outputs[1]
        assert "README.md" in outputs[2]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

