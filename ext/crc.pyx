# Checksums on ISA-L. Conventions match zlib.crc32: pass the previous result as `value`
# to continue a stream. The GIL is released for large inputs.
from libc.stdint cimport uint32_t, uint64_t

cdef Py_ssize_t _NOGIL_MIN = 65536
cdef Py_ssize_t _INT_STEP = 1 << 30     # crc32_iscsi takes an int length


cdef inline uint32_t _crc32c_raw(const unsigned char* p, Py_ssize_t n, uint32_t crc) noexcept nogil:
    # crc32_iscsi works on the inverted register, so invert in and out for standard CRC32C.
    crc = ~crc
    while n > _INT_STEP:
        crc = c_crc32_iscsi(<unsigned char*>p, <int>_INT_STEP, crc)
        p += _INT_STEP
        n -= _INT_STEP
    crc = c_crc32_iscsi(<unsigned char*>p, <int>n, crc)
    return ~crc


def crc32c(data, unsigned int value=0):
    """CRC32C (Castagnoli) of any buffer; equals the `crc32c` package's value."""
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    cdef uint32_t crc = value
    try:
        if view.len >= _NOGIL_MIN:
            with nogil:
                crc = _crc32c_raw(<const unsigned char*>view.buf, view.len, crc)
        else:
            crc = _crc32c_raw(<const unsigned char*>view.buf, view.len, crc)
    finally:
        PyBuffer_Release(&view)
    return crc


def crc32c_chunks(data, Py_ssize_t chunk_size):
    """CRC32C of each `chunk_size` piece of `data` (the last may be short), as
    little-endian uint32 values packed into bytes: one call for a whole shard's table."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be > 0")
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    cdef Py_ssize_t n, i, off, ln
    cdef bytearray out
    cdef uint32_t* dst
    cdef const unsigned char* src
    try:
        n = (view.len + chunk_size - 1) // chunk_size
        out = bytearray(4 * n)
        dst = <uint32_t*><char*>out
        src = <const unsigned char*>view.buf
        with nogil:
            off = 0
            for i in range(n):
                ln = chunk_size if view.len - off > chunk_size else view.len - off
                dst[i] = _crc32c_raw(src + off, ln, 0)   # x86-64 is little-endian
                off += ln
    finally:
        PyBuffer_Release(&view)
    return bytes(out)


def crc32(data, unsigned int value=0):
    """CRC32 (zlib/gzip polynomial) on ISA-L; equals zlib.crc32."""
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    cdef uint32_t crc = value
    try:
        with nogil:
            crc = c_crc32_gzip_refl(crc, <const unsigned char*>view.buf, <unsigned long long>view.len)
    finally:
        PyBuffer_Release(&view)
    return crc


def crc64nvme(data, unsigned long long value=0):
    """CRC-64/NVME (ISA-L's "rocksoft" polynomial), as S3's x-amz-checksum-crc64nvme."""
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    cdef uint64_t crc = value
    try:
        with nogil:
            crc = c_crc64_rocksoft_refl(crc, <const unsigned char*>view.buf, <unsigned long long>view.len)
    finally:
        PyBuffer_Release(&view)
    return crc
