/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One guest's worker (backend/worker.h).
 *
 * Threads: the main one reads the supervisor's messages and does what they
 * say (one at a time, in order), refreshes the stats page and reports NBD
 * client changes; each ring and each NBD client runs in a thread of its own
 * (backend/ring.c, backend/nbd.c), and those only ever send one message
 * themselves: a ring whose write needs more of the budget than the worker
 * holds asks for it (WIRE_WANT_LEASE) and waits a little for the answer,
 * which the main thread applies.
 *
 * What it trusts: the supervisor (it sends only what its own checks
 * passed); still, nothing it sends can make the worker index out of
 * bounds or leak a descriptor.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/nbd.h"
#include "backend/vbd.h"
#include "backend/view.h"
#include "backend/wire.h"
#include "backend/worker.h"
#include "platform/log.h"

struct slot {
	bool used;
	bool dead; /* no view: its rings answer every request with an error */
	char name[WIRE_NAME_BYTES];
	struct cow *cow;
	struct vbd *vbd[WIRE_MAX_ATT];
	uint16_t fe_domid[WIRE_MAX_ATT];
	struct nbd_server *nbd;
	unsigned int nbd_reported;
	uint64_t tag; /* the OPEN's: NBD_CLIENTS reports carry it */
	bool pause_when_full;
	/* on-full=pause: writes waiting for room, from every ring */
	pthread_mutex_t full_lock;
	unsigned int full_waiters;
	struct worker *w;
	unsigned int idx;
};

struct worker {
	const struct worker_config *cfg;
	int sock;
	struct wire_stats *stats; /* the shared page */
	struct slot slots[WIRE_MAX_SLOTS];
	struct cow_budget *budget;
	int nbd_efd; /* an NBD client came or went */
	/* the lease: blocks of the daemon's budget this worker may use */
	pthread_mutex_t lease_lock;
	pthread_cond_t lease_cond;
	uint64_t lease_gen; /* bumped by every WIRE_LEASE */
	bool capped;        /* the daemon has a budget at all */
	uint64_t lease_blks;
};

/* The answer to request q. */
static int reply(struct worker *w, const struct wire_msg *q, uint32_t op,
		 int rc, uint64_t val, const char *err)
{
	struct wire_msg m = { .op = op, .slot = q->slot, .att = q->att,
			      .rc = rc, .val = val, .tag = q->tag };

	if (err)
		snprintf(m.u.err, sizeof(m.u.err), "%s", err);
	return wire_send(w->sock, &m, NULL, 0);
}

static void close_fds(int *fds, unsigned int n)
{
	while (n)
		close(fds[--n]);
}

/* ---- the budget lease ---- */

/* From a ring's thread: a write is short of blocks; ask, wait a little. */
static void lease_refill(void *arg, uint64_t short_blks)
{
	struct worker *w = arg;
	struct wire_msg m = { .op = WIRE_WANT_LEASE };
	struct timespec until;
	uint64_t gen;

	m.val = short_blks > WORKER_LEASE_CHUNK_BLKS ? short_blks :
						       WORKER_LEASE_CHUNK_BLKS;
	pthread_mutex_lock(&w->lease_lock);
	gen = w->lease_gen;
	pthread_mutex_unlock(&w->lease_lock);
	if (wire_send(w->sock, &m, NULL, 0))
		return;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (long)WORKER_LEASE_WAIT_MS * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&w->lease_lock);
	while (w->lease_gen == gen &&
	       pthread_cond_timedwait(&w->lease_cond, &w->lease_lock,
				      &until) == 0)
		;
	pthread_mutex_unlock(&w->lease_lock);
}

/* WIRE_INIT's lease (what the worker holds first), or WIRE_LEASE's
 * grant, added: what it gave back meanwhile stays given back. */
static void on_lease(struct worker *w, const struct wire_msg *m)
{
	pthread_mutex_lock(&w->lease_lock);
	w->capped = m->att != 0;
	w->lease_blks = m->op == WIRE_LEASE ? w->lease_blks + m->val : m->val;
	cow_budget_set_limit(w->budget,
			     w->capped ? w->lease_blks : UINT64_MAX);
	w->lease_gen++;
	pthread_cond_broadcast(&w->lease_cond);
	pthread_mutex_unlock(&w->lease_lock);
}

