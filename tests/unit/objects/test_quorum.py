"""Write quorum: writes land while k+1 shards can be written (recorded for healing when
short of k+m), and fail cleanly — nothing visible — below it."""
import shutil

import pytest

from support import body, open_layer, payload, read_all, run
from s3free.objects import errors as E
from s3free.storage.shards import PartInfo


def test_degraded_writes_are_recorded_and_below_quorum_refused(tmp_path):
    async def main():
        layer = open_layer(tmp_path, k=4, m=2)     # quorum k+1 = 5 of 6
        try:
            await layer.make_bucket("q", "o")
            layer.disks.mark_offline(5, "test: pulled")
            shutil.rmtree(tmp_path / "disk6")
            big = payload(2_000_000, seed=1)
            small = payload(3000, seed=2)
            await layer.put_object("q", "big", body(big))
            await layer.put_object("q", "small", body(small))
            assert await read_all(layer, "q", "big") == big
            assert await read_all(layer, "q", "small") == small
            m = layer._manifest_of("q", "big")
            part = PartInfo.from_manifest(m["parts"][0])
            assert [part.placement[s] for s in part.missing] == [5]
            assert layer._manifest_of("q", "small")["deg"] == [5]
            with layer.index.read() as txn:
                queued = {k.decode(): v for k, v in layer.index.items(txn, "heal")}
            assert f"{part.data_id}.1" in queued and any(k.startswith("seg:") for k in queued)
            layer.disks.mark_offline(4, "test: pulled too")
            with pytest.raises(E.WriteQuorum):
                await layer.put_object("q", "big2", body(big))
            with pytest.raises(E.WriteQuorum):
                await layer.put_object("q", "small2", body(small))
            for key in ("big2", "small2"):
                with pytest.raises(E.NoSuchKey):
                    layer.head_object("q", key)
            assert await read_all(layer, "q", "big") == big      # still readable from k disks
        finally:
            await layer.close()
    run(main())
