/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AES-256-XTS over OpenSSL EVP.
 *
 * What it owns: XTS_POOL pairs of EVP contexts (one encrypting, one
 * decrypting), each pair keyed once in xts_new() so that the AES key
 * schedules are computed once per disk, never per block. A call only sets
 * the IV (the tweak) and runs one EVP_CipherUpdate().
 *
 * Invariants: an EVP context is used by one thread at a time. A caller
 * takes the first pair whose mutex it can trylock, starting at a rotating
 * index so that concurrent callers spread over the pool; only when every
 * pair is busy does it wait. No lock is shared between xts contexts, so
 * disks never contend with each other.
 *
 * The tweak is the data-unit number as a 128-bit little-endian integer
 * (IEEE 1619-2007 5.1; dm-crypt's "plain64"), the form OpenSSL takes as IV.
 *
 * A call of at least XTS_PAR_MIN_BYTES is shared with helper threads (one
 * pool per process, started on first use: as many as the online CPUs less
 * one, at most XTS_MAX_HELPERS, or xts_set_helpers()): the call is cut in
 * pieces of XTS_PIECE_BYTES, posted once, and the caller and any helper
 * that is free take pieces off one atomic counter until none is left. The
 * caller never waits for a helper to start, only for the pieces a helper
 * already took (one piece's work): with every helper busy on other disks'
 * calls the caller does all of it alone, so one disk cannot stall another.
 * One xts_crypt() of a piece is what a single-threaded call would run, so
 * the output is the same bytes.
 *
 * What it deliberately does not do: ciphertext stealing (our units are
 * whole blocks; lengths that are not a multiple of 16 are refused), or keep
 * any copy of the key (OpenSSL's contexts hold the schedules, and
 * EVP_CIPHER_CTX_free() wipes them).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto/xts.h"

#define XTS_POOL 8u
#define XTS_IV_BYTES 16
#define XTS_PAR_MIN_BYTES (64u << 10)
#define XTS_PIECE_BYTES (32u << 10)
#define XTS_QUEUE 16u
#define XTS_SPIN_NS 50000L

struct xts_pair {
	pthread_mutex_t lock;
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
} __attribute__((aligned(64))); /* no false sharing between pairs */

struct xts {
	struct xts_pair pairs[XTS_POOL];
	atomic_uint next; /* where the next caller starts looking */
};

void xts_free(struct xts *xts)
{
	unsigned int i;

	if (!xts)
		return;
	for (i = 0; i < XTS_POOL; i++) {
		EVP_CIPHER_CTX_free(xts->pairs[i].enc);
		EVP_CIPHER_CTX_free(xts->pairs[i].dec);
		pthread_mutex_destroy(&xts->pairs[i].lock);
	}
	free(xts);
}

static EVP_CIPHER_CTX *ctx_new(const EVP_CIPHER *cipher, const uint8_t *key,
			       int enc, int *rc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx) {
		*rc = -ENOMEM;
		return NULL;
	}
	if (EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		*rc = -EINVAL;
		return NULL;
	}
	return ctx;
}

int xts_new(const struct key *key, struct xts **xts_r)
{
	EVP_CIPHER *cipher;
	struct xts *xts;
	unsigned int i;
	int rc = 0;

	cipher = EVP_CIPHER_fetch(NULL, "AES-256-XTS", NULL);
	if (!cipher)
		return -EINVAL;
	xts = aligned_alloc(64, sizeof(*xts));
	if (!xts) {
		EVP_CIPHER_free(cipher);
		return -ENOMEM;
	}
	memset(xts, 0, sizeof(*xts));
	atomic_init(&xts->next, 0);
	for (i = 0; i < XTS_POOL; i++)
		pthread_mutex_init(&xts->pairs[i].lock, NULL);
	for (i = 0; i < XTS_POOL && !rc; i++) {
		struct xts_pair *p = &xts->pairs[i];

		p->enc = ctx_new(cipher, key_bytes(key), 1, &rc);
		if (p->enc)
			p->dec = ctx_new(cipher, key_bytes(key), 0, &rc);
	}
	/* The contexts hold their own references to the cipher. */
	EVP_CIPHER_free(cipher);
	if (rc) {
		xts_free(xts);
		return rc;
	}
	*xts_r = xts;
	return 0;
}

static struct xts_pair *pair_get(struct xts *xts)
{
	unsigned int start =
		atomic_fetch_add_explicit(&xts->next, 1, memory_order_relaxed);
	unsigned int i;
	struct xts_pair *p;

	for (i = 0; i < XTS_POOL; i++) {
		p = &xts->pairs[(start + i) % XTS_POOL];
		if (pthread_mutex_trylock(&p->lock) == 0)
			return p;
	}
	p = &xts->pairs[start % XTS_POOL];
	pthread_mutex_lock(&p->lock);
	return p;
}

/* Units first.. of len bytes each, nr of them, under one pair. */
static int xts_crypt1(struct xts *xts, int enc, uint64_t first, const void *in,
		      void *out, size_t len, uint32_t nr)
{
	const unsigned char *src = in;
	unsigned char *dst = out;
	struct xts_pair *p;
	EVP_CIPHER_CTX *ctx;
	uint32_t k;
	int ok = 1;

	if (len < 16 || len > XTS_MAX_UNIT_BYTES || len % 16)
		return -EINVAL;
	p = pair_get(xts);
	ctx = enc ? p->enc : p->dec;
	for (k = 0; k < nr && ok; k++) {
		uint8_t iv[XTS_IV_BYTES] = { 0 };
		uint64_t unit = first + k;
		unsigned int i;
		int outl = 0;

		for (i = 0; i < 8; i++)
			iv[i] = (uint8_t)(unit >> (8 * i));
		/* NULL cipher and key: keep the schedule, only load the new
		 * tweak. */
		ok = EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) == 1 &&
		     EVP_CipherUpdate(ctx, dst + (size_t)k * len, &outl,
				      src + (size_t)k * len, (int)len) == 1 &&
		     (size_t)outl == len;
	}
	pthread_mutex_unlock(&p->lock);
	return ok ? 0 : -EIO;
}

