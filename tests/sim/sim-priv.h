/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals of the simulated Xen shared by its files. Everything here is
 * guarded by sim->lock; functions ending in _locked expect it held.
 */
#ifndef XE_TESTS_SIM_SIM_PRIV_H
#define XE_TESTS_SIM_SIM_PRIV_H

#include <pthread.h>
#include <stddef.h>

#include "tests/sim/sim.h"

/* Real Xen reserves grant refs 0..7 for the toolstack. */
#define SIM_FIRST_GREF 8u
#define SIM_DOMID_LIMIT 0x7FF0u

struct sim_grant_ent {
	bool active; /* granted and not ended or revoked */
	bool readonly;
	uint16_t grantee;
	int16_t inject; /* fault: status for every copy/map, 0 = none */
	void *page;
	unsigned int maps; /* live mappings; may outlive the grant */
	unsigned int pins; /* grant copies in progress (as Xen's GTF_reading) */
};

enum sim_port_state { SIM_PORT_FREE = 0, SIM_PORT_UNBOUND, SIM_PORT_BOUND };

struct sim_evt;

struct sim_port {
	enum sim_port_state state;
	uint16_t remote_domid;
	uint32_t remote_port;
	struct sim_evt *evt; /* backend handle owning it; NULL: guest port */
	bool masked, pending; /* backend ports (evt != NULL) */
	bool queued; /* in evt's ready queue */
	int efd; /* guest ports: kicks from the remote end */
	struct sim_evtchn_stats st;
};

struct sim_dom {
	uint16_t domid;
	bool alive; /* false: destroyed, kept while mappings remain */
	int shutdown_reason; /* -1: running; else XP_SHUTDOWN_* */
	unsigned int paused; /* pause count, as the hypervisor keeps it */
	bool hvm;
	struct sim_grant_ent *grants;
	uint32_t ngrants;
	uint32_t grant_hint; /* where the next free-entry search starts */
	unsigned int copy_pins; /* sum of grants[].pins: keeps the domain */
	struct sim_port *ports; /* indexed by port number; 0 is never used */
	uint32_t nports;
};

struct sim_node {
	char *name;
	char *value;
	size_t len;
	struct xp_xs_perm *perms; /* perms[0]: owner and everyone else */
	unsigned int nperms;
	struct sim_node *parent;
	struct sim_node **kids;
	unsigned int nkids;
};

struct sim_event {
	struct sim_event *next;
	char *path;
	char *token;
};

struct sim_watch {
	struct sim_watch *next;
	char *path; /* as registered (may be relative) */
	char *abs; /* absolute, or the special name */
	char *token;
};

struct sim_txn;
struct sim_thr;

struct sim_xp {
	struct xp xp;
	struct sim *sim;
	uint16_t domid;
	struct sim_xp *next; /* in sim->xps */
	struct sim_watch *watches;
	struct sim_event *qhead, *qtail;
	int efd; /* readable while qhead != NULL */
	struct sim_txn *txns;
	struct sim_watch_stats st;
};

struct sim {
	pthread_mutex_t lock;
	struct sim_dom **doms;
	unsigned int ndoms;
	struct sim_node *root;
	struct sim_xp *xps;
	uint32_t next_txn;
	unsigned int fail_commits;
	unsigned int watch_limit;
	unsigned int node_quota;
	unsigned int handles; /* open gnt and evt handles */
	pthread_mutex_t thr_lock;
	struct sim_thr *thrs; /* serving other processes */
	/* sim_xs_before_write: one-shot, armed by a test */
	const struct xp *hook_xp;
	char *hook_path;
	void (*hook_fn)(void *arg);
	void *hook_arg;
};

/* sim.c */
/* The domain, alive or a zombie, or NULL. */
struct sim_dom *sim_dom_find_locked(struct sim *sim, uint16_t domid);
/* Live mappings of d's grants. */
unsigned int sim_domain_maps_locked(struct sim_dom *d);
/* A destroyed domain none of whose grants is mapped any more: free its
 * grant and port tables (a soak goes through thousands of domains). */
void sim_dom_tidy_locked(struct sim_dom *d);
/* Make a non-blocking eventfd readable, or clear it. */
void sim_efd_set(int efd, bool readable);

/* sim-gnt.c: the xp_ops grant members (contracts in xs-glue/platform.h) */
int sim_gnt_open(struct xp *xp, struct xp_gnt **gnt_r);
void sim_gnt_close(struct xp_gnt *gnt);
int sim_gnt_map(struct xp_gnt *gnt, uint16_t domid, uint32_t count,
		const uint32_t *refs, bool writable, void **addr_r);
