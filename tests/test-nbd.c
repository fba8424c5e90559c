/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NBD server (backend/nbd.c) against a client written here byte by byte
 * from proto.md, over real Unix sockets: handshake variants, data checked
 * against a byte model of the disk (one request at a time, and batches in
 * flight sent in pieces split anywhere), replies never held back while the
 * server waits for the client, FUA and flush (seen in the view's
 * counters), read-only exports, a full overlay, read errors, hostile
 * clients (each followed by a bystander connection that must still read
 * back what it wrote), max_clients, the socket's path rules, the peer's
 * uid, nbd_server_free() with clients connected, and nbd_serve_fd().
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/nbd.h"
#include "tests/check.h"
#include "tests/nbd-client.h"
#include "tests/testlib.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static struct rng rng;
static double scale = 1.0;

/* ---- servers ---- */

static atomic_uint changes;

static void on_changed(void *arg)
{
	(void)arg;
	atomic_fetch_add(&changes, 1);
}

static char *sock_path(const char *name)
{
	static char paths[8][108];
	static unsigned int next;
	char *p = paths[next++ % 8];

	snprintf(p, 108, "%s/%s", test_tmpdir(), name);
	return p;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Under valgrind everything is slower: give the server's timeout room. */
static int timeout_ms(int ms)
{
	return scale < 1.0 ? ms * 10 : ms;
}

static struct nbd_server *serve(struct cow *cow, const char *path,
				bool read_only, bool enospc)
{
	struct nbd_server_params p = {
		.path = path,
		.cow = cow,
		.read_only = read_only,
		.changed = on_changed,
		.enospc_is_enospc = enospc,
		.io_timeout_ms = (unsigned int)timeout_ms(500),
		.name = "test",
	};
	struct nbd_server *s;

	CHECK_OK(nbd_server_new(&p, &s));
	return s;
}

static void wait_changes(unsigned int n)
{
	int i;

	for (i = 0; i < 1000 && atomic_load(&changes) != n; i++)
		poll(NULL, 0, 5);
	CHECK(atomic_load(&changes) == n, "changed() %u times, expected %u",
	      atomic_load(&changes), n);
}

static void wait_clients(struct nbd_server *s, unsigned int n)
{
	int i;

	for (i = 0; i < 1000 && nbd_server_clients(s) != n; i++)
		poll(NULL, 0, 5);
	CHECK(nbd_server_clients(s) == n, "%u clients, expected %u",
	      nbd_server_clients(s), n);
}

/* A blank view of size bytes; RAM overlay with limit_blks (0: all). */
static struct cow *blank(uint64_t size, uint64_t limit_blks,
			 struct store **fault_r)
{
	uint64_t blks = (size + 4095) / 4096;
	struct store *ov = test_overlay_new(TEST_RAM, blks);
	struct cow_params cp = {
		.kind = COW_KIND_BLANK,
		.size_sectors = size / 512,
		.limit_blks = limit_blks,
	};
	struct cow *cow;

	if (fault_r) {
		CHECK_OK(store_fault_new(ov, fault_r));
		ov = *fault_r;
	}
	cp.overlay = ov;
	CHECK_OK(cow_new(&cp, &cow));
	return cow;
}

/*
 * A view over a base file of random bytes (copied into model). Its overlay
 * is not RAM: make check runs unprivileged too, within RLIMIT_MEMLOCK.
 */
static struct cow *over_base(uint64_t size, enum cow_kind kind, uint8_t *model,
			     char **base_path_r)
{
	struct cow_params cp = { .kind = kind };
	struct store *base;
	struct cow *cow;
	uint64_t bytes;
	char *path;

	rng_fill(&rng, model, size);
	path = test_write_file("base.img", model, size);
	CHECK_OK(store_base_open(path, &base, &bytes));
	CHECK(bytes == size, "base size");
	cp.base = base;
	cp.base_bytes = bytes;
	if (kind == COW_KIND_COW)
		cp.overlay =
			test_overlay_new(TEST_XTS_FILE, (size + 4095) / 4096);
	CHECK_OK(cow_new(&cp, &cow));
	*base_path_r = path;
	return cow;
}

static uint64_t flushes(struct cow *cow)
{
	struct cow_stats st;

	cow_get_stats(cow, &st);
	return st.flush_reqs;
}

/* ---- the handshake ---- */

static void test_handshake(void)
{
	const uint64_t size = 1 * MiB;
	struct cow *cow = blank(size, 0, NULL);
	const char *path = sock_path("hs.sock");
	struct nbd_server *s = serve(cow, path, false, false);
	static const uint32_t unsupported[] = {
		OPT_STARTTLS,
		OPT_STRUCTURED_REPLY,
		OPT_EXTENDED_HEADERS,
		OPT_LIST_META_CONTEXT,
		OPT_SET_META_CONTEXT,
		4,
		0,
		12,
		0x1234,
		0xffffffff,
	};
	uint8_t d[512], buf[4096], zeros[124] = { 0 };
	struct nbdc_rep r;
	unsigned int i;
	struct stat st;
	int fd;

	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		      (st.st_mode & 0777) == 0600,
	      "socket mode %o", st.st_mode & 0777);

	/* GO, then I/O */
	fd = nbdc_open(path, size, FLAGS_RW);
	CHECK(nbdc_read(fd, 0, 4096, buf) == 0, "read after GO");
	nbdc_disc(fd);

	/* INFO, then GO on the same connection */
	fd = nbdc_hello(path, 1);
	nbdc_go(fd, OPT_INFO, size, FLAGS_RW);
	nbdc_go(fd, OPT_GO, size, FLAGS_RW);
	CHECK(nbdc_read(fd, 512, 512, buf) == 0, "read after INFO, GO");
	nbdc_disc(fd);

	/* EXPORT_NAME with NO_ZEROES: 10 bytes, then the reply at once */
	fd = nbdc_hello(path, 3);
	nbdc_opt(fd, OPT_EXPORT_NAME, NULL, 0);
	CHECK(nbdc_recv(fd, buf, 10) == 0 && be_get(buf, 8) == size &&
		      be_get(buf + 8, 2) == FLAGS_RW,
	      "EXPORT_NAME answer");
	CHECK(nbdc_read(fd, 0, 512, buf) == 0, "read after EXPORT_NAME");
	nbdc_disc(fd);

	/* EXPORT_NAME without NO_ZEROES: 124 zeros follow */
	fd = nbdc_hello(path, 1);
	nbdc_opt(fd, OPT_EXPORT_NAME, NULL, 0);
	CHECK(nbdc_recv(fd, buf, 134) == 0 && be_get(buf, 8) == size &&
		      !memcmp(buf + 10, zeros, sizeof(zeros)),
	      "EXPORT_NAME answer with zeroes");
	CHECK(nbdc_read(fd, 0, 512, buf) == 0, "read after EXPORT_NAME");
	nbdc_disc(fd);

	/* plain (not fixed) newstyle: EXPORT_NAME only */
	fd = nbdc_hello(path, 0);
	nbdc_opt(fd, OPT_EXPORT_NAME, NULL, 0);
	CHECK(nbdc_recv(fd, buf, 134) == 0, "non-fixed EXPORT_NAME");
	CHECK(nbdc_read(fd, 0, 512, buf) == 0, "read, non-fixed");
	nbdc_disc(fd);

	/* LIST: one export, the empty name; then GO */
	fd = nbdc_hello(path, 3);
	nbdc_opt(fd, OPT_LIST, NULL, 0);
	nbdc_rep(fd, &r);
	CHECK(r.type == REP_SERVER && r.len == 4 && be_get(r.data, 4) == 0,
	      "LIST: the empty name");
	nbdc_rep(fd, &r);
	CHECK(r.type == REP_ACK && r.opt == OPT_LIST, "LIST: ACK");
	nbdc_go(fd, OPT_GO, size, FLAGS_RW);
	nbdc_disc(fd);

	/* ABORT: ACK, then the server closes */
	fd = nbdc_hello(path, 3);
	nbdc_opt(fd, OPT_ABORT, NULL, 0);
	nbdc_rep(fd, &r);
	CHECK(r.type == REP_ACK && r.opt == OPT_ABORT, "ABORT: ACK");
	CHECK(nbdc_closed(fd), "open after ABORT");
	close(fd);

	/* unknown and unsupported options, with data: ERR_UNSUP, go on */
	fd = nbdc_hello(path, 3);
	memset(d, 0x41, sizeof(d));
	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		nbdc_opt(fd, unsupported[i], d, i * 10);
		nbdc_rep(fd, &r);
		CHECK(r.opt == unsupported[i] && r.type == REP_ERR_UNSUP,
		      "option %u: reply %#x", unsupported[i], r.type);
	}
	/* a named export: ERR_UNKNOWN, and still usable */
	nbdc_opt(fd, OPT_GO, d, nbdc_go_data(d, "disk0"));
	nbdc_rep(fd, &r);
	CHECK(r.type == REP_ERR_UNKNOWN, "named GO: %#x", r.type);
	nbdc_go(fd, OPT_GO, size, FLAGS_RW);
	CHECK(nbdc_write(fd, 0, 0, sizeof(d), d) == 0, "write");
	CHECK(nbdc_read(fd, 0, sizeof(d), buf) == 0 && !memcmp(buf, d, sizeof(d)),
	      "read after the options");
	nbdc_disc(fd);

	/* EXPORT_NAME of an unknown export: no way to say no but closing */
	fd = nbdc_hello(path, 3);
	nbdc_opt(fd, OPT_EXPORT_NAME, "disk0", 5);
	CHECK(nbdc_closed(fd), "open after EXPORT_NAME disk0");
	close(fd);

	nbd_server_free(s);
	CHECK(lstat(path, &st) < 0 && errno == ENOENT, "socket left behind");
	cow_free(cow);
}