/* Give back what is held beyond use and one chunk of slack. */
static void lease_trim(struct worker *w)
{
	uint64_t used, give = 0;

	pthread_mutex_lock(&w->lease_lock);
	used = cow_budget_used_blks(w->budget);
	if (w->capped && w->lease_blks > used + 2 * WORKER_LEASE_CHUNK_BLKS) {
		give = w->lease_blks - used - WORKER_LEASE_CHUNK_BLKS;
		w->lease_blks -= give;
		cow_budget_set_limit(w->budget, w->lease_blks);
	}
	pthread_mutex_unlock(&w->lease_lock);
	if (give) {
		struct wire_msg m = { .op = WIRE_RETURN_LEASE, .val = give };

		wire_send(w->sock, &m, NULL, 0);
	}
}

/* ---- the stats page ---- */

static void stats_slot(struct worker *w, unsigned int i)
{
	struct wire_slot_stats *ws = &w->stats->slot[i];
	struct slot *s = &w->slots[i];
	unsigned int a;

	atomic_fetch_add_explicit(&ws->seq, 1, memory_order_acq_rel);
	if (s->used) {
		if (s->cow)
			cow_get_stats(s->cow, &ws->cow);
		else
			memset(&ws->cow, 0, sizeof(ws->cow));
		for (a = 0; a < WIRE_MAX_ATT; a++) {
			struct ring_stats rs = { 0 };

			if (s->vbd[a])
				vbd_get_stats(s->vbd[a], &rs);
			wire_ring_stats_put(&ws->ring[a], &rs,
					    s->vbd[a] ? vbd_nr_rings(s->vbd[a]) :
							0);
		}
		ws->nbd_clients = s->nbd ? nbd_server_clients(s->nbd) : 0;
	} else {
		memset(&ws->cow, 0, sizeof(ws->cow));
		memset(ws->ring, 0, sizeof(ws->ring));
		ws->nbd_clients = 0;
	}
	atomic_fetch_add_explicit(&ws->seq, 1, memory_order_acq_rel);
}

static void stats_refresh(struct worker *w)
{
	unsigned int i;

	for (i = 0; i < WIRE_MAX_SLOTS; i++)
		if (w->slots[i].used)
			stats_slot(w, i);
}

/* ---- NBD clients ---- */

static void nbd_changed(void *arg)
{
	struct worker *w = arg;

	eventfd_write(w->nbd_efd, 1);
}

static void nbd_report(struct worker *w)
{
	eventfd_t n;
	unsigned int i;

	eventfd_read(w->nbd_efd, &n);
	for (i = 0; i < WIRE_MAX_SLOTS; i++) {
		struct slot *s = &w->slots[i];
		unsigned int c;

		if (!s->used || !s->nbd)
			continue;
		c = nbd_server_clients(s->nbd);
		if (c == s->nbd_reported)
			continue;
		s->nbd_reported = c;
		stats_slot(w, i);
		{
			struct wire_msg m = { .op = WIRE_NBD_CLIENTS,
					      .slot = i,
					      .val = c,
					      .tag = s->tag };

			wire_send(w->sock, &m, NULL, 0);
		}
	}
}

/* ---- requests ---- */

/* From a ring's thread: a write starts or stops waiting for room. The
 * supervisor pauses the guest while any does. */
static void slot_full(void *arg, bool waiting)
{
	struct slot *s = arg;
	struct wire_msg m = { .slot = s->idx, .tag = s->tag };
	bool say;

	pthread_mutex_lock(&s->full_lock);
	if (waiting)
		say = s->full_waiters++ == 0;
	else
		say = --s->full_waiters == 0;
	/* under the lock: FULL and ROOM never overtake each other */
	if (say) {
		m.op = waiting ? WIRE_FULL : WIRE_ROOM;
		wire_send(s->w->sock, &m, NULL, 0);
	}
	pthread_mutex_unlock(&s->full_lock);
}

static void slot_free(struct worker *w, unsigned int i)
{
	struct slot *s = &w->slots[i];
	unsigned int a;

	nbd_server_free(s->nbd); /* its clients use the view */
	for (a = 0; a < WIRE_MAX_ATT; a++)
		vbd_free(s->vbd[a]);
	cow_free(s->cow); /* overlay and key wiped */
	pthread_mutex_destroy(&s->full_lock);
	memset(s, 0, sizeof(*s));
	stats_slot(w, i);
}

