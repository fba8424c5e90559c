/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the disk spec parser and printer.
 *
 * Input: the spec bytes, in a heap buffer of exactly their length. Besides
 * "no crash", abort() when: a failure leaves no message; an accepted spec
 * breaks the grammar's rules; or the canonical print of an accepted spec
 * does not parse back to the same spec, or does not print identically again.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "xs-glue/diskspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct diskspec a, b;
static char text[2 * DISKSPEC_PATH_MAX + 256], text2[sizeof(text)];

static void check_rules(const struct diskspec *s)
{
	if (s->kind == DISKSPEC_BLANK &&
	    (s->size_bytes == 0 || s->size_bytes % 512 || s->base[0]))
		abort();
	if (s->kind != DISKSPEC_BLANK && (s->base[0] != '/' || s->size_bytes))
		abort();
	if (s->kind == DISKSPEC_RO &&
	    (s->store != DISKSPEC_STORE_RAM || s->scratch[0] ||
	     s->limit_bytes || s->on_full != DISKSPEC_ON_FULL_ERROR))
		abort();
	if ((s->store == DISKSPEC_STORE_XTS) != (s->scratch[0] == '/'))
		abort();
	if (strchr(s->base, ',') || strchr(s->scratch, ','))
		abort();
}

static int same(const struct diskspec *x, const struct diskspec *y)
{
	return x->kind == y->kind && strcmp(x->base, y->base) == 0 &&
	       x->size_bytes == y->size_bytes && x->store == y->store &&
	       strcmp(x->scratch, y->scratch) == 0 &&
	       x->limit_bytes == y->limit_bytes && x->on_full == y->on_full;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	char err[DISKSPEC_ERR_MAX];

	if (!buf)
		abort();
	memcpy(buf, data, size);
	err[0] = '\0';
	if (diskspec_parse(buf, size, &a, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || !memchr(err, '\0', sizeof(err)))
			abort();
		goto out;
	}
	check_rules(&a);
	if (diskspec_format(&a, text, sizeof(text)) != 0)
		abort();
	if (diskspec_parse(text, strlen(text), &b, err, sizeof(err)) != 0)
		abort();
	if (!same(&a, &b))
		abort();
	if (diskspec_format(&b, text2, sizeof(text2)) != 0 ||
	    strcmp(text, text2) != 0)
		abort();
out:
	free(buf);
	return 0;
}
