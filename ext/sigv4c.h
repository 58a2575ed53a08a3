/* SigV4 for the common request, in plain C over the raw ASGI bytes (ext/sigv4.pyx feeds it).
 *
 * Why C: built from Python bytes objects (splits, partitions, a header dict, hashlib and
 * hmac calls) the check cost ~10 us per request, ~12 % of a small GET's interpreter time.
 * Here it is pointer arithmetic into the request's own bytes, one canonical request in a
 * stack buffer, and SHA-256 from the libcrypto that Python's hashlib already loaded.
 *
 * The contract is ext/sigv4.pyx's: s3s_parse answers 0 ("let the Python verifier decide")
 * for anything unusual, and s3s_verify says yes only when the signature matches exactly
 * what s3free/api/sigv4.py would compute for the same request.
 */
#ifndef S3FREE_SIGV4C_H
#define S3FREE_SIGV4C_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#define S3S_MAXH 64             /* more headers (or signed names) than this: the Python verifier */
#define S3S_MAXQ 64             /* query parameters */
#define S3S_CANON 16384         /* a longer canonical request: the Python verifier */

typedef struct { const unsigned char *p; size_t n; } s3s_str;

typedef struct {
    s3s_str method, path, query;
    int nh;
    s3s_str name[S3S_MAXH], value[S3S_MAXH];
} s3s_request;

typedef struct {
    s3s_str access, date, region, stamp, signature, sha, signed_text;
    int nsigned;
    s3s_str signed_names[S3S_MAXH];
    int hex_payload;            /* the payload hash is 64 hex digits (reported in lower case) */
} s3s_auth;

/* SHA-256 from libcrypto (resolved by the loader; the context is opaque, 112 bytes in
 * OpenSSL 1.1 and 3.x, given room to spare). */
typedef int (*s3s_sha_init_fn)(void *ctx);
typedef int (*s3s_sha_update_fn)(void *ctx, const void *data, size_t len);
typedef int (*s3s_sha_final_fn)(unsigned char *md, void *ctx);
static s3s_sha_init_fn s3s_sha_init;
static s3s_sha_update_fn s3s_sha_update;
static s3s_sha_final_fn s3s_sha_final;
typedef struct { _Alignas(16) unsigned char opaque[256]; } s3s_sha_ctx;

static const char S3S_ALG[] = "AWS4-HMAC-SHA256";

static inline s3s_str s3s_s(const unsigned char *p, size_t n) { s3s_str s = {p, n}; return s; }

