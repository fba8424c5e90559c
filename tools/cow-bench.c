/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cow-bench: throughput of the overlay engine on one core, printed next to
 * baselines measured in the same run, so the numbers mean something on a
 * noisy machine:
 *   - OpenSSL AES-256-XTS on 4 KiB data units (EVP, one context, new tweak
 *     per unit: the work the xts store cannot avoid);
 *   - memcpy of 1 MiB, and of 4 KiB to random places of a buffer as large as
 *     the overlay (the work a RAM overlay cannot avoid).
 * Then sequential 1 MiB and random 4 KiB reads and writes through views on
 * ram, on xts over a scratch file as the daemon opens it (page cache,
 * io_uring where it can), on xts over the same with O_DIRECT, and on plain
 * scratch files both ways (no cipher: how fast the scratch itself is), and
 * the ratios against the baselines. The xts store cannot go faster than
 * the cipher nor than its scratch: the lower of the two is printed too.
 *
 * This is a measuring tool, not a test: it never fails on a slow machine.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cow/cow.h"
#include "crypto/key.h"
#include "crypto/xts.h"

#define MIB (1024.0 * 1024.0)

struct opts {
	uint64_t size_bytes; /* virtual disk and overlay size */
	double seconds;      /* per measurement */
	const char *scratch; /* directory for the xts scratch file */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "cow-bench: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	exit(1);
}

/* CPU time of this process: its thread's (syscalls included), and the
 * cipher helpers' and io_uring workers' when there are any. */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Operations per CPU-second of the last TIMED(): what a figure costs the
 * process whatever else the machine runs (wall time is what a guest waits:
 * it includes the device, and the other processes' turns). */
static double last_cpu_ops;

/* Run body until `seconds` pass; *ops_r: operations per second. */
#define TIMED(seconds, ops_r, body)                                            \
	do {                                                                   \
		double t0_ = now(), t_ = t0_, c0_ = cpu_now();                 \
		uint64_t n_ = 0;                                               \
		while (t_ - t0_ < (seconds)) {                                 \
			for (int k_ = 0; k_ < 64; k_++, n_++) {                \
				body;                                          \
			}                                                      \
			t_ = now();                                            \
		}                                                              \
		*(ops_r) = (double)n_ / (t_ - t0_);                            \
		last_cpu_ops = (double)n_ / (cpu_now() - c0_);                 \
	} while (0)

static double openssl_cpu_mibs[2]; /* per CPU-second: [0] decrypt, [1] encrypt */

/* OpenSSL AES-256-XTS on 4 KiB units, one thread: enc 1 encrypts, 0
 * decrypts (the bound of reads: without AES-NI decryption is slower). */
static double bench_openssl_xts(double seconds, int enc)
{
	unsigned char key[64], iv[16] = { 0 }, buf[4096];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint64_t unit = 0;
	double ops;
	int outl;

	for (int i = 0; i < 64; i++)
		key[i] = (unsigned char)(i * 7 + 1);
	memset(buf, 0x5a, sizeof(buf));
	if (!ctx ||
	    EVP_CipherInit_ex(ctx, EVP_aes_256_xts(), NULL, key, iv, enc) != 1)
		die("EVP_aes_256_xts", EIO);
	TIMED(seconds, &ops, {
		unit++;
		memcpy(iv, &unit, sizeof(unit));
		EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc);
		EVP_CipherUpdate(ctx, buf, &outl, buf, sizeof(buf));
	});
	EVP_CIPHER_CTX_free(ctx);
	openssl_cpu_mibs[enc] = last_cpu_ops * 4096.0 / MIB;
	return ops * 4096.0 / MIB;
}

static double bench_memcpy_1m(double seconds)
{
	unsigned char *a = malloc(1 << 20), *b = malloc(1 << 20);
	unsigned int flip = 0;
	double ops;

	if (!a || !b)
		die("malloc", ENOMEM);
	memset(a, 1, 1 << 20);
	memset(b, 2, 1 << 20);
	TIMED(seconds, &ops, {
		flip ^= 1;
		memcpy(flip ? a : b, flip ? b : a, 1 << 20);
		__asm__ volatile("" : : "r"(a), "r"(b) : "memory");
	});
	free(a);
	free(b);
	return ops; /* MiB/s: one MiB per op */
}

