/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The test frontend (see frontend.h): a blkfront written from the protocol
 * description (blkif-peers.md section 1), not from Linux's code.
 *
 * Rings: each queue's 2^order pages are one page-aligned buffer (the sim
 * maps multi-page rings only from contiguous guest memory), initialised by
 * us as SHARED_RING_INIT does (indices 0, both events 1). Request ids are
 * shadow indices (< ring size) as in blkfront; each shadow entry remembers
 * the grants of its request and the op its response must carry.
 *
 * Every slot is written byte-wise at the offsets of backend/blkif.h, for
 * either ABI, after zeroing the whole slot; responses are read the same way.
 * Publication and consumption follow io/ring.h: write slots, release fence,
 * req_prod, full fence, notify iff the backend's req_event lies in the new
 * range; responses: rsp_prod, acquire fence, slots, then the final check
 * (rsp_event = rsp_cons + 1, full fence, look again).
 *
 * Protocol violations by the backend are fatal (fe_die): a test must not
 * go on with a frontend that Linux would have disabled.
 *
 * The daemon harness runs xenbus_process() in one thread behind a mutex, so
 * the test can ask for a device's counters between two passes.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/frontend.h"
#include "xs-glue/save-guard.h"
#include "xs-glue/attach.h"

#define PAGE XE_BLKIF_PAGE_BYTES
#define PATH_BYTES 256u
#define CANARY 0xa5u

static void fe_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void fe_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL frontend: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(NULL);
	exit(1);
}

static void store32(uint8_t *p, uint32_t v);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Guest memory: grantable, and seen by the daemon's workers. */
static void *pages_alloc(size_t n)
{
	void *p = sim_page_alloc((unsigned int)n);

	if (!p)
		fe_die("out of guest memory for %zu pages", n);
	return p;
}

/* ================= the daemon core in a thread ================= */

struct fe_daemon {
	struct sim *sim;
	struct xp *xp; /* the daemon's */
	struct xp *tool_xp; /* the toolstack's (the test's) */
	struct xenbus *xb;
	pthread_mutex_t lock;
	pthread_t thread;
	int stop_fd;
};

static void *daemon_main(void *arg)
{
	struct fe_daemon *d = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = xenbus_fd(d->xb), .events = POLLIN },
			{ .fd = d->stop_fd, .events = POLLIN },
		};
		int timeout, rc;

		pthread_mutex_lock(&d->lock);
		timeout = xenbus_timeout_ms(d->xb);
		pthread_mutex_unlock(&d->lock);
		if (timeout < 0 || timeout > 100)
			timeout = 100;
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			fe_die("daemon poll: %s", strerror(errno));
		if (p[1].revents)
			break;
		pthread_mutex_lock(&d->lock);
		rc = xenbus_process(d->xb);
		pthread_mutex_unlock(&d->lock);
		if (rc)
			fe_die("xenbus_process: %s", strerror(-rc));
	}
	return NULL;
}

/*
 * The daemon core's workers are real processes: tests/sim/sim-worker, the
 * product's worker over a socket back to this process's simulated Xen
 * (its supervisor socket on 3, the sim's on 4).
 */
static int fe_spawn_worker(void *arg, uint16_t domid, int sock, pid_t *pid_r)
{
	struct fe_daemon *d = arg;
	const char *path = getenv("XE_SIM_WORKER");
	posix_spawn_file_actions_t fa;
	char dom[16], *argv[4];
	int sv[2], a, b, rc;

	if (!path)
		path = "./tests/sim/sim-worker";
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	a = fcntl(sock, F_DUPFD_CLOEXEC, 10);
	b = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
	close(sv[1]);
	rc = sim_remote_serve(d->sim, sv[0]); /* takes sv[0] */
	if (rc || a < 0 || b < 0) {
		if (a >= 0)
			close(a);
		if (b >= 0)
			close(b);
		return rc ? rc : -EMFILE;
	}
	snprintf(dom, sizeof(dom), "%u", domid);
	argv[0] = (char *)path;
	argv[1] = "--domid";
	argv[2] = dom;
	argv[3] = NULL;
	rc = posix_spawn_file_actions_init(&fa);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, a, 3);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, b, 4);
	if (!rc)
		rc = posix_spawn(pid_r, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(a);
	close(b); /* the sim's thread sees the hang-up if the spawn failed */
	return -rc;
}

int fe_daemon_new(struct sim *sim, const struct xenbus_config *cfg_in,
		  struct fe_daemon **d_r)
{
	struct fe_daemon *d = calloc(1, sizeof(*d));
	struct xenbus_config c = *cfg_in, *cfg = &c;
	int rc;

	if (!d)
		return -ENOMEM;
	d->sim = sim;
	d->stop_fd = -1;
	if (!c.spawn) {
		c.spawn = fe_spawn_worker;
		c.spawn_arg = d;
	}
	rc = sim_xp_new(sim, 0, &d->xp);
	if (rc)
		goto fail;
	rc = sim_xp_new(sim, 0, &d->tool_xp);
	if (rc)
		goto fail;
	rc = xenbus_new(d->xp, cfg, &d->xb);
	if (rc)
		goto fail;
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->stop_fd < 0) {
		rc = -errno;
		goto fail;
	}
	pthread_mutex_init(&d->lock, NULL);
	rc = -pthread_create(&d->thread, NULL, daemon_main, d);
	if (rc) {
		pthread_mutex_destroy(&d->lock);
		goto fail;
	}
	*d_r = d;
	return 0;
fail:
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	xenbus_free(d->xb);
	if (d->tool_xp)
		xp_destroy(d->tool_xp);
	if (d->xp)
		xp_destroy(d->xp);
	free(d);
	return rc;
}

void fe_daemon_free(struct fe_daemon *d)
{
	uint64_t one = 1;

	if (!d)
		return;
	if (write(d->stop_fd, &one, sizeof(one)) != sizeof(one))
		fe_die("cannot stop the daemon thread");
	pthread_join(d->thread, NULL);
	xenbus_free(d->xb);
	close(d->stop_fd);
	pthread_mutex_destroy(&d->lock);
	xp_destroy(d->tool_xp);
	xp_destroy(d->xp);
	free(d);
}

void fe_daemon_crash(struct fe_daemon *d)
{
	uint64_t one = 1;

	if (write(d->stop_fd, &one, sizeof(one)) != sizeof(one))
		fe_die("cannot stop the daemon thread");
	pthread_join(d->thread, NULL);
	/* from here on, nothing the core does reaches xenstore */
	sim_xp_sever(d->xp);
	xenbus_free(d->xb); /* its workers hung up on: they wipe and end */
	close(d->stop_fd);
	pthread_mutex_destroy(&d->lock);
	xp_destroy(d->tool_xp);
	xp_destroy(d->xp);
	free(d);
}

struct xp *fe_daemon_xp(struct fe_daemon *d)
{
	return d->tool_xp;
}

struct xp *fe_daemon_core_xp(struct fe_daemon *d)
{
	return d->xp;
}

struct dev_find {
	uint16_t domid;
	uint32_t devid;
	bool found;
	unsigned int count;
	struct xenbus_dev_info *info;
};

