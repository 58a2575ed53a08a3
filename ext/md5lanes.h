/* MD5 (RFC 1321) of several independent streams at once.
 *
 * Why: the ETag of every PUT is the MD5 of its body, and MD5 is one serial chain per
 * stream, so one core hashes ~700 MiB/s of one stream however it is written: each step
 * waits for the one before and most of the core's ALUs idle. Streams are independent,
 * though: two interleaved scalar chains run at ~1.9x one (measured 696 -> 1,304 MiB/s),
 * and three to eight fill the 32-bit lanes of a 256-bit vector (8 lanes: 3,600 MiB/s).
 * Concurrent uploads in one process therefore share a "mixer": whoever hashes first also
 * hashes the others' queued data, and newly arrived streams join between chunks.
 *
 * Written from the RFC: four rounds of sixteen steps, T[i] = floor(|sin(i + 1)| * 2^32),
 * little-endian words, padding 0x80 ... bit length.
 */
#ifndef S3FREE_MD5LANES_H
#define S3FREE_MD5LANES_H

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "md5lanes.h loads little-endian words with memcpy: add a byte swap for this target"
#endif

#define MD5L_LANES 8
#define MD5L_CHUNK_BLOCKS 1024        /* 64 KiB per lane between looks at the queue */
#define MD5L_SOLO_BLOCKS 64           /* 4 KiB when alone: a returning stream joins soon */
#define MD5L_RECENT 8                 /* streams remembered, to know whether a partner may come */
#define MD5L_RECENT_NS 10000000LL     /* "another stream is active": seen in the last 10 ms */
#define MD5L_PARTNER_NS 6000000LL     /* the longest a lone job waits for one (6 ms) */
#define MD5L_BLOCK_NS 85              /* hashing one 64-byte block alone (~770 MiB/s): also the */
                                      /* waiting a stream earns per block it brings */

typedef uint32_t md5l_vec __attribute__((vector_size(4 * MD5L_LANES)));

static uint32_t md5l_T[64];
static void md5l_atfork_prepare(void);
static void md5l_atfork_parent(void);
static void md5l_atfork_child(void);
static pthread_condattr_t md5l_condattr;     /* waits measured on CLOCK_MONOTONIC */

static void md5l_init(void)
{
    for (int i = 0; i < 64; i++)    /* exact in double precision: no |sin| lies near a 2^-32 step */
        md5l_T[i] = (uint32_t)(uint64_t)floor(fabs(sin((double)(i + 1))) * 4294967296.0);
    pthread_condattr_init(&md5l_condattr);
    pthread_condattr_setclock(&md5l_condattr, CLOCK_MONOTONIC);
    pthread_atfork(md5l_atfork_prepare, md5l_atfork_parent, md5l_atfork_child);
}

#define MD5L_F(x, y, z) ((((y) ^ (z)) & (x)) ^ (z))
#define MD5L_G(x, y, z) (((x) & (z)) + ((y) & ~(z)))   /* disjoint bits: + is |, and the y & ~z half is off the chain */
#define MD5L_H(x, y, z) ((x) ^ ((y) ^ (z)))          /* y ^ z is off the chain */
#define MD5L_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define MD5L_ROTL(x, s) (((x) << (s)) | ((x) >> (32 - (s))))
/* a + X[k] + T[i] does not wait for the previous step: only F, one add, the rotate and
 * the last add are on the chain that makes MD5 serial. */
#define MD5L_STEP(f, a, b, c, d, k, s, i) \
    do { a += X[k] + md5l_T[i]; a += f(b, c, d); a = b + MD5L_ROTL(a, s); } while (0)

