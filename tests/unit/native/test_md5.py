"""native.MD5 equals hashlib.md5 however it is fed, alone or sharing SIMD lanes with other
streams (the mixer in ext/md5lanes.h), and refuses to be updated from two threads at once."""
import hashlib
import os
import random
import threading

import pytest
from hypothesis import given, strategies as st

from s3free import native

MIB = 1 << 20


def test_known_values():
    # RFC 1321's test suite
    assert native.MD5(b"").hexdigest() == "d41d8cd98f00b204e9800998ecf8427e"
    assert native.MD5(b"abc").hexdigest() == "900150983cd24fb0d6963f7d28e17f72"
    assert native.MD5(b"message digest").hexdigest() == "f96b697d7cb7938d525a2f31aaf161d0"
    assert native.MD5(b"1234567890" * 8).hexdigest() == "57edf4a22be3c955ac49da2e2107b67a"


@pytest.mark.parametrize("n", [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 65535, 65536, 65600])
def test_padding_edges(n):
    data = os.urandom(n)
    assert native.MD5(data).digest() == hashlib.md5(data).digest()


@given(st.binary(max_size=20000), st.lists(st.integers(0, 20000), max_size=8))
def test_any_split_equals_hashlib(data, cuts):
    m = native.MD5()
    at = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        m.update(memoryview(data)[at:cut])
        at = cut
    assert m.hexdigest() == hashlib.md5(data).hexdigest()


def test_digest_does_not_end_the_stream_and_copy_forks_it():
    m = native.MD5(b"x" * 100)
    first = m.digest()
    assert m.digest() == first
    c = m.copy()
    m.update(b"tail")
    assert c.digest() == first
    assert m.digest() == hashlib.md5(b"x" * 100 + b"tail").digest()
    assert (m.name, m.digest_size, m.block_size) == ("md5", 16, 64)


def test_accepts_any_buffer():
    data = os.urandom(200000)
    want = hashlib.md5(data).digest()
    assert native.MD5(bytearray(data)).digest() == want
    buf = native.AlignedBuffer(len(data))
    memoryview(buf)[:] = data
    assert native.MD5(memoryview(buf)).digest() == want
    with pytest.raises(TypeError):
        native.MD5("text")


def _stream(data: bytes, piece: int, out: list, i: int) -> None:
    m = native.MD5()
    view = memoryview(data)
    for at in range(0, len(view), piece):
        m.update(view[at:at + piece])
    out[i] = m.digest()


def test_concurrent_streams_share_lanes_and_stay_exact():
    """Eight streams of different lengths and piece sizes at once, as eight uploads would
    feed them: every digest exact, and the mixer really hashed several at a time."""
    rnd = random.Random(7)
    datas = [os.urandom(rnd.randrange(4 * MIB, 12 * MIB) + rnd.randrange(64)) for _ in range(8)]
    pieces = [MIB, MIB, 256 * 1024, 256 * 1024 + 64, 3 * 65536 + 17, MIB + 1, 2 * MIB, 300000]   # one below the mixer's 256 KiB
    out = [None] * len(datas)
    passes0, blocks0, _ = native.md5_lane_stats()
    threads = [threading.Thread(target=_stream, args=(d, p, out, i))
               for i, (d, p) in enumerate(zip(datas, pieces))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [hashlib.md5(d).digest() for d in datas]
    passes, blocks, _ = native.md5_lane_stats()
    assert blocks > blocks0 and passes > passes0
    assert (blocks - blocks0) / (passes - passes0) > 1.5     # streams shared the steps


def _refused_while_busy(m, big) -> bool:
    """Start a long update of `m`; once digest() says it runs, try a second one. None if
    the long update ended before we saw it running (then the caller tries again)."""
    t = threading.Thread(target=m.update, args=(big,))
    t.start()
    refused = None
    while t.is_alive() and refused is None:
        try:
            m.digest()
            continue                # not started yet (or already done)
        except RuntimeError:
            pass
        try:
            m.update(b"x")
            refused = False
        except RuntimeError:
            refused = True
    t.join()
    return refused


def test_one_object_refuses_a_second_concurrent_update():
    big = bytes(64 * MIB)
    for _ in range(5):
        m = native.MD5()
        refused = _refused_while_busy(m, big)
        if refused is None:
            continue                # the update finished before we saw it running: try again
        assert refused, "a concurrent update of one MD5 object was accepted"
        assert m.digest() == hashlib.md5(big).digest()    # the refused update changed nothing
        return
    pytest.fail("never caught the long update running")


def _waited(fn) -> int:
    before = native.md5_lane_stats()[2]
    fn()
    return native.md5_lane_stats()[2] - before


def test_no_waiting_for_oneself():
    """A lone stream, and one thread feeding two objects in turn, never wait for a partner."""
    block = os.urandom(MIB)

    def lone():
        m = native.MD5()
        for _ in range(8):
            m.update(block)

    def alternate():
        a, b = native.MD5(), native.MD5()
        for _ in range(8):
            a.update(block)
            b.update(block)
        assert a.digest() == b.digest() == hashlib.md5(block * 8).digest()

    assert _waited(lone) == 0
    assert _waited(alternate) == 0


def test_waiting_for_a_slow_partner_is_bounded_by_the_budget():
    """Next to a stream fed now and then, a busy stream waits at most its budget: 30 ns per
    64-byte block it brings (plus one 6 ms bank), not the slow stream's pace."""
    block = os.urandom(MIB)
    stop = threading.Event()

    def slow():
        m = native.MD5()
        while not stop.is_set():
            m.update(block)
            stop.wait(0.004)

    t = threading.Thread(target=slow)
    t.start()
    try:
        def fast():
            m = native.MD5()
            for _ in range(32):
                m.update(block)
        waited = _waited(fast)
    finally:
        stop.set()
        t.join()
    budget = 32 * (MIB // 64) * 30 + 6_000_000
    slow_share = 16 * (MIB // 64) * 30 + 6_000_000    # the slow stream's own waits (~12 blocks meanwhile)
    assert waited <= budget + slow_share
