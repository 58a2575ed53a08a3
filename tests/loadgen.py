"""Client load for live-server tests: threads reading and writing objects of mixed sizes,
recording every failed request and every wrong byte."""
from __future__ import annotations

import hashlib
import random
import threading


class Load:
    """Clients reading and writing small and large objects until stopped; every failure
    and every wrong byte is recorded."""

    def __init__(self, server, bucket: str, threads: int = 4):
        self.server, self.bucket = server, bucket
        self.failures: list[str] = []
        self.objects: dict[str, str] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ops = 0
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def put(self, s3, key: str, size: int, rng) -> None:
        data = rng.randbytes(size)
        s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        with self.lock:
            self.objects[key] = hashlib.md5(data).hexdigest()

    def _run(self, n: int) -> None:
        s3 = self.server.client()
        rng = random.Random(n)
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                if rng.random() < 0.4 or not self.objects:
                    self.put(s3, f"w{n}/{i}", rng.choice([700, 20_000, 400_000, 1_500_000]), rng)
                else:
                    with self.lock:
                        key, md5 = rng.choice(list(self.objects.items()))
                    body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                    if hashlib.md5(body).hexdigest() != md5:
                        self.failures.append(f"wrong bytes for {key}")
                self.ops += 1
            except Exception as exc:    # any failed request is a test failure
                self.failures.append(f"{type(exc).__name__}: {exc}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