/* The 64 steps over words X[0..15], for scalars and vectors alike. */
#define MD5L_ROUNDS(STEP)                                                                     \
    STEP(MD5L_F, a, b, c, d, 0, 7, 0);   STEP(MD5L_F, d, a, b, c, 1, 12, 1);          \
    STEP(MD5L_F, c, d, a, b, 2, 17, 2);  STEP(MD5L_F, b, c, d, a, 3, 22, 3);          \
    STEP(MD5L_F, a, b, c, d, 4, 7, 4);   STEP(MD5L_F, d, a, b, c, 5, 12, 5);          \
    STEP(MD5L_F, c, d, a, b, 6, 17, 6);  STEP(MD5L_F, b, c, d, a, 7, 22, 7);          \
    STEP(MD5L_F, a, b, c, d, 8, 7, 8);   STEP(MD5L_F, d, a, b, c, 9, 12, 9);          \
    STEP(MD5L_F, c, d, a, b, 10, 17, 10); STEP(MD5L_F, b, c, d, a, 11, 22, 11);       \
    STEP(MD5L_F, a, b, c, d, 12, 7, 12); STEP(MD5L_F, d, a, b, c, 13, 12, 13);        \
    STEP(MD5L_F, c, d, a, b, 14, 17, 14); STEP(MD5L_F, b, c, d, a, 15, 22, 15);       \
    STEP(MD5L_G, a, b, c, d, 1, 5, 16);  STEP(MD5L_G, d, a, b, c, 6, 9, 17);          \
    STEP(MD5L_G, c, d, a, b, 11, 14, 18); STEP(MD5L_G, b, c, d, a, 0, 20, 19);        \
    STEP(MD5L_G, a, b, c, d, 5, 5, 20);  STEP(MD5L_G, d, a, b, c, 10, 9, 21);         \
    STEP(MD5L_G, c, d, a, b, 15, 14, 22); STEP(MD5L_G, b, c, d, a, 4, 20, 23);        \
    STEP(MD5L_G, a, b, c, d, 9, 5, 24);  STEP(MD5L_G, d, a, b, c, 14, 9, 25);         \
    STEP(MD5L_G, c, d, a, b, 3, 14, 26); STEP(MD5L_G, b, c, d, a, 8, 20, 27);         \
    STEP(MD5L_G, a, b, c, d, 13, 5, 28); STEP(MD5L_G, d, a, b, c, 2, 9, 29);          \
    STEP(MD5L_G, c, d, a, b, 7, 14, 30); STEP(MD5L_G, b, c, d, a, 12, 20, 31);        \
    STEP(MD5L_H, a, b, c, d, 5, 4, 32);  STEP(MD5L_H, d, a, b, c, 8, 11, 33);         \
    STEP(MD5L_H, c, d, a, b, 11, 16, 34); STEP(MD5L_H, b, c, d, a, 14, 23, 35);       \
    STEP(MD5L_H, a, b, c, d, 1, 4, 36);  STEP(MD5L_H, d, a, b, c, 4, 11, 37);         \
    STEP(MD5L_H, c, d, a, b, 7, 16, 38); STEP(MD5L_H, b, c, d, a, 10, 23, 39);        \
    STEP(MD5L_H, a, b, c, d, 13, 4, 40); STEP(MD5L_H, d, a, b, c, 0, 11, 41);         \
    STEP(MD5L_H, c, d, a, b, 3, 16, 42); STEP(MD5L_H, b, c, d, a, 6, 23, 43);         \
    STEP(MD5L_H, a, b, c, d, 9, 4, 44);  STEP(MD5L_H, d, a, b, c, 12, 11, 45);        \
    STEP(MD5L_H, c, d, a, b, 15, 16, 46); STEP(MD5L_H, b, c, d, a, 2, 23, 47);        \
    STEP(MD5L_I, a, b, c, d, 0, 6, 48);  STEP(MD5L_I, d, a, b, c, 7, 10, 49);         \
    STEP(MD5L_I, c, d, a, b, 14, 15, 50); STEP(MD5L_I, b, c, d, a, 5, 21, 51);        \
    STEP(MD5L_I, a, b, c, d, 12, 6, 52); STEP(MD5L_I, d, a, b, c, 3, 10, 53);         \
    STEP(MD5L_I, c, d, a, b, 10, 15, 54); STEP(MD5L_I, b, c, d, a, 1, 21, 55);        \
    STEP(MD5L_I, a, b, c, d, 8, 6, 56);  STEP(MD5L_I, d, a, b, c, 15, 10, 57);        \
    STEP(MD5L_I, c, d, a, b, 6, 15, 58); STEP(MD5L_I, b, c, d, a, 13, 21, 59);        \
    STEP(MD5L_I, a, b, c, d, 4, 6, 60);  STEP(MD5L_I, d, a, b, c, 11, 10, 61);        \
    STEP(MD5L_I, c, d, a, b, 2, 15, 62); STEP(MD5L_I, b, c, d, a, 9, 21, 63)

