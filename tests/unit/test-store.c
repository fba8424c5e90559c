/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stores: every overlay store (ram, file in a scratch directory, a named
 * file, xts over ram, xts over file) against a flat model; the base store's
 * read-only promises; the fault store's injection rules; what the xts store
 * really puts into its lower store. (Throughput is the benchmark's job:
 * tools/cow-bench prints the xts store against raw OpenSSL in one run.)
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cow/store.h"
#include "crypto/xts.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define BLK STORE_BLK_BYTES
/* Three RAM chunks (2 MiB = 512 slots each), the last one partial. */
#define NB 1100u

static char tmpdir[256];

static struct rng rng; /* seeded once in main(), printed */

static bool is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	return len == 0 || (p[0] == 0 && !memcmp(p, p + 1, len - 1));
}

static void *xmalloc(size_t len)
{
	void *p = malloc(len);

	CHECK(p, "malloc %zu", len);
	return p;
}

static char *tmp_path(const char *name)
{
	char *p = xmalloc(strlen(tmpdir) + strlen(name) + 2);

	sprintf(p, "%s/%s", tmpdir, name);
	return p;
}

static void sha256_file(const char *path, unsigned char out[32])
{
	unsigned char buf[65536];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	FILE *f = fopen(path, "rb");
	size_t n;

	CHECK(md && f, "sha256 %s", path);
	CHECK(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, "digest init");
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		CHECK(EVP_DigestUpdate(md, buf, n) == 1, "digest");
	CHECK(EVP_DigestFinal_ex(md, out, NULL) == 1, "digest final");
	EVP_MD_CTX_free(md);
	fclose(f);
}

/* Does this filesystem punch holes (so a discarded file slot reads 0)? */
static bool tmp_punches_holes(void)
{
	char *path = tmp_path("punch-probe");
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	bool ok;

	CHECK(fd >= 0, "probe file");
	CHECK(ftruncate(fd, 2 * BLK) == 0, "ftruncate");
	ok = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		       BLK) == 0;
	close(fd);
	unlink(path);
	free(path);
	return ok;
}

/* The open flags of our fd on path, from /proc/self/fdinfo; -1: none. */
static int fd_flags_of(const char *path)
{
	char link[300], target[4096], line[256];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int flags = -1;

	CHECK(d, "opendir /proc/self/fd");
	while (flags < 0 && (e = readdir(d))) {
		ssize_t n;
		FILE *f;

		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		if (strcmp(target, path))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fdinfo/%s", e->d_name);
		f = fopen(link, "r");
		CHECK(f, "fopen %s", link);
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "flags: %o", (unsigned int *)&flags) ==
			    1)
				break;
		fclose(f);
	}
	closedir(d);
	return flags;
}

/* Is the mapping that holds addr mlock()ed and MADV_DONTDUMP? */
static bool mapping_protected(const void *addr)
{
	struct smaps_region ri = smaps_region(addr);

	return ri.locked && ri.dontdump;
}

/*
 * The contract every overlay store keeps, checked against a flat model:
 * nr_blks slots, never-written slots read as zeros, whole-slot writes read
 * back (one at a time and in bulk, across RAM chunk boundaries), ranges are
 * bounded, discard leaves the neighbours alone and (if zeroes) reads zeros.
 */
