# Aligned, reusable memory for O_DIRECT I/O and codec work.
from libc.string cimport memset
from posix.stdlib cimport posix_memalign


cdef char* _FORMAT_B = b"B"


cdef class AlignedBuffer:
    """A zero-filled, `alignment`-aligned byte buffer (buffer protocol, writable).

    O_DIRECT needs the memory address, length and file offset aligned to the logical
    block size; 4 KiB covers every disk we meet.
    """
    cdef char* ptr
    cdef Py_ssize_t size
    cdef readonly Py_ssize_t alignment
    cdef int exports

    def __cinit__(self, Py_ssize_t size, Py_ssize_t alignment=4096):
        if size < 0:
            raise ValueError("size must be >= 0")
        if alignment <= 0 or (alignment & (alignment - 1)):
            raise ValueError("alignment must be a power of two")
        cdef void* p = NULL
        if posix_memalign(&p, <size_t>alignment, <size_t>(size if size > 0 else alignment)) != 0:
            raise MemoryError(f"cannot allocate {size} aligned bytes")
        memset(p, 0, <size_t>(size if size > 0 else alignment))
        self.ptr = <char*>p
        self.size = size
        self.alignment = alignment

    def __dealloc__(self):
        if self.ptr != NULL:
            free(self.ptr)
            self.ptr = NULL

    def __len__(self):
        return self.size

    @property
    def address(self):
        """The start address (for alignment checks in tests)."""
        return <size_t>self.ptr

    def __getbuffer__(self, Py_buffer* view, int flags):
        view.buf = self.ptr
        view.obj = self
        view.len = self.size
        view.readonly = 0
        view.itemsize = 1
        view.format = _FORMAT_B if (flags & 4) else NULL     # PyBUF_FORMAT
        view.ndim = 1
        view.shape = &self.size if (flags & 8) else NULL     # PyBUF_ND
        view.strides = NULL
        view.suboffsets = NULL
        view.internal = NULL
        self.exports += 1

    def __releasebuffer__(self, Py_buffer* view):
        self.exports -= 1

    def zero(self):
        """Fill with zeros (padding for the last, partial block)."""
        memset(self.ptr, 0, <size_t>self.size)
