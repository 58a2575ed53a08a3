# liburing entry points, resolved at import time with dlsym() from the liburing wheel's
# liburing.so. `struct io_uring` is treated as opaque memory that only liburing touches;
# SQEs are filled only through liburing's prep helpers; CQEs are the kernel's layout.

cdef extern from *:
    """
    struct s3f_io_uring_cqe {
        unsigned long long user_data;
        int res;
        unsigned int flags;
    };
    """
    struct s3f_io_uring_cqe:
        unsigned long long user_data
        int res
        unsigned int flags

ctypedef void* ring_p
ctypedef void* sqe_p

ctypedef int (*queue_init_t)(unsigned entries, ring_p ring, unsigned flags) noexcept nogil
ctypedef void (*queue_exit_t)(ring_p ring) noexcept nogil
ctypedef sqe_p (*get_sqe_t)(ring_p ring) noexcept nogil
ctypedef void (*prep_rw_t)(sqe_p sqe, int fd, void *buf, unsigned nbytes,
                           unsigned long long offset) noexcept nogil
ctypedef void (*prep_fsync_t)(sqe_p sqe, int fd, unsigned fsync_flags) noexcept nogil
ctypedef void (*sqe_set_flags_t)(sqe_p sqe, unsigned flags) noexcept nogil
ctypedef void (*sqe_set_data64_t)(sqe_p sqe, unsigned long long data) noexcept nogil
ctypedef int (*submit_and_wait_t)(ring_p ring, unsigned wait_nr) noexcept nogil
ctypedef unsigned (*peek_batch_cqe_t)(ring_p ring, s3f_io_uring_cqe **cqes, unsigned count) noexcept nogil
ctypedef void (*cq_advance_t)(ring_p ring, unsigned nr) noexcept nogil
ctypedef int (*wait_cqe_t)(ring_p ring, s3f_io_uring_cqe **cqe) noexcept nogil
