/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for backend/req.c: decoding of both ABIs, every hostile request
 * class that is decidable from the slot and the indirect pages, and the
 * response writer. Slots are built byte by byte from the offset tables, not
 * from our own headers' structs, so a wrong offset in blkif.h shows up.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "backend/req.h"
#include "tests/check.h"

static const enum xe_blkif_abi abis[] = { XE_BLKIF_ABI_NATIVE,
					  XE_BLKIF_ABI_X86_32 };

static void put_le(uint8_t *p, uint64_t v, unsigned int bytes)
{
	unsigned int i;

	for (i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* offsets of id/sector/seg (or nr_sectors, indirect grefs) per ABI */
static size_t shift(enum xe_blkif_abi abi)
{
	return abi == XE_BLKIF_ABI_X86_32 ? 4 : 0;
}

static void make_rw(uint8_t *slot, enum xe_blkif_abi abi, uint8_t op,
		    uint8_t nseg, uint64_t id, uint64_t sector, uint8_t first,
		    uint8_t last)
{
	size_t s = shift(abi);
	unsigned int i;

	memset(slot, 0, XE_BLKIF_SLOT_BYTES_NATIVE);
	slot[0] = op;
	slot[1] = nseg;
	put_le(slot + 2, 0xdead, 2);
	put_le(slot + 8 - s, id, 8);
	put_le(slot + 16 - s, sector, 8);
	for (i = 0; i < 11; i++) {
		uint8_t *seg = slot + 24 - s + 8 * i;

		put_le(seg, 1000 + i, 4);
		seg[4] = first;
		seg[5] = last;
	}
}

static void make_discard(uint8_t *slot, enum xe_blkif_abi abi, uint8_t flag,
			 uint64_t sector, uint64_t nr)
{
	size_t s = shift(abi);

	memset(slot, 0, XE_BLKIF_SLOT_BYTES_NATIVE);
	slot[0] = XE_BLKIF_OP_DISCARD;
	slot[1] = flag;
	put_le(slot + 8 - s, 77, 8);
	put_le(slot + 16 - s, sector, 8);
	put_le(slot + 24 - s, nr, 8);
}

static void make_indirect(uint8_t *slot, enum xe_blkif_abi abi, uint8_t iop,
			  uint16_t nseg, uint64_t sector)
{
	size_t s = shift(abi);
	unsigned int i;

	memset(slot, 0, XE_BLKIF_SLOT_BYTES_NATIVE);
	slot[0] = XE_BLKIF_OP_INDIRECT;
	slot[1] = iop;
	put_le(slot + 2, nseg, 2);
	put_le(slot + 8 - s, 0x0123456789abcdefull, 8);
	put_le(slot + 16 - s, sector, 8);
	for (i = 0; i < 8; i++)
		put_le(slot + 28 - s + 4 * i, 500 + i, 4);
}

static const struct req_features feat_rw = {
	.flush = true,
	.discard = true,
	.max_indirect_segs = 256,
	.sectors = 1 << 20, /* 512 MiB */
	.sector_size = 512,
};

static enum req_verdict check_slot(const uint8_t *slot, enum xe_blkif_abi abi,
				   const struct req_features *feat)
{
	struct req req;

	CHECK_OK(req_decode(slot, abi, &req));
	return req_validate(&req, feat);
}

static void test_decode(enum xe_blkif_abi abi)
{
	uint8_t slot[XE_BLKIF_SLOT_BYTES_NATIVE];
	struct req req;

	make_rw(slot, abi, XE_BLKIF_OP_WRITE, 11, 0xfeedfacecafebeefull, 4096,
		1, 6);
	CHECK_OK(req_decode(slot, abi, &req));
	CHECK(req.operation == XE_BLKIF_OP_WRITE, "op %u", req.operation);
	CHECK(req.nr_segments == 11, "nseg %u", req.nr_segments);
	CHECK(req.id == 0xfeedfacecafebeefull, "id %llx",
	      (unsigned long long)req.id);
	CHECK(req.sector_number == 4096, "sector");
	CHECK(req.seg[0].gref == 1000 && req.seg[10].gref == 1010, "gref");
	CHECK(req.seg[10].first_sect == 1 && req.seg[10].last_sect == 6,
	      "sects");
	CHECK(req_validate(&req, &feat_rw) == REQ_OK, "valid write");

	/* The guest rewrites the slot after we decoded: no effect. */
	memset(slot, 0xff, sizeof(slot));
	CHECK(req.operation == XE_BLKIF_OP_WRITE && req.nr_segments == 11 &&
		      req.seg[3].last_sect == 6,
	      "private copy changed");
	CHECK(req_validate(&req, &feat_rw) == REQ_OK, "still valid");

	make_discard(slot, abi, XE_BLKIF_DISCARD_SECURE, 8, 16);
	CHECK_OK(req_decode(slot, abi, &req));
	CHECK(req.discard_secure && req.sector_number == 8 &&
		      req.discard_nr_sectors == 16 && req.id == 77,
	      "discard fields");

	make_indirect(slot, abi, XE_BLKIF_OP_READ, 300, 64);
	CHECK_OK(req_decode(slot, abi, &req));
	CHECK(req.indirect_op == XE_BLKIF_OP_READ && req.nr_segments == 300 &&
		      req.sector_number == 64 &&
		      req.id == 0x0123456789abcdefull,
	      "indirect fields");
	CHECK(req.indirect_grefs[0] == 500 && req.indirect_grefs[7] == 507,
	      "indirect grefs");
	CHECK(req_validate(&req, &feat_rw) == REQ_ERROR, "300 > max 256");
	CHECK(req_response_op(&req) == XE_BLKIF_OP_READ, "indirect rsp op");

	CHECK_ERR(req_decode(slot, (enum xe_blkif_abi)7, &req), -EINVAL);
}

static void test_ops(enum xe_blkif_abi abi)
{
	uint8_t slot[XE_BLKIF_SLOT_BYTES_NATIVE];
	struct req_features f = feat_rw;
	unsigned int op;
	struct req req;

	/* unknown and never-advertised ops: EOPNOTSUPP, op echoed */
	for (op = 0; op < 256; op++) {
		if (op == XE_BLKIF_OP_READ || op == XE_BLKIF_OP_WRITE ||
		    op == XE_BLKIF_OP_FLUSH_DISKCACHE ||
		    op == XE_BLKIF_OP_DISCARD || op == XE_BLKIF_OP_INDIRECT)
			continue;
		make_rw(slot, abi, (uint8_t)op, 1, 5, 0, 0, 7);
		CHECK_OK(req_decode(slot, abi, &req));
		CHECK(req_validate(&req, &f) == REQ_EOPNOTSUPP, "op %u", op);
		CHECK(req_response_op(&req) == op, "echo op %u", op);
	}

	/* features not advertised */
	f.flush = false;
	f.discard = false;
	f.max_indirect_segs = 0;
	make_rw(slot, abi, XE_BLKIF_OP_FLUSH_DISKCACHE, 0, 1, 0, 0, 0);
	CHECK(check_slot(slot, abi, &f) == REQ_EOPNOTSUPP, "flush off");
	make_discard(slot, abi, 0, 0, 8);
	CHECK(check_slot(slot, abi, &f) == REQ_EOPNOTSUPP, "discard off");
	make_indirect(slot, abi, XE_BLKIF_OP_READ, 1, 0);
	CHECK(check_slot(slot, abi, &f) == REQ_EOPNOTSUPP, "indirect off");
	make_discard(slot, abi, XE_BLKIF_DISCARD_SECURE, 0, 8);
	CHECK(check_slot(slot, abi, &feat_rw) == REQ_EOPNOTSUPP,
	      "secure discard not offered");
}

static void test_segments(enum xe_blkif_abi abi)
{
	uint8_t slot[XE_BLKIF_SLOT_BYTES_NATIVE];
	const struct req_features *f = &feat_rw;
	struct req_features f4k = feat_rw;

	/* counts: READ/WRITE 1..11, FLUSH 0..11 */
	make_rw(slot, abi, XE_BLKIF_OP_READ, 0, 1, 0, 0, 7);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "read 0 segs");
	make_rw(slot, abi, XE_BLKIF_OP_WRITE, 0, 1, 0, 0, 7);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "write 0 segs");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 12, 1, 0, 0, 7);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "12 segs");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 255, 1, 0, 0, 7);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "255 segs");
	make_rw(slot, abi, XE_BLKIF_OP_FLUSH_DISKCACHE, 0, 1, 0, 0, 0);
	CHECK(check_slot(slot, abi, f) == REQ_OK, "empty flush");
	make_rw(slot, abi, XE_BLKIF_OP_FLUSH_DISKCACHE, 12, 1, 0, 0, 7);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "flush 12 segs");
	make_rw(slot, abi, XE_BLKIF_OP_FLUSH_DISKCACHE, 11, 1, 0, 0, 7);
	CHECK(check_slot(slot, abi, f) == REQ_OK, "flush with data");

	/* per segment: last <= 7, first <= last */
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, 0, 0, 8);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "last 8");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, 0, 0, 255);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "last 255");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, 0, 5, 4);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "first > last");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, 0, 7, 7);
	CHECK(check_slot(slot, abi, f) == REQ_OK, "one sector at 7");
	/* a bad segment after the counted ones is not looked at */
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, 0, 0, 7);
	slot[24 - shift(abi) + 8 + 5] = 9;
	CHECK(check_slot(slot, abi, f) == REQ_OK, "unused segment");
	slot[1] = 2;
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "second segment bad");

	/* 4096-byte logical blocks: whole pages, aligned sector numbers */
	f4k.sector_size = 4096;
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, 8, 0, 7);
	CHECK(check_slot(slot, abi, &f4k) == REQ_OK, "4k aligned");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, 8, 1, 7);
	CHECK(check_slot(slot, abi, &f4k) == REQ_ERROR, "4k offset");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, 4, 0, 7);
	CHECK(check_slot(slot, abi, &f4k) == REQ_ERROR, "4k sector");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, 8, 0, 3);
	CHECK(check_slot(slot, abi, &f4k) == REQ_ERROR, "4k length");
}

