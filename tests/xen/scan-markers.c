// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * scan-markers: count the markers a guest wrote in files and block devices.
 *
 *   scan-markers MARKER... -- FILE...
 *
 * For every FILE and every MARKER it prints one line
 *
 *   SCAN file=F marker=M hits=N pieces=P0,P1,... bytes=B
 *
 * hits is the number of occurrences of the whole marker; Pk is the number of
 * occurrences of the k-th 16-byte piece of the marker (pieces start at
 * offsets 0, 16, 32, ...; when the length is not a multiple of 16 the last
 * piece is the marker's last 16 bytes). A claim of "0 hits" holds only when
 * every piece count is 0 too: a marker cut by a block boundary, or partly
 * overwritten, still shows up as pieces.
 *
 * One pass over the data for all markers: every occurrence of a 16-byte
 * piece covers one whole 8-byte word at an offset that is a multiple of 8
 * from the start of the buffer, so the scan looks up each such word in a
 * hash table of all (piece, shift) words and compares only on a match.
 * Holes of sparse files (SEEK_DATA/SEEK_HOLE) are skipped: they read as
 * zeros and hold no marker. Built static on the host and run both on the
 * host and in the lab's busybox dom0.
 *
 * Exit status: 0 when everything was read, 2 on usage or I/O errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIECE 16
#define MAXLEN 256
#define MAXMARK 64
#define MAXPIECES (MAXLEN / PIECE + 1)
#define OVL MAXLEN
#define CHUNK (8u << 20)
#define TBITS 16
#define TSIZE (1u << TBITS)

struct marker {
	const char *s;
	size_t len;
	int npieces;
	size_t poff[MAXPIECES];
	unsigned long long hits;
	unsigned long long phits[MAXPIECES];
};

struct entry { /* one (piece, shift) word */
	int mk, pc, shift, next;
};

static struct marker mk[MAXMARK];
static int nmk;
static struct entry ent[MAXMARK * MAXPIECES * 8];
static int nent;
static struct {
	uint64_t key;
	int head; /* index into ent + 1; 0 = empty slot */
} table[TSIZE];

static uint64_t load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static unsigned slot_of(uint64_t k)
{
	return (unsigned)((k * 0x9E3779B97F4A7C15ull) >> (64 - TBITS));
}

static void add_word(uint64_t key, int m, int pc, int shift)
{
	unsigned s = slot_of(key);
	while (table[s].head && table[s].key != key)
		s = (s + 1) & (TSIZE - 1);
	table[s].key = key;
	ent[nent] = (struct entry){ m, pc, shift, table[s].head - 1 };
	table[s].head = ++nent;
}

static int lookup(uint64_t key)
{
	unsigned s = slot_of(key);
	while (table[s].head) {
		if (table[s].key == key)
			return table[s].head - 1;
		s = (s + 1) & (TSIZE - 1);
	}
	return -1;
}

/* buf[0..n) is data; the first `kept` bytes were already seen in the
 * previous buffer of the same range: count only what ends past them. */
static void scan_buf(const unsigned char *buf, size_t n, size_t kept)
{
	for (size_t a = 0; a + 8 <= n; a += 8) {
		int e = lookup(load64(buf + a));
		for (; e >= 0; e = ent[e].next) {
			struct marker *m = &mk[ent[e].mk];
			size_t po = m->poff[ent[e].pc];
			if ((size_t)ent[e].shift > a)
				continue;
			size_t o = a - ent[e].shift; /* start of the piece */
			if (o + PIECE <= n && o + PIECE > kept &&
			    memcmp(buf + o, m->s + po, PIECE) == 0)
				m->phits[ent[e].pc]++;
			if (ent[e].pc == 0 && o + m->len <= n && o + m->len > kept &&
			    memcmp(buf + o, m->s, m->len) == 0)
				m->hits++;
		}
	}
}

static unsigned char *buf;

/* scan [start, end) of fd (end < 0: until EOF); returns bytes read or -1 */
static long long scan_range(int fd, off_t start, off_t end)
{
	size_t kept = 0;
	off_t pos = start;
	long long total = 0;
	for (;;) {
		size_t want = CHUNK;
		if (end >= 0 && (off_t)want > end - pos)
			want = (size_t)(end - pos);
		if (want == 0)
			break;
		ssize_t r = pread(fd, buf + kept, want, pos);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		size_t n = kept + (size_t)r;
		scan_buf(buf, n, kept);
		pos += r;
		total += r;
		kept = n < OVL ? n : OVL;
		memmove(buf, buf + n - kept, kept);
	}
	return total;
}

static int scan_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	long long total = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		printf("SCAN-ERROR file=%s error=%s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (int i = 0; i < nmk; i++) {
		mk[i].hits = 0;
		memset(mk[i].phits, 0, sizeof(mk[i].phits));
	}
	if (S_ISREG(st.st_mode)) {
		off_t pos = 0;
		for (;;) {
			off_t d = lseek(fd, pos, SEEK_DATA);
			if (d < 0)
				break; /* ENXIO: no more data */
			off_t h = lseek(fd, d, SEEK_HOLE);
			if (h < 0)
				h = st.st_size;
			long long r = scan_range(fd, d, h);
			if (r < 0)
				goto ioerr;
			total += r;
			pos = h;
			if (pos >= st.st_size)
				break;
		}
	} else if (S_ISBLK(st.st_mode)) {
		total = scan_range(fd, 0, -1);
		if (total < 0)
			goto ioerr;
	} else {
		printf("SCAN-ERROR file=%s error=not a regular file or block device\n", path);
		close(fd);
		return -1;
	}
	close(fd);
	for (int i = 0; i < nmk; i++) {
		printf("SCAN file=%s marker=%s hits=%llu pieces=", path, mk[i].s, mk[i].hits);
		for (int k = 0; k < mk[i].npieces; k++)
			printf("%s%llu", k ? "," : "", mk[i].phits[k]);
		printf(" bytes=%lld\n", total);
	}
	return 0;
ioerr:
	printf("SCAN-ERROR file=%s error=%s\n", path, strerror(errno));
	close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	int i = 1, rc = 0;
	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		size_t len = strlen(argv[i]);
		if (len < PIECE || len > MAXLEN || nmk == MAXMARK) {
			fprintf(stderr, "scan-markers: marker '%s': length must be %d..%d, at most %d markers\n",
				argv[i], PIECE, MAXLEN, MAXMARK);
			return 2;
		}
		struct marker *m = &mk[nmk];
		m->s = argv[i];
		m->len = len;
		for (size_t o = 0; o + PIECE <= len; o += PIECE)
			m->poff[m->npieces++] = o;
		if (len % PIECE)
			m->poff[m->npieces++] = len - PIECE;
		for (int k = 0; k < m->npieces; k++)
			for (int s = 0; s < 8; s++)
				add_word(load64((const unsigned char *)m->s + m->poff[k] + s), nmk, k, s);
		nmk++;
	}
	if (nmk == 0 || i >= argc) {
		fprintf(stderr, "usage: scan-markers MARKER... -- FILE...\n");
		return 2;
	}
	buf = malloc(CHUNK + OVL);
	if (!buf) {
		perror("scan-markers: malloc");
		return 2;
	}
	for (i++; i < argc; i++)
		if (scan_file(argv[i]) < 0)
			rc = 2;
	fflush(stdout);
	return rc;
}
