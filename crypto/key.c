/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Key lifetime.
 *
 * What it owns: one page per key, obtained with mmap() so that nothing else
 * ever shares it, mlock()ed (never swapped) and MADV_DONTDUMP (never in a
 * core file). struct key lives at the start of that page, so the key
 * material is never copied anywhere else by this module.
 *
 * Invariants: a key handed out has two different halves (IEEE 1619-2007
 * 5.1 keys Key1 and Key2; OpenSSL refuses XTS with equal halves). Before the
 * page is unmapped it is wiped with OPENSSL_cleanse(), which the compiler
 * cannot elide.
 *
 * What it deliberately does not do: logging (nothing here may print key
 * bytes), key derivation or persistence (keys never outlive the disk).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "crypto/key.h"

#define KEY_HALF_BYTES (KEY_XTS_BYTES / 2)

struct key {
	uint8_t bytes[KEY_XTS_BYTES];
	size_t page_bytes; /* the mapping this struct sits at the start of */
};

/*
 * mlock(2) and munlock(2) as system calls: AddressSanitizer intercepts the
 * libc functions and turns them into no-ops, and a sanitizer build must
 * still keep its promise (and let the tests check it).
 */
static int sys_mlock(void *addr, size_t len)
{
	return (int)syscall(SYS_mlock, addr, len);
}

static int sys_munlock(void *addr, size_t len)
{
	return (int)syscall(SYS_munlock, addr, len);
}

/*
 * mlock2(MLOCK_ONFAULT) as a system call, for the same reason: each page is
 * locked as it is first touched. Kernels before 4.4 lack it (ENOSYS) and
 * some filters refuse it (EINVAL, EPERM): then a plain mlock, which locks
 * every page at once, keeps the promise at a higher cost.
 */
static int sys_mlock_onfault(void *addr, size_t len)
{
#if defined(SYS_mlock2) && defined(MLOCK_ONFAULT)
	if (syscall(SYS_mlock2, addr, len, MLOCK_ONFAULT) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL && errno != EPERM)
		return -1;
#endif
	return sys_mlock(addr, len);
}

static int protect(void *addr, size_t len, bool lazy)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)addr & ~(uintptr_t)(page - 1);
	uintptr_t end =
		((uintptr_t)addr + len + page - 1) & ~(uintptr_t)(page - 1);

	if (len == 0)
		return 0;
	if ((lazy ? sys_mlock_onfault((void *)start, end - start) :
		    sys_mlock((void *)start, end - start)) < 0)
		return -errno;
	/* madvise() wants page-aligned ranges; mlock() rounds by itself. */
	if (madvise((void *)start, end - start, MADV_DONTDUMP) < 0) {
		int rc = -errno;

		sys_munlock((void *)start, end - start);
		return rc;
	}
	return 0;
}

int key_protect_memory(void *addr, size_t len)
{
	return protect(addr, len, false);
}

int key_protect_memory_lazy(void *addr, size_t len)
{
	return protect(addr, len, true);
}

static int key_page_new(struct key **key_r)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct key *key;
	int rc;

	_Static_assert(sizeof(struct key) <= 4096, "struct key fits a page");
	key = mmap(NULL, page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (key == MAP_FAILED)
		return -ENOMEM;
	rc = key_protect_memory(key, page);
	if (rc) {
		munmap(key, page);
		return rc;
	}
	key->page_bytes = page;
	*key_r = key;
	return 0;
}

/* Equal halves make XTS degenerate (the tweak mask becomes predictable). */
static bool key_halves_equal(const uint8_t *bytes)
{
	return CRYPTO_memcmp(bytes, bytes + KEY_HALF_BYTES, KEY_HALF_BYTES) ==
	       0;
}

/* Fill buf from getrandom(2), which may be interrupted or return short. */
static int fill_random(uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(buf + done, len - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

int key_new_random(struct key **key_r)
{
	struct key *key = NULL;
	int rc;

	rc = key_page_new(&key);
	if (rc)
		return rc;
	do {
		rc = fill_random(key->bytes, KEY_XTS_BYTES);
		if (rc) {
			key_free(key);
			return rc;
		}
	} while (key_halves_equal(key->bytes));
	*key_r = key;
	return 0;
}

int key_new_from_bytes(const uint8_t *bytes, size_t len, struct key **key_r)
{
	struct key *key = NULL;
	int rc;

	if (!bytes || len != KEY_XTS_BYTES || key_halves_equal(bytes))
		return -EINVAL;
	rc = key_page_new(&key);
	if (rc)
		return rc;
	memcpy(key->bytes, bytes, KEY_XTS_BYTES);
	*key_r = key;
	return 0;
}

const uint8_t *key_bytes(const struct key *key)
{
	return key->bytes;
}

void key_free(struct key *key)
{
	size_t page;

	if (!key)
		return;
	page = key->page_bytes;
	OPENSSL_cleanse(key, page);
	sys_munlock(key, page);
	munmap(key, page);
}