static void check_overlay(struct store *s, const char *name, bool zeroes)
{
	unsigned char *model = calloc(NB, BLK), *buf = xmalloc(NB * BLK);
	static const struct {
		uint64_t slot;
		uint32_t nr;
	} writes[] = {
		{ 0, 1 },      { 1, 3 },     { 510, 5 }, /* across a chunk */
		{ 700, 40 }, /* more than one xts bounce buffer */
		{ NB - 1, 1 }, { 1020, 70 }, { 2, 1 }, /* overwrite */
	};
	unsigned int i;
	uint64_t b;

	CHECK(model, "calloc");
	CHECK(s->nr_blks == NB, "%s: nr_blks %llu", name,
	      (unsigned long long)s->nr_blks);

	CHECK_OK(store_read(s, buf, 0, NB));
	CHECK(is_zero(buf, NB * BLK), "%s: unwritten slots are not zero", name);

	for (i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		size_t off = writes[i].slot * BLK, len = writes[i].nr * BLK;

		rng_fill(&rng, buf, len);
		memcpy(model + off, buf, len);
		CHECK_OK(store_write(s, buf, writes[i].slot, writes[i].nr));
		/* The caller's buffer is input only. */
		CHECK(!memcmp(buf, model + off, len), "%s: write changed buf",
		      name);
	}
	for (b = 0; b < NB; b++) {
		CHECK_OK(store_read(s, buf, b, 1));
		CHECK(!memcmp(buf, model + b * BLK, BLK),
		      "%s: slot %llu reads wrong", name, (unsigned long long)b);
	}
	CHECK_OK(store_read(s, buf, 0, NB));
	CHECK(!memcmp(buf, model, NB * BLK), "%s: bulk read wrong", name);

	/* Capacity: the last slot is usable, one past it is not. */
	CHECK_ERR(store_write(s, buf, NB, 1), -EINVAL);
	CHECK_ERR(store_write(s, buf, NB - 1, 2), -EINVAL);
	CHECK_ERR(store_read(s, buf, NB, 1), -EINVAL);
	CHECK_ERR(store_read(s, buf, UINT64_MAX, 1), -EINVAL);
	CHECK_ERR(store_discard(s, NB - 2, 3), -EINVAL);
	CHECK_OK(store_read(s, buf, NB - 1, 1));
	CHECK(!memcmp(buf, model + (NB - 1) * BLK, BLK), "%s: last slot", name);

	/* Discard 2 and 511..512; neighbours keep their data. */
	CHECK_OK(store_discard(s, 2, 1));
	CHECK_OK(store_discard(s, 511, 2));
	memset(model + 2 * BLK, 0, BLK);
	memset(model + 511 * BLK, 0, 2 * BLK);
	CHECK_OK(store_read(s, buf, 0, NB));
	for (b = 0; b < NB; b++) {
		bool discarded = b == 2 || b == 511 || b == 512;

		if (discarded && !zeroes)
			continue;
		CHECK(!memcmp(buf + b * BLK, model + b * BLK, BLK),
		      "%s: after discard, slot %llu %s", name,
		      (unsigned long long)b,
		      discarded ? "still shows old data" : "changed");
	}
	/* A discarded slot can be written again. */
	rng_fill(&rng, model + 2 * BLK, BLK);
	CHECK_OK(store_write(s, model + 2 * BLK, 2, 1));
	CHECK_OK(store_read(s, buf, 2, 1));
	CHECK(!memcmp(buf, model + 2 * BLK, BLK), "%s: rewrite", name);
	CHECK_OK(store_flush(s));
	printf("%-14s ok (discard %s)\n", name,
	       zeroes ? "reads zeros" : "not checked: no hole punching");
	free(model);
	free(buf);
}

static size_t dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	size_t n = 0;

	CHECK(d, "opendir %s", path);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void test_ram(void)
{
	struct store *s;
	unsigned char *p, buf[BLK];

	CHECK_ERR(store_ram_new(0, &s), -EINVAL);
	CHECK_OK(store_ram_new(NB, &s));
	CHECK(!strcmp(s->ops->name, "ram"), "name");
	check_overlay(s, "ram", true);

	/* direct(): the slot's own memory, coherent with read and write. */
	p = store_direct(s, 5);
	CHECK(p, "ram direct NULL");
	CHECK(store_direct(s, 5) == p, "direct not stable");
	CHECK(store_direct(s, NB) == NULL, "direct past the end");
	memset(p, 0xab, BLK);
	CHECK_OK(store_read(s, buf, 5, 1));
	CHECK(buf[0] == 0xab && buf[BLK - 1] == 0xab, "direct write unseen");
	memset(buf, 0x11, BLK);
	CHECK_OK(store_write(s, buf, 5, 1));
	CHECK(p[0] == 0x11, "write unseen through direct");
	/* Written chunks are locked and left out of core dumps; the pages
	 * written are resident and locked (lock on fault), and a chunk
	 * costs only the pages written in it. */
	CHECK(mapping_protected(p), "written RAM slot not locked/undumpable");
	{
		struct smaps_region ri = smaps_region(p);

		CHECK(ri.locked_kb >= 4 && ri.locked_kb < 2048,
		      "one written slot: %lu kB locked", ri.locked_kb);
	}
	/* direct() into a chunk no write has touched yet (slot 1099). */
	p = store_direct(s, NB - 1);
	CHECK(p, "direct on a fresh chunk");
	CHECK(mapping_protected(p), "direct() slot not locked/undumpable");
	store_destroy(s);
	store_destroy(NULL);
}

