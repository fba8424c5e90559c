/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keys: equal halves are refused, random keys are random, and the page that
 * holds a key is locked and excluded from core dumps (checked in
 * /proc/self/smaps: "Locked:" and the VmFlags "lo" and "dd").
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crypto/key.h"
#include "tests/check.h"
#include "tests/testlib.h"

static void check_protected(const void *addr, const char *what)
{
	struct smaps_region ri = smaps_region(addr);

	CHECK(ri.found, "%s: no mapping in /proc/self/smaps", what);
	CHECK(ri.locked, "%s: mapping is not mlock()ed (VmFlags lo)", what);
	CHECK(ri.locked_kb >= 4, "%s: Locked: %lu kB", what, ri.locked_kb);
	CHECK(ri.dontdump, "%s: mapping is dumpable (no VmFlags dd)", what);
}

static void test_from_bytes(void)
{
	uint8_t b[KEY_XTS_BYTES];
	struct key *key = NULL;
	unsigned int i;

	/* Equal halves: IEEE 1619 and OpenSSL refuse them. */
	memset(b, 0x5a, sizeof(b));
	CHECK_ERR(key_new_from_bytes(b, sizeof(b), &key), -EINVAL);
	CHECK(key == NULL, "key_r set on failure");
	for (i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i % 32);
	CHECK_ERR(key_new_from_bytes(b, sizeof(b), &key), -EINVAL);
	CHECK_ERR(key_new_from_bytes(b, sizeof(b) - 1, &key), -EINVAL);
	CHECK_ERR(key_new_from_bytes(NULL, sizeof(b), &key), -EINVAL);

	/* Halves differing in their very last byte are fine. */
	b[KEY_XTS_BYTES - 1] ^= 1;
	CHECK_OK(key_new_from_bytes(b, sizeof(b), &key));
	CHECK(!memcmp(key_bytes(key), b, sizeof(b)), "bytes not kept");
	CHECK((void *)key_bytes(key) != (void *)b, "caller buffer aliased");
	check_protected(key_bytes(key), "key from bytes");
	key_free(key);
	key_free(NULL);
}

static void test_random(void)
{
	struct key *k1, *k2;
	const uint8_t *a, *b;

	CHECK_OK(key_new_random(&k1));
	CHECK_OK(key_new_random(&k2));
	a = key_bytes(k1);
	b = key_bytes(k2);
	CHECK(memcmp(a, b, KEY_XTS_BYTES), "two random keys are equal");
	CHECK(memcmp(a, a + 32, 32), "random key with equal halves");
	CHECK(memcmp(b, b + 32, 32), "random key with equal halves");
	/* Each key has a page of its own. */
	CHECK(((uintptr_t)a & ~(uintptr_t)4095) !=
		      ((uintptr_t)b & ~(uintptr_t)4095),
	      "two keys share a page");
	check_protected(a, "random key 1");
	check_protected(b, "random key 2");
	key_free(k1);
	key_free(k2);
}

static void test_protect_memory(void)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *m = mmap(NULL, 4 * (size_t)page, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct smaps_region ri;

	CHECK(m != MAP_FAILED, "mmap");
	ri = smaps_region(m + page);
	CHECK(ri.found && !ri.locked && !ri.dontdump,
	      "fresh mapping already locked or undumpable?");
	/* An unaligned range covering parts of pages 1 and 2. */
	CHECK_OK(key_protect_memory(m + page + 100, (size_t)page));
	check_protected(m + page, "protected page 1");
	check_protected(m + 2 * page, "protected page 2");
	ri = smaps_region(m + 3 * page);
	CHECK(!ri.locked, "protection spilled past the range");
	CHECK_OK(key_protect_memory(m, 0));
	munmap(m, 4 * (size_t)page);
}

int main(void)
{
	test_from_bytes();
	test_random();
	test_protect_memory();
	printf("keys: ok\n");
	return 0;
}