/* ---- data against a model ---- */

#define DISK_BYTES (8 * MiB + 3 * 512) /* the last block is partial */

/* TRIM as the view promises: whole blocks in the range read zeros. */
static void model_trim(uint8_t *model, uint64_t size, uint64_t off,
		       uint64_t len)
{
	uint64_t end = off + len, b = (off + 4095) / 4096 * 4096;
	uint64_t b_end =
		end == size ? (size + 4095) / 4096 * 4096 : end / 4096 * 4096;

	for (; b < b_end; b += 4096)
		memset(model + b, 0, size - b < 4096 ? size - b : 4096);
}

static void test_model(void)
{
	static uint8_t model[DISK_BYTES], buf[DISK_BYTES], data[3 * MiB];
	const uint64_t size = DISK_BYTES, sectors = size / 512;
	unsigned int i, n = (unsigned int)(3000 * scale) + 50;
	const char *path = sock_path("model.sock");
	struct nbd_server *s;
	struct cow *cow;
	char *base;
	int fd[2];

	cow = over_base(size, COW_KIND_COW, model, &base);
	s = serve(cow, path, false, false);
	fd[0] = nbdc_open(path, size, FLAGS_RW);
	fd[1] = nbdc_open(path, size, FLAGS_RW);
	for (i = 0; i < n; i++) {
		int c = fd[i % 2], what = (int)rng_below(&rng, 100);
		uint64_t sec = rng_below(&rng, sectors), max = sectors - sec;
		uint64_t nsec = 1 + rng_below(&rng, max < 64 ? max : 64);
		uint64_t off = sec * 512;
		uint32_t len;

		if (rng_below(&rng, 20) == 0) /* sometimes several chunks */
			nsec = 1 + rng_below(&rng, max < 6144 ? max : 6144);
		len = (uint32_t)(nsec * 512);
		if (what < 35) {
			CHECK(nbdc_read(c, off, len, buf) == 0, "read");
			CHECK(!memcmp(buf, model + off, len),
			      "op %u: read %llu+%u differs from the model", i,
			      (unsigned long long)off, len);
		} else if (what < 65) {
			uint16_t f = rng_below(&rng, 4) ? 0 : F_FUA;

			if (len > sizeof(data))
				len = sizeof(data);
			rng_fill(&rng, data, len);
			CHECK(nbdc_write(c, f, off, len, data) == 0, "write");
			memcpy(model + off, data, len);
		} else if (what < 75) {
			CHECK(nbdc_cmd(c, 0, CMD_TRIM, off, len) == 0, "trim");
			model_trim(model, size, off, len);
		} else if (what < 90) {
			uint16_t f = what < 80 ? F_NO_HOLE : 0;

			CHECK(nbdc_cmd(c, f, CMD_WRITE_ZEROES, off, len) == 0,
			      "write zeroes");
			memset(model + off, 0, len);
		} else if (what < 95) {
			CHECK(nbdc_cmd(c, 0, CMD_FLUSH, 0, 0) == 0, "flush");
		} else {
			/* unaligned: refused, nothing changes */
			uint16_t type = what & 1 ? CMD_WRITE_ZEROES : CMD_READ;
			uint64_t o =
				off + (what & 2 ? 1 + rng_below(&rng, 511) : 0);
			uint32_t l = len + (what & 2 ? 0 : 1 + (i % 511));

			CHECK(nbdc_cmd(c, 0, type, o, l) == EINVAL_,
			      "unaligned %llu+%u accepted",
			      (unsigned long long)o, l);
		}
	}
	/* the whole disk in one request (9 chunks), and through the view */
	CHECK(nbdc_read(fd[0], 0, (uint32_t)size, buf) == 0, "read all");
	CHECK(!memcmp(buf, model, size), "the disk differs from the model");
	memset(buf, 0, size);
	CHECK_OK(cow_read(cow, buf, 0, (uint32_t)sectors));
	CHECK(!memcmp(buf, model, size), "the view differs from the model");
	nbdc_disc(fd[0]);
	nbdc_disc(fd[1]);
	nbd_server_free(s);
	cow_free(cow);
	unlink(base);
	free(base);
	printf("test-nbd: %u operations match the model\n", n);
}

/* ---- many requests in flight ---- */

/*
 * The requests of one batch, laid out as a client sends them, and what
 * their replies must be. Requests of a batch touch disjoint ranges, so the
 * model is the same whatever order the server serves them in.
 */
#define PL_DISK_BYTES (16 * MiB)
#define PL_REGION_BYTES (256 * KiB)
#define PL_BIG_OFF (14 * MiB) /* [14 MiB, 16 MiB): one big request */
#define PL_REGIONS (PL_BIG_OFF / PL_REGION_BYTES)
#define PL_MAX_REQS 400u

struct pl_req {
	uint64_t cookie;
	uint16_t type;
	uint64_t off;
	uint32_t len;
	uint32_t expect; /* the NBD error */
	bool seen;
};

struct pl_batch {
	uint8_t *bytes; /* what the client sends */
	size_t len, cap;
	struct pl_req req[PL_MAX_REQS];
	unsigned int n;
};

static void pl_put(struct pl_batch *b, const void *p, size_t len)
{
	CHECK(b->len + len <= b->cap, "batch overflow");
	memcpy(b->bytes + b->len, p, len);
	b->len += len;
}

