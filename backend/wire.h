/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The supervisor and a guest's worker talk over one SOCK_SEQPACKET socket
 * pair: fixed-size messages (struct wire_msg, exactly sizeof bytes, never
 * more or less), each possibly carrying descriptors (SCM_RIGHTS), and one
 * shared page of counters the worker writes and the supervisor only reads
 * (struct wire_stats). docs/architecture.md, "Workers", says why.
 *
 * The supervisor trusts nothing a worker says: every message is checked
 * (op, slot, attachment, sizes, NUL-terminated text) before it is acted
 * on, and one that fails any check gets the worker killed. Counters are
 * only ever printed or published, never used to decide anything.
 *
 * A slot is one disk of the worker's guest, numbered by the supervisor.
 * An attachment (att) is one blkif frontend of it: 0 the guest's own,
 * 1 its stubdomain's. A tag, set by the supervisor on every request about
 * a slot and echoed in the answer, tells the answers about a disk from
 * those about an earlier disk in the same slot.
 */
#ifndef XE_BACKEND_WIRE_H
#define XE_BACKEND_WIRE_H

#include <stdint.h>

#include "backend/ring.h"
#include "backend/vbd.h"
#include "cow/cow.h"

#define WIRE_VERSION 2u /* 2: ring stats carry gnt_calls */
#define WIRE_MAGIC 0x78657772u /* "xewr" */
#define WIRE_MAX_SLOTS 64u     /* disks of one guest */
#define WIRE_MAX_ATT 2u        /* blkif attachments of one disk */
#define WIRE_MAX_FDS (VBD_MAX_QUEUES + 1u)
#define WIRE_ERR_BYTES 256u
#define WIRE_NAME_BYTES 32u

enum wire_op {
	/* supervisor -> worker */
	WIRE_INIT = 1,   /* the first message: fd: the stats page (a sealed
			    memfd of WIRE_STATS_BYTES, mapped writable by
			    the worker, read-only by the supervisor); att,
			    val: as WIRE_LEASE (val: what it holds first) */
	WIRE_OPEN,       /* slot, plan; fds: the base, then the scratch */
	WIRE_CLOSE,      /* slot: free the view (overlay and key wiped) */
	WIRE_CONNECT,    /* slot, att, rings; fds: one event channel a queue.
			    val = 1: the disk is gone (its worker died): the
			    slot, unused, becomes a dead one, and every
			    request on these rings is answered with an error */
	WIRE_DISCONNECT, /* slot, att: stop and unmap the rings */
	WIRE_EXPORT,     /* slot, att = 1: a full overlay is NBD_ENOSPC, val:
			    the uid that may connect besides root, u.err: the
			    socket's path (for logs); fd: the socket, bound
			    and listening */
	WIRE_LEASE,      /* att = 1: there is a budget, and val more blocks
			    of it are the worker's (added to what it holds,
			    so that a grant and a WIRE_RETURN_LEASE that
			    cross on the socket each count once); att = 0:
			    none */
	WIRE_STATS,      /* val: a token; refresh the stats page now */
	WIRE_SET_LIMIT,  /* slot, val: the overlay's new limit in blocks */
	/* worker -> supervisor */
	WIRE_HELLO = 64,   /* val: WIRE_VERSION, after WIRE_INIT */
	WIRE_OPENED,       /* slot, rc, val: sectors; err */
	WIRE_CLOSED,       /* slot */
	WIRE_CONNECTED,    /* slot, att, rc, val: rings; err */
	WIRE_DISCONNECTED, /* slot, att */
	WIRE_EXPORTED,     /* slot, rc; err */
	WIRE_NBD_CLIENTS,  /* slot, val: clients now */
	WIRE_WANT_LEASE,   /* val: blocks more wanted (a write waits) */
	WIRE_RETURN_LEASE, /* val: blocks given back */
	WIRE_STATS_DONE,   /* val: the token of the WIRE_STATS it answers */
	WIRE_LIMIT_SET,    /* slot, rc */
	WIRE_FULL,         /* slot: on-full=pause, a write waits for room */
	WIRE_ROOM,         /* slot: no write waits any more */
};

/* How the worker builds a disk's view (the supervisor read the spec). */
enum wire_store { WIRE_STORE_NONE, WIRE_STORE_RAM, WIRE_STORE_XTS };

struct wire_plan {
	uint32_t kind;        /* enum cow_kind */
	uint32_t store;       /* enum wire_store */
	uint32_t has_base;    /* an fd for the base comes first */
	uint32_t has_scratch; /* then one for the scratch (XTS) */
	uint64_t base_bytes;
	uint64_t size_sectors; /* BLANK */
	uint64_t overlay_blks; /* slots of the overlay store */
	uint64_t limit_blks;
	uint32_t on_full_pause; /* hold writes that find no room */
	uint32_t pad;
	char name[WIRE_NAME_BYTES]; /* log prefix, "5/51712" */
};

struct wire_rings {
	uint32_t domid; /* the frontend's */
	uint32_t abi;   /* enum xe_blkif_abi */
	uint32_t order;
	uint32_t nr_queues;
	uint32_t flush, discard, read_only; /* req_features */
	uint32_t max_indirect_segs;
	uint32_t sector_size;
	uint64_t sectors;
	struct vbd_queue queues[VBD_MAX_QUEUES];
};

struct wire_msg {
	uint32_t op;
	uint32_t slot;
	uint32_t att;
	int32_t rc;
	uint64_t val;
	uint64_t tag;
	union {
		struct wire_plan plan;
		struct wire_rings rings;
		char err[WIRE_ERR_BYTES];
	} u;
};

/* ---- the stats page: written by the worker, read by the supervisor ---- */

struct wire_ring_stats {
#define WIRE_RING_FIELD(name) uint64_t name;
	RING_COUNTERS(WIRE_RING_FIELD)
#undef WIRE_RING_FIELD
	uint64_t halted;
	uint64_t nr_rings;
};

struct wire_slot_stats {
	_Atomic uint32_t seq; /* odd while the worker writes the slot */
	uint32_t nbd_clients;
	struct cow_stats cow;
	struct wire_ring_stats ring[WIRE_MAX_ATT];
};

struct wire_stats {
	uint32_t magic;
	uint32_t version;
	struct wire_slot_stats slot[WIRE_MAX_SLOTS];
};

/* The page's size, rounded up to whole pages. */
#define WIRE_STATS_BYTES                                                       \
	((sizeof(struct wire_stats) + 4095u) & ~(size_t)4095u)

/*
 * Send m with up to WIRE_MAX_FDS descriptors (not closed). 0 or -errno
 * (-EPIPE: the peer is gone). Never blocks for long: the peer reads.
 */
int wire_send(int sock, const struct wire_msg *m, const int *fds,
	      unsigned int nfds);

/*
 * Receive one message and its descriptors (each set close-on-exec) into
 * fds[0..*nfds_r). 0, -EAGAIN (nothing yet, non-blocking socket), -EPIPE
 * (the peer closed), -EBADMSG (a message of the wrong size, or more
 * descriptors than max_fds: those are closed).
 */
int wire_recv(int sock, struct wire_msg *m, int *fds, unsigned int max_fds,
	      unsigned int *nfds_r);

/* A ring's counters into the page's form, and back. */
void wire_ring_stats_put(struct wire_ring_stats *w, const struct ring_stats *s,
			 unsigned int nr_rings);
void wire_ring_stats_get(const struct wire_ring_stats *w, struct ring_stats *s,
			 unsigned int *nr_rings_r);

#endif
