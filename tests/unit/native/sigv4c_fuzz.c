/* Memory-safety fuzz of ext/sigv4c.h, built with ASan/UBSan by test_sigv4c_fuzz.py.
 *
 * The SigV4 check parses bytes straight off the network. Every piece of a random request
 * sits in its own exactly-sized heap block, so any read past a piece's end is an ASan
 * error. Half the requests are well formed with a few bytes changed, so parsing gets as
 * far as the canonical request and the HMAC. Exit status: 0, or 2 if a random key ever
 * verified (it must not); the counts printed let the test check how deep it got.
 *
 * usage: sigv4c_fuzz ITERATIONS SEED
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include "sigv4c.h"

int SHA256_Init(void *c);
int SHA256_Update(void *c, const void *d, size_t n);
int SHA256_Final(unsigned char *md, void *c);

#define NOW 1795557000.0        /* 2026-11-24T21:50:00Z, the stamps below */

static unsigned long long rs;
static unsigned rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return (unsigned)rs; }

static const char *pieces[] = {
    "AWS4-HMAC-SHA256", " ", ",", "=", "/", ";", "Credential", "SignedHeaders", "Signature", "AKID", "20261124",
    "us-east-1", "s3", "aws4_request", "host", "x-amz-date", "x-amz-content-sha256", "%2F", "%", "&", "a=b",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "20261124T215000Z", "UNSIGNED-PAYLOAD",
    "\t", "  ", "\n", "A", "\x80", "",
};
static const char *names[] = {"authorization", "x-amz-date", "x-amz-content-sha256", "host", "range", "x-amz-meta-a"};

static unsigned char *blocks[4 * S3S_MAXH + 8];
static int nblocks;

static s3s_str piece(const void *p, size_t n)    /* a copy in its own heap block */
{
    unsigned char *b = malloc(n ? n : 1);
    memcpy(b, p, n);
    blocks[nblocks++] = b;
    return s3s_s(b, n);
}

static s3s_str random_piece(size_t cap)
{
    static unsigned char tmp[20000];
    size_t n = 0;
    for (int i = 0, k = (int)(rnd() % 40); i < k; i++) {
        if (rnd() % 8 == 0) { if (n < cap) tmp[n++] = (unsigned char)rnd(); continue; }
        const char *p = pieces[rnd() % (sizeof pieces / sizeof *pieces)];
        size_t l = strlen(p);
        if (n + l > cap) break;
        memcpy(tmp + n, p, l);
        n += l;
    }
    if (rnd() % 64 == 0) { memset(tmp, 'v', cap); n = cap; }     /* now and then, the longest */
    return piece(tmp, n);
}

static void well_formed(s3s_request *r)
{
    char auth[400];
    static const char *dates[] = {"20261124T215000Z", "20261124T215000Z", "2026112T215000Z", " 20261124T215000Z "};
    snprintf(auth, sizeof auth,
             "AWS4-HMAC-SHA256 Credential=%s/20261124/us-east-1/s3/aws4_request, SignedHeaders=%s, Signature=%s",
             rnd() % 2 ? "AK/ID" : "AKID", rnd() % 2 ? "host;x-amz-content-sha256;x-amz-date" : "host;range;x-amz-date",
             "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef");
    size_t l = strlen(auth);
    for (int m = (int)(rnd() % 3); m > 0; m--) auth[rnd() % l] = (char)(rnd() % 2 ? ' ' : rnd());
    const char *values[] = {auth, dates[rnd() % 4],
                            rnd() % 2 ? "UNSIGNED-PAYLOAD" : "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF",
                            "127.0.0.1:9000", "bytes=0-9"};
    if (rnd() % 4) {        /* mostly a plain method and path, so the query is what varies */
        r->method = piece("GET", 3);
        r->path = piece("/bucket/key", 11);
    }
    r->nh = 3 + (int)(rnd() % 3);
    for (int i = 0; i < r->nh; i++) {
        r->name[i] = piece(names[i], strlen(names[i]));
        r->value[i] = piece(values[i], strlen(values[i]));
    }
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 100000, parsed = 0, verified = 0;
    rs = argc > 2 ? strtoull(argv[2], NULL, 10) | 1 : 88172645463325252ULL;
    s3s_sha_init = (s3s_sha_init_fn)SHA256_Init;
    s3s_sha_update = (s3s_sha_update_fn)SHA256_Update;
    s3s_sha_final = (s3s_sha_final_fn)SHA256_Final;
    for (long it = 0; it < iterations; it++) {
        s3s_request r;
        s3s_auth a;
        nblocks = 0;
        r.method = random_piece(8);
        r.path = random_piece(64);
        r.query = random_piece(rnd() % 4 ? 64 : 4000);
        if (rnd() % 2) {
            well_formed(&r);
        } else {
            r.nh = (int)(rnd() % (S3S_MAXH + 1));
            for (int i = 0; i < r.nh; i++) {
                const char *name = names[rnd() % 6];
                r.name[i] = rnd() % 3 ? piece(name, strlen(name)) : random_piece(20);
                r.value[i] = random_piece(rnd() % 16 ? 200 : 19000);
            }
        }
        if (s3s_parse(&r, NOW + (rnd() % 2000), 900, &a)) {
            unsigned char key[100];
            for (int i = 0; i < 100; i++) key[i] = (unsigned char)rnd();
            parsed++;
            verified += s3s_verify(&r, &a, key, rnd() % 2 ? 32 : 100);
        }
        for (int i = 0; i < nblocks; i++) free(blocks[i]);
    }
    printf("iterations %ld parsed %ld verified %ld\n", iterations, parsed, verified);
    return verified ? 2 : 0;
}
