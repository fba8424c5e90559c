/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: one blkif request through decode and validation, both ABIs.
 *
 * Input: a 12-byte header choosing the advertised features, then one ring
 * slot (112 bytes, zero-padded if short; the x86_32 view uses its first
 * 108), then the rest as the private copy of the indirect pages. Slot and
 * pages live in heap buffers of their exact size, so a sanitizer build
 * catches any overread. Besides "no crash", abort() on any accepted request
 * that breaks a rule the validator promises.
 *
 * Header: [0] bit0 flush, bit1 discard, bit2 discard-secure, bit3 read-only;
 * [1..2] max indirect segments (LE, mod 4097); [3] sector size 512 << (x%4);
 * [4..11] disk sectors (LE).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/req.h"

#define HDR_BYTES 12u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct req_seg segs[XE_BLKIF_MAX_INDIRECT_SEGS];

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* What an accepted request must satisfy, checked independently. */
static void check_accepted(const struct req *req, const struct req_seg *s,
			   unsigned int n, const struct req_features *feat)
{
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (s[i].last_sect > 7 || s[i].first_sect > s[i].last_sect)
			abort();
		total += s[i].last_sect - s[i].first_sect + 1u;
	}
	if (n && (req->sector_number > feat->sectors ||
		  total > feat->sectors - req->sector_number))
		abort();
	if (feat->read_only && (req->operation == XE_BLKIF_OP_WRITE ||
				req->operation == XE_BLKIF_OP_DISCARD ||
				(req->operation == XE_BLKIF_OP_INDIRECT &&
				 req->indirect_op == XE_BLKIF_OP_WRITE)))
		abort();
}

static void one_abi(const uint8_t *slot_bytes, enum xe_blkif_abi abi,
		    const uint8_t *pages, size_t pages_len,
		    const struct req_features *feat)
{
	size_t stride = XE_BLKIF_SLOT_BYTES(abi);
	uint8_t *slot = malloc(stride);
	enum req_verdict v;
	struct req req;
	unsigned int i;

	if (!slot)
		abort();
	memcpy(slot, slot_bytes, stride);
	if (req_decode(slot, abi, &req) != 0)
		abort();
	v = req_validate(&req, feat);
	if (v == REQ_OK) {
		switch (req.operation) {
		case XE_BLKIF_OP_READ:
		case XE_BLKIF_OP_WRITE:
			if (req.nr_segments < 1 || req.nr_segments > 11)
				abort();
			check_accepted(&req, req.seg, req.nr_segments, feat);
			break;
		case XE_BLKIF_OP_FLUSH_DISKCACHE:
			if (!feat->flush || req.nr_segments > 11)
				abort();
			check_accepted(&req, req.seg, req.nr_segments, feat);
			break;
		case XE_BLKIF_OP_DISCARD:
			if (!feat->discard || feat->read_only ||
			    req.sector_number + req.discard_nr_sectors <
				    req.sector_number ||
			    req.sector_number + req.discard_nr_sectors >
				    feat->sectors)
				abort();
			break;
		case XE_BLKIF_OP_INDIRECT:
			if (req.nr_segments < 1 ||
			    req.nr_segments > feat->max_indirect_segs ||
			    req_indirect_pages(&req) >
				    XE_BLKIF_MAX_INDIRECT_PAGES)
				abort();
			if (req_decode_indirect(pages, pages_len,
						req.nr_segments,
						segs) != REQ_OK)
				break;
			if (req_validate_segs(&req, segs, req.nr_segments,
					      feat) == REQ_OK)
				check_accepted(&req, segs, req.nr_segments,
					       feat);
			break;
		default:
			abort(); /* unknown op accepted */
		}
	}

	/* The response: fields where the ABI says, padding zero. */
	memset(slot, 0xa5, stride);
	req_write_response(slot, abi, &req, (int16_t)v);
	if (slot[XE_BLKIF_RSP_OFF_OP] != req_response_op(&req) ||
	    slot[XE_BLKIF_RSP_OFF_PAD] != 0 || (uint64_t)le64(slot) != req.id ||
	    (int16_t)(slot[10] | slot[11] << 8) != (int16_t)v)
		abort();
	for (i = 12; i < (abi == XE_BLKIF_ABI_X86_32 ? 12u : 16u); i++)
		if (slot[i] != 0)
			abort();
	for (; i < stride; i++) /* nothing beyond the response touched */
		if (slot[i] != 0xa5)
			abort();
	free(slot);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t slot[XE_BLKIF_SLOT_BYTES_NATIVE] = { 0 };
	struct req_features feat;
	const uint8_t *rest;
	uint8_t *pages;
	size_t rest_len;

	if (size < HDR_BYTES)
		return 0;
	memset(&feat, 0, sizeof(feat));
	feat.flush = data[0] & 1;
	feat.discard = data[0] & 2;
	feat.discard_secure = data[0] & 4;
	feat.read_only = data[0] & 8;
	feat.max_indirect_segs = (uint16_t)((data[1] | data[2] << 8) % 4097);
	feat.sector_size = 512u << (data[3] % 4);
	feat.sectors = le64(data + 4);

	rest = data + HDR_BYTES;
	rest_len = size - HDR_BYTES;
	memcpy(slot, rest, rest_len < sizeof(slot) ? rest_len : sizeof(slot));
	rest += rest_len < sizeof(slot) ? rest_len : sizeof(slot);
	rest_len -= rest_len < sizeof(slot) ? rest_len : sizeof(slot);

	pages = malloc(rest_len ? rest_len : 1);
	if (!pages)
		abort();
	memcpy(pages, rest, rest_len);
	one_abi(slot, XE_BLKIF_ABI_NATIVE, pages, rest_len, &feat);
	one_abi(slot, XE_BLKIF_ABI_X86_32, pages, rest_len, &feat);
	free(pages);
	return 0;
}
