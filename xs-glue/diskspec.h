/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The disk spec: one string, carried in the backend "params" node, that says
 * what disk a guest gets (docs/disk-spec.md). It is written by dom0's
 * toolstack or our CLI, not by the guest, but it is parsed as strictly as
 * guest input, and its errors are sentences for a human (they end up in the
 * device's xenstore "error" node).
 *
 *   SPEC  := KIND ':' OPT (',' OPT)*
 *   KIND  := 'cow' | 'blank' | 'ro'
 *   OPT   := 'base=' PATH | 'size=' SIZE | 'store=' ('ram' | 'xts')
 *          | 'scratch=' PATH | 'limit=' SIZE | 'on-full=' ('error' | 'pause')
 *   SIZE  := DIGITS [ 'K' | 'M' | 'G' | 'T' ]     binary multiples, > 0
 *   PATH  := '/' followed by anything but ',' and NUL; at most 4095 bytes
 *
 * cow and ro need base= and forbid size=; blank needs size= (a multiple of
 * 512) and forbids base=; ro forbids store=, scratch=, limit= and on-full=;
 * store=xts needs scratch= (a directory for an unnamed O_TMPFILE, or a block
 * device), store=ram forbids it. Each key at most once. Defaults: store=ram,
 * on-full=error, no limit (the disk size).
 */
#ifndef XE_XS_GLUE_DISKSPEC_H
#define XE_XS_GLUE_DISKSPEC_H

#include <stddef.h>
#include <stdint.h>

#define DISKSPEC_PATH_MAX 4095u /* bytes, without the terminating NUL */

enum diskspec_kind {
	DISKSPEC_COW, /* overlay over a read-only base */
	DISKSPEC_BLANK, /* overlay over zeros */
	DISKSPEC_RO, /* the base, read-only, no overlay */
};

enum diskspec_store {
	DISKSPEC_STORE_RAM, /* locked anonymous memory */
	DISKSPEC_STORE_XTS, /* AES-XTS over a scratch file or device */
};

enum diskspec_on_full {
	DISKSPEC_ON_FULL_ERROR, /* new blocks fail with an I/O error */
	DISKSPEC_ON_FULL_PAUSE, /* the guest is paused */
};

struct diskspec {
	enum diskspec_kind kind;
	char base[DISKSPEC_PATH_MAX + 1]; /* cow, ro; else "" */
	uint64_t size_bytes; /* blank; else 0 */
	enum diskspec_store store; /* ram for ro */
	char scratch[DISKSPEC_PATH_MAX + 1]; /* store=xts; else "" */
	uint64_t limit_bytes; /* overlay cap; 0 = disk size */
	enum diskspec_on_full on_full;
};

/*
 * A SIZE of the grammar (digits, then an optional binary K, M, G or T), the
 * whole of len bytes. Returns 0, -EINVAL (not a size), -ERANGE (over 64
 * bits) or -EDOM (zero). Also what the daemon's --budget takes.
 */
int diskspec_parse_size(const char *s, size_t len, uint64_t *bytes_r);

/* Longest message diskspec_parse() writes (with NUL); bigger buffers ok. */
#define DISKSPEC_ERR_MAX 160u

/*
 * Parse len bytes of buf (no NUL needed; a NUL inside is an error) into
 * *spec_r. On error return -EINVAL and, if err_len > 0, put a one-line
 * NUL-terminated message into err.
 */
int diskspec_parse(const char *buf, size_t len, struct diskspec *spec_r,
		   char *err, size_t err_len);

/*
 * Print spec canonically into buf (NUL-terminated): keys in grammar order,
 * sizes with the largest exact suffix, store= and on-full= always (not for
 * ro), limit= only when set. diskspec_parse() gives spec back. -ENOSPC if
 * len is too small, -EINVAL if spec breaks the rules above.
 */
int diskspec_format(const struct diskspec *spec, char *buf, size_t len);

#endif
