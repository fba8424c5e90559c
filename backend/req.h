/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One blkif request, taken off the shared ring into private memory, and the
 * checks it must pass before anything acts on it. Pure functions: no I/O, no
 * allocation, no Xen headers. The ring loop (backend/ring.c) calls, per slot:
 *
 *   req_decode()          copy the slot once, decode the copy
 *   req_validate()        checklist steps 2-6 on everything the slot says
 *   (INDIRECT only) grant-copy req_indirect_pages() pages privately, then
 *   req_decode_indirect() and req_validate_segs()
 *   ... do the I/O ...
 *   req_write_response()  id, op, status in place, padding zeroed
 */
#ifndef XE_BACKEND_REQ_H
#define XE_BACKEND_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/blkif.h"

/* One data segment: a 4 KiB granted page and an inclusive sector range. */
struct req_seg {
	uint32_t gref;
	uint8_t first_sect;
	uint8_t last_sect;
};

/*
 * A decoded request. Every field came from guest memory and is untrusted
 * until req_validate() (and, for INDIRECT, req_validate_segs()) returned
 * REQ_OK for it.
 */
struct req {
	uint8_t operation; /* XE_BLKIF_OP_*, or anything */
	uint8_t indirect_op; /* INDIRECT only: the data op */
	uint16_t nr_segments; /* u8 on the wire, u16 for INDIRECT */
	uint64_t id; /* echoed, never interpreted */
	uint64_t sector_number; /* 512-byte units */
	uint64_t discard_nr_sectors; /* DISCARD only */
	bool discard_secure; /* DISCARD only */
	struct req_seg seg[XE_BLKIF_MAX_SEGS]; /* direct requests only */
	/* INDIRECT only: the pages holding the descriptors */
	uint32_t indirect_grefs[XE_BLKIF_MAX_INDIRECT_PAGES];
};

/* What the device advertised; req_validate() holds requests against it. */
struct req_features {
	bool flush; /* feature-flush-cache */
	bool discard; /* feature-discard */
	bool discard_secure; /* discard-secure */
	bool read_only; /* info has VDISK_READONLY */
	uint16_t max_indirect_segs; /* 0: no INDIRECT; above 4096: 4096 */
	uint64_t sectors; /* disk size in 512-byte units */
	uint32_t sector_size; /* logical block: 512, 1024, 2048 or 4096 bytes */
};

/* The verdict on a request is the status of its response, or OK to go on. */
enum req_verdict {
	REQ_OK = XE_BLKIF_RSP_OKAY,
	REQ_ERROR = XE_BLKIF_RSP_ERROR,
	REQ_EOPNOTSUPP = XE_BLKIF_RSP_EOPNOTSUPP,
};

/*
 * Copy the ring slot at slot (XE_BLKIF_SLOT_BYTES(abi) bytes of guest memory)
 * into private memory reading each byte exactly once, then decode the copy
 * into *req_r. Returns 0, or -EINVAL for an unknown abi.
 */
int req_decode(const volatile void *slot, enum xe_blkif_abi abi,
	       struct req *req_r);

/*
 * Checklist steps 2-6 (operation, segment counts, segments, range, read-only)
 * for everything carried in the slot. For INDIRECT the segments are not known
 * yet: REQ_OK means "fetch req_indirect_pages() pages and go on".
 */
enum req_verdict req_validate(const struct req *req,
			      const struct req_features *feat);

/* Indirect pages an INDIRECT request uses; only after req_validate() == OK. */
unsigned int req_indirect_pages(const struct req *req);

/*
 * Decode nr_segments descriptors from a private copy of the indirect pages
 * (pages_len bytes, page after page) into segs_r[0..nr_segments-1], each
 * byte read once, each descriptor checked (last_sect <= 7, first <= last).
 * REQ_ERROR if a descriptor is bad or pages_len too short for nr_segments;
 * then segs_r may be partly written (it can be 32 KiB: no private copy).
 */
enum req_verdict req_decode_indirect(const uint8_t *pages, size_t pages_len,
				     uint16_t nr_segments,
				     struct req_seg *segs_r);

/*
 * Steps 4-6 for a request's n segments (direct: req->seg, indirect: what
 * req_decode_indirect() gave): each segment valid and aligned to the sector
 * size, the range inside the disk, no write to a read-only disk.
 */
enum req_verdict req_validate_segs(const struct req *req,
				   const struct req_seg *segs, unsigned int n,
				   const struct req_features *feat);

/* The operation a response must carry: indirect_op for INDIRECT. */
uint8_t req_response_op(const struct req *req);

/*
 * Write the response for req into the ring slot at slot (guest memory): id,
 * operation (req_response_op()), status, and every padding byte of the
 * response as 0. Writes only the response's bytes, each once.
 */
void req_write_response(volatile void *slot, enum xe_blkif_abi abi,
			const struct req *req, int16_t status);

#endif