static void test_range(enum xe_blkif_abi abi)
{
	uint8_t slot[XE_BLKIF_SLOT_BYTES_NATIVE];
	const struct req_features *f = &feat_rw;
	uint64_t end = feat_rw.sectors;

	/* last 11 pages of the disk: ok; one sector more: no */
	make_rw(slot, abi, XE_BLKIF_OP_READ, 11, 1, end - 88, 0, 7);
	CHECK(check_slot(slot, abi, f) == REQ_OK, "up to the end");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 11, 1, end - 87, 0, 7);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "one past the end");
	make_rw(slot, abi, XE_BLKIF_OP_WRITE, 1, 1, end, 0, 0);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "at the end");
	/* sector numbers that wrap when added to or scaled to bytes */
	make_rw(slot, abi, XE_BLKIF_OP_READ, 11, 1, UINT64_MAX - 10, 0, 7);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "wraps on add");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, UINT64_MAX / 512 + 1, 0, 7);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "wraps on scale");
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, UINT64_MAX, 0, 0);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "max sector");

	/* discard: same range rules, nr_sectors from the guest too */
	make_discard(slot, abi, 0, end - 8, 8);
	CHECK(check_slot(slot, abi, f) == REQ_OK, "discard to end");
	make_discard(slot, abi, 0, end - 8, 9);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "discard past end");
	make_discard(slot, abi, 0, 8, UINT64_MAX);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "discard wraps");
	make_discard(slot, abi, 0, UINT64_MAX, 1);
	CHECK(check_slot(slot, abi, f) == REQ_ERROR, "discard far sector");
}

