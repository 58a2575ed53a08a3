# File helpers for the large-object paths: preallocating shard files, and reading a
# block's chunks from several files into one buffer with their CRC32C computed on the
# way, in one call with the GIL released (no Python call per chunk, no join copy).
from libc.errno cimport errno, EINTR as _EINTR
from libc.stdint cimport uint32_t

cdef extern from "<fcntl.h>" nogil:
    int c_fallocate "fallocate" (int fd, int mode, long long offset, long long length)

cdef extern from "<unistd.h>" nogil:
    ssize_t c_pread "pread" (int fd, void* buf, size_t count, long long offset)


def fallocate(int fd, long long offset, long long length, int mode=0):
    """fallocate(2): reserve blocks for [offset, offset+length) (mode 0 also extends the
    file size). Raises OSError; EOPNOTSUPP where the filesystem cannot (never emulated
    by writing zeros, unlike posix_fallocate)."""
    cdef int ret, err = 0
    with nogil:
        ret = c_fallocate(fd, mode, offset, length)
        if ret != 0:
            err = errno
    if ret != 0:
        raise OSError(err, _os.strerror(err))


from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING
from libc.string cimport memcpy


cdef long long _pread_full(int fd, char* buf, size_t length, unsigned long long offset) noexcept nogil:
    """pread until `length` bytes or end of file; bytes read, or -errno."""
    cdef size_t done = 0
    cdef ssize_t r
    while done < length:
        r = c_pread(fd, buf + done, length - done, offset + done)
        if r < 0:
            if errno == _EINTR:
                continue
            return -errno
        if r == 0:
            break
        done += <size_t>r
    return <long long>done


cdef extern from "<malloc.h>" nogil:
    int c_mallopt "mallopt" (int param, int value)
    int M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD


def tune_malloc(int mmap_threshold, int trim_threshold, int top_pad):
    """Keep glibc from giving block-sized buffers back to the kernel after each use.

    By default a freed ~1 MiB buffer is either munmap()ed (above the mmap threshold) or
    trimmed off the heap top, and the next one faults in fresh zeroed pages: that was
    ~20 % of a large GET's kernel time. Returns True if glibc took all three values."""
    cdef int ok = 1
    ok &= c_mallopt(M_MMAP_THRESHOLD, mmap_threshold)
    ok &= c_mallopt(M_TRIM_THRESHOLD, trim_threshold)
    ok &= c_mallopt(M_TOP_PAD, top_pad)
    return bool(ok)


def new_bytes(Py_ssize_t size):
    """An uninitialized bytes object of `size` bytes, for `pread_bytes` to fill. Allocate
    it on the thread that will free it (the event loop): glibc then reuses the memory
    instead of trimming a worker thread's arena and faulting fresh pages in every time."""
    if size < 0:
        raise ValueError("size must be >= 0")
    return PyBytes_FromStringAndSize(NULL, size)


def pread_bytes(bytes data, list fds, unsigned long long offset, Py_ssize_t length, Py_ssize_t skip,
                Py_ssize_t start=0, Py_ssize_t stop=-1):
    """Fill `data` (fresh from `new_bytes`, not shared with anyone yet) with the block's
    bytes from `skip` on: read `length` bytes at `offset` from each of `fds` (the block's
    chunks, in data order), in place (chunks only partly wanted go through a scratch
    buffer). Returns (results, crcs): per fd the bytes read or -errno, and the CRC32C of
    the whole chunk read. Check every result and CRC before using `data`. Blocking: call
    it from a worker thread. With `start`/`stop`, only data[start:stop] is filled (several
    blocks into one buffer: one message to send per run of blocks, not per block)."""
    cdef Py_ssize_t n = len(fds), i
    if stop < 0:
        stop = len(data)
    if start < 0 or stop > len(data) or stop < start:
        raise ValueError("need 0 <= start <= stop <= len(data)")
    cdef Py_ssize_t size = stop - start
    if length <= 0 or skip < 0 or skip + size > n * length:
        raise ValueError("need skip + (stop - start) <= len(fds) * length")
    cdef char* out = PyBytes_AS_STRING(data) + start
    cdef int* cfds = <int*>malloc((n if n else 1) * sizeof(int))
    cdef long long* res = <long long*>malloc((n if n else 1) * sizeof(long long))
    cdef uint32_t* crcs = <uint32_t*>malloc((n if n else 1) * sizeof(uint32_t))
    cdef char* scratch = NULL
    cdef Py_ssize_t lo, hi, a, z
    try:
        if cfds == NULL or res == NULL or crcs == NULL:
            raise MemoryError()
        for i in range(n):
            cfds[i] = fds[i]
        with nogil:
            for i in range(n):
                crcs[i] = 0
                lo = i * length - skip          # where this chunk's first byte goes in data
                hi = lo + length
                a = lo if lo > 0 else 0
                z = hi if hi < size else size
                if z <= a:                       # not wanted at all (the caller asked too much)
                    res[i] = 0
                    continue
                if a == lo and z == hi:
                    res[i] = _pread_full(cfds[i], out + lo, <size_t>length, offset)
                    if res[i] > 0:
                        crcs[i] = _crc32c_raw(<const unsigned char*>(out + lo), <Py_ssize_t>res[i], 0)
                else:
                    if scratch == NULL:
                        scratch = <char*>malloc(<size_t>length)
                        if scratch == NULL:
                            res[i] = -12          # ENOMEM
                            continue
                    res[i] = _pread_full(cfds[i], scratch, <size_t>length, offset)
                    if res[i] > 0:
                        crcs[i] = _crc32c_raw(<const unsigned char*>scratch, <Py_ssize_t>res[i], 0)
                        if res[i] == length:
                            memcpy(out + a, scratch + (a - lo), <size_t>(z - a))
        return [res[i] for i in range(n)], [crcs[i] for i in range(n)]
    finally:
        free(cfds)
        free(res)
        free(crcs)
        free(scratch)
