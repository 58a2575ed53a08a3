"""Two processes writing into the same disks and index lose and corrupt nothing."""
import subprocess
import sys
from pathlib import Path

from support import open_layer, payload, read_all, run

SCRIPT = Path(__file__).parent / "scripts" / "mixed_writer.py"
COUNT = 150


def test_two_writer_processes(tmp_path):
    async def setup():
        layer = open_layer(tmp_path, k=4, m=2)
        await layer.make_bucket("shared", "o")
        await layer.close()
    run(setup())
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path), name, str(COUNT)],
                              stderr=subprocess.PIPE) for name in ("p1", "p2")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    sys.path.insert(0, str(SCRIPT.parent))
    from mixed_writer import size_of

    async def check():
        layer = open_layer(tmp_path, k=4, m=2)
        try:
            for name in ("p1", "p2"):
                for i in range(COUNT):
                    data = await read_all(layer, "shared", f"{name}/{i:04d}")
                    assert data == payload(size_of(i), seed=int(name[1:]) * 100_000 + i), (name, i)
            contested = sorted({i % 21 for i in range(0, COUNT, 7)})
            for j in contested:      # last writer wins: some process's complete version
                key = f"contested/{j}"
                data = await read_all(layer, "shared", key)
                assert any(data == payload(size_of(i), seed=i) for i in range(0, COUNT, 7) if i % 21 == j), key
            objs, _, _, _ = layer.list_objects("shared", max_keys=1000)
            assert len(objs) == 2 * COUNT + len(contested)
            with layer.index.read() as txn:
                segs = [k.decode().split("-")[0] for k, _ in layer.index.items(txn, "segments")]
            assert len(set(segs)) >= 3, "each process appends to its own segments"
        finally:
            await layer.close()
    run(check())
