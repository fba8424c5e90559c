/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The disk registry (xs-glue/registry.h).
 *
 * What it owns: the list of disks, each with its spec, its attachment
 * counts and where it lives (its owner's worker, a slot there); the open
 * jobs; and the workers (xs-glue/workers.c).
 *
 * Opening a disk touches the filesystem (the base, a scratch directory, a
 * block device), and any of that can be slow: an NFS base, a dead device.
 * So the plan (xs-glue/disk.c) is made in a detached thread of its own;
 * the main loop never waits for one. A job's result comes back through a
 * done list and an eventfd; its descriptors then go to the worker, which
 * builds the view and answers. A disk whose last attachment went while its
 * plan was being made is dropped when the job reports. At registry_free()
 * jobs still running are abandoned: each closes what it opened. The job's
 * mutex orders "abandoned" against the thread's report, so a thread never
 * touches a freed registry.
 *
 * Answers from a worker are matched by tag: the high bits name the disk
 * (a number never reused), the low 16 bits a connect of one attachment,
 * so a late answer about a disk that is gone, or about a connect that was
 * taken back, is recognised and ignored. An answer with a tag never
 * issued means the worker is broken.
 *
 * Invariants: a disk in the list has at least one attachment, or is being
 * dropped; a disk is "in its worker" from the OPEN sent to the CLOSE sent
 * (or the worker's end), and only those hold a slot there.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backend/nbd.h"
#include "platform/log.h"
#include "xs-glue/registry.h"
#include "xs-glue/workers.h"

#define ERR_BYTES 256u
#define TAG_SHIFT 16u
#define TAG_SEQ_MASK 0xffffu

struct open_job;

struct disk {
	struct disk *next;
	uint16_t owner;
	uint32_t devid;
	struct diskspec spec;
	bool read_only;
	enum disk_state state;
	char error[ERR_BYTES];
	unsigned int attached[WIRE_MAX_ATT];
	unsigned int nbd_clients; /* as the worker last said */
	struct open_job *job;     /* while the plan is being made */
	bool orphan;              /* every attachment went meanwhile */
	bool stale;               /* failed before we knew it: never shared */
	/* in the worker */
	bool in_worker;
	pid_t worker; /* the process it is in */
	unsigned int slot;
	uint64_t tag; /* a disk number, never reused (high bits of tags) */
	uint64_t sectors;
	enum cow_kind kind;
	bool connecting[WIRE_MAX_ATT];
	uint16_t conn_seq[WIRE_MAX_ATT];
	char nbd_path[108]; /* the socket we made, "" if none */
	uint64_t capacity_blks; /* the overlay store's, from the plan */
	bool paused; /* its owner is paused for it (on-full=pause) */
};

struct open_job {
	pthread_mutex_t lock;
	unsigned int refs;      /* the thread's and the registry's */
	bool abandoned;         /* the registry is gone: close your plan */
	struct registry *reg;   /* valid while !abandoned, under lock */
	struct disk *disk;      /* registry side only */
	struct open_job *next;  /* on the done list */
	disk_plan_fn *plan;
	struct diskspec spec;
	struct disk_plan dp;
	int rc;
	char err[ERR_BYTES];
};

struct registry {
	struct registry_config cfg;
	struct disk *disks;
	unsigned int nr_disks;
	struct workers *ws;
	int efd;  /* a job finished */
	int epfd; /* efd and the workers' */
	uint64_t next_tag;
	bool closing; /* registry_free(): start nothing */
	pthread_mutex_t done_lock;
	struct open_job *done; /* finished jobs, newest first */
};

/* ---- jobs ---- */

static void job_put(struct open_job *job)
{
	bool last;

	pthread_mutex_lock(&job->lock);
	last = --job->refs == 0;
	pthread_mutex_unlock(&job->lock);
	if (last) {
		pthread_mutex_destroy(&job->lock);
		free(job);
	}
}

static void *job_main(void *arg)
{
	struct open_job *job = arg;
	int rc;

	rc = job->plan(&job->spec, &job->dp, job->err, sizeof(job->err));
	pthread_mutex_lock(&job->lock);
	job->rc = rc;
	if (job->abandoned) {
		if (!rc)
			disk_plan_close(&job->dp); /* nobody will use it */
	} else {
		uint64_t one = 1;

		pthread_mutex_lock(&job->reg->done_lock);
		job->next = job->reg->done;
		job->reg->done = job;
		pthread_mutex_unlock(&job->reg->done_lock);
		if (write(job->reg->efd, &one, sizeof(one)) != sizeof(one))
			log_msg(LOG_ERR, "registry: cannot signal an open");
	}
	pthread_mutex_unlock(&job->lock);
	job_put(job);
	return NULL;
}

static int job_start(struct registry *reg, struct disk *d)
{
	struct open_job *job = calloc(1, sizeof(*job));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (!job)
		return -ENOMEM;
	pthread_mutex_init(&job->lock, NULL);
	job->refs = 2;
	job->reg = reg;
	job->disk = d;
	job->plan = reg->cfg.plan ? reg->cfg.plan : disk_plan_open;
	job->spec = d->spec;
	job->dp.base_fd = job->dp.scratch_fd = -1;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = -pthread_create(&t, &attr, job_main, job);
	pthread_attr_destroy(&attr);
	if (rc) {
		pthread_mutex_destroy(&job->lock);
		free(job);
		return rc;
	}
	d->job = job;
	return 0;
}

static unsigned int free_slot(const struct registry *reg, uint16_t owner);
static void fail_disk(struct disk *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- disks ---- */

static struct disk *find_disk(struct registry *reg, uint16_t owner,
			      uint32_t devid)
{
	struct disk *d;

	/* An orphan is on its way out: a new attachment gets a new disk. */
	for (d = reg->disks; d; d = d->next)
		if (d->owner == owner && d->devid == devid && !d->orphan &&
		    !d->stale)
			return d;
	return NULL;
}

/* The disk in owner's worker that a worker's tag names, or NULL. */
static struct disk *disk_of_tag(struct registry *reg, uint16_t owner,
				unsigned int slot, uint64_t tag)
{
	struct disk *d;

	for (d = reg->disks; d; d = d->next)
		if (d->owner == owner && d->in_worker && d->slot == slot &&
		    d->tag == tag >> TAG_SHIFT)
			return d;
	return NULL;
}

static bool owner_has_disks(const struct registry *reg, uint16_t owner)
{
	const struct disk *d;

	for (d = reg->disks; d; d = d->next)
		if (d->owner == owner)
			return true;
	return false;
}

static void unlink_disk(struct registry *reg, struct disk *d)
{
	struct disk **pp;

	for (pp = &reg->disks; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			reg->nr_disks--;
			return;
		}
}

static void send_simple(struct registry *reg, struct disk *d, uint32_t op,
			unsigned int att)
{
	struct wire_msg m = { .op = op,
			      .slot = d->slot,
			      .att = att,
			      .tag = d->tag << TAG_SHIFT };

	workers_send(reg->ws, d->owner, &m, NULL, 0);
}

static void set_paused(struct registry *reg, struct disk *d, bool pause)
{
	int rc;

	if (d->paused == pause || !reg->cfg.pause)
		return;
	rc = reg->cfg.pause(reg->cfg.arg, d->owner, pause);
	if (rc) {
		log_msg(LOG_ERR, "%u/%u: cannot %spause domain %u: %s",
			d->owner, d->devid, pause ? "" : "un", d->owner,
			strerror(-rc));
		if (pause)
			return;
	}
	d->paused = pause;
	log_msg(pause ? LOG_WARNING : LOG_INFO,
		pause ? "%u/%u: overlay full (on-full=pause): domain %u "
			"paused until there is room (xen-ephemeral set-limit)" :
			"%u/%u: room again: domain %u resumed",
		d->owner, d->devid, d->owner);
}

/* Out of the list, out of its worker (wiped there), freed. */
static void drop_disk(struct registry *reg, struct disk *d)
{
	uint16_t owner = d->owner;

	set_paused(reg, d, false);
	unlink_disk(reg, d);
	if (d->in_worker)
		send_simple(reg, d, WIRE_CLOSE, 0);
	if (d->nbd_path[0])
		unlink(d->nbd_path); /* we made it; the worker's copy goes */
	free(d);
	if (!owner_has_disks(reg, owner))
		workers_release(reg->ws, owner);
}

static void close_disk(struct registry *reg, struct disk *d)
{
	log_msg(LOG_INFO, "%u/%u: last attachment gone: disk closed%s",
		d->owner, d->devid,
		d->in_worker ? ", overlay and key wiped" : "");
	drop_disk(reg, d);
}

static unsigned int total_attached(const struct disk *d)
{
	return d->attached[ATTACH_GUEST] + d->attached[ATTACH_STUBDOM] +
	       d->nbd_clients;
}

static bool same_spec(const struct diskspec *a, const struct diskspec *b)
{
	char fa[2 * DISKSPEC_PATH_MAX + 256], fb[sizeof(fa)];

	return !diskspec_format(a, fa, sizeof(fa)) &&
	       !diskspec_format(b, fb, sizeof(fb)) && !strcmp(fa, fb);
}

static const char *kind_name(enum attach_kind kind)
{
	return kind == ATTACH_GUEST ? "the guest's own" : "its stubdomain's";
}

/* May this second (or later) attachment join d? */
static int check_share(const struct disk *d, const struct diskspec *spec,
		       bool read_only, enum attach_kind kind, char *err,
		       size_t err_len)
{
	if (d->attached[kind]) {
		snprintf(err, err_len,
			 "domain %u already has disk %u attached through %s "
			 "frontend: a second device with that id is refused",
			 d->owner, d->devid, kind_name(kind));
		return -EBUSY;
	}
	if (!same_spec(&d->spec, spec) || d->read_only != read_only) {
		snprintf(err, err_len,
			 "domain %u's disk %u is already attached with another "
			 "spec or mode: refused",
			 d->owner, d->devid);
		return -EBUSY;
	}
	return 0;
}

int registry_attach(struct registry *reg, uint16_t owner, uint32_t devid,
		    const struct diskspec *spec, bool read_only,
		    enum attach_kind kind, struct disk **disk_r, char *err,
		    size_t err_len)
{
	struct disk *d = find_disk(reg, owner, devid);
	int rc;

	if (kind != ATTACH_GUEST && kind != ATTACH_STUBDOM) {
		snprintf(err, err_len,
			 "NBD clients attach through registry_export_nbd()");
		return -EINVAL;
	}
	if (d) {
		rc = check_share(d, spec, read_only, kind, err, err_len);
		if (rc)
			return rc;
		d->attached[kind]++;
		*disk_r = d;
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	d->owner = owner;
	d->devid = devid;
	d->spec = *spec;
	d->read_only = read_only;
	d->state = DISK_OPENING;
	d->attached[kind] = 1;
	d->tag = ++reg->next_tag;
	rc = job_start(reg, d);
	if (rc) {
		snprintf(err, err_len, "cannot start opening the disk: %s",
			 strerror(-rc));
		free(d);
		return rc;
	}
	d->next = reg->disks;
	reg->disks = d;
	reg->nr_disks++;
	*disk_r = d;
	return 0;
}

int registry_attach_failed(struct registry *reg, uint16_t owner,
			   uint32_t devid, enum attach_kind kind,
			   const char *why, struct disk **disk_r)
{
	struct disk *d;

	if (kind != ATTACH_GUEST && kind != ATTACH_STUBDOM)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->owner = owner;
	d->devid = devid;
	d->attached[kind] = 1;
	d->tag = ++reg->next_tag;
	d->stale = true; /* never found: a new attachment gets a new disk */
	fail_disk(d, "%s", why);
	d->next = reg->disks;
	reg->disks = d;
	reg->nr_disks++;
	*disk_r = d;
	return 0;
}

void registry_detach(struct registry *reg, struct disk *d,
		     enum attach_kind kind)
{
	if (kind != ATTACH_GUEST && kind != ATTACH_STUBDOM)
		return;
	if (d->attached[kind])
		d->attached[kind]--;
	if (!d->attached[kind])
		registry_disconnect(reg, d, kind);
	if (total_attached(d))
		return;
	if (d->job) {
		d->orphan = true; /* dropped when its open reports */
		return;
	}
	close_disk(reg, d);
}

int registry_connect(struct registry *reg, struct disk *d,
		     enum attach_kind att, const struct wire_rings *rings,
		     const int *evt_fds, char *err, size_t err_len)
{
	struct wire_msg m = { .op = WIRE_CONNECT, .att = att };
	int rc;

	if (att >= WIRE_MAX_ATT || d->state != DISK_OPEN || !d->in_worker ||
	    rings->nr_queues < 1 || rings->nr_queues > VBD_MAX_QUEUES) {
		snprintf(err, err_len, "the disk is not open");
		return -EINVAL;
	}
	m.slot = d->slot;
	m.u.rings = *rings;
	m.tag = d->tag << TAG_SHIFT | ++d->conn_seq[att];
	rc = workers_send(reg->ws, d->owner, &m, evt_fds, rings->nr_queues);
	if (rc) {
		snprintf(err, err_len, "its worker is gone");
		return rc;
	}
	d->connecting[att] = true;
	return 0;
}

int registry_serve_errors(struct registry *reg, struct disk *d,
			  enum attach_kind att, const struct wire_rings *rings,
			  const int *evt_fds, char *err, size_t err_len)
{
	struct wire_msg m = { .op = WIRE_CONNECT, .att = att, .val = 1 };
	int rc;

	if (att >= WIRE_MAX_ATT || d->state != DISK_FAILED ||
	    rings->nr_queues < 1 || rings->nr_queues > VBD_MAX_QUEUES) {
		snprintf(err, err_len, "not a failed disk");
		return -EINVAL;
	}
	if (!d->in_worker) {
		d->slot = free_slot(reg, d->owner);
		if (d->slot == WIRE_MAX_SLOTS) {
			snprintf(err, err_len, "no slot left in the worker");
			return -ENOSPC;
		}
	}
	m.slot = d->slot;
	m.u.rings = *rings;
	m.tag = d->tag << TAG_SHIFT | ++d->conn_seq[att];
	rc = workers_send(reg->ws, d->owner, &m, evt_fds, rings->nr_queues);
	if (rc) {
		snprintf(err, err_len, "cannot start a worker: %s",
			 strerror(-rc));
		return rc;
	}
	d->in_worker = true; /* a dead slot: the CLOSE at the end frees it */
	d->worker = workers_pid(reg->ws, d->owner);
	return 0;
}

int registry_set_limit(struct registry *reg, struct disk *d,
		       uint64_t limit_bytes, char *err, size_t err_len)
{
	struct wire_msg m = { .op = WIRE_SET_LIMIT };
	uint64_t blks = (limit_bytes + STORE_BLK_BYTES - 1) / STORE_BLK_BYTES;

	if (d->state != DISK_OPEN || !d->in_worker || !d->capacity_blks) {
		snprintf(err, err_len, "the disk is not open, or read-only");
		return -EINVAL;
	}
	if (blks < 1 || blks > d->capacity_blks) {
		snprintf(err, err_len,
			 "a limit from 4K to the disk's size (%llu MiB)",
			 (unsigned long long)(d->capacity_blks >> 8));
		return -ERANGE;
	}
	m.slot = d->slot;
	m.val = blks;
	m.tag = d->tag << TAG_SHIFT;
	if (workers_send(reg->ws, d->owner, &m, NULL, 0)) {
		snprintf(err, err_len, "its worker is gone");
		return -EPIPE;
	}
	log_msg(LOG_INFO, "%u/%u: overlay limit set to %llu MiB", d->owner,
		d->devid, (unsigned long long)(blks >> 8));
	return 0;
}

uint64_t disk_capacity_bytes(const struct disk *d)
{
	return d->state == DISK_OPEN ? d->capacity_blks * STORE_BLK_BYTES : 0;
}

bool disk_paused(const struct disk *d)
{
	return d->paused;
}

void registry_disconnect(struct registry *reg, struct disk *d,
			 enum attach_kind att)
{
	if (att >= WIRE_MAX_ATT)
		return;
	d->connecting[att] = false;
	d->conn_seq[att]++; /* an answer still on its way is stale now */
	if (d->in_worker)
		send_simple(reg, d, WIRE_DISCONNECT, att);
}

int registry_export_nbd(struct registry *reg, struct disk *d,
			const char *path, bool enospc, char *err,
			size_t err_len)
{
	struct wire_msg m = { .op = WIRE_EXPORT, .att = enospc };
	const char *why = "";
	int fd, rc;

	if (d->nbd_path[0])
		return 0;
	if (d->state != DISK_OPEN || !d->in_worker) {
		snprintf(err, err_len, "the disk is not open: nothing to export");
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(d->nbd_path) ||
	    strlen(path) >= sizeof(m.u.err)) {
		snprintf(err, err_len, "NBD socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	rc = nbd_listen(path, &fd, &why);
	if (rc) {
		snprintf(err, err_len,
			 "cannot export the disk over NBD at %s: %s: %s", path,
			 why, strerror(-rc));
		return rc;
	}
	m.slot = d->slot;
	m.tag = d->tag << TAG_SHIFT;
	m.val = (uint64_t)geteuid(); /* the worker may run as someone else */
	snprintf(m.u.err, sizeof(m.u.err), "%s", path);
	rc = workers_send(reg->ws, d->owner, &m, &fd, 1);
	close(fd);
	if (rc) {
		unlink(path);
		snprintf(err, err_len, "cannot export the disk over NBD: its "
				       "worker is gone");
		return rc;
	}
	snprintf(d->nbd_path, sizeof(d->nbd_path), "%s", path);
	log_msg(LOG_INFO, "%u/%u: exported over NBD at %s", d->owner, d->devid,
		path);
	return 0;
}

/* ---- what finished ---- */

static void fail_disk(struct disk *d, const char *fmt, ...)
{
	va_list ap;

	d->state = DISK_FAILED;
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
}

/* A lowest free slot in owner's worker, or WIRE_MAX_SLOTS. */
static unsigned int free_slot(const struct registry *reg, uint16_t owner)
{
	uint64_t used = 0;
	const struct disk *d;
	unsigned int i;

	for (d = reg->disks; d; d = d->next)
		if (d->owner == owner && d->in_worker)
			used |= 1ull << d->slot;
	for (i = 0; i < WIRE_MAX_SLOTS; i++)
		if (!(used & (1ull << i)))
			return i;
	return WIRE_MAX_SLOTS;
}

/* The plan is made: hand it to the worker. */
static void send_open(struct registry *reg, struct disk *d,
		      struct disk_plan *dp)
{
	struct wire_msg m = { .op = WIRE_OPEN, .u.plan = dp->plan };
	int fds[2];
	unsigned int n = 0;
	int rc;

	d->kind = (enum cow_kind)dp->plan.kind;
	d->capacity_blks = dp->plan.overlay_blks;
	d->slot = free_slot(reg, d->owner);
	if (d->slot == WIRE_MAX_SLOTS) {
		disk_plan_close(dp);
		fail_disk(d, "%s", "domain has more disks than one worker "
				   "serves (64)");
		return;
	}
	if (dp->base_fd >= 0)
		fds[n++] = dp->base_fd;
	if (dp->scratch_fd >= 0)
		fds[n++] = dp->scratch_fd;
	snprintf(m.u.plan.name, sizeof(m.u.plan.name), "%u/%u", d->owner,
		 d->devid);
	m.slot = d->slot;
	m.tag = d->tag << TAG_SHIFT;
	rc = workers_send(reg->ws, d->owner, &m, fds, n);
	disk_plan_close(dp); /* the worker has its own copies now */
	if (rc) {
		fail_disk(d, "cannot start the domain's worker: %s",
			  strerror(-rc));
		return;
	}
	d->in_worker = true; /* DISK_OPENING until it answers */
	d->worker = workers_pid(reg->ws, d->owner);
}

static void jobs_done(struct registry *reg)
{
	struct open_job *job, *next;
	uint64_t n;

	if (read(reg->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_msg(LOG_ERR, "registry: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&reg->done_lock);
	job = reg->done;
	reg->done = NULL;
	pthread_mutex_unlock(&reg->done_lock);
	for (; job; job = next) {
		struct disk *d = job->disk;

		next = job->next;
		d->job = NULL;
		if (d->orphan || reg->closing) {
			if (!job->rc)
				disk_plan_close(&job->dp);
			job_put(job);
			if (d->orphan)
				drop_disk(reg, d);
			continue;
		}
		if (job->rc)
			fail_disk(d, "%s", job->err);
		else
			send_open(reg, d, &job->dp);
		job_put(job);
		if (d->state == DISK_FAILED && reg->cfg.opened)
			reg->cfg.opened(reg->cfg.arg, d);
	}
}

/* A worker's answer: false if it answers nothing ever asked. */
static bool on_answer(void *arg, uint16_t owner, const struct wire_msg *m)
{
	struct registry *reg = arg;
	struct disk *d;

	if (m->tag >> TAG_SHIFT > reg->next_tag || m->tag >> TAG_SHIFT == 0)
		return false;
	d = disk_of_tag(reg, owner, m->slot, m->tag);
	if (!d)
		return true; /* about a disk that is gone: late, not wrong */
	switch (m->op) {
	case WIRE_OPENED:
		if (d->state != DISK_OPENING)
			return false;
		if (m->rc) {
			d->in_worker = false; /* it kept nothing */
			fail_disk(d, "%s", m->u.err);
		} else {
			d->state = DISK_OPEN;
			d->sectors = m->val;
		}
		if (reg->cfg.opened)
			reg->cfg.opened(reg->cfg.arg, d);
		return true;
	case WIRE_CONNECTED:
		if ((m->tag & TAG_SEQ_MASK) != d->conn_seq[m->att] ||
		    !d->connecting[m->att])
			return true; /* taken back since */
		d->connecting[m->att] = false;
		if (reg->cfg.connected)
			reg->cfg.connected(reg->cfg.arg, d,
					   (enum attach_kind)m->att, m->rc,
					   (unsigned int)m->val, m->u.err);
		return true;
	case WIRE_EXPORTED:
		if (m->rc)
			log_msg(LOG_ERR, "%u/%u: the NBD export failed: %s: %s",
				d->owner, d->devid, m->u.err,
				strerror(-m->rc));
		return true;
	case WIRE_NBD_CLIENTS:
		d->nbd_clients = m->val > 64 ? 64 : (unsigned int)m->val;
		if (!total_attached(d))
			close_disk(reg, d);
		return true;
	case WIRE_FULL:
	case WIRE_ROOM:
		if (d->state == DISK_OPEN && d->spec.on_full ==
						     DISKSPEC_ON_FULL_PAUSE)
			set_paused(reg, d, m->op == WIRE_FULL);
		return true;
	case WIRE_LIMIT_SET:
		if (m->rc)
			log_msg(LOG_ERR, "%u/%u: set-limit failed: %s",
				d->owner, d->devid, strerror(-m->rc));
		return true;
	default: /* CLOSED, DISCONNECTED: nothing waits for them */
		return true;
	}
}

/* owner's worker pid is gone, and its disks' views with it. */
static void on_gone(void *arg, uint16_t owner, pid_t pid, const char *why)
{
	struct registry *reg = arg;
	struct disk *d, *next;

	for (d = reg->disks; d; d = next) {
		bool was_open;

		next = d->next;
		if (d->owner != owner || !d->in_worker || d->worker != pid)
			continue;
		was_open = d->state == DISK_OPEN;
		set_paused(reg, d, false); /* its writes are errors now */
		d->in_worker = false;
		d->nbd_clients = 0;
		d->connecting[0] = d->connecting[1] = false;
		fail_disk(d, "its worker %s", why);
		if (!total_attached(d)) {
			drop_disk(reg, d); /* an NBD-only disk */
			continue;
		}
		if (was_open && reg->cfg.failed)
			reg->cfg.failed(reg->cfg.arg, d);
		else if (!was_open && reg->cfg.opened)
			reg->cfg.opened(reg->cfg.arg, d);
	}
}

void registry_process(struct registry *reg)
{
	struct epoll_event ev[4];
	int rounds = 8; /* bounded: a chatty worker cannot hold us here */

	while (rounds-- && epoll_wait(reg->epfd, ev, 4, 0) > 0) {
		jobs_done(reg);
		workers_process(reg->ws);
	}
	workers_process(reg->ws); /* its timers */
}

int registry_timeout_ms(struct registry *reg)
{
	return workers_timeout_ms(reg->ws);
}

/* ---- accessors ---- */

enum disk_state disk_state(const struct disk *d)
{
	return d->state;
}

const char *disk_error(const struct disk *d)
{
	return d->error;
}

const struct diskspec *disk_spec(const struct disk *d)
{
	return &d->spec;
}

uint16_t disk_owner(const struct disk *d)
{
	return d->owner;
}

uint32_t disk_devid(const struct disk *d)
{
	return d->devid;
}

bool disk_read_only(const struct disk *d)
{
	return d->read_only;
}

uint64_t disk_sectors(const struct disk *d)
{
	return d->state == DISK_OPEN ? d->sectors : 0;
}

enum cow_kind disk_cow_kind(const struct disk *d)
{
	return d->kind;
}

unsigned int disk_attachments(const struct disk *d, enum attach_kind kind)
{
	if (kind == ATTACH_NBD)
		return d->nbd_clients;
	return kind < WIRE_MAX_ATT ? d->attached[kind] : 0;
}

const char *disk_nbd_path(const struct disk *d)
{
	return d->nbd_path;
}

void disk_stats(struct registry *reg, const struct disk *d,
		struct cow_stats *cow, struct ring_stats ring[WIRE_MAX_ATT],
		unsigned int nr_rings[WIRE_MAX_ATT])
{
	struct wire_slot_stats s;
	unsigned int a;

	memset(cow, 0, sizeof(*cow));
	memset(ring, 0, sizeof(*ring) * WIRE_MAX_ATT);
	memset(nr_rings, 0, sizeof(*nr_rings) * WIRE_MAX_ATT);
	if (d->state != DISK_OPEN || !d->in_worker ||
	    workers_slot_stats(reg->ws, d->owner, d->slot, &s))
		return;
	*cow = s.cow;
	for (a = 0; a < WIRE_MAX_ATT; a++)
		wire_ring_stats_get(&s.ring[a], &ring[a], &nr_rings[a]);
}

uint64_t registry_stats_request(struct registry *reg)
{
	return workers_stats_request(reg->ws);
}

bool registry_stats_fresh(struct registry *reg, uint64_t token)
{
	return workers_stats_fresh(reg->ws, token);
}

uint64_t registry_fence(struct registry *reg, uint16_t owner, pid_t *pid_r)
{
	return workers_fence(reg->ws, owner, pid_r);
}

bool registry_fence_passed(struct registry *reg, pid_t pid, uint64_t token)
{
	return workers_fence_passed(reg->ws, pid, token);
}

uint64_t registry_leased_blks(struct registry *reg)
{
	return workers_leased_blks(reg->ws);
}

pid_t registry_worker_pid(struct registry *reg, uint16_t owner)
{
	return workers_pid(reg->ws, owner);
}

void registry_for_each(struct registry *reg,
		       void (*fn)(struct disk *disk, void *arg), void *arg)
{
	struct disk *d, *next;

	for (d = reg->disks; d; d = next) {
		next = d->next;
		if (!d->orphan)
			fn(d, arg);
	}
}

unsigned int registry_nr_disks(const struct registry *reg)
{
	const struct disk *d;
	unsigned int n = 0;

	for (d = reg->disks; d; d = d->next)
		n += !d->orphan;
	return n;
}

/* ---- life cycle ---- */

int registry_new(const struct registry_config *cfg, struct registry **reg_r)
{
	struct workers_config wc = {
		.spawn = cfg->spawn,
		.spawn_arg = cfg->spawn_arg,
		.budget_blks = cfg->budget_blks,
		.answer = on_answer,
		.gone = on_gone,
	};
	struct epoll_event ev = { .events = EPOLLIN };
	struct registry *reg = calloc(1, sizeof(*reg));
	int rc;

	if (!reg)
		return -ENOMEM;
	if (!cfg->spawn) {
		free(reg);
		return -EINVAL;
	}
	reg->cfg = *cfg;
	reg->efd = reg->epfd = -1;
	wc.arg = reg;
	rc = workers_new(&wc, &reg->ws);
	if (rc) {
		free(reg);
		return rc;
	}
	reg->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	reg->epfd = epoll_create1(EPOLL_CLOEXEC);
	rc = reg->efd < 0 || reg->epfd < 0 ? -errno : 0;
	if (!rc && epoll_ctl(reg->epfd, EPOLL_CTL_ADD, reg->efd, &ev) < 0)
		rc = -errno;
	if (!rc && epoll_ctl(reg->epfd, EPOLL_CTL_ADD, workers_fd(reg->ws),
			     &ev) < 0)
		rc = -errno;
	if (rc) {
		if (reg->efd >= 0)
			close(reg->efd);
		if (reg->epfd >= 0)
			close(reg->epfd);
		workers_free(reg->ws);
		free(reg);
		return rc;
	}
	pthread_mutex_init(&reg->done_lock, NULL);
	*reg_r = reg;
	return 0;
}

int registry_fd(struct registry *reg)
{
	return reg->epfd;
}

void registry_free(struct registry *reg)
{
	struct disk *d;

	if (!reg)
		return;
	/* Abandon the opens still running: each closes its own plan. */
	for (d = reg->disks; d; d = d->next)
		if (d->job) {
			struct open_job *job = d->job;

			pthread_mutex_lock(&job->lock);
			job->abandoned = true;
			pthread_mutex_unlock(&job->lock);
		}
	/* Opens that reported meanwhile: their plans go with their disks. */
	reg->closing = true;
	reg->cfg.opened = NULL;
	reg->cfg.failed = NULL;
	reg->cfg.connected = NULL;
	jobs_done(reg);
	while ((d = reg->disks)) {
		reg->disks = d->next;
		set_paused(reg, d, false); /* its held writes fail now */
		if (d->job)
			job_put(d->job); /* still running: only our reference */
		if (d->nbd_path[0])
			unlink(d->nbd_path);
		free(d);
	}
	workers_free(reg->ws); /* every worker wipes its disks and ends */
	pthread_mutex_destroy(&reg->done_lock);
	close(reg->efd);
	close(reg->epfd);
	free(reg);
}
