/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Disk spec parser and printer (grammar in diskspec.h and docs/disk-spec.md).
 *
 * Parsing is two passes over a private struct: the syntax pass splits
 * KIND ':' OPT (',' OPT)* and fills fields, refusing unknown and repeated
 * keys and empty values; check_rules() then enforces which keys each kind
 * needs or forbids. diskspec_format() runs the same check_rules(), so a spec
 * that prints is a spec that parses. *spec_r is written only on success.
 *
 * Messages quote at most a short, printable-only excerpt of the input.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "xs-glue/diskspec.h"
#include "xs-glue/parse.h"

#define QUOTE_MAX 24u

enum key {
	KEY_BASE,
	KEY_SIZE,
	KEY_STORE,
	KEY_SCRATCH,
	KEY_LIMIT,
	KEY_ON_FULL,
	KEY_COUNT
};

static const char *const key_names[KEY_COUNT] = {
	[KEY_BASE] = "base",   [KEY_SIZE] = "size",
	[KEY_STORE] = "store", [KEY_SCRATCH] = "scratch",
	[KEY_LIMIT] = "limit", [KEY_ON_FULL] = "on-full",
};

static const char *const kind_names[] = {
	[DISKSPEC_COW] = "cow",
	[DISKSPEC_BLANK] = "blank",
	[DISKSPEC_RO] = "ro",
};

static const char *const store_names[] = {
	[DISKSPEC_STORE_RAM] = "ram",
	[DISKSPEC_STORE_XTS] = "xts",
};