static void dev_find_fn(const struct xenbus_dev_info *info, void *arg)
{
	struct dev_find *f = arg;

	f->count++;
	if (f->info && info->domid == f->domid && info->devid == f->devid) {
		*f->info = *info;
		f->found = true;
	}
}

/*
 * The workers' counters as of now: every worker refreshes its stats page
 * (a test reads them right after its I/O), and the daemon thread takes
 * the answers.
 */
static void fresh_stats(struct fe_daemon *d)
{
	struct registry *reg;
	uint64_t token, end = now_ms() + 5000;
	bool fresh = false;

	pthread_mutex_lock(&d->lock);
	reg = xenbus_registry(d->xb);
	token = registry_stats_request(reg);
	pthread_mutex_unlock(&d->lock);
	while (!fresh && now_ms() < end) {
		pthread_mutex_lock(&d->lock);
		fresh = registry_stats_fresh(reg, token);
		pthread_mutex_unlock(&d->lock);
		if (!fresh)
			sleep_ms(1);
	}
}

int fe_daemon_dev(struct fe_daemon *d, uint16_t domid, uint32_t devid,
		  struct xenbus_dev_info *info_r)
{
	struct dev_find f = { .domid = domid, .devid = devid, .info = info_r };

	if (info_r)
		fresh_stats(d);
	pthread_mutex_lock(&d->lock);
	xenbus_for_each(d->xb, dev_find_fn, &f);
	pthread_mutex_unlock(&d->lock);
	return f.found ? 0 : -ENOENT;
}

unsigned int fe_daemon_nr_disks(struct fe_daemon *d)
{
	unsigned int n;

	pthread_mutex_lock(&d->lock);
	n = registry_nr_disks(xenbus_registry(d->xb));
	pthread_mutex_unlock(&d->lock);
	return n;
}

struct nbd_find {
	uint16_t owner;
	uint32_t devid;
	unsigned int clients;
};

static void nbd_find_fn(const struct xenbus_disk_info *info, void *arg)
{
	struct nbd_find *f = arg;

	if (info->owner == f->owner && info->devid == f->devid)
		f->clients = info->nbd_clients;
}

unsigned int fe_daemon_disk_nbd_clients(struct fe_daemon *d, uint16_t owner,
					uint32_t devid)
{
	struct nbd_find f = { owner, devid, 0 };

	fresh_stats(d);
	pthread_mutex_lock(&d->lock);
	xenbus_for_each_disk(d->xb, nbd_find_fn, &f);
	pthread_mutex_unlock(&d->lock);
	return f.clients;
}

struct used_sum {
	uint64_t blks;
	unsigned int open;
};

static void used_sum_fn(const struct xenbus_disk_info *info, void *arg)
{
	struct used_sum *u = arg;

	if (info->state == DISK_OPEN) {
		u->blks += info->cow.used_blks;
		u->open++;
	}
}

uint64_t fe_daemon_used_blks(struct fe_daemon *d, unsigned int *nr_open_r)
{
	struct used_sum u = { 0 };

	fresh_stats(d);
	pthread_mutex_lock(&d->lock);
	xenbus_for_each_disk(d->xb, used_sum_fn, &u);
	pthread_mutex_unlock(&d->lock);
	*nr_open_r = u.open;
	return u.blks;
}

int fe_daemon_set_limit(struct fe_daemon *d, uint16_t domid, const char *dev,
			uint64_t bytes)
{
	char err[256];
	int rc;

	pthread_mutex_lock(&d->lock);
	rc = xenbus_set_limit(d->xb, domid, dev, bytes, err, sizeof(err));
	pthread_mutex_unlock(&d->lock);
	if (rc)
		fprintf(stderr, "set-limit: %s\n", err);
	return rc;
}

uint64_t fe_daemon_leased_blks(struct fe_daemon *d)
{
	uint64_t n;

	pthread_mutex_lock(&d->lock);
	n = registry_leased_blks(xenbus_registry(d->xb));
	pthread_mutex_unlock(&d->lock);
	return n;
}

pid_t fe_daemon_worker_pid(struct fe_daemon *d, uint16_t owner)
{
	pid_t pid;

	pthread_mutex_lock(&d->lock);
	pid = registry_worker_pid(xenbus_registry(d->xb), owner);
	pthread_mutex_unlock(&d->lock);
	return pid;
}

int fe_daemon_forget(struct fe_daemon *d, const char *uuid)
{
	int rc;

	pthread_mutex_lock(&d->lock);
	rc = save_guard_forget(xenbus_save_guard(d->xb), uuid);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void fe_daemon_watch_stats(struct fe_daemon *d, struct sim_watch_stats *st)
{
	sim_xp_watch_stats(d->xp, st);
}

unsigned int fe_daemon_nr_devs(struct fe_daemon *d)
{
	struct dev_find f = { 0 };

	pthread_mutex_lock(&d->lock);
	xenbus_for_each(d->xb, dev_find_fn, &f);
	pthread_mutex_unlock(&d->lock);
	return f.count;
}

int fe_attach(struct fe_daemon *d, uint16_t domid, uint32_t devid,
	      const char *spec, bool read_only)
{
	char vdev[16], err[256] = "";
	struct attach_req req = { .domid = domid,
				  .vdev = vdev,
				  .spec = spec,
				  .read_only = read_only };
	int rc;

	snprintf(vdev, sizeof(vdev), "%u", devid);
	rc = attach_device(d->tool_xp, &req, err, sizeof(err));
	if (rc)
		fprintf(stderr, "attach %u/%u: %s\n", domid, devid, err);
	return rc;
}

/* ================= the frontend ================= */

struct shadow {
	struct fe_req *req; /* NULL: free */
	uint8_t expect_op;
	unsigned int nr_grefs;
	uint32_t *grefs; /* data and indirect grants to end */
	unsigned int grefs_cap;
	void *ind; /* indirect descriptor pages (owned) */
	unsigned int ind_pages;
};

struct queue {
	uint8_t *sring; /* 2^order pages */
	uint32_t refs[1u << FE_MAX_ORDER];
	bool granted;
	uint32_t port;
	bool port_open;
	uint32_t req_prod_pvt, rsp_cons;
	unsigned int inflight;
	struct shadow *shadow;
	uint32_t *free_ids; /* stack */
	unsigned int nr_free;
};

struct fe {
	struct sim *sim;
	struct xp *xp;
	uint16_t domid, backend_id;
	uint32_t devid;
	struct fe_opts opts;
	char fe_dir[PATH_BYTES];
	char be_dir[PATH_BYTES];
	char be_error[256];
	struct fe_backend_info be;
	unsigned int order, nr_queues, nr_ents, stride;
	unsigned int max_ind; /* segments per INDIRECT request we use */
	bool connected, dead;
	unsigned int timeout_ms; /* any wait for the backend */
	struct queue q[FE_MAX_QUEUES];
	struct fe_wire wire; /* scratch: too big for the stack */
};

/* ---- xenstore ---- */

static char *xs_get(struct fe *fe, const char *dir, const char *node)
{
	char path[PATH_BYTES * 2];
	char *v = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, node);
	if (xp_xs_read(fe->xp, XP_XS_NO_TXN, path, &v, NULL))
		return NULL;
	return v;
}

