# Reed-Solomon RS(k, m) over GF(2^8) on ISA-L, with a Cauchy generator matrix
# (ISA-L's Vandermonde one is not MDS for every layout with many parity shards).
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

cdef int _MAX_SHARDS = 255
cdef Py_ssize_t _LEN_STEP = 1 << 30      # ec_encode_data takes an int length


class NotEnoughShards(ValueError):
    """Fewer than k shards survive: the stripe cannot be reconstructed."""


cdef class _Pointers:
    """Acquired buffers and their raw pointers, released together."""
    cdef Py_buffer* views
    cdef unsigned char** ptrs
    cdef int n
    cdef int acquired

    def __cinit__(self, int n):
        self.views = <Py_buffer*>malloc(sizeof(Py_buffer) * (n if n > 0 else 1))
        self.ptrs = <unsigned char**>malloc(sizeof(unsigned char*) * (n if n > 0 else 1))
        if self.views == NULL or self.ptrs == NULL:
            raise MemoryError()
        self.n = n
        self.acquired = 0

    cdef Py_ssize_t add(self, obj, bint writable) except -1:
        cdef int flags = PyBUF_WRITABLE if writable else PyBUF_SIMPLE
        PyObject_GetBuffer(obj, &self.views[self.acquired], flags)
        self.ptrs[self.acquired] = <unsigned char*>self.views[self.acquired].buf
        self.acquired += 1
        return self.views[self.acquired - 1].len

    def __dealloc__(self):
        cdef int i
        for i in range(self.acquired):
            PyBuffer_Release(&self.views[i])
        free(self.views)
        free(self.ptrs)


cdef void _encode_steps(Py_ssize_t length, int k, int rows, unsigned char* tables,
                        unsigned char** src, unsigned char** dst) noexcept nogil:
    cdef Py_ssize_t off = 0, step
    cdef int i
    cdef unsigned char* s[256]
    cdef unsigned char* d[256]
    while off < length:
        step = length - off if length - off < _LEN_STEP else _LEN_STEP
        for i in range(k):
            s[i] = src[i] + off
        for i in range(rows):
            d[i] = dst[i] + off
        c_ec_encode_data(<int>step, k, rows, tables, s, d)
        off += step


