"""The victim of the refill crash test: refills a replaced disk in small steps and
SIGKILLs itself at the n-th passage through a chosen point (`span`: between span
writes; `dirsync`: after renames, before the step's directory sync and cursor save;
`segment`: while a segment is rebuilt into its temp file)."""
import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
from support import open_layer  # noqa: E402
from s3free.heal import healer as H, repair, spans  # noqa: E402


def _die_on(owner, name: str, n: int) -> None:
    real = getattr(owner, name)
    seen = [0]

    async def wrapper(*args, **kwargs):
        seen[0] += 1
        if seen[0] >= n:
            os.kill(os.getpid(), signal.SIGKILL)
        return await real(*args, **kwargs)
    setattr(owner, name, wrapper)


async def main(root: str, where: str, n: int, slot: int) -> None:
    layer = open_layer(root, k=4, m=2)
    healer = H.Healer(layer, rate=0)
    healer.check_disks()                     # formats the empty replacement, starts its refill
    assert slot in H.refill_jobs(layer.index)
    if where == "span":
        _die_on(spans.SpanRebuild, "_rebuild_span", n)
    elif where == "segment":
        _die_on(repair, "_read_window", n)
    else:
        _die_on(H, "fsync_dirs", n)
    while not await healer.refill_step(slot, budget=3):
        pass
    print("refill finished before the kill point", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
