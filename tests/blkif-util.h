/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the protocol and hostile suites share: a simulated host with the
 * daemon core running, guests with disks attached and connected, and a flat
 * model of each disk that every read is checked against byte by byte.
 * Everything exits the test loudly (tests/check.h) on failure.
 */
#ifndef XE_TESTS_BLKIF_UTIL_H
#define XE_TESTS_BLKIF_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/frontend.h"

#define BU_MAX_QUEUES 4u /* multi-queue-max-queues the daemon advertises */

struct bu_env {
	struct sim *sim;
	struct fe_daemon *d;
};

/* The hook path the suites' daemon claims vbd3 devices by. */
#define BU_HOOK "/etc/xen/scripts/xen-ephemeral"

/* The suites' daemon: kinds ephemeral and vbd3 (hook BU_HOOK). */
/* The daemon's NBD socket directory in the tests (0700, made once). */
const char *bu_nbd_dir(void);
struct xenbus_config bu_config(void);

/* A sim and a daemon serving bu_config(). */
void bu_env_init(struct bu_env *e);
/* ... or serving cfg. */
void bu_env_init_cfg(struct bu_env *e, const struct xenbus_config *cfg);
void bu_env_fini(struct bu_env *e);

/* Create domid unless it exists. */
void bu_domain(struct bu_env *e, uint16_t domid);

/* CPU seconds domid's worker process has used so far (the sum over its
 * threads); 0 if it has none. */
double bu_worker_cpu(struct bu_env *e, uint16_t domid);

/* A disk and what the guest should read from it. */
struct bu_disk {
	struct fe *fe;
	uint16_t domid;
	uint32_t devid;
	uint64_t sectors;
	uint8_t *model; /* sectors * 512 bytes */
};

/*
 * Attach spec as devid of domid, connect a frontend with opts, and set up
 * the model: zeros, or base (base_len bytes, the rest zeros) if not NULL.
 */
void bu_disk_open(struct bu_env *e, struct bu_disk *disk, uint16_t domid,
		  uint32_t devid, const char *spec, bool read_only,
		  const struct fe_opts *opts, const void *base,
		  size_t base_len);
/*
 * Connect a frontend to a device the test attached itself (a vbd3 device
 * of tests/toolstack.h, say), and set up the model as bu_disk_open does.
 * what names the device in messages.
 */
void bu_disk_connect(struct bu_env *e, struct bu_disk *disk, uint16_t domid,
		     uint32_t devid, const char *what,
		     const struct fe_opts *opts, const void *base,
		     size_t base_len);
/* Close the frontend (state 6) and free it; the model stays. */
void bu_disk_close(struct bu_disk *disk);
void bu_disk_free(struct bu_disk *disk);

/* Write / read through the ring and check against (and update) the model. */
void bu_write(struct bu_disk *disk, unsigned int q, uint64_t sector,
	      uint32_t nr, enum fe_layout layout, struct rng *rng);
void bu_verify(struct bu_disk *disk, unsigned int q, uint64_t sector,
	       uint32_t nr, enum fe_layout layout, struct rng *rng);
/* Discard: whole 4 KiB blocks inside the range read zeros afterwards. */
void bu_discard(struct bu_disk *disk, unsigned int q, uint64_t sector,
		uint64_t nr);
/* n random requests (reads, writes, discards, flushes) over every queue. */
void bu_random_ops(struct bu_disk *disk, struct rng *rng, unsigned int n);
/* Read the whole disk and compare. */
void bu_verify_all(struct bu_disk *disk);
/*
 * Write 4 KiB of random data to each of blocks 0..n-1 of disk, queues 0
 * and 1 in turn, while other does 4 random operations every 16 blocks;
 * every write must be answered OKAY or ERROR (never a hang or anything
 * else). Acknowledged blocks go into disk's model, and acked[i] (when not
 * NULL) says which. Returns how many were acknowledged, *failed_r how many
 * refused. For disks whose overlay runs out of room or fails.
 */
unsigned int bu_fill_beside(struct bu_disk *disk, struct bu_disk *other,
			    struct rng *rng, unsigned int n, bool *acked,
			    unsigned int *failed_r);

#endif
