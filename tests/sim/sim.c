/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated host: domains, platform instances and the ops table. The
 * grant table lives in sim-gnt.c, event channels in sim-evt.c, xenstore in
 * sim-xs.c.
 *
 * One mutex (sim->lock) guards all state: this is a test double, and a single
 * lock makes every op atomic, which is what a hypervisor call looks like from
 * the backend. Destroyed domains stay in the table as zombies (alive false)
 * while the backend still maps their grants, as real Xen keeps a dying domain
 * whose pages are mapped; sim_domain_maps lets tests see that leak.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/sim/sim-priv.h"

void sim_efd_set(int efd, bool readable)
{
	uint64_t v = 1;
	ssize_t n;

	/* Non-blocking eventfd: write 1 makes it readable, read clears it. */
	if (readable)
		n = write(efd, &v, sizeof(v));
	else
		n = read(efd, &v, sizeof(v));
	(void)n; /* EAGAIN on read means it already was clear */
}

struct sim_dom *sim_dom_find_locked(struct sim *sim, uint16_t domid)
{
	unsigned int i;

	for (i = 0; i < sim->ndoms; i++)
		if (sim->doms[i]->domid == domid)
			return sim->doms[i];
	return NULL;
}

static void dom_free(struct sim_dom *d)
{
	uint32_t p;

	if (!d)
		return;
	for (p = 0; p < d->nports; p++)
		if (d->ports[p].state != SIM_PORT_FREE && !d->ports[p].evt)
			close(d->ports[p].efd);
	free(d->grants);
	free(d->ports);
	free(d);
}

static int dom_add_locked(struct sim *sim, uint16_t domid)
{
	struct sim_dom *d, **doms;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	doms = realloc(sim->doms, (sim->ndoms + 1) * sizeof(*doms));
	if (!doms) {
		free(d);
		return -ENOMEM;
	}
	d->domid = domid;
	d->alive = true;
	d->shutdown_reason = -1;
	sim->doms = doms;
	sim->doms[sim->ndoms++] = d;
	return 0;
}

static void dom_remove_locked(struct sim *sim, struct sim_dom *d)
{
	unsigned int i;

	for (i = 0; i < sim->ndoms; i++) {
		if (sim->doms[i] == d) {
			sim->doms[i] = sim->doms[--sim->ndoms];
			dom_free(d);
			return;
		}
	}
}

int sim_new(struct sim **sim_r)
{
	struct sim *sim;
	int rc;

	sim = calloc(1, sizeof(*sim));
	if (!sim)
		return -ENOMEM;
	rc = -pthread_mutex_init(&sim->lock, NULL);
	if (rc < 0) {
		free(sim);
		return rc;
	}
	pthread_mutex_init(&sim->thr_lock, NULL);
	sim->next_txn = 1;
	sim->watch_limit = SIM_WATCH_QUEUE_LIMIT;
	sim->node_quota = SIM_XS_NODE_QUOTA;
	rc = dom_add_locked(sim, 0);
	if (rc == 0)
		rc = sim_xs_init(sim);
	if (rc == 0)
		rc = sim_xs_mkdom_locked(sim, 0);
	if (rc < 0) {
		sim_free(sim);
		return rc;
	}
	*sim_r = sim;
	return 0;
}

void sim_free(struct sim *sim)
{
	unsigned int i;

	if (!sim)
		return;
	/* Workers' platform and event-channel threads end when their
	 * workers do (the test has freed its daemon by now). */
	sim_threads_join(sim);
	/* Our invariant, not a guest's: tests close what they open. */
	assert(!sim->xps && sim->handles == 0);
	sim_xs_fini(sim);
	for (i = 0; i < sim->ndoms; i++)
		dom_free(sim->doms[i]);
	free(sim->doms);
	free(sim->hook_path);
	pthread_mutex_destroy(&sim->thr_lock);
	pthread_mutex_destroy(&sim->lock);
	free(sim);
}

