"""The AWS CLI (`aws s3 ...`, `aws s3api ...`, `aws s3 presign`) against the real server."""
from __future__ import annotations

import hashlib
import json
import os
import ssl
import urllib.request

MiB = 1 << 20


def test_cp_sync_ls_rm(server, bucket, h, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    files = {"a.txt": b"hello\n", "sub/b.bin": os.urandom(300_000), "big.bin": os.urandom(20 * MiB + 7)}
    for name, data in files.items():
        (src / name).write_bytes(data)
    aws = lambda *a, **kw: h.aws_cli(server, *a, tmp=tmp_path, **kw)  # noqa: E731
    aws("s3", "cp", str(src / "big.bin"), f"s3://{bucket}/single/big.bin")  # multipart (8 MiB parts)
    aws("s3", "sync", str(src), f"s3://{bucket}/tree")
    listing = aws("s3", "ls", "--recursive", f"s3://{bucket}/").stdout
    assert sorted(line.split()[-1] for line in listing.splitlines()) == sorted(
        ["single/big.bin", "tree/a.txt", "tree/big.bin", "tree/sub/b.bin"])
    top = aws("s3", "ls", f"s3://{bucket}/tree/").stdout
    assert "PRE sub/" in top and "a.txt" in top
    dst = tmp_path / "dst"
    aws("s3", "sync", f"s3://{bucket}/tree", str(dst))
    for name, data in files.items():
        assert (dst / name).read_bytes() == data
    aws("s3", "cp", f"s3://{bucket}/single/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == files["big.bin"]
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "single/big.bin").stdout)
    assert head["ContentLength"] == len(files["big.bin"]) and head["ETag"].endswith('-3"')
    md5s = [hashlib.md5(files["big.bin"][i:i + 8 * MiB]).digest() for i in range(0, len(files["big.bin"]), 8 * MiB)]
    assert head["ETag"] == f'"{hashlib.md5(b"".join(md5s)).hexdigest()}-3"'
    aws("s3api", "put-object", "--bucket", bucket, "--key", "api/x", "--body", str(src / "a.txt"))
    listed = json.loads(aws("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "api/").stdout)
    assert [o["Key"] for o in listed["Contents"]] == ["api/x"]
    url = aws("s3", "presign", f"s3://{bucket}/api/x", "--expires-in", "300").stdout.strip()
    ctx = ssl.create_default_context(cafile=server.ca) if server.ca else None
    with urllib.request.urlopen(url, context=ctx, timeout=30) as r:
        assert r.read() == b"hello\n"
    aws("s3", "rm", "--recursive", f"s3://{bucket}/")
    assert aws("s3", "ls", "--recursive", f"s3://{bucket}/", check=False).stdout.strip() == ""
    missing = aws("s3api", "get-object", "--bucket", bucket, "--key", "api/x", str(tmp_path / "o"), check=False)
    assert missing.returncode != 0 and "NoSuchKey" in missing.stderr
