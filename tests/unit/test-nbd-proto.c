/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for backend/nbd-proto.c, case by case from tables: the greeting,
 * client flags, every option (well-formed and each malformed class), every
 * request class (commands, flags, alignment, bounds, overflow, payload
 * limits, read-only), the reply, and the mapping of the view's errors.
 * Messages are built and parsed byte by byte here with the numbers of
 * proto.md written out, not with the module's own constants or encoders, so
 * a wrong value in nbd-proto.h shows up.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "backend/nbd-proto.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* 1 MiB read-write, the same read-only, and a 16 GiB one for big lengths. */
static const struct nbd_export exp_rw = { 1 * MiB, 0x006d };
static const struct nbd_export exp_ro = { 1 * MiB, 0x0007 };
static const struct nbd_export exp_big = { 16 * GiB, 0x006d };
/* Writable, advertising nothing but HAS_FLAGS: no FLUSH, FUA, TRIM, ZEROES. */
static const struct nbd_export exp_bare = { 1 * MiB, 0x0001 };

static void test_export_flags(void)
{
	/* HAS_FLAGS 1, FLUSH 4, FUA 8, TRIM 0x20, WRITE_ZEROES 0x40 */
	CHECK(nbd_export_flags(false) == 0x006d, "rw flags %#x",
	      nbd_export_flags(false));
	/* HAS_FLAGS 1, READ_ONLY 2, FLUSH 4 */
	CHECK(nbd_export_flags(true) == 0x0007, "ro flags %#x",
	      nbd_export_flags(true));
}

static void test_greeting(void)
{
	static const uint8_t want[18] = { 'N', 'B', 'D', 'M', 'A', 'G',
					  'I', 'C', 'I', 'H', 'A', 'V',
					  'E', 'O', 'P', 'T', 0,   3 };
	uint8_t out[18];

	CHECK(NBD_GREETING_BYTES == 18, "greeting size");
	nbd_write_greeting(out);
	CHECK(!memcmp(out, want, sizeof(want)), "greeting bytes");
}

static void test_client_flags(void)
{
	static const struct {
		uint32_t wire;
		int rc;
	} cases[] = {
		{ 0, 0 },
		{ 1, 0 },
		{ 2, 0 },
		{ 3, 0 },
		{ 4, -EPROTO },
		{ 7, -EPROTO },
		{ 1u << 31, -EPROTO },
		{ 0xffffffff, -EPROTO },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t in[4];
		uint32_t flags = 0xdead;
		int rc;

		be_put(in, cases[i].wire, 4);
		rc = nbd_decode_client_flags(in, &flags);
		CHECK(rc == cases[i].rc, "flags %#x: rc %d", cases[i].wire, rc);
		CHECK(flags == (rc ? 0xdead : cases[i].wire),
		      "flags %#x decoded as %#x (set only on success)",
		      cases[i].wire, flags);
	}
}

/* ---- options ---- */

static void opt_hdr(uint8_t *h, uint64_t magic, uint32_t option, uint32_t len)
{
	be_put(h, magic, 8);
	be_put(h + 8, option, 4);
	be_put(h + 12, len, 4);
}

static void test_opt_header(void)
{
	static const struct {
		uint64_t magic;
		uint32_t len;
		int rc;
		bool too_big;
	} cases[] = {
		{ 0x49484156454f5054ull, 0, 0, false },
		{ 0x49484156454f5054ull, 4096, 0, false },
		{ 0x49484156454f5054ull, 4097, 0, true },
		{ 0x49484156454f5054ull, 0xffffffff, 0, true },
		{ 0x49484156454f5055ull, 0, -EPROTO, false }, /* one bit */
		{ 0x4e42444d41474943ull, 0, -EPROTO, false }, /* NBDMAGIC */
		{ 0, 0, -EPROTO, false },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nbd_opt opt = { 0xdead, 0xdead, false };
		uint8_t h[16];
		int rc;

		opt_hdr(h, cases[i].magic, 0x01020304, cases[i].len);
		rc = nbd_decode_opt(h, &opt);
		CHECK(rc == cases[i].rc, "case %u: rc %d", i, rc);
		if (rc) {
			CHECK(opt.option == 0xdead, "case %u: set on failure",
			      i);
			continue;
		}
		CHECK(opt.option == 0x01020304, "case %u: option", i);
		CHECK(opt.too_big == cases[i].too_big, "case %u: too_big", i);
		CHECK(opt.payload_bytes == (opt.too_big ? 0 : cases[i].len),
		      "case %u: payload %u", i, opt.payload_bytes);
	}
}

