# ISA-L entry points, resolved at import time with dlsym() from the ISA-L copies that
# ship inside the pyeclib and isal wheels (see loader.pxi and docs/native.md).

ctypedef void (*ec_encode_data_t)(int len, int k, int rows, unsigned char *gftbls,
                                  unsigned char **data, unsigned char **coding) noexcept nogil
ctypedef void (*ec_init_tables_t)(int k, int rows, unsigned char *a,
                                  unsigned char *gftbls) noexcept nogil
ctypedef void (*gf_gen_cauchy1_matrix_t)(unsigned char *a, int m, int k) noexcept nogil
ctypedef int (*gf_invert_matrix_t)(unsigned char *inp, unsigned char *out, const int n) noexcept nogil
ctypedef unsigned char (*gf_mul_t)(unsigned char a, unsigned char b) noexcept nogil
ctypedef unsigned int (*crc32_iscsi_t)(unsigned char *buffer, int len, unsigned int init_crc) noexcept nogil
ctypedef unsigned int (*crc32_gzip_refl_t)(unsigned int init_crc, const unsigned char *buf,
                                           unsigned long long len) noexcept nogil
ctypedef unsigned long long (*crc64_refl_t)(unsigned long long init_crc, const unsigned char *buf,
                                            unsigned long long len) noexcept nogil
