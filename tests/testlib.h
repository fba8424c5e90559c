/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the tests: a seeded PRNG that every test prints, temp
 * files that clean themselves up, and stores built by name.
 */
#ifndef XE_TESTS_TESTLIB_H
#define XE_TESTS_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cow/store.h"

/* splitmix64: small, fast, and the same sequence on every machine. */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

void rng_fill(struct rng *r, void *buf, size_t len);

/* Big-endian fields, for building and reading wire messages (NBD) by hand. */
static inline void be_put(uint8_t *p, uint64_t v, unsigned int bytes)
{
	unsigned int i;

	for (i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static inline uint64_t be_get(const uint8_t *p, unsigned int bytes)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * The seed for this run: $XE_SEED if set, else from the clock. Printed with
 * the test's name so any failure can be replayed.
 */
uint64_t test_seed(const char *name);

/* A scale factor for long loops: 1, or smaller under valgrind. */
double test_scale(void);

/* A fresh private directory under $TMPDIR (removed at exit if empty). */
const char *test_tmpdir(void);

/* Write len bytes to a new file named name in the tmpdir; returns its path
 * (static storage per call site is not assumed: caller frees). */
char *test_write_file(const char *name, const void *data, size_t len);

/* SHA-256 of a file, as 32 bytes into out. Exits on error. */
void test_sha256_file(const char *path, unsigned char out[32]);

/* What /proc/self/smaps says of the mapping that holds an address. */
struct smaps_region {
	bool found;
	unsigned long locked_kb; /* "Locked:" */
	bool locked;             /* VmFlags "lo": mlock()ed */
	bool dontdump;           /* VmFlags "dd": MADV_DONTDUMP */
};

/* Look addr's mapping up in /proc/self/smaps (exits if it cannot). */
struct smaps_region smaps_region(const void *addr);

/* Overlay kinds the cow tests run against. */
enum test_overlay { TEST_RAM, TEST_XTS_RAM, TEST_XTS_FILE, TEST_FILE };

const char *test_overlay_name(enum test_overlay kind);

/* Build an overlay of nr_blks slots; exits on failure. */
struct store *test_overlay_new(enum test_overlay kind, uint64_t nr_blks);

#endif