static void test_read_only(enum xe_blkif_abi abi)
{
	uint8_t slot[XE_BLKIF_SLOT_BYTES_NATIVE];
	struct req_features f = feat_rw;
	uint8_t page[XE_BLKIF_PAGE_BYTES] = { 0 };
	struct req_seg segs[1];
	struct req req;

	f.read_only = true;
	make_rw(slot, abi, XE_BLKIF_OP_READ, 1, 1, 0, 0, 7);
	CHECK(check_slot(slot, abi, &f) == REQ_OK, "ro read");
	make_rw(slot, abi, XE_BLKIF_OP_WRITE, 1, 1, 0, 0, 7);
	CHECK(check_slot(slot, abi, &f) == REQ_ERROR, "ro write");
	make_rw(slot, abi, XE_BLKIF_OP_FLUSH_DISKCACHE, 1, 1, 0, 0, 7);
	CHECK(check_slot(slot, abi, &f) == REQ_ERROR, "ro flush+data");
	make_rw(slot, abi, XE_BLKIF_OP_FLUSH_DISKCACHE, 0, 1, 0, 0, 7);
	CHECK(check_slot(slot, abi, &f) == REQ_OK, "ro empty flush");
	make_discard(slot, abi, 0, 0, 8);
	CHECK(check_slot(slot, abi, &f) == REQ_ERROR, "ro discard");
	/* what xenbus advertises for a read-only disk: no discard */
	f.discard = false;
	CHECK(check_slot(slot, abi, &f) == REQ_ERROR,
	      "ro discard, discard not advertised");
	f.discard = true;
	make_indirect(slot, abi, XE_BLKIF_OP_WRITE, 1, 0);
	CHECK(check_slot(slot, abi, &f) == REQ_ERROR, "ro indirect write");
	make_indirect(slot, abi, XE_BLKIF_OP_READ, 1, 0);
	CHECK_OK(req_decode(slot, abi, &req));
	CHECK(req_validate(&req, &f) == REQ_OK, "ro indirect read");
	page[5] = 7;
	CHECK(req_decode_indirect(page, sizeof(page), 1, segs) == REQ_OK,
	      "page");
	CHECK(req_validate_segs(&req, segs, 1, &f) == REQ_OK, "ro read segs");
}

