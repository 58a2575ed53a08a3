"""Starting and driving a real s3free server (Granian, 2 workers, 9 disk folders, 6+3) in tests.

Two servers per session: plain HTTP and HTTPS (a self-signed certificate made here with
the openssl CLI). Both are started with `s3free server`, exactly as users start it, and
killed at the end. Tests get a `Server` with the endpoint, credentials and client makers.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BIN = Path(sys.executable).parent
ROOT_USER, ROOT_PASSWORD = "rootadmin", "rootsecret-123456"
OTHER_USER, OTHER_SECRET = "otheruser", "othersecret-123456"
DOMAIN = "s3.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    endpoint: str
    port: int
    process: subprocess.Popen
    data: Path
    ca: str | None = None
    log: Path | None = None
    env: dict = field(default_factory=dict)

    @property
    def verify(self):
        return self.ca if self.ca else None

    def client(self, access: str = ROOT_USER, secret: str = ROOT_PASSWORD, virtual: bool = False, **config):
        import boto3
        from botocore.config import Config
        cfg = Config(s3={"addressing_style": "virtual" if virtual else "path"}, retries={"total_max_attempts": 1},
                     **config)
        endpoint = f"{urlsplit(self.endpoint).scheme}://{DOMAIN}:{self.port}" if virtual else self.endpoint
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                              region_name="us-east-1", config=cfg, verify=self.verify)
        if virtual:  # no DNS for <bucket>.s3.test: connect to loopback, keep the Host header
            def redirect(request, **_):
                parts = urlsplit(request.url)
                request.headers["Host"] = parts.netloc
                request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))
            client.meta.events.register("before-send.s3", redirect)
        return client

    def worker_pids(self) -> list[int]:
        pid = self.process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def rss_kib(self) -> dict[int, int]:
        out = {}
        for pid in [self.process.pid] + self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[pid] = int(line.split()[1])
        return out


def _make_cert(directory: Path) -> tuple[str, str]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:s3.test,DNS:*.s3.test"],
                   check=True, capture_output=True)
    return str(cert), str(key)


def start_server(base: Path, tls: bool = False, extra_args: tuple = (), extra_env: dict | None = None,
                 disks: int = 9) -> Server:
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3FREE_", "AWS_"))}
    env.update(S3FREE_ROOT_USER=ROOT_USER, S3FREE_ROOT_PASSWORD=ROOT_PASSWORD,
               S3FREE_USERS=f"{OTHER_USER}:{OTHER_SECRET}", S3FREE_DOMAIN=DOMAIN)
    env.update(extra_env or {})
    args = [str(BIN / "s3free"), "server", str(base / f"disk{{1...{disks}}}"), "--address", f"127.0.0.1:{port}",
            "--workers", "2", "--ec", "6+3", "--meta-dir", str(base / "meta"), *extra_args]
    ca = None
    if tls:
        ca, key = _make_cert(base)
        args += ["--tls-cert", ca, "--tls-key", key]
    log = base / "server.log"
    proc = subprocess.Popen(args, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    scheme = "https" if tls else "http"
    server = Server(f"{scheme}://127.0.0.1:{port}", port, proc, base, ca, log, env)
    ctx = ssl.create_default_context(cafile=ca) if tls else None
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.endpoint}/_s3free/health/ready", timeout=2, context=ctx) as r:
                if r.status == 200 and len(server.worker_pids()) == 2:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"server did not become ready: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    # both workers must be serving (each opens the layer in its own lifespan)
    time.sleep(0.5)
    return server


def stop_server(server: Server) -> None:
    proc = server.process
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: the server and its workers
            proc.wait(timeout=5)


def empty_and_delete(s3, name: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    for up in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
    s3.delete_bucket(Bucket=name)


class PatternStream:
    """A deterministic byte stream of `size` bytes generated lazily (no big buffers in tests)."""

    def __init__(self, size: int, seed: int = 0, block: int = 1 << 20):
        self.size, self.pos, self.block = size, 0, block
        self._unit = bytes((seed * 131 + i * 7) % 251 for i in range(block + 251))

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.pos
        n = left if n is None or n < 0 else min(n, left)
        out = bytearray()
        while len(out) < n:
            off = self.pos % 251
            take = min(n - len(out), self.block)
            out += self._unit[off:off + take]
            self.pos += take
        return bytes(out)


def pattern_digest(size: int, seed: int = 0) -> tuple[str, str]:
    """(md5 hex, sha256 hex) of PatternStream(size, seed)."""
    import hashlib
    md5, sha = hashlib.md5(), hashlib.sha256()
    stream = PatternStream(size, seed)
    while chunk := stream.read(8 << 20):
        md5.update(chunk)
        sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def aws_cli(server: Server, *args: str, tmp: Path, check: bool = True, access=ROOT_USER, secret=ROOT_PASSWORD):
    """Run the AWS CLI (the one installed beside this Python) against `server`."""
    cfg = tmp / "aws-config"
    # AWS CLI v1 presigns with SigV2 unless told otherwise; s3free serves SigV4 only
    cfg.write_text("[default]\nregion = us-east-1\n")   # defaults: `aws s3 presign` signs SigV2
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(cfg), AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-credentials"),
               AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret)
    if server.ca:
        env["AWS_CA_BUNDLE"] = server.ca
    cmd = [str(BIN / "aws"), "--endpoint-url", server.endpoint, *args]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def sign(method: str, url: str, headers: dict, payload_hash: str, access=ROOT_USER, secret=ROOT_PASSWORD,
         when: float | None = None) -> dict:
    """SigV4 headers for a hand-made request (for what no client sends: skewed clocks,
    missing lengths, signed aws-chunked bodies). Returns the headers to send, and
    '_seed' (the signature) and '_key'/'_scope'/'_date' for chunk signing."""
    import datetime
    import hashlib
    import hmac
    from urllib.parse import quote
    parts = urlsplit(url)
    t = datetime.datetime.fromtimestamp(time.time() if when is None else when, datetime.timezone.utc)
    amz_date, day = t.strftime("%Y%m%dT%H%M%SZ"), t.strftime("%Y%m%d")
    hdrs = {k.lower(): str(v) for k, v in headers.items()}
    hdrs.update({"host": parts.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash})
    names = sorted(hdrs)
    query = "&".join(sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                            for k, _, v in (p.partition("=") for p in parts.query.split("&") if p)))
    canonical = "\n".join([method, quote(parts.path or "/", safe="/-_.~%"), query,
                           "".join(f"{n}:{hdrs[n].strip()}\n" for n in names), ";".join(names), payload_hash])
    scope = f"{day}/us-east-1/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    hdrs["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={';'.join(names)}, "
                             f"Signature={signature}")
    hdrs.update(_seed=signature, _key=key, _scope=scope, _date=amz_date)
    return hdrs


def signed_chunks(chunks: list[bytes], signing: dict) -> bytes:
    """An aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) with chained chunk signatures."""
    import hashlib
    import hmac
    empty = hashlib.sha256(b"").hexdigest()
    prev, out = signing["_seed"], bytearray()
    for chunk in list(chunks) + [b""]:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", signing["_date"], signing["_scope"], prev, empty,
                             hashlib.sha256(chunk).hexdigest()])
        prev = hmac.new(signing["_key"], to_sign.encode(), hashlib.sha256).hexdigest()
        out += f"{len(chunk):x};chunk-signature={prev}\r\n".encode() + chunk + b"\r\n"
    return bytes(out)


def raw_request(server: Server, method: str, path: str, headers: dict, body: bytes = b"",
                close_after: int | None = None) -> tuple[int, dict, bytes]:
    """Send one HTTP/1.1 request over a raw socket (headers exactly as given; `close_after`
    sends only that many body bytes and hangs up). Returns (status, headers, body)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    if server.ca:
        ctx = ssl.create_default_context(cafile=server.ca)
        sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if not k.startswith("_")) + "\r\n"
    sock.sendall(head.encode("latin-1"))
    if close_after is not None:
        sock.sendall(body[:close_after])
        time.sleep(0.2)
        sock.close()
        return 0, {}, b""
    sock.sendall(body)
    data = bytearray()
    while True:
        try:
            piece = sock.recv(65536)
        except (TimeoutError, ssl.SSLError, OSError):
            break
        if not piece:
            break
        data += piece
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            lines = data[:head_end].decode("latin-1").split("\r\n")
            got = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            length = int(got.get("content-length", "0"))
            if len(data) - head_end - 4 >= length:
                sock.close()
                return int(lines[0].split()[1]), got, bytes(data[head_end + 4:head_end + 4 + length])
    sock.close()
    raise AssertionError(f"no complete response: {bytes(data[:300])!r}")


class Helpers:
    """The kit as one object, for tests that take it as the `h` fixture."""
    PatternStream = PatternStream
    pattern_digest = staticmethod(pattern_digest)
    aws_cli = staticmethod(aws_cli)
    empty_and_delete = staticmethod(empty_and_delete)
    start_server = staticmethod(start_server)
    stop_server = staticmethod(stop_server)
    sign = staticmethod(sign)
    signed_chunks = staticmethod(signed_chunks)
    raw_request = staticmethod(raw_request)
    ROOT_USER, ROOT_PASSWORD, OTHER_USER, OTHER_SECRET = ROOT_USER, ROOT_PASSWORD, OTHER_USER, OTHER_SECRET


def wait_for(predicate, timeout: float, what: str):
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