/* One option reply parsed out of an answer. */
struct rep {
	uint32_t option, type, len;
	const uint8_t *data;
};

/* Split an answer into option replies; exits if they do not tile it. */
static unsigned int parse_reps(const struct nbd_answer *a, struct rep *r,
			       unsigned int max)
{
	size_t off = 0;
	unsigned int n = 0;

	while (off < a->len) {
		CHECK(n < max, "too many replies");
		CHECK(a->len - off >= 20, "short reply header at %zu", off);
		CHECK(be_get(a->bytes + off, 8) == 0x0003e889045565a9ull,
		      "reply magic at %zu", off);
		r[n].option = (uint32_t)be_get(a->bytes + off + 8, 4);
		r[n].type = (uint32_t)be_get(a->bytes + off + 12, 4);
		r[n].len = (uint32_t)be_get(a->bytes + off + 16, 4);
		CHECK(r[n].len <= a->len - off - 20, "reply overruns");
		r[n].data = a->bytes + off + 20;
		off += 20 + r[n].len;
		n++;
	}
	return n;
}

#define ACK 1u
#define SERVER 2u
#define INFO 3u
#define E_UNSUP 0x80000001u
#define E_INVALID 0x80000003u
#define E_UNKNOWN 0x80000006u
#define E_TOO_BIG 0x80000009u

/* GO/INFO data, byte by byte: u32 name length, name, u16 n, n x u16. */
static const uint8_t go0[] = { 0, 0, 0, 0, 0, 0 };
static const uint8_t go_bs[] = { 0, 0, 0, 0, 0, 1, 0, 3 };
static const uint8_t go_many[] = { 0, 0, 0, 0, 0, 5, 0, 0,
				   0, 1, 0, 2, 0, 3, 0, 99 };
static const uint8_t go_x[] = { 0, 0, 0, 1, 'x', 0, 0 };
static const uint8_t go_short[] = { 0, 0, 0, 0, 0 };
/* a name longer than the data */
static const uint8_t go_long_name[] = { 0xff, 0xff, 0xff, 0xff, 0, 0 };
/* says 2 requests, carries 1 */
static const uint8_t go_nr_over[] = { 0, 0, 0, 0, 0, 2, 0, 3 };
/* one byte more than it says */
static const uint8_t go_trailing[] = { 0, 0, 0, 0, 0, 1, 0, 3, 0x55 };
/* 4096 bytes: an empty name, no requests, then 4090 bytes of junk */
static const uint8_t go_4096[4096];
static const uint8_t one_byte[] = { 'x' };

struct opt_case {
	const char *name;
	uint32_t client_flags;
	uint32_t option;
	const uint8_t *payload;
	uint32_t len;
	bool too_big;
	enum nbd_next next;
	uint32_t types[4]; /* the replies expected, 0-terminated */
};

#define FIXED 1u
#define FIXED_NZ 3u
#define DATA(a) a, sizeof(a)

