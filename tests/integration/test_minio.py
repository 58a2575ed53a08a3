"""The minio Python client against the real server."""
from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import ssl

import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

MiB = 1 << 20


def client(server, h):
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=server.ca) if server.ca else None
    return Minio(f"127.0.0.1:{server.port}", access_key=h.ROOT_USER, secret_key=h.ROOT_PASSWORD,
                 secure=bool(server.ca), region="us-east-1", http_client=http)


def test_minio_round_trips(server, h, tmp_path):
    mc = client(server, h)
    bucket = f"minio-{os.urandom(4).hex()}"
    mc.make_bucket(bucket)
    try:
        assert mc.bucket_exists(bucket)
        small = os.urandom(1000)
        r = mc.put_object(bucket, "small", io.BytesIO(small), len(small))
        assert r.etag == hashlib.md5(small).hexdigest()
        resp = mc.get_object(bucket, "small")
        try:
            assert resp.read() == small
        finally:
            resp.close()
            resp.release_conn()
        big = os.urandom(12 * MiB + 5)  # multipart with 5 MiB parts, unknown length
        mc.put_object(bucket, "dir/big", io.BytesIO(big), -1, part_size=5 * MiB)
        stat = mc.stat_object(bucket, "dir/big")
        assert stat.size == len(big) and stat.etag.endswith("-3")
        path = tmp_path / "big"
        mc.fget_object(bucket, "dir/big", str(path))
        assert path.read_bytes() == big
        part = mc.get_object(bucket, "dir/big", offset=MiB, length=10)
        try:
            assert part.read() == big[MiB:MiB + 10]
        finally:
            part.close()
            part.release_conn()
        mc.copy_object(bucket, "dir/copy", CopySource(bucket, "small"))
        names = sorted(o.object_name for o in mc.list_objects(bucket, recursive=True))
        assert names == ["dir/big", "dir/copy", "small"]
        assert sorted(o.object_name for o in mc.list_objects(bucket)) == ["dir/", "small"]
        url = mc.presigned_get_object(bucket, "small")
        ctx = ssl.create_default_context(cafile=server.ca) if server.ca else None
        with urllib.request.urlopen(url, context=ctx, timeout=30) as r:
            assert r.read() == small
        errors = list(mc.remove_objects(bucket, [DeleteObject(n) for n in names]))
        assert errors == []
        assert list(mc.list_objects(bucket, recursive=True)) == []
        try:
            mc.stat_object(bucket, "small")
            raise AssertionError("object still there")
        except S3Error as e:
            assert e.code == "NoSuchKey"
    finally:
        for o in mc.list_objects(bucket, recursive=True):
            mc.remove_object(bucket, o.object_name)
        mc.remove_bucket(bucket)