static void do_open(struct worker *w, const struct wire_msg *m, int *fds,
		    unsigned int nfds)
{
	struct wire_plan plan = m->u.plan;
	char err[WIRE_ERR_BYTES] = "";
	unsigned int want = !!plan.has_base + !!plan.has_scratch, k = 0;
	struct slot *s;
	int base = -1, scratch = -1, rc;

	if (m->slot >= WIRE_MAX_SLOTS || w->slots[m->slot].used ||
	    nfds != want) {
		close_fds(fds, nfds);
		reply(w, m, WIRE_OPENED, -EINVAL, 0,
		      "slot in use, or descriptors missing");
		return;
	}
	if (plan.has_base)
		base = fds[k++];
	if (plan.has_scratch)
		scratch = fds[k++];
	plan.name[sizeof(plan.name) - 1] = '\0';
	s = &w->slots[m->slot];
	rc = view_build(&plan, base, scratch, w->budget, &s->cow, err,
			sizeof(err));
	if (rc) {
		s->cow = NULL;
		reply(w, m, WIRE_OPENED, rc, 0, err);
		return;
	}
	if (cow_io_mode(s->cow))
		log_msg(LOG_INFO, "%s: scratch I/O: %s", plan.name,
			cow_io_mode(s->cow));
	s->used = true;
	s->tag = m->tag;
	s->pause_when_full = plan.on_full_pause != 0;
	s->w = w;
	s->idx = m->slot;
	pthread_mutex_init(&s->full_lock, NULL);
	snprintf(s->name, sizeof(s->name), "%s", plan.name);
	stats_slot(w, m->slot);
	reply(w, m, WIRE_OPENED, 0, cow_size_sectors(s->cow), NULL);
}

static struct slot *slot_of(struct worker *w, const struct wire_msg *m,
			    bool need_att)
{
	if (m->slot >= WIRE_MAX_SLOTS || !w->slots[m->slot].used ||
	    (need_att && m->att >= WIRE_MAX_ATT))
		return NULL;
	return &w->slots[m->slot];
}

static void do_connect(struct worker *w, const struct wire_msg *m, int *fds,
		       unsigned int nfds)
{
	const struct wire_rings *r = &m->u.rings;
	struct xp_evt *evts[VBD_MAX_QUEUES] = { NULL };
	char err[WIRE_ERR_BYTES] = "";
	struct slot *s = slot_of(w, m, true);
	unsigned int q;
	int rc = 0;

	/* A disk whose worker died: its frontends get errors, not silence. */
	if (m->val == 1 && !s && m->slot < WIRE_MAX_SLOTS && m->att < WIRE_MAX_ATT &&
	    !w->slots[m->slot].used) {
		s = &w->slots[m->slot];
		s->used = s->dead = true;
		s->tag = m->tag;
		s->w = w;
		s->idx = m->slot;
		pthread_mutex_init(&s->full_lock, NULL);
		snprintf(s->name, sizeof(s->name), "dead %u", m->slot);
	}

	if (!s || r->nr_queues < 1 || r->nr_queues > VBD_MAX_QUEUES ||
	    nfds != r->nr_queues || r->domid > UINT16_MAX ||
	    (s->vbd[m->att] && s->fe_domid[m->att] != r->domid)) {
		close_fds(fds, nfds);
		reply(w, m, WIRE_CONNECTED, -EINVAL, 0,
		      "a connect that does not hold together");
		return;
	}
	for (q = 0; q < nfds; q++) {
		int e = xp_evt_import(w->cfg->xp, fds[q], &evts[q]);

		if (e && !rc) {
			rc = e;
			snprintf(err, sizeof(err),
				 "cannot take queue %u's event channel: %s", q,
				 strerror(-e));
		}
	}
	if (!rc && !s->vbd[m->att]) {
		struct vbd_params vp = {
			.xp = w->cfg->xp,
			.domid = (uint16_t)r->domid,
			.devid = m->slot,
			.cow = s->cow,
			.feat = { .flush = r->flush != 0,
				  .discard = r->discard != 0,
				  .read_only = r->read_only != 0,
				  .max_indirect_segs =
					  (uint16_t)r->max_indirect_segs,
				  .sectors = r->sectors,
				  .sector_size = r->sector_size },
			.full = s->pause_when_full ? slot_full : NULL,
			.full_arg = s,
		};

		rc = vbd_new(&vp, &s->vbd[m->att]);
		if (rc)
			snprintf(err, sizeof(err), "out of memory");
		else
			s->fe_domid[m->att] = (uint16_t)r->domid;
	}
	if (rc) {
		for (q = 0; q < nfds; q++)
			xp_evt_close(evts[q]);
		reply(w, m, WIRE_CONNECTED, rc, 0, err);
		return;
	}
	rc = vbd_connect(s->vbd[m->att], (enum xe_blkif_abi)r->abi, r->order,
			 r->nr_queues, r->queues, evts, err, sizeof(err));
	stats_slot(w, m->slot);
	reply(w, m, WIRE_CONNECTED, rc, rc ? 0 : vbd_nr_rings(s->vbd[m->att]),
	      rc ? err : NULL);
}