static int xs_put(struct fe *fe, uint32_t txn, const char *dir,
		  const char *node, const char *val)
{
	char path[PATH_BYTES * 2];

	snprintf(path, sizeof(path), "%s/%s", dir, node);
	return xp_xs_write(fe->xp, txn, path, val, strlen(val));
}

static int xs_rm(struct fe *fe, uint32_t txn, const char *dir, const char *node)
{
	char path[PATH_BYTES * 2];

	snprintf(path, sizeof(path), "%s/%s", dir, node);
	return xp_xs_rm(fe->xp, txn, path);
}

static int xs_putu(struct fe *fe, uint32_t txn, const char *dir,
		   const char *node, unsigned long long v)
{
	char val[32];

	snprintf(val, sizeof(val), "%llu", v);
	return xs_put(fe, txn, dir, node, val);
}

/* A backend number node; def if absent or not a number. */
static unsigned long long be_num(struct fe *fe, const char *node,
				 unsigned long long def)
{
	char *v = xs_get(fe, fe->be_dir, node), *end;
	unsigned long long n;

	if (!v)
		return def;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v || *end)
		n = def;
	free(v);
	return n;
}

char *fe_read_be(struct fe *fe, const char *node)
{
	return xs_get(fe, fe->be_dir, node);
}

int fe_write_fe(struct fe *fe, const char *node, const char *val)
{
	return xs_put(fe, XP_XS_NO_TXN, fe->fe_dir, node, val);
}

int fe_backend_state(struct fe *fe)
{
	return (int)be_num(fe, "state", 0);
}

int fe_wait_backend_state(struct fe *fe, int want, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (fe_backend_state(fe) == want)
			return 0;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(1);
	}
}

/* Wait for one of the states in mask (bit n = state n); returns it. */
static int wait_state_mask(struct fe *fe, unsigned int mask, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		int st = fe_backend_state(fe);

		if (st >= 0 && st < 16 && (mask & (1u << st)))
			return st;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(1);
	}
}

static int set_state(struct fe *fe, int state)
{
	return xs_putu(fe, XP_XS_NO_TXN, fe->fe_dir, "state",
		       (unsigned long long)state);
}

const struct fe_backend_info *fe_backend(const struct fe *fe)
{
	return &fe->be;
}

const char *fe_backend_error(const struct fe *fe)
{
	return fe->be_error;
}

unsigned int fe_nr_queues(const struct fe *fe)
{
	return fe->nr_queues;
}

unsigned int fe_ring_size(const struct fe *fe)
{
	return fe->nr_ents;
}

uint32_t fe_port(const struct fe *fe, unsigned int q)
{
	return fe->q[q].port;
}

char *fe_backend_path(const struct fe *fe)
{
	return strdup(fe->be_dir);
}

int fe_new(struct sim *sim, uint16_t domid, uint32_t devid,
	   const struct fe_opts *opts, struct fe **fe_r)
{
	struct fe *fe = calloc(1, sizeof(*fe));
	char *v;
	int rc;

	if (!fe)
		return -ENOMEM;
	fe->sim = sim;
	fe->domid = domid;
	fe->devid = devid;
	fe->opts = *opts;
	if (!fe->opts.queues)
		fe->opts.queues = 1;
	fe->timeout_ms = opts->timeout_ms ? opts->timeout_ms : FE_TIMEOUT_MS;
	rc = sim_xp_new(sim, domid, &fe->xp);
	if (rc) {
		free(fe);
		return rc;
	}
	snprintf(fe->fe_dir, sizeof(fe->fe_dir),
		 "/local/domain/%u/device/vbd/%u", domid, devid);
	v = xs_get(fe, fe->fe_dir, "backend");
	if (!v || strlen(v) >= sizeof(fe->be_dir)) {
		free(v);
		xp_destroy(fe->xp);
		free(fe);
		return -ENOENT;
	}
	strcpy(fe->be_dir, v);
	free(v);
	v = xs_get(fe, fe->fe_dir, "backend-id");
	fe->backend_id = v ? (uint16_t)atoi(v) : 0;
	free(v);
	*fe_r = fe;
	return 0;
}

/* ---- rings ---- */

static void free_queue(struct fe *fe, struct queue *qu)
{
	unsigned int i;

	if (qu->granted && !fe->dead)
		for (i = 0; i < (1u << fe->order); i++) {
			int rc = sim_ungrant(fe->sim, fe->domid, qu->refs[i]);

			if (rc)
				fe_die("dom%u: ring page %u still mapped by "
				       "the backend (%d)",
				       fe->domid, i, rc);
		}
	qu->granted = false;
	if (qu->port_open && !fe->dead)
		sim_evtchn_close(fe->sim, fe->domid, qu->port);
	qu->port_open = false;
	if (qu->shadow)
		for (i = 0; i < fe->nr_ents; i++) {
			free(qu->shadow[i].grefs);
			sim_page_free(qu->shadow[i].ind);
		}
	free(qu->shadow);
	free(qu->free_ids);
	sim_page_free(qu->sring);
	memset(qu, 0, sizeof(*qu));
}

static void free_rings(struct fe *fe)
{
	unsigned int i;

	for (i = 0; i < FE_MAX_QUEUES; i++)
		free_queue(fe, &fe->q[i]);
	fe->connected = false;
}

static int alloc_queue(struct fe *fe, struct queue *qu)
{
	unsigned int i, pages = 1u << fe->order;
	int rc;

	qu->sring = pages_alloc(pages);
	/* SHARED_RING_INIT: indices 0, events 1 */
	qu->sring[XE_BLKIF_RING_OFF_REQ_EVENT] = 1;
	qu->sring[XE_BLKIF_RING_OFF_RSP_EVENT] = 1;
	if (fe->opts.overfull && qu == &fe->q[fe->opts.overfull_queue])
		store32(qu->sring + XE_BLKIF_RING_OFF_REQ_PROD,
			fe->nr_ents + 1);
	qu->shadow = calloc(fe->nr_ents, sizeof(*qu->shadow));
	qu->free_ids = calloc(fe->nr_ents, sizeof(*qu->free_ids));
	if (!qu->shadow || !qu->free_ids)
		return -ENOMEM;
	for (i = 0; i < fe->nr_ents; i++)
		qu->free_ids[i] = fe->nr_ents - 1 - i;
	qu->nr_free = fe->nr_ents;
	for (i = 0; i < pages; i++) {
		rc = sim_grant(fe->sim, fe->domid, qu->sring + (size_t)i * PAGE,
			       false, &qu->refs[i]);
		if (rc)
			return rc;
	}
	qu->granted = true;
	rc = sim_evtchn_alloc_unbound(fe->sim, fe->domid, fe->backend_id,
				      &qu->port);
	if (rc)
		return rc;
	qu->port_open = true;
	return 0;
}