/* clang-format off */
static const struct opt_case opt_cases[] = {
	{ "GO", FIXED, 7, DATA(go0), false, NBD_NEXT_TRANSMIT,
	  { INFO, INFO, ACK } },
	{ "GO asking block sizes", FIXED_NZ, 7, DATA(go_bs), false,
	  NBD_NEXT_TRANSMIT, { INFO, INFO, ACK } },
	{ "GO asking unknown infos", FIXED, 7, DATA(go_many), false,
	  NBD_NEXT_TRANSMIT, { INFO, INFO, ACK } },
	{ "INFO", FIXED, 6, DATA(go_bs), false, NBD_NEXT_OPTION,
	  { INFO, INFO, ACK } },
	{ "GO named", FIXED, 7, DATA(go_x), false, NBD_NEXT_OPTION,
	  { E_UNKNOWN } },
	{ "INFO named", FIXED, 6, DATA(go_x), false, NBD_NEXT_OPTION,
	  { E_UNKNOWN } },
	{ "GO no data", FIXED, 7, NULL, 0, false, NBD_NEXT_OPTION,
	  { E_INVALID } },
	{ "GO 5 bytes", FIXED, 7, DATA(go_short), false, NBD_NEXT_OPTION,
	  { E_INVALID } },
	{ "GO name past data", FIXED, 7, DATA(go_long_name), false,
	  NBD_NEXT_OPTION, { E_INVALID } },
	{ "GO info count past data", FIXED, 7, DATA(go_nr_over), false,
	  NBD_NEXT_OPTION, { E_INVALID } },
	{ "GO trailing byte", FIXED, 7, DATA(go_trailing), false,
	  NBD_NEXT_OPTION, { E_INVALID } },
	{ "GO 4096 bytes", FIXED, 7, DATA(go_4096), false, NBD_NEXT_OPTION,
	  { E_INVALID } },
	{ "LIST", FIXED, 3, NULL, 0, false, NBD_NEXT_OPTION, { SERVER, ACK } },
	{ "LIST with data", FIXED, 3, DATA(one_byte), false, NBD_NEXT_OPTION,
	  { E_INVALID } },
	{ "ABORT", FIXED, 2, NULL, 0, false, NBD_NEXT_ABORT, { ACK } },
	{ "ABORT with data", FIXED, 2, DATA(one_byte), false, NBD_NEXT_ABORT,
	  { ACK } },
	{ "STARTTLS", FIXED, 5, NULL, 0, false, NBD_NEXT_OPTION, { E_UNSUP } },
	{ "STRUCTURED_REPLY", FIXED, 8, NULL, 0, false, NBD_NEXT_OPTION,
	  { E_UNSUP } },
	{ "LIST_META_CONTEXT", FIXED, 9, DATA(go0), false, NBD_NEXT_OPTION,
	  { E_UNSUP } },
	{ "SET_META_CONTEXT", FIXED, 10, DATA(go0), false, NBD_NEXT_OPTION,
	  { E_UNSUP } },
	{ "EXTENDED_HEADERS", FIXED, 11, NULL, 0, false, NBD_NEXT_OPTION,
	  { E_UNSUP } },
	{ "PEEK_EXPORT (withdrawn)", FIXED, 4, NULL, 0, false,
	  NBD_NEXT_OPTION, { E_UNSUP } },
	{ "option 0", FIXED, 0, NULL, 0, false, NBD_NEXT_OPTION, { E_UNSUP } },
	{ "option 12", FIXED, 12, NULL, 0, false, NBD_NEXT_OPTION,
	  { E_UNSUP } },
	{ "option 0xffffffff", FIXED, 0xffffffff, DATA(go0), false,
	  NBD_NEXT_OPTION, { E_UNSUP } },
	{ "GO too big", FIXED, 7, NULL, 0, true, NBD_NEXT_HANGUP,
	  { E_TOO_BIG } },
	{ "unknown too big", FIXED, 77, NULL, 0, true, NBD_NEXT_HANGUP,
	  { E_TOO_BIG } },
	{ "EXPORT_NAME too big", FIXED, 1, NULL, 0, true, NBD_NEXT_HANGUP,
	  { E_TOO_BIG } },
	{ "EXPORT_NAME named", FIXED, 1, DATA(one_byte), false,
	  NBD_NEXT_HANGUP, { 0 } },
	{ "GO, not fixed newstyle", 0, 7, DATA(go0), false, NBD_NEXT_HANGUP,
	  { 0 } },
	{ "ABORT, not fixed newstyle", 0, 2, NULL, 0, false, NBD_NEXT_HANGUP,
	  { 0 } },
	{ "EXPORT_NAME too big, not fixed newstyle", 0, 1, NULL, 0, true,
	  NBD_NEXT_HANGUP, { 0 } },
};
/* clang-format on */

/* Answer c for exp; parse the option replies into r[0..*n-1]. */
static void run_opt(const struct opt_case *c, const struct nbd_export *exp,
		    struct nbd_answer *a, struct rep *r, unsigned int *n)
{
	struct nbd_opt opt = { c->option, c->too_big ? 0 : c->len, c->too_big };
	unsigned int i, want = 0;