/* 1 MiB copies walking through an overlay-sized buffer: what a sequential
 * writer of a large overlay really competes with (memory, not cache). */
static double bench_memcpy_1m_spread(uint64_t size_bytes, double seconds)
{
	uint64_t nr = size_bytes >> 20, pos = 0;
	unsigned char *big = malloc(size_bytes), *src = malloc(1 << 20);
	double ops;

	if (!big || !src)
		die("malloc", ENOMEM);
	memset(big, 5, size_bytes);
	memset(src, 6, 1 << 20);
	TIMED(seconds, &ops, {
		memcpy(big + (pos++ % nr) * (1 << 20), src, 1 << 20);
		__asm__ volatile("" : : "r"(big) : "memory");
	});
	free(big);
	free(src);
	return ops;
}

static double bench_memcpy_4k_random(uint64_t size_bytes, double seconds)
{
	uint64_t nr = size_bytes / 4096, s = 88172645463325252ull;
	unsigned char *big = malloc(size_bytes), src[4096];
	double ops;

	if (!big)
		die("malloc", ENOMEM);
	memset(big, 3, size_bytes); /* fault it in, like a full overlay */
	memset(src, 4, sizeof(src));
	TIMED(seconds, &ops, {
		memcpy(big + (xorshift(&s) % nr) * 4096, src, 4096);
		__asm__ volatile("" : : "r"(big) : "memory");
	});
	free(big);
	return ops;
}

enum overlay {
	OV_RAM,
	OV_XTS_FILE,   /* as the daemon makes it: page cache, io_uring */
	OV_XTS_DIRECT, /* the same with O_DIRECT */
	OV_FILE,       /* no cipher: how fast the scratch itself is */
	OV_FILE_DIRECT,
	OV_XTS_PAR,    /* xts-over-file, its cipher calls shared with helpers */
	OV_NR
};

static const char *const ov_name[OV_NR] = { "ram", "xts-over-file",
					    "xts-direct", "plain file",
					    "plain direct", "xts+helpers" };
static unsigned int helpers; /* what xts_helpers() said at start */
static const char *ov_mode[OV_NR];

static struct cow *make_view(const struct opts *o, enum overlay ov)
{
	struct cow_params p = { .kind = COW_KIND_BLANK,
				.size_sectors = o->size_bytes / 512 };
	uint64_t nr_blks = o->size_bytes / 4096;
	struct store *lower;
	struct key *key;
	struct cow *cow;
	int rc;

	if (ov == OV_RAM) {
		rc = store_ram_new(nr_blks, &p.overlay);
		if (rc)
			die("store_ram_new", rc);
	} else {
		xts_set_helpers(ov == OV_XTS_PAR ? helpers : 0);
		rc = store_file_new_flags(o->scratch, nr_blks,
					  ov == OV_XTS_DIRECT ||
							  ov == OV_FILE_DIRECT ?
						  STORE_FILE_DIRECT :
						  0,
					  &lower);
		if (rc)
			die("store_file_new", rc);
		ov_mode[ov] = store_io_mode(lower);
		if (ov == OV_FILE || ov == OV_FILE_DIRECT) {
			p.overlay = lower;
		} else {
			rc = key_new_random(&key);
			if (rc)
				die("key_new_random", rc);
			rc = store_xts_new(lower, key, &p.overlay);
			if (rc)
				die("store_xts_new", rc);
		}
	}
	rc = cow_new(&p, &cow);
	if (rc)
		die("cow_new", rc);
	return cow;
}

struct result {
	double seq_wr_mibs, seq_rd_mibs;
	double seq_wr_cpu_mibs, seq_rd_cpu_mibs; /* per CPU-second */
	double rnd_wr_new_iops, rnd_wr_iops, rnd_rd_iops;
};

