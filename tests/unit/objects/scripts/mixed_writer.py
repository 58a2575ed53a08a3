"""Writes small and large objects into shared disks and index, for the two-process test."""
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
from support import body, open_layer, payload  # noqa: E402


def size_of(i: int) -> int:
    return [100, 5000, 150_000, 1_100_000, 3_000_000][i % 5]


async def main(root: str, name: str, count: int):
    layer = open_layer(root, k=4, m=2)
    try:
        sem = asyncio.Semaphore(8)

        async def put(i):
            async with sem:
                key = f"{name}/{i:04d}"
                await layer.put_object("shared", key, body(payload(size_of(i), seed=int(name[1:]) * 100_000 + i)))
                if i % 7 == 0:   # both processes also fight over shared keys
                    await layer.put_object("shared", f"contested/{i % 21}", body(payload(size_of(i), seed=i)))
        await asyncio.gather(*(put(i) for i in range(count)))
    finally:
        await layer.close()

if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