static struct pl_req *pl_add(struct pl_batch *b, uint16_t flags, uint16_t type,
			     uint64_t off, uint32_t len, uint32_t expect)
{
	struct pl_req *r = &b->req[b->n];
	uint8_t h[28];

	CHECK(b->n < PL_MAX_REQS, "too many requests");
	*r = (struct pl_req){ .cookie = 5000 + b->n,
			      .type = type,
			      .off = off,
			      .len = len,
			      .expect = expect };
	be_put(h, 0x25609513u, 4);
	be_put(h + 4, flags, 2);
	be_put(h + 6, type, 2);
	be_put(h + 8, r->cookie, 8);
	be_put(h + 16, off, 8);
	be_put(h + 24, len, 4);
	pl_put(b, h, sizeof(h));
	b->n++;
	return r;
}

/* Sends a batch in pieces of random size, some after a pause. */
struct pl_sender {
	int fd;
	const uint8_t *bytes;
	size_t len;
	struct rng rng;
	pthread_t t;
};

static void *pl_sender_main(void *arg)
{
	struct pl_sender *s = arg;
	size_t at = 0;

	while (at < s->len) {
		size_t n = 1 + rng_below(&s->rng, 96 * KiB);

		if (n > s->len - at)
			n = s->len - at;
		nbdc_send(s->fd, s->bytes + at, n);
		at += n;
		if (rng_below(&s->rng, 8) == 0)
			poll(NULL, 0, 1);
	}
	return NULL;
}

/* Send b on fd from a thread and take every reply, in any order. */
static void pl_run(int fd, struct pl_batch *b, const uint8_t *model,
		   uint8_t *buf)
{
	struct pl_sender snd = { .fd = fd, .bytes = b->bytes, .len = b->len };
	unsigned int i, k;

	snd.rng.s = rng_next(&rng);
	CHECK(pthread_create(&snd.t, NULL, pl_sender_main, &snd) == 0,
	      "thread");
	for (k = 0; k < b->n; k++) {
		uint8_t h[16];
		struct pl_req *r = NULL;
		uint32_t err;

		CHECK(nbdc_recv(fd, h, sizeof(h)) == 0,
		      "reply %u of %u of a batch", k + 1, b->n);
		CHECK(be_get(h, 4) == 0x67446698u, "reply magic");
		for (i = 0; i < b->n; i++)
			if (b->req[i].cookie == be_get(h + 8, 8))
				r = &b->req[i];
		CHECK(r && !r->seen, "reply to cookie %llu: none or twice",
		      (unsigned long long)be_get(h + 8, 8));
		r->seen = true;
		err = (uint32_t)be_get(h + 4, 4);
		CHECK(err == r->expect,
		      "type %u at %llu+%u: NBD error %u, not %u", r->type,
		      (unsigned long long)r->off, r->len, err, r->expect);
		if (r->type == CMD_READ && !err) {
			CHECK(nbdc_recv(fd, buf, r->len) == 0, "read data");
			CHECK(!memcmp(buf, model + r->off, r->len),
			      "read %llu+%u in a batch differs from the model",
			      (unsigned long long)r->off, r->len);
		}
	}
	CHECK(pthread_join(snd.t, NULL) == 0, "join");
}

/* One request of a random kind on [off, off + max), into b and model. */
static void pl_random(struct pl_batch *b, uint8_t *model, uint64_t off,
		      uint32_t max)
{
	unsigned int what = (unsigned int)rng_below(&rng, 100);
	uint32_t len = 512 * (1 + (uint32_t)rng_below(&rng, 16)); /* <= 8K */
	uint16_t f;

	if (rng_below(&rng, 4) == 0) /* the input buffer's and output area's */
		len = 512 * (1 + (uint32_t)rng_below(&rng, max / 512));
	if (len > max)
		len = max;
	if (what < 40) {
		pl_add(b, 0, CMD_READ, off, len, 0);
	} else if (what < 75) {
		f = rng_below(&rng, 4) ? 0 : F_FUA;
		pl_add(b, f, CMD_WRITE, off, len, 0);
		rng_fill(&rng, model + off, len);
		pl_put(b, model + off, len);
	} else if (what < 82) {
		pl_add(b, 0, CMD_TRIM, off, len, 0);
		model_trim(model, PL_DISK_BYTES, off, len);
	} else if (what < 89) {
		f = what & 1 ? F_NO_HOLE : 0;
		pl_add(b, f, CMD_WRITE_ZEROES, off, len, 0);
		memset(model + off, 0, len);
	} else if (what < 93) {
		pl_add(b, 0, CMD_FLUSH, 0, 0, 0);
	} else {
		/* refused: an unaligned write, its payload read and dropped */
		static uint8_t junk[PL_DISK_BYTES - PL_BIG_OFF];

		pl_add(b, 0, CMD_WRITE, off + 1, len, EINVAL_);
		pl_put(b, junk, len);
	}
}

/*
 * Many requests in flight on one connection, as QEMU and libnbd send them,
 * arriving in pieces that split headers and payloads anywhere: every reply
 * comes, once, with the right error and data. Batches of up to 56
 * requests, one of them up to 2 MiB (several chunks), and batches of 300
 * small reads (more replies than the server queues at once).
 */
static void test_pipeline(void)
{
	static uint8_t model[PL_DISK_BYTES], buf[PL_DISK_BYTES];
	static unsigned int perm[PL_REGIONS];
	unsigned int round, rounds = (unsigned int)(40 * scale) + 4, i;
	const char *path = sock_path("pipeline.sock");
	struct pl_batch b = { .cap = 8 * MiB };
	struct nbd_server *s;
	struct cow *cow;
	char *base;
	int fd;

	b.bytes = malloc(b.cap);
	CHECK(b.bytes, "malloc");
	cow = over_base(PL_DISK_BYTES, COW_KIND_COW, model, &base);
	s = serve(cow, path, false, false);
	fd = nbdc_open(path, PL_DISK_BYTES, FLAGS_RW);
	for (round = 0; round < rounds; round++) {
		unsigned int n = 1 + (unsigned int)rng_below(&rng, PL_REGIONS);

		b.len = b.n = 0;
		if (round % 5 == 4) {
			/* 300 small reads anywhere: reads never conflict */
			for (i = 0; i < 300; i++) {
				uint64_t sec = rng_below(
					&rng, PL_DISK_BYTES / 512 - 8);

				pl_add(&b, 0, CMD_READ, sec * 512,
				       512 * (1 + (uint32_t)rng_below(&rng, 8)),
				       0);
			}
			pl_run(fd, &b, model, buf);
			continue;
		}
		for (i = 0; i < PL_REGIONS; i++)
			perm[i] = i;
		for (i = PL_REGIONS - 1; i > 0; i--) {
			unsigned int j = (unsigned int)rng_below(&rng, i + 1);
			unsigned int t = perm[i];

			perm[i] = perm[j];
			perm[j] = t;
		}
		for (i = 0; i < n; i++)
			pl_random(&b, model,
				  (uint64_t)perm[i] * PL_REGION_BYTES,
				  PL_REGION_BYTES);
		if (rng_below(&rng, 3) == 0)
			pl_random(&b, model, PL_BIG_OFF,
				  PL_DISK_BYTES - PL_BIG_OFF);
		pl_run(fd, &b, model, buf);
	}
	CHECK(nbdc_read(fd, 0, PL_DISK_BYTES, buf) == 0, "read all");
	CHECK(!memcmp(buf, model, PL_DISK_BYTES),
	      "the disk differs from the model");
	memset(buf, 0, PL_DISK_BYTES);
	CHECK_OK(cow_read(cow, buf, 0, PL_DISK_BYTES / 512));
	CHECK(!memcmp(buf, model, PL_DISK_BYTES),
	      "the view differs from the model");
	nbdc_disc(fd);
	nbd_server_free(s);
	cow_free(cow);
	unlink(base);
	free(base);
	free(b.bytes);
	printf("test-nbd: %u batches of requests in flight match the model\n",
	       rounds);
}