static void bench_view(const struct opts *o, enum overlay ov, struct result *r)
{
	uint64_t nr_mib = o->size_bytes >> 20, nr_blk = o->size_bytes / 4096;
	uint64_t s = 0x2545f4914f6cdd1dull, pos = 0;
	unsigned char *buf = aligned_alloc(4096, 1 << 20);
	struct cow *cow;
	double ops;
	int rc = 0;

	if (!buf)
		die("malloc", ENOMEM);
	memset(buf, 0x3c, 1 << 20);

	/* Random 4 KiB writes into a fresh overlay: each allocates a block. */
	cow = make_view(o, ov);
	TIMED(o->seconds, &ops, {
		rc |= cow_write(cow, buf, (xorshift(&s) % nr_blk) * 8, 8);
	});
	r->rnd_wr_new_iops = ops;
	cow_free(cow);

	/* Sequential 1 MiB writes over the whole disk, wrapping around. */
	cow = make_view(o, ov);
	TIMED(o->seconds, &ops, {
		rc |= cow_write(cow, buf, (pos++ % nr_mib) * 2048, 2048);
	});
	r->seq_wr_mibs = ops;
	r->seq_wr_cpu_mibs = last_cpu_ops;
	/* Make sure every block is in the overlay before the rest. */
	for (uint64_t m = 0; m < nr_mib; m++)
		rc |= cow_write(cow, buf, m * 2048, 2048);
	pos = 0;
	TIMED(o->seconds, &ops, {
		rc |= cow_read(cow, buf, (pos++ % nr_mib) * 2048, 2048);
	});
	r->seq_rd_mibs = ops;
	r->seq_rd_cpu_mibs = last_cpu_ops;
	TIMED(o->seconds, &ops, {
		rc |= cow_write(cow, buf, (xorshift(&s) % nr_blk) * 8, 8);
	});
	r->rnd_wr_iops = ops;
	TIMED(o->seconds, &ops, {
		rc |= cow_read(cow, buf, (xorshift(&s) % nr_blk) * 8, 8);
	});
	r->rnd_rd_iops = ops;
	cow_free(cow);
	free(buf);
	if (rc)
		die("I/O through the view failed", EIO);
}