static inline int s3s_is(s3s_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static inline int s3s_same(s3s_str a, s3s_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* What the Python verifier's str.strip() removes from ASCII text: \t-\r, \x1c-\x1f and space
 * (bytes.strip() would keep \x1c-\x1f: an access key starting with one must not verify here). */
static inline int s3s_ws(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

static s3s_str s3s_strip(s3s_str s)
{
    while (s.n && s3s_ws(s.p[0])) { s.p++; s.n--; }
    while (s.n && s3s_ws(s.p[s.n - 1])) s.n--;
    return s;
}

static int s3s_ascii(s3s_str s)
{
    for (size_t i = 0; i < s.n; i++) if (s.p[i] >= 0x80) return 0;
    return 1;
}

/* A non-empty header name already in canonical form: ASCII, lower case, no whitespace. */
static int s3s_plain_name(s3s_str s)
{
    if (!s.n) return 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = s.p[i];
        if (c >= 0x80 || (c >= 'A' && c <= 'Z') || c <= ' ') return 0;
    }
    return 1;
}

static inline int s3s_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static inline int s3s_upper_hex(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

/* Only unreserved bytes (and '/' if `slash`) or %XX in upper-case hex: what the canonical
 * form keeps exactly as sent. */
static int s3s_clean(s3s_str s, int slash)
{
    size_t i = 0;
    while (i < s.n) {
        unsigned char c = s.p[i];
        if (s3s_unreserved(c) || (slash && c == '/')) i++;
        else if (c == '%' && i + 2 < s.n && s3s_upper_hex(s.p[i + 1]) && s3s_upper_hex(s.p[i + 2])) i += 3;
        else return 0;
    }
    return 1;
}

static int s3s_hex64(s3s_str s)
{
    if (s.n != 64) return 0;
    for (size_t i = 0; i < 64; i++) {
        unsigned char c = s.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return 0;
    }
    return 1;
}

static int s3s_digits(const unsigned char *p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        *v = *v * 10 + (p[i] - '0');
    }
    return 1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, y >= 1). */
static long long s3s_days(int y, int m, int d)
{
    long long yy = y - (m <= 2), era = (yy >= 0 ? yy : yy - 399) / 400, yoe = yy - era * 400;
    long long doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* Seconds since the epoch of a "yyyyMMdd'T'HHmmss'Z'" stamp; 0 if it is not one. */
static int s3s_amz_seconds(s3s_str s, double *out)
{
    int y, mo, d, h, mi, se, days;
    if (s.n != 16 || s.p[8] != 'T' || s.p[15] != 'Z') return 0;
    if (!s3s_digits(s.p, 4, &y) || !s3s_digits(s.p + 4, 2, &mo) || !s3s_digits(s.p + 6, 2, &d) ||
        !s3s_digits(s.p + 9, 2, &h) || !s3s_digits(s.p + 11, 2, &mi) || !s3s_digits(s.p + 13, 2, &se))
        return 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return 0;
    if (mo == 2) days = (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
    else if (mo == 4 || mo == 6 || mo == 9 || mo == 11) days = 30;
    else days = 31;
    if (d > days) return 0;
    *out = (double)(s3s_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + se);
    return 1;
}

static int s3s_header(const s3s_request *r, s3s_str name)
{
    for (int i = 0; i < r->nh; i++) if (s3s_same(r->name[i], name)) return i;
    return -1;
}

static inline int s3s_header_lit(const s3s_request *r, const char *lit)
{
    return s3s_header(r, s3s_s((const unsigned char *)lit, strlen(lit)));
}

static int s3s_contains(s3s_str hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay.n; i++)
        if (hay.p[i] == (unsigned char)needle[0] && memcmp(hay.p + i, needle, n) == 0) return 1;
    return 0;
}

/* Next piece of `*rest` up to `sep` (the separator is consumed); like bytes.split. */
static s3s_str s3s_next(s3s_str *rest, unsigned char sep)
{
    const unsigned char *at = memchr(rest->p, sep, rest->n);
    s3s_str piece;
    if (at == NULL) {
        piece = *rest;
        rest->p += rest->n;
        rest->n = 0;
    } else {
        piece = s3s_s(rest->p, (size_t)(at - rest->p));
        rest->n -= piece.n + 1;
        rest->p = at + 1;
    }
    return piece;
}

/* Split `s` at its first `sep`: 0 if there is none. */
static int s3s_partition(s3s_str s, unsigned char sep, s3s_str *left, s3s_str *right)
{
    const unsigned char *at = memchr(s.p, sep, s.n);
    if (at == NULL) return 0;
    *left = s3s_s(s.p, (size_t)(at - s.p));
    *right = s3s_s(at + 1, s.n - left->n - 1);
    return 1;
}

/* A query parameter the fast path may canonicalise as sent. */
static int s3s_plain_param(s3s_str item, s3s_str *key, s3s_str *val)
{
    if (!s3s_partition(item, '=', key, val)) { *key = item; *val = s3s_s(item.p + item.n, 0); }
    if (!s3s_clean(*key, 0) || !s3s_clean(*val, 0) || memchr(key->p, '%', key->n) != NULL) return 0;
    if ((key->n >= 6 && memcmp(key->p, "X-Amz-", 6) == 0) || s3s_is(*key, "AWSAccessKeyId") ||
        s3s_is(*key, "Signature"))
        return 0;
    return 1;
}

/* Parse and check everything but the signature; 0: let the Python verifier decide. */
static int s3s_parse(const s3s_request *r, double now, int max_skew, s3s_auth *a)
{
    int i, j, ia, id, is;
    memset(a, 0, sizeof *a);
    if (!s3s_ascii(r->method)) return 0;     /* str.upper() of latin-1 differs from bytes.upper() */
    for (i = 0; i < r->nh; i++) {
        if (!s3s_plain_name(r->name[i])) return 0;
        for (j = 0; j < i; j++) if (s3s_same(r->name[i], r->name[j])) return 0;   /* repeated */
    }
    ia = s3s_header_lit(r, "authorization");
    id = s3s_header_lit(r, "x-amz-date");
    is = s3s_header_lit(r, "x-amz-content-sha256");
    if (ia < 0 || id < 0 || is < 0 || !s3s_ascii(r->value[ia])) return 0;

    /* Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=... */
    s3s_str auth = s3s_strip(r->value[ia]), head, rest, credential = {0}, signed_text = {0}, signature = {0};
    int got_c = 0, got_h = 0, got_s = 0;
    if (!s3s_partition(auth, ' ', &head, &rest)) { head = auth; rest = s3s_s(auth.p + auth.n, 0); }
    if (!s3s_is(head, S3S_ALG)) return 0;
    for (;;) {
        int last = memchr(rest.p, ',', rest.n) == NULL;
        s3s_str item = s3s_strip(s3s_next(&rest, ',')), key, val;
        if (!s3s_partition(item, '=', &key, &val)) return 0;
        val = s3s_strip(val);
        if (s3s_is(key, "Credential") && !got_c) { credential = val; got_c = 1; }
        else if (s3s_is(key, "SignedHeaders") && !got_h) { signed_text = val; got_h = 1; }
        else if (s3s_is(key, "Signature") && !got_s) { signature = val; got_s = 1; }
        else return 0;
        if (last) break;
    }
    if (!got_c || !got_h || !got_s) return 0;

    /* Credential: <access key>/<date>/<region>/s3/aws4_request (the key may hold '/') */
    size_t cut[4];
    int found = 0;
    for (size_t k = credential.n; k-- > 0 && found < 4;) if (credential.p[k] == '/') cut[found++] = k;
    if (found < 4) return 0;
    a->access = s3s_s(credential.p, cut[3]);
    a->date = s3s_s(credential.p + cut[3] + 1, cut[2] - cut[3] - 1);
    a->region = s3s_s(credential.p + cut[2] + 1, cut[1] - cut[2] - 1);
    s3s_str service = s3s_s(credential.p + cut[1] + 1, cut[0] - cut[1] - 1);
    s3s_str terminator = s3s_s(credential.p + cut[0] + 1, credential.n - cut[0] - 1);
    if (!a->access.n || !a->date.n || !a->region.n || !s3s_is(service, "s3") || !s3s_is(terminator, "aws4_request"))
        return 0;

    double seconds;
    a->stamp = s3s_strip(r->value[id]);
    if (!s3s_amz_seconds(a->stamp, &seconds) || a->date.n != 8 || memcmp(a->date.p, a->stamp.p, 8) != 0 ||
        fabs(now - seconds) > (double)max_skew)
        return 0;

    a->sha = s3s_strip(r->value[is]);
    if (s3s_is(a->sha, "UNSIGNED-PAYLOAD") || s3s_is(a->sha, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") ||
        s3s_is(a->sha, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") ||
        s3s_is(a->sha, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"))
        a->hex_payload = 0;
    else if (s3s_hex64(a->sha))
        a->hex_payload = 1;
    else
        return 0;

    a->signed_text = signed_text;
    a->signature = signature;
    s3s_str names = signed_text;
    int has_host = 0;
    for (;;) {
        int last = memchr(names.p, ';', names.n) == NULL;
        s3s_str name = s3s_next(&names, ';');
        if (!s3s_plain_name(name) || a->nsigned == S3S_MAXH) return 0;
        has_host |= s3s_is(name, "host");
        a->signed_names[a->nsigned++] = name;
        if (last) break;
    }
    if (!has_host) return 0;
    for (i = 0; i < r->nh; i++) {       /* an unsigned x-amz-* header is refused by the verifier */
        s3s_str n = r->name[i];
        if (n.n < 6 || memcmp(n.p, "x-amz-", 6) != 0 || i == is) continue;
        for (j = 0; j < a->nsigned && !s3s_same(a->signed_names[j], n); j++) {}
        if (j == a->nsigned) return 0;
    }

    if (s3s_contains(r->query, "Signature=") && s3s_contains(r->query, "AWSAccessKeyId=")) return 0;   /* SigV2 presigned */
    if (!s3s_clean(r->path, 1)) return 0;
    return 1;
}

static int s3s_pair_less(const s3s_str *a, const s3s_str *b)
{
    for (int f = 0; f < 2; f++) {       /* (key, value), compared like Python bytes */
        size_t n = a[f].n < b[f].n ? a[f].n : b[f].n;
        int c = n ? memcmp(a[f].p, b[f].p, n) : 0;
        if (c) return c < 0;
        if (a[f].n != b[f].n) return a[f].n < b[f].n;
    }
    return 0;
}

typedef struct { unsigned char *p; size_t n, cap; int bad; } s3s_out;

static inline void s3s_put(s3s_out *o, const void *p, size_t n)
{
    if (o->bad || o->n + n > o->cap) { o->bad = 1; return; }
    memcpy(o->p + o->n, p, n);
    o->n += n;
}

static inline void s3s_putc(s3s_out *o, unsigned char c) { s3s_put(o, &c, 1); }

/* Strip spaces and tabs; 0 if inner whitespace would need collapsing (the verifier's job). */
static int s3s_trim(s3s_str v, s3s_str *out)
{
    while (v.n && (v.p[0] == ' ' || v.p[0] == '\t')) { v.p++; v.n--; }
    while (v.n && (v.p[v.n - 1] == ' ' || v.p[v.n - 1] == '\t')) v.n--;
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = v.p[i];
        if (c == '\t' || c == '\r' || c == '\n' || (c == ' ' && i + 1 < v.n && v.p[i + 1] == ' ')) return 0;
    }
    *out = v;
    return 1;
}

/* The canonical request, as the bytes were sent; its length, or -1 (let the verifier decide). */
static long s3s_canonical(const s3s_request *r, const s3s_auth *a, unsigned char *buf, size_t cap)
{
    s3s_out o = {buf, 0, cap, 0};
    s3s_str pairs[S3S_MAXQ][2];
    int np = 0, i, j;
    for (size_t m = 0; m < r->method.n; m++) {
        unsigned char c = r->method.p[m];
        s3s_putc(&o, (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c);
    }
    s3s_putc(&o, '\n');
    if (r->path.n) s3s_put(&o, r->path.p, r->path.n); else s3s_putc(&o, '/');
    s3s_putc(&o, '\n');
    s3s_str rest = r->query;
    while (rest.n) {
        s3s_str item = s3s_next(&rest, '&'), key, val;
        if (!item.n) continue;
        if (np == S3S_MAXQ || !s3s_plain_param(item, &key, &val)) return -1;
        pairs[np][0] = key;
        pairs[np][1] = val;
        for (j = np++; j > 0 && s3s_pair_less(pairs[j], pairs[j - 1]); j--) {   /* insertion sort */
            s3s_str t0 = pairs[j][0], t1 = pairs[j][1];
            pairs[j][0] = pairs[j - 1][0]; pairs[j][1] = pairs[j - 1][1];
            pairs[j - 1][0] = t0; pairs[j - 1][1] = t1;
        }
    }
    for (i = 0; i < np; i++) {
        if (i) s3s_putc(&o, '&');
        s3s_put(&o, pairs[i][0].p, pairs[i][0].n);
        s3s_putc(&o, '=');
        s3s_put(&o, pairs[i][1].p, pairs[i][1].n);
    }
    s3s_putc(&o, '\n');
    for (i = 0; i < a->nsigned; i++) {
        int h = s3s_header(r, a->signed_names[i]);
        s3s_str value = s3s_s((const unsigned char *)"", 0);
        if (h >= 0 && !s3s_trim(r->value[h], &value)) return -1;
        s3s_put(&o, a->signed_names[i].p, a->signed_names[i].n);
        s3s_putc(&o, ':');
        s3s_put(&o, value.p, value.n);
        s3s_putc(&o, '\n');
    }
    s3s_putc(&o, '\n');
    s3s_put(&o, a->signed_text.p, a->signed_text.n);
    s3s_putc(&o, '\n');
    s3s_put(&o, a->sha.p, a->sha.n);
    return o.bad ? -1 : (long)o.n;
}

static void s3s_sha256(const void *p1, size_t n1, const void *p2, size_t n2, unsigned char md[32])
{
    s3s_sha_ctx ctx;
    s3s_sha_init(&ctx);
    s3s_sha_update(&ctx, p1, n1);
    if (n2) s3s_sha_update(&ctx, p2, n2);
    s3s_sha_final(md, &ctx);
}

static void s3s_hex(const unsigned char *md, size_t n, unsigned char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (unsigned char)digits[md[i] >> 4];
        out[2 * i + 1] = (unsigned char)digits[md[i] & 15];
    }
}

/* HMAC-SHA256 (RFC 2104) over SHA-256. */
static void s3s_hmac(const unsigned char *key, size_t keylen, const unsigned char *msg, size_t n,
                     unsigned char md[32])
{
    unsigned char k[64] = {0}, pad[64], inner[32];
    if (keylen > 64) s3s_sha256(key, keylen, NULL, 0, k);
    else memcpy(k, key, keylen);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
    s3s_sha256(pad, 64, msg, n, inner);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
    s3s_sha256(pad, 64, inner, 32, md);
}

/* 1 if the request's signature is the one `key` (the day's signing key) gives; 0 if not,
 * or if the request is too unusual to canonicalise here. */
static int s3s_verify(const s3s_request *r, const s3s_auth *a, const unsigned char *key, size_t keylen)
{
    unsigned char canon[S3S_CANON], md[32], to_sign[256], expected[64];
    long n = s3s_canonical(r, a, canon, sizeof canon);
    if (n < 0) return 0;
    s3s_out o = {to_sign, 0, sizeof to_sign, 0};
    s3s_put(&o, S3S_ALG, sizeof S3S_ALG - 1);
    s3s_putc(&o, '\n');
    s3s_put(&o, a->stamp.p, a->stamp.n);
    s3s_putc(&o, '\n');
    s3s_put(&o, a->date.p, a->date.n);
    s3s_putc(&o, '/');
    s3s_put(&o, a->region.p, a->region.n);
    s3s_put(&o, "/s3/aws4_request\n", 17);
    s3s_sha256(canon, (size_t)n, NULL, 0, md);
    if (o.bad || o.n + 64 > o.cap) return 0;
    s3s_hex(md, 32, to_sign + o.n);
    o.n += 64;
    s3s_hmac(key, keylen, to_sign, o.n, md);
    s3s_hex(md, 32, expected);
    if (a->signature.n != 64) return 0;
    unsigned char diff = 0;
    for (int i = 0; i < 64; i++) {      /* constant time, against the signature in lower case */
        unsigned char c = a->signature.p[i];
        diff |= (unsigned char)(expected[i] ^ ((c >= 'A' && c <= 'Z') ? c + 32 : c));
    }
    return diff == 0;
}

#endif
