# cython: language_level=3
# The s3free native core: one module assembled from its parts (MagicStack style).
# Its public face, with argument checks and docs, is s3free/native.py and s3free/ioengine/.
from cpython.buffer cimport PyBUF_WRITABLE, PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from libc.stdlib cimport malloc, free

from c_isal cimport *
from c_uring cimport *

include "consts.pxi"
include "loader.pxi"
include "buffers.pyx"
include "crc.pyx"
include "rs.pyx"
include "ring.pyx"
include "files.pyx"
include "sigv4.pyx"
include "md5.pyx"
