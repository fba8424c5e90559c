/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The file store's I/O paths, in each of its four modes (O_DIRECT or the
 * page cache, io_uring or pread/pwrite):
 * - data round-trips for calls of one block up to many chunks, from
 *   aligned and unaligned buffers, through read/write and through the
 *   pipelined write_fill/read_each (each chunk produced or handed over
 *   exactly once, in slot order, covering the call; over io_uring a chunk
 *   is filled only once the ones before it went to the kernel);
 * - a short read or write (the kernel may return one; the hook makes the
 *   store really do less) is finished, and the data is whole;
 * - an I/O error (EIO) fails the call cleanly, the store keeps working,
 *   and an xts store on top reports it;
 * - a scratch file that shrank under the store gives -EIO, never zeros
 *   passed off as data.
 * Faults come from store_file_set_fault(), which is asked before every I/O.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cow/store.h"
#include "cow/store-local.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define BLK STORE_BLK_BYTES
#define NR_BLKS 1024u /* 4 MiB: calls of many chunks */

static struct rng rng;

static const unsigned int modes[] = {
	0,
	STORE_FILE_NO_URING,
	STORE_FILE_DIRECT,
	STORE_FILE_DIRECT | STORE_FILE_NO_URING,
};

/* Never mapped (a TMPDIR on tmpfs would be): these are the I/O paths;
 * test-store-map has the mapped one. */
static struct store *open_mode(unsigned int flags)
{
	struct store *s;

	CHECK_OK(store_file_new_flags(test_tmpdir(), NR_BLKS,
				      flags | STORE_FILE_NO_MAP, &s));
	return s;
}

/* What the fault hook does. */
struct fault {
	unsigned int calls;    /* I/Os seen */
	unsigned int fail_at;  /* this I/O (1-based) fails with err; 0: none */
	int err;
	bool short_io;         /* every I/O of more than a block does half */
	unsigned int shorts;   /* how many were cut */
};

static int fault_fn(void *arg, bool write, uint64_t offset, size_t len)
{
	struct fault *f = arg;

	(void)write;
	(void)offset;
	f->calls++;
	if (f->fail_at && f->calls == f->fail_at)
		return f->err;
	if (f->short_io && len > BLK) {
		f->shorts++;
		return (int)(len / 2 / BLK * BLK); /* aligned, for O_DIRECT */
	}
	return (int)len;
}

/* write_fill's producer and read_each's consumer, checking the calls. */
struct pipe {
	const unsigned char *src; /* write_fill: the data of slot first */
	unsigned char *seen;      /* read_each: copy of what arrived */
	uint64_t first, next;     /* slots: start, and the next expected */
	unsigned int calls;
	int fail_at; /* this call (1-based) returns -ECANCELED */
	struct store *s; /* write_fill over io_uring: check the overlap */
	uint64_t submitted0; /* store_file_submitted() at the call's start */
};

static bool over_uring(struct store *s)
{
	return s->ops->io_mode && !strncmp(s->ops->io_mode(s), "io_uring", 8);
}

static int pipe_fill(void *arg, void *buf, uint64_t slot, uint32_t n)
{
	struct pipe *p = arg;

	CHECK((uintptr_t)buf % 4096 == 0, "write_fill buffer not aligned");
	CHECK(slot == p->next, "fill of slot %llu, expected %llu",
	      (unsigned long long)slot, (unsigned long long)p->next);
	p->next += n;
	/* Over io_uring every chunk before this one is with the kernel
	 * already: the fill overlaps their writes (store.h's promise). */
	if (p->s && over_uring(p->s))
		CHECK(store_file_submitted(p->s) - p->submitted0 >= p->calls,
		      "fill of chunk %u before chunk %u was submitted",
		      p->calls, p->calls - 1);
	if (++p->calls == (unsigned int)p->fail_at)
		return -ECANCELED;
	memcpy(buf, p->src + (slot - p->first) * BLK, (size_t)n * BLK);
	return 0;
}

static int pipe_each(void *arg, void *chunk, uint64_t slot, uint32_t n)
{
	struct pipe *p = arg;

	/* Chunks may complete out of order; each must come once. */
	CHECK(slot >= p->first, "chunk of slot %llu before the call",
	      (unsigned long long)slot);
	memcpy(p->seen + (slot - p->first) * BLK, chunk, (size_t)n * BLK);
	p->next += n;
	p->calls++;
	return 0;
}

