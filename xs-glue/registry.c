/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The disk registry (xs-glue/registry.h).
 *
 * What it owns: the list of disks, each with its view (once open), its
 * spec, and its attachment counts; and the open jobs.
 *
 * Opening a disk touches the filesystem (the base, a scratch directory, a
 * block device), and any of that can be slow: an NFS base, a dead device.
 * So every open runs in a detached thread of its own; the main loop never
 * waits for one. A job's result comes back through a done list and an
 * eventfd. A disk whose last attachment went while it was opening is
 * freed when its job reports. At registry_free() jobs still running are
 * abandoned: each frees its own view when it finally returns. The job's
 * mutex orders "abandoned" against the thread's report, so a thread never
 * touches a freed registry.
 *
 * Invariants: a disk in the list has at least one attachment; its view,
 * once DISK_OPEN, lives until the disk is freed; nothing here is shared
 * with another thread except the jobs.
 *
 * What it does not do: xenstore. The state machine (xenbus.c) decides who
 * attaches; this only counts and enforces the sharing rule.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backend/nbd.h"
#include "platform/log.h"
#include "xs-glue/registry.h"

#define ERR_BYTES 256u
#define NR_KINDS 3u /* enum attach_kind */

struct open_job;

struct disk {
	struct disk *next;
	uint16_t owner;
	uint32_t devid;
	struct diskspec spec;
	bool read_only;
	enum disk_state state;
	struct cow *cow;
	char error[ERR_BYTES];
	unsigned int attached[NR_KINDS];
	struct open_job *job; /* while DISK_OPENING */
	bool orphan;          /* every attachment went while opening */
	struct nbd_server *nbd; /* its export, or NULL */
	char nbd_path[108];     /* sun_path's size */
};

struct open_job {
	pthread_mutex_t lock;
	unsigned int refs;      /* the thread's and the registry's */
	bool abandoned;         /* the registry is gone: free your view */
	struct registry *reg;   /* valid while !abandoned, under lock */
	struct disk *disk;      /* registry side only */
	struct open_job *next;  /* on the done list */
	disk_open_fn *open;
	struct cow_budget *budget;
	struct diskspec spec;
	struct cow *cow;
	int rc;
	char err[ERR_BYTES];
};

struct registry {
	struct registry_config cfg;
	struct disk *disks;
	unsigned int nr_disks;
	int efd;
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