int sim_gnt_unmap(struct xp_gnt *gnt, void *addr, uint32_t count);
int sim_gnt_copy(struct xp_gnt *gnt, uint32_t count, struct xp_gnt_copy *segs);
/* Revoke every grant of a dying domain (mappings stay until unmapped). */
void sim_gnt_revoke_locked(struct sim_dom *d);

/* sim-evt.c: the xp_ops evtchn members (contracts in xs-glue/platform.h) */
int sim_evt_open(struct xp *xp, struct xp_evt **evt_r);
void sim_evt_close(struct xp_evt *evt);
int sim_evt_fd(struct xp_evt *evt);
int sim_evt_bind(struct xp_evt *evt, uint16_t domid, uint32_t remote_port,
		 uint32_t *local_r);
int sim_evt_unbind(struct xp_evt *evt, uint32_t local_port);
int sim_evt_notify(struct xp_evt *evt, uint32_t local_port);
int sim_evt_pending(struct xp_evt *evt, uint32_t *local_r);
int sim_evt_unmask(struct xp_evt *evt, uint32_t local_port);
/* Close every port of a dying domain; remote ends become unbound. */
void sim_evt_close_dom_locked(struct sim *sim, struct sim_dom *d);
/* Restrict the handle to domid and take a reference for an export (the
 * serving thread drops it with sim_evt_close). */
int sim_evt_hold(struct xp_evt *evt, uint16_t domid);
int sim_evt_export(struct xp_evt *evt, uint16_t domid, int *fd_r);
struct sim *sim_evt_sim(struct xp_evt *evt);

/* sim-gnt.c, for a worker in another process: check and pin each segment
 * as sim_gnt_copy does, but instead of copying give the guest page's offset
 * in the arena (status[i] 0) or its GNTST status. The worker copies, then
 * sim_gnt_unpin (same segs and status) ends the copy: until then the
 * grant cannot be ended nor its domain's pages freed or its id reused. */
int sim_gnt_resolve(struct xp_gnt *gnt, uint32_t count,
		    const struct xp_gnt_copy *segs, int16_t *status,
		    uint64_t *page_off);
void sim_gnt_unpin(struct xp_gnt *gnt, uint32_t count,
		   const struct xp_gnt_copy *segs, const int16_t *status);

/* sim-remote.c: the arena all grantable pages come from */
bool sim_arena_has(const void *p, size_t len);
uint64_t sim_arena_off(const void *p);
/* Threads serving other processes: those that have ended are joined at
 * the next start, the rest by sim_free. */
int sim_thread_start(struct sim *sim, void *(*fn)(void *), void *arg);
void sim_threads_join(struct sim *sim);
/* Threads started and not yet ended. */
unsigned int sim_threads_running(struct sim *sim);

/* sim-xs.c */
/* Create the root node (owner dom0, no access for others); free the tree. */
int sim_xs_init(struct sim *sim);
void sim_xs_fini(struct sim *sim);
/* Create /local/domain/<domid> (owner domid, others none) and its "domid"
 * node, as the toolstack does. */
int sim_xs_mkdom_locked(struct sim *sim, uint16_t domid);
/* Nodes in the tree, the root included. */
unsigned int sim_xs_nodes_locked(struct sim *sim);
/* Remove path as dom0, firing watches. */
int sim_xs_rm_locked(struct sim *sim, const char *path);
/* Fire a special watch (@introduceDomain, @releaseDomain). */
void sim_xs_fire_special_locked(struct sim *sim, const char *name);
/* Drop an xp's watches, queue and transactions. */
void sim_xs_xp_fini_locked(struct sim_xp *sx);

/* The xp_ops xenstore members (contracts in xs-glue/platform.h). */
int sim_xs_read(struct xp *xp, uint32_t txn, const char *path, char **val_r,
		size_t *len_r);
int sim_xs_write(struct xp *xp, uint32_t txn, const char *path, const char *val,
		 size_t len);
int sim_xs_mkdir(struct xp *xp, uint32_t txn, const char *path);
int sim_xs_rm(struct xp *xp, uint32_t txn, const char *path);
int sim_xs_directory(struct xp *xp, uint32_t txn, const char *path,
		     char ***names_r, unsigned int *n_r);
int sim_xs_set_perms(struct xp *xp, uint32_t txn, const char *path,
		     const struct xp_xs_perm *perms, unsigned int n);
int sim_xs_txn_start(struct xp *xp, uint32_t *txn_r);
int sim_xs_txn_end(struct xp *xp, uint32_t txn, bool abort);
int sim_xs_watch(struct xp *xp, const char *path, const char *token);
int sim_xs_unwatch(struct xp *xp, const char *path, const char *token);
int sim_xs_fd(struct xp *xp);
int sim_xs_read_watch(struct xp *xp, char **path_r, char **token_r);

#endif
