/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A test frontend that behaves like Linux xen-blkfront, playing guest domain
 * N against the simulated Xen (tests/sim/sim.h): the xenbus handshake, single
 * and multi-page rings, several queues, both ABIs, direct and indirect
 * requests, flush and discard, and response checking as hardened blkfront
 * does it (2021): an unknown id, a wrong op, more responses than requests,
 * non-zero response padding or a grant the backend still maps after its
 * response are protocol violations, and the test dies loudly (exit 1).
 *
 * A raw layer lets hostile tests write anything into the ring: tamper with
 * the wire form of a request before it is written, set req_prod to any
 * value, rewrite a slot after producing it, kick in a loop, or write bad
 * values into the frontend's xenstore nodes.
 *
 * Also here: the daemon core (xenbus + rings) run in a thread of its own,
 * as the daemon's main loop would run it, so a test is frontend(s) + daemon.
 *
 * Threads: one struct fe is used from one thread at a time. Every call
 * returns 0 or -errno unless it says otherwise.
 */
#ifndef XE_TESTS_FRONTEND_H
#define XE_TESTS_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/blkif.h"
#include "tests/sim/sim.h"
#include "tests/testlib.h"
#include "xs-glue/xenbus.h"

#define FE_MAX_QUEUES 16u
#define FE_MAX_ORDER 4u
#define FE_TIMEOUT_MS 10000 /* any wait for the backend */

/* ---- the daemon core in a thread ---- */

struct fe_daemon;

/* Start xenbus_new(sim's dom0 xp, cfg) and a thread calling
 * xenbus_process() whenever xenstore has news or a timer is due. */
int fe_daemon_new(struct sim *sim, const struct xenbus_config *cfg,
		  struct fe_daemon **d_r);
/* Stop the thread and xenbus_free() (every device closed). NULL ok. */
void fe_daemon_free(struct fe_daemon *d);
/* The dom0 xp the daemon uses (for toolstack actions from the test; its
 * xenstore calls are serialised with the daemon's by the sim). */
struct xp *fe_daemon_xp(struct fe_daemon *d);
/* The daemon dies: it reaches xenstore no more (its devices stay as they
 * were), its workers are hung up on, and d is freed. */
void fe_daemon_crash(struct fe_daemon *d);
/* The xp the daemon core itself uses (to aim sim_xs_before_write at it). */
struct xp *fe_daemon_core_xp(struct fe_daemon *d);
/* The daemon's view of one device (-ENOENT if it has none). */
int fe_daemon_dev(struct fe_daemon *d, uint16_t domid, uint32_t devid,
		  struct xenbus_dev_info *info_r);
/* The operator's `xen-ephemeral forget UUID` (the save guard). */
int fe_daemon_forget(struct fe_daemon *d, const char *uuid);
/* Watch-queue counters of the daemon's xenstore connection. */
void fe_daemon_watch_stats(struct fe_daemon *d, struct sim_watch_stats *st);
/* Number of devices the daemon serves. */
unsigned int fe_daemon_nr_devs(struct fe_daemon *d);
/* Number of disks in the daemon's registry. */
unsigned int fe_daemon_nr_disks(struct fe_daemon *d);
/* The operator's `xen-ephemeral set-limit DOMID DEV SIZE`. */
int fe_daemon_set_limit(struct fe_daemon *d, uint16_t domid, const char *dev,
			uint64_t bytes);
/* Overlay blocks in use in every open disk together, from the workers'
 * stats (refreshed first); *nr_open_r: how many disks are open. */
uint64_t fe_daemon_used_blks(struct fe_daemon *d, unsigned int *nr_open_r);
/* Budget blocks the daemon has leased out to its workers now. */
uint64_t fe_daemon_leased_blks(struct fe_daemon *d);
/* The pid of owner's worker process, or -1. */
pid_t fe_daemon_worker_pid(struct fe_daemon *d, uint16_t owner);
/* NBD clients of disk (owner, devid) now; 0 if there is no such disk. */
unsigned int fe_daemon_disk_nbd_clients(struct fe_daemon *d, uint16_t owner,
					uint32_t devid);

/* Write the toolstack's nodes for a device (attach_device()); spec is the
 * disk spec. Returns attach_device()'s result. */
int fe_attach(struct fe_daemon *d, uint16_t domid, uint32_t devid,
	      const char *spec, bool read_only);

/* ---- the frontend ---- */