static void test_indirect(enum xe_blkif_abi abi)
{
	static uint8_t pages[XE_BLKIF_MAX_INDIRECT_PAGES * XE_BLKIF_PAGE_BYTES];
	static struct req_seg segs[XE_BLKIF_MAX_INDIRECT_SEGS];
	uint8_t slot[XE_BLKIF_SLOT_BYTES_NATIVE];
	struct req_features f = feat_rw;
	unsigned int i;
	struct req req;

	/* indirect_op must be READ or WRITE */
	for (i = 0; i < 256; i++) {
		make_indirect(slot, abi, (uint8_t)i, 1, 0);
		CHECK(check_slot(slot, abi, &f) ==
			      (i <= XE_BLKIF_OP_WRITE ? REQ_OK : REQ_ERROR),
		      "indirect_op %u", i);
	}
	/* counts: 1..max, the u16 checked before pages are computed */
	make_indirect(slot, abi, XE_BLKIF_OP_READ, 0, 0);
	CHECK(check_slot(slot, abi, &f) == REQ_ERROR, "indirect 0");
	make_indirect(slot, abi, XE_BLKIF_OP_READ, 257, 0);
	CHECK(check_slot(slot, abi, &f) == REQ_ERROR, "indirect 257");
	make_indirect(slot, abi, XE_BLKIF_OP_READ, 65535, 0);
	CHECK(check_slot(slot, abi, &f) == REQ_ERROR, "indirect 65535");
	f.max_indirect_segs = 65535; /* misconfigured: capped at 4096 */
	make_indirect(slot, abi, XE_BLKIF_OP_READ, 4097, 0);
	CHECK(check_slot(slot, abi, &f) == REQ_ERROR, "indirect 4097");
	make_indirect(slot, abi, XE_BLKIF_OP_READ, 4096, 0);
	CHECK_OK(req_decode(slot, abi, &req));
	CHECK(req_validate(&req, &f) == REQ_OK, "indirect 4096");
	CHECK(req_indirect_pages(&req) == 8, "8 pages");

	/* descriptors: all valid full pages, the whole disk range */
	for (i = 0; i < XE_BLKIF_MAX_INDIRECT_SEGS; i++) {
		put_le(pages + 8 * i, 9000 + i, 4);
		pages[8 * i + 4] = 0;
		pages[8 * i + 5] = 7;
	}
	CHECK(req_decode_indirect(pages, sizeof(pages), 4096, segs) == REQ_OK,
	      "4096 descriptors");
	CHECK(segs[4095].gref == 9000 + 4095 && segs[4095].last_sect == 7,
	      "last descriptor");
	f.sectors = 4096 * 8;
	CHECK(req_validate_segs(&req, segs, 4096, &f) == REQ_OK, "fits");
	f.sectors--;
	CHECK(req_validate_segs(&req, segs, 4096, &f) == REQ_ERROR, "1 over");
	f.sectors++;
	/* too short a copy for the count */
	CHECK(req_decode_indirect(pages, sizeof(pages) - 1, 4096, segs) ==
		      REQ_ERROR,
	      "short pages");
	/* a bad descriptor anywhere */
	pages[8 * 1000 + 5] = 8;
	CHECK(req_decode_indirect(pages, sizeof(pages), 4096, segs) ==
		      REQ_ERROR,
	      "last 8 in descriptor 1000");
	pages[8 * 1000 + 5] = 7;
	pages[8 * 4095 + 4] = 7;
	pages[8 * 4095 + 5] = 6;
	CHECK(req_decode_indirect(pages, sizeof(pages), 4096, segs) ==
		      REQ_ERROR,
	      "first > last in descriptor 4095");

	/* indirect range: sector numbers that overflow */
	make_indirect(slot, abi, XE_BLKIF_OP_READ, 1, UINT64_MAX);
	CHECK(check_slot(slot, abi, &f) == REQ_ERROR, "indirect far sector");
	make_indirect(slot, abi, XE_BLKIF_OP_READ, 2, f.sectors - 8);
	CHECK_OK(req_decode(slot, abi, &req));
	CHECK(req_validate(&req, &f) == REQ_OK, "header ok");
	CHECK(req_validate_segs(&req, segs, 2, &f) == REQ_ERROR,
	      "2 pages at the last page");
}