	nbd_opt_answer(exp, c->client_flags, &opt, c->payload, a);
	CHECK(a->next == c->next, "%s: next %d, expected %d", c->name, a->next,
	      c->next);
	CHECK(a->len <= NBD_ANSWER_MAX, "%s: len", c->name);
	CHECK((a->next == NBD_NEXT_HANGUP) == (a->why != NULL),
	      "%s: a reason exactly when hanging up", c->name);
	*n = parse_reps(a, r, 8);
	while (want < 4 && c->types[want])
		want++;
	CHECK(*n == want, "%s: %u replies, expected %u", c->name, *n, want);
	for (i = 0; i < *n; i++) {
		CHECK(r[i].option == c->option, "%s: reply %u echoes %u",
		      c->name, i, r[i].option);
		CHECK(r[i].type == c->types[i], "%s: reply %u type %#x",
		      c->name, i, r[i].type);
		/* Error replies carry a message for a human. */
		CHECK(!(r[i].type & 0x80000000u) || r[i].len > 0,
		      "%s: error without a message", c->name);
	}
}

static void check_go_infos(const char *name, const struct rep *r,
			   const struct nbd_export *exp)
{
	/* NBD_INFO_EXPORT: type 0, size, flags; BLOCK_SIZE: 3, 512, 4K, 32M */
	CHECK(r[0].len == 12 && be_get(r[0].data, 2) == 0 &&
		      be_get(r[0].data + 2, 8) == exp->size_bytes &&
		      be_get(r[0].data + 10, 2) == exp->flags,
	      "%s: NBD_INFO_EXPORT", name);
	CHECK(r[1].len == 14 && be_get(r[1].data, 2) == 3 &&
		      be_get(r[1].data + 2, 4) == 512 &&
		      be_get(r[1].data + 6, 4) == 4096 &&
		      be_get(r[1].data + 10, 4) == 32 * MiB,
	      "%s: NBD_INFO_BLOCK_SIZE", name);
	CHECK(r[2].len == 0, "%s: ACK has no data", name);
}

static void test_options(void)
{
	const struct nbd_export *exps[] = { &exp_rw, &exp_ro };
	struct nbd_answer a;
	struct rep r[8];
	unsigned int i, e, n;

	for (i = 0; i < sizeof(opt_cases) / sizeof(opt_cases[0]); i++) {
		const struct opt_case *c = &opt_cases[i];

		for (e = 0; e < 2; e++) {
			run_opt(c, exps[e], &a, r, &n);
			if (n == 3 && r[0].type == INFO)
				check_go_infos(c->name, r, exps[e]);
			/* LIST: one export, the empty name (u32 length 0) */
			if (n == 2 && r[0].type == SERVER)
				CHECK(r[0].len == 4 &&
					      be_get(r[0].data, 4) == 0,
				      "%s: one export, the empty name",
				      c->name);
			if (c->next == NBD_NEXT_HANGUP && !c->types[0])
				CHECK(a.len == 0, "%s: nothing to send",
				      c->name);
		}
	}
}

static void test_export_name(void)
{
	static const struct {
		uint32_t client_flags;
		size_t len;
	} cases[] = { { 1, 134 }, { 0, 134 }, { 3, 10 }, { 2, 10 } };
	struct nbd_opt opt = { 1, 0, false };
	struct nbd_answer a;
	unsigned int i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		nbd_opt_answer(&exp_ro, cases[i].client_flags, &opt, NULL, &a);
		CHECK(a.next == NBD_NEXT_TRANSMIT, "EXPORT_NAME %u: next", i);
		CHECK(a.len == cases[i].len, "EXPORT_NAME flags %u: %zu bytes",
		      cases[i].client_flags, a.len);
		CHECK(be_get(a.bytes, 8) == exp_ro.size_bytes &&
			      be_get(a.bytes + 8, 2) == exp_ro.flags,
		      "EXPORT_NAME: size and flags");
		for (j = 10; j < a.len; j++)
			CHECK(a.bytes[j] == 0, "EXPORT_NAME: zeroes");
	}
}

/* ---- requests ---- */

struct req_case {
	const char *name;
	const struct nbd_export *exp;
	uint32_t magic;
	uint16_t flags, type;
	uint64_t offset;
	uint32_t length;
	int rc;
	uint32_t error;
	uint32_t payload;
};

#define RQ 0x25609513u
#define R 0u /* READ */
#define W 1u /* WRITE */
#define D 2u /* DISC */
#define F 3u /* FLUSH */
#define T 4u /* TRIM */
#define Z 6u /* WRITE_ZEROES */
#define FUA 1u
#define NOHOLE 2u
#define DF 4u
#define REQONE 8u
#define FASTZERO 16u
#define EPERM_ 1u
#define EINVAL_ 22u
#define ENOSPC_ 28u

