/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Decoding and validation of blkif requests (XSA-155 discipline).
 *
 * Guest memory is touched in exactly two places: read_slot(), which copies a
 * whole slot byte by byte through a volatile pointer and then puts a compiler
 * barrier between the copy and everything after it, and
 * req_write_response(), which stores each response byte once. Every decision
 * is taken on the private copy, so a frontend rewriting the slot (or an
 * indirect page, which the caller grant-copies privately first) after we
 * looked cannot change what we validated.
 *
 * Arithmetic on untrusted values is done in u64 and bounded before any
 * multiplication or shift; nothing here asserts on guest input.
 *
 * Not here: the ring indices, which belong to the ring loop.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "backend/req.h"

#define compiler_barrier() __asm__ __volatile__("" ::: "memory")

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned int)p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void decode_seg(const uint8_t *p, struct req_seg *seg)
{
	seg->gref = get_le32(p + XE_BLKIF_SEG_OFF_GREF);
	seg->first_sect = p[XE_BLKIF_SEG_OFF_FIRST];
	seg->last_sect = p[XE_BLKIF_SEG_OFF_LAST];
}

/*
 * The only read of a request slot: every byte once, then a barrier. Ring
 * slots start 4-byte aligned and are a whole number of 32-bit words long
 * (112 or 108 bytes), so they are copied word by word: each word, hence
 * each byte, is loaded exactly once. Anything else (a test's buffer) byte
 * by byte.
 */
static void read_slot(const volatile void *slot, size_t len, uint8_t *copy)
{
	size_t i;

	if ((uintptr_t)slot % 4 == 0 && len % 4 == 0) {
		const volatile uint32_t *untrusted_src = slot;

		for (i = 0; i < len / 4; i++) {
			uint32_t w = untrusted_src[i];

			memcpy(copy + 4 * i, &w, 4);
		}
	} else {
		const volatile uint8_t *untrusted_src = slot;

		for (i = 0; i < len; i++)
			copy[i] = untrusted_src[i];
	}
	compiler_barrier();
}
_Static_assert(XE_BLKIF_SLOT_BYTES_NATIVE % 4 == 0 &&
		       XE_BLKIF_SLOT_BYTES_X86_32 % 4 == 0 &&
		       XE_BLKIF_RING_OFF_SLOTS % 4 == 0,
	       "slots are whole 32-bit words, 4-byte aligned");

int req_decode(const volatile void *slot, enum xe_blkif_abi abi,
	       struct req *req_r)
{
	uint8_t copy[XE_BLKIF_SLOT_BYTES_NATIVE];
	size_t off_id, off_sector, off_seg, off_discard, off_grefs;
	struct req req;
	unsigned int i;

	switch (abi) {
	case XE_BLKIF_ABI_NATIVE:
		off_id = XE_BLKIF_REQ_OFF_ID_NATIVE;
		off_sector = XE_BLKIF_REQ_OFF_SECTOR_NATIVE;
		off_seg = XE_BLKIF_REQ_OFF_SEG_NATIVE;
		off_discard = XE_BLKIF_DISCARD_OFF_NR_SECTORS_NATIVE;
		off_grefs = XE_BLKIF_IND_OFF_GREFS_NATIVE;
		break;
	case XE_BLKIF_ABI_X86_32:
		off_id = XE_BLKIF_REQ_OFF_ID_X86_32;
		off_sector = XE_BLKIF_REQ_OFF_SECTOR_X86_32;
		off_seg = XE_BLKIF_REQ_OFF_SEG_X86_32;
		off_discard = XE_BLKIF_DISCARD_OFF_NR_SECTORS_X86_32;
		off_grefs = XE_BLKIF_IND_OFF_GREFS_X86_32;
		break;
	default:
		return -EINVAL;
	}

	read_slot(slot, XE_BLKIF_SLOT_BYTES(abi), copy);