struct fe_opts {
	unsigned int order; /* ring-page-order wanted (0..4) */
	unsigned int queues; /* queues wanted (1..16) */
	enum xe_blkif_abi abi; /* written as "protocol" */
	bool no_protocol; /* write no "protocol" node (backend default) */
	unsigned int max_indirect; /* most segments per INDIRECT; 0 = none */
	bool no_flush, no_discard; /* do not use them even if advertised */
	bool num_queues_1; /* with one queue, write multi-queue-num-queues=1 */
	bool no_cap; /* do not clamp order/queues to the backend's maxima */
	/* Hostile xenstore: written verbatim instead of the real value. */
	const char *raw_protocol;
	const char *raw_ring_page_order;
	const char *raw_num_queues;
	const char *raw_ring_ref; /* queue 0's first ring-ref* */
	const char *raw_event_channel; /* queue 0's event-channel */
	/* GRUB's xendisk: write the ring and state 3 at once, without
	 * waiting for InitWait; one page, one queue, no indirect. */
	bool grub_style;
	/* Hostile ring: queue overfull_queue starts with req_prod a ring and
	 * one beyond rsp_prod (the backend must refuse to connect it). */
	bool overfull;
	unsigned int overfull_queue;
	/* How long any wait for the backend may take (ms); 0: FE_TIMEOUT_MS.
	 * A soak on a loaded machine, or a write held by on-full=pause,
	 * may need longer. */
	unsigned int timeout_ms;
};

/* What the backend published, read at InitWait and at Connected. */
struct fe_backend_info {
	unsigned int max_ring_page_order, max_queues, max_indirect;
	uint64_t sectors;
	unsigned int info, sector_size, physical_sector_size;
	bool flush, discard, barrier, persistent;
	unsigned int discard_granularity;
};

struct fe;

/* A frontend for device devid of guest domid (the toolstack's nodes must
 * exist: fe_attach). Nothing is connected yet. */
int fe_new(struct sim *sim, uint16_t domid, uint32_t devid,
	   const struct fe_opts *opts, struct fe **fe_r);

/*
 * The handshake: wait for backend InitWait, read its limits, set up the
 * rings and event channels, write the nodes (one transaction), state 3, wait
 * for backend Connected, read the disk's properties, state 4. -EPROTO if the
 * backend went to Closing/Closed instead (its `error` node is then in
 * fe_backend_error()), -ETIMEDOUT if it did nothing.
 */
int fe_connect(struct fe *fe);

/* Close: state 5, wait for backend 5 or 6, state 6, wait for backend 6,
 * then end every grant (a backend still mapping one is a failure). */
int fe_close(struct fe *fe);

/* GRUB's close before it boots the kernel: state 6 with no 5 first, wait
 * for backend 6, blank ring-ref and event-channel, state 1. */
int fe_close_grub(struct fe *fe);

/* Windows xenvbd's start: it always closes first (Closing until the
 * backend closes, Closed until it is Closed), then Initialising until the
 * backend is InitWait again. Then fe_connect(). */
int fe_windows_prepare(struct fe *fe);

/* After fe_close(): state 1 and fe_connect() again (guest re-probe). */
int fe_reconnect(struct fe *fe);

/* The guest's domain was destroyed under us (sim_domain_destroy): forget
 * grants and ports, keep memory until the backend has unmapped it. */
void fe_domain_gone(struct fe *fe);

/* Free (closes nothing in xenstore). Waits up to FE_TIMEOUT_MS for the
 * backend to unmap the rings of a vanished domain. NULL ok. */
void fe_free(struct fe *fe);

const struct fe_backend_info *fe_backend(const struct fe *fe);
const char *fe_backend_error(const struct fe *fe); /* "" if none */
unsigned int fe_nr_queues(const struct fe *fe);
unsigned int fe_ring_size(const struct fe *fe); /* slots per queue */
uint32_t fe_port(const struct fe *fe, unsigned int q);
char *fe_backend_path(const struct fe *fe); /* caller frees */
/* Read backend node (relative to the backend dir) or NULL; caller frees. */
char *fe_read_be(struct fe *fe, const char *node);
/* Write the frontend's own node (relative to its dir), verbatim. */
int fe_write_fe(struct fe *fe, const char *node, const char *val);
/* Backend state (0 if absent). */
int fe_backend_state(struct fe *fe);
/* Wait until the backend state is want (-ETIMEDOUT after timeout_ms). */
int fe_wait_backend_state(struct fe *fe, int want, int timeout_ms);

/* ---- requests ---- */

/* One data segment: a 4 KiB-aligned guest page and inclusive sectors. */
struct fe_seg {
	void *page;
	uint8_t first_sect, last_sect;
};