/* ---- the helpers: one pool per process ---- */

struct xts_job {
	struct xts *xts;
	int enc;
	uint64_t first;
	const unsigned char *in;
	unsigned char *out;
	size_t len;
	uint32_t per_piece, nr, pieces;
	atomic_uint next; /* the next piece to take */
	atomic_int err;
	unsigned int riders; /* helpers inside the job (under pool.lock) */
	bool queued;         /* still in pool.queue (under pool.lock) */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was posted */
	pthread_cond_t left; /* a helper left a job */
	struct xts_job *queue[XTS_QUEUE];
	unsigned int head, count;
	unsigned int started;   /* helper threads running */
	unsigned int spinning;  /* helpers polling pending before sleeping */
	atomic_uint pending;    /* = count, read without the lock */
	atomic_uint wanted;     /* helpers to use; UINT_MAX: not set yet */
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.left = PTHREAD_COND_INITIALIZER,
	.wanted = UINT32_MAX,
};

/* A spinning thread's breath: the CPU's pause hint where it has one. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Take pieces of job until none is left. */
static void job_run(struct xts_job *j)
{
	for (;;) {
		unsigned int i = atomic_fetch_add_explicit(
			&j->next, 1, memory_order_relaxed);
		uint32_t k, n;
		int rc;

		if (i >= j->pieces)
			return;
		k = i * j->per_piece;
		n = j->nr - k < j->per_piece ? j->nr - k : j->per_piece;
		rc = xts_crypt1(j->xts, j->enc, j->first + k,
				j->in + (size_t)k * j->len,
				j->out + (size_t)k * j->len, j->len, n);
		if (rc)
			atomic_store(&j->err, rc);
	}
}

static void queue_remove(struct xts_job *j)
{
	unsigned int i, n = 0;
	struct xts_job *keep[XTS_QUEUE];

	for (i = 0; i < pool.count; i++) {
		struct xts_job *q = pool.queue[(pool.head + i) % XTS_QUEUE];

		if (q != j)
			keep[n++] = q;
	}
	for (i = 0; i < n; i++)
		pool.queue[(pool.head + i) % XTS_QUEUE] = keep[i];
	pool.count = n;
	atomic_store_explicit(&pool.pending, n, memory_order_relaxed);
	j->queued = false;
}

static void *helper_main(void *arg)
{
	sigset_t all;

	(void)arg;
	/*
	 * No signals for a helper, except the ones its own faults raise: a
	 * SIGBUS taken while blocked is not delivered but kills the process
	 * (the kernel resets it to the default), and a piece may be written
	 * into a mapped scratch whose page was lost (cow/store-map.c).
	 */
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* its own name (prctl), not its creator's ring's */
	pthread_setname_np(pthread_self(), "xts helper");
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		struct xts_job *j;

		while (!pool.count) {
			/* Calls come back to back (a request's chunks): spin
			 * a little before sleeping, so that the next one
			 * does not wait for a wake-up. */
			struct timespec t0, t;

			pool.spinning++;
			pthread_mutex_unlock(&pool.lock);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			do {
				cpu_relax();
				clock_gettime(CLOCK_MONOTONIC, &t);
			} while (!atomic_load_explicit(&pool.pending,
						       memory_order_relaxed) &&
				 (t.tv_sec - t0.tv_sec) * 1000000000L +
						 (t.tv_nsec - t0.tv_nsec) <
					 XTS_SPIN_NS);
			pthread_mutex_lock(&pool.lock);
			pool.spinning--;
			if (!pool.count)
				pthread_cond_wait(&pool.work, &pool.lock);
		}
		j = pool.queue[pool.head];
		pool.head = (pool.head + 1) % XTS_QUEUE;
		pool.count--;
		atomic_store_explicit(&pool.pending, pool.count,
				      memory_order_relaxed);
		j->queued = false;
		j->riders++;
		pthread_mutex_unlock(&pool.lock);
		job_run(j);
		pthread_mutex_lock(&pool.lock);
		if (--j->riders == 0)
			pthread_cond_broadcast(&pool.left);
	}
	return NULL;
}