/* All ring nodes, as blkfront's talk_to_blkback writes them. */
static int write_ring_nodes(struct fe *fe, uint32_t t)
{
	const struct fe_opts *o = &fe->opts;
	unsigned int q, i;
	int rc = 0;

	/* Nodes of an earlier connection in another shape must not stay. */
	{
		static const char *const stale[] = { "ring-page-order",
						     "multi-queue-num-queues",
						     "event-channel",
						     "protocol", "ring-ref" };
		char path[32];

		for (i = 0; i < sizeof(stale) / sizeof(stale[0]) && !rc; i++)
			rc = xs_rm(fe, t, fe->fe_dir, stale[i]);
		for (i = 0; i < (1u << FE_MAX_ORDER) && !rc; i++) {
			snprintf(path, sizeof(path), "ring-ref%u", i);
			rc = xs_rm(fe, t, fe->fe_dir, path);
		}
		for (i = 0; i < FE_MAX_QUEUES && !rc; i++) {
			snprintf(path, sizeof(path), "queue-%u", i);
			rc = xs_rm(fe, t, fe->fe_dir, path);
		}
	}
	if (o->raw_ring_page_order)
		rc = xs_put(fe, t, fe->fe_dir, "ring-page-order",
			    o->raw_ring_page_order);
	else if (fe->order > 0)
		rc = xs_putu(fe, t, fe->fe_dir, "ring-page-order", fe->order);
	if (o->raw_num_queues)
		rc = rc	   ?:
			     xs_put(fe, t, fe->fe_dir, "multi-queue-num-queues",
				    o->raw_num_queues);
	else if (fe->nr_queues > 1 || o->num_queues_1)
		rc = rc	   ?:
			     xs_putu(fe, t, fe->fe_dir,
				     "multi-queue-num-queues", fe->nr_queues);
	for (q = 0; q < fe->nr_queues && !rc; q++) {
		char dir[PATH_BYTES + 24], node[32];

		if (fe->nr_queues > 1)
			snprintf(dir, sizeof(dir), "%s/queue-%u", fe->fe_dir,
				 q);
		else
			snprintf(dir, sizeof(dir), "%s", fe->fe_dir);
		for (i = 0; i < (1u << fe->order) && !rc; i++) {
			if (fe->order == 0 && !o->raw_ring_page_order)
				snprintf(node, sizeof(node), "ring-ref");
			else
				snprintf(node, sizeof(node), "ring-ref%u", i);
			if (q == 0 && i == 0 && o->raw_ring_ref)
				rc = xs_put(fe, t, dir, node, o->raw_ring_ref);
			else
				rc = xs_putu(fe, t, dir, node,
					     fe->q[q].refs[i]);
		}
		/* A raw order that the backend parses as 0 needs ring-ref. */
		if (!rc && o->raw_ring_page_order && fe->order == 0)
			rc = xs_putu(fe, t, dir, "ring-ref", fe->q[q].refs[0]);
		if (q == 0 && o->raw_event_channel)
			rc = rc	   ?:
				     xs_put(fe, t, dir, "event-channel",
					    o->raw_event_channel);
		else
			rc = rc	   ?:
				     xs_putu(fe, t, dir, "event-channel",
					     fe->q[q].port);
	}
	if (o->raw_protocol)
		rc = rc	   ?:
			     xs_put(fe, t, fe->fe_dir, "protocol",
				    o->raw_protocol);
	else if (!o->no_protocol)
		rc = rc	   ?:
			     xs_put(fe, t, fe->fe_dir, "protocol",
				    o->abi == XE_BLKIF_ABI_X86_32 ?
					    "x86_32-abi" :
					    "x86_64-abi");
	return rc;
}

static void read_be_error(struct fe *fe)
{
	char *v = xs_get(fe, fe->be_dir, "error");

	snprintf(fe->be_error, sizeof(fe->be_error), "%s", v ? v : "");
	free(v);
}

int fe_connect(struct fe *fe)
{
	const struct fe_opts *o = &fe->opts;
	unsigned int q;
	int st, rc, attempt;

	fe->be_error[0] = '\0';
	if (o->grub_style) {
		/* GRUB's xendisk: one page, one queue, straight to 3. */
		fe->order = 0;
		fe->nr_queues = 1;
		goto rings;
	}
	st = wait_state_mask(fe, 1u << 2 | 1u << 5 | 1u << 6, fe->timeout_ms);
	if (st < 0)
		return st;
	if (st != 2) {
		read_be_error(fe);
		return -EPROTO;
	}
	/* talk_to_blkback: the limits must be there at InitWait. */
	fe->be.max_ring_page_order =
		(unsigned int)be_num(fe, "max-ring-page-order", 0);
	fe->be.max_queues =
		(unsigned int)be_num(fe, "multi-queue-max-queues", 1);
	fe->order = o->order;
	fe->nr_queues = o->queues;
	if (!o->no_cap) {
		if (fe->order > fe->be.max_ring_page_order)
			fe->order = fe->be.max_ring_page_order;
		if (fe->nr_queues > fe->be.max_queues)
			fe->nr_queues = fe->be.max_queues;
	}
rings:
	if (fe->order > FE_MAX_ORDER || fe->nr_queues < 1 ||
	    fe->nr_queues > FE_MAX_QUEUES)
		return -EINVAL;
	fe->nr_ents = XE_BLKIF_RING_ENTRIES(fe->order);
	fe->stride = XE_BLKIF_SLOT_BYTES(o->abi);
	for (q = 0; q < fe->nr_queues; q++) {
		rc = alloc_queue(fe, &fe->q[q]);
		if (rc)
			goto fail;
	}
	for (attempt = 0;; attempt++) {
		uint32_t t;

		rc = xp_xs_txn_start(fe->xp, &t);
		if (rc)
			goto fail;
		rc = write_ring_nodes(fe, t);
		if (rc) {
			xp_xs_txn_end(fe->xp, t, true);
			goto fail;
		}
		rc = xp_xs_txn_end(fe->xp, t, false);
		if (rc != -EAGAIN || attempt > 16)
			break;
	}
	if (rc)
		goto fail;
	rc = set_state(fe, 3);
	if (rc)
		goto fail;
	st = wait_state_mask(fe, 1u << 4 | 1u << 5 | 1u << 6, fe->timeout_ms);
	if (st != 4) {
		read_be_error(fe);
		rc = st < 0 ? st : -EPROTO;
		goto fail_keep; /* the backend may map them: fe_close */
	}
	/* blkfront_connect: the disk's properties and features. */
	fe->be.sectors = be_num(fe, "sectors", 0);
	fe->be.info = (unsigned int)be_num(fe, "info", ~0u);
	fe->be.sector_size = (unsigned int)be_num(fe, "sector-size", 0);
	fe->be.physical_sector_size =
		(unsigned int)be_num(fe, "physical-sector-size", 0);
	fe->be.flush = be_num(fe, "feature-flush-cache", 0) == 1;
	fe->be.barrier = be_num(fe, "feature-barrier", 0) == 1;
	fe->be.persistent = be_num(fe, "feature-persistent", 0) == 1;
	fe->be.discard = be_num(fe, "feature-discard", 0) == 1;
	fe->be.discard_granularity =
		(unsigned int)be_num(fe, "discard-granularity", 0);
	fe->be.max_indirect =
		(unsigned int)be_num(fe, "feature-max-indirect-segments", 0);
	/* blkfront ignores an indirect maximum of 11 or less. */
	fe->max_ind = o->max_indirect < fe->be.max_indirect ?
			      o->max_indirect :
			      fe->be.max_indirect;
	if (fe->max_ind <= XE_BLKIF_MAX_SEGS)
		fe->max_ind = 0;
	if (fe->be.sectors == 0 || fe->be.sector_size != 512 ||
	    fe->be.info == ~0u)
		fe_die("dom%u: backend published sectors %" PRIu64
		       " sector-size %u info %u",
		       fe->domid, fe->be.sectors, fe->be.sector_size,
		       fe->be.info);
	fe->connected = true;
	if (o->grub_style)
		return 0; /* GRUB stays Initialised until it closes */
	return set_state(fe, 4);
fail:
	free_rings(fe);
	return rc;
fail_keep:
	fe->connected = true; /* the rings exist; fe_close ends them */
	return rc;
}

