/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared test helpers: seeds, temp files, store construction. Everything
 * here exits the test loudly on failure; none of it is used by the product.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto/key.h"
#include "tests/check.h"
#include "tests/testlib.h"

void rng_fill(struct rng *r, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len >= 8) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, len);
	}
}

uint64_t test_seed(const char *name)
{
	const char *env = getenv("XE_SEED");
	uint64_t seed;

	if (env && *env) {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ull ^
		       (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	}
	printf("%s: seed %llu (replay with XE_SEED=%llu)\n", name,
	       (unsigned long long)seed, (unsigned long long)seed);
	fflush(stdout);
	return seed;
}

double test_scale(void)
{
	const char *env = getenv("XE_UNDER_VALGRIND");

	return env && *env && strcmp(env, "0") ? 0.02 : 1.0;
}

static char tmpdir_path[4096];

static void tmpdir_cleanup(void)
{
	if (tmpdir_path[0])
		rmdir(tmpdir_path);
}

const char *test_tmpdir(void)
{
	const char *base;

	if (tmpdir_path[0])
		return tmpdir_path;
	base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	snprintf(tmpdir_path, sizeof(tmpdir_path), "%s/xe-test-XXXXXX", base);
	CHECK(mkdtemp(tmpdir_path), "mkdtemp: %s", strerror(errno));
	atexit(tmpdir_cleanup);
	return tmpdir_path;
}

char *test_write_file(const char *name, const void *data, size_t len)
{
	char *path;
	int fd;

	CHECK(asprintf(&path, "%s/%s", test_tmpdir(), name) > 0, "asprintf");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	CHECK(write(fd, data, len) == (ssize_t)len, "write %s", path);
	CHECK(close(fd) == 0, "close");
	return path;
}

void test_sha256_file(const char *path, unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char buf[65536];
	unsigned int outlen = 32;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0 && ctx, "open %s: %s", path, strerror(errno));
	CHECK(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1, "sha256");
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		CHECK(EVP_DigestUpdate(ctx, buf, (size_t)n) == 1, "sha256");
	CHECK(n == 0, "read %s", path);
	CHECK(EVP_DigestFinal_ex(ctx, out, &outlen) == 1, "sha256");
	EVP_MD_CTX_free(ctx);
	close(fd);
}

struct smaps_region smaps_region(const void *addr)
{
	struct smaps_region ri = { 0 };
	uintptr_t a = (uintptr_t)addr;
	bool in = false;
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");

	CHECK(f, "cannot open /proc/self/smaps");
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		/* a mapping's header line: "lo-hi perms ..." */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = a >= lo && a < hi;
			ri.found |= in;
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, "Locked:", 7))
			sscanf(line + 7, "%lu", &ri.locked_kb);
		if (!strncmp(line, "VmFlags:", 8)) {
			ri.locked = strstr(line, " lo") != NULL;
			ri.dontdump = strstr(line, " dd") != NULL;
		}
	}
	fclose(f);
	return ri;
}
