/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A file store whose scratch is on tmpfs maps it (cow/store-file.c,
 * cow/store-map.c). What that must keep true:
 * - write_fill's filler writes into the file itself (pread sees it at
 *   once), read_in_place shows the same bytes, and only where a region was
 *   reserved: elsewhere it says -EAGAIN and the caller reads;
 * - a discard punches and un-reserves; the next write reserves again;
 * - a full tmpfs is -ENOSPC from the write that does not fit, before its
 *   filler runs, never a SIGBUS; space given back is usable again;
 * - a page lost under the mapping (the file cut short behind the store's
 *   back, as a swap read error would lose one) fails that call and every
 *   later one with -EIO and the process lives, also when the fault is
 *   taken in a cipher helper thread of an xts store on top;
 * - an xts store over it writes no plaintext into the file and reads back
 *   what was written;
 * - a SIGBUS anywhere else still kills the process.
 * Needs a tmpfs: a private one of 2 MiB when root (mount namespace), else
 * /dev/shm (then without the full-tmpfs part, which says so).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cow/store.h"
#include "cow/store-local.h"
#include "crypto/key.h"
#include "crypto/xts.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define BLK STORE_BLK_BYTES
#define TMPFS_BLKS 512u  /* the private tmpfs: 2 MiB */
#define NR_BLKS 1024u    /* the store: 4 MiB, more than that tmpfs */
#define MARK "xe-map-plaintext-marker"

static struct rng rng;
static char dir[4200];
static bool small; /* dir is our private tmpfs of TMPFS_BLKS pages */