/* clang-format off */
static const struct req_case req_cases[] = {
	/* well-formed */
	{ "read", &exp_rw, RQ, 0, R, 0, 4096, 0, 0, 0 },
	{ "read last sector", &exp_rw, RQ, 0, R, MiB - 512, 512, 0, 0, 0 },
	{ "read whole export", &exp_rw, RQ, 0, R, 0, MiB, 0, 0, 0 },
	{ "read 32 MiB", &exp_big, RQ, 0, R, GiB, 32 * MiB, 0, 0, 0 },
	{ "read FUA", &exp_rw, RQ, FUA, R, 0, 512, 0, 0, 0 },
	{ "read read-only", &exp_ro, RQ, 0, R, 512, 512, 0, 0, 0 },
	{ "write", &exp_rw, RQ, 0, W, 8192, 4096, 0, 0, 4096 },
	{ "write FUA", &exp_rw, RQ, FUA, W, 512, 1024, 0, 0, 1024 },
	{ "write 32 MiB", &exp_big, RQ, 0, W, 0, 32 * MiB, 0, 0, 32 * MiB },
	{ "flush", &exp_rw, RQ, 0, F, 0, 0, 0, 0, 0 },
	{ "flush FUA", &exp_rw, RQ, FUA, F, 0, 0, 0, 0, 0 },
	{ "flush read-only", &exp_ro, RQ, 0, F, 0, 0, 0, 0, 0 },
	{ "trim", &exp_rw, RQ, 0, T, 4096, 8192, 0, 0, 0 },
	{ "trim FUA", &exp_rw, RQ, FUA, T, 0, 512, 0, 0, 0 },
	{ "trim 4 GiB - 512", &exp_big, RQ, 0, T, 0, 0xfffffe00u, 0, 0, 0 },
	{ "zeroes", &exp_rw, RQ, 0, Z, 512, 512, 0, 0, 0 },
	{ "zeroes NO_HOLE FUA", &exp_rw, RQ, NOHOLE | FUA, Z, 0, MiB, 0, 0,
	  0 },
	{ "zeroes 4 GiB - 512", &exp_big, RQ, NOHOLE, Z, GiB, 0xfffffe00u, 0,
	  0, 0 },
	{ "disc", &exp_rw, RQ, 0, D, 0, 0, 0, 0, 0 },

	/* framing */
	{ "bad magic", &exp_rw, 0x25609514u, 0, R, 0, 512, -EPROTO, 0, 0 },
	{ "historic magic", &exp_rw, 0x12560953u, 0, R, 0, 512, -EPROTO, 0,
	  0 },
	{ "extended-header magic", &exp_rw, 0x21e41c71u, 0, R, 0, 512,
	  -EPROTO, 0, 0 },
	{ "reply magic", &exp_rw, 0x67446698u, 0, R, 0, 512, -EPROTO, 0, 0 },
	{ "write over 32 MiB", &exp_big, RQ, 0, W, 0, 32 * MiB + 512,
	  -EMSGSIZE, 0, 0 },
	{ "write 4 GiB", &exp_big, RQ, 0, W, 0, 0xffffffffu, -EMSGSIZE, 0, 0 },
	{ "write over 32 MiB, read-only", &exp_ro, RQ, 0, W, 0, 64 * MiB,
	  -EMSGSIZE, 0, 0 },

	/* commands and flags */
	{ "cache", &exp_rw, RQ, 0, 5, 0, 512, 0, EINVAL_, 0 },
	{ "block status", &exp_rw, RQ, 0, 7, 0, 512, 0, EINVAL_, 0 },
	{ "resize", &exp_rw, RQ, 0, 8, 0, 512, 0, EINVAL_, 0 },
	{ "type 0xffff", &exp_rw, RQ, 0, 0xffff, 0, 512, 0, EINVAL_, 0 },
	{ "read DF", &exp_rw, RQ, DF, R, 0, 512, 0, EINVAL_, 0 },
	{ "read NO_HOLE", &exp_rw, RQ, NOHOLE, R, 0, 512, 0, EINVAL_, 0 },
	{ "read REQ_ONE", &exp_rw, RQ, REQONE, R, 0, 512, 0, EINVAL_, 0 },
	{ "read flag 15", &exp_rw, RQ, 0x8000, R, 0, 512, 0, EINVAL_, 0 },
	{ "read FUA, read-only (FUA unadvertised)", &exp_ro, RQ, FUA, R, 0,
	  512, 0, EINVAL_, 0 },
	{ "write NO_HOLE", &exp_rw, RQ, NOHOLE, W, 0, 512, 0, EINVAL_, 512 },
	{ "write flag 5", &exp_rw, RQ, 32, W, 0, 512, 0, EINVAL_, 512 },
	{ "trim NO_HOLE", &exp_rw, RQ, NOHOLE, T, 0, 512, 0, EINVAL_, 0 },
	{ "zeroes FAST_ZERO (unadvertised)", &exp_rw, RQ, FASTZERO, Z, 0,
	  512, 0, EINVAL_, 0 },
	{ "zeroes DF", &exp_rw, RQ, DF, Z, 0, 512, 0, EINVAL_, 0 },
	{ "flush offset", &exp_rw, RQ, 0, F, 512, 0, 0, EINVAL_, 0 },
	{ "flush length", &exp_rw, RQ, 0, F, 0, 512, 0, EINVAL_, 0 },
	{ "flush NO_HOLE", &exp_rw, RQ, NOHOLE, F, 0, 0, 0, EINVAL_, 0 },
	{ "write, nothing advertised", &exp_bare, RQ, 0, W, 0, 512, 0, 0, 512 },
	{ "write FUA unadvertised", &exp_bare, RQ, FUA, W, 0, 512, 0, EINVAL_,
	  512 },
	{ "flush unadvertised", &exp_bare, RQ, 0, F, 0, 0, 0, EINVAL_, 0 },
	{ "trim unadvertised", &exp_bare, RQ, 0, T, 0, 512, 0, EINVAL_, 0 },
	{ "zeroes unadvertised", &exp_bare, RQ, 0, Z, 0, 512, 0, EINVAL_, 0 },

	/* read-only */
	{ "write read-only", &exp_ro, RQ, 0, W, 0, 4096, 0, EPERM_, 4096 },
	{ "trim read-only", &exp_ro, RQ, 0, T, 0, 4096, 0, EPERM_, 0 },
	{ "zeroes read-only", &exp_ro, RQ, 0, Z, 0, 4096, 0, EPERM_, 0 },
	{ "write read-only past end", &exp_ro, RQ, 0, W, MiB, 512, 0, EPERM_,
	  512 },

	/* lengths and alignment */
	{ "read 0 bytes", &exp_rw, RQ, 0, R, 0, 0, 0, EINVAL_, 0 },
	{ "write 0 bytes", &exp_rw, RQ, 0, W, 0, 0, 0, EINVAL_, 0 },
	{ "trim 0 bytes", &exp_rw, RQ, 0, T, 0, 0, 0, EINVAL_, 0 },
	{ "zeroes 0 bytes", &exp_rw, RQ, 0, Z, 0, 0, 0, EINVAL_, 0 },
	{ "read over 32 MiB", &exp_big, RQ, 0, R, 0, 32 * MiB + 512, 0,
	  EINVAL_, 0 },
	{ "read 4 GiB - 1", &exp_big, RQ, 0, R, 0, 0xffffffffu, 0, EINVAL_,
	  0 },
	{ "read offset 511", &exp_rw, RQ, 0, R, 511, 512, 0, EINVAL_, 0 },
	{ "read length 513", &exp_rw, RQ, 0, R, 0, 513, 0, EINVAL_, 0 },
	{ "read length 1", &exp_rw, RQ, 0, R, 0, 1, 0, EINVAL_, 0 },
	{ "write offset 4095", &exp_rw, RQ, 0, W, 4095, 4096, 0, EINVAL_,
	  4096 },
	{ "write length 100", &exp_rw, RQ, 0, W, 0, 100, 0, EINVAL_, 100 },
	{ "trim offset 1", &exp_rw, RQ, 0, T, 1, 512, 0, EINVAL_, 0 },
	{ "zeroes length 511", &exp_rw, RQ, 0, Z, 0, 511, 0, EINVAL_, 0 },

	/* bounds */
	{ "read past end", &exp_rw, RQ, 0, R, MiB - 512, 1024, 0, EINVAL_, 0 },
	{ "read at end", &exp_rw, RQ, 0, R, MiB, 512, 0, EINVAL_, 0 },
	{ "read far past end", &exp_rw, RQ, 0, R, 1ull << 40, 512, 0, EINVAL_,
	  0 },
	{ "read offset wraps", &exp_rw, RQ, 0, R, 0xfffffffffffffe00ull, 1024,
	  0, EINVAL_, 0 },
	{ "read offset max", &exp_rw, RQ, 0, R, 0xffffffffffffffffull, 512, 0,
	  EINVAL_, 0 },
	{ "trim past end", &exp_rw, RQ, 0, T, 512, MiB, 0, EINVAL_, 0 },
	{ "trim wraps", &exp_big, RQ, 0, T, 0xffffffffffff0000ull,
	  0x20000u, 0, EINVAL_, 0 },
	{ "write past end", &exp_rw, RQ, 0, W, MiB - 512, 1024, 0, ENOSPC_,
	  1024 },
	{ "write wraps", &exp_rw, RQ, 0, W, 0xfffffffffffffe00ull, 1024, 0,
	  ENOSPC_, 1024 },
	{ "zeroes past end", &exp_rw, RQ, 0, Z, MiB, 512, 0, ENOSPC_, 0 },
	{ "zeroes 4 GiB over a 1 MiB export", &exp_rw, RQ, 0, Z, 0,
	  0xfffffe00u, 0, ENOSPC_, 0 },
};
/* clang-format on */

