"""PUT then GET a large streamed object and report peak RSS growth (in a fresh process)."""
import asyncio
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
from support import open_layer, pattern_body, pattern_md5  # noqa: E402


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


async def main(root: str, size: int):
    layer = open_layer(root)
    await layer.make_bucket("mem", "o")
    await layer.put_object("mem", "warm", pattern_body(8 << 20))       # warm pools and threads
    _, s = await layer.get_object("mem", "warm")
    async for _ in s:
        pass
    base = rss_kib("VmRSS")
    info = await layer.put_object("mem", "big", pattern_body(size))
    put_peak = rss_kib("VmHWM")
    md5 = hashlib.md5()
    _, stream = await layer.get_object("mem", "big")
    async for c in stream:
        md5.update(c)
    peak = rss_kib("VmHWM")
    assert info.etag == md5.hexdigest() == pattern_md5(size), "round trip mismatch"
    await layer.close()
    print(f"base_kib={base} put_peak_kib={put_peak} peak_kib={peak}")

if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