static void do_disconnect(struct worker *w, const struct wire_msg *m)
{
	struct slot *s = slot_of(w, m, true);

	if (s && s->vbd[m->att]) {
		vbd_disconnect(s->vbd[m->att]);
		stats_slot(w, m->slot);
	}
	reply(w, m, WIRE_DISCONNECTED, s ? 0 : -EINVAL, 0, NULL);
}

static void do_export(struct worker *w, const struct wire_msg *m, int *fds,
		      unsigned int nfds)
{
	struct slot *s = slot_of(w, m, false);
	char name[WIRE_NAME_BYTES + 8];
	struct nbd_server_params p;
	int rc;

	if (!s || s->dead || s->nbd || nfds != 1) {
		close_fds(fds, nfds);
		reply(w, m, WIRE_EXPORTED, -EINVAL, 0,
		      "no such disk, already exported, or no socket");
		return;
	}
	snprintf(name, sizeof(name), "%s nbd", s->name);
	p = (struct nbd_server_params){
		.path = m->u.err, /* the socket's name, for logs */
		.cow = s->cow,
		.read_only = cow_kind(s->cow) == COW_KIND_READONLY,
		.changed = nbd_changed,
		.arg = w,
		.enospc_is_enospc = m->att != 0,
		.name = name,
		.listen_fd_given = true,
		.listen_fd = fds[0],
		.peer_uid_given = true,
		.peer_uid = (unsigned int)m->val,
	};
	rc = nbd_server_new(&p, &s->nbd);
	if (rc)
		s->nbd = NULL;
	reply(w, m, WIRE_EXPORTED, rc, 0,
	      rc ? "cannot serve the NBD socket" : NULL);
}

static void do_set_limit(struct worker *w, const struct wire_msg *m)
{
	struct slot *s = slot_of(w, m, false);
	int rc = !s || !s->cow ? -EINVAL : cow_set_limit(s->cow, m->val);

	if (!rc) {
		log_msg(LOG_INFO, "%s: overlay limit now %" PRIu64 " MiB",
			s->name, m->val >> 8);
		stats_slot(w, m->slot);
	}
	reply(w, m, WIRE_LIMIT_SET, rc, 0, NULL);
}

/*
 * What the disk did, said once as it goes (after the wipe it reports): an
 * admin reading the journal after a disposable guest sees whether it ran
 * out of room, without having polled `xen-ephemeral status` at the right
 * moment. The counters are read just before the rings stop and the wipe.
 */
static void do_close(struct worker *w, const struct wire_msg *m)
{
	char name[WIRE_NAME_BYTES];
	struct cow_stats st = { 0 };
	struct slot *s;
	bool said;

	if (m->slot >= WIRE_MAX_SLOTS || !w->slots[m->slot].used) {
		reply(w, m, WIRE_CLOSED, 0, 0, NULL);
		return;
	}
	s = &w->slots[m->slot];
	said = !s->dead && s->cow;
	snprintf(name, sizeof(name), "%s", s->name);
	if (said)
		cow_get_stats(s->cow, &st);
	slot_free(w, m->slot);
	if (said)
		log_msg(LOG_INFO,
			"%s: disk closed, overlay and key wiped; it held at "
			"most %" PRIu64 " of %" PRIu64 " blocks, served %" PRIu64
			" reads and %" PRIu64 " writes (%" PRIu64 " KiB), %" PRIu64
			" refused for lack of space, %" PRIu64 " other errors",
			name, st.peak_blks, st.limit_blks, st.rd_reqs,
			st.wr_reqs, st.wr_sectors / 2, st.enospc, st.errors);
	reply(w, m, WIRE_CLOSED, 0, 0, NULL);
}

