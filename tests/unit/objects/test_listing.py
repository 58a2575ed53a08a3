"""Listing equals a reference model of S3's rules, including keys past LMDB's key limit."""
import asyncio

from hypothesis import given, settings, strategies as st

from support import body, open_layer, run

ALPHA = st.sampled_from(["a", "b", "/", "é", "z", "-", "~"])


def model(keys, prefix, delimiter, marker, max_keys):
    """S3's rules, the slow obvious way."""
    out_objs, out_pfx = [], []
    items = []
    for k in sorted(set(keys), key=lambda s: s.encode()):
        if not k.startswith(prefix):
            continue
        if delimiter:
            i = k.find(delimiter, len(prefix))
            if i >= 0:
                cp = k[:i + len(delimiter)]
                if not items or items[-1] != ("p", cp):
                    items.append(("p", cp))
                continue
        items.append(("o", k))
    items = [it for it in items if it[1].encode() > marker.encode()]
    page = items[:max_keys]
    truncated = len(items) > max_keys
    for kind, v in page:
        (out_objs if kind == "o" else out_pfx).append(v)
    return out_objs, out_pfx, truncated


def _long(stem: str, n: int) -> str:
    return stem * (450 // len(stem)) + f"/{n:04d}"


KEYS = sorted({
    *[f"photos/2024/{i:03d}.jpg" for i in range(30)], *[f"photos/2025/{i}.jpg" for i in range(5)],
    "photos/index.html", "readme", "photos", "photos0", "zeta/é/1", "zeta/é/2", "zeta/f",
    *[_long("deep/", n) for n in (5, 1, 3, 2, 10)], *[_long("deep/", n) + "/x" for n in (7, 8)],
    _long("dee", 1), "deep/short",
}, key=lambda s: s.encode())


def _setup(tmp_path):
    layer = open_layer(tmp_path, k=2, m=1)

    async def fill():
        await layer.make_bucket("lst", "o")
        await asyncio.gather(*(layer.put_object("lst", k, body(b"x")) for k in KEYS))
    run(fill())
    return layer


def test_listing_matches_model_for_fixed_cases(tmp_path):
    layer = _setup(tmp_path)
    try:
        cases = [("", "", "", 1000), ("", "/", "", 1000), ("photos/", "/", "", 1000),
                 ("photos/2024/", "", "photos/2024/010.jpg", 5), ("", "/", "photos/", 2),
                 ("deep/", "", "", 1000), ("deep/", "/", "", 3), ("", "", KEYS[10], 7),
                 ("zeta/", "/", "", 1), ("", "", _long("deep/", 2), 3), ("deep/", "/", "deep/", 100)]
        for prefix, delim, marker, mx in cases:
            objs, pfx, trunc, _ = layer.list_objects("lst", prefix, delim, marker, mx)
            assert ([o.key for o in objs], pfx, trunc) == model(KEYS, prefix, delim, marker, mx), \
                (prefix, delim, marker, mx)
    finally:
        run(layer.close())


def test_pagination_with_next_marker_visits_everything_once(tmp_path):
    layer = _setup(tmp_path)
    try:
        for delim in ("", "/"):
            seen, marker = [], ""
            while True:
                objs, pfx, trunc, nxt = layer.list_objects("lst", "", delim, marker, 4)
                seen += [o.key for o in objs] + pfx
                if not trunc:
                    break
                marker = nxt
            full_objs, full_pfx, _ = model(KEYS, "", delim, "", 10_000)
            assert sorted(seen, key=str.encode) == sorted(full_objs + full_pfx, key=str.encode)
            assert len(seen) == len(set(seen))
    finally:
        run(layer.close())


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.text(ALPHA, min_size=1, max_size=6), min_size=1, max_size=25),
       prefix=st.text(ALPHA, max_size=2), delim=st.sampled_from(["", "/", "é"]),
       marker=st.text(ALPHA, max_size=3), mx=st.integers(1, 8))
def test_listing_property(tmp_path_factory, keys, prefix, delim, marker, mx):
    root = tmp_path_factory.mktemp("prop")
    layer = open_layer(root, k=2, m=1)
    try:
        async def fill():
            await layer.make_bucket("p", "o")
            for k in set(keys):
                await layer.put_object("p", k, body(b"1"))
        run(fill())
        objs, pfx, trunc, _ = layer.list_objects("p", prefix, delim, marker, mx)
        assert ([o.key for o in objs], pfx, trunc) == model(keys, prefix, delim, marker, mx)
    finally:
        run(layer.close())
