/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Our own description of the blkif ABI, written from the offset tables of
 * the protocol (Xen's io/blkif.h and io/ring.h are the specification; we do
 * not include or copy them). Nothing here is a C struct overlaid on shared
 * memory: slots are read and written byte-wise at the offsets below (see
 * backend/req.c), so the compiler can neither re-read a field nor leak
 * padding.
 *
 * All multi-byte fields are little-endian (x86 and Arm).
 */
#ifndef XE_BACKEND_BLKIF_H
#define XE_BACKEND_BLKIF_H

/* ---- operations (request "operation" byte) ---- */
#define XE_BLKIF_OP_READ 0u
#define XE_BLKIF_OP_WRITE 1u
#define XE_BLKIF_OP_WRITE_BARRIER 2u
#define XE_BLKIF_OP_FLUSH_DISKCACHE 3u
#define XE_BLKIF_OP_RESERVED_1 4u /* SLES device packets; never served */
#define XE_BLKIF_OP_DISCARD 5u
#define XE_BLKIF_OP_INDIRECT 6u

/* Discard "flag" byte: bit 0 asks for secure erase. */
#define XE_BLKIF_DISCARD_SECURE 0x1u

/* ---- response status (s16) ---- */
#define XE_BLKIF_RSP_OKAY 0
#define XE_BLKIF_RSP_ERROR (-1)
#define XE_BLKIF_RSP_EOPNOTSUPP (-2)

/* ---- limits ---- */
#define XE_BLKIF_PAGE_BYTES 4096u
#define XE_BLKIF_SECTOR_BYTES 512u /* blkif's unit, whatever sector-size is */
#define XE_BLKIF_SECTORS_PER_PAGE 8u
#define XE_BLKIF_MAX_SEGS 11u /* direct segments per request */
#define XE_BLKIF_SEG_BYTES 8u /* one segment descriptor */
#define XE_BLKIF_SEGS_PER_INDIRECT_PAGE 512u /* 4096 / 8 */
#define XE_BLKIF_MAX_INDIRECT_PAGES 8u
#define XE_BLKIF_MAX_INDIRECT_SEGS 4096u /* 8 pages x 512 descriptors */

/*
 * ---- ABIs ----
 * Native x86_64 and Arm share one layout (u64 aligned to 8); x86_32 aligns
 * u64 to 4, so every field after the first 4 bytes moves down by 4.
 */
enum xe_blkif_abi {
	XE_BLKIF_ABI_NATIVE = 0, /* "x86_64-abi" and "arm-abi" */
	XE_BLKIF_ABI_X86_32 = 1, /* "x86_32-abi" */
};

/* What a frontend that writes no "protocol" node speaks (blkback's rule). */
#if defined(__x86_64__) || defined(__i386__)
#define XE_BLKIF_ABI_DEFAULT XE_BLKIF_ABI_X86_32
#else
#define XE_BLKIF_ABI_DEFAULT XE_BLKIF_ABI_NATIVE
#endif

/* Slot stride: max(sizeof request, sizeof response). */
#define XE_BLKIF_SLOT_BYTES_NATIVE 112u
#define XE_BLKIF_SLOT_BYTES_X86_32 108u
#define XE_BLKIF_SLOT_BYTES(abi)                                     \
	((abi) == XE_BLKIF_ABI_X86_32 ? XE_BLKIF_SLOT_BYTES_X86_32 : \
					XE_BLKIF_SLOT_BYTES_NATIVE)

/*
 * ---- request layouts: offsets in bytes from the slot start ----
 * Fields whose offset depends on the ABI have _NATIVE / _X86_32 variants.
 */
/* read / write / barrier / flush */
#define XE_BLKIF_REQ_OFF_OP 0u /* u8 */
#define XE_BLKIF_REQ_OFF_NR_SEGS 1u /* u8 */
#define XE_BLKIF_REQ_OFF_HANDLE 2u /* u16, ignored (never index by it) */
#define XE_BLKIF_REQ_OFF_ID_NATIVE 8u /* u64, echoed in the response */
#define XE_BLKIF_REQ_OFF_ID_X86_32 4u
#define XE_BLKIF_REQ_OFF_SECTOR_NATIVE 16u /* u64, 512-byte units */
#define XE_BLKIF_REQ_OFF_SECTOR_X86_32 12u
#define XE_BLKIF_REQ_OFF_SEG_NATIVE 24u /* seg[11], 8 bytes each */
#define XE_BLKIF_REQ_OFF_SEG_X86_32 20u

/* one segment descriptor (direct, or in an indirect page) */
#define XE_BLKIF_SEG_OFF_GREF 0u /* u32 */
#define XE_BLKIF_SEG_OFF_FIRST 4u /* u8, first 512-byte unit in the page */
#define XE_BLKIF_SEG_OFF_LAST 5u /* u8, last one, inclusive */
/* bytes 6-7: padding */

/* discard: op, flag @1, handle @2, id, sector as above, then nr_sectors */
#define XE_BLKIF_DISCARD_OFF_FLAG 1u /* u8 */
#define XE_BLKIF_DISCARD_OFF_NR_SECTORS_NATIVE 24u /* u64 */
#define XE_BLKIF_DISCARD_OFF_NR_SECTORS_X86_32 20u

/* indirect: op @0, indirect_op @1, nr_segments u16 @2, id, sector as above */
#define XE_BLKIF_IND_OFF_OP 1u /* u8, READ or WRITE */
#define XE_BLKIF_IND_OFF_NR_SEGS 2u /* u16 */
#define XE_BLKIF_IND_OFF_HANDLE_NATIVE 24u /* u16, ignored */
#define XE_BLKIF_IND_OFF_HANDLE_X86_32 20u
#define XE_BLKIF_IND_OFF_GREFS_NATIVE 28u /* u32[8] */
#define XE_BLKIF_IND_OFF_GREFS_X86_32 24u
#define XE_BLKIF_IND_REQ_BYTES 64u /* both ABIs */

/*
 * ---- response layout: identical in both ABIs, only the stride differs ----
 * id u64 @0, operation u8 @8, pad @9, status s16 @10; native has 4 more
 * padding bytes (16 in all), x86_32 none (12). Padding must be written as 0
 * (XSA-216).
 */
#define XE_BLKIF_RSP_OFF_ID 0u
#define XE_BLKIF_RSP_OFF_OP 8u
#define XE_BLKIF_RSP_OFF_PAD 9u
#define XE_BLKIF_RSP_OFF_STATUS 10u
#define XE_BLKIF_RSP_BYTES_NATIVE 16u
#define XE_BLKIF_RSP_BYTES_X86_32 12u

/* ---- shared ring header (io/ring.h), u32 free-running indices ---- */
#define XE_BLKIF_RING_OFF_REQ_PROD 0u /* frontend */
#define XE_BLKIF_RING_OFF_REQ_EVENT 4u /* backend */
#define XE_BLKIF_RING_OFF_RSP_PROD 8u /* backend */
#define XE_BLKIF_RING_OFF_RSP_EVENT 12u /* frontend */
#define XE_BLKIF_RING_OFF_SLOTS 64u

/*
 * Entries in a ring of 2^order pages: (bytes - 64) / stride rounded down to
 * a power of two, which is 32 << order for both strides. Check order against
 * XE_BLKIF_MAX_RING_ORDER before using this.
 */
#define XE_BLKIF_RING_ENTRIES(order) (32u << (order))
#define XE_BLKIF_MAX_RING_ORDER 8u /* hard cap on any order we accept */

#endif
