"""Delimiter listing cost does not grow with the keys under each common prefix.

Fills an index with a deep prefix tree (10 top-level prefixes, N keys under each, nested
three levels) and times a top-level `delimiter=/` listing for growing N: the listing seeks
past each common prefix instead of walking it. Prints a table and one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from s3free.meta.index import Index


def fill(index: Index, total: int) -> None:
    per_top = total // 10
    manifest = {"size": 1, "etag": "x", "mt": 0.0, "v": "null", "st": [0, 0]}
    keys = [f"top{t}/mid{i % 10}/leaf{i % 100}/obj{i:07d}" for t in range(10) for i in range(per_top)]
    for start in range(0, len(keys), 20_000):
        with index.write() as txn:
            for key in keys[start:start + 20_000]:
                index.put_object(txn, "bench", key, dict(manifest, k=key))


def time_listing(index: Index, repeats: int = 50) -> tuple[float, list[str]]:
    best = float("inf")
    prefixes: list[str] = []
    for _ in range(repeats):
        t = time.perf_counter()
        with index.read() as txn:
            page = index.list_objects(txn, "bench", "", "/", "", 1000)
        best = min(best, time.perf_counter() - t)
        prefixes = page.prefixes
    return best, prefixes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", default=os.getcwd())
    ap.add_argument("--sizes", default="1000,10000,100000")
    args = ap.parse_args(argv)
    out = {}
    for total in (int(s) for s in args.sizes.split(",")):
        root = tempfile.mkdtemp(prefix="s3free-list-", dir=args.dir)
        try:
            index = Index(root)
            fill(index, total)
            seconds, prefixes = time_listing(index)
            assert prefixes == [f"top{t}/" for t in range(10)], prefixes
            with index.read() as txn:
                t = time.perf_counter()
                index.list_objects(txn, "bench", "top3/", "", "", 1000)
                flat = time.perf_counter() - t
            index.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)
        out[f"delimiter_list_us_{total}"] = round(seconds * 1e6, 1)
        out[f"flat_page_1000_us_{total}"] = round(flat * 1e6, 1)
        print(f"{total:>8} keys: top-level delimiter listing {seconds * 1e6:8.1f} us; "
              f"1000-key page {flat * 1e6:8.1f} us")
    sizes = [int(s) for s in args.sizes.split(",")]
    out["delimiter_growth_ratio"] = round(out[f"delimiter_list_us_{sizes[-1]}"] /
                                          out[f"delimiter_list_us_{sizes[0]}"], 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
