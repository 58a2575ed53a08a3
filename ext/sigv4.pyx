# SigV4 for the common request, compiled: an Authorization header, a plain path and query,
# one value per header. Building the canonical request in Python was ~20 % of a small
# GET's interpreter time, and the same in Cython over bytes objects still ~10 us; the check
# itself is plain C over the request's bytes (ext/sigv4c.h), with SHA-256 from the
# libcrypto hashlib runs on. Anything unusual -- and every failure -- returns None, and the
# caller runs the full Python verifier (s3free/api/sigv4.py), which owns every error
# message and the alternative canonical forms. So this may only ever say "yes" when
# that verifier would say yes for the same reason; tests/unit/api/test_sigv4_fast.py
# checks the two agree.
cdef extern from "sigv4c.h" nogil:
    ctypedef struct s3s_str:
        const unsigned char* p
        size_t n
    ctypedef struct s3s_request:
        s3s_str method, path, query
        int nh
        s3s_str name[64]
        s3s_str value[64]
    ctypedef struct s3s_auth:
        s3s_str access, date, region, stamp, signature, sha, signed_text
        int nsigned
        s3s_str signed_names[64]
        int hex_payload
    int S3S_MAXH
    ctypedef int (*s3s_sha_init_fn)(void* ctx)
    ctypedef int (*s3s_sha_update_fn)(void* ctx, const void* data, size_t len)
    ctypedef int (*s3s_sha_final_fn)(unsigned char* md, void* ctx)
    s3s_sha_init_fn s3s_sha_init
    s3s_sha_update_fn s3s_sha_update
    s3s_sha_final_fn s3s_sha_final
    int s3s_parse(const s3s_request* r, double now, int max_skew, s3s_auth* a)
    int s3s_verify(const s3s_request* r, const s3s_auth* a, const unsigned char* key, size_t keylen)


cdef extern from "<dlfcn.h>" nogil:
    int RTLD_NOLOAD
    void* RTLD_DEFAULT
    ctypedef struct Dl_info:
        const char* dli_fname
    int dladdr(const void* addr, Dl_info* info)


cdef bint _resolve_sha256(void* handle) noexcept:
    global s3s_sha_init, s3s_sha_update, s3s_sha_final
    cdef void* init = dlsym(handle, "SHA256_Init")
    cdef void* update = dlsym(handle, "SHA256_Update")
    cdef void* final = dlsym(handle, "SHA256_Final")
    if init == NULL or update == NULL or final == NULL:
        return False
    s3s_sha_init, s3s_sha_update, s3s_sha_final = <s3s_sha_init_fn>init, <s3s_sha_update_fn>update, <s3s_sha_final_fn>final
    return True


cdef void _load_sha256():
    """SHA-256 from the libcrypto Python's own hashlib runs on: looked up through _hashlib's
    handle (dlsym searches its dependencies), else anywhere in the process. Without one
    (a Python built without OpenSSL, or OpenSSL without the deprecated SHA256_* calls) the
    fast path stays off and every request goes to the Python verifier."""
    cdef void* handle = NULL
    cdef bytes path
    try:
        import _hashlib
        path = _os.fsencode(_hashlib.__file__)
        handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD)
    except Exception:
        handle = NULL
    if handle != NULL and _resolve_sha256(handle):
        return
    _resolve_sha256(RTLD_DEFAULT)


_load_sha256()


def sha256_library():
    """Path of the library the SigV4 fast path takes SHA-256 from, or None if it is off."""
    cdef Dl_info info
    if s3s_sha_init == NULL or not dladdr(<const void*>s3s_sha_init, &info) or info.dli_fname == NULL:
        return None
    return _os.fsdecode(<bytes>info.dli_fname)


cdef inline s3s_str _view(bytes b) noexcept:
    cdef s3s_str s
    s.p = <const unsigned char*><const char*>b
    s.n = len(b)
    return s


cdef inline str _text(s3s_str s):
    return (<const char*>s.p)[:s.n].decode("latin-1")


def sigv4_verify_fast(method, path, query, headers, key_for, double now, int max_skew):
    """Verify a plain Authorization-header SigV4 request; (access_key, region, amz_date,
    signature, payload, signed_names, signing_key) if it verifies, else None (then ask
    the full verifier). Never raises for odd input: None means "let the verifier decide".

    `headers` are ASGI's (name, value) byte pairs; `key_for(access_key, date, region)` gives
    the signing key, or None for an unknown key."""
    if type(method) is not bytes or type(path) is not bytes or type(query) is not bytes or s3s_sha_init == NULL:
        return None
    try:
        return _verify(method, path, query, headers, key_for, now, max_skew)
    except Exception:
        return None


cdef object _verify(bytes method, bytes path, bytes query, headers, key_for, double now, int max_skew):
    cdef s3s_request r
    cdef s3s_auth a
    cdef tuple items = tuple(headers)     # holds every pair (and its bytes) while C reads them
    cdef Py_ssize_t count = len(items)
    cdef object pair, name, value
    if count > S3S_MAXH:
        return None
    r.method, r.path, r.query, r.nh = _view(method), _view(path), _view(query), <int>count
    for i in range(count):
        pair = items[i]
        if type(pair) is not tuple or len(<tuple>pair) != 2:
            return None                       # (ASGI allows lists too: the verifier takes those)
        name, value = (<tuple>pair)[0], (<tuple>pair)[1]
        if type(name) is not bytes or type(value) is not bytes:
            return None
        r.name[i], r.value[i] = _view(<bytes>name), _view(<bytes>value)
    if not s3s_parse(&r, now, max_skew, &a):
        return None
    access_key, date, region = _text(a.access), _text(a.date), _text(a.region)
    signing_key = key_for(access_key, date, region)
    if type(signing_key) is not bytes:
        return None
    if not s3s_verify(&r, &a, <const unsigned char*><const char*>signing_key, len(<bytes>signing_key)):
        return None
    payload = _text(a.sha)
    return (access_key, region, _text(a.stamp), _text(a.signature), payload.lower() if a.hex_payload else payload,
            tuple([_text(a.signed_names[i]) for i in range(a.nsigned)]), signing_key)