static unsigned int helpers_wanted(void)
{
	unsigned int w = atomic_load(&pool.wanted);

	if (w == UINT32_MAX) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		w = n > 1 ? (unsigned int)(n - 1) : 0;
		if (w > XTS_MAX_HELPERS)
			w = XTS_MAX_HELPERS;
		atomic_store(&pool.wanted, w);
	}
	return w;
}

void xts_set_helpers(unsigned int n)
{
	atomic_store(&pool.wanted,
		     n > XTS_MAX_HELPERS ? XTS_MAX_HELPERS : n);
}

unsigned int xts_helpers(void)
{
	return helpers_wanted();
}

/*
 * Post j for up to want helpers (starting them as needed: a helper that
 * cannot be started is simply not there). Under pool.lock.
 */
static void job_post(struct xts_job *j, unsigned int want)
{
	while (pool.started < want) {
		pthread_t t;
		pthread_attr_t a;
		int rc;

		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&a, 256u << 10);
		rc = pthread_create(&t, &a, helper_main, NULL);
		pthread_attr_destroy(&a);
		if (rc) {
			/* no more threads to be had: make do, stop asking */
			atomic_store(&pool.wanted, pool.started);
			break;
		}
		pool.started++;
	}
	if (!pool.started || pool.count == XTS_QUEUE)
		return;
	pool.queue[(pool.head + pool.count) % XTS_QUEUE] = j;
	pool.count++;
	atomic_store_explicit(&pool.pending, pool.count, memory_order_relaxed);
	j->queued = true;
	/* a spinning helper checks count under the lock before it sleeps */
	if (!pool.spinning)
		pthread_cond_signal(&pool.work);
}

static int xts_crypt(struct xts *xts, int enc, uint64_t first, const void *in,
		     void *out, size_t len, uint32_t nr)
{
	struct xts_job j;
	unsigned int want;
	uint32_t per;

	if (len < 16 || len > XTS_MAX_UNIT_BYTES || len % 16)
		return -EINVAL;
	if ((uint64_t)nr * len < XTS_PAR_MIN_BYTES || nr < 2 ||
	    !(want = helpers_wanted()))
		return xts_crypt1(xts, enc, first, in, out, len, nr);
	per = len >= XTS_PIECE_BYTES ? 1 : (uint32_t)(XTS_PIECE_BYTES / len);
	j = (struct xts_job){ .xts = xts, .enc = enc, .first = first,
			      .in = in, .out = out, .len = len,
			      .per_piece = per, .nr = nr,
			      .pieces = (nr + per - 1) / per };
	atomic_init(&j.next, 0);
	atomic_init(&j.err, 0);
	pthread_mutex_lock(&pool.lock);
	job_post(&j, want);
	pthread_mutex_unlock(&pool.lock);
	job_run(&j);
	/* Every piece is taken: drop the job from the queue if no helper
	 * came, wait for those that did to finish theirs. */
	pthread_mutex_lock(&pool.lock);
	if (j.queued)
		queue_remove(&j);
	while (j.riders)
		pthread_cond_wait(&pool.left, &pool.lock);
	pthread_mutex_unlock(&pool.lock);
	return atomic_load(&j.err);
}

int xts_encrypt_units(struct xts *xts, uint64_t first, const void *in,
		      void *out, size_t unit_bytes, uint32_t nr)
{
	return xts_crypt(xts, 1, first, in, out, unit_bytes, nr);
}

int xts_decrypt_units(struct xts *xts, uint64_t first, const void *in,
		      void *out, size_t unit_bytes, uint32_t nr)
{
	return xts_crypt(xts, 0, first, in, out, unit_bytes, nr);
}

int xts_encrypt(struct xts *xts, uint64_t unit, const void *in, void *out,
		size_t len)
{
	return xts_crypt(xts, 1, unit, in, out, len, 1);
}

int xts_decrypt(struct xts *xts, uint64_t unit, const void *in, void *out,
		size_t len)
{
	return xts_crypt(xts, 0, unit, in, out, len, 1);
}
