"""A writer for the crash test: random large/small PUTs, overwrites and deletes, logging
each op's start and its acknowledgement (fsync'd) so the checker knows what was promised."""
import asyncio
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
from support import body, open_layer, payload  # noqa: E402

KEYS = [f"key{i:02d}" for i in range(24)]


def seed(key: str, gen: int) -> int:
    return int(key[3:]) * 1_000_000 + gen


def size_for(gen: int) -> int:
    rng = random.Random(gen)
    return rng.choice([0, 10, 4000, 100_000, 300_000, 1_200_000, 2_500_000])


async def main(root: str, round_no: int):
    log = open(os.path.join(root, "ops.log"), "a")

    def note(line):
        log.write(line + "\n")
        log.flush()
        os.fsync(log.fileno())

    layer = open_layer(root, k=4, m=2)
    if layer.bucket("crash") is None:
        await layer.make_bucket("crash", "o")
    counter = [round_no * 100_000]
    note(f"READY {round_no}")

    async def worker(w):
        rng = random.Random(round_no * 10 + w)
        mine = KEYS[w::4]     # one writer per key: its history is sequential and checkable
        while True:
            key = rng.choice(mine)
            counter[0] += 1
            gen = counter[0]
            if rng.random() < 0.2:
                note(f"BEGIN DEL {key} {gen}")
                await layer.delete_object("crash", key)
                note(f"ACK DEL {key} {gen}")
            else:
                note(f"BEGIN PUT {key} {gen}")
                await layer.put_object("crash", key, body(payload(size_for(gen), seed(key, gen))))
                note(f"ACK PUT {key} {gen}")

    await asyncio.gather(*(worker(w) for w in range(4)))

if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