/* The request as it goes on the wire; tamper hooks may change anything. */
struct fe_wire {
	uint8_t op; /* slot byte 0 */
	uint8_t byte1; /* nr_segments (u8), discard flag, indirect_op */
	uint16_t nr_segs16; /* INDIRECT: nr_segments (u16 at byte 2) */
	uint16_t handle;
	uint64_t id;
	uint64_t sector;
	uint64_t discard_nr_sectors;
	unsigned int nr_descs; /* descriptors written (slot or indirect) */
	struct {
		uint32_t gref;
		uint8_t first_sect, last_sect;
	} desc[XE_BLKIF_MAX_INDIRECT_SEGS];
	unsigned int nr_ind_pages; /* INDIRECT: pages used */
	uint32_t ind_grefs[XE_BLKIF_MAX_INDIRECT_PAGES];
	uint8_t expect_op; /* the op the response must carry */
};

struct fe_req {
	uint8_t op; /* XE_BLKIF_OP_READ, WRITE, FLUSH_DISKCACHE, DISCARD */
	bool indirect; /* send READ/WRITE as INDIRECT */
	bool discard_secure;
	uint64_t sector;
	uint64_t nr_sectors; /* DISCARD */
	unsigned int nr_segs;
	struct fe_seg *segs; /* pages alive and unchanged until done */
	/* Hostile tests: called on the wire form before it is written. */
	void (*tamper)(struct fe_wire *w, void *arg);
	void *tamper_arg;
	/* Set on completion. */
	bool done;
	int16_t status;
	/* Called on completion, from fe_wait(), if set. */
	void (*done_fn)(struct fe_req *req, void *arg);
	void *done_arg;
};

/*
 * Put req on queue q's ring (not yet visible: fe_kick). Grants its pages
 * (read-only for data going out, writable for reads) and indirect pages
 * (read-only). -EAGAIN if the ring is full, -EINVAL if req does not fit
 * what was negotiated (unless a tamper hook is set).
 */
int fe_submit(struct fe *fe, unsigned int q, struct fe_req *req);
/* Publish what was submitted on q and notify if the backend asked. */
void fe_kick(struct fe *fe, unsigned int q);
/*
 * Take every response on q, checking each (see top); then re-arm rsp_event
 * and, if none had come, wait up to timeout_ms for a kick. Returns the
 * number completed (>= 0) or -ETIMEDOUT.
 */
int fe_wait(struct fe *fe, unsigned int q, int timeout_ms);
/* Whether this frontend sends op (FLUSH_DISKCACHE, DISCARD, INDIRECT):
 * advertised by the backend and not turned off in the options. */
bool fe_uses(const struct fe *fe, uint8_t op);
/* Requests submitted on q and not yet answered. */
unsigned int fe_inflight(const struct fe *fe, unsigned int q);
/* Submit, kick, wait for this one: its status, or -ETIMEDOUT. */
int fe_io(struct fe *fe, unsigned int q, struct fe_req *req);

/* ---- data helpers: buffers to segments ---- */

enum fe_layout {
	FE_PACKED, /* whole pages, the last one partial */
	FE_SCATTER, /* each segment its own page, random offset and length */
};

/*
 * Read or write nr_sectors at sector from or to buf through as many requests
 * as it takes (INDIRECT where allowed and more than 11 segments), all in
 * flight at once where the ring allows. Read pages are pre-filled with a
 * canary that must survive outside the segments. Returns the worst status
 * (0, XE_BLKIF_RSP_ERROR, XE_BLKIF_RSP_EOPNOTSUPP) or -ETIMEDOUT.
 */
int fe_rw(struct fe *fe, unsigned int q, uint8_t op, uint64_t sector, void *buf,
	  uint32_t nr_sectors, enum fe_layout layout, struct rng *rng);
int fe_flush(struct fe *fe, unsigned int q);
int fe_discard(struct fe *fe, unsigned int q, uint64_t sector,
	       uint64_t nr_sectors);

/* ---- raw ring access (hostile tests) ---- */

/* The slot at index idx of q (stride bytes of guest memory). */
volatile uint8_t *fe_raw_slot(struct fe *fe, unsigned int q, uint32_t idx);
/* The private producer index (next slot fe_submit will use). */
uint32_t fe_raw_req_prod_pvt(const struct fe *fe, unsigned int q);
void fe_raw_set_req_prod(struct fe *fe, unsigned int q, uint32_t v);
uint32_t fe_raw_rsp_prod(struct fe *fe, unsigned int q);
uint32_t fe_raw_req_event(struct fe *fe, unsigned int q);
/* Kick the backend unconditionally. */
void fe_raw_notify(struct fe *fe, unsigned int q);
/* Write a request's wire form into slot idx of q (byte-wise, per ABI). */
void fe_raw_encode(struct fe *fe, unsigned int q, uint32_t idx,
		   const struct fe_wire *w);

#endif
