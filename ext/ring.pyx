# The io_uring batch engine: one submit carries a whole batch (e.g. a stripe's k+m shard
# writes and their syncs); completions are reaped in bulk; the GIL is released for the
# whole round trip. Ops are tuples (code, fd, buffer_or_None, offset[, name]).
from libc.stdlib cimport calloc

cdef struct op_t:
    int code                 # OPC_READ / OPC_WRITE / OPC_FSYNC / OPC_FDATASYNC
    int fd
    bint link                # the next op in the batch waits for this one
    int chain_start          # index of the first op of this op's chain
    char* buf
    size_t length
    unsigned long long offset
    size_t done              # bytes transferred so far (short transfers go again)
    size_t asked             # bytes asked for in the current round
    int raw                  # this round's completion result
    int result               # final: bytes transferred, or -errno
    int state


cdef enum:
    ST_PENDING = 0
    ST_INFLIGHT = 1
    ST_DONE = 2
    CQE_BATCH = 64


cdef class _OpArray:
    """The C view of one batch, holding the Python buffers alive until it is freed."""
    cdef op_t* ops
    cdef Py_buffer* views
    cdef char* has_view
    cdef int n

    def __cinit__(self, int n):
        self.n = n
        self.ops = <op_t*>calloc(n if n > 0 else 1, sizeof(op_t))
        self.views = <Py_buffer*>calloc(n if n > 0 else 1, sizeof(Py_buffer))
        self.has_view = <char*>calloc(n if n > 0 else 1, 1)
        if self.ops == NULL or self.views == NULL or self.has_view == NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef int i
        if self.has_view != NULL:
            for i in range(self.n):
                if self.has_view[i]:
                    PyBuffer_Release(&self.views[i])
        free(self.ops)
        free(self.views)
        free(self.has_view)

    cdef int parse(self, list ops, int max_chain) except -1:
        cdef int i, code, raw, chain_start = 0, chain_len = 0
        cdef op_t* op
        for i in range(self.n):
            item = ops[i]
            raw = item[0]
            code = raw & OPC_MASK
            op = &self.ops[i]
            op.code = code
            op.fd = item[1]
            op.link = (raw & OPC_LINK) != 0
            op.offset = item[3]
            op.chain_start = chain_start
            chain_len += 1
            if chain_len > max_chain:
                raise ValueError(f"a linked chain of {chain_len} ops exceeds the ring size {max_chain}")
            if code == OPC_READ or code == OPC_WRITE:
                PyObject_GetBuffer(item[2], &self.views[i],
                                   PyBUF_WRITABLE if code == OPC_READ else PyBUF_SIMPLE)
                self.has_view[i] = 1
                op.buf = <char*>self.views[i].buf
                op.length = self.views[i].len
                if op.length > 0x7FFFF000:
                    raise ValueError("one read/write op is limited to 2 GiB - 4 KiB")
            elif code != OPC_FSYNC and code != OPC_FDATASYNC:
                raise ValueError(f"unknown op code {raw}")
            if not op.link:
                chain_start = i + 1
                chain_len = 0
        if self.n and self.ops[self.n - 1].link:
            raise ValueError("the last op of a batch cannot be linked to a following op")
        return 0


