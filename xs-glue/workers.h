/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The supervisor's side of the workers: one process per guest domain
 * (backend/worker.h), started when the guest's first disk opens and told
 * to go when its last disk closes. This keeps each worker's socket, its
 * stats page (mapped read-only here) and its share of the budget; sends
 * requests (backend/wire.h); and passes every answer on only after
 * checking it against the protocol. A worker that breaks the protocol, or
 * dies, is killed and reported, and its guest's disks with it; no other
 * guest notices.
 *
 * One thread (the daemon's main loop) calls everything here.
 */
#ifndef XE_XS_GLUE_WORKERS_H
#define XE_XS_GLUE_WORKERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/wire.h"

struct workers_config {
	/*
	 * Start domid's worker with sock as its end of the socket pair:
	 * 0 and *pid_r, or -errno. The daemon's runs the installed worker
	 * program; a test's, one that reaches the simulated Xen.
	 */
	int (*spawn)(void *arg, uint16_t domid, int sock, pid_t *pid_r);
	void *spawn_arg;
	/* The daemon's overlay budget, shared out to the workers as leases
	 * (0: none). */
	uint64_t budget_blks;
	/*
	 * An answer (a worker-to-supervisor message that passed every check
	 * of its form). Return false if it makes no sense (answers nothing
	 * asked): the worker is then killed as broken.
	 */
	bool (*answer)(void *arg, uint16_t domid, const struct wire_msg *m);
	/* domid's worker pid is gone (died, or killed): the disks it had
	 * are lost (a newer worker of domid may be running already). */
	void (*gone)(void *arg, uint16_t domid, pid_t pid, const char *why);
	void *arg;
};

struct workers;

int workers_new(const struct workers_config *cfg, struct workers **ws_r);

/* Readable when a worker has said something or gone. */
int workers_fd(struct workers *ws);

/* Take what the workers said (never blocks); calls answer and gone. */
void workers_process(struct workers *ws);

/* Milliseconds until workers_process() must run for a timer, or -1. */
int workers_timeout_ms(const struct workers *ws);

/*
 * Send a request to domid's worker, starting it first if it has none.
 * fds are sent with it and stay the caller's. 0, or -errno (the worker
 * could not start, or is gone: gone() has been called or will be).
 */
int workers_send(struct workers *ws, uint16_t domid, const struct wire_msg *m,
		 const int *fds, unsigned int nfds);

/* domid has no disk left: hang up; the worker frees everything and ends. */
void workers_release(struct workers *ws, uint16_t domid);

/* Does domid have a worker now? */
bool workers_running(const struct workers *ws, uint16_t domid);
/* Its pid, or -1. */
pid_t workers_pid(const struct workers *ws, uint16_t domid);

/*
 * A consistent copy of one slot's counters from domid's stats page.
 * Returns 0, or -ENOENT (no worker) / -EBUSY (the worker kept writing the
 * slot: try later). Never trust more than numbers from it.
 */
int workers_slot_stats(const struct workers *ws, uint16_t domid,
		       unsigned int slot, struct wire_slot_stats *out);

/*
 * Ask every worker to refresh its stats page now; workers_stats_fresh()
 * then says whether every worker asked has done so (for tests, and for
 * a status that must include the last request).
 */
uint64_t workers_stats_request(struct workers *ws);
bool workers_stats_fresh(const struct workers *ws, uint64_t token);

/*
 * A fence: domid's worker does requests in order, so once it answers this
 * one, every request sent to it before is done (its rings unmapped, its
 * disks wiped). 0 if domid has no worker (nothing to wait for), else a
 * token and *pid_r, for workers_fence_passed(). A worker that is gone has
 * passed every fence once the kernel has reaped it.
 */
uint64_t workers_fence(struct workers *ws, uint16_t domid, pid_t *pid_r);
bool workers_fence_passed(const struct workers *ws, pid_t pid, uint64_t token);

/* Budget blocks leased out now, in all. */
uint64_t workers_leased_blks(const struct workers *ws);

/* Kill every worker and free. NULL is ok. */
void workers_free(struct workers *ws);

#endif