static void test_requests(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		struct nbd_request req;
		uint8_t h[28];
		int rc;

		memset(&req, 0xa5, sizeof(req));
		be_put(h, c->magic, 4);
		be_put(h + 4, c->flags, 2);
		be_put(h + 6, c->type, 2);
		be_put(h + 8, 0x0102030405060708ull + i, 8);
		be_put(h + 16, c->offset, 8);
		be_put(h + 24, c->length, 4);
		rc = nbd_decode_request(h, c->exp, &req);
		CHECK(rc == c->rc, "%s: rc %d, expected %d", c->name, rc,
		      c->rc);
		if (rc) {
			CHECK(req.cookie == 0xa5a5a5a5a5a5a5a5ull,
			      "%s: set on failure", c->name);
			continue;
		}
		CHECK(req.error == c->error, "%s: error %u, expected %u",
		      c->name, req.error, c->error);
		CHECK(req.payload_bytes == c->payload, "%s: payload %u",
		      c->name, req.payload_bytes);
		CHECK(req.cookie == 0x0102030405060708ull + i &&
			      req.offset == c->offset &&
			      req.length == c->length && req.type == c->type &&
			      req.flags == c->flags,
		      "%s: fields", c->name);
	}
}

static void test_reply(void)
{
	static const uint8_t want[16] = { 0x67, 0x44, 0x66, 0x98, 0,	0,
					  0,	0x1c, 0xfe, 0xdc, 0xba, 0x98,
					  0x76, 0x54, 0x32, 0x10 };
	uint8_t out[16];

	nbd_write_reply(out, 28, 0xfedcba9876543210ull);
	CHECK(!memcmp(out, want, sizeof(want)), "reply bytes");
}

