/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The disk registry: every guest disk the daemon serves, identified by its
 * owner domain and device id, never by its spec (two disposables share one
 * base). A disk holds one view and counts its attachments: the owner's
 * blkif device, its stubdomain's blkif device, NBD clients. The view opens
 * (off the main loop) with the first attachment, stays across frontend
 * reconnects, and is wiped when the last attachment is gone.
 *
 * Sharing rule (what Xen's block-common.sh calls same_vm): a disk takes a
 * second blkif attachment only from the owner's stubdomain, and only with
 * an identical spec and mode; any other second device of the same id is
 * refused, and the disk's first attachment is untouched.
 *
 * One thread (the daemon's main loop) calls everything here; the opens run
 * in threads of their own and report through registry_fd().
 */
#ifndef XE_XS_GLUE_REGISTRY_H
#define XE_XS_GLUE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cow/cow.h"
#include "xs-glue/disk.h"
#include "xs-glue/diskspec.h"

/* Who an attachment is. */
enum attach_kind {
	ATTACH_GUEST,   /* the owner's own blkif frontend */
	ATTACH_STUBDOM, /* the owner's stubdomain's blkif frontend */
	ATTACH_NBD,     /* a dom0 NBD client (a dom0 device model) */
};

enum disk_state {
	DISK_OPENING, /* the open runs in its thread */
	DISK_OPEN,    /* disk_cow() is the view */
	DISK_FAILED,  /* disk_error() says why */
};

struct registry;
struct disk;

/* The open a registry uses (disk_open() by default; tests slow it down). */
typedef int disk_open_fn(const struct diskspec *spec,
			 struct cow_budget *budget, struct cow **cow_r,
			 char *err, size_t err_len);

struct registry_config {
	struct cow_budget *budget; /* process-wide cap, may be NULL */
	disk_open_fn *open;        /* NULL: disk_open */
	/* Called from registry_process() when a disk's open finished. */
	void (*opened)(void *arg, struct disk *disk);
	void *arg;
};

int registry_new(const struct registry_config *cfg, struct registry **reg_r);

/* Readable when an open finished or an NBD client came or went: call
 * registry_process(). */
int registry_fd(struct registry *reg);

/* Collect finished opens (never blocks), calling cfg->opened for each,
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
 * Drop one attachment of kind. The last one closes the disk: its view is
 * freed (overlay and key wiped), or, while it is still opening, freed as
 * soon as the open finishes. disk is invalid afterwards.
 */
void registry_detach(struct registry *reg, struct disk *disk,
		     enum attach_kind kind);

enum disk_state disk_state(const struct disk *disk);
/* The view, while DISK_OPEN (its owner keeps it; callers never free it). */
struct cow *disk_cow(struct disk *disk);
/* Why the open failed ("" otherwise). */
const char *disk_error(const struct disk *disk);
uint16_t disk_owner(const struct disk *disk);
/* The spec it was opened from. */
const struct diskspec *disk_spec(const struct disk *disk);
uint32_t disk_devid(const struct disk *disk);
bool disk_read_only(const struct disk *disk);
/* Attachments of one kind (ATTACH_NBD: the export's clients now). */
unsigned int disk_attachments(const struct disk *disk, enum attach_kind kind);

/*
 * Export an open disk over NBD (backend/nbd.h) on a Unix socket at path,
 * for a dom0 device model: the export's clients count as ATTACH_NBD
 * attachments, so the disk outlives its blkif devices while a client is
 * connected and is closed when the last of both is gone (a client
 * leaving is noticed in registry_process()). A full overlay is NBD_ENOSPC
 * when enospc, else NBD_EIO. Once per disk: a disk already exported gives
 * 0. Returns 0, or -errno with a sentence in err.
 */
int registry_export_nbd(struct registry *reg, struct disk *disk,
			const char *path, bool enospc, char *err,
			size_t err_len);
/* The export's socket, or "" if the disk is not exported. */
const char *disk_nbd_path(const struct disk *disk);

/* Call fn for every disk. */
void registry_for_each(struct registry *reg,
		       void (*fn)(struct disk *disk, void *arg), void *arg);

/* Number of disks (open, opening or failed). */
unsigned int registry_nr_disks(const struct registry *reg);

/*
 * Close every disk and free. Opens still running are waited for (their
 * views are then freed too). NULL is ok.
 */
void registry_free(struct registry *reg);

#endif