int fe_close(struct fe *fe)
{
	unsigned int q;
	int rc, st;

	for (q = 0; q < fe->nr_queues; q++)
		if (fe->q[q].inflight)
			fe_die("dom%u: close with %u requests in flight",
			       fe->domid, fe->q[q].inflight);
	rc = set_state(fe, 5);
	if (rc)
		return rc;
	st = wait_state_mask(fe, 1u << 5 | 1u << 6, fe->timeout_ms);
	if (st < 0)
		return st;
	rc = set_state(fe, 6);
	if (rc)
		return rc;
	rc = fe_wait_backend_state(fe, 6, fe->timeout_ms);
	if (rc)
		return rc;
	free_rings(fe);
	return 0;
}

int fe_close_grub(struct fe *fe)
{
	int rc;

	/* grub_xendisk_fini: 6 with no 5, wait, blank the nodes, 1. */
	rc = set_state(fe, 6);
	if (!rc)
		rc = fe_wait_backend_state(fe, 6, fe->timeout_ms);
	if (!rc)
		rc = fe_write_fe(fe, "ring-ref", "");
	if (!rc)
		rc = fe_write_fe(fe, "event-channel", "");
	if (rc)
		return rc;
	free_rings(fe);
	return set_state(fe, 1);
}

int fe_windows_prepare(struct fe *fe)
{
	int st, rc;

	/* FrontendClose: past Initialising, Closing until the backend
	 * closes, Closed until it is Closed; FrontendPrepare: Initialising
	 * until InitWait (xenvbd waits with no timeout: we take 10 s). */
	st = wait_state_mask(fe, ~(1u << 1 | 1u), fe->timeout_ms);
	if (st < 0)
		return st;
	rc = set_state(fe, 5);
	if (!rc && wait_state_mask(fe, 1u << 5 | 1u << 6, fe->timeout_ms) < 0)
		rc = -ETIMEDOUT;
	if (!rc)
		rc = set_state(fe, 6);
	if (!rc)
		rc = fe_wait_backend_state(fe, 6, fe->timeout_ms);
	if (!rc)
		rc = set_state(fe, 1);
	if (!rc)
		rc = fe_wait_backend_state(fe, 2, fe->timeout_ms);
	return rc;
}

int fe_reconnect(struct fe *fe)
{
	int rc = set_state(fe, 1);

	/* The backend is still Closed from before: wait for InitWait. */
	rc = rc ?: fe_wait_backend_state(fe, 2, fe->timeout_ms);
	return rc ?: fe_connect(fe);
}

void fe_domain_gone(struct fe *fe)
{
	fe->dead = true;
}

void fe_free(struct fe *fe)
{
	uint64_t end;

	if (!fe)
		return;
	if (fe->dead) {
		/* The backend still maps the ring pages until it notices. */
		end = now_ms() + fe->timeout_ms;
		while (sim_domain_maps(fe->sim, fe->domid) > 0 &&
		       now_ms() < end)
			sleep_ms(1);
		if (sim_domain_maps(fe->sim, fe->domid) > 0)
			fe_die("dom%u: backend never unmapped the dead "
			       "domain's pages",
			       fe->domid);
	}
	free_rings(fe);
	xp_destroy(fe->xp);
	free(fe);
}

/* ---- slots ---- */

static void put8(volatile uint8_t *p, unsigned int off, uint8_t v)
{
	p[off] = v;
}

static void put_le(volatile uint8_t *p, unsigned int off, uint64_t v,
		   unsigned int bytes)
{
	unsigned int i;

	for (i = 0; i < bytes; i++)
		p[off + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const volatile uint8_t *p, unsigned int off,
		       unsigned int bytes)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < bytes; i++)
		v |= (uint64_t)p[off + i] << (8 * i);
	return v;
}

static uint32_t load32(const uint8_t *p)
{
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
}

static void store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED);
}

volatile uint8_t *fe_raw_slot(struct fe *fe, unsigned int q, uint32_t idx)
{
	return fe->q[q].sring + XE_BLKIF_RING_OFF_SLOTS +
	       (size_t)(idx & (fe->nr_ents - 1)) * fe->stride;
}

void fe_raw_encode(struct fe *fe, unsigned int q, uint32_t idx,
		   const struct fe_wire *w)
{
	volatile uint8_t *s = fe_raw_slot(fe, q, idx);
	bool x32 = fe->opts.abi == XE_BLKIF_ABI_X86_32;
	unsigned int id_off =
		x32 ? XE_BLKIF_REQ_OFF_ID_X86_32 : XE_BLKIF_REQ_OFF_ID_NATIVE;
	unsigned int sec_off = x32 ? XE_BLKIF_REQ_OFF_SECTOR_X86_32 :
				     XE_BLKIF_REQ_OFF_SECTOR_NATIVE;
	unsigned int i;

	for (i = 0; i < fe->stride; i++)
		s[i] = 0;
	put8(s, XE_BLKIF_REQ_OFF_OP, w->op);
	put8(s, 1, w->byte1);
	put_le(s, id_off, w->id, 8);
	put_le(s, sec_off, w->sector, 8);
	if (w->op == XE_BLKIF_OP_INDIRECT) {
		put_le(s, XE_BLKIF_IND_OFF_NR_SEGS, w->nr_segs16, 2);
		put_le(s,
		       x32 ? XE_BLKIF_IND_OFF_HANDLE_X86_32 :
			     XE_BLKIF_IND_OFF_HANDLE_NATIVE,
		       w->handle, 2);
		for (i = 0;
		     i < w->nr_ind_pages && i < XE_BLKIF_MAX_INDIRECT_PAGES;
		     i++)
			put_le(s,
			       (x32 ? XE_BLKIF_IND_OFF_GREFS_X86_32 :
				      XE_BLKIF_IND_OFF_GREFS_NATIVE) +
				       4 * i,
			       w->ind_grefs[i], 4);
		return;
	}
	put_le(s, XE_BLKIF_REQ_OFF_HANDLE, w->handle, 2);
	if (w->op == XE_BLKIF_OP_DISCARD) {
		put_le(s,
		       x32 ? XE_BLKIF_DISCARD_OFF_NR_SECTORS_X86_32 :
			     XE_BLKIF_DISCARD_OFF_NR_SECTORS_NATIVE,
		       w->discard_nr_sectors, 8);
		return;
	}
	for (i = 0; i < w->nr_descs && i < XE_BLKIF_MAX_SEGS; i++) {
		unsigned int off = (x32 ? XE_BLKIF_REQ_OFF_SEG_X86_32 :
					  XE_BLKIF_REQ_OFF_SEG_NATIVE) +
				   i * XE_BLKIF_SEG_BYTES;

		put_le(s, off + XE_BLKIF_SEG_OFF_GREF, w->desc[i].gref, 4);
		put8(s, off + XE_BLKIF_SEG_OFF_FIRST, w->desc[i].first_sect);
		put8(s, off + XE_BLKIF_SEG_OFF_LAST, w->desc[i].last_sect);
	}
}