/* One stream: `nblocks` 64-byte blocks into state[4]. */
static void md5l_compress1(uint32_t *state, const unsigned char *p, size_t nblocks)
{
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    for (; nblocks; nblocks--, p += 64) {
        uint32_t X[16];
        memcpy(X, p, 64);                     /* x86-64 and aarch64 are little-endian */
        uint32_t a0 = a, b0 = b, c0 = c, d0 = d;
        MD5L_ROUNDS(MD5L_STEP);
        a += a0; b += b0; c += c0; d += d0;
    }
    state[0] = a; state[1] = b; state[2] = c; state[3] = d;
}

#if defined(__GNUC__) && !defined(__clang__)
#define MD5L_SHUF(x, y, ...) __builtin_shuffle(x, y, (md5l_vec){__VA_ARGS__})
#else
#define MD5L_SHUF(x, y, ...) __builtin_shufflevector(x, y, __VA_ARGS__)
#endif

/* Transpose 8 rows of 8 words in place: 4x4 blocks, then 2x2, then single words. */
static inline void md5l_transpose8(md5l_vec *r)
{
    md5l_vec a[8], b[8];
    for (int i = 0; i < 4; i++) {
        a[i] = MD5L_SHUF(r[i], r[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        a[i + 4] = MD5L_SHUF(r[i], r[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
    for (int base = 0; base < 8; base += 4)
        for (int j = 0; j < 2; j++) {
            b[base + j] = MD5L_SHUF(a[base + j], a[base + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            b[base + j + 2] = MD5L_SHUF(a[base + j], a[base + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int base = 0; base < 8; base += 2) {
        r[base] = MD5L_SHUF(b[base], b[base + 1], 0, 8, 2, 10, 4, 12, 6, 14);
        r[base + 1] = MD5L_SHUF(b[base], b[base + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    }
}

/* Two streams in one pass: two independent scalar chains, interleaved, so the core runs
 * them side by side (each chain alone leaves most of its ALUs idle). */
#define MD5L_STEP2(f, a, b, c, d, k, s, i)                                        \
    do {                                                                          \
        a##1 += X1[k] + md5l_T[i]; a##2 += X2[k] + md5l_T[i];                     \
        a##1 += f(b##1, c##1, d##1); a##2 += f(b##2, c##2, d##2);                 \
        a##1 = b##1 + MD5L_ROTL(a##1, s); a##2 = b##2 + MD5L_ROTL(a##2, s);       \
    } while (0)

static void md5l_compress2(uint32_t *s1, const unsigned char *p1, uint32_t *s2, const unsigned char *p2,
                           size_t nblocks)
{
    uint32_t a1 = s1[0], b1 = s1[1], c1 = s1[2], d1 = s1[3];
    uint32_t a2 = s2[0], b2 = s2[1], c2 = s2[2], d2 = s2[3];
    for (; nblocks; nblocks--, p1 += 64, p2 += 64) {
        uint32_t X1[16], X2[16];
        memcpy(X1, p1, 64);
        memcpy(X2, p2, 64);
        uint32_t a10 = a1, b10 = b1, c10 = c1, d10 = d1, a20 = a2, b20 = b2, c20 = c2, d20 = d2;
        MD5L_ROUNDS(MD5L_STEP2);
        a1 += a10; b1 += b10; c1 += c10; d1 += d10;
        a2 += a20; b2 += b20; c2 += c20; d2 += d20;
    }
    s1[0] = a1; s1[1] = b1; s1[2] = c1; s1[3] = d1;
    s2[0] = a2; s2[1] = b2; s2[2] = c2; s2[3] = d2;
}

/* Up to MD5L_LANES streams, `nblocks` blocks each; lane l reads p[l] (NULL: an idle lane,
 * fed zeros, its state untouched). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__GLIBC__)
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#endif
static void md5l_compress_lanes(uint32_t *const state[MD5L_LANES], const unsigned char *const p[MD5L_LANES],
                                size_t nblocks)
{
    static const unsigned char zeros[64];
    const unsigned char *src[MD5L_LANES];
    size_t step[MD5L_LANES];
    md5l_vec a, b, c, d;
    for (int l = 0; l < MD5L_LANES; l++) {
        src[l] = p[l] ? p[l] : zeros;
        step[l] = p[l] ? 64 : 0;
        a[l] = state[l] ? state[l][0] : 0;
        b[l] = state[l] ? state[l][1] : 0;
        c[l] = state[l] ? state[l][2] : 0;
        d[l] = state[l] ? state[l][3] : 0;
    }
    for (size_t n = 0; n < nblocks; n++) {
        md5l_vec X[16];
        for (int l = 0; l < MD5L_LANES; l++) {     /* lane l's words 0-7 and 8-15 as rows */
            memcpy(&X[l], src[l], 32);
            memcpy(&X[8 + l], src[l] + 32, 32);
            src[l] += step[l];
        }
        md5l_transpose8(X);                        /* now X[k][l] = word k of lane l */
        md5l_transpose8(X + 8);
        md5l_vec a0 = a, b0 = b, c0 = c, d0 = d;
        MD5L_ROUNDS(MD5L_STEP);
        a += a0; b += b0; c += c0; d += d0;
    }
    for (int l = 0; l < MD5L_LANES; l++) {
        if (state[l] == NULL)
            continue;
        state[l][0] = a[l]; state[l][1] = b[l]; state[l][2] = c[l]; state[l][3] = d[l];
    }
}

/* -- the mixer: concurrent callers share the lanes ------------------------------------ */

typedef struct md5l_job {
    uint32_t *state;
    const unsigned char *p;
    size_t nblocks;                 /* left to hash */
    int done;
    pthread_cond_t wake;            /* its owner sleeps here: done, or the mixer is free */
    struct md5l_job *next;
} md5l_job;

static pthread_mutex_t md5l_mu = PTHREAD_MUTEX_INITIALIZER;
static md5l_job *md5l_queue;        /* jobs not done yet, oldest first */
static int md5l_busy;               /* someone is hashing the queue */
static int md5l_waiting;            /* the hasher waits for a partner: wake it on arrival */
static struct {
    const uint32_t *state;
    long long seen;                 /* when it was last fed (CLOCK_MONOTONIC ns) */
    pthread_t feeder;               /* by which thread: a thread is no partner of itself */
    long long budget;               /* ns it may still spend waiting for partners */
    long long done_at;              /* when its last job was hashed (0: none yet) */
    long long outside;              /* average ns from a job's end to its next job's arrival */
} md5l_recent[MD5L_RECENT];
static uint64_t md5l_passes, md5l_blocks;   /* 64-byte steps of the mixer, and the blocks they hashed */
static uint64_t md5l_waited_ns;     /* spent waiting for partners, all streams */

/* Hash the jobs' current chunk (called unlocked); returns the blocks each lane took. */
static size_t md5l_run_chunk(md5l_job **jobs, int n)
{
    size_t take = n == 1 ? MD5L_SOLO_BLOCKS : MD5L_CHUNK_BLOCKS;
    for (int i = 0; i < n; i++)
        if (jobs[i]->nblocks < take)
            take = jobs[i]->nblocks;
    if (n == 1) {
        md5l_compress1(jobs[0]->state, jobs[0]->p, take);
    } else if (n == 2) {
        md5l_compress2(jobs[0]->state, jobs[0]->p, jobs[1]->state, jobs[1]->p, take);
    } else {
        uint32_t *state[MD5L_LANES] = {0};
        const unsigned char *p[MD5L_LANES] = {0};
        for (int i = 0; i < n; i++) {
            state[i] = jobs[i]->state;
            p[i] = jobs[i]->p;
        }
        md5l_compress_lanes(state, p, take);
    }
    for (int i = 0; i < n; i++) {
        jobs[i]->p += 64 * take;
        jobs[i]->nblocks -= take;
    }
    return take;
}

static long long md5l_now(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Note that `state`'s stream is fed now; returns its slot in md5l_recent and sets
 * *others if another stream, fed lately by another thread, may come to share the work
 * (called locked). */
static int md5l_note_stream(const uint32_t *state, int *others)
{
    long long now = md5l_now(CLOCK_MONOTONIC);
    pthread_t self = pthread_self();
    int mine = -1, oldest = 0;
    *others = 0;
    for (int i = 0; i < MD5L_RECENT; i++) {
        if (md5l_recent[i].state == state)
            mine = i;
        else if (md5l_recent[i].state && now - md5l_recent[i].seen < MD5L_RECENT_NS
                 && !pthread_equal(md5l_recent[i].feeder, self))
            *others = 1;
        if (md5l_recent[i].seen < md5l_recent[oldest].seen)
            oldest = i;
    }
    if (mine < 0) {
        mine = oldest;
        md5l_recent[mine].state = state;
        md5l_recent[mine].budget = 0;
        md5l_recent[mine].done_at = 0;
        md5l_recent[mine].outside = 0;
    } else if (md5l_recent[mine].done_at) {
        long long gap = now - md5l_recent[mine].done_at;
        md5l_recent[mine].outside = (3 * md5l_recent[mine].outside + gap) / 4;
    }
    md5l_recent[mine].seen = now;
    md5l_recent[mine].feeder = self;
    return mine;
}

static int md5l_slot_of(const uint32_t *state)
{
    for (int i = 0; i < MD5L_RECENT; i++)
        if (md5l_recent[i].state == state)
            return i;
    return -1;
}

/* A stream has ended (digested or freed): it is no partner to wait for. */
static void md5l_forget(const uint32_t *state)
{
    pthread_mutex_lock(&md5l_mu);
    for (int i = 0; i < MD5L_RECENT; i++)
        if (md5l_recent[i].state == state)
            md5l_recent[i].state = NULL;
    pthread_mutex_unlock(&md5l_mu);
}

/* Hash `nblocks` blocks of `p` into `state`, sharing the work with concurrent callers.
 * Call without the GIL. Uploads rarely reach their hash step at the same moment, so a lone
 * job may wait for a partner: only while another live stream, fed by another thread, was
 * fed in the last MD5L_RECENT_NS; only if this stream spends longer elsewhere than hashing
 * this job takes (a stream that comes straight back is bound by its hashing and never
 * waits); at most that long, and out of a budget it earns per block it brings. */
static void md5l_mixed(uint32_t *state, const unsigned char *p, size_t nblocks)
{
    if (nblocks == 0)
        return;
    md5l_job job;
    job.state = state;
    job.p = p;
    job.nblocks = nblocks;
    job.done = 0;
    job.next = NULL;
    pthread_cond_init(&job.wake, &md5l_condattr);
    pthread_mutex_lock(&md5l_mu);
    md5l_job **tail = &md5l_queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = &job;
    int others;
    int slot = md5l_note_stream(state, &others);
    long long budget = md5l_recent[slot].budget + (long long)nblocks * MD5L_BLOCK_NS;
    if (budget > MD5L_PARTNER_NS)
        budget = MD5L_PARTNER_NS;
    md5l_recent[slot].budget = budget;
    /* Wait only for a stream that spends longer elsewhere (receiving, writing) than hashing
     * this job takes: then a short wait costs it nothing. One that comes straight back is
     * bound by its hashing and never waits. */
    long long slack = md5l_recent[slot].outside;
    int may_wait = others && budget > 0 && slack >= (long long)nblocks * MD5L_BLOCK_NS;
    if (budget > slack)
        budget = slack;
    if (md5l_waiting)
        pthread_cond_signal(&md5l_queue->wake);   /* the head is the hasher waiting for a partner */
    while (!job.done) {
        if (md5l_busy) {
            pthread_cond_wait(&job.wake, &md5l_mu);
            continue;
        }
        md5l_busy = 1;
        if (may_wait && md5l_queue == &job && job.next == NULL) {
            long long start = md5l_now(CLOCK_MONOTONIC);
            long long deadline = start + budget;
            struct timespec until = {deadline / 1000000000LL, deadline % 1000000000LL};
            md5l_waiting = 1;
            while (job.next == NULL && pthread_cond_timedwait(&job.wake, &md5l_mu, &until) == 0)
                ;
            md5l_waiting = 0;
            may_wait = 0;
            long long waited = md5l_now(CLOCK_MONOTONIC) - start;
            md5l_waited_ns += (uint64_t)waited;
            if ((slot = md5l_slot_of(state)) >= 0)
                md5l_recent[slot].budget -= waited;
        }
        while (!job.done) {
            md5l_job *lanes[MD5L_LANES];
            int n = 0;
            for (md5l_job *j = md5l_queue; j && n < MD5L_LANES; j = j->next)
                lanes[n++] = j;
            pthread_mutex_unlock(&md5l_mu);
            size_t took = md5l_run_chunk(lanes, n);
            pthread_mutex_lock(&md5l_mu);
            md5l_passes += took;
            md5l_blocks += took * n;
            for (md5l_job **at = &md5l_queue; *at;) {
                md5l_job *j = *at;
                if (j->nblocks == 0) {
                    *at = j->next;
                    j->done = 1;
                    int js = md5l_slot_of(j->state);
                    if (js >= 0)
                        md5l_recent[js].done_at = md5l_now(CLOCK_MONOTONIC);
                    if (j != &job)
                        pthread_cond_signal(&j->wake);
                } else {
                    at = &j->next;
                }
            }
        }
        md5l_busy = 0;
        if (md5l_queue)
            pthread_cond_signal(&md5l_queue->wake);   /* hand the mixer to the oldest waiter */
    }
    pthread_mutex_unlock(&md5l_mu);
    pthread_cond_destroy(&job.wake);
}

/* fork(): no thread may be inside the mixer's lock when the process is copied; the child
 * starts with an empty mixer (the other threads and their jobs do not exist there). */
static void md5l_atfork_prepare(void)
{
    pthread_mutex_lock(&md5l_mu);
}

static void md5l_atfork_parent(void)
{
    pthread_mutex_unlock(&md5l_mu);
}

static void md5l_atfork_child(void)
{
    md5l_queue = NULL;
    md5l_busy = 0;
    md5l_waiting = 0;
    memset(md5l_recent, 0, sizeof(md5l_recent));
    pthread_mutex_unlock(&md5l_mu);
}

/* The mixer's 64-byte steps and the blocks they hashed: blocks / passes is how many
 * streams shared a step on average (for metrics and tests). */
static void md5l_stats(uint64_t *passes, uint64_t *blocks, uint64_t *waited_ns)
{
    pthread_mutex_lock(&md5l_mu);
    *passes = md5l_passes;
    *blocks = md5l_blocks;
    *waited_ns = md5l_waited_ns;
    pthread_mutex_unlock(&md5l_mu);
}

#endif