static void usage(void)
{
	fprintf(stderr, "usage: cow-bench [--size MiB] [--seconds S] "
			"[--scratch DIR]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "scratch", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .size_bytes = 256ull << 20, .seconds = 1.0,
			  .scratch = "/var/tmp" };
	struct result r[OV_NR];
	double xts_mibs, xts_dec_mibs, cp1m, cp1m_spread, cp4k, bound_wr, bound_rd;
	unsigned int k;
	int c;

	while ((c = getopt_long(argc, argv, "s:t:d:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.size_bytes = strtoull(optarg, NULL, 10) << 20;
			break;
		case 't':
			o.seconds = strtod(optarg, NULL);
			break;
		case 'd':
			o.scratch = optarg;
			break;
		default:
			usage();
		}
	}
	if (o.size_bytes < (16ull << 20) || o.seconds <= 0)
		usage();

	helpers = xts_helpers();
	printf("cow-bench: one thread (xts+helpers: xts-over-file with %u "
	       "cipher helper thread(s)), overlay %llu MiB, %.1f s per figure\n",
	       helpers, (unsigned long long)(o.size_bytes >> 20), o.seconds);
	xts_mibs = bench_openssl_xts(o.seconds, 1);
	xts_dec_mibs = bench_openssl_xts(o.seconds, 0);
	cp1m = bench_memcpy_1m(o.seconds);
	cp1m_spread = bench_memcpy_1m_spread(o.size_bytes, o.seconds);
	cp4k = bench_memcpy_4k_random(o.size_bytes, o.seconds);
	printf("\nbaselines (same run)\n");
	printf("  openssl aes-256-xts 4 KiB units  %10.0f MiB/s\n", xts_mibs);
	printf("    the same, decrypting           %10.0f MiB/s\n", xts_dec_mibs);
	printf("  memcpy 1 MiB (hot in cache)      %10.0f MiB/s\n", cp1m);
	printf("  memcpy 1 MiB over overlay size   %10.0f MiB/s\n", cp1m_spread);
	printf("  memcpy 4 KiB to random places    %10.0f ops/s\n", cp4k);

	for (k = 0; k < OV_NR; k++)
		bench_view(&o, k, &r[k]);

	printf("\nscratch in %s: xts-over-file and plain file: %s; "
	       "*-direct: %s\n",
	       o.scratch, ov_mode[OV_XTS_FILE], ov_mode[OV_XTS_DIRECT]);
	printf("\n%-30s", "through the view");
	for (k = 0; k < OV_NR; k++)
		printf(" %13s", ov_name[k]);
#define ROW(label, field)                                                      \
	do {                                                                   \
		printf("\n  %-28s", label);                                    \
		for (k = 0; k < OV_NR; k++)                                    \
			printf(" %13.0f", r[k].field);                         \
	} while (0)
	ROW("seq 1 MiB write (MiB/s)", seq_wr_mibs);
	ROW("seq 1 MiB read (MiB/s)", seq_rd_mibs);
	ROW("rand 4 KiB write, new (IOPS)", rnd_wr_new_iops);
	ROW("rand 4 KiB overwrite (IOPS)", rnd_wr_iops);
	ROW("rand 4 KiB read (IOPS)", rnd_rd_iops);
#undef ROW
	printf("\n");

	/* The xts store cannot beat the cipher, nor the scratch under it. */
	printf("\nratios (target)\n");
	printf("  xts-over-file seq write / openssl xts   %5.2fx  (>= 0.80x)\n",
	       r[OV_XTS_FILE].seq_wr_mibs / xts_mibs);
	printf("  xts-over-file seq read / openssl xts    %5.2fx  (>= 0.80x; decrypting)\n",
	       r[OV_XTS_FILE].seq_rd_mibs / xts_dec_mibs);
	printf("  the same per CPU-second: write %.2fx, read %.2fx\n",
	       r[OV_XTS_FILE].seq_wr_cpu_mibs / openssl_cpu_mibs[1],
	       r[OV_XTS_FILE].seq_rd_cpu_mibs / openssl_cpu_mibs[0]);
	printf("  xts+helpers seq write / openssl xts     %5.2fx  (>= 0.80x; %u helper(s), OpenSSL on one core)\n",
	       r[OV_XTS_PAR].seq_wr_mibs / xts_mibs, helpers);
	printf("  xts+helpers seq read / openssl xts      %5.2fx  (>= 0.80x; decrypting)\n",
	       r[OV_XTS_PAR].seq_rd_mibs / xts_dec_mibs);
	printf("  the same per CPU-second: write %.2fx, read %.2fx\n",
	       r[OV_XTS_PAR].seq_wr_cpu_mibs / openssl_cpu_mibs[1],
	       r[OV_XTS_PAR].seq_rd_cpu_mibs / openssl_cpu_mibs[0]);
	for (k = OV_XTS_FILE; k <= OV_XTS_DIRECT; k++) {
		const struct result *plain = &r[k == OV_XTS_FILE ? OV_FILE :
								   OV_FILE_DIRECT];

		bound_wr = min_d(plain->seq_wr_mibs, xts_mibs);
		bound_rd = min_d(plain->seq_rd_mibs, xts_dec_mibs);
		printf("  %s seq write / min(openssl, %s) %5.2fx\n",
		       ov_name[k], ov_name[k + 2], r[k].seq_wr_mibs / bound_wr);
		printf("  %s seq read / min(openssl, %s)  %5.2fx\n",
		       ov_name[k], ov_name[k + 2], r[k].seq_rd_mibs / bound_rd);
	}
	printf("  ram rand 4 KiB write, new / memcpy 4 KiB   %5.2fx  (>= 0.50x)\n",
	       r[OV_RAM].rnd_wr_new_iops / cp4k);
	printf("  ram rand 4 KiB overwrite / memcpy 4 KiB    %5.2fx  (>= 0.50x)\n",
	       r[OV_RAM].rnd_wr_iops / cp4k);
	printf("  ram seq 1 MiB write / memcpy 1 MiB hot     %5.2fx\n",
	       r[OV_RAM].seq_wr_mibs / cp1m);
	printf("  ram seq 1 MiB read / memcpy 1 MiB hot      %5.2fx\n",
	       r[OV_RAM].seq_rd_mibs / cp1m);
	printf("  ram seq 1 MiB write / memcpy 1 MiB spread  %5.2fx\n",
	       r[OV_RAM].seq_wr_mibs / cp1m_spread);
	printf("  ram seq 1 MiB read / memcpy 1 MiB spread   %5.2fx\n",
	       r[OV_RAM].seq_rd_mibs / cp1m_spread);
	return 0;
}