/*
 * The server queues replies while it serves requests it has already
 * received, but never keeps them while it waits for the client: replies
 * come before the rest of a header, or of a payload, is sent.
 */
static void test_replies_not_held(void)
{
	struct cow *cow = blank(1 * MiB, 0, NULL);
	const char *path = sock_path("held.sock");
	struct nbd_server *s = serve(cow, path, false, false);
	static uint8_t data[256 * KiB], out[4096];
	uint8_t h[28];
	int fd = nbdc_open(path, 1 * MiB, FLAGS_RW);

	rng_fill(&rng, data, sizeof(data));
	CHECK(nbdc_write(fd, 0, 0, sizeof(data), data) == 0, "write");
	/* three reads and the first 10 bytes of a fourth */
	nbdc_req(fd, 0, CMD_READ, 1, 0, 4096);
	nbdc_req(fd, 0, CMD_READ, 2, 4096, 4096);
	nbdc_req(fd, 0, CMD_FLUSH, 3, 0, 0);
	be_put(h, 0x25609513u, 4);
	be_put(h + 4, 0, 2);
	be_put(h + 6, CMD_READ, 2);
	be_put(h + 8, 4, 8);
	be_put(h + 16, 8192, 8);
	be_put(h + 24, 4096, 4);
	nbdc_send(fd, h, 10);
	CHECK(nbdc_reply(fd, 1, out, 4096) == 0 && !memcmp(out, data, 4096),
	      "first reply held back");
	CHECK(nbdc_reply(fd, 2, out, 4096) == 0 &&
		      !memcmp(out, data + 4096, 4096),
	      "second reply held back");
	CHECK(nbdc_reply(fd, 3, NULL, 0) == 0, "third reply held back");
	nbdc_send(fd, h + 10, sizeof(h) - 10);
	CHECK(nbdc_reply(fd, 4, out, 4096) == 0 &&
		      !memcmp(out, data + 8192, 4096),
	      "the fourth reply");
	/* a read, then a write whose payload comes only after its reply */
	nbdc_req(fd, 0, CMD_READ, 5, 12288, 4096);
	nbdc_req(fd, 0, CMD_WRITE, 6, 0, 200 * KiB);
	nbdc_send(fd, data, 1000);
	CHECK(nbdc_reply(fd, 5, out, 4096) == 0 &&
		      !memcmp(out, data + 12288, 4096),
	      "a reply held back during a payload");
	nbdc_send(fd, data + 1000, 200 * KiB - 1000);
	CHECK(nbdc_reply(fd, 6, NULL, 0) == 0, "the write");
	nbdc_disc(fd);
	nbd_server_free(s);
	cow_free(cow);
}