	rc = job->open(&job->spec, job->budget, &job->cow, job->err,
		       sizeof(job->err));
	pthread_mutex_lock(&job->lock);
	job->rc = rc;
	if (job->abandoned) {
		if (!rc)
			cow_free(job->cow); /* wiped: nobody will use it */
		job->cow = NULL;
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
	job->open = reg->cfg.open ? reg->cfg.open : disk_open;
	job->budget = reg->cfg.budget;
	job->spec = d->spec;
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

/* ---- disks ---- */

static struct disk *find_disk(struct registry *reg, uint16_t owner,
			      uint32_t devid)
{
	struct disk *d;

	/* An orphan is on its way out: a new attachment gets a new disk. */
	for (d = reg->disks; d; d = d->next)
		if (d->owner == owner && d->devid == devid && !d->orphan)
			return d;
	return NULL;
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

static void free_disk(struct disk *d)
{
	nbd_server_free(d->nbd); /* its clients first: they use the view */
	cow_free(d->cow); /* the overlay and the key are wiped here */
	free(d);
}

/* The export's clients now: a server thread may have just taken one. */
static unsigned int nbd_clients(const struct disk *d)
{
	return d->nbd ? nbd_server_clients(d->nbd) : 0;
}

static unsigned int total_attached(const struct disk *d)
{
	return d->attached[ATTACH_GUEST] + d->attached[ATTACH_STUBDOM] +
	       nbd_clients(d);
}

static void close_disk(struct registry *reg, struct disk *d)
{
	log_msg(LOG_INFO, "%u/%u: last attachment gone: disk closed%s",
		d->owner, d->devid, d->cow ? ", overlay and key wiped" : "");
	unlink_disk(reg, d);
	free_disk(d);
}

static bool same_spec(const struct diskspec *a, const struct diskspec *b)
{
	char fa[2 * DISKSPEC_PATH_MAX + 256], fb[sizeof(fa)];

	return !diskspec_format(a, fa, sizeof(fa)) &&
	       !diskspec_format(b, fb, sizeof(fb)) && !strcmp(fa, fb);
}

static const char *kind_name(enum attach_kind kind)
{
	switch (kind) {
	case ATTACH_GUEST:
		return "the guest's own";
	case ATTACH_STUBDOM:
		return "its stubdomain's";
	default:
		return "an NBD";
	}
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

	if (kind == ATTACH_NBD) {
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

void registry_detach(struct registry *reg, struct disk *d,
		     enum attach_kind kind)
{
	if (kind != ATTACH_NBD && d->attached[kind])
		d->attached[kind]--;
	if (total_attached(d))
		return;
	if (d->state == DISK_OPENING) {
		d->orphan = true; /* freed when its open reports */
		return;
	}
	close_disk(reg, d);
}

/* From a server thread: a client came or went. */
static void nbd_changed(void *arg)
{
	struct registry *reg = arg;
	uint64_t one = 1;

	if (write(reg->efd, &one, sizeof(one)) != sizeof(one))
		log_msg(LOG_ERR, "registry: cannot signal an NBD change");
}

int registry_export_nbd(struct registry *reg, struct disk *d,
			const char *path, bool enospc, char *err,
			size_t err_len)
{
	char name[32];
	struct nbd_server_params p = {
		.path = path,
		.cow = d->cow,
		.read_only = d->read_only,
		.changed = nbd_changed,
		.arg = reg,
		.enospc_is_enospc = enospc,
		.name = name,
	};
	int rc;

	if (d->nbd)
		return 0;
	if (d->state != DISK_OPEN) {
		snprintf(err, err_len, "the disk is not open: nothing to export");
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(d->nbd_path)) {
		snprintf(err, err_len, "NBD socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	snprintf(name, sizeof(name), "%u/%u nbd", d->owner, d->devid);
	rc = nbd_server_new(&p, &d->nbd);
	if (rc) {
		snprintf(err, err_len, "cannot export the disk over NBD at %s: %s",
			 path, strerror(-rc));
		return rc;
	}
	snprintf(d->nbd_path, sizeof(d->nbd_path), "%s", path);
	log_msg(LOG_INFO, "%u/%u: exported over NBD at %s", d->owner, d->devid,
		path);
	return 0;
}

const char *disk_nbd_path(const struct disk *d)
{
	return d->nbd_path;
}

/* Disks whose export lost its last client and that have no blkif left. */
static void reap_nbd_only(struct registry *reg)
{
	struct disk *d, *next;

	for (d = reg->disks; d; d = next) {
		next = d->next;
		if (d->nbd && !d->orphan && d->state != DISK_OPENING &&
		    !total_attached(d))
			close_disk(reg, d);
	}
}

void registry_process(struct registry *reg)
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
		if (job->rc) {
			d->state = DISK_FAILED;
			snprintf(d->error, sizeof(d->error), "%s", job->err);
		} else {
			d->state = DISK_OPEN;
			d->cow = job->cow;
		}
		job_put(job);
		if (d->orphan) {
			unlink_disk(reg, d);
			free_disk(d);
			continue;
		}
		if (reg->cfg.opened)
			reg->cfg.opened(reg->cfg.arg, d);
	}
	reap_nbd_only(reg);
}

/* ---- accessors ---- */

enum disk_state disk_state(const struct disk *d)
{
	return d->state;
}

struct cow *disk_cow(struct disk *d)
{
	return d->state == DISK_OPEN ? d->cow : NULL;
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

unsigned int disk_attachments(const struct disk *d, enum attach_kind kind)
{
	return kind == ATTACH_NBD ? nbd_clients(d) : d->attached[kind];
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
	struct registry *reg = calloc(1, sizeof(*reg));

	if (!reg)
		return -ENOMEM;
	reg->cfg = *cfg;
	reg->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (reg->efd < 0) {
		int rc = -errno;

		free(reg);
		return rc;
	}
	pthread_mutex_init(&reg->done_lock, NULL);
	*reg_r = reg;
	return 0;
}

int registry_fd(struct registry *reg)
{
	return reg->efd;
}

void registry_free(struct registry *reg)
{
	struct disk *d;

	if (!reg)
		return;
	/* Abandon the opens still running: each frees its own view. */
	for (d = reg->disks; d; d = d->next)
		if (d->job) {
			struct open_job *job = d->job;

			pthread_mutex_lock(&job->lock);
			job->abandoned = true;
			pthread_mutex_unlock(&job->lock);
		}
	/* Opens that reported meanwhile: their views go with their disks. */
	reg->cfg.opened = NULL;
	registry_process(reg);
	while ((d = reg->disks)) {
		reg->disks = d->next;
		if (d->job) {
			struct open_job *job = d->job;

			/* still running: only the registry's reference */
			job_put(job);
		}
		free_disk(d);
	}
	pthread_mutex_destroy(&reg->done_lock);
	close(reg->efd);
	free(reg);
}
