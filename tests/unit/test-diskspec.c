/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for xs-glue/diskspec.c: every rule of the grammar, the
 * messages errors carry, and the canonical printer.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "tests/check.h"
#include "xs-glue/diskspec.h"

static struct diskspec spec;
static char err[DISKSPEC_ERR_MAX];

static int parse(const char *s)
{
	err[0] = '\0';
	return diskspec_parse(s, strlen(s), &spec, err, sizeof(err));
}

/* s must fail with a message containing want. */
static void bad(const char *s, const char *want)
{
	CHECK(parse(s) == -EINVAL, "'%s' accepted", s);
	CHECK(strstr(err, want), "'%s': message '%s' lacks '%s'", s, err, want);
}

/* s must parse and print back as canon. */
static void good(const char *s, const char *canon)
{
	char out[256];

	CHECK(parse(s) == 0, "'%s' rejected: %s", s, err);
	CHECK_OK(diskspec_format(&spec, out, sizeof(out)));
	CHECK(strcmp(out, canon) == 0, "'%s' printed as '%s', not '%s'", s, out,
	      canon);
}

static void test_good(void)
{
	good("cow:base=/dev/qubes_dom0/vm-fedora-root,store=ram,limit=4G",
	     "cow:base=/dev/qubes_dom0/vm-fedora-root,store=ram,limit=4G,"
	     "on-full=error");
	CHECK(spec.kind == DISKSPEC_COW && spec.limit_bytes == 4ull << 30 &&
		      spec.store == DISKSPEC_STORE_RAM && !spec.scratch[0],
	      "cow fields");
	good("cow:base=/b", "cow:base=/b,store=ram,on-full=error");
	CHECK(spec.limit_bytes == 0 && spec.on_full == DISKSPEC_ON_FULL_ERROR,
	      "defaults");
	good("blank:size=1048576", "blank:size=1M,store=ram,on-full=error");
	CHECK(spec.size_bytes == 1048576, "blank size");
	good("blank:size=512", "blank:size=512,store=ram,on-full=error");
	good("blank:on-full=pause,size=0002T,scratch=/var/tmp,store=xts",
	     "blank:size=2T,store=xts,scratch=/var/tmp,on-full=pause");
	CHECK(spec.size_bytes == 2ull << 40 &&
		      strcmp(spec.scratch, "/var/tmp") == 0,
	      "xts fields");
	good("ro:base=/srv/modules.img", "ro:base=/srv/modules.img");
	good("cow:base=/a b=c:d,limit=1536K",
	     "cow:base=/a b=c:d,store=ram,limit=1536K,on-full=error");
	good("cow:base=/x,limit=1", "cow:base=/x,store=ram,limit=1,"
				    "on-full=error");
	good("blank:size=16777215T", "blank:size=16777215T,store=ram,"
				     "on-full=error");
}

static void test_bad(void)
{
	char big[DISKSPEC_PATH_MAX + 64];

	bad("", "empty");
	bad("cow", "lacks 'kind:'");
	bad("disk:base=/x", "unknown disk kind 'disk'");
	bad("COW:base=/x", "unknown disk kind");
	bad("cow:", "empty option");
	bad("cow:base=/x,", "empty option");
	bad("cow:,base=/x", "empty option");
	bad("cow:base", "has no '='");
	bad("cow:base=", "empty value");
	bad("cow:base=x", "not an absolute path");
	bad("cow:base=/x,base=/y", "base= given twice");
	bad("cow:base=/x,colour=red", "unknown option 'colour'");
	bad("cow:base=/x,Store=ram", "unknown option");
	bad("cow:store=ram", "base= is required");
	bad("cow:base=/x,size=1G", "size= is not allowed");
	bad("ro:size=1G", "base= is required");
	bad("ro:base=/x,store=ram", "ro: store= is not allowed");
	bad("ro:base=/x,limit=1G", "ro: limit= is not allowed");
	bad("ro:base=/x,on-full=error", "ro: on-full= is not allowed");
	bad("ro:base=/x,scratch=/t", "ro: scratch= is not allowed");
	bad("blank:store=ram", "size= is required");
	bad("blank:size=1G,base=/x", "base= is not allowed");
	bad("blank:size=1000", "multiple of 512");
	bad("blank:size=0", "greater than 0");
	bad("blank:size=0G", "greater than 0");
	bad("blank:size=1g", "not a size");
	bad("blank:size=G", "not a size");
	bad("blank:size=1GB", "not a size");
	bad("blank:size=-1", "not a size");
	bad("blank:size= 1", "not a size");
	bad("blank:size=16777216T", "too large");
	bad("blank:size=18446744073709551616", "too large");
	bad("cow:base=/x,store=disk", "store=disk is unknown");
	bad("cow:base=/x,store=xts", "store=xts requires scratch=");
	bad("cow:base=/x,scratch=/t", "only allowed with store=xts");
	bad("cow:base=/x,store=ram,scratch=/t", "only allowed with store=xts");
	bad("cow:base=/x,store=xts,scratch=t", "not an absolute path");
	bad("cow:base=/x,on-full=panic", "on-full=panic is unknown");
	bad("cow:base=/x,limit=0", "greater than 0");

	/* NUL inside the length-counted value */
	CHECK(diskspec_parse("cow:base=/x\0y", 13, &spec, err, sizeof(err)) ==
		      -EINVAL,
	      "NUL accepted");
	CHECK(strstr(err, "NUL"), "message '%s'", err);

	/* paths: 4095 bytes ok, 4096 not */
	memcpy(big, "cow:base=/", 10);
	memset(big + 10, 'p', DISKSPEC_PATH_MAX - 1);
	big[10 + DISKSPEC_PATH_MAX - 1] = '\0';
	CHECK(parse(big) == 0, "4095-byte path: %s", err);
	CHECK(strlen(spec.base) == DISKSPEC_PATH_MAX, "path length");
	big[10 + DISKSPEC_PATH_MAX - 1] = 'p';
	big[10 + DISKSPEC_PATH_MAX] = '\0';
	bad(big, "longer than 4095");

	/* messages quote at most a short printable excerpt */
	bad("cow:base=/x,\x01\x02verylongunknownkeyname_more_than_24=1",
	    "unknown option '??verylongunknownkeyname...'");
	/* no message buffer: still an error, nothing written */
	CHECK(diskspec_parse("x", 1, &spec, NULL, 0) == -EINVAL, "no err buf");
}

