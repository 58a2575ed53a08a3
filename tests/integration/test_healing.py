"""Self-healing on a live server: a disk removed or made unwritable under load costs no
client request; health says degraded; a replacement is refilled to full redundancy
(checked on the disk files); the CLI runs a scrub through the server and shows healing."""
import errno
import hashlib
import json
import os
import random
import shutil
import subprocess
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from loadgen import Load
from serverkit import BIN, start_server, stop_server, wait_for
from support import disk_problems

HEAL_ENV = {"S3FREE_DISK_CHECK_INTERVAL": "0.3", "S3FREE_HEAL_RATE_MB": "0", "S3FREE_SCRUB_INTERVAL": "0"}


def _ready(server) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{server.endpoint}/_s3free/health/ready", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _cli(server, *args) -> dict:
    proc = subprocess.run([str(BIN / "s3free"), *args, str(server.data / "disk{1...9}"), "--ec", "6+3",
                           "--meta-dir", str(server.data / "meta"), "--json"], capture_output=True, text=True,
                          timeout=300, env=server.env)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check_full_redundancy(server) -> None:
    import asyncio
    from s3free.objects.layer import EngineConfig, ObjectLayer
    layer = ObjectLayer.open([str(server.data / f"disk{i}") for i in range(1, 10)], str(server.data / "meta"),
                             EngineConfig(k=6, m=3))
    try:
        assert disk_problems(layer) == []
    finally:
        asyncio.run(layer.close())


def _prefill(server, bucket: str, load: Load) -> None:
    s3 = server.client()
    s3.create_bucket(Bucket=bucket)
    rng = random.Random(99)
    for i in range(30):
        load.put(s3, f"pre/{i}", [900, 50_000, 2_000_000][i % 3], rng)


def test_disk_removed_under_load_then_replaced(tmp_path):
    server = start_server(tmp_path / "srv", extra_env=HEAL_ENV)
    try:
        load = Load(server, "load")
        _prefill(server, "load", load)
        with load:
            time.sleep(1.0)
            # the disk vanishes at once (as if pulled), then its contents are gone for good
            os.rename(server.data / "disk3", server.data / "disk3.pulled")
            shutil.rmtree(server.data / "disk3.pulled")
            status, body = wait_for(lambda: (lambda r: r if r[1]["degraded"] else None)(_ready(server)), 15,
                                 "health to report the lost disk")
            assert status == 200 and body["status"] == "ready"
            assert [d["slot"] for d in body["problem_disks"]] == [3]
            time.sleep(2.0)                               # keep serving while degraded
            os.mkdir(server.data / "disk3")               # an empty replacement: formatted and refilled
            wait_for(lambda: not _ready(server)[1]["degraded"], 120, "the replacement to be refilled")
            time.sleep(1.0)
        assert load.failures == [], load.failures[:5]
        assert load.ops > 50
        heal = wait_for(lambda: (lambda h: h if h["queue_depth"] == 0 and not h["refills"] else None)(
            _cli(server, "admin", "heal", "status")), 60, "the heal queue to drain")
        assert heal["shards_repaired"] > 0 and heal["unrecoverable"] == []
        disks = _cli(server, "disk", "status")["disks"]
        assert all(d["state"] == "online" for d in disks) and disks[2]["shard_files"] > 0
        _check_full_redundancy(server)
        s3 = server.client()
        for key, md5 in list(load.objects.items())[::7]:
            assert hashlib.md5(s3.get_object(Bucket="load", Key=key)["Body"].read()).hexdigest() == md5
    finally:
        stop_server(server)


@pytest.fixture
def tmpfs_disk(tmp_path):
    mnt = tmp_path / "srv" / "disk5"
    mnt.mkdir(parents=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs to fill a disk here: {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_made_unwritable_under_load(tmp_path, tmpfs_disk):
    server = start_server(tmp_path / "srv", extra_env=HEAL_ENV)
    try:
        load = Load(server, "readonly")
        _prefill(server, "readonly", load)
        with load:
            time.sleep(1.0)
            # the disk fills up: every write to it fails with ENOSPC (a read-only remount is
            # refused by the kernel while the server holds files open for writing)
            filler = tmpfs_disk / "filler"
            with open(filler, "wb") as fh:
                block = bytes(1 << 20)
                try:
                    while True:
                        fh.write(block)
                        fh.flush()
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
            _, body = wait_for(lambda: (lambda r: r if r[1]["degraded"] else None)(_ready(server)), 15,
                            "health to report the unwritable disk")
            assert [d["slot"] for d in body["problem_disks"]] == [5]
            time.sleep(2.0)
            os.unlink(filler)
            wait_for(lambda: not _ready(server)[1]["degraded"], 30, "the disk to come back")
        assert load.failures == [], load.failures[:5]
        # writes made while it was read-only were queued; the healer brings them back
        wait_for(lambda: _cli(server, "admin", "heal", "status")["queue_depth"] == 0, 60, "the heal queue to drain")
        _check_full_redundancy(server)
    finally:
        stop_server(server)


def test_scrub_through_a_running_server(tmp_path):
    server = start_server(tmp_path / "srv", extra_env=HEAL_ENV)
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="scrub")
        for i in range(20):
            s3.put_object(Bucket="scrub", Key=f"k{i}", Body=os.urandom([1000, 300_000][i % 2]))
        shard = next((server.data / "disk1" / "objects").rglob("*.bxl"))
        with open(shard, "r+b") as fh:           # latent bitrot nobody has read yet
            fh.seek(4096 + 10)
            b = fh.read(1)
            fh.seek(4096 + 10)
            fh.write(bytes([b[0] ^ 1]))
        # a completion refused by its precondition: its journal record is durable (the commit
        # refuses after the append), and the scrubber must not bring it back as a lost write
        uid = s3.create_multipart_upload(Bucket="scrub", Key="refused")["UploadId"]
        etag = s3.upload_part(Bucket="scrub", Key="refused", UploadId=uid, PartNumber=1, Body=b"p" * 300_000)["ETag"]
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(Bucket="scrub", Key="refused", UploadId=uid, IfMatch="*",
                                         MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert exc.value.response["Error"]["Code"] == "NoSuchKey"
        stats = _cli(server, "admin", "scrub", "--now")
        assert stats["objects_checked"] == 20 and stats["shards_damaged"] >= 1 and stats["shards_repaired"] >= 1
        assert stats["unrecoverable"] == 0 and stats["manifests_restored"] == 0
        with pytest.raises(ClientError):
            s3.head_object(Bucket="scrub", Key="refused")
        s3.abort_multipart_upload(Bucket="scrub", Key="refused", UploadId=uid)
        assert "Uploads" not in s3.list_multipart_uploads(Bucket="scrub")
        _check_full_redundancy(server)
    finally:
        stop_server(server)