uint32_t fe_raw_req_prod_pvt(const struct fe *fe, unsigned int q)
{
	return fe->q[q].req_prod_pvt;
}

void fe_raw_set_req_prod(struct fe *fe, unsigned int q, uint32_t v)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	store32(fe->q[q].sring + XE_BLKIF_RING_OFF_REQ_PROD, v);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

uint32_t fe_raw_rsp_prod(struct fe *fe, unsigned int q)
{
	return load32(fe->q[q].sring + XE_BLKIF_RING_OFF_RSP_PROD);
}

uint32_t fe_raw_req_event(struct fe *fe, unsigned int q)
{
	return load32(fe->q[q].sring + XE_BLKIF_RING_OFF_REQ_EVENT);
}

void fe_raw_notify(struct fe *fe, unsigned int q)
{
	sim_evtchn_notify(fe->sim, fe->domid, fe->q[q].port);
}

/* ---- requests ---- */

static void shadow_add_gref(struct shadow *sh, uint32_t ref)
{
	if (sh->nr_grefs == sh->grefs_cap) {
		unsigned int cap = sh->grefs_cap ? sh->grefs_cap * 2 : 16;
		uint32_t *g = realloc(sh->grefs, cap * sizeof(*g));

		if (!g)
			fe_die("out of memory");
		sh->grefs = g;
		sh->grefs_cap = cap;
	}
	sh->grefs[sh->nr_grefs++] = ref;
}

static void end_grants(struct fe *fe, struct shadow *sh)
{
	unsigned int i;

	for (i = 0; i < sh->nr_grefs; i++) {
		int rc = sim_ungrant(fe->sim, fe->domid, sh->grefs[i]);

		/* gnttab_try_end_foreign_access: blkfront disables the
		 * device if the backend still has access. */
		if (rc)
			fe_die("dom%u: grant %u still in use after its "
			       "response (%d)",
			       fe->domid, sh->grefs[i], rc);
	}
	sh->nr_grefs = 0;
}

int fe_submit(struct fe *fe, unsigned int q, struct fe_req *req)
{
	struct queue *qu = &fe->q[q];
	struct fe_wire *w = &fe->wire;
	struct shadow *sh;
	bool ro, indirect = false;
	unsigned int i, max_direct = XE_BLKIF_MAX_SEGS;
	uint32_t id, ref;
	int rc;

	if (!fe->connected || q >= fe->nr_queues)
		return -ENOTCONN;
	if (!qu->nr_free || qu->req_prod_pvt - qu->rsp_cons >= fe->nr_ents)
		return -EAGAIN;
	if (!req->tamper) {
		switch (req->op) {
		case XE_BLKIF_OP_READ:
		case XE_BLKIF_OP_WRITE:
			if (req->nr_segs < 1)
				return -EINVAL;
			break;
		case XE_BLKIF_OP_FLUSH_DISKCACHE:
		case XE_BLKIF_OP_DISCARD:
			if (!fe_uses(fe, req->op))
				return -EOPNOTSUPP;
			break;
		default:
			return -EINVAL;
		}
		if (req->indirect &&
		    (!fe->max_ind || req->nr_segs > fe->max_ind ||
		     (req->op != XE_BLKIF_OP_READ &&
		      req->op != XE_BLKIF_OP_WRITE)))
			return -EINVAL;
		if (!req->indirect && req->nr_segs > max_direct)
			return -EINVAL;
	}
	indirect = req->indirect;
	if (req->nr_segs > XE_BLKIF_MAX_INDIRECT_SEGS)
		return -EINVAL;
	id = qu->free_ids[--qu->nr_free];
	sh = &qu->shadow[id];
	sh->req = req;
	sh->nr_grefs = 0;
	req->done = false;
	req->status = 0;

	memset(w, 0, offsetof(struct fe_wire, desc));
	w->nr_ind_pages = 0;
	memset(w->ind_grefs, 0, sizeof(w->ind_grefs));
	w->id = id;
	w->sector = req->sector;
	w->handle = (uint16_t)fe->devid;
	/* Data to the backend travels read-only; reads need writable. */
	ro = req->op != XE_BLKIF_OP_READ;
	for (i = 0; i < req->nr_segs; i++) {
		rc = sim_grant(fe->sim, fe->domid, req->segs[i].page, ro, &ref);
		if (rc)
			fe_die("dom%u: sim_grant: %d", fe->domid, rc);
		shadow_add_gref(sh, ref);
		w->desc[i].gref = ref;
		w->desc[i].first_sect = req->segs[i].first_sect;
		w->desc[i].last_sect = req->segs[i].last_sect;
	}
	w->nr_descs = req->nr_segs;
	if (indirect) {
		w->op = XE_BLKIF_OP_INDIRECT;
		w->byte1 = req->op;
		w->nr_segs16 = (uint16_t)req->nr_segs;
		w->nr_ind_pages =
			(req->nr_segs + XE_BLKIF_SEGS_PER_INDIRECT_PAGE - 1) /
			XE_BLKIF_SEGS_PER_INDIRECT_PAGE;
		if (!w->nr_ind_pages)
			w->nr_ind_pages = 1;
		w->expect_op = req->op;
	} else if (req->op == XE_BLKIF_OP_DISCARD) {
		w->op = XE_BLKIF_OP_DISCARD;
		w->byte1 = req->discard_secure ? XE_BLKIF_DISCARD_SECURE : 0;
		w->discard_nr_sectors = req->nr_sectors;
		w->expect_op = XE_BLKIF_OP_DISCARD;
	} else {
		w->op = req->op;
		w->byte1 = (uint8_t)req->nr_segs;
		w->expect_op = req->op;
	}
	if (req->tamper)
		req->tamper(w, req->tamper_arg);
	/* Indirect pages: written after tampering, so a hook can lie in
	 * the descriptors too; granted read-only. */
	if (w->op == XE_BLKIF_OP_INDIRECT && w->nr_ind_pages) {
		unsigned int np =
			w->nr_ind_pages > XE_BLKIF_MAX_INDIRECT_PAGES ?
				XE_BLKIF_MAX_INDIRECT_PAGES :
				w->nr_ind_pages;

		if (sh->ind_pages < np) {
			sim_page_free(sh->ind);
			sh->ind = pages_alloc(np);
			sh->ind_pages = np;
		}
		memset(sh->ind, 0, (size_t)np * PAGE);
		for (i = 0; i < w->nr_descs; i++) {
			uint8_t *d = (uint8_t *)sh->ind +
				     (size_t)i * XE_BLKIF_SEG_BYTES;

			if (i >= np * XE_BLKIF_SEGS_PER_INDIRECT_PAGE)
				break;
			put_le(d, XE_BLKIF_SEG_OFF_GREF, w->desc[i].gref, 4);
			d[XE_BLKIF_SEG_OFF_FIRST] = w->desc[i].first_sect;
			d[XE_BLKIF_SEG_OFF_LAST] = w->desc[i].last_sect;
		}
		for (i = 0; i < np; i++) {
			rc = sim_grant(fe->sim, fe->domid,
				       (uint8_t *)sh->ind + (size_t)i * PAGE,
				       true, &ref);
			if (rc)
				fe_die("dom%u: sim_grant: %d", fe->domid, rc);
			shadow_add_gref(sh, ref);
			/* a hook may have set a bad ref on purpose */
			if (!w->ind_grefs[i])
				w->ind_grefs[i] = ref;
		}
	}
	sh->expect_op = w->expect_op;
	fe_raw_encode(fe, q, qu->req_prod_pvt, w);
	qu->req_prod_pvt++;
	qu->inflight++;
	return 0;
}

