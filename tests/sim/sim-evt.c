/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Simulated event channels, with the semantics of Xen plus Linux's
 * /dev/xen/evtchn as libxenevtchn presents them:
 *
 * - Each domain has a port table. A guest allocates an unbound port for a
 *   remote domain; only that domain may bind it (evt_bind), which creates a
 *   port of its own connected to it.
 * - A kick to a backend port that is unmasked masks it and queues it on its
 *   handle (the fd becomes readable); evt_pending takes it off the queue and
 *   leaves it masked; a kick while masked only sets pending, and evt_unmask
 *   re-queues a pending port. So a backend that unmasks only after draining
 *   its ring sees at most one wake-up per drain however hard the guest kicks.
 * - Closing either end makes the other end unbound; kicks to an unbound port
 *   are dropped silently, as Xen does.
 * - Guest ports keep a kick count on an eventfd (sim_evtchn_fd/_consume), and
 *   every port counts kicks both ways for notify-storm tests.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/sim/sim-priv.h"

struct sim_evt {
	struct xp_evt base; /* first: the seam's handle */
	struct sim *sim;
	uint16_t self;
	unsigned int refs; /* the opener's, and one per export (under lock) */
	int restrict_domid; /* -1, or the only domain it may bind */
	int efd; /* readable while nready > 0 */
	uint32_t *ready; /* FIFO of queued ports, each at most once */
	unsigned int nready, cap;
};

static struct sim_evt *sevt(struct xp_evt *evt)
{
	return (struct sim_evt *)evt;
}

static struct sim_port *port_of(struct sim_dom *d, uint32_t port)
{
	if (!d || port == 0 || port >= d->nports ||
	    d->ports[port].state == SIM_PORT_FREE)
		return NULL;
	return &d->ports[port];
}

/* A free port number in d, growing its table. */
static int port_alloc_locked(struct sim_dom *d, uint32_t *port_r)
{
	struct sim_port *p;
	uint32_t i, n;

	for (i = 1; i < d->nports; i++)
		if (d->ports[i].state == SIM_PORT_FREE)
			break;
	if (i >= d->nports) {
		n = d->nports ? d->nports * 2 : 16;
		if (n > 4096)
			return -ENOSPC;
		p = realloc(d->ports, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memset(p + d->nports, 0, (n - d->nports) * sizeof(*p));
		d->ports = p;
		i = d->nports ? d->nports : 1;
		d->nports = n;
	}
	memset(&d->ports[i], 0, sizeof(d->ports[i]));
	d->ports[i].efd = -1;
	*port_r = i;
	return 0;
}

static void ready_remove(struct sim_evt *e, uint32_t port)
{
	unsigned int i;

	for (i = 0; i < e->nready; i++) {
		if (e->ready[i] == port) {
			memmove(&e->ready[i], &e->ready[i + 1],
				(e->nready - i - 1) * sizeof(e->ready[0]));
			if (--e->nready == 0)
				sim_efd_set(e->efd, false);
			return;
		}
	}
}

static void ready_push(struct sim_evt *e, struct sim_port *p, uint32_t port)
{
	uint32_t *r;

	if (p->queued)
		return;
	if (e->nready == e->cap) {
		unsigned int n = e->cap ? e->cap * 2 : 16;

		r = realloc(e->ready, n * sizeof(*r));
		if (!r) {
			p->pending = true; /* retried at the next unmask */
			return;
		}
		e->ready = r;
		e->cap = n;
	}
	e->ready[e->nready++] = port;
	p->queued = true;
	if (e->nready == 1)
		sim_efd_set(e->efd, true);
}

/* Deliver a kick to port p (number port) of domain d. */
static void raise_locked(struct sim_port *p, uint32_t port)
{
	uint64_t one = 1;
	ssize_t n;

	if (p->evt) {
		if (p->masked) {
			p->pending = true;
		} else {
			p->masked = true;
			ready_push(p->evt, p, port);
		}
		return;
	}
	p->st.to_guest++;
	n = write(p->efd, &one, sizeof(one));
	(void)n;
}

/* Make the other end of p unbound, as Xen does when p closes. */
static void disconnect_locked(struct sim *sim, uint16_t self,
			      struct sim_port *p)
{
	struct sim_port *r;

	if (p->state != SIM_PORT_BOUND)
		return;
	r = port_of(sim_dom_find_locked(sim, p->remote_domid), p->remote_port);
	if (r && r->state == SIM_PORT_BOUND) {
		r->state = SIM_PORT_UNBOUND;
		r->remote_domid = self;
		r->remote_port = 0;
	}
	p->state = SIM_PORT_UNBOUND;
}

static void port_free_locked(struct sim *sim, struct sim_dom *d, uint32_t port)
{
	struct sim_port *p = &d->ports[port];

	disconnect_locked(sim, d->domid, p);
	if (p->evt)
		ready_remove(p->evt, port);
	else if (p->efd >= 0)
		close(p->efd);
	memset(p, 0, sizeof(*p));
	p->efd = -1;
}

void sim_evt_close_dom_locked(struct sim *sim, struct sim_dom *d)
{
	uint32_t i;

	for (i = 1; i < d->nports; i++)
		if (d->ports[i].state != SIM_PORT_FREE)
			port_free_locked(sim, d, i);
}

/* ---- guest side ---- */

int sim_evtchn_alloc_unbound(struct sim *sim, uint16_t domid,
			     uint16_t remote_domid, uint32_t *port_r)
{
	struct sim_dom *d;
	uint32_t port;
	int efd, rc;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0)
		return -errno;
	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	rc = d && d->alive ? port_alloc_locked(d, &port) : -ENOENT;
	if (rc == 0) {
		d->ports[port].state = SIM_PORT_UNBOUND;
		d->ports[port].remote_domid = remote_domid;
		d->ports[port].efd = efd;
		*port_r = port;
	}
	pthread_mutex_unlock(&sim->lock);
	if (rc < 0)
		close(efd);
	return rc;
}