	/*
	 * Decode every overlay (plain, discard, indirect) from the one copy;
	 * req_validate() looks only at the fields of the operation it finds.
	 */
	memset(&req, 0, sizeof(req));
	req.operation = copy[XE_BLKIF_REQ_OFF_OP];
	req.id = get_le64(copy + off_id);
	req.sector_number = get_le64(copy + off_sector);
	if (req.operation == XE_BLKIF_OP_INDIRECT) {
		req.indirect_op = copy[XE_BLKIF_IND_OFF_OP];
		req.nr_segments = get_le16(copy + XE_BLKIF_IND_OFF_NR_SEGS);
		for (i = 0; i < XE_BLKIF_MAX_INDIRECT_PAGES; i++)
			req.indirect_grefs[i] =
				get_le32(copy + off_grefs + 4 * i);
	} else if (req.operation == XE_BLKIF_OP_DISCARD) {
		req.discard_secure = copy[XE_BLKIF_DISCARD_OFF_FLAG] &
				     XE_BLKIF_DISCARD_SECURE;
		req.discard_nr_sectors = get_le64(copy + off_discard);
	} else {
		req.nr_segments = copy[XE_BLKIF_REQ_OFF_NR_SEGS];
		for (i = 0; i < XE_BLKIF_MAX_SEGS; i++)
			decode_seg(copy + off_seg + XE_BLKIF_SEG_BYTES * i,
				   &req.seg[i]);
	}

	*req_r = req;
	return 0;
}

/* Logical block in 512-byte units; our own config, but never divide by 0. */
static uint64_t sectors_per_block(const struct req_features *feat)
{
	uint32_t spb = feat->sector_size / XE_BLKIF_SECTOR_BYTES;

	return spb ? spb : 1;
}

/* [sector, sector + n) inside the disk, without overflow. */
static bool range_ok(uint64_t sector, uint64_t n,
		     const struct req_features *feat)
{
	return sector <= feat->sectors && n <= feat->sectors - sector;
}

static bool writes_data(const struct req *req)
{
	switch (req->operation) {
	case XE_BLKIF_OP_WRITE:
	case XE_BLKIF_OP_DISCARD:
		return true;
	case XE_BLKIF_OP_FLUSH_DISKCACHE:
		return req->nr_segments > 0; /* flush, then write */
	case XE_BLKIF_OP_INDIRECT:
		return req->indirect_op == XE_BLKIF_OP_WRITE;
	default:
		return false;
	}
}

enum req_verdict req_validate_segs(const struct req *req,
				   const struct req_seg *segs, unsigned int n,
				   const struct req_features *feat)
{
	uint64_t spb = sectors_per_block(feat);
	uint64_t total = 0; /* <= 4096 * 8: no overflow */
	unsigned int i;

	for (i = 0; i < n; i++) {
		const struct req_seg *s = &segs[i];

		if (s->last_sect >= XE_BLKIF_SECTORS_PER_PAGE ||
		    s->first_sect > s->last_sect)
			return REQ_ERROR;
		/* offset and length multiples of the logical block */
		if (s->first_sect % spb ||
		    (s->last_sect - s->first_sect + 1u) % spb)
			return REQ_ERROR;
		total += s->last_sect - s->first_sect + 1u;
	}
	if (n > 0) {
		if (req->sector_number % spb)
			return REQ_ERROR;
		if (!range_ok(req->sector_number, total, feat))
			return REQ_ERROR;
	}
	if (feat->read_only && writes_data(req))
		return REQ_ERROR;
	return REQ_OK;
}

static enum req_verdict validate_discard(const struct req *req,
					 const struct req_features *feat)
{
	uint64_t spb = sectors_per_block(feat);

	/* Read-only first: such a disk never advertises discard, and a
	 * discard on it is a write the guest may not do (ERROR, as blkback
	 * answers), not a feature it merely lacks. */
	if (feat->read_only)
		return REQ_ERROR;
	if (!feat->discard)
		return REQ_EOPNOTSUPP;
	if (req->discard_secure && !feat->discard_secure)
		return REQ_EOPNOTSUPP;
	if (req->sector_number % spb || req->discard_nr_sectors % spb)
		return REQ_ERROR;
	if (!range_ok(req->sector_number, req->discard_nr_sectors, feat))
		return REQ_ERROR;
	return REQ_OK;
}

