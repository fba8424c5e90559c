/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A simulated Xen, in process, for make check: a grant table, event channels
 * and a xenstore with permissions, transactions and watches. The backend sees
 * it through struct xp (sim_xp_new); a test frontend plays the guest through
 * the sim_grant / sim_evtchn_* calls below and an xp of its own domid for
 * xenstore. One mutex guards everything, so every call may come from any
 * thread. Every int-returning call returns 0 or -errno unless it says so.
 */
#ifndef XE_TESTS_SIM_SIM_H
#define XE_TESTS_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "platform/platform.h"

/* Grant-copy statuses, with the values of Xen's GNTST_* (grant_table.h). */
#define SIM_GNTST_OKAY 0
#define SIM_GNTST_GENERAL_ERROR (-1)
#define SIM_GNTST_BAD_DOMAIN (-2)
#define SIM_GNTST_BAD_GNTREF (-3)
#define SIM_GNTST_PERMISSION_DENIED (-8)
#define SIM_GNTST_BAD_COPY_ARG (-10)

/* Default bound on queued watch events per xp instance. */
#define SIM_WATCH_QUEUE_LIMIT 1024u
/* Default bound on nodes a guest may own (xenstored's quota-nodes). */
#define SIM_XS_NODE_QUOTA 1000u

struct sim;

/* ---- the machine ---- */

/* A new simulated host with dom0 and the nodes /local/domain/0. */
int sim_new(struct sim **sim_r);
/* Free it. Every xp, grant and evtchn handle must have been closed. NULL ok */
void sim_free(struct sim *sim);

/* Create domain domid (1..0x7fef): /local/domain/<domid> owned by it, with
 * "domid"; fires @introduceDomain. -EEXIST if it exists (or is a zombie). */
int sim_domain_create(struct sim *sim, uint16_t domid);
/* Destroy it: revoke its grants, close its event channels, remove
 * /local/domain/<domid>, fire @releaseDomain. Grants the backend still maps
 * keep the domain a zombie until unmapped (see sim_domain_maps). */
int sim_domain_destroy(struct sim *sim, uint16_t domid);
/* Shut domid down with reason (XP_SHUTDOWN_*; -1: running again, as after
 * a resume); fires @releaseDomain as the hypervisor does. */
int sim_domain_shutdown(struct sim *sim, uint16_t domid, int reason);
/* Make domid an HVM (or PVH) guest, as dom_info reports it; domains are
 * PV when created. */
int sim_domain_set_hvm(struct sim *sim, uint16_t domid, bool hvm);
/* domid's pause count (what dom_pause/dom_unpause leave), or -ENOENT. */
int sim_domain_paused(struct sim *sim, uint16_t domid);
/* Number of mappings of domid's grants still held, and of grant copies
 * still in progress (0 once all unmapped and copied), alive or destroyed;
 * -ENOENT if the domain never existed. */
int sim_domain_maps(struct sim *sim, uint16_t domid);

/* A platform instance acting as domid (0 for the backend). Release it with
 * xp_destroy(). -ENOENT if the domain does not exist. */
int sim_xp_new(struct sim *sim, uint16_t domid, struct xp **xp_r);

/* Cut xp off, as a dying daemon is: every xenstore and domain op of it
 * fails from now on (its watches, transactions and nodes stay). */
void sim_xp_sever(struct xp *xp);

/* ---- guest memory ---- */

/*
 * npages zeroed, page-aligned, contiguous pages of guest memory: the only
 * memory a test frontend may grant (sim_grant refuses any other with
 * -EFAULT), because it is shared with the daemon's worker processes. NULL
 * if the arena (1 GiB, one per test process) is full.
 */
void *sim_page_alloc(unsigned int npages);
/* Give pages back (the whole allocation p starts). NULL is ok. */
void sim_page_free(void *p);

/* ---- workers in other processes ---- */

/*
 * Serve a worker's platform on sock (SOCK_SEQPACKET, taken): its grant
 * maps and copies run here against sim as dom0, until it hangs up. The
 * thread is joined by sim_free().
 */
int sim_remote_serve(struct sim *sim, int sock);
/* The worker's side: a platform over sock (grants through the sim that
 * serves it, event channels by evt_import; no xenstore, no domains). */
int sim_remote_xp_new(int sock, struct xp **xp_r);

/* ---- grant table, guest side ---- */

/* Grant the 4 KiB at page (4 KiB-aligned, owned by the caller, kept alive
 * until ungranted and unmapped) of domid to dom0. */
int sim_grant(struct sim *sim, uint16_t domid, void *page, bool readonly,
	      uint32_t *ref_r);