/* VmLck of this process, in KiB. */
static unsigned long locked_kib(void)
{
	unsigned long kib = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	CHECK(f, "/proc/self/status");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %lu kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Each client's buffer for guest data is locked memory. */
static void test_locked(void)
{
	struct cow *cow = blank(1 * MiB, 0, NULL);
	const char *path = sock_path("lock.sock");
	struct nbd_server *s = serve(cow, path, false, false);
	unsigned long before = locked_kib(), during;
	int fd = nbdc_open(path, 1 * MiB, FLAGS_RW);

	wait_clients(s, 1);
	during = locked_kib();
	CHECK(during >= before + 1024, "VmLck %lu kB with a client, %lu before",
	      during, before);
	nbdc_disc(fd);
	wait_clients(s, 0);
	nbd_server_free(s);
	CHECK(locked_kib() <= before, "VmLck %lu kB after, %lu before",
	      locked_kib(), before);
	cow_free(cow);
}

/* FUA and FLUSH reach the view; reads and plain writes do not flush. */
static void test_fua(void)
{
	struct cow *cow = blank(1 * MiB, 0, NULL);
	const char *path = sock_path("fua.sock");
	struct nbd_server *s = serve(cow, path, false, false);
	uint8_t buf[4096] = { 7 };
	int fd = nbdc_open(path, 1 * MiB, FLAGS_RW);
	uint64_t f0 = flushes(cow);

	CHECK(nbdc_write(fd, 0, 0, 4096, buf) == 0 && flushes(cow) == f0,
	      "a plain write flushed");
	CHECK(nbdc_write(fd, F_FUA, 0, 4096, buf) == 0 && flushes(cow) == f0 + 1,
	      "write FUA: %llu flushes", (unsigned long long)flushes(cow));
	CHECK(nbdc_cmd(fd, F_FUA, CMD_TRIM, 0, 4096) == 0 &&
		      flushes(cow) == f0 + 2,
	      "trim FUA did not flush");
	CHECK(nbdc_cmd(fd, F_FUA, CMD_WRITE_ZEROES, 0, 4096) == 0 &&
		      flushes(cow) == f0 + 3,
	      "write zeroes FUA did not flush");
	CHECK(nbdc_cmd(fd, F_FUA | F_NO_HOLE, CMD_WRITE_ZEROES, 0, 4096) == 0 &&
		      flushes(cow) == f0 + 4,
	      "write zeroes NO_HOLE FUA did not flush");
	CHECK(nbdc_cmd(fd, 0, CMD_FLUSH, 0, 0) == 0 && flushes(cow) == f0 + 5,
	      "flush did not flush");
	CHECK(nbdc_read(fd, 0, 4096, buf) == 0 && flushes(cow) == f0 + 5,
	      "a read flushed");
	CHECK(nbdc_cmd(fd, 0, CMD_FLUSH, 512, 0) == EINVAL_ &&
		      flushes(cow) == f0 + 5,
	      "flush with an offset");
	nbdc_disc(fd);
	nbd_server_free(s);
	cow_free(cow);
}

/* WRITE_ZEROES without NO_HOLE frees whole blocks; with it, they stay. */
static void test_zero_space(void)
{
	struct cow *cow = blank(1 * MiB, 0, NULL);
	const char *path = sock_path("zero.sock");
	struct nbd_server *s = serve(cow, path, false, false);
	static uint8_t buf[64 * KiB];
	struct cow_stats st;
	int fd = nbdc_open(path, 1 * MiB, FLAGS_RW);

	memset(buf, 0x33, sizeof(buf));
	CHECK(nbdc_write(fd, 0, 0, sizeof(buf), buf) == 0, "write");
	cow_get_stats(cow, &st);
	CHECK(st.used_blks == 16, "%llu blocks",
	      (unsigned long long)st.used_blks);
	/* [512, 64K - 512): 14 whole blocks become holes, 2 partial stay */
	CHECK(nbdc_cmd(fd, 0, CMD_WRITE_ZEROES, 512, 63 * KiB) == 0, "zero");
	cow_get_stats(cow, &st);
	CHECK(st.used_blks == 2, "%llu blocks after zeroing",
	      (unsigned long long)st.used_blks);
	CHECK(nbdc_read(fd, 0, sizeof(buf), buf) == 0, "read");
	CHECK(buf[0] == 0x33 && buf[511] == 0x33 && buf[512] == 0 &&
		      buf[63 * KiB + 511] == 0 && buf[64 * KiB - 1] == 0x33,
	      "zeroed range");
	CHECK(nbdc_cmd(fd, F_NO_HOLE, CMD_WRITE_ZEROES, 0, 64 * KiB) == 0,
	      "zero, no hole");
	cow_get_stats(cow, &st);
	CHECK(st.used_blks == 16, "NO_HOLE left holes: %llu blocks",
	      (unsigned long long)st.used_blks);
	nbdc_disc(fd);
	nbd_server_free(s);
	cow_free(cow);

	/* The last block is partial: zeroes to the end free it too. */
	cow = blank(1 * MiB + 1536, 0, NULL);
	s = serve(cow, path, false, false);
	fd = nbdc_open(path, 1 * MiB + 1536, FLAGS_RW);
	CHECK(nbdc_write(fd, 0, 1 * MiB, 1536, buf) == 0, "write the tail");
	CHECK(nbdc_cmd(fd, 0, CMD_WRITE_ZEROES, 1 * MiB - 4096, 4096 + 1536) == 0,
	      "zero to the end");
	cow_get_stats(cow, &st);
	CHECK(st.used_blks == 0, "the partial last block was kept (%llu)",
	      (unsigned long long)st.used_blks);
	CHECK(nbdc_read(fd, 1 * MiB, 1536, buf) == 0 && buf[0] == 0 &&
		      buf[1535] == 0,
	      "the tail reads zeros");
	nbdc_disc(fd);
	nbd_server_free(s);
	cow_free(cow);
}

/* ---- read-only ---- */

static void read_only_case(struct cow *cow, bool flag, const uint8_t *model,
			   uint64_t size)
{
	const char *path = sock_path("ro.sock");
	struct nbd_server *s = serve(cow, path, flag, false);
	static uint8_t buf[64 * KiB];
	int fd = nbdc_open(path, size, FLAGS_RO);

	memset(buf, 0xee, sizeof(buf));
	CHECK(nbdc_write(fd, 0, 0, sizeof(buf), buf) == EPERM_, "write");
	CHECK(nbdc_cmd(fd, 0, CMD_TRIM, 0, 4096) == EPERM_, "trim");
	CHECK(nbdc_cmd(fd, 0, CMD_WRITE_ZEROES, 0, 4096) == EPERM_, "zeroes");
	CHECK(nbdc_cmd(fd, F_FUA, CMD_FLUSH, 0, 0) == EINVAL_,
	      "FUA is not advertised read-only");
	CHECK(nbdc_cmd(fd, 0, CMD_FLUSH, 0, 0) == 0, "flush");
	/* the refused write's payload was drained: still in step */
	CHECK(nbdc_read(fd, 0, sizeof(buf), buf) == 0, "read");
	CHECK(!memcmp(buf, model, sizeof(buf)), "read-only data changed");
	CHECK_OK(cow_read(cow, buf, 0, sizeof(buf) / 512));
	CHECK(!memcmp(buf, model, sizeof(buf)), "the view changed");
	nbdc_disc(fd);
	nbd_server_free(s);
}

static void test_read_only(void)
{
	static uint8_t model[1 * MiB];
	struct cow *cow;
	char *base;

	/* a writable view served read-only */
	cow = over_base(sizeof(model), COW_KIND_COW, model, &base);
	read_only_case(cow, true, model, sizeof(model));
	cow_free(cow);
	unlink(base);
	free(base);
	/* a read-only view: read-only whatever the flag says */
	cow = over_base(sizeof(model), COW_KIND_READONLY, model, &base);
	read_only_case(cow, false, model, sizeof(model));
	cow_free(cow);
	unlink(base);
	free(base);
}

/* ---- errors from the view ---- */

static void full_case(bool enospc)
{
	struct cow *cow = blank(1 * MiB, 4, NULL);
	const char *path = sock_path("full.sock");
	struct nbd_server *s = serve(cow, path, false, enospc);
	uint32_t want = enospc ? ENOSPC_ : EIO_;
	static uint8_t buf[16 * KiB], out[16 * KiB], two_mib[2 * MiB];
	int fd = nbdc_open(path, 1 * MiB, FLAGS_RW);

	memset(buf, 0x5a, sizeof(buf));
	CHECK(nbdc_write(fd, 0, 0, sizeof(buf), buf) == 0, "4 blocks fit");
	CHECK(nbdc_write(fd, 0, 40960, 4096, buf) == want,
	      "a fifth block: expected %u", want);
	CHECK(nbdc_cmd(fd, F_NO_HOLE, CMD_WRITE_ZEROES, 40960, 4096) == want,
	      "zeroes that need a block: expected %u", want);
	CHECK(nbdc_write(fd, F_FUA, 4096, 4096, buf) == 0, "overwrite when full");
	/* zeroes that may punch a hole need no space */
	CHECK(nbdc_cmd(fd, 0, CMD_WRITE_ZEROES, 0, 4096) == 0, "zero a block");
	CHECK(nbdc_write(fd, 0, 40960, 4096, buf) == 0, "room again");
	CHECK(nbdc_read(fd, 0, sizeof(out), out) == 0, "read");
	CHECK(out[0] == 0 && out[4095] == 0 && !memcmp(out + 4096, buf, 12288),
	      "data after a full overlay");
	CHECK(nbdc_read(fd, 40960, 4096, out) == 0 && !memcmp(out, buf, 4096),
	      "the block written after room was made");
	nbdc_disc(fd);
	nbd_server_free(s);
	cow_free(cow);

	/*
	 * A 2 MiB write whose first chunk needs new blocks that do not fit
	 * and whose second only overwrites: the write as a whole failed.
	 */
	cow = blank(4 * MiB, 260, NULL);
	s = serve(cow, path, false, enospc);
	fd = nbdc_open(path, 4 * MiB, FLAGS_RW);
	CHECK(nbdc_write(fd, 0, 1 * MiB, 1 * MiB, two_mib) == 0, "1 MiB");
	CHECK(nbdc_write(fd, 0, 0, 2 * MiB, two_mib) == want,
	      "a write failing in its first chunk: expected %u", want);
	nbdc_disc(fd);
	nbd_server_free(s);
	cow_free(cow);
}

/* A store read error: an NBD error on the first chunk, a hang-up later. */
static void test_read_errors(void)
{
	struct store *fault;
	struct cow *cow = blank(4 * MiB, 0, &fault);
	const char *path = sock_path("eio.sock");
	struct nbd_server *s = serve(cow, path, false, false);
	static uint8_t buf[2 * MiB];
	uint64_t before, per_chunk;
	int fd = nbdc_open(path, 4 * MiB, FLAGS_RW);

	memset(buf, 0x77, sizeof(buf));
	CHECK(nbdc_write(fd, 0, 0, sizeof(buf), buf) == 0, "write");
	before = store_fault_count(fault, STORE_FAULT_READ);
	CHECK(nbdc_read(fd, 0, 1 * MiB, buf) == 0, "read one chunk");
	per_chunk = store_fault_count(fault, STORE_FAULT_READ) - before;
	CHECK(per_chunk > 0, "no store reads");

	store_fault_set(fault, STORE_FAULT_READ, 1, -EIO, false);
	CHECK(nbdc_read(fd, 0, 4096, buf) == EIO_, "read error: not EIO");
	CHECK(nbdc_read(fd, 0, 4096, buf) == 0, "usable after a read error");

	/* fail the second chunk of a 2 MiB read: header, 1 MiB, hang-up */
	store_fault_set(fault, STORE_FAULT_READ, per_chunk + 1, -EIO, true);
	nbdc_req(fd, 0, CMD_READ, 77, 0, 2 * MiB);
	CHECK(nbdc_reply(fd, 77, NULL, 0) == 0, "header of a 2 MiB read");
	CHECK(nbdc_recv(fd, buf, 1 * MiB) == 0, "its first chunk");
	CHECK(nbdc_closed(fd), "no hang-up after a late read error");
	close(fd);
	store_fault_set(fault, STORE_FAULT_READ, 0, 0, false);
	nbd_server_free(s);
	cow_free(cow);
}

/*
 * Big READs of a base, which go out a chunk at a time: with overlay blocks
 * among them, the bytes are the view's; a base that shrinks under the
 * server reads zeros past its new end, as the view's own reads do; a
 * client that hangs up in the middle of one costs only its own
 * connection, with no SIGPIPE (this process leaves it at its default,
 * which would end it).
 */
static void test_base_reads(void)
{
	const uint64_t size = 8 * MiB, cut = 5 * MiB + 512;
	static uint8_t model[8 * MiB], buf[8 * MiB], data[64 * KiB];
	const char *path = sock_path("base.sock");
	struct nbd_server *s;
	struct cow *cow;
	char *base;
	int fd, gone;

	cow = over_base(size, COW_KIND_COW, model, &base);
	s = serve(cow, path, false, false);
	fd = nbdc_open(path, size, FLAGS_RW);
	rng_fill(&rng, data, sizeof(data));
	CHECK(nbdc_write(fd, 0, 3 * MiB + 512, sizeof(data), data) == 0,
	      "write");
	memcpy(model + 3 * MiB + 512, data, sizeof(data));
	CHECK(nbdc_read(fd, 0, (uint32_t)size, buf) == 0, "read all");
	CHECK(!memcmp(buf, model, size), "base and overlay read wrong");

	gone = nbdc_open(path, size, FLAGS_RW);
	wait_clients(s, 2);
	nbdc_req(gone, 0, CMD_READ, 5, 0, (uint32_t)size);
	CHECK(nbdc_reply(gone, 5, NULL, 0) == 0, "header of an 8 MiB read");
	close(gone);
	wait_clients(s, 1);
	CHECK(nbdc_read(fd, 1 * MiB, 4096, buf) == 0 &&
		      !memcmp(buf, model + 1 * MiB, 4096),
	      "the other client after a hang-up mid-read");

	CHECK(truncate(base, (off_t)cut) == 0, "truncate the base");
	memset(model + cut, 0, size - cut);
	CHECK(nbdc_read(fd, 0, (uint32_t)size, buf) == 0, "read all, cut");
	CHECK(!memcmp(buf, model, size), "a shrunk base read wrong");
	CHECK_OK(cow_read(cow, buf, 0, (uint32_t)(size / 512)));
	CHECK(!memcmp(buf, model, size), "the view disagrees");
	nbdc_disc(fd);
	nbd_server_free(s);
	cow_free(cow);
	unlink(base);
	free(base);
}

/*
 * A WRITE whose payload comes in dribbles, less than a block at a time,
 * from an odd sector, is written whole and counted as one write; a client
 * that stops in the middle of one holds no lock meanwhile: another client
 * writes and reads the same blocks while the first is still connected,
 * waiting.
 */
static void test_slow_writes(void)
{
	const uint64_t size = 4 * MiB;
	static uint8_t data[1 * MiB], buf[1 * MiB];
	struct cow *cow = blank(size, 0, NULL);
	const char *path = sock_path("slow.sock");
	struct nbd_server *s = serve(cow, path, false, false);
	int a = nbdc_open(path, size, FLAGS_RW);
	int b = nbdc_open(path, size, FLAGS_RW);
	struct cow_stats st0, st1;
	size_t off, n;

	rng_fill(&rng, data, sizeof(data));
	cow_get_stats(cow, &st0);
	nbdc_req(a, 0, CMD_WRITE, 9, 512, 64 * KiB);
	for (off = 0; off < 64 * KiB; off += n) {
		n = 64 * KiB - off < 1000 ? 64 * KiB - off : 1000;
		nbdc_send(a, data + off, n);
		if (off % 8000 == 0)
			poll(NULL, 0, 1);
	}
	CHECK(nbdc_reply(a, 9, NULL, 0) == 0, "a dribbled write");
	cow_get_stats(cow, &st1);
	CHECK(st1.wr_reqs == st0.wr_reqs + 1 &&
		      st1.wr_sectors == st0.wr_sectors + 128,
	      "a dribbled write counted as %llu writes of %llu sectors",
	      (unsigned long long)(st1.wr_reqs - st0.wr_reqs),
	      (unsigned long long)(st1.wr_sectors - st0.wr_sectors));
	CHECK(nbdc_read(b, 512, 64 * KiB, buf) == 0 &&
		      !memcmp(buf, data, 64 * KiB),
	      "a dribbled write read back wrong");

	/* a stops half way through 1 MiB */
	nbdc_req(a, 0, CMD_WRITE, 10, 0, 1 * MiB);
	nbdc_send(a, data, 512 * KiB);
	poll(NULL, 0, 20); /* the server takes what is there */
	CHECK(nbdc_write(b, 0, 256 * KiB, 4096, data + 8192) == 0 &&
		      nbdc_read(b, 256 * KiB, 4096, buf) == 0 &&
		      !memcmp(buf, data + 8192, 4096),
	      "another client's write and read of the same blocks");
	CHECK(nbd_server_clients(s) == 2,
	      "the other client waited until the stalled one was dropped");
	nbdc_send(a, data + 512 * KiB, 512 * KiB);
	CHECK(nbdc_reply(a, 10, NULL, 0) == 0, "the stalled write");
	/* The two overlapped: the block both wrote is either's, whole. */
	CHECK(nbdc_read(b, 0, 1 * MiB, buf) == 0, "read back");
	CHECK(!memcmp(buf, data, 256 * KiB) &&
		      !memcmp(buf + 260 * KiB, data + 260 * KiB, 764 * KiB) &&
		      (!memcmp(buf + 256 * KiB, data + 256 * KiB, 4096) ||
		       !memcmp(buf + 256 * KiB, data + 8192, 4096)),
	      "the stalled write read back wrong");
	nbdc_disc(a);
	nbdc_disc(b);
	nbd_server_free(s);
	cow_free(cow);
}

/* ---- hostile clients ---- */

struct hostile {
	struct cow *cow;
	struct nbd_server *s;
	const char *path;
	int bystander;
	uint8_t mark[4096];
};

/* The bystander writes a fresh mark and reads it back after each case. */
static void bystander_check(struct hostile *h, const char *after)
{
	uint8_t out[4096];

	rng_fill(&rng, h->mark, sizeof(h->mark));
	CHECK(nbdc_write(h->bystander, 0, 8192, sizeof(h->mark), h->mark) == 0,
	      "bystander write after %s", after);
	CHECK(nbdc_read(h->bystander, 8192, sizeof(out), out) == 0 &&
		      !memcmp(out, h->mark, sizeof(out)),
	      "bystander data after %s", after);
}

/* fd must now be closed by the server. */
static void expect_hangup(struct hostile *h, int fd, const char *what)
{
	CHECK(nbdc_closed(fd), "%s: the server did not hang up", what);
	close(fd);
	bystander_check(h, what);
}

static void test_hostile(void)
{
	struct hostile h = { 0 };
	const uint64_t size = 64 * MiB; /* blank: costs only what is written */
	static uint8_t big[1 * MiB], buf[4096];
	struct nbdc_rep r;
	uint8_t hdr[28];
	int fd;

	h.cow = blank(size, 0, NULL);
	h.path = sock_path("hostile.sock");
	h.s = serve(h.cow, h.path, false, false);
	h.bystander = nbdc_open(h.path, size, FLAGS_RW);
	bystander_check(&h, "start");

	fd = nbdc_connect(h.path);
	nbdc_greeting(fd);
	nbdc_send(fd, "\x00\x00\x00\x80", 4); /* an unknown client flag */
	expect_hangup(&h, fd, "unknown client flags");

	fd = nbdc_hello(h.path, 3);
	nbdc_send(fd, "GARBAGE!GARBAGE!", 16);
	expect_hangup(&h, fd, "garbage option magic");

	fd = nbdc_hello(h.path, 3);
	nbdc_opt(fd, OPT_GO, NULL, 0); /* header only: claims 0 bytes */
	nbdc_rep(fd, &r); /* ERR_INVALID: GO needs data */
	nbdc_send(fd, "IHAVEOPT\0\0\0\x07\x00\x10\x00\x00", 16); /* 1 MiB */
	nbdc_rep(fd, &r);
	CHECK(r.type == REP_ERR_TOO_BIG, "oversized option: %#x", r.type);
	expect_hangup(&h, fd, "an oversized option");

	fd = nbdc_hello(h.path, 3);
	nbdc_opt(fd, 0x4242, big, 4096); /* the largest option allowed */
	nbdc_rep(fd, &r);
	CHECK(r.type == REP_ERR_UNSUP, "4 KiB unknown option: %#x", r.type);
	nbdc_go(fd, OPT_GO, size, FLAGS_RW);

	/* transmission, on the same client while it stays usable */
	CHECK(nbdc_read(fd, 0, 32 * MiB + 512, NULL) == EINVAL_,
	      "a read over 32 MiB");
	CHECK(nbdc_read(fd, size - 512, 1024, buf) == EINVAL_, "read past end");
	CHECK(nbdc_read(fd, size, 512, buf) == EINVAL_, "read at the end");
	CHECK(nbdc_read(fd, 0xfffffffffffffe00ull, 1024, buf) == EINVAL_,
	      "read whose end wraps");
	CHECK(nbdc_write(fd, 0, size - 512, 1024, big) == ENOSPC_,
	      "write past end");
	CHECK(nbdc_cmd(fd, 0, CMD_TRIM, size - 512, 1024) == EINVAL_,
	      "trim past end");
	CHECK(nbdc_cmd(fd, 0, CMD_WRITE_ZEROES, size, 512) == ENOSPC_,
	      "zeroes past end");
	CHECK(nbdc_cmd(fd, 0, CMD_CACHE, 0, 512) == EINVAL_, "CACHE");
	CHECK(nbdc_cmd(fd, 0, CMD_BLOCK_STATUS, 0, 512) == EINVAL_,
	      "BLOCK_STATUS");
	CHECK(nbdc_cmd(fd, 0, 99, 0, 512) == EINVAL_, "command 99");
	CHECK(nbdc_cmd(fd, F_DF, CMD_READ, 0, 512) == EINVAL_, "read DF");
	CHECK(nbdc_cmd(fd, 0x100, CMD_READ, 0, 512) == EINVAL_, "flag 8");
	CHECK(nbdc_cmd(fd, 0, CMD_READ, 0, 0) == EINVAL_, "read of 0 bytes");
	CHECK(nbdc_write(fd, 0, 100, 512, big) == EINVAL_, "unaligned write");
	CHECK(nbdc_read(fd, 0, 4096, buf) == 0, "usable after refusals");
	bystander_check(&h, "refused requests");
	/* a WRITE whose payload we will not read: hang up */
	nbdc_req(fd, 0, CMD_WRITE, 1, 0, 64 * MiB);
	expect_hangup(&h, fd, "a 64 MiB write");

	fd = nbdc_open(h.path, size, FLAGS_RW);
	memset(hdr, 0x55, sizeof(hdr));
	nbdc_send(fd, hdr, sizeof(hdr));
	expect_hangup(&h, fd, "garbage request magic");

	/* half a request, then gone */
	fd = nbdc_open(h.path, size, FLAGS_RW);
	nbdc_req(fd, 0, CMD_WRITE, 1, 0, 1 * MiB);
	nbdc_send(fd, big, 1000);
	close(fd);
	bystander_check(&h, "half a write");

	/* a client that never reads: dropped within a few of the server's
	 * timeouts, while the bystander goes on */
	{
		uint64_t end = now_ms() + 4 * (uint64_t)timeout_ms(500);
		bool dropped = false;
		int i;

		fd = nbdc_open(h.path, size, FLAGS_RW);
		wait_clients(h.s, 2);
		for (i = 0; i < 8; i++)
			nbdc_req(fd, 0, CMD_READ, (uint64_t)i, 0, 32 * MiB);
		while (!dropped && now_ms() < end) {
			bystander_check(&h, "a client that never reads");
			dropped = nbd_server_clients(h.s) == 1;
			poll(NULL, 0, 5);
		}
		CHECK(dropped, "a client that never reads was kept");
		close(fd);
	}

	/* a client that never sends is kept */
	fd = nbdc_open(h.path, size, FLAGS_RW);
	poll(NULL, 0, timeout_ms(500) * 2);
	wait_clients(h.s, 2);
	CHECK(nbdc_read(fd, 0, 512, buf) == 0, "a quiet client was dropped");
	nbdc_disc(fd);

	nbdc_disc(h.bystander);
	nbd_server_free(h.s);
	cow_free(h.cow);
}

/* ---- the server's life ---- */

static void test_max_clients(void)
{
	struct cow *cow = blank(1 * MiB, 0, NULL);
	const char *path = sock_path("max.sock");
	struct nbd_server_params p = {
		.path = path,
		.cow = cow,
		.max_clients = 2,
		.changed = on_changed,
	};
	struct nbd_server *s;
	uint8_t buf[512];
	unsigned int c0;
	int a, b, c;

	CHECK_OK(nbd_server_new(&p, &s));
	c0 = atomic_load(&changes);
	a = nbdc_open(path, 1 * MiB, FLAGS_RW);
	b = nbdc_open(path, 1 * MiB, FLAGS_RW);
	wait_clients(s, 2);
	wait_changes(c0 + 2);
	c = nbdc_connect(path);
	CHECK(nbdc_closed(c), "a third client was served");
	close(c);
	CHECK(nbdc_read(a, 0, 512, buf) == 0 && nbdc_read(b, 0, 512, buf) == 0,
	      "the two served are fine");
	nbdc_disc(a);
	wait_clients(s, 1);
	c = nbdc_open(path, 1 * MiB, FLAGS_RW);
	CHECK(nbdc_read(c, 0, 512, buf) == 0, "a client once there was room");
	nbdc_disc(b);
	nbdc_disc(c);
	wait_clients(s, 0);
	wait_changes(c0 + 6);
	nbd_server_free(s);
	cow_free(cow);
}

struct freer {
	struct nbd_server *s;
	pthread_t t;
};

static void *free_main(void *arg)
{
	nbd_server_free(((struct freer *)arg)->s);
	return NULL;
}

/* nbd_server_free() with clients in every state. */
static void test_free_with_clients(void)
{
	struct cow *cow = blank(4 * MiB, 0, NULL);
	const char *path = sock_path("free.sock");
	struct nbd_server *s = serve(cow, path, false, false);
	static uint8_t data[2 * MiB], out[2 * MiB];
	uint8_t tail[100 + 28];
	int idle, haggling, writing, fresh;
	struct timespec t0, t1;
	struct freer f = { .s = s };
	struct stat st;
	double secs;

	rng_fill(&rng, data, sizeof(data));
	idle = nbdc_open(path, 4 * MiB, FLAGS_RW);
	haggling = nbdc_hello(path, 3);
	fresh = nbdc_connect(path); /* not even the greeting read */
	writing = nbdc_open(path, 4 * MiB, FLAGS_RW);
	wait_clients(s, 4);
	nbdc_req(writing, 0, CMD_WRITE, 42, 1 * MiB, sizeof(data));
	/* all of a 2 MiB write but its last 100 bytes */
	nbdc_send(writing, data, sizeof(data) - 100);
	poll(NULL, 0, 20);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(pthread_create(&f.t, NULL, free_main, &f) == 0, "thread");
	/*
	 * The socket goes once the server stops. Then the request under way
	 * completes and is answered, and the one behind it, arriving in the
	 * same segment as the end of the payload, is not served.
	 */
	while (lstat(path, &st) == 0)
		poll(NULL, 0, 1);
	memcpy(tail, data + sizeof(data) - 100, 100);
	be_put(tail + 100, 0x25609513u, 4);
	be_put(tail + 104, 0, 2);
	be_put(tail + 106, CMD_READ, 2);
	be_put(tail + 108, 43, 8);
	be_put(tail + 116, 0, 8);
	be_put(tail + 124, 4096, 4);
	nbdc_send(writing, tail, sizeof(tail));
	CHECK(nbdc_reply(writing, 42, NULL, 0) == 0, "the write in flight");
	CHECK(nbdc_closed(writing), "a request served while stopping");
	CHECK(nbdc_closed(idle), "idle client left open");
	CHECK(nbdc_closed(haggling), "haggling client left open");
	nbdc_greeting(fresh);
	CHECK(nbdc_closed(fresh), "client before its flags left open");
	CHECK(pthread_join(f.t, NULL) == 0, "join");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(secs < 3.0, "nbd_server_free() took %.2f s", secs);
	CHECK(lstat(path, &st) < 0, "socket left behind");
	CHECK_OK(cow_read(cow, out, 1 * MiB / 512, sizeof(out) / 512));
	CHECK(!memcmp(out, data, sizeof(out)), "the write in flight was lost");
	close(idle);
	close(haggling);
	close(fresh);
	cow_free(cow);
}

/* Where the socket may go. */
static void test_paths(void)
{
	struct cow *cow = blank(1 * MiB, 0, NULL);
	struct nbd_server_params p = { .cow = cow };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[100], longp[200];
	struct nbd_server *s, *s2;
	struct stat st;
	int fd;

	/* not a socket */
	p.path = test_write_file("plain", "x", 1);
	CHECK_ERR(nbd_server_new(&p, &s), -EEXIST);
	CHECK(stat(p.path, &st) == 0, "the file was removed");
	unlink(p.path);
	free((char *)p.path);

	/* a directory others may enter */
	snprintf(dir, sizeof(dir), "%s/open", test_tmpdir());
	CHECK(mkdir(dir, 0755) == 0, "mkdir");
	snprintf(longp, sizeof(longp), "%s/s", dir);
	p.path = longp;
	CHECK_ERR(nbd_server_new(&p, &s), -EPERM);
	CHECK(chmod(dir, 0700) == 0, "chmod");
	CHECK_OK(nbd_server_new(&p, &s));
	nbd_server_free(s);
	rmdir(dir);
	/* no directory */
	CHECK_ERR(nbd_server_new(&p, &s), -ENOENT);

	/* a live socket is refused, a stale one replaced */
	p.path = sock_path("live.sock");
	CHECK_OK(nbd_server_new(&p, &s));
	CHECK_ERR(nbd_server_new(&p, &s2), -EADDRINUSE);
	nbd_server_free(s);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p.path);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind");
	close(fd); /* a stale socket: nobody listens */
	CHECK_OK(nbd_server_new(&p, &s));
	fd = nbdc_open(p.path, 1 * MiB, FLAGS_RW);
	nbdc_disc(fd);
	nbd_server_free(s);

	/* too long for sun_path */
	memset(longp, 'a', 150);
	longp[0] = '/';
	longp[150] = '\0';
	p.path = longp;
	CHECK_ERR(nbd_server_new(&p, &s), -ENAMETOOLONG);
	cow_free(cow);
}