static enum req_verdict validate_indirect(const struct req *req,
					  const struct req_features *feat)
{
	unsigned int max = feat->max_indirect_segs;

	if (max == 0)
		return REQ_EOPNOTSUPP;
	if (max > XE_BLKIF_MAX_INDIRECT_SEGS)
		max = XE_BLKIF_MAX_INDIRECT_SEGS;
	if (req->indirect_op != XE_BLKIF_OP_READ &&
	    req->indirect_op != XE_BLKIF_OP_WRITE)
		return REQ_ERROR;
	/* the u16 against the limit first, page count only after */
	if (req->nr_segments < 1 || req->nr_segments > max)
		return REQ_ERROR;
	if (feat->read_only && writes_data(req))
		return REQ_ERROR;
	if (req->sector_number % sectors_per_block(feat) ||
	    !range_ok(req->sector_number, 0, feat))
		return REQ_ERROR;
	return REQ_OK;
}

enum req_verdict req_validate(const struct req *req,
			      const struct req_features *feat)
{
	unsigned int min_segs = 1;

	switch (req->operation) {
	case XE_BLKIF_OP_READ:
	case XE_BLKIF_OP_WRITE:
		break;
	case XE_BLKIF_OP_FLUSH_DISKCACHE:
		if (!feat->flush)
			return REQ_EOPNOTSUPP;
		min_segs = 0;
		break;
	case XE_BLKIF_OP_DISCARD:
		return validate_discard(req, feat);
	case XE_BLKIF_OP_INDIRECT:
		return validate_indirect(req, feat);
	case XE_BLKIF_OP_WRITE_BARRIER: /* never advertised */
	case XE_BLKIF_OP_RESERVED_1:
	default:
		return REQ_EOPNOTSUPP;
	}

	if (req->nr_segments < min_segs || req->nr_segments > XE_BLKIF_MAX_SEGS)
		return REQ_ERROR;
	return req_validate_segs(req, req->seg, req->nr_segments, feat);
}

unsigned int req_indirect_pages(const struct req *req)
{
	unsigned int n = req->nr_segments;

	if (n > XE_BLKIF_MAX_INDIRECT_SEGS) /* not validated: be safe */
		n = XE_BLKIF_MAX_INDIRECT_SEGS;
	return (n + XE_BLKIF_SEGS_PER_INDIRECT_PAGE - 1) /
	       XE_BLKIF_SEGS_PER_INDIRECT_PAGE;
}

enum req_verdict req_decode_indirect(const uint8_t *pages, size_t pages_len,
				     uint16_t nr_segments,
				     struct req_seg *segs_r)
{
	unsigned int i;

	if (nr_segments > XE_BLKIF_MAX_INDIRECT_SEGS ||
	    pages_len / XE_BLKIF_SEG_BYTES < nr_segments)
		return REQ_ERROR;
	/*
	 * pages is our private grant-copy, but the descriptors are still the
	 * guest's words: each is decoded once and checked on the decoded copy.
	 */
	for (i = 0; i < nr_segments; i++) {
		decode_seg(pages + (size_t)i * XE_BLKIF_SEG_BYTES, &segs_r[i]);
		if (segs_r[i].last_sect >= XE_BLKIF_SECTORS_PER_PAGE ||
		    segs_r[i].first_sect > segs_r[i].last_sect)
			return REQ_ERROR;
	}
	return REQ_OK;
}

uint8_t req_response_op(const struct req *req)
{
	if (req->operation == XE_BLKIF_OP_INDIRECT)
		return req->indirect_op;
	return req->operation;
}

void req_write_response(volatile void *slot, enum xe_blkif_abi abi,
			const struct req *req, int16_t status)
{
	volatile uint8_t *dst = slot;
	uint16_t ustatus = (uint16_t)status;
	size_t len = abi == XE_BLKIF_ABI_X86_32 ? XE_BLKIF_RSP_BYTES_X86_32 :
						  XE_BLKIF_RSP_BYTES_NATIVE;
	unsigned int i;

	for (i = 0; i < 8; i++)
		dst[XE_BLKIF_RSP_OFF_ID + i] = (uint8_t)(req->id >> (8 * i));
	dst[XE_BLKIF_RSP_OFF_OP] = req_response_op(req);
	dst[XE_BLKIF_RSP_OFF_PAD] = 0;
	dst[XE_BLKIF_RSP_OFF_STATUS] = (uint8_t)ustatus;
	dst[XE_BLKIF_RSP_OFF_STATUS + 1] = (uint8_t)(ustatus >> 8);
	/* native: 4 trailing padding bytes (XSA-216) */
	for (i = XE_BLKIF_RSP_OFF_STATUS + 2; i < len; i++)
		dst[i] = 0;
}