void fe_kick(struct fe *fe, unsigned int q)
{
	struct queue *qu = &fe->q[q];
	uint32_t old = load32(qu->sring + XE_BLKIF_RING_OFF_REQ_PROD);
	uint32_t new = qu->req_prod_pvt, event;

	__atomic_thread_fence(__ATOMIC_RELEASE); /* slots before index */
	store32(qu->sring + XE_BLKIF_RING_OFF_REQ_PROD, new);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* index before req_event */
	event = load32(qu->sring + XE_BLKIF_RING_OFF_REQ_EVENT);
	if ((uint32_t)(new - event) < (uint32_t)(new - old))
		sim_evtchn_notify(fe->sim, fe->domid, qu->port);
}

/* Take and check every response published so far; count them. */
static int take_responses(struct fe *fe, unsigned int q)
{
	struct queue *qu = &fe->q[q];
	bool x32 = fe->opts.abi == XE_BLKIF_ABI_X86_32;
	unsigned int rsp_bytes =
		x32 ? XE_BLKIF_RSP_BYTES_X86_32 : XE_BLKIF_RSP_BYTES_NATIVE;
	uint32_t rp, i;
	int n = 0;

	rp = load32(qu->sring + XE_BLKIF_RING_OFF_RSP_PROD);
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* index before slots */
	if ((uint32_t)(rp - qu->rsp_cons) > qu->inflight)
		fe_die("dom%u/%u q%u: %u responses for %u requests "
		       "(rsp_prod %u, rsp_cons %u)",
		       fe->domid, fe->devid, q, rp - qu->rsp_cons, qu->inflight,
		       rp, qu->rsp_cons);
	for (i = qu->rsp_cons; i != rp; i++) {
		const volatile uint8_t *s = fe_raw_slot(fe, q, i);
		uint64_t id = get_le(s, XE_BLKIF_RSP_OFF_ID, 8);
		uint8_t op = s[XE_BLKIF_RSP_OFF_OP];
		int16_t status = (int16_t)get_le(s, XE_BLKIF_RSP_OFF_STATUS, 2);
		struct shadow *sh;
		struct fe_req *req;
		unsigned int b;

		if (id >= fe->nr_ents || !qu->shadow[id].req)
			fe_die("dom%u/%u q%u: response with id %" PRIu64
			       " not outstanding",
			       fe->domid, fe->devid, q, id);
		sh = &qu->shadow[id];
		if (op != sh->expect_op)
			fe_die("dom%u/%u q%u: response op %u for a request "
			       "of op %u",
			       fe->domid, fe->devid, q, op, sh->expect_op);
		if (s[XE_BLKIF_RSP_OFF_PAD])
			fe_die("dom%u/%u q%u: response padding byte 9 is %u",
			       fe->domid, fe->devid, q,
			       s[XE_BLKIF_RSP_OFF_PAD]);
		for (b = XE_BLKIF_RSP_OFF_STATUS + 2; b < rsp_bytes; b++)
			if (s[b])
				fe_die("dom%u/%u q%u: response padding byte "
				       "%u is %u",
				       fe->domid, fe->devid, q, b, s[b]);
		if (status != XE_BLKIF_RSP_OKAY &&
		    status != XE_BLKIF_RSP_ERROR &&
		    status != XE_BLKIF_RSP_EOPNOTSUPP)
			fe_die("dom%u/%u q%u: response status %d", fe->domid,
			       fe->devid, q, status);
		end_grants(fe, sh);
		req = sh->req;
		sh->req = NULL;
		qu->free_ids[qu->nr_free++] = (uint32_t)id;
		qu->inflight--;
		req->status = status;
		req->done = true;
		n++;
		if (req->done_fn)
			req->done_fn(req, req->done_arg);
	}
	qu->rsp_cons = rp;
	return n;
}

/* Wait until fd is readable (a kick) or the deadline; true if kicked. */
static bool wait_kick(int fd, uint64_t end)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t t = now_ms();
		int rc;

		if (t >= end)
			return false;
		rc = poll(&p, 1, (int)(end - t));
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			fe_die("poll: %s", strerror(errno));
	}
}

int fe_wait(struct fe *fe, unsigned int q, int timeout_ms)
{
	struct queue *qu = &fe->q[q];
	uint64_t end = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
	int fd = sim_evtchn_fd(fe->sim, fe->domid, qu->port);
	uint64_t grace = fe->timeout_ms > 10000 ? fe->timeout_ms / 10 : 1000;
	int n = 0;

	for (;;) {
		uint64_t kicks;

		n += take_responses(fe, q);
		/* RING_FINAL_CHECK_FOR_RESPONSES: ask for a kick at the
		 * next response, then look again. */
		store32(qu->sring + XE_BLKIF_RING_OFF_RSP_EVENT,
			qu->rsp_cons + 1);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (load32(qu->sring + XE_BLKIF_RING_OFF_RSP_PROD) !=
		    qu->rsp_cons)
			continue;
		if (n > 0 || !qu->inflight)
			return n;
		/* Sleep until the backend kicks us: we look at the ring
		 * again only then, so a backend that forgets to notify
		 * makes us time out instead of being rescued by polling. */
		if (!wait_kick(fd, end)) {
			if (load32(qu->sring + XE_BLKIF_RING_OFF_RSP_PROD) ==
			    qu->rsp_cons)
				return -ETIMEDOUT;
			/* Published, not notified: allow for a notify in
			 * flight at the deadline (a tenth of the patience,
			 * at least 1 s: a loaded soak's notify goes through
			 * a thread of this process), then call it a bug. */
			if (!wait_kick(fd, now_ms() + grace))
				fe_die("dom%u/%u q%u: responses published up "
				       "to %u with rsp_event %u, but no "
				       "notification",
				       fe->domid, fe->devid, q,
				       load32(qu->sring +
					      XE_BLKIF_RING_OFF_RSP_PROD),
				       qu->rsp_cons + 1);
		}
		sim_evtchn_consume(fe->sim, fe->domid, qu->port, &kicks);
	}
}

bool fe_uses(const struct fe *fe, uint8_t op)
{
	switch (op) {
	case XE_BLKIF_OP_FLUSH_DISKCACHE:
		return fe->be.flush && !fe->opts.no_flush;
	case XE_BLKIF_OP_DISCARD:
		return fe->be.discard && !fe->opts.no_discard;
	case XE_BLKIF_OP_INDIRECT:
		return fe->max_ind > 0;
	default:
		return op == XE_BLKIF_OP_READ || op == XE_BLKIF_OP_WRITE;
	}
}