static bool on_tmpfs(const char *path)
{
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s/tmpfs", test_tmpdir());
	CHECK(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
	if (geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("xe-test", dir, "tmpfs", 0, "size=2m,mode=0700") == 0) {
		small = true;
		return;
	}
	rmdir(dir);
	if (!on_tmpfs("/dev/shm")) {
		printf("test-store-map: no tmpfs to test on: skipped\n");
		exit(77);
	}
	snprintf(dir, sizeof(dir), "/dev/shm");
}

static void teardown(void)
{
	if (small) {
		CHECK(umount2(dir, MNT_DETACH) == 0, "umount: %s",
		      strerror(errno));
		rmdir(dir);
	}
}

/* A scratch in dir that the test keeps a descriptor of, to cut it short. */
static struct store *open_mapped(uint32_t nr_blks, int *fd_r)
{
	struct store *s;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	CHECK(fd >= 0, "O_TMPFILE in %s: %s", dir, strerror(errno));
	*fd_r = dup(fd);
	CHECK(*fd_r >= 0, "dup");
	CHECK_OK(store_file_new_fd(fd, nr_blks, &s));
	CHECK(strstr(store_io_mode(s), "tmpfs mapped"),
	      "a scratch on tmpfs is not mapped: %s", store_io_mode(s));
	return s;
}

struct fill {
	const unsigned char *src; /* slot first's bytes */
	uint64_t first;
	unsigned int calls;
};

static int fill_cb(void *arg, void *buf, uint64_t slot, uint32_t n)
{
	struct fill *f = arg;

	memcpy(buf, f->src + (slot - f->first) * BLK, (size_t)n * BLK);
	f->calls++;
	return 0;
}

struct show {
	unsigned char *dst;
	uint64_t first;
};

static int show_cb(void *arg, const void *p, uint64_t slot, uint32_t n)
{
	struct show *sh = arg;

	memcpy(sh->dst + (slot - sh->first) * BLK, p, (size_t)n * BLK);
	return 0;
}

static int fill(struct store *s, const unsigned char *src, uint64_t slot,
		uint32_t nr, unsigned int *calls)
{
	struct fill f = { src, slot, 0 };
	int rc = s->ops->write_fill(s, slot, nr, fill_cb, &f);

	if (calls)
		*calls = f.calls;
	return rc;
}

static int show(struct store *s, unsigned char *dst, uint64_t slot,
		uint32_t nr)
{
	struct show sh = { dst, slot };

	return s->ops->read_in_place(s, slot, nr, show_cb, &sh);
}

static bool all_zero(const unsigned char *p, size_t len)
{
	return !p[0] && !memcmp(p, p + 1, len - 1);
}

static void test_roundtrip(void)
{
	unsigned char *w = malloc(200 * BLK), *r = malloc(200 * BLK);
	unsigned int calls;
	struct store *s;
	int fd;

	CHECK(w && r, "malloc");
	s = open_mapped(NR_BLKS, &fd);
	rng_fill(&rng, w, 200 * BLK);
	/* Slots 0-99: regions 0 and 1 (64 slots each) reserved. */
	CHECK_OK(fill(s, w, 0, 100, &calls));
	CHECK(calls == 1, "the filler was called %u times for one range",
	      calls);
	CHECK(pread(fd, r, 100 * BLK, 0) == 100 * BLK, "pread");
	CHECK(!memcmp(w, r, 100 * BLK),
	      "what the filler wrote is not in the file");
	memset(r, 0, 100 * BLK);
	CHECK_OK(store_read(s, r, 0, 100));
	CHECK(!memcmp(w, r, 100 * BLK), "store_read after write_fill");
	memset(r, 0, 100 * BLK);
	CHECK_OK(show(s, r, 0, 100));
	CHECK(!memcmp(w, r, 100 * BLK), "read_in_place after write_fill");

	/* pwrite into a reserved region shows; an unreserved one does not. */
	CHECK_OK(store_write(s, w + 100 * BLK, 100, 28));
	CHECK_OK(show(s, r, 100, 28));
	CHECK(!memcmp(w + 100 * BLK, r, 28 * BLK), "read_in_place of a write");
	CHECK_OK(store_write(s, w + 100 * BLK, 128, 8));
	CHECK_ERR(show(s, r, 120, 16), -EAGAIN);
	CHECK_ERR(show(s, r, 900, 1), -EAGAIN);

	/* A discard punches and un-reserves; a write reserves again. */
	CHECK_OK(store_discard(s, 0, 64));
	CHECK_OK(store_read(s, r, 0, 64));
	CHECK(all_zero(r, 64 * BLK), "a discarded range does not read zeros");
	CHECK_ERR(show(s, r, 0, 64), -EAGAIN);
	CHECK_OK(show(s, r, 64, 36)); /* its neighbour region is untouched */
	CHECK(!memcmp(w + 64 * BLK, r, 36 * BLK), "the next region changed");
	CHECK_OK(fill(s, w + 10 * BLK, 0, 64, NULL));
	CHECK_OK(show(s, r, 0, 64));
	CHECK(!memcmp(w + 10 * BLK, r, 64 * BLK), "a rewrite after discard");
	CHECK_OK(store_flush(s));
	store_destroy(s);
	close(fd);
	free(w);
	free(r);
	printf("  write_fill into the file, read_in_place where reserved, "
	       "discard un-reserves: ok\n");
}

/* The private tmpfs holds TMPFS_BLKS pages; the store is twice that. */
static void test_full(void)
{
	unsigned char *w = malloc(TMPFS_BLKS * BLK), *r = malloc(64 * BLK);
	unsigned int calls = 0;
	struct store *s;
	int fd;

	if (!small) {
		printf("  a full tmpfs: not tried (needs root for a tmpfs of "
		       "its own)\n");
		return;
	}
	CHECK(w && r, "malloc");
	s = open_mapped(NR_BLKS, &fd);
	rng_fill(&rng, w, TMPFS_BLKS * BLK);
	/* Seven regions fit; two more do not. */
	CHECK_OK(fill(s, w, 0, 448, NULL));
	CHECK_ERR(fill(s, w, 448, 128, &calls), -ENOSPC);
	CHECK(calls == 0, "the filler ran for a range that was not reserved");
	CHECK_ERR(fill(s, w, 600, 64, &calls), -ENOSPC);
	CHECK_OK(store_read(s, r, 384, 64));
	CHECK(!memcmp(w + 384 * BLK, r, 64 * BLK),
	      "what fitted is not intact after ENOSPC");
	/* Space given back is space again: the disk is full, not dead. */
	CHECK_OK(store_discard(s, 0, 192));
	CHECK_OK(fill(s, w, 448, 128, NULL));
	CHECK_OK(show(s, r, 448, 64));
	CHECK(!memcmp(w, r, 64 * BLK), "a write after space came back");
	store_destroy(s);
	close(fd);
	free(w);
	free(r);
	printf("  a full tmpfs: -ENOSPC before the filler runs, and space "
	       "given back is used: ok\n");
}

/* The scratch cut short under the mapping: SIGBUS, survived as -EIO. */
static void test_lost_page(void)
{
	unsigned char *w = malloc(64 * BLK), *r = malloc(64 * BLK);
	uint64_t faults = store_map_faults();
	struct store *s;
	int fd;

	CHECK(w && r, "malloc");
	s = open_mapped(256, &fd);
	rng_fill(&rng, w, 64 * BLK);
	CHECK_OK(fill(s, w, 0, 64, NULL));
	CHECK(ftruncate(fd, 0) == 0, "ftruncate");
	CHECK_ERR(fill(s, w, 0, 64, NULL), -EIO);
	CHECK(store_map_faults() > faults, "no SIGBUS was taken");
	CHECK_ERR(store_read(s, r, 0, 64), -EIO);
	CHECK_ERR(show(s, r, 0, 64), -EIO);
	CHECK_ERR(fill(s, w, 128, 1, NULL), -EIO);
	CHECK_ERR(store_flush(s), -EIO);
	store_destroy(s);
	close(fd);
	free(w);
	free(r);
	printf("  a page lost under the mapping: -EIO from then on, and "
	       "alive: ok\n");
}

static bool has_mark(int fd, size_t len)
{
	unsigned char *p = malloc(len);
	bool found;

	CHECK(p, "malloc");
	CHECK(pread(fd, p, len, 0) == (ssize_t)len, "pread");
	found = memmem(p, len, MARK, sizeof(MARK) - 1) != NULL;
	free(p);
	return found;
}

/* An xts store on top: 1 MiB calls, shared with a cipher helper. */
static void test_xts(void)
{
	const uint32_t nr = 256;
	unsigned char *w = malloc(nr * BLK), *r = malloc(nr * BLK);
	uint64_t faults;
	struct store *file, *x;
	struct key *key;
	uint32_t i;
	int fd;

	CHECK(w && r, "malloc");
	xts_set_helpers(1);
	file = open_mapped(nr, &fd);
	CHECK_OK(key_new_random(&key));
	CHECK_OK(store_xts_new(file, key, &x));
	rng_fill(&rng, w, nr * BLK);
	for (i = 0; i < nr; i++)
		memcpy(w + i * BLK + 100, MARK, sizeof(MARK) - 1);
	memset(w + 7 * BLK, 0, BLK); /* a block of zeros, written */
	CHECK_OK(store_write(x, w, 0, nr));
	CHECK(!has_mark(fd, (size_t)nr * BLK),
	      "plaintext in the scratch file under an xts store");
	memset(r, 0xa5, nr * BLK);
	CHECK_OK(store_read(x, r, 0, nr));
	CHECK(!memcmp(w, r, (size_t)nr * BLK), "xts over a mapped scratch");
	CHECK_OK(store_discard(x, 32, 32));
	memset(r, 0xa5, nr * BLK);
	CHECK_OK(store_read(x, r, 0, 64));
	CHECK(all_zero(r + 32 * BLK, 32 * BLK), "a discard under xts");
	CHECK(!memcmp(w, r, 32 * BLK), "the blocks before the discard");

	faults = store_map_faults();
	CHECK(ftruncate(fd, 0) == 0, "ftruncate");
	CHECK_ERR(store_write(x, w, 0, nr), -EIO);
	CHECK(store_map_faults() > faults, "no SIGBUS was taken");
	CHECK_ERR(store_read(x, r, 0, nr), -EIO);
	store_destroy(x);
	close(fd);
	free(w);
	free(r);
	printf("  xts over it: ciphertext only, reads back, a lost page is "
	       "-EIO with a helper: ok\n");
}

/* A SIGBUS that is not on a store's mapping kills, as before. */
static void test_foreign_sigbus(void)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		int fd, sfd;
		struct store *s = open_mapped(64, &sfd);
		volatile unsigned char *p;

		setrlimit(RLIMIT_CORE, &no_core);
		fd = open(dir, O_TMPFILE | O_RDWR, 0600);
		if (fd < 0 || ftruncate(fd, BLK) < 0)
			_exit(2);
		p = mmap(NULL, BLK, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED || ftruncate(fd, 0) < 0)
			_exit(2);
		p[0] = 1; /* SIGBUS */
		store_destroy(s);
		_exit(0); /* survived: wrong */
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(!WIFEXITED(status) || WEXITSTATUS(status) != 2,
	      "the child could not set up its mapping");
	/* Killed by it; or, under a sanitizer (whose handler was there
	 * first and is called), a report and a failed exit. */
	CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) ||
		      (WIFEXITED(status) && WEXITSTATUS(status) != 0),
	      "a foreign SIGBUS did not kill the process (status %#x)",
	      status);
	printf("  a SIGBUS elsewhere still kills: ok\n");
}

int main(void)
{
	rng.s = test_seed("test-store-map");
	setup();
	printf("  on %s%s\n", dir, small ? " (a private tmpfs of 2 MiB)" : "");
	test_roundtrip();
	test_full();
	test_lost_page();
	test_xts();
	test_foreign_sigbus();
	teardown();
	printf("test-store-map: OK\n");
	return 0;
}