cdef class RSCodec:
    """RS(k, m): encode k data shards into m parity shards; rebuild any <= m lost ones.

    Shard i < k is data, shard i >= k parity. All shards of one call have equal length.
    Init tables are built once per layout and cached per erasure pattern.
    """
    cdef readonly int k
    cdef readonly int m
    cdef unsigned char* matrix       # (k+m) x k generator, top k rows = identity
    cdef unsigned char* enc_tables   # 32 * k * m
    cdef dict _decode_tables
    cdef int _cache_max

    def __cinit__(self, int k, int m, int cache_size=512):
        if k < 1 or m < 1 or k + m > _MAX_SHARDS:
            raise ValueError(f"invalid RS layout k={k}, m={m} (need k>=1, m>=1, k+m<=255)")
        self.k = k
        self.m = m
        self.matrix = <unsigned char*>malloc((k + m) * k)
        self.enc_tables = <unsigned char*>malloc(32 * k * m)
        if self.matrix == NULL or self.enc_tables == NULL:
            raise MemoryError()
        c_gf_gen_cauchy1_matrix(self.matrix, k + m, k)
        c_ec_init_tables(k, m, self.matrix + k * k, self.enc_tables)
        self._decode_tables = {}
        self._cache_max = cache_size

    def __dealloc__(self):
        free(self.matrix)
        free(self.enc_tables)

    def __repr__(self):
        return f"RSCodec(k={self.k}, m={self.m})"

    def matrix_bytes(self):
        """The (k+m) x k generator matrix, row-major (documents the on-disk code)."""
        return (<char*>self.matrix)[:(self.k + self.m) * self.k]

    def encode(self, data, parity):
        """Fill the m writable `parity` buffers from the k `data` buffers."""
        cdef int k = self.k, m = self.m, i
        if len(data) != k or len(parity) != m:
            raise ValueError(f"encode needs {k} data and {m} parity buffers, "
                             f"got {len(data)} and {len(parity)}")
        cdef _Pointers src = _Pointers(k)
        cdef _Pointers dst = _Pointers(m)
        cdef Py_ssize_t length = -1, ln
        for i in range(k):
            ln = src.add(data[i], False)
            if length < 0:
                length = ln
            elif ln != length:
                raise ValueError(f"data shard {i} has {ln} bytes, shard 0 has {length}")
        for i in range(m):
            ln = dst.add(parity[i], True)
            if ln < length:
                raise ValueError(f"parity buffer {i} has {ln} bytes, needs {length}")
        with nogil:
            _encode_steps(length, k, m, self.enc_tables, src.ptrs, dst.ptrs)

    cdef bytes _decode_tables_for(self, tuple survivors, tuple targets):
        """ISA-L tables that compute `targets` from the k `survivors` (cached)."""
        key = (survivors, targets)
        cached = self._decode_tables.get(key)
        if cached is not None:
            return <bytes>cached
        cdef int k = self.k, nt = len(targets), r, c, j, t
        cdef unsigned char* b = <unsigned char*>malloc(k * k)
        cdef unsigned char* inv = <unsigned char*>malloc(k * k)
        cdef unsigned char* rows = <unsigned char*>malloc(k * nt)
        cdef unsigned char acc
        cdef bytes tables
        try:
            if b == NULL or inv == NULL or rows == NULL:
                raise MemoryError()
            for r in range(k):
                memcpy(b + r * k, self.matrix + (<int>survivors[r]) * k, k)
            if c_gf_invert_matrix(b, inv, k) != 0:
                raise NotEnoughShards(f"decode matrix for survivors {survivors} is singular")
            for j in range(nt):
                t = targets[j]
                if t < k:
                    memcpy(rows + j * k, inv + t * k, k)
                else:
                    # parity row = generator row t times the inverse
                    for c in range(k):
                        acc = 0
                        for r in range(k):
                            acc ^= c_gf_mul(self.matrix[t * k + r], inv[r * k + c])
                        rows[j * k + c] = acc
            tables = bytes(32 * k * nt)
            c_ec_init_tables(k, nt, rows, <unsigned char*><char*>tables)
        finally:
            free(b)
            free(inv)
            free(rows)
        if len(self._decode_tables) >= self._cache_max:
            self._decode_tables.clear()
        self._decode_tables[key] = tables
        return tables

    def reconstruct_into(self, shards, targets, outputs):
        """Rebuild shards `targets` into the writable `outputs` from the available ones.

        `shards` has k+m entries, None where a shard is unavailable. Any k available
        shards suffice (data shards preferred). Raises NotEnoughShards below k.
        """
        cdef int k = self.k, n = self.k + self.m, i
        if len(shards) != n:
            raise ValueError(f"reconstruct needs a list of {n} shards (None for missing)")
        if len(targets) != len(outputs):
            raise ValueError("targets and outputs differ in length")
        survivors = []
        for i in range(n):
            if shards[i] is not None:
                survivors.append(i)
                if len(survivors) == k:
                    break
        if len(survivors) < k:
            raise NotEnoughShards(f"RS({k},{self.m}) needs {k} shards to reconstruct, "
                                  f"only {len(survivors)} available")
        tgt = tuple(int(t) for t in targets)
        for t in tgt:
            if t < 0 or t >= n:
                raise ValueError(f"shard index {t} out of range 0..{n - 1}")
        if not tgt:
            return
        cdef bytes tables = self._decode_tables_for(tuple(survivors), tgt)
        cdef _Pointers src = _Pointers(k)
        cdef _Pointers dst = _Pointers(len(tgt))
        cdef Py_ssize_t length = -1, ln
        for i in range(k):
            ln = src.add(shards[survivors[i]], False)
            if length < 0:
                length = ln
            elif ln != length:
                raise ValueError(f"shard {survivors[i]} has {ln} bytes, expected {length}")
        for i in range(len(tgt)):
            ln = dst.add(outputs[i], True)
            if ln < length:
                raise ValueError(f"output buffer for shard {tgt[i]} has {ln} bytes, needs {length}")
        cdef int nt = len(tgt)
        cdef unsigned char* tp = <unsigned char*><char*>tables
        with nogil:
            _encode_steps(length, k, nt, tp, src.ptrs, dst.ptrs)