static void roundtrip(struct store *s, const char *mode)
{
	static const uint32_t sizes[] = { 1, 3, 32, 33, 100, 257, 1024 };
	unsigned char *data = malloc(NR_BLKS * BLK + 64);
	unsigned char *got = malloc(NR_BLKS * BLK + 64);
	unsigned char *seen = malloc(NR_BLKS * BLK);
	unsigned int i;

	CHECK(data && got && seen, "malloc");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t nr = sizes[i];
		uint64_t slot = rng_below(&rng, NR_BLKS - nr + 1);
		/* odd offsets: the O_DIRECT bounce path */
		unsigned char *w = data + (i % 2 ? 8 : 0);
		unsigned char *r = got + (i % 3 ? 0 : 24);
		struct pipe p = { .src = w, .first = slot, .next = slot };

		rng_fill(&rng, w, (size_t)nr * BLK);
		CHECK_OK(store_write(s, w, slot, nr));
		memset(r, 0, (size_t)nr * BLK);
		CHECK_OK(store_read(s, r, slot, nr));
		CHECK(!memcmp(w, r, (size_t)nr * BLK),
		      "%s: %u blocks at %llu read back wrong", mode, nr,
		      (unsigned long long)slot);

		/* The same through write_fill / read_each. */
		rng_fill(&rng, w, (size_t)nr * BLK);
		p.s = s;
		p.submitted0 = store_file_submitted(s);
		CHECK_OK(s->ops->write_fill(s, slot, nr, pipe_fill, &p));
		CHECK(p.next == slot + nr, "%s: write_fill covered %llu of %u",
		      mode, (unsigned long long)(p.next - slot), nr);
		p = (struct pipe){ .seen = seen, .first = slot, .next = slot };
		memset(seen, 0, (size_t)nr * BLK);
		memset(r, 0, (size_t)nr * BLK);
		CHECK_OK(s->ops->read_each(s, r, slot, nr, pipe_each, &p));
		CHECK(p.next == slot + nr, "%s: read_each covered %llu of %u",
		      mode, (unsigned long long)(p.next - slot), nr);
		CHECK(!memcmp(w, seen, (size_t)nr * BLK) &&
			      !memcmp(w, r, (size_t)nr * BLK),
		      "%s: %u blocks through write_fill/read_each wrong", mode,
		      nr);
	}
	free(data);
	free(got);
	free(seen);
}

static void test_modes(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct store *s = open_mode(modes[i]);
		const char *mode = store_io_mode(s);

		CHECK(mode, "a file store says how it does I/O");
		if (!(modes[i] & STORE_FILE_DIRECT))
			CHECK(strstr(mode, "page cache"), "mode %s", mode);
		if (modes[i] & STORE_FILE_NO_URING)
			CHECK(strstr(mode, "pread/pwrite"), "mode %s", mode);
		printf("  flags %u: %s\n", modes[i], mode);
		roundtrip(s, mode);
		store_destroy(s);
	}
}

/* Short reads and writes are finished; the data is whole. */
static void test_short_io(void)
{
	unsigned char *w = aligned_alloc(4096, 200 * BLK);
	unsigned char *r = aligned_alloc(4096, 200 * BLK);
	unsigned int i;

	CHECK(w && r, "malloc");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct store *s = open_mode(modes[i]);
		struct fault f = { .short_io = true };

		store_file_set_fault(s, fault_fn, &f);
		rng_fill(&rng, w, 200 * BLK);
		CHECK_OK(store_write(s, w, 7, 200));
		CHECK_OK(store_read(s, r, 7, 200));
		store_file_set_fault(s, NULL, NULL);
		CHECK(f.shorts > 2, "%s: only %u short I/Os", store_io_mode(s),
		      f.shorts);
		CHECK(!memcmp(w, r, 200 * BLK),
		      "%s: data wrong after short reads/writes",
		      store_io_mode(s));
		store_destroy(s);
	}
	free(w);
	free(r);
}