static void test_format(void)
{
	struct diskspec s;
	char out[64];

	CHECK(parse("cow:base=/dev/x") == 0, "parse");
	s = spec;
	CHECK_ERR(diskspec_format(&s, out, 10), -ENOSPC);
	CHECK_ERR(diskspec_format(&s, out, 0), -ENOSPC);
	s.size_bytes = 512; /* cow with a size */
	CHECK_ERR(diskspec_format(&s, out, sizeof(out)), -EINVAL);
	s = spec;
	strcpy(s.base, "/a,b");
	CHECK_ERR(diskspec_format(&s, out, sizeof(out)), -EINVAL);
	s = spec;
	strcpy(s.base, "relative");
	CHECK_ERR(diskspec_format(&s, out, sizeof(out)), -EINVAL);
	s = spec;
	s.store = DISKSPEC_STORE_XTS; /* without scratch */
	CHECK_ERR(diskspec_format(&s, out, sizeof(out)), -EINVAL);
	s = spec;
	s.kind = DISKSPEC_RO;
	s.limit_bytes = 4096;
	CHECK_ERR(diskspec_format(&s, out, sizeof(out)), -EINVAL);
	s.limit_bytes = 0;
	s.on_full = DISKSPEC_ON_FULL_PAUSE;
	CHECK_ERR(diskspec_format(&s, out, sizeof(out)), -EINVAL);
	s.on_full = (enum diskspec_on_full)9;
	CHECK_ERR(diskspec_format(&s, out, sizeof(out)), -EINVAL);
}

/* The SIZE grammar on its own, as the daemon's --budget uses it. */
static void test_size(void)
{
	uint64_t v = 7;

	CHECK_OK(diskspec_parse_size("512", 3, &v));
	CHECK(v == 512, "512 -> %llu", (unsigned long long)v);
	CHECK_OK(diskspec_parse_size("8G", 2, &v));
	CHECK(v == 8ull << 30, "8G -> %llu", (unsigned long long)v);
	CHECK_OK(diskspec_parse_size("16777215T", 9, &v));
	CHECK(v == 16777215ull << 40, "16777215T");
	CHECK_ERR(diskspec_parse_size("16777216T", 9, &v), -ERANGE);
	CHECK_ERR(diskspec_parse_size("0", 1, &v), -EDOM);
	CHECK_ERR(diskspec_parse_size("0K", 2, &v), -EDOM);
	CHECK_ERR(diskspec_parse_size("", 0, &v), -EINVAL);
	CHECK_ERR(diskspec_parse_size("G", 1, &v), -EINVAL);
	CHECK_ERR(diskspec_parse_size("-1", 2, &v), -EINVAL);
	CHECK_ERR(diskspec_parse_size("1g", 2, &v), -EINVAL);
	CHECK_ERR(diskspec_parse_size("1 G", 3, &v), -EINVAL);
	CHECK_ERR(diskspec_parse_size("1GB", 3, &v), -EINVAL);
	CHECK(v == 16777215ull << 40, "out-parameter set on failure");
}

int main(void)
{
	test_size();
	test_good();
	test_bad();
	test_format();
	return 0;
}
