# MD5 for ETags (ext/md5lanes.h): hashlib.md5's interface; large updates run without the
# GIL and concurrent ones share SIMD lanes, so several uploads hash for about the price of one.
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy, memset

cdef extern from "md5lanes.h" nogil:
    void md5l_init()
    void md5l_compress1(uint32_t* state, const unsigned char* p, size_t nblocks)
    void md5l_mixed(uint32_t* state, const unsigned char* p, size_t nblocks)
    void md5l_forget(const uint32_t* state)
    void md5l_stats(uint64_t* passes, uint64_t* blocks, uint64_t* waited_ns)

md5l_init()

cdef Py_ssize_t _MD5_NOGIL_MIN = 16384       # smaller updates keep the GIL (cheaper than a hand-off)
cdef Py_ssize_t _MD5_MIX_MIN = 256 * 1024    # smaller ones never wait for or hash with other streams:
                                         # e.g. a small PUT's body, hashed on the event loop


cdef class MD5:
    """MD5 with hashlib's interface (update, digest, hexdigest, copy)."""
    cdef uint32_t _state[4]
    cdef uint64_t _length
    cdef unsigned char _tail[64]
    cdef Py_ssize_t _ntail
    cdef bint _busy

    name = "md5"
    digest_size = 16
    block_size = 64

    def __cinit__(self, data=None):
        self._state[0] = 0x67452301
        self._state[1] = 0xefcdab89
        self._state[2] = 0x98badcfe
        self._state[3] = 0x10325476
        self._length = 0
        self._ntail = 0
        self._busy = False

    cdef void _forget(self) noexcept:
        if self._length >= _MD5_MIX_MIN:      # the mixer may count it as a partner
            md5l_forget(self._state)

    def __dealloc__(self):
        self._forget()

    def __init__(self, data=None):
        if data is not None:
            self.update(data)

    def update(self, data):
        cdef Py_buffer view
        cdef const unsigned char* p
        cdef Py_ssize_t n, take, whole
        if self._busy:
            raise RuntimeError("MD5.update called while another update of the same object runs")
        self._busy = True
        try:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        except BaseException:
            self._busy = False
            raise
        try:
            p = <const unsigned char*>view.buf
            n = view.len
            self._length += <uint64_t>n
            if self._ntail:
                take = min(64 - self._ntail, n)
                memcpy(self._tail + self._ntail, p, take)
                self._ntail += take
                p += take
                n -= take
                if self._ntail == 64:
                    md5l_compress1(self._state, self._tail, 1)
                    self._ntail = 0
            whole = n // 64
            if whole >= _MD5_MIX_MIN // 64:
                with nogil:
                    md5l_mixed(self._state, p, whole)
            elif whole >= _MD5_NOGIL_MIN // 64:
                with nogil:
                    md5l_compress1(self._state, p, whole)
            elif whole:
                md5l_compress1(self._state, p, whole)
            p += whole * 64
            n -= whole * 64
            if n:
                memcpy(self._tail, p, n)
                self._ntail = n
        finally:
            self._busy = False
            PyBuffer_Release(&view)

    def digest(self):
        if self._busy:
            raise RuntimeError("MD5.digest called while an update runs")
        self._forget()                        # done (or nearly): no partner for other streams now
        cdef uint32_t state[4]
        cdef unsigned char last[128]
        cdef Py_ssize_t n = self._ntail, i
        cdef uint64_t bits = self._length * 8
        memcpy(state, self._state, sizeof(state))
        memset(last, 0, sizeof(last))
        memcpy(last, self._tail, n)
        last[n] = 0x80
        cdef Py_ssize_t blocks = 1 if n < 56 else 2
        for i in range(8):
            last[blocks * 64 - 8 + i] = (bits >> (8 * i)) & 0xff
        md5l_compress1(state, last, blocks)
        cdef unsigned char out[16]
        for i in range(16):
            out[i] = (state[i // 4] >> (8 * (i % 4))) & 0xff
        return bytes(out[:16])

    def hexdigest(self):
        return self.digest().hex()

    def copy(self):
        if self._busy:
            raise RuntimeError("MD5.copy called while an update runs")
        cdef MD5 other = MD5.__new__(MD5)
        memcpy(other._state, self._state, sizeof(self._state))
        memcpy(other._tail, self._tail, 64)
        other._length = self._length
        other._ntail = self._ntail
        return other


def md5_lane_stats():
    """(the mixer's 64-byte steps, the blocks they hashed, ns spent waiting for partners):
    blocks ÷ steps is how many streams shared a step on average. Updates under 256 KiB
    are not counted."""
    cdef uint64_t passes = 0, blocks = 0, waited = 0
    md5l_stats(&passes, &blocks, &waited)
    return passes, blocks, waited