static void test_file(bool punch)
{
	char *named = tmp_path("scratch.img"), *missing;
	struct stat st;
	struct store *s;
	int fd;

	/* A directory: an O_TMPFILE nobody can name. */
	CHECK_OK(store_file_new(tmpdir, NB, &s));
	CHECK(dir_entries(tmpdir) == 0, "scratch file has a name in %s",
	      tmpdir);
	check_overlay(s, "file (tmpdir)", punch);
	CHECK(dir_entries(tmpdir) == 0, "scratch file got a name");
	store_destroy(s);

	/* A named file: created 0600, sized sparse. */
	CHECK_OK(store_file_new(named, NB, &s));
	CHECK(stat(named, &st) == 0, "stat %s", named);
	CHECK((st.st_mode & 07777) == 0600, "mode %o", st.st_mode & 07777);
	CHECK(st.st_size == (off_t)NB * BLK, "size %lld",
	      (long long)st.st_size);
	CHECK(st.st_blocks * 512 < (blkcnt_t)NB * BLK / 2, "not sparse");
	CHECK((fd_flags_of(named) & (O_ACCMODE | O_CLOEXEC)) ==
		      (O_RDWR | O_CLOEXEC),
	      "scratch fd flags %o", fd_flags_of(named));
	check_overlay(s, "file (named)", punch);
	store_destroy(s);
	/* An existing larger file is not shrunk. */
	CHECK_OK(store_file_new(named, 10, &s));
	CHECK(s->nr_blks == 10, "nr_blks");
	store_destroy(s);
	CHECK(stat(named, &st) == 0 && st.st_size == (off_t)NB * BLK,
	      "existing scratch shrunk");
	unlink(named);

	/* Over an fd (the store then owns it). */
	fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	CHECK(fd >= 0, "O_TMPFILE");
	CHECK_ERR(store_file_new_fd(fd, 0, &s), -EINVAL);
	CHECK_OK(store_file_new_fd(fd, 4, &s));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 4 * BLK, "fd not sized");
	store_destroy(s);
	CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "fd not closed");

	missing = tmp_path("no/such/dir");
	CHECK_ERR(store_file_new(missing, 1, &s), -ENOENT);
	free(missing);
	free(named);
}

static void test_base(void)
{
	const size_t len = 3 * BLK + 100;
	unsigned char *data = xmalloc(len), *buf = xmalloc(4 * BLK);
	unsigned char before[32], after[32];
	char *path = tmp_path("base.img"), *missing = tmp_path("missing.img");
	struct store *s = NULL;
	uint64_t bytes = 0;
	int flags;
	FILE *f;

	rng_fill(&rng, data, len);
	f = fopen(path, "wb");
	CHECK(f && fwrite(data, 1, len, f) == len && !fclose(f), "write base");
	CHECK(chmod(path, 0444) == 0, "chmod");
	sha256_file(path, before);

	CHECK_OK(store_base_open(path, &s, &bytes));
	CHECK(bytes == len, "bytes %llu", (unsigned long long)bytes);
	CHECK(s->nr_blks == 4, "nr_blks %llu", (unsigned long long)s->nr_blks);
	/* As root the mode bits stop nothing: check how it was opened. */
	flags = fd_flags_of(path);
	CHECK(flags >= 0, "no open fd on %s", path);
	CHECK((flags & O_ACCMODE) == O_RDONLY, "base opened writable (%o)",
	      flags);
	CHECK(flags & O_CLOEXEC, "base fd leaks into children");
	memset(buf, 0x77, 4 * BLK); /* stale bytes must not survive */
	CHECK_OK(store_read(s, buf, 0, 4));
	CHECK(!memcmp(buf, data, len), "base bytes wrong");
	CHECK(is_zero(buf + len, 4 * BLK - len), "past EOF not zero");
	memset(buf, 0x77, BLK);
	CHECK_OK(store_read(s, buf, 3, 1));
	CHECK(!memcmp(buf, data + 3 * BLK, 100) &&
		      is_zero(buf + 100, BLK - 100),
	      "last partial block");
	CHECK_ERR(store_read(s, buf, 4, 1), -EINVAL);
	CHECK_ERR(store_write(s, buf, 0, 1), -EROFS);
	CHECK_ERR(store_discard(s, 0, 1), -EROFS);
	CHECK_OK(store_flush(s));
	CHECK(store_direct(s, 0) == NULL, "base has direct");
	store_destroy(s);
	sha256_file(path, after);
	CHECK(!memcmp(before, after, 32), "base image changed");

	s = NULL;
	CHECK_ERR(store_base_open(missing, &s, &bytes), -ENOENT);
	CHECK_ERR(store_base_open(tmpdir, &s, &bytes), -EISDIR);
	CHECK(s == NULL, "store_r set on failure");
	printf("base           ok (unchanged, zeros past EOF, EROFS)\n");
	unlink(path);
	free(path);
	free(missing);
	free(data);
	free(buf);
}