/* EIO on the nth I/O of a call of many chunks, and of the callbacks. */
static void test_eio(void)
{
	unsigned char *w = aligned_alloc(4096, 300 * BLK);
	unsigned char *r = aligned_alloc(4096, 300 * BLK);
	unsigned int i, nth;

	CHECK(w && r, "malloc");
	rng_fill(&rng, w, 300 * BLK);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct store *s = open_mode(modes[i]);

		for (nth = 1; nth <= 9; nth += 4) {
			struct fault f = { .fail_at = nth, .err = -EIO };
			struct pipe p = { .src = w, .first = 0, .next = 0,
					  .fail_at = (int)nth };

			store_file_set_fault(s, fault_fn, &f);
			CHECK_ERR(store_write(s, w, 0, 300), -EIO);
			f.calls = 0;
			CHECK_ERR(store_read(s, r, 0, 300), -EIO);
			f.calls = 0;
			p.seen = r;
			CHECK_ERR(s->ops->read_each(s, r, 0, 300, pipe_each,
						    &p),
				  -EIO);
			store_file_set_fault(s, NULL, NULL);
			/* A producer that fails stops the call. */
			p = (struct pipe){ .src = w, .fail_at = (int)nth };
			CHECK_ERR(s->ops->write_fill(s, 0, 300, pipe_fill, &p),
				  -ECANCELED);
			/* And the store still works. */
			CHECK_OK(store_write(s, w, 0, 300));
			CHECK_OK(store_read(s, r, 0, 300));
			CHECK(!memcmp(w, r, 300 * BLK), "%s: data after EIO",
			      store_io_mode(s));
		}
		store_destroy(s);
	}
	free(w);
	free(r);
}

/* An xts store over a failing file store says so, on both paths. */
static void test_xts_eio(void)
{
	unsigned char *w = aligned_alloc(4096, 64 * BLK);
	unsigned int i;

	CHECK(w, "malloc");
	rng_fill(&rng, w, 64 * BLK);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct store *lower = open_mode(modes[i]), *x;
		struct fault f = { .fail_at = 2, .err = -EIO };
		struct key *key;

		CHECK_OK(key_new_random(&key));
		CHECK_OK(store_xts_new(lower, key, &x));
		store_file_set_fault(lower, fault_fn, &f);
		CHECK_ERR(store_write(x, w, 0, 64), -EIO);
		f.calls = 0;
		CHECK_ERR(store_read(x, w, 0, 64), -EIO);
		store_file_set_fault(lower, NULL, NULL);
		store_destroy(x);
	}
	free(w);
}

/* A named scratch cut short under the store: -EIO, on every path. */
static void test_shrunk(void)
{
	unsigned char *buf = aligned_alloc(4096, 64 * BLK);
	unsigned int i;

	CHECK(buf, "malloc");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char path[4200];
		struct store *s;
		struct pipe p = { 0 };

		snprintf(path, sizeof(path), "%s/shrunk-%u", test_tmpdir(), i);
		CHECK_OK(store_file_new_flags(path, 256,
					      modes[i] | STORE_FILE_NO_MAP, &s));
		memset(buf, 0x77, 64 * BLK);
		CHECK_OK(store_write(s, buf, 192, 64));
		CHECK(truncate(path, 200 * BLK) == 0, "truncate");
		CHECK_ERR(store_read(s, buf, 192, 64), -EIO);
		p.seen = buf;
		p.first = 192;
		CHECK_ERR(s->ops->read_each(s, buf, 192, 64, pipe_each, &p),
			  -EIO);
		CHECK_OK(store_read(s, buf, 192, 8)); /* what is left */
		store_destroy(s);
		unlink(path);
	}
	free(buf);
}

#ifdef HAVE_LIBURING
/*
 * The store's io_uring may read, write and do nothing, and nothing else:
 * its operations bypass the worker's seccomp filter, so an openat through
 * it must be refused by the ring itself.
 */
static void test_uring_restricted(void)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;

	if (!store_uring_start(&ring)) {
		printf("  io_uring unavailable here: the store falls back "
		       "to pread/pwrite\n");
		return;
	}
	sqe = io_uring_get_sqe(&ring);
	CHECK(sqe, "no sqe");
	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/passwd", O_RDONLY, 0);
	CHECK(io_uring_submit(&ring) == 1 || errno == EACCES,
	      "submit: %s", strerror(errno));
	if (io_uring_wait_cqe(&ring, &cqe) == 0) {
		CHECK(cqe->res == -EACCES,
		      "an openat through the store's ring: %d, not -EACCES",
		      cqe->res);
		io_uring_cqe_seen(&ring, cqe);
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	CHECK(io_uring_submit(&ring) == 1, "a nop refused");
	CHECK_OK(io_uring_wait_cqe(&ring, &cqe));
	CHECK(cqe->res == 0, "nop: %d", cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	printf("  the store's io_uring refuses openat, allows nop: ok\n");
}
#endif

int main(void)
{
#ifdef HAVE_LIBURING
	test_uring_restricted();
#endif
	rng.s = test_seed("test-store-file");
	test_modes();
	test_short_io();
	test_eio();
	test_xts_eio();
	test_shrunk();
	printf("test-store-file: OK\n");
	return 0;
}