/* Like sim_grant, to grantee instead of dom0 (e.g. a driver domain). */
int sim_grant_to(struct sim *sim, uint16_t domid, uint16_t grantee, void *page,
		 bool readonly, uint32_t *ref_r);
/* End a grant: -EBUSY while the grantee still maps it (as gnttab_end_foreign
 * _access fails in Linux), -ENOENT if not granted. */
int sim_ungrant(struct sim *sim, uint16_t domid, uint32_t ref);
/* How many mappings of the grant are held: >= 0, or -ENOENT. */
int sim_grant_mapcount(struct sim *sim, uint16_t domid, uint32_t ref);
/* Fault injection: every later copy or map of this grant fails with status
 * (a SIM_GNTST_* value); 0 ends the fault. */
int sim_grant_inject(struct sim *sim, uint16_t domid, uint32_t ref,
		     int16_t status);

/* ---- event channels, guest side ---- */

/* Allocate an unbound port of domid that remote_domid may bind. */
int sim_evtchn_alloc_unbound(struct sim *sim, uint16_t domid,
			     uint16_t remote_domid, uint32_t *port_r);
/* Close the guest's port; the backend's end becomes unbound (kicks dropped).
 */
int sim_evtchn_close(struct sim *sim, uint16_t domid, uint32_t port);
/* Kick the remote end of the guest's port (dropped if not yet bound). */
int sim_evtchn_notify(struct sim *sim, uint16_t domid, uint32_t port);
/* A pollable fd, readable while the backend's kicks are unconsumed. Owned by
 * the sim, valid until the port is closed. */
int sim_evtchn_fd(struct sim *sim, uint16_t domid, uint32_t port);
/* Consume the kicks received from the backend since the last call: *n_r may
 * be 0 (then it does not block). */
int sim_evtchn_consume(struct sim *sim, uint16_t domid, uint32_t port,
		       uint64_t *n_r);
/* Whether the port has been bound by the remote end (*bound_r). */
int sim_evtchn_is_bound(struct sim *sim, uint16_t domid, uint32_t port,
			bool *bound_r);

/* Notification counts of one channel, seen from the guest's port. */
struct sim_evtchn_stats {
	uint64_t to_backend; /* guest kicks sent (delivered or not) */
	uint64_t to_guest; /* backend kicks received */
};
int sim_evtchn_stats(struct sim *sim, uint16_t domid, uint32_t port,
		     struct sim_evtchn_stats *st_r);

/* ---- what the host holds now (leak checks) ---- */

struct sim_usage {
	unsigned int handles; /* open grant and event-channel handles */
	unsigned int ports; /* event-channel ports in use, every domain */
	unsigned int dom0_ports; /* of those, dom0's: the backends' ends */
	unsigned int maps; /* grant mappings held, every domain */
	unsigned int domains; /* alive, dom0 included */
	unsigned int zombies; /* destroyed, some grant still mapped */
	unsigned int xps; /* platform instances (sim_xp_new) */
	unsigned int xs_nodes; /* xenstore nodes, the root included */
	unsigned int threads; /* threads serving workers, not yet ended */
};
/* A consistent snapshot (taken under the sim's lock). */
void sim_usage(struct sim *sim, struct sim_usage *u_r);

/* ---- xenstore knobs and counters ---- */

/* The next n transaction commits (any xp) fail with -EAGAIN. */
void sim_xs_fail_commits(struct sim *sim, unsigned int n);
/* Bound on queued watch events per xp (default SIM_WATCH_QUEUE_LIMIT). */
void sim_xs_set_watch_limit(struct sim *sim, unsigned int limit);
/* Nodes a guest may own (default SIM_XS_NODE_QUOTA); creating more fails
 * with -ENOSPC, as xenstored's quota does. dom0 has no quota. */
void sim_xs_set_node_quota(struct sim *sim, unsigned int nodes);

/*
 * Interleave a test's action into another's: the next write to path
 * through the xp writer (in a transaction or not) first calls fn(arg),
 * from the writer's thread, with no sim lock held; then the write goes on.
 * One-shot. path NULL disarms. Returns whether the last one fired.
 */
bool sim_xs_before_write(struct sim *sim, const struct xp *writer,
			 const char *path, void (*fn)(void *arg), void *arg);

/* Watch-queue counters of one xp instance created by sim_xp_new. */
struct sim_watch_stats {
	uint64_t fired; /* events queued */
	uint64_t coalesced; /* dropped as duplicates while over the limit */
	uint64_t overflow; /* dropped, over the hard cap (2 x limit) */
	unsigned int queued; /* events waiting now */
	unsigned int max_queued; /* high-water mark */
};
void sim_xp_watch_stats(struct xp *xp, struct sim_watch_stats *st_r);

#endif