static void test_fault(void)
{
	unsigned char a[BLK], b[BLK], out[BLK];
	struct store *ram, *s;

	memset(a, 0xaa, BLK);
	memset(b, 0xbb, BLK);
	CHECK_OK(store_ram_new(8, &ram));
	CHECK_OK(store_fault_new(ram, &s));
	CHECK(s->nr_blks == 8, "nr_blks");
	CHECK(store_direct(s, 0) == NULL, "fault store must not bypass");

	/* Unarmed: everything passes and is counted. */
	CHECK_OK(store_write(s, a, 0, 1));
	CHECK_OK(store_read(s, out, 0, 1));
	CHECK(store_fault_count(s, STORE_FAULT_WRITE) == 1, "write count");
	CHECK(store_fault_count(s, STORE_FAULT_READ) == 1, "read count");

	/* The 2nd write from now fails, has no effect, and is counted. */
	store_fault_set(s, STORE_FAULT_WRITE, 2, -EIO, false);
	CHECK_OK(store_write(s, a, 1, 1));
	CHECK_ERR(store_write(s, b, 0, 1), -EIO);
	CHECK_OK(store_read(ram, out, 0, 1));
	CHECK(!memcmp(out, a, BLK), "failed write reached lower");
	CHECK_OK(store_write(s, b, 0, 1)); /* not sticky */
	CHECK(store_fault_count(s, STORE_FAULT_WRITE) == 4, "count %llu",
	      (unsigned long long)store_fault_count(s, STORE_FAULT_WRITE));

	/* Sticky from the 1st: every read fails until disarmed. */
	store_fault_set(s, STORE_FAULT_READ, 1, -ENOSPC, true);
	memset(out, 0x55, BLK);
	CHECK_ERR(store_read(s, out, 0, 1), -ENOSPC);
	CHECK_ERR(store_read(s, out, 0, 1), -ENOSPC);
	CHECK(out[0] == 0x55, "failed read touched the buffer");
	store_fault_set(s, STORE_FAULT_READ, 0, 0, false);
	CHECK_OK(store_read(s, out, 0, 1));
	CHECK(!memcmp(out, b, BLK), "read after disarm");

	/* Discard and flush. */
	store_fault_set(s, STORE_FAULT_DISCARD, 1, -EIO, false);
	CHECK_ERR(store_discard(s, 0, 1), -EIO);
	CHECK_OK(store_read(ram, out, 0, 1));
	CHECK(!memcmp(out, b, BLK), "failed discard reached lower");
	CHECK_OK(store_discard(s, 0, 1));
	store_fault_set(s, STORE_FAULT_FLUSH, 1, -EIO, false);
	CHECK_ERR(store_flush(s), -EIO);
	CHECK_OK(store_flush(s));
	CHECK(store_fault_count(s, STORE_FAULT_FLUSH) == 2, "flush count");
	CHECK(store_fault_count(s, STORE_FAULT_DISCARD) == 2, "discard count");

	/* Arming counts from now, not from creation. */
	store_fault_set(s, STORE_FAULT_WRITE, 1, -EIO, false);
	CHECK_ERR(store_write(s, a, 0, 1), -EIO);
	CHECK_OK(store_write(s, a, 0, 1));
	store_destroy(s); /* destroys ram too */
	printf("fault          ok\n");
}

/* An independent decryptor under the same key bytes as an xts store. */
struct verifier {
	struct key *key;
	struct xts *xts;
};

static void verifier_free(struct verifier *v)
{
	xts_free(v->xts);
	key_free(v->key);
}

/* Build xts over lower with a random key, and a verifier for it. */
static struct store *xts_over(struct store *lower, struct verifier *v)
{
	struct store *s;
	struct key *key;