/* Only root (or ourselves): a client of another uid gets nothing. */
static void test_peer_uid(void)
{
	/* static: still reachable from the forked child (valgrind's leak
	 * check runs in it too) */
	static struct nbd_server *s;
	static struct cow *cow;
	const char *path;
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		printf("test-nbd: not root: uid refusal not exercised\n");
		return;
	}
	cow = blank(1 * MiB, 0, NULL);
	path = sock_path("uid.sock");
	s = serve(cow, path, false, false);
	/* the socket is 0600 in a 0700 directory: let the child in */
	CHECK(chmod(test_tmpdir(), 0755) == 0 && chmod(path, 0666) == 0,
	      "chmod");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		int fd;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		fd = nbdc_connect(path);
		_exit(nbdc_closed(fd) ? 0 : 1);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(chmod(test_tmpdir(), 0700) == 0, "chmod back");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "a client of uid 65534 was served (status %#x)", status);
	wait_clients(s, 0);
	nbd_server_free(s);
	cow_free(cow);
}

/* ---- one connection on a given fd ---- */

struct fd_server {
	int fd;
	struct nbd_server_params p;
	int rc;
	pthread_t t;
};

static void *fd_main(void *arg)
{
	struct fd_server *f = arg;

	f->rc = nbd_serve_fd(f->fd, &f->p);
	return NULL;
}

