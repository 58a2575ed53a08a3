# Kernel io_uring constants (linux/io_uring.h), kept here so no kernel headers are needed,
# and the engine's op codes (mirrored in s3free/ioengine/ops.py).
cdef enum:
    IOSQE_IO_LINK = 4            # 1 << IOSQE_IO_LINK_BIT (2)
    IORING_FSYNC_DATASYNC = 1
    RING_STRUCT_BYTES = 1024     # generous room for liburing's opaque `struct io_uring`

    OPC_READ = 0
    OPC_WRITE = 1
    OPC_FSYNC = 2
    OPC_FDATASYNC = 3
    OPC_MASK = 0xFF
    OPC_LINK = 0x100             # or-ed into a code: the next op runs only after this one

cdef extern from "<errno.h>":
    enum:
        ECANCELED
        EINTR
        EAGAIN
        EIO
        EINVAL