static void test_response(enum xe_blkif_abi abi)
{
	uint8_t slot[XE_BLKIF_SLOT_BYTES_NATIVE];
	size_t rsp = abi == XE_BLKIF_ABI_X86_32 ? 12 : 16;
	struct req req;
	size_t i;

	make_indirect(slot, abi, XE_BLKIF_OP_WRITE, 1, 0);
	CHECK_OK(req_decode(slot, abi, &req));
	memset(slot, 0xee, sizeof(slot));
	req_write_response(slot, abi, &req, XE_BLKIF_RSP_EOPNOTSUPP);
	for (i = 0; i < 8; i++)
		CHECK(slot[i] == (uint8_t)(0x0123456789abcdefull >> (8 * i)),
		      "id byte %zu", i);
	CHECK(slot[8] == XE_BLKIF_OP_WRITE, "indirect_op echoed, not 6");
	CHECK(slot[9] == 0, "pad byte 9 (XSA-216)");
	CHECK(slot[10] == 0xfe && slot[11] == 0xff, "status -2 LE");
	for (i = 12; i < rsp; i++)
		CHECK(slot[i] == 0, "trailing pad %zu (XSA-216)", i);
	for (i = rsp; i < sizeof(slot); i++)
		CHECK(slot[i] == 0xee, "byte %zu beyond the response", i);
}

int main(void)
{
	unsigned int i;

	CHECK(XE_BLKIF_RING_ENTRIES(0) == 32 && XE_BLKIF_RING_ENTRIES(4) == 512,
	      "ring entries");
	/* the ring of 2^k pages holds 32 << k slots for both strides */
	for (i = 0; i <= 4; i++) {
		unsigned int bytes = (4096u << i) - XE_BLKIF_RING_OFF_SLOTS;

		CHECK(bytes / XE_BLKIF_SLOT_BYTES_NATIVE >=
				      XE_BLKIF_RING_ENTRIES(i) &&
			      bytes / XE_BLKIF_SLOT_BYTES_X86_32 <
				      2 * XE_BLKIF_RING_ENTRIES(i),
		      "order %u", i);
	}
	for (i = 0; i < 2; i++) {
		test_decode(abis[i]);
		test_ops(abis[i]);
		test_segments(abis[i]);
		test_range(abis[i]);
		test_read_only(abis[i]);
		test_indirect(abis[i]);
		test_response(abis[i]);
	}
	return 0;
}