static int serve_fd_case(struct cow *cow, int how)
{
	struct fd_server f = { .p = { .cow = cow } };
	struct timeval tv = { .tv_sec = 10 };
	uint8_t buf[4096] = { 9 }, out[4096];
	struct nbdc_rep r;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	f.fd = sv[1];
	CHECK(pthread_create(&f.t, NULL, fd_main, &f) == 0, "thread");
	nbdc_greeting(sv[0]);
	nbdc_flags(sv[0], 3);
	switch (how) {
	case 0: /* GO, I/O, DISC */
		nbdc_go(sv[0], OPT_GO, 1 * MiB, FLAGS_RW);
		CHECK(nbdc_write(sv[0], 0, 4096, 4096, buf) == 0, "write");
		CHECK(nbdc_read(sv[0], 4096, 4096, out) == 0 &&
			      !memcmp(buf, out, 4096),
		      "read back");
		nbdc_req(sv[0], 0, CMD_DISC, 1, 0, 0);
		break;
	case 1: /* ABORT */
		nbdc_opt(sv[0], OPT_ABORT, NULL, 0);
		nbdc_rep(sv[0], &r);
		CHECK(r.type == REP_ACK, "ABORT: %#x", r.type);
		break;
	case 2: /* garbage */
		nbdc_send(sv[0], "GARBAGE!GARBAGE!", 16);
		break;
	}
	CHECK(pthread_join(f.t, NULL) == 0, "join");
	close(sv[0]);
	close(sv[1]);
	return f.rc;
}

static void test_serve_fd(void)
{
	struct cow *cow = blank(1 * MiB, 0, NULL);
	struct nbd_server_params p = { .cow = cow };
	int pfd[2];

	CHECK_OK(serve_fd_case(cow, 0));
	CHECK_OK(serve_fd_case(cow, 1));
	CHECK_ERR(serve_fd_case(cow, 2), -EPROTO);
	CHECK(pipe(pfd) == 0, "pipe");
	CHECK_ERR(nbd_serve_fd(pfd[0], &p), -ENOTSOCK);
	close(pfd[0]);
	close(pfd[1]);
	cow_free(cow);
}

int main(void)
{
	rng.s = test_seed("test-nbd");
	scale = test_scale();
	test_handshake();
	test_model();
	test_pipeline();
	test_replies_not_held();
	test_fua();
	test_locked();
	test_zero_space();
	test_read_only();
	full_case(false);
	full_case(true);
	test_read_errors();
	test_base_reads();
	test_slow_writes();
	test_hostile();
	test_max_clients();
	test_free_with_clients();
	test_paths();
	test_peer_uid();
	test_serve_fd();
	printf("test-nbd: all passed\n");
	return 0;
}
