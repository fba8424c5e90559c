/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The disk registry: every guest disk the daemon serves, identified by its
 * owner domain and device id, never by its spec (two disposables share one
 * base). A disk counts its attachments (the owner's blkif device, its
 * stubdomain's blkif device, NBD clients) and lives in its owner's worker
 * (backend/worker.h, xs-glue/workers.h): the registry opens the base and
 * scratch (off the main loop), hands them to the worker, which builds the
 * view; connects and disconnects rings and exports there; and tells the
 * worker to wipe the disk when the last attachment is gone. The supervisor
 * never holds a view, a key or guest data.
 *
 * Sharing rule (what Xen's block-common.sh calls same_vm): a disk takes a
 * second blkif attachment only from the owner's stubdomain, and only with
 * an identical spec and mode; any other second device of the same id is
 * refused, and the disk's first attachment is untouched.
 *
 * One thread (the daemon's main loop) calls everything here; the opens run
 * in threads of their own, and every result comes back through
 * registry_fd() and registry_process().
 */
#ifndef XE_XS_GLUE_REGISTRY_H
#define XE_XS_GLUE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/ring.h"
#include "backend/wire.h"
#include "cow/cow.h"
#include "xs-glue/disk.h"
#include "xs-glue/diskspec.h"

/* Who an attachment is. The blkif ones are the worker's attachment index. */
enum attach_kind {
	ATTACH_GUEST = 0,   /* the owner's own blkif frontend */
	ATTACH_STUBDOM = 1, /* the owner's stubdomain's blkif frontend */
	ATTACH_NBD = 2,     /* a dom0 NBD client (a dom0 device model) */
};

enum disk_state {
	DISK_OPENING, /* being opened (a thread), then built (the worker) */
	DISK_OPEN,    /* its view is served by its owner's worker */
	DISK_FAILED,  /* disk_error() says why */
};

struct registry;
struct disk;

/* The open's slow half (disk_plan_open() by default; tests slow it down). */
typedef int disk_plan_fn(const struct diskspec *spec, struct disk_plan *dp,
			 char *err, size_t err_len);

struct registry_config {
	/* How workers are started (xs-glue/workers.h). */
	int (*spawn)(void *arg, uint16_t domid, int sock, pid_t *pid_r);
	void *spawn_arg;
	uint64_t budget_blks; /* all overlays together; 0: no cap */
	disk_plan_fn *plan;   /* NULL: disk_plan_open */
	/*
	 * From registry_process(): a disk's open finished (it is DISK_OPEN
	 * or DISK_FAILED now); a connect finished (rc 0: nr_rings rings
	 * serve it; else err says why); an open disk failed because its
	 * worker is gone (disk_error() says why).
	 */
	void (*opened)(void *arg, struct disk *disk);
	void (*connected)(void *arg, struct disk *disk, enum attach_kind att,
			  int rc, unsigned int nr_rings, const char *err);
	void (*failed)(void *arg, struct disk *disk);
	/*
	 * on-full=pause: pause (true) or unpause (false) domid, as `xl
	 * pause` does. Called once when one of its disks has a write
	 * waiting for room, once when none has any more (or the disk goes).
	 */
	int (*pause)(void *arg, uint16_t domid, bool pause);
	void *arg;
};

int registry_new(const struct registry_config *cfg, struct registry **reg_r);

/* Readable when something finished: call registry_process(). */
int registry_fd(struct registry *reg);

/* Milliseconds until registry_process() must run for a timer, or -1. */
int registry_timeout_ms(struct registry *reg);

/* Collect what finished (never blocks), calling the config's callbacks,
 * and close the disks whose last NBD client left. */
void registry_process(struct registry *reg);

/*
 * Attach to disk (owner, devid), creating it (and starting its open) if it
 * is new. A new disk takes spec and read_only; an existing one must have
 * the same, and takes a second blkif attachment only as ATTACH_STUBDOM
 * besides one ATTACH_GUEST. Returns 0 and sets *disk_r, or -EBUSY (the
 * sharing rule refused it) / -ENOMEM, with a sentence in err. kind is
 * ATTACH_GUEST or ATTACH_STUBDOM: NBD clients come through
 * registry_export_nbd().
 */
int registry_attach(struct registry *reg, uint16_t owner, uint32_t devid,
		    const struct diskspec *spec, bool read_only,
		    enum attach_kind kind, struct disk **disk_r, char *err,
		    size_t err_len);

/*
 * A disk that failed before this daemon knew it (a device left by a daemon
 * that died, whose overlay died with it): DISK_FAILED with why, attached
 * once as kind, so that its rings can be answered with errors
 * (registry_serve_errors) until the device is dropped. Never shared.
 */
int registry_attach_failed(struct registry *reg, uint16_t owner,
			   uint32_t devid, enum attach_kind kind,
			   const char *why, struct disk **disk_r);

/*
 * Drop one attachment of kind (its rings, if connected, are disconnected
 * first). The last one closes the disk: the worker wipes its overlay and
 * key; one still opening is dropped as soon as that finishes. disk is
 * invalid afterwards.
 */
void registry_detach(struct registry *reg, struct disk *disk,
		     enum attach_kind kind);

/*
 * Connect attachment att's rings in the worker: rings as the frontend
 * offered them, evt_fds one exported event-channel handle per queue (the
 * caller closes them after this returns). The result comes through
 * connected(). Returns 0 if the request went out, else -errno and err.
 */
int registry_connect(struct registry *reg, struct disk *disk,
		     enum attach_kind att, const struct wire_rings *rings,
		     const int *evt_fds, char *err, size_t err_len);

/*
 * A failed disk whose worker died had rings connected: serve them in a
 * new worker with no view, every request answered with an I/O error, so
 * that the frontend's requests fail instead of hanging until it closes.
 * Arguments as registry_connect(); no connected() follows.
 */
int registry_serve_errors(struct registry *reg, struct disk *disk,
			  enum attach_kind att, const struct wire_rings *rings,
			  const int *evt_fds, char *err, size_t err_len);

/*
 * A new limit on the disk's overlay (xen-ephemeral set-limit), up to its
 * capacity (disk_capacity_bytes). A paused guest whose writes then fit
 * resumes. 0, or -errno with a sentence in err.
 */
int registry_set_limit(struct registry *reg, struct disk *disk,
		       uint64_t limit_bytes, char *err, size_t err_len);
/* The most the overlay may ever hold (0 before the disk opened, or for a
 * read-only disk). */
uint64_t disk_capacity_bytes(const struct disk *disk);
/* Whether the owner is paused because this disk is full. */
bool disk_paused(const struct disk *disk);

/* Stop attachment att's rings (in order: before any later connect). */
void registry_disconnect(struct registry *reg, struct disk *disk,
			 enum attach_kind att);

/*
 * Export an open disk over NBD on a Unix socket made at path (0600, in a
 * 0700 directory of ours), served by its worker, for a dom0 device model:
 * the export's clients count as ATTACH_NBD attachments, so the disk
 * outlives its blkif devices while a client is connected and is closed
 * when the last of both is gone. A full overlay is NBD_ENOSPC when enospc,
 * else NBD_EIO. Once per disk: a disk already exported gives 0. Returns 0,
 * or -errno with a sentence in err.
 */
int registry_export_nbd(struct registry *reg, struct disk *disk,
			const char *path, bool enospc, char *err,
			size_t err_len);

enum disk_state disk_state(const struct disk *disk);
/* Why the open failed, or why the disk failed later ("" otherwise). */
const char *disk_error(const struct disk *disk);
uint16_t disk_owner(const struct disk *disk);
/* The spec it was opened from. */
const struct diskspec *disk_spec(const struct disk *disk);
uint32_t disk_devid(const struct disk *disk);
bool disk_read_only(const struct disk *disk);
/* Its size in 512-byte sectors, once DISK_OPEN (0 before). */
uint64_t disk_sectors(const struct disk *disk);
/* Its kind (COW_KIND_*), from the plan. */
enum cow_kind disk_cow_kind(const struct disk *disk);
/* Attachments of one kind (ATTACH_NBD: the export's clients, as last
 * reported by the worker). */
unsigned int disk_attachments(const struct disk *disk, enum attach_kind kind);
/* The export's socket, or "" if the disk is not exported. */
const char *disk_nbd_path(const struct disk *disk);

/*
 * The disk's counters from its worker's stats page: the view's, and each
 * blkif attachment's rings (nr_rings now). Zeros for a disk not open.
 */
void disk_stats(struct registry *reg, const struct disk *disk,
		struct cow_stats *cow, struct ring_stats ring[WIRE_MAX_ATT],
		unsigned int nr_rings[WIRE_MAX_ATT]);

/* Ask every worker to refresh its stats; then whether all have. */
uint64_t registry_stats_request(struct registry *reg);
bool registry_stats_fresh(struct registry *reg, uint64_t token);

/*
 * Everything sent so far to owner's worker is done once the fence has
 * passed (xs-glue/workers.h): a backend writes Closed only when its rings
 * are unmapped. 0: nothing to wait for.
 */
uint64_t registry_fence(struct registry *reg, uint16_t owner, pid_t *pid_r);
bool registry_fence_passed(struct registry *reg, pid_t pid, uint64_t token);

/* Budget blocks leased out to the workers now, in all (for tests). */
uint64_t registry_leased_blks(struct registry *reg);

/* The pid of owner's worker, or -1 (for tests and logs). */
pid_t registry_worker_pid(struct registry *reg, uint16_t owner);

/* Call fn for every disk. */
void registry_for_each(struct registry *reg,
		       void (*fn)(struct disk *disk, void *arg), void *arg);

/* Number of disks (open, opening or failed). */
unsigned int registry_nr_disks(const struct registry *reg);

/*
 * Close every disk and free: every worker is told to wipe and end, and
 * waited for. Opens still running are abandoned (each closes what it
 * opened). NULL is ok.
 */
void registry_free(struct registry *reg);

#endif