unsigned int fe_inflight(const struct fe *fe, unsigned int q)
{
	return fe->q[q].inflight;
}

int fe_io(struct fe *fe, unsigned int q, struct fe_req *req)
{
	uint64_t end = now_ms() + fe->timeout_ms;
	int rc = fe_submit(fe, q, req);

	if (rc)
		return rc;
	fe_kick(fe, q);
	while (!req->done) {
		uint64_t t = now_ms();

		if (t >= end)
			return -ETIMEDOUT;
		rc = fe_wait(fe, q, (int)(end - t));
		if (rc < 0 && !req->done)
			return rc;
	}
	return req->status;
}

/* ---- data helpers ---- */

struct rw_plan {
	unsigned int nr_segs;
	struct fe_seg *segs;
	void **pages;
	unsigned int nr_pages;
};

/* Lay nr_sectors out in guest pages; a buffer of them is returned. */
static void plan_layout(struct rw_plan *p, uint32_t nr_sectors,
			enum fe_layout layout, struct rng *rng)
{
	uint32_t left = nr_sectors;
	unsigned int cap = nr_sectors; /* at most one segment per sector */

	p->segs = calloc(cap, sizeof(*p->segs));
	p->pages = calloc(cap, sizeof(*p->pages));
	if (!p->segs || !p->pages)
		fe_die("out of memory");
	p->nr_segs = 0;
	p->nr_pages = 0;
	while (left) {
		struct fe_seg *s = &p->segs[p->nr_segs++];
		unsigned int first = 0, n;

		if (layout == FE_SCATTER && rng) {
			first = (unsigned int)rng_below(rng, 8);
			n = 1 + (unsigned int)rng_below(rng, 8 - first);
		} else {
			n = 8;
		}
		if (n > left)
			n = left;
		s->page = pages_alloc(1);
		memset(s->page, CANARY, PAGE);
		p->pages[p->nr_pages++] = s->page;
		s->first_sect = (uint8_t)first;
		s->last_sect = (uint8_t)(first + n - 1);
		left -= n;
	}
}

static void plan_free(struct rw_plan *p)
{
	unsigned int i;

	for (i = 0; i < p->nr_pages; i++)
		sim_page_free(p->pages[i]);
	free(p->pages);
	free(p->segs);
}

static size_t seg_bytes(const struct fe_seg *s)
{
	return (size_t)(s->last_sect - s->first_sect + 1) *
	       XE_BLKIF_SECTOR_BYTES;
}

static int worse(int a, int b)
{
	if (a < 0 && a != XE_BLKIF_RSP_ERROR && a != XE_BLKIF_RSP_EOPNOTSUPP)
		return a; /* a transport error (timeout) */
	if (b < 0 && b != XE_BLKIF_RSP_ERROR && b != XE_BLKIF_RSP_EOPNOTSUPP)
		return b;
	if (a == XE_BLKIF_RSP_ERROR || b == XE_BLKIF_RSP_ERROR)
		return XE_BLKIF_RSP_ERROR;
	return a ? a : b;
}

int fe_rw(struct fe *fe, unsigned int q, uint8_t op, uint64_t sector, void *buf,
	  uint32_t nr_sectors, enum fe_layout layout, struct rng *rng)
{
	unsigned int per_req = fe->max_ind ? fe->max_ind : XE_BLKIF_MAX_SEGS;
	struct rw_plan p;
	struct fe_req *reqs;
	unsigned int nr_reqs, i, s, next = 0;
	uint64_t sec = sector, end = now_ms() + fe->timeout_ms;
	uint8_t *b = buf;
	int worst = 0;

	if (!nr_sectors)
		return -EINVAL;
	plan_layout(&p, nr_sectors, layout, rng);
	nr_reqs = (p.nr_segs + per_req - 1) / per_req;
	reqs = calloc(nr_reqs, sizeof(*reqs));
	if (!reqs)
		fe_die("out of memory");
	for (i = 0, s = 0; i < nr_reqs; i++) {
		struct fe_req *r = &reqs[i];
		unsigned int k;

		r->op = op;
		r->segs = &p.segs[s];
		r->nr_segs = p.nr_segs - s < per_req ? p.nr_segs - s : per_req;
		r->indirect = r->nr_segs > XE_BLKIF_MAX_SEGS;
		r->sector = sec;
		for (k = 0; k < r->nr_segs; k++) {
			size_t len = seg_bytes(&r->segs[k]);

			if (op != XE_BLKIF_OP_READ)
				memcpy((uint8_t *)r->segs[k].page +
					       r->segs[k].first_sect *
						       XE_BLKIF_SECTOR_BYTES,
				       b, len);
			b += len;
			sec += len / XE_BLKIF_SECTOR_BYTES;
		}
		s += r->nr_segs;
	}
	/* Keep the ring as full as it goes. */
	for (;;) {
		int rc;

		while (next < nr_reqs) {
			rc = fe_submit(fe, q, &reqs[next]);
			if (rc == -EAGAIN)
				break;
			if (rc)
				fe_die("dom%u: fe_submit: %d", fe->domid, rc);
			next++;
		}
		fe_kick(fe, q);
		for (i = 0; i < nr_reqs && reqs[i].done; i++)
			;
		if (i == nr_reqs)
			break;
		rc = fe_wait(fe, q, 100);
		if (rc == -ETIMEDOUT && now_ms() >= end) {
			worst = -ETIMEDOUT;
			break; /* the requests stay in flight */
		}
	}
	b = buf;
	for (i = 0; i < nr_reqs && worst != -ETIMEDOUT; i++) {
		struct fe_req *r = &reqs[i];
		unsigned int k;

		worst = worse(worst, r->status);
		for (k = 0; k < r->nr_segs; k++) {
			const uint8_t *pg = r->segs[k].page;
			size_t len = seg_bytes(&r->segs[k]);
			size_t off = r->segs[k].first_sect *
				     XE_BLKIF_SECTOR_BYTES,
			       j;

			if (op == XE_BLKIF_OP_READ) {
				/* Nothing outside the segment may change. */
				for (j = 0; j < PAGE; j++)
					if ((j < off || j >= off + len) &&
					    pg[j] != CANARY)
						fe_die("dom%u: read wrote byte "
						       "%zu of a page outside "
						       "sectors %u-%u",
						       fe->domid, j,
						       r->segs[k].first_sect,
						       r->segs[k].last_sect);
				if (r->status == 0)
					memcpy(b, pg + off, len);
			}
			b += len;
		}
	}
	if (worst != -ETIMEDOUT)
		plan_free(&p);
	/* else: pages may still be granted; leak them with the test */
	if (worst != -ETIMEDOUT)
		free(reqs);
	return worst;
}

int fe_flush(struct fe *fe, unsigned int q)
{
	struct fe_req r = { .op = XE_BLKIF_OP_FLUSH_DISKCACHE };

	return fe_io(fe, q, &r);
}

int fe_discard(struct fe *fe, unsigned int q, uint64_t sector,
	       uint64_t nr_sectors)
{
	struct fe_req r = { .op = XE_BLKIF_OP_DISCARD,
			    .sector = sector,
			    .nr_sectors = nr_sectors };

	return fe_io(fe, q, &r);
}
