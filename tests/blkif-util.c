/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the blkif suites (see blkif-util.h): a host, guests, and a model
 * of every disk. The model is the truth a read is held against: after a
 * write it holds the data, after a discard zeros in every whole 4 KiB block
 * of the range (cow_discard leaves partly covered blocks as they were).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define SECTOR XE_BLKIF_SECTOR_BYTES

static char nbd_dir[256];

static void nbd_dir_cleanup(void)
{
	rmdir(nbd_dir);
}

const char *bu_nbd_dir(void)
{
	if (!nbd_dir[0]) {
		snprintf(nbd_dir, sizeof(nbd_dir), "%s/nbd", test_tmpdir());
		CHECK(mkdir(nbd_dir, 0700) == 0, "mkdir %s: %s", nbd_dir,
		      strerror(errno));
		atexit(nbd_dir_cleanup); /* before the tmpdir's own */
	}
	return nbd_dir;
}

struct xenbus_config bu_config(void)
{
	return (struct xenbus_config){ .kinds = { "ephemeral", "vbd3" },
				       .nr_kinds = 2,
				       .hook_path = BU_HOOK,
				       .max_queues = BU_MAX_QUEUES,
				       .close_timeout_ms = 2000,
				       .publish_interval_ms = 50,
				       .nbd_dir = bu_nbd_dir() };
}

/*
 * CPU seconds domid's worker process (where its rings run, when the
 * daemon has workers) has used: the sum over its threads' schedstat. 0 if
 * there is no worker.
 */
double bu_worker_cpu(struct bu_env *e, uint16_t domid)
{
	pid_t pid = fe_daemon_worker_pid(e->d, domid);
	char path[64];
	double sum = 0;
	DIR *dir;
	struct dirent *de;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		char p2[sizeof(path) + 300];
		unsigned long long ns;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof(p2), "%s/%s/schedstat", path, de->d_name);
		f = fopen(p2, "r");
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += (double)ns / 1e9;
		if (f)
			fclose(f);
	}
	closedir(dir);
	return sum;
}

void bu_env_init_cfg(struct bu_env *e, const struct xenbus_config *cfg)
{
	CHECK_OK(sim_new(&e->sim));
	CHECK_OK(fe_daemon_new(e->sim, cfg, &e->d));
}

void bu_env_init(struct bu_env *e)
{
	struct xenbus_config cfg = bu_config();

	bu_env_init_cfg(e, &cfg);
}

void bu_env_fini(struct bu_env *e)
{
	fe_daemon_free(e->d);
	sim_free(e->sim);
}

void bu_domain(struct bu_env *e, uint16_t domid)
{
	int rc = sim_domain_create(e->sim, domid);

	CHECK(rc == 0 || rc == -EEXIST, "sim_domain_create(%u): %d", domid, rc);
}

void bu_disk_open(struct bu_env *e, struct bu_disk *disk, uint16_t domid,
		  uint32_t devid, const char *spec, bool read_only,
		  const struct fe_opts *opts, const void *base, size_t base_len)
{
	bu_domain(e, domid);
	CHECK_OK(fe_attach(e->d, domid, devid, spec, read_only));
	bu_disk_connect(e, disk, domid, devid, spec, opts, base, base_len);
}

void bu_disk_connect(struct bu_env *e, struct bu_disk *disk, uint16_t domid,
		     uint32_t devid, const char *what,
		     const struct fe_opts *opts, const void *base,
		     size_t base_len)
{
	const struct fe_backend_info *bi;

	memset(disk, 0, sizeof(*disk));
	disk->domid = domid;
	disk->devid = devid;
	CHECK_OK(fe_new(e->sim, domid, devid, opts, &disk->fe));
	{
		int rc = fe_connect(disk->fe);

		CHECK(rc == 0, "connect %u/%u (%s): %d, backend error '%s'",
		      domid, devid, what, rc, fe_backend_error(disk->fe));
	}
	bi = fe_backend(disk->fe);
	disk->sectors = bi->sectors;
	disk->model = calloc(disk->sectors, SECTOR);
	CHECK(disk->model, "out of memory");
	if (base)
		memcpy(disk->model, base,
		       base_len < disk->sectors * SECTOR ?
			       base_len :
			       disk->sectors * SECTOR);
}

void bu_disk_close(struct bu_disk *disk)
{
	CHECK_OK(fe_close(disk->fe));
}

void bu_disk_free(struct bu_disk *disk)
{
	fe_free(disk->fe);
	disk->fe = NULL;
	free(disk->model);
	disk->model = NULL;
}

void bu_write(struct bu_disk *disk, unsigned int q, uint64_t sector,
	      uint32_t nr, enum fe_layout layout, struct rng *rng)
{
	uint8_t *buf = malloc((size_t)nr * SECTOR);
	int rc;

	CHECK(buf, "out of memory");
	rng_fill(rng, buf, (size_t)nr * SECTOR);
	rc = fe_rw(disk->fe, q, XE_BLKIF_OP_WRITE, sector, buf, nr, layout,
		   rng);
	CHECK(rc == 0, "dom%u/%u: write %u sectors at %llu: status %d",
	      disk->domid, disk->devid, nr, (unsigned long long)sector, rc);
	memcpy(disk->model + sector * SECTOR, buf, (size_t)nr * SECTOR);
	free(buf);
}

