/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The forensic promise in small: data written through an xts store leaves
 * no trace of its plaintext in the scratch file. 1 MiB of blocks full of a
 * distinctive 64-byte marker (plus random filler) goes through xts over a
 * named scratch file; after a flush the whole file is scanned for the
 * marker and for each of its 16-byte aligned pieces (the AES block size, so
 * an ECB-like leak of single blocks would show). Every count must be zero.
 *
 * Positive control: the same data through a plain file store must be
 * found, or the scanner proves nothing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cow/store.h"
#include "tests/check.h"

#define BLK STORE_BLK_BYTES
#define MARKER_BYTES 64
#define MARKERS_PER_BLK 48 /* 3 KiB of marker, 1 KiB of random per block */
#define DATA_BLKS 256 /* 1 MiB */
#define SCRATCH_BLKS 1024

static const unsigned char marker[MARKER_BYTES] =
	"XE-EPHEMERAL-SCAN-MARKER/guest-plaintext/0123456789abcdefghij!?";

struct hits {
	uint64_t marker;
	uint64_t piece[MARKER_BYTES / 16];
};

static uint64_t count(const unsigned char *hay, size_t len,
		      const unsigned char *needle, size_t nlen)
{
	const unsigned char *p = hay, *end = hay + len;
	uint64_t n = 0;

	while ((size_t)(end - p) >= nlen &&
	       (p = memmem(p, (size_t)(end - p), needle, nlen))) {
		n++;
		p++;
	}
	return n;
}

/* Scan the whole file at path (as an attacker with the disk would). */
static struct hits scan_file(const char *path)
{
	struct hits h = { 0 };
	unsigned char *data;
	struct stat st;
	size_t done = 0;
	unsigned int i;
	int fd = open(path, O_RDONLY);

	CHECK(fd >= 0 && fstat(fd, &st) == 0, "open %s", path);
	data = malloc((size_t)st.st_size);
	CHECK(data, "malloc");
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, data + done, (size_t)st.st_size - done);

		CHECK(n > 0, "read %s", path);
		done += (size_t)n;
	}
	close(fd);
	h.marker = count(data, done, marker, MARKER_BYTES);
	for (i = 0; i < MARKER_BYTES / 16; i++)
		h.piece[i] = count(data, done, marker + 16 * i, 16);
	free(data);
	return h;
}

static void print_hits(const char *what, const struct hits *h)
{
	printf("%-28s marker %llu, 16-byte pieces %llu %llu %llu %llu\n", what,
	       (unsigned long long)h->marker, (unsigned long long)h->piece[0],
	       (unsigned long long)h->piece[1], (unsigned long long)h->piece[2],
	       (unsigned long long)h->piece[3]);
}

/* Write the data to store s at scattered slots, flush. */
static void write_data(struct store *s, const unsigned char *data)
{
	uint64_t b;

	/* Half as one bulk write, half one block at a time elsewhere. */
	CHECK_OK(store_write(s, data, 0, DATA_BLKS / 2));
	for (b = DATA_BLKS / 2; b < DATA_BLKS; b++)
		CHECK_OK(store_write(s, data + b * BLK, 3 * b + 1, 1));
	CHECK_OK(store_flush(s));
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	unsigned char *data = malloc((size_t)DATA_BLKS * BLK);
	unsigned char *back = malloc(BLK);
	char dir[256], plain_path[300], xts_path[300];
	struct store *lower, *s;
	struct hits plain, enc, after;
	struct key *key;
	uint64_t b, seed = (uint64_t)time(NULL);
	unsigned int i, k, mode;

	CHECK(data && back, "malloc");
	snprintf(dir, sizeof(dir), "%s/test-store-xts-leak.XXXXXX", t && *t ? t : "/tmp");
	CHECK(mkdtemp(dir), "mkdtemp");
	snprintf(plain_path, sizeof(plain_path), "%s/plain.img", dir);
	snprintf(xts_path, sizeof(xts_path), "%s/xts.img", dir);

	srand((unsigned int)seed);
	for (b = 0; b < DATA_BLKS; b++) {
		unsigned char *blk = data + b * BLK;

		for (k = 0; k < MARKERS_PER_BLK; k++)
			memcpy(blk + k * MARKER_BYTES, marker, MARKER_BYTES);
		for (i = MARKERS_PER_BLK * MARKER_BYTES; i < BLK; i++)
			blk[i] = (unsigned char)rand();
	}

	/* Positive control: a plain file store shows the marker. */
	CHECK_OK(store_file_new(plain_path, SCRATCH_BLKS, &s));
	write_data(s, data);
	plain = scan_file(plain_path);
	store_destroy(s);
	print_hits("plain file store:", &plain);
	CHECK(plain.marker == (uint64_t)DATA_BLKS * MARKERS_PER_BLK,
	      "scanner found %llu markers in plaintext, expected %u",
	      (unsigned long long)plain.marker, DATA_BLKS * MARKERS_PER_BLK);
	for (i = 0; i < MARKER_BYTES / 16; i++)
		CHECK(plain.piece[i] >= plain.marker,
		      "scanner misses piece %u in plaintext", i);

	/* The real thing: xts over a named scratch file, as the daemon opens
	 * it (the page cache, io_uring where it can) and O_DIRECT. */
	for (mode = 0; mode < 2; mode++) {
		CHECK_OK(store_file_new_flags(xts_path, SCRATCH_BLKS,
					      mode ? STORE_FILE_DIRECT : 0,
					      &lower));
		printf("scratch I/O: %s\n", store_io_mode(lower));
		CHECK_OK(key_new_random(&key));
		CHECK_OK(store_xts_new(lower, key, &s));
		write_data(s, data);
		enc = scan_file(xts_path);
		print_hits("xts store, open:", &enc);
		CHECK(enc.marker == 0, "marker found in the encrypted scratch");
		for (i = 0; i < MARKER_BYTES / 16; i++)
			CHECK(enc.piece[i] == 0,
			      "16-byte piece %u of the marker in the encrypted "
			      "scratch",
			      i);
		/* It still reads back, so the scan looked at real data. */
		CHECK_OK(store_read(s, back, 3 * (DATA_BLKS - 1) + 1, 1));
		CHECK(!memcmp(back, data + (DATA_BLKS - 1) * BLK, BLK),
		      "xts store reads back wrong");
		store_destroy(s);
		after = scan_file(xts_path);
		print_hits("xts store, after destroy:", &after);
		CHECK(after.marker == 0, "marker in the scratch after destroy");
		for (i = 0; i < MARKER_BYTES / 16; i++)
			CHECK(after.piece[i] == 0,
			      "piece %u of the marker in the scratch after "
			      "destroy",
			      i);
		unlink(xts_path);
	}

	unlink(plain_path);
	CHECK(rmdir(dir) == 0, "rmdir %s", dir);
	free(data);
	free(back);
	return 0;
}