static int handle(struct worker *w)
{
	int fds[WIRE_MAX_FDS];
	unsigned int nfds = 0;
	struct wire_msg m;
	int rc = wire_recv(w->sock, &m, fds, WIRE_MAX_FDS, &nfds);

	if (rc)
		return rc;
	m.u.err[sizeof(m.u.err) - 1] = '\0';
	switch (m.op) {
	case WIRE_OPEN:
		do_open(w, &m, fds, nfds);
		return 0;
	case WIRE_CONNECT:
		do_connect(w, &m, fds, nfds);
		return 0;
	case WIRE_EXPORT:
		do_export(w, &m, fds, nfds);
		return 0;
	default:
		break;
	}
	close_fds(fds, nfds);
	switch (m.op) {
	case WIRE_CLOSE:
		do_close(w, &m);
		break;
	case WIRE_DISCONNECT:
		do_disconnect(w, &m);
		break;
	case WIRE_SET_LIMIT:
		do_set_limit(w, &m);
		break;
	case WIRE_LEASE:
		on_lease(w, &m);
		break;
	case WIRE_INIT:
		return -EPROTO; /* only ever the first */
	case WIRE_STATS:
		stats_refresh(w);
		reply(w, &m, WIRE_STATS_DONE, 0, m.val, NULL);
		break;
	default:
		log_msg(LOG_ERR, "worker %u: unknown request %u from the "
				 "supervisor",
			w->cfg->domid, m.op);
		return -EPROTO;
	}
	return 0;
}

/* ---- life ---- */

/* The first message: the stats page the supervisor made, and the lease. */
static int init(struct worker *w)
{
	struct pollfd p = { .fd = w->sock, .events = POLLIN };
	unsigned int nfds = 0;
	struct wire_msg m;
	struct stat st;
	int fd, rc;

	if (poll(&p, 1, -1) < 0)
		return -errno;
	rc = wire_recv(w->sock, &m, &fd, 1, &nfds);
	if (rc)
		return rc;
	if (m.op != WIRE_INIT || nfds != 1) {
		if (nfds)
			close(fd);
		return -EPROTO;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < WIRE_STATS_BYTES) {
		close(fd);
		return -EPROTO;
	}
	w->stats = mmap(NULL, WIRE_STATS_BYTES, PROT_READ | PROT_WRITE,
			MAP_SHARED, fd, 0);
	close(fd);
	if (w->stats == MAP_FAILED) {
		w->stats = NULL;
		return -errno;
	}
	w->stats->magic = WIRE_MAGIC;
	w->stats->version = WIRE_VERSION;
	on_lease(w, &m);
	return 0;
}

int worker_serve(const struct worker_config *cfg)
{
	int interval = cfg->stats_interval_ms ? (int)cfg->stats_interval_ms :
						200;
	struct wire_msg hello = { .op = WIRE_HELLO, .val = WIRE_VERSION };
	struct worker *w = calloc(1, sizeof(*w));
	unsigned int i;
	int rc;

	if (!w)
		return -ENOMEM;
	w->cfg = cfg;
	w->sock = cfg->sock;
	/* Blocking sends: a ring's FULL, ROOM or WANT_LEASE must never be
	 * dropped because the supervisor's queue is full for a moment (the
	 * main loop only reads after poll() said there is something). */
	{
		int fl = fcntl(w->sock, F_GETFL);

		if (fl >= 0)
			fcntl(w->sock, F_SETFL, fl & ~O_NONBLOCK);
	}
	pthread_mutex_init(&w->lease_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&w->lease_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	w->nbd_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc = w->nbd_efd < 0 ? -errno : cow_budget_new(0, &w->budget);
	if (!rc)
		rc = init(w);
	if (!rc) {
		cow_budget_set_refill(w->budget, lease_refill, w);
		rc = wire_send(w->sock, &hello, NULL, 0);
	}
	while (!rc) {
		struct pollfd p[2] = { { .fd = w->sock, .events = POLLIN },
				       { .fd = w->nbd_efd, .events = POLLIN } };

		if (poll(p, 2, interval) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (p[1].revents & POLLIN)
			nbd_report(w);
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			rc = handle(w);
			if (rc == -EAGAIN)
				rc = 0;
		}
		stats_refresh(w);
		lease_trim(w);
	}
	if (rc == -EPIPE)
		rc = 0; /* the supervisor hung up: the normal end */
	else
		log_msg(LOG_ERR, "worker %u: %s", cfg->domid, strerror(-rc));
	for (i = 0; i < WIRE_MAX_SLOTS; i++)
		if (w->slots[i].used)
			slot_free(w, i);
	if (w->stats)
		munmap(w->stats, WIRE_STATS_BYTES);
	cow_budget_free(w->budget);
	if (w->nbd_efd >= 0)
		close(w->nbd_efd);
	pthread_cond_destroy(&w->lease_cond);
	pthread_mutex_destroy(&w->lease_lock);
	free(w);
	return rc;
}