void bu_verify(struct bu_disk *disk, unsigned int q, uint64_t sector,
	       uint32_t nr, enum fe_layout layout, struct rng *rng)
{
	uint8_t *buf = malloc((size_t)nr * SECTOR);
	const uint8_t *want = disk->model + sector * SECTOR;
	size_t i;
	int rc;

	CHECK(buf, "out of memory");
	memset(buf, 0x5a, (size_t)nr * SECTOR);
	rc = fe_rw(disk->fe, q, XE_BLKIF_OP_READ, sector, buf, nr, layout, rng);
	CHECK(rc == 0, "dom%u/%u: read %u sectors at %llu: status %d",
	      disk->domid, disk->devid, nr, (unsigned long long)sector, rc);
	for (i = 0; i < (size_t)nr * SECTOR; i++)
		CHECK(buf[i] == want[i],
		      "dom%u/%u: byte %zu of a read at sector %llu (disk byte "
		      "%llu) is %#x, model says %#x",
		      disk->domid, disk->devid, i, (unsigned long long)sector,
		      (unsigned long long)(sector * SECTOR + i), buf[i],
		      want[i]);
	free(buf);
}

void bu_discard(struct bu_disk *disk, unsigned int q, uint64_t sector,
		uint64_t nr)
{
	uint64_t first_blk = (sector + 7) / 8, end_blk = (sector + nr) / 8;
	int rc = fe_discard(disk->fe, q, sector, nr);

	CHECK(rc == 0, "dom%u/%u: discard %llu at %llu: status %d", disk->domid,
	      disk->devid, (unsigned long long)nr, (unsigned long long)sector,
	      rc);
	if (end_blk > first_blk)
		memset(disk->model + first_blk * 4096, 0,
		       (end_blk - first_blk) * 4096);
}

void bu_verify_all(struct bu_disk *disk)
{
	uint64_t s;
	uint32_t chunk = 2048;

	for (s = 0; s < disk->sectors; s += chunk) {
		uint32_t n = disk->sectors - s < chunk ?
				     (uint32_t)(disk->sectors - s) :
				     chunk;

		bu_verify(disk, 0, s, n, FE_PACKED, NULL);
	}
}

unsigned int bu_fill_beside(struct bu_disk *disk, struct bu_disk *other,
			    struct rng *rng, unsigned int n, bool *acked,
			    unsigned int *failed_r)
{
	static uint8_t buf[4096];
	unsigned int ok = 0, failed = 0, i;
	int st;

	for (i = 0; i < n; i++) {
		rng_fill(rng, buf, sizeof(buf));
		st = fe_rw(disk->fe, i % 2, XE_BLKIF_OP_WRITE, (uint64_t)i * 8,
			   buf, 8, FE_PACKED, rng);
		CHECK(st == XE_BLKIF_RSP_OKAY || st == XE_BLKIF_RSP_ERROR,
		      "block %u: status %d (a hang or worse)", i, st);
		if (st == XE_BLKIF_RSP_OKAY) {
			memcpy(disk->model + (size_t)i * 4096, buf, 4096);
			ok++;
		} else {
			failed++;
		}
		if (acked)
			acked[i] = st == XE_BLKIF_RSP_OKAY;
		if (i % 16 == 0) /* the other disk goes on all the while */
			bu_random_ops(other, rng, 4);
	}
	*failed_r = failed;
	return ok;
}

void bu_random_ops(struct bu_disk *disk, struct rng *rng, unsigned int n)
{
	unsigned int nq = fe_nr_queues(disk->fe), i;
	uint32_t max_len = 256;

	for (i = 0; i < n; i++) {
		unsigned int q = (unsigned int)rng_below(rng, nq);
		unsigned int kind = (unsigned int)rng_below(rng, 20);
		uint32_t len = 1 + (uint32_t)rng_below(rng, max_len);
		uint64_t sector;
		enum fe_layout layout =
			rng_below(rng, 2) ? FE_SCATTER : FE_PACKED;

		if (rng_below(rng, 4) == 0)
			len = 1 + (uint32_t)rng_below(rng, 16); /* small */
		if (len > disk->sectors)
			len = (uint32_t)disk->sectors;
		sector = rng_below(rng, disk->sectors - len + 1);
		if (kind < 8) {
			bu_write(disk, q, sector, len, layout, rng);
		} else if (kind < 17) {
			bu_verify(disk, q, sector, len, layout, rng);
		} else if (kind < 19 &&
			   fe_uses(disk->fe, XE_BLKIF_OP_DISCARD)) {
			bu_discard(disk, q, sector, len);
		} else if (fe_uses(disk->fe, XE_BLKIF_OP_FLUSH_DISKCACHE)) {
			CHECK(fe_flush(disk->fe, q) == 0, "flush failed");
		}
	}
}