static void test_error_of(void)
{
	static const struct {
		int rc;
		bool enospc;
		uint32_t nbd;
	} cases[] = {
		{ 0, false, 0 },       { 0, true, 0 },
		{ -ENOSPC, false, 5 }, { -ENOSPC, true, 28 },
		{ -EDQUOT, false, 5 }, { -EDQUOT, true, 28 },
		{ -EFBIG, true, 28 },  { -EROFS, false, 1 },
		{ -EROFS, true, 1 },   { -EIO, false, 5 },
		{ -EIO, true, 5 },     { -ENOMEM, false, 5 },
		{ -EINVAL, false, 5 }, { -ERANGE, true, 5 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(nbd_error_of(cases[i].rc, cases[i].enospc) ==
			      cases[i].nbd,
		      "rc %d enospc %d: %u", cases[i].rc, cases[i].enospc,
		      nbd_error_of(cases[i].rc, cases[i].enospc));
}

int main(void)
{
	test_export_flags();
	test_greeting();
	test_client_flags();
	test_opt_header();
	test_options();
	test_export_name();
	test_requests();
	test_reply();
	test_error_of();
	printf("test-nbd-proto: %zu request cases, all passed\n",
	       sizeof(req_cases) / sizeof(req_cases[0]));
	return 0;
}