int sim_domain_create(struct sim *sim, uint16_t domid)
{
	struct sim_dom *d;
	int rc;

	if (domid == 0 || domid >= SIM_DOMID_LIMIT)
		return -EINVAL;
	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	if (d && (d->alive || sim_domain_maps_locked(d) > 0 ||
		  d->copy_pins > 0)) {
		rc = -EEXIST;
		goto out;
	}
	if (d)
		dom_remove_locked(sim, d); /* a clean zombie: reuse the id */
	rc = dom_add_locked(sim, domid);
	if (rc < 0)
		goto out;
	rc = sim_xs_mkdom_locked(sim, domid);
	if (rc < 0) {
		dom_remove_locked(sim, sim_dom_find_locked(sim, domid));
		goto out;
	}
	sim_xs_fire_special_locked(sim, "@introduceDomain");
out:
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_domain_destroy(struct sim *sim, uint16_t domid)
{
	char path[64];
	struct sim_dom *d;
	int rc = 0;

	if (domid == 0)
		return -EINVAL;
	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	if (!d || !d->alive) {
		rc = -ENOENT;
		goto out;
	}
	d->alive = false;
	sim_gnt_revoke_locked(d);
	sim_evt_close_dom_locked(sim, d);
	sim_dom_tidy_locked(d);
	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	sim_xs_rm_locked(sim, path);
	sim_xs_fire_special_locked(sim, "@releaseDomain");
out:
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

/* Mappings of d's grants, and copies of them in progress: either keeps a
 * destroyed domain's table (and so its pages and id) until it ends. */
unsigned int sim_domain_maps_locked(struct sim_dom *d)
{
	unsigned int n = d->copy_pins;
	uint32_t i;

	for (i = 0; i < d->ngrants; i++)
		n += d->grants[i].maps;
	return n;
}

void sim_dom_tidy_locked(struct sim_dom *d)
{
	uint32_t p;

	if (d->alive || sim_domain_maps_locked(d))
		return;
	for (p = 1; p < d->nports; p++)
		if (d->ports[p].state != SIM_PORT_FREE)
			return; /* not after sim_evt_close_dom_locked */
	free(d->grants);
	d->grants = NULL;
	d->ngrants = 0;
	d->grant_hint = 0;
	free(d->ports);
	d->ports = NULL;
	d->nports = 0;
}

int sim_domain_maps(struct sim *sim, uint16_t domid)
{
	struct sim_dom *d;
	int rc;

	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	rc = d ? (int)sim_domain_maps_locked(d) : -ENOENT;
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_domain_shutdown(struct sim *sim, uint16_t domid, int reason)
{
	struct sim_dom *d;
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	if (d && d->alive) {
		d->shutdown_reason = reason;
		if (reason >= 0)
			sim_xs_fire_special_locked(sim, "@releaseDomain");
	} else {
		rc = -ENOENT;
	}
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_domain_set_hvm(struct sim *sim, uint16_t domid, bool hvm)
{
	struct sim_dom *d;
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	if (d && d->alive)
		d->hvm = hvm;
	else
		rc = -ENOENT;
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_domain_paused(struct sim *sim, uint16_t domid)
{
	struct sim_dom *d;
	int rc;

	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	rc = d && d->alive ? (int)d->paused : -ENOENT;
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

static int sim_dom_info(struct xp *xp, uint16_t domid, struct xp_dominfo *info)
{
	struct sim *sim = ((struct sim_xp *)xp)->sim;
	struct sim_dom *d;
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	if (!d || (!d->alive && sim_domain_maps_locked(d) == 0)) {
		rc = -ENOENT;
	} else {
		*info = (struct xp_dominfo){
			.dying = !d->alive,
			.shutdown = d->shutdown_reason >= 0,
			.shutdown_reason = d->shutdown_reason >= 0 ?
						   (unsigned int)d->shutdown_reason :
						   0,
			.paused = d->paused > 0,
			.hvm = d->hvm,
		};
	}
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

static int sim_dom_pause_op(struct xp *xp, uint16_t domid, bool pause)
{
	struct sim *sim = ((struct sim_xp *)xp)->sim;
	struct sim_dom *d;
	int rc = 0;

	if (((struct sim_xp *)xp)->domid != 0)
		return -EPERM; /* a guest cannot pause anyone */
	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	if (!d || !d->alive)
		rc = -ESRCH;
	else if (pause)
		d->paused++;
	else if (d->paused)
		d->paused--;
	else
		rc = -EINVAL;
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

static int sim_dom_pause(struct xp *xp, uint16_t domid)
{
	return sim_dom_pause_op(xp, domid, true);
}

static int sim_dom_unpause(struct xp *xp, uint16_t domid)
{
	return sim_dom_pause_op(xp, domid, false);
}

static int sim_self_domid(struct xp *xp, uint16_t *domid_r)
{
	*domid_r = ((struct sim_xp *)xp)->domid;
	return 0;
}

static void sim_xp_destroy(struct xp *xp)
{
	struct sim_xp *sx = (struct sim_xp *)xp, **pp;
	struct sim *sim;

	if (!xp)
		return;
	sim = sx->sim;
	pthread_mutex_lock(&sim->lock);
	for (pp = &sim->xps; *pp; pp = &(*pp)->next) {
		if (*pp == sx) {
			*pp = sx->next;
			break;
		}
	}
	sim_xs_xp_fini_locked(sx);
	pthread_mutex_unlock(&sim->lock);
	close(sx->efd);
	free(sx);
}

static const struct xp_ops sim_ops = {
	.name = "sim",
	.gnt_open = sim_gnt_open,
	.gnt_close = sim_gnt_close,
	.gnt_map = sim_gnt_map,
	.gnt_unmap = sim_gnt_unmap,
	.gnt_copy = sim_gnt_copy,
	.evt_open = sim_evt_open,
	.evt_close = sim_evt_close,
	.evt_fd = sim_evt_fd,
	.evt_bind = sim_evt_bind,
	.evt_unbind = sim_evt_unbind,
	.evt_notify = sim_evt_notify,
	.evt_pending = sim_evt_pending,
	.evt_unmask = sim_evt_unmask,
	.evt_export = sim_evt_export,
	.evt_import = xp_refuse_evt_import,
	.xs_read = sim_xs_read,
	.xs_write = sim_xs_write,
	.xs_mkdir = sim_xs_mkdir,
	.xs_rm = sim_xs_rm,
	.xs_directory = sim_xs_directory,
	.xs_set_perms = sim_xs_set_perms,
	.xs_txn_start = sim_xs_txn_start,
	.xs_txn_end = sim_xs_txn_end,
	.xs_watch = sim_xs_watch,
	.xs_unwatch = sim_xs_unwatch,
	.xs_fd = sim_xs_fd,
	.xs_read_watch = sim_xs_read_watch,
	.self_domid = sim_self_domid,
	.dom_info = sim_dom_info,
	.dom_pause = sim_dom_pause,
	.dom_unpause = sim_dom_unpause,
	.destroy = sim_xp_destroy,
};

/* A platform whose xenstore connection and hypercalls are gone. */
static const struct xp_ops severed_ops = {
	.name = "sim-severed",
	.gnt_open = sim_gnt_open,
	.gnt_close = sim_gnt_close,
	.gnt_map = sim_gnt_map,
	.gnt_unmap = sim_gnt_unmap,
	.gnt_copy = sim_gnt_copy,
	.evt_open = xp_refuse_evt_open,
	.evt_close = sim_evt_close,
	.evt_fd = sim_evt_fd,
	.evt_bind = sim_evt_bind,
	.evt_unbind = sim_evt_unbind,
	.evt_notify = sim_evt_notify,
	.evt_pending = sim_evt_pending,
	.evt_unmask = sim_evt_unmask,
	.evt_export = xp_refuse_evt_export,
	.evt_import = xp_refuse_evt_import,
	.xs_read = xp_refuse_xs_read,
	.xs_write = xp_refuse_xs_write,
	.xs_mkdir = xp_refuse_xs_path,
	.xs_rm = xp_refuse_xs_path,
	.xs_directory = xp_refuse_xs_directory,
	.xs_set_perms = xp_refuse_xs_set_perms,
	.xs_txn_start = xp_refuse_xs_txn_start,
	.xs_txn_end = xp_refuse_xs_txn_end,
	.xs_watch = xp_refuse_xs_watch,
	.xs_unwatch = xp_refuse_xs_watch,
	.xs_fd = xp_refuse_xs_fd,
	.xs_read_watch = xp_refuse_xs_read_watch,
	.self_domid = sim_self_domid,
	.dom_info = xp_refuse_dom_info,
	.dom_pause = xp_refuse_dom_op,
	.dom_unpause = xp_refuse_dom_op,
	.destroy = sim_xp_destroy,
};

void sim_xp_sever(struct xp *xp)
{
	xp->ops = &severed_ops;
}

int sim_xp_new(struct sim *sim, uint16_t domid, struct xp **xp_r)
{
	struct sim_xp *sx;
	struct sim_dom *d;
	int rc = 0;

	sx = calloc(1, sizeof(*sx));
	if (!sx)
		return -ENOMEM;
	sx->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sx->efd < 0) {
		rc = -errno;
		free(sx);
		return rc;
	}
	sx->xp.ops = &sim_ops;
	sx->sim = sim;
	sx->domid = domid;
	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	if (d && d->alive) {
		sx->next = sim->xps;
		sim->xps = sx;
	} else {
		rc = -ENOENT;
	}
	pthread_mutex_unlock(&sim->lock);
	if (rc < 0) {
		close(sx->efd);
		free(sx);
		return rc;
	}
	*xp_r = &sx->xp;
	return 0;
}

void sim_usage(struct sim *sim, struct sim_usage *u_r)
{
	struct sim_usage u = { 0 };
	const struct sim_xp *sx;
	unsigned int i;
	uint32_t p;

	u.threads = sim_threads_running(sim);
	pthread_mutex_lock(&sim->lock);
	u.handles = sim->handles;
	for (i = 0; i < sim->ndoms; i++) {
		struct sim_dom *d = sim->doms[i];
		unsigned int maps = sim_domain_maps_locked(d), ports = 0;

		for (p = 1; p < d->nports; p++)
			ports += d->ports[p].state != SIM_PORT_FREE;
		u.ports += ports;
		if (d->domid == 0)
			u.dom0_ports = ports;
		u.maps += maps;
		if (d->alive)
			u.domains++;
		else if (maps)
			u.zombies++;
	}
	for (sx = sim->xps; sx; sx = sx->next)
		u.xps++;
	u.xs_nodes = sim_xs_nodes_locked(sim);
	pthread_mutex_unlock(&sim->lock);
	*u_r = u;
}

void sim_xs_fail_commits(struct sim *sim, unsigned int n)
{
	pthread_mutex_lock(&sim->lock);
	sim->fail_commits = n;
	pthread_mutex_unlock(&sim->lock);
}

void sim_xs_set_watch_limit(struct sim *sim, unsigned int limit)
{
	pthread_mutex_lock(&sim->lock);
	sim->watch_limit = limit ? limit : 1;
	pthread_mutex_unlock(&sim->lock);
}

void sim_xs_set_node_quota(struct sim *sim, unsigned int nodes)
{
	pthread_mutex_lock(&sim->lock);
	sim->node_quota = nodes;
	pthread_mutex_unlock(&sim->lock);
}

void sim_xp_watch_stats(struct xp *xp, struct sim_watch_stats *st_r)
{
	struct sim_xp *sx = (struct sim_xp *)xp;

	assert(xp->ops == &sim_ops);
	pthread_mutex_lock(&sx->sim->lock);
	*st_r = sx->st;
	pthread_mutex_unlock(&sx->sim->lock);
}
