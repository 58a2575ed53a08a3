# Resolve the C entry points from the shared libraries inside our pinned wheels.
# Done once at import; a missing library or symbol raises ImportError naming it.
from posix.dlfcn cimport dlopen, dlsym, dlerror, RTLD_NOW, RTLD_LOCAL

import glob as _glob
import os as _os


cdef void* _open_lib(str path) except NULL:
    cdef bytes bpath = _os.fsencode(path)
    cdef void* handle = dlopen(bpath, RTLD_NOW | RTLD_LOCAL)
    if handle == NULL:
        err = dlerror()
        raise ImportError(f"s3free native core: cannot load {path}: "
                          f"{(<bytes>err).decode(errors='replace') if err != NULL else '?'}")
    return handle


cdef void* _sym(void* handle, const char* name, str path) except NULL:
    cdef void* p = dlsym(handle, name)
    if p == NULL:
        raise ImportError(f"s3free native core: symbol {(<bytes>name).decode()} missing in {path}; "
                          "the pinned wheel version may have changed (see docs/native.md)")
    return p


def _find_one(str pattern, str what):
    hits = sorted(_glob.glob(pattern))
    if not hits:
        raise ImportError(f"s3free native core: {what} not found (looked for {pattern}); "
                          "reinstall with `pip install -e .`")
    return hits[0]


def _library_paths():
    """Where ISA-L and liburing live: inside the pyeclib, isal and liburing wheels."""
    import importlib.util
    paths = {}
    spec = importlib.util.find_spec("pyeclib")
    if spec is None or spec.origin is None:
        raise ImportError("s3free native core needs the pyeclib wheel (it bundles ISA-L)")
    site = _os.path.dirname(_os.path.dirname(spec.origin))
    paths["isal_ec"] = _find_one(_os.path.join(site, "pyeclib.libs", "libisal-pyeclib.so*"),
                                 "ISA-L inside the pyeclib wheel")
    spec = importlib.util.find_spec("isal")
    if spec is None or spec.origin is None:
        raise ImportError("s3free native core needs the isal wheel (ISA-L CRC32C/CRC64)")
    paths["isal_crc"] = _find_one(_os.path.join(_os.path.dirname(spec.origin), "igzip_lib*.so"),
                                  "ISA-L inside the isal wheel")
    spec = importlib.util.find_spec("liburing")
    if spec is None or spec.origin is None:
        raise ImportError("s3free native core needs the liburing wheel")
    paths["liburing"] = _find_one(_os.path.join(_os.path.dirname(spec.origin), "liburing*.so"),
                                  "liburing.so inside the liburing wheel")
    return paths


LIBRARY_PATHS = _library_paths()

cdef ec_encode_data_t c_ec_encode_data
cdef ec_init_tables_t c_ec_init_tables
cdef gf_gen_cauchy1_matrix_t c_gf_gen_cauchy1_matrix
cdef gf_invert_matrix_t c_gf_invert_matrix
cdef gf_mul_t c_gf_mul
cdef crc32_iscsi_t c_crc32_iscsi
cdef crc32_gzip_refl_t c_crc32_gzip_refl
cdef crc64_refl_t c_crc64_rocksoft_refl

cdef queue_init_t u_queue_init
cdef queue_exit_t u_queue_exit
cdef get_sqe_t u_get_sqe
cdef prep_rw_t u_prep_read
cdef prep_rw_t u_prep_write
cdef prep_fsync_t u_prep_fsync
cdef sqe_set_flags_t u_sqe_set_flags
cdef sqe_set_data64_t u_sqe_set_data64
cdef submit_and_wait_t u_submit_and_wait
cdef peek_batch_cqe_t u_peek_batch_cqe
cdef cq_advance_t u_cq_advance
cdef wait_cqe_t u_wait_cqe


cdef _load():
    global c_ec_encode_data, c_ec_init_tables, c_gf_gen_cauchy1_matrix, c_gf_invert_matrix
    global c_gf_mul, c_crc32_iscsi, c_crc32_gzip_refl, c_crc64_rocksoft_refl
    global u_queue_init, u_queue_exit, u_get_sqe, u_prep_read, u_prep_write, u_prep_fsync
    global u_sqe_set_flags, u_sqe_set_data64, u_submit_and_wait, u_peek_batch_cqe
    global u_cq_advance, u_wait_cqe
    cdef str p = LIBRARY_PATHS["isal_ec"]
    cdef void* h = _open_lib(p)
    c_ec_encode_data = <ec_encode_data_t>_sym(h, b"ec_encode_data", p)
    c_ec_init_tables = <ec_init_tables_t>_sym(h, b"ec_init_tables", p)
    c_gf_gen_cauchy1_matrix = <gf_gen_cauchy1_matrix_t>_sym(h, b"gf_gen_cauchy1_matrix", p)
    c_gf_invert_matrix = <gf_invert_matrix_t>_sym(h, b"gf_invert_matrix", p)
    c_gf_mul = <gf_mul_t>_sym(h, b"gf_mul", p)
    p = LIBRARY_PATHS["isal_crc"]
    h = _open_lib(p)
    # The isal wheel's dispatcher picks the AVX-512 VPCLMULQDQ CRC32C (~54 GB/s here);
    # pyeclib's copy picks a ~22 GB/s variant on the same CPU (docs/native.md).
    c_crc32_iscsi = <crc32_iscsi_t>_sym(h, b"crc32_iscsi", p)
    c_crc32_gzip_refl = <crc32_gzip_refl_t>_sym(h, b"crc32_gzip_refl", p)
    c_crc64_rocksoft_refl = <crc64_refl_t>_sym(h, b"crc64_rocksoft_refl", p)
    p = LIBRARY_PATHS["liburing"]
    h = _open_lib(p)
    u_queue_init = <queue_init_t>_sym(h, b"io_uring_queue_init", p)
    u_queue_exit = <queue_exit_t>_sym(h, b"io_uring_queue_exit", p)
    u_get_sqe = <get_sqe_t>_sym(h, b"io_uring_get_sqe", p)
    u_prep_read = <prep_rw_t>_sym(h, b"io_uring_prep_read", p)
    u_prep_write = <prep_rw_t>_sym(h, b"io_uring_prep_write", p)
    u_prep_fsync = <prep_fsync_t>_sym(h, b"io_uring_prep_fsync", p)
    u_sqe_set_flags = <sqe_set_flags_t>_sym(h, b"io_uring_sqe_set_flags", p)
    u_sqe_set_data64 = <sqe_set_data64_t>_sym(h, b"io_uring_sqe_set_data64", p)
    u_submit_and_wait = <submit_and_wait_t>_sym(h, b"io_uring_submit_and_wait", p)
    u_peek_batch_cqe = <peek_batch_cqe_t>_sym(h, b"io_uring_peek_batch_cqe", p)
    u_cq_advance = <cq_advance_t>_sym(h, b"io_uring_cq_advance", p)
    u_wait_cqe = <wait_cqe_t>_sym(h, b"io_uring_wait_cqe", p)


_load()