cdef class Ring:
    """One io_uring instance, used by one thread at a time (the Python facade keeps one
    per thread). `run(ops)` returns one int per op: bytes transferred (a read may stop
    short at end of file) or -errno; ops after a failed linked op get -ECANCELED."""
    cdef void* ring
    cdef readonly unsigned entries
    cdef bint busy
    cdef readonly unsigned long long submits     # submit calls made, for tests and metrics

    def __cinit__(self, unsigned entries=256):
        self.ring = calloc(1, RING_STRUCT_BYTES)
        if self.ring == NULL:
            raise MemoryError()
        cdef int ret = u_queue_init(entries, self.ring, 0)
        if ret < 0:
            free(self.ring)
            self.ring = NULL
            raise OSError(-ret, f"io_uring_queue_init({entries}) failed: {_os.strerror(-ret)}")
        self.entries = entries

    def __dealloc__(self):
        self._exit()

    cdef void _exit(self) noexcept:
        if self.ring != NULL:
            u_queue_exit(self.ring)
            free(self.ring)
            self.ring = NULL

    def close(self):
        if self.busy:
            raise RuntimeError("ring is in use")
        self._exit()

    def run(self, list ops):
        """Submit every op, wait for all of them, return their results."""
        if self.ring == NULL:
            raise ValueError("ring is closed")
        if self.busy:
            raise RuntimeError("a Ring is used by one thread at a time")
        cdef int n = len(ops), i, err
        cdef _OpArray arr = _OpArray(n)
        arr.parse(ops, <int>self.entries)
        self.busy = True
        try:
            with nogil:
                err = self._run(arr.ops, n)
        finally:
            self.busy = False
        if err < 0:
            raise OSError(-err, f"io_uring submit failed: {_os.strerror(-err)}")
        return [arr.ops[i].result for i in range(n)]

    cdef int _queue(self, op_t* op, int index, bint link) noexcept nogil:
        cdef sqe_p sqe = u_get_sqe(self.ring)
        if sqe == NULL:
            return -EAGAIN
        op.asked = op.length - op.done
        if op.code == OPC_READ:
            u_prep_read(sqe, op.fd, op.buf + op.done, <unsigned>op.asked, op.offset + op.done)
        elif op.code == OPC_WRITE:
            u_prep_write(sqe, op.fd, op.buf + op.done, <unsigned>op.asked, op.offset + op.done)
        elif op.code == OPC_FDATASYNC:
            u_prep_fsync(sqe, op.fd, IORING_FSYNC_DATASYNC)
        else:
            u_prep_fsync(sqe, op.fd, 0)
        u_sqe_set_data64(sqe, <unsigned long long>index)
        if link:
            u_sqe_set_flags(sqe, IOSQE_IO_LINK)
        op.state = ST_INFLIGHT
        return 0

    cdef int _run(self, op_t* ops, int n) noexcept nogil:
        """Rounds of queue + submit + reap until every op is done."""
        cdef int i, j, queued, got, ret, left = n
        cdef unsigned space, nr, c
        cdef s3f_io_uring_cqe* cqes[CQE_BATCH]
        cdef s3f_io_uring_cqe* one
        while left > 0:
            queued = 0
            space = self.entries
            i = 0
            while i < n:
                if ops[i].state != ST_PENDING:
                    i += 1
                    continue
                j = i                       # whole chains only: a link cannot span submits
                while ops[j].link and j + 1 < n:
                    j += 1
                if <unsigned>(j - i + 1) > space:
                    break
                while i <= j:
                    ret = self._queue(&ops[i], i, i < j)
                    if ret < 0:
                        return ret
                    queued += 1
                    space -= 1
                    i += 1
            if queued == 0:
                return -EINVAL
            self.submits += 1
            ret = u_submit_and_wait(self.ring, <unsigned>queued)
            if ret < 0 and ret != -EINTR and ret != -EAGAIN:
                return ret
            got = 0
            while got < queued:
                nr = u_peek_batch_cqe(self.ring, cqes, CQE_BATCH)
                if nr == 0:
                    ret = u_wait_cqe(self.ring, &one)
                    if ret < 0 and ret != -EINTR and ret != -EAGAIN:
                        return ret
                    continue
                for c in range(nr):
                    ops[cqes[c].user_data].raw = cqes[c].res
                u_cq_advance(self.ring, nr)
                got += nr
            left -= _settle(ops, n)
        return 0


cdef int _settle(op_t* ops, int n) noexcept nogil:
    """Settle this round's completions; return how many ops became done.

    A short transfer breaks its link chain (the kernel cancels the rest): the op goes
    again for the remainder and the cancelled ops after it are queued again. A hard error
    is final and fails the rest of its chain with -ECANCELED."""
    cdef int i, res, finals = 0
    cdef bint requeue = False, failed = False
    cdef op_t* op
    for i in range(n):
        op = &ops[i]
        if i == op.chain_start:
            requeue = False
            failed = False
        if op.state != ST_INFLIGHT:
            continue
        res = op.raw
        if failed:
            op.result = -ECANCELED
        elif requeue:
            op.state = ST_PENDING
            continue
        elif res < 0:
            op.result = res
            failed = op.link
        elif op.code == OPC_READ or op.code == OPC_WRITE:
            op.done += <size_t>res
            if <size_t>res < op.asked:
                requeue = op.link           # the kernel cancelled what follows
                if res > 0:
                    op.state = ST_PENDING   # go again for the rest
                    continue
                if op.code == OPC_WRITE:    # no progress at all: never a silent short write
                    op.result = -EIO
                    requeue = False
                    failed = op.link
                    op.state = ST_DONE
                    finals += 1
                    continue
            op.result = <int>op.done        # a read may end short at end of file
        else:
            op.result = res
        op.state = ST_DONE
        finals += 1
    return finals