/* Guest port (evt == NULL) of domid, or NULL. */
static struct sim_port *guest_port_locked(struct sim *sim, uint16_t domid,
					  uint32_t port)
{
	struct sim_port *p = port_of(sim_dom_find_locked(sim, domid), port);

	return p && !p->evt ? p : NULL;
}

int sim_evtchn_close(struct sim *sim, uint16_t domid, uint32_t port)
{
	int rc = -EINVAL;

	pthread_mutex_lock(&sim->lock);
	if (guest_port_locked(sim, domid, port)) {
		port_free_locked(sim, sim_dom_find_locked(sim, domid), port);
		rc = 0;
	}
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_evtchn_notify(struct sim *sim, uint16_t domid, uint32_t port)
{
	struct sim_port *p, *r;
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	p = guest_port_locked(sim, domid, port);
	if (!p) {
		rc = -EINVAL;
		goto out;
	}
	p->st.to_backend++;
	if (p->state != SIM_PORT_BOUND)
		goto out; /* dropped, as Xen drops a send on an unbound port */
	r = port_of(sim_dom_find_locked(sim, p->remote_domid), p->remote_port);
	if (r)
		raise_locked(r, p->remote_port);
out:
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_evtchn_fd(struct sim *sim, uint16_t domid, uint32_t port)
{
	struct sim_port *p;
	int rc;

	pthread_mutex_lock(&sim->lock);
	p = guest_port_locked(sim, domid, port);
	rc = p ? p->efd : -EINVAL;
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_evtchn_consume(struct sim *sim, uint16_t domid, uint32_t port,
		       uint64_t *n_r)
{
	struct sim_port *p;
	uint64_t v = 0;
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	p = guest_port_locked(sim, domid, port);
	if (!p)
		rc = -EINVAL;
	else if (read(p->efd, &v, sizeof(v)) != sizeof(v))
		v = 0; /* EAGAIN: no kicks */
	pthread_mutex_unlock(&sim->lock);
	if (rc == 0)
		*n_r = v;
	return rc;
}

int sim_evtchn_is_bound(struct sim *sim, uint16_t domid, uint32_t port,
			bool *bound_r)
{
	struct sim_port *p;
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	p = guest_port_locked(sim, domid, port);
	if (p)
		*bound_r = p->state == SIM_PORT_BOUND;
	else
		rc = -EINVAL;
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_evtchn_stats(struct sim *sim, uint16_t domid, uint32_t port,
		     struct sim_evtchn_stats *st_r)
{
	struct sim_port *p;
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	p = guest_port_locked(sim, domid, port);
	if (p)
		*st_r = p->st;
	else
		rc = -EINVAL;
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

/* ---- backend side (xp ops) ---- */

int sim_evt_open(struct xp *xp, struct xp_evt **evt_r)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_evt *e;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->efd < 0) {
		int rc = -errno;

		free(e);
		return rc;
	}
	e->base.ops = xp->ops;
	e->sim = sx->sim;
	e->self = sx->domid;
	e->refs = 1;
	e->restrict_domid = -1;
	pthread_mutex_lock(&e->sim->lock);
	e->sim->handles++;
	pthread_mutex_unlock(&e->sim->lock);
	*evt_r = &e->base;
	return 0;
}

void sim_evt_close(struct xp_evt *evt)
{
	struct sim_evt *e = sevt(evt);
	struct sim_dom *d;
	uint32_t i;

	if (!e)
		return;
	pthread_mutex_lock(&e->sim->lock);
	if (--e->refs) {
		pthread_mutex_unlock(&e->sim->lock); /* an export still has it */
		return;
	}
	d = sim_dom_find_locked(e->sim, e->self);
	for (i = 1; d && i < d->nports; i++)
		if (d->ports[i].state != SIM_PORT_FREE && d->ports[i].evt == e)
			port_free_locked(e->sim, d, i);
	e->sim->handles--;
	pthread_mutex_unlock(&e->sim->lock);
	close(e->efd);
	free(e->ready);
	free(e);
}

int sim_evt_fd(struct xp_evt *evt)
{
	return sevt(evt)->efd;
}

/* A port of ours owned by e, or NULL. */
static struct sim_port *own_port_locked(struct sim_evt *e, uint32_t port)
{
	struct sim_port *p =
		port_of(sim_dom_find_locked(e->sim, e->self), port);

	return p && p->evt == e ? p : NULL;
}

int sim_evt_bind(struct xp_evt *evt, uint16_t domid, uint32_t remote_port,
		 uint32_t *local_r)
{
	struct sim_evt *e = sevt(evt);
	struct sim_dom *rd, *ld;
	struct sim_port *r, *l;
	uint32_t port;
	int rc;

	pthread_mutex_lock(&e->sim->lock);
	if (e->restrict_domid >= 0 && e->restrict_domid != domid) {
		rc = -EPERM; /* IOCTL_EVTCHN_RESTRICT_DOMID */
		goto out;
	}
	rd = sim_dom_find_locked(e->sim, domid);
	if (!rd || !rd->alive) {
		rc = -ESRCH;
		goto out;
	}
	/* Xen: the remote port must be unbound and offered to us. */
	r = port_of(rd, remote_port);
	if (!r || r->state != SIM_PORT_UNBOUND || r->remote_domid != e->self ||
	    r->evt) {
		rc = -EINVAL;
		goto out;
	}
	ld = sim_dom_find_locked(e->sim, e->self);
	rc = ld ? port_alloc_locked(ld, &port) : -ESRCH;
	if (rc < 0)
		goto out;
	r = &rd->ports[remote_port]; /* ld may be rd: the table may move */
	l = &ld->ports[port];
	l->state = SIM_PORT_BOUND;
	l->remote_domid = domid;
	l->remote_port = remote_port;
	l->evt = e;
	r->state = SIM_PORT_BOUND;
	r->remote_domid = e->self;
	r->remote_port = port;
	*local_r = port;
out:
	pthread_mutex_unlock(&e->sim->lock);
	return rc;
}

int sim_evt_unbind(struct xp_evt *evt, uint32_t local_port)
{
	struct sim_evt *e = sevt(evt);
	int rc = -EINVAL;

	pthread_mutex_lock(&e->sim->lock);
	if (own_port_locked(e, local_port)) {
		port_free_locked(e->sim, sim_dom_find_locked(e->sim, e->self),
				 local_port);
		rc = 0;
	}
	pthread_mutex_unlock(&e->sim->lock);
	return rc;
}

int sim_evt_notify(struct xp_evt *evt, uint32_t local_port)
{
	struct sim_evt *e = sevt(evt);
	struct sim_port *l, *r;
	int rc = 0;

	pthread_mutex_lock(&e->sim->lock);
	l = own_port_locked(e, local_port);
	if (!l) {
		rc = -EINVAL;
		goto out;
	}
	if (l->state != SIM_PORT_BOUND)
		goto out; /* the guest closed its end: dropped */
	r = port_of(sim_dom_find_locked(e->sim, l->remote_domid),
		    l->remote_port);
	if (r)
		raise_locked(r, l->remote_port);
out:
	pthread_mutex_unlock(&e->sim->lock);
	return rc;
}

int sim_evt_pending(struct xp_evt *evt, uint32_t *local_r)
{
	struct sim_evt *e = sevt(evt);
	struct sim_port *p;
	uint32_t port;
	int rc = -EAGAIN;

	pthread_mutex_lock(&e->sim->lock);
	if (e->nready) {
		port = e->ready[0];
		ready_remove(e, port);
		p = own_port_locked(e, port);
		if (p)
			p->queued = false; /* stays masked until evt_unmask */
		*local_r = port;
		rc = 0;
	}
	pthread_mutex_unlock(&e->sim->lock);
	return rc;
}

int sim_evt_unmask(struct xp_evt *evt, uint32_t local_port)
{
	struct sim_evt *e = sevt(evt);
	struct sim_port *p;
	int rc = 0;

	pthread_mutex_lock(&e->sim->lock);
	p = own_port_locked(e, local_port);
	if (!p) {
		rc = -EINVAL;
	} else if (p->pending) {
		/* Kicked while masked: deliver again at once. */
		p->pending = false;
		ready_push(e, p, local_port);
	} else if (!p->queued) {
		p->masked = false;
	}
	pthread_mutex_unlock(&e->sim->lock);
	return rc;
}

/* ---- handing a handle to another process (tests/sim/sim-remote.c) ---- */

int sim_evt_hold(struct xp_evt *evt, uint16_t domid)
{
	struct sim_evt *e = sevt(evt);
	int rc = 0;

	pthread_mutex_lock(&e->sim->lock);
	if (e->restrict_domid >= 0 && e->restrict_domid != domid)
		rc = -EINVAL; /* restricted once, as the kernel allows */
	else {
		e->restrict_domid = domid;
		e->refs++;
	}
	pthread_mutex_unlock(&e->sim->lock);
	return rc;
}

struct sim *sim_evt_sim(struct xp_evt *evt)
{
	return sevt(evt)->sim;
}