	CHECK_OK(key_new_random(&key));
	CHECK_OK(key_new_from_bytes(key_bytes(key), KEY_XTS_BYTES, &v->key));
	CHECK_OK(xts_new(v->key, &v->xts));
	CHECK_OK(store_xts_new(lower, key, &s));
	return s;
}

static void test_xts_ram(void)
{
	unsigned char *pt = xmalloc(64 * BLK), *low = xmalloc(64 * BLK),
		      *dec = xmalloc(BLK);
	struct store *ram, *s;
	struct verifier check;
	unsigned int i;

	CHECK_OK(store_ram_new(NB, &ram));
	s = xts_over(ram, &check);
	CHECK(s->nr_blks == NB, "nr_blks");
	CHECK(store_direct(s, 0) == NULL, "xts exposes plaintext memory");

	/* The same plaintext in every slot of a 40-slot write. */
	rng_fill(&rng, pt, BLK);
	for (i = 1; i < 40; i++)
		memcpy(pt + i * BLK, pt, BLK);
	CHECK_OK(store_write(s, pt, 100, 40));
	CHECK_OK(store_read(ram, low, 100, 40));
	for (i = 0; i < 40; i++) {
		unsigned char *c = low + i * BLK;

		CHECK(memcmp(c, pt, BLK), "slot %u stored in plaintext", i);
		if (i)
			CHECK(memcmp(c, low, BLK),
			      "slots 100 and %u: same ciphertext", 100 + i);
		/* Tweak = slot number: an independent context agrees. */
		CHECK_OK(xts_decrypt(check.xts, 100 + i, c, dec, BLK));
		CHECK(!memcmp(dec, pt, BLK), "slot %u: tweak is not the slot",
		      100 + i);
	}
	CHECK_OK(store_read(s, low, 100, 40));
	CHECK(!memcmp(low, pt, 40 * BLK), "xts read back");
	store_destroy(s);
	printf("xts over ram   ok (ciphertext in lower, tweak = slot)\n");
	free(pt);
	free(low);
	free(dec);
	verifier_free(&check);
}

/* Many threads on distinct slots: first touches race, pools are shared. */
#define NTHREADS 6
struct worker {
	pthread_t tid;
	struct store *s;
	unsigned int id;
	int bad;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	unsigned char in[2 * BLK], out[2 * BLK];
	uint64_t slot;
	int r;

	for (r = 0; r < 40; r++) {
		for (slot = w->id * 2; slot + 2 <= NB; slot += 2 * NTHREADS) {
			memset(in, (int)(slot + r), sizeof(in));
			if (store_write(w->s, in, slot, 2) ||
			    store_read(w->s, out, slot, 2) ||
			    memcmp(in, out, sizeof(in)))
				w->bad++;
		}
	}
	return NULL;
}

static void test_threads(struct store *s, const char *name)
{
	struct worker w[NTHREADS];
	unsigned int i;

	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .s = s, .id = i };
		CHECK(!pthread_create(&w[i].tid, NULL, worker_run, &w[i]),
		      "pthread_create");
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(w[i].tid, NULL);
		CHECK(!w[i].bad, "%s: thread %u saw %d wrong blocks", name, i,
		      w[i].bad);
	}
	store_destroy(s);
	printf("%-14s ok (%d threads)\n", name, NTHREADS);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	struct store *s, *lower;
	struct verifier check;
	bool punch;

	rng.s = test_seed("test-store");
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-store.XXXXXX",
		 t && *t ? t : "/tmp");
	CHECK(mkdtemp(tmpdir), "mkdtemp %s", tmpdir);
	punch = tmp_punches_holes();

	test_ram();
	test_file(punch);
	test_base();
	test_fault();

	CHECK_OK(store_ram_new(NB, &lower));
	s = xts_over(lower, &check);
	check_overlay(s, "xts over ram", true);
	store_destroy(s);
	verifier_free(&check);
	CHECK_OK(store_file_new(tmpdir, NB, &lower));
	s = xts_over(lower, &check);
	check_overlay(s, "xts over file", punch);
	store_destroy(s);
	verifier_free(&check);
	test_xts_ram();

	CHECK_OK(store_ram_new(NB, &s));
	test_threads(s, "ram");
	CHECK_OK(store_file_new(tmpdir, NB, &lower));
	s = xts_over(lower, &check);
	test_threads(s, "xts over file");
	verifier_free(&check);

	CHECK(rmdir(tmpdir) == 0, "%s not empty", tmpdir);
	return 0;
}