static const char *const on_full_names[] = {
	[DISKSPEC_ON_FULL_ERROR] = "error",
	[DISKSPEC_ON_FULL_PAUSE] = "pause",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static __attribute__((format(printf, 3, 4))) int fail(char *err, size_t err_len,
						      const char *fmt, ...)
{
	va_list ap;

	if (err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A short printable excerpt of s for a message, "..." if cut. */
static void quote(const char *s, size_t len, char out[QUOTE_MAX + 4])
{
	size_t i, n = len < QUOTE_MAX ? len : QUOTE_MAX;

	for (i = 0; i < n; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (n < len)
		memcpy(out + n, "...", 3), n += 3;
	out[n] = '\0';
}

static bool is_word(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* Index of word in names[0..n-1], or -1. */
static int lookup(const char *s, size_t len, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && is_word(s, len, names[i]))
			return (int)i;
	return -1;
}

int diskspec_parse_size(const char *s, size_t len, uint64_t *bytes_r)
{
	static const char suffixes[] = "KMGT";
	const char *suf = len > 0 ? memchr(suffixes, s[len - 1], 4) : NULL;
	unsigned int shift = 0;
	uint64_t n;
	int rc;

	if (suf) {
		shift = 10 * (unsigned int)(suf - suffixes + 1);
		len--;
	}
	rc = parse_u64(s, len, UINT64_MAX >> shift, &n);
	if (rc)
		return rc == -ERANGE ? -ERANGE : -EINVAL;
	if (n == 0)
		return -EDOM;
	*bytes_r = n << shift;
	return 0;
}

static int parse_size(const char *s, size_t len, const char *key,
		      uint64_t *bytes_r, char *err, size_t err_len)
{
	char q[QUOTE_MAX + 4];

	quote(s, len, q);
	switch (diskspec_parse_size(s, len, bytes_r)) {
	case 0:
		return 0;
	case -ERANGE:
		return fail(err, err_len, "%s=%s is too large", key, q);
	case -EDOM:
		return fail(err, err_len, "%s= must be greater than 0", key);
	default:
		return fail(err, err_len,
			    "%s=%s is not a size (digits, then K, M, G or T)",
			    key, q);
	}
}

static int parse_path(const char *s, size_t len, const char *key, char *out,
		      char *err, size_t err_len)
{
	char q[QUOTE_MAX + 4];

	quote(s, len, q);
	if (s[0] != '/')
		return fail(err, err_len, "%s=%s is not an absolute path", key,
			    q);
	if (len > DISKSPEC_PATH_MAX)
		return fail(err, err_len, "%s= is longer than %u bytes", key,
			    DISKSPEC_PATH_MAX);
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

/* Which keys each kind requires and forbids, and store=xts <-> scratch=. */
static int check_rules(const struct diskspec *spec, const bool seen[KEY_COUNT],
		       char *err, size_t err_len)
{
	const char *kind = kind_names[spec->kind];
	unsigned int k;

	switch (spec->kind) {
	case DISKSPEC_COW:
	case DISKSPEC_RO:
		if (!seen[KEY_BASE])
			return fail(err, err_len, "%s: base= is required",
				    kind);
		if (seen[KEY_SIZE])
			return fail(
				err, err_len,
				"%s: size= is not allowed (the base sets the size)",
				kind);
		break;
	case DISKSPEC_BLANK:
		if (!seen[KEY_SIZE])
			return fail(err, err_len, "blank: size= is required");
		if (seen[KEY_BASE])
			return fail(err, err_len,
				    "blank: base= is not allowed");
		if (spec->size_bytes % XE_BLKIF_SECTOR_BYTES)
			return fail(err, err_len,
				    "blank: size= must be a multiple of 512");
		break;
	default:
		return fail(err, err_len, "unknown disk kind");
	}
	if (spec->kind == DISKSPEC_RO) {
		for (k = KEY_STORE; k <= KEY_ON_FULL; k++)
			if (seen[k])
				return fail(
					err, err_len,
					"ro: %s= is not allowed (no overlay)",
					key_names[k]);
		return 0;
	}
	if (spec->store == DISKSPEC_STORE_XTS && !seen[KEY_SCRATCH])
		return fail(err, err_len, "store=xts requires scratch=");
	if (spec->store != DISKSPEC_STORE_XTS && seen[KEY_SCRATCH])
		return fail(err, err_len,
			    "scratch= is only allowed with store=xts");
	if (spec->store > DISKSPEC_STORE_XTS ||
	    spec->on_full > DISKSPEC_ON_FULL_PAUSE)
		return fail(err, err_len, "invalid store or on-full value");
	return 0;
}

static int parse_opt(const char *s, size_t len, struct diskspec *spec,
		     bool seen[KEY_COUNT], char *err, size_t err_len)
{
	const char *eq = memchr(s, '=', len);
	char q[QUOTE_MAX + 4];
	const char *val;
	size_t klen, vlen;
	int key, v;

	quote(s, len, q);
	if (len == 0)
		return fail(err, err_len, "empty option (stray ',')");
	if (!eq)
		return fail(err, err_len, "option '%s' has no '='", q);
	klen = (size_t)(eq - s);
	val = eq + 1;
	vlen = len - klen - 1;
	key = lookup(s, klen, key_names, KEY_COUNT);
	if (key < 0) {
		quote(s, klen, q);
		return fail(
			err, err_len,
			"unknown option '%s' (expected base, size, store, scratch, limit or on-full)",
			q);
	}
	if (seen[key])
		return fail(err, err_len, "%s= given twice", key_names[key]);
	if (vlen == 0)
		return fail(err, err_len, "%s= has an empty value",
			    key_names[key]);
	seen[key] = true;
	quote(val, vlen, q);

	switch (key) {
	case KEY_BASE:
		return parse_path(val, vlen, "base", spec->base, err, err_len);
	case KEY_SCRATCH:
		return parse_path(val, vlen, "scratch", spec->scratch, err,
				  err_len);
	case KEY_SIZE:
		return parse_size(val, vlen, "size", &spec->size_bytes, err,
				  err_len);
	case KEY_LIMIT:
		return parse_size(val, vlen, "limit", &spec->limit_bytes, err,
				  err_len);
	case KEY_STORE:
		v = lookup(val, vlen, store_names, ARRAY_SIZE(store_names));
		if (v < 0)
			return fail(err, err_len,
				    "store=%s is unknown (expected ram or xts)",
				    q);
		spec->store = (enum diskspec_store)v;
		return 0;
	default: /* KEY_ON_FULL */
		v = lookup(val, vlen, on_full_names, ARRAY_SIZE(on_full_names));
		if (v < 0)
			return fail(
				err, err_len,
				"on-full=%s is unknown (expected error or pause)",
				q);
		spec->on_full = (enum diskspec_on_full)v;
		return 0;
	}
}

int diskspec_parse(const char *buf, size_t len, struct diskspec *spec_r,
		   char *err, size_t err_len)
{
	/* static would not be reentrant; 8 KiB on the stack is fine here */
	struct diskspec spec;
	bool seen[KEY_COUNT] = { false };
	char q[QUOTE_MAX + 4];
	const char *colon, *p, *end = buf + len, *comma;
	int kind, rc;

	if (!buf || len == 0)
		return fail(err, err_len, "empty disk spec");
	if (memchr(buf, '\0', len))
		return fail(err, err_len, "disk spec contains a NUL byte");
	colon = memchr(buf, ':', len);
	if (!colon) {
		quote(buf, len, q);
		return fail(
			err, err_len,
			"disk spec '%s' lacks 'kind:' (cow:, blank: or ro:)",
			q);
	}
	kind = lookup(buf, (size_t)(colon - buf), kind_names,
		      ARRAY_SIZE(kind_names));
	if (kind < 0) {
		quote(buf, (size_t)(colon - buf), q);
		return fail(
			err, err_len,
			"unknown disk kind '%s' (expected cow, blank or ro)",
			q);
	}

	memset(&spec, 0, sizeof(spec));
	spec.kind = (enum diskspec_kind)kind;
	spec.store = DISKSPEC_STORE_RAM;
	spec.on_full = DISKSPEC_ON_FULL_ERROR;
	for (p = colon + 1;; p = comma + 1) {
		comma = memchr(p, ',', (size_t)(end - p));
		if (!comma)
			comma = end;
		rc = parse_opt(p, (size_t)(comma - p), &spec, seen, err,
			       err_len);
		if (rc < 0)
			return rc;
		if (comma == end)
			break;
	}
	rc = check_rules(&spec, seen, err, err_len);
	if (rc < 0)
		return rc;
	*spec_r = spec;
	return 0;
}

/* "4G" for 4 GiB: the largest suffix that divides exactly. */
static void format_size(uint64_t bytes, char out[32])
{
	static const char suffixes[] = "TGMK";
	unsigned int i;

	for (i = 0; i < 4; i++) {
		unsigned int shift = 10 * (4 - i);

		if ((bytes & ((UINT64_C(1) << shift) - 1)) == 0) {
			snprintf(out, 32, "%" PRIu64 "%c", bytes >> shift,
				 suffixes[i]);
			return;
		}
	}
	snprintf(out, 32, "%" PRIu64, bytes);
}

int diskspec_format(const struct diskspec *spec, char *buf, size_t len)
{
	bool seen[KEY_COUNT] = { false };
	char size[32] = "", limit[32] = "";
	int n;

	if ((unsigned int)spec->kind >= ARRAY_SIZE(kind_names) ||
	    (unsigned int)spec->store >= ARRAY_SIZE(store_names) ||
	    (unsigned int)spec->on_full >= ARRAY_SIZE(on_full_names))
		return -EINVAL;
	if (memchr(spec->base, '\0', sizeof(spec->base)) == NULL ||
	    memchr(spec->scratch, '\0', sizeof(spec->scratch)) == NULL ||
	    strchr(spec->base, ',') || strchr(spec->scratch, ','))
		return -EINVAL;
	/* what parse would have seen */
	seen[KEY_BASE] = spec->base[0] != '\0';
	seen[KEY_SIZE] = spec->size_bytes != 0;
	seen[KEY_SCRATCH] = spec->scratch[0] != '\0';
	seen[KEY_LIMIT] = spec->limit_bytes != 0;
	if (spec->kind != DISKSPEC_RO) {
		seen[KEY_STORE] = true;
		seen[KEY_ON_FULL] = true;
	} else if (spec->store != DISKSPEC_STORE_RAM ||
		   spec->on_full != DISKSPEC_ON_FULL_ERROR) {
		return -EINVAL;
	}
	if ((seen[KEY_BASE] && spec->base[0] != '/') ||
	    (seen[KEY_SCRATCH] && spec->scratch[0] != '/'))
		return -EINVAL;
	if (check_rules(spec, seen, NULL, 0) < 0)
		return -EINVAL;

	if (seen[KEY_SIZE])
		format_size(spec->size_bytes, size);
	if (seen[KEY_LIMIT])
		format_size(spec->limit_bytes, limit);
	if (spec->kind == DISKSPEC_RO)
		n = snprintf(buf, len, "ro:base=%s", spec->base);
	else
		n = snprintf(
			buf, len, "%s:%s%s%s%s%s%sstore=%s%s%s%s%s,on-full=%s",
			kind_names[spec->kind], seen[KEY_BASE] ? "base=" : "",
			spec->base, seen[KEY_BASE] ? "," : "",
			seen[KEY_SIZE] ? "size=" : "", size,
			seen[KEY_SIZE] ? "," : "", store_names[spec->store],
			seen[KEY_SCRATCH] ? ",scratch=" : "", spec->scratch,
			seen[KEY_LIMIT] ? ",limit=" : "", limit,
			on_full_names[spec->on_full]);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENOSPC;
	return 0;
}
