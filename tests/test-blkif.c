/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The blkif protocol suite, end to end: the simulated Xen, the daemon core
 * (xenbus state machine, rings, cow views) in a thread, and test frontends
 * that behave like Linux blkfront. Every read is checked byte by byte
 * against a model; every response is checked as hardened blkfront checks
 * it (tests/frontend.c). One function per feature; each builds its host.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/testlib.h"
#include "xs-glue/attach.h"

#define SECTOR XE_BLKIF_SECTOR_BYTES
#define GUEST 5
#define XVDA 51712u
#define XVDB 51728u
#define XVDC 51744u

static struct fe_opts opts_default(void)
{
	return (struct fe_opts){ .order = 0,
				 .queues = 1,
				 .abi = XE_BLKIF_ABI_NATIVE,
				 .max_indirect = 256 };
}

static void expect_be_node(struct fe *fe, const char *node, const char *want)
{
	char *v = fe_read_be(fe, node);

	if (!want) {
		CHECK(!v, "backend node %s is '%s', expected none", node, v);
		return;
	}
	CHECK(v && !strcmp(v, want), "backend node %s is '%s', expected '%s'",
	      node, v ? v : "(absent)", want);
	free(v);
}

/* Feature keys in xenstore, and the limits already there at InitWait. */
static void test_handshake(void)
{
	struct bu_env e;
	struct bu_disk disk;
	struct fe_opts o = opts_default();
	struct xenbus_dev_info info;
	const struct fe_backend_info *bi;
	char q[8];

	bu_env_init(&e);
	bu_disk_open(&e, &disk, GUEST, XVDA, "blank:size=8M", false, &o, NULL,
		     0);
	bi = fe_backend(disk.fe);
	/* read by fe_connect at InitWait, before the frontend's state 3 */
	CHECK(bi->max_ring_page_order == 4,
	      "max-ring-page-order %u at "
	      "InitWait",
	      bi->max_ring_page_order);
	CHECK(bi->max_queues == BU_MAX_QUEUES, "multi-queue-max-queues %u",
	      bi->max_queues);
	CHECK(bi->sectors == 16384, "sectors %llu",
	      (unsigned long long)bi->sectors);
	snprintf(q, sizeof(q), "%u", BU_MAX_QUEUES);
	expect_be_node(disk.fe, "state", "4");
	expect_be_node(disk.fe, "feature-max-indirect-segments", "256");
	expect_be_node(disk.fe, "multi-queue-max-queues", q);
	expect_be_node(disk.fe, "max-ring-page-order", "4");
	expect_be_node(disk.fe, "sectors", "16384");
	expect_be_node(disk.fe, "info", "0");
	expect_be_node(disk.fe, "sector-size", "512");
	expect_be_node(disk.fe, "physical-sector-size", "4096");
	expect_be_node(disk.fe, "feature-flush-cache", "1");
	expect_be_node(disk.fe, "feature-discard", "1");
	expect_be_node(disk.fe, "discard-granularity", "4096");
	/* never advertised: barrier (EOPNOTSUPP), persistent grants */
	expect_be_node(disk.fe, "feature-barrier", NULL);
	expect_be_node(disk.fe, "feature-persistent", NULL);
	for (int i = 0; i < 1000; i++) {
		CHECK_OK(fe_daemon_dev(e.d, GUEST, XVDA, &info));
		if (info.fe_state == 4)
			break;
		usleep(1000); /* the daemon sees our state 4 soon */
	}
	CHECK(info.be_state == 4 && info.fe_state == 4, "states %d/%d",
	      info.be_state, info.fe_state);
	bu_disk_close(&disk);
	expect_be_node(disk.fe, "state", "6");
	bu_disk_free(&disk);
	bu_env_fini(&e);
	printf("  handshake and feature keys: ok\n");
}

/* Every ring order, 1..4 queues, both ABIs, direct and indirect. */
static void test_rings(uint64_t seed)
{
	struct rng rng = { seed ^ 0x1111 };
	struct bu_env e;
	unsigned int abi, order, queues, n = 0;

	bu_env_init(&e);
	for (abi = 0; abi < 2; abi++)
		for (order = 0; order <= 4; order++)
			for (queues = 1; queues <= 4; queues++) {
				struct fe_opts o = opts_default();
				struct bu_disk disk;
				unsigned int qi;

				o.abi = abi ? XE_BLKIF_ABI_X86_32 :
					      XE_BLKIF_ABI_NATIVE;
				o.order = order;
				o.queues = queues;
				/* odd rounds: direct segments only */
				o.max_indirect = (order + queues) % 2 ? 0 : 256;
				bu_disk_open(&e, &disk, GUEST, XVDA,
					     "blank:size=4M", false, &o, NULL,
					     0);
				CHECK(fe_nr_queues(disk.fe) == queues &&
					      fe_ring_size(disk.fe) ==
						      32u << order,
				      "got %u queues of %u",
				      fe_nr_queues(disk.fe),
				      fe_ring_size(disk.fe));
				{
					struct xenbus_dev_info info;

					CHECK_OK(fe_daemon_dev(e.d, GUEST, XVDA,
							       &info));
					CHECK(info.nr_rings == queues,
					      "daemon reports %u rings, not %u",
					      info.nr_rings, queues);
				}
				for (qi = 0; qi < queues; qi++) {
					uint64_t s = rng_below(&rng, 7000);

					bu_write(&disk, qi, s, 300, FE_SCATTER,
						 &rng);
					bu_verify(&disk, (qi + 1) % queues, s,
						  300, FE_PACKED, &rng);
				}
				bu_random_ops(&disk, &rng, 20);
				bu_disk_close(&disk);
				bu_disk_free(&disk);
				CHECK_OK(detach_device(fe_daemon_xp(e.d), NULL,
						       GUEST, XVDA, 5000));
				n++;
			}
	bu_env_fini(&e);
	printf("  %u ring configurations (orders 0-4, 1-4 queues, both "
	       "ABIs): ok\n",
	       n);
}

/* No "protocol" node: the backend assumes x86_32 on x86 (blkback's rule);
 * num-queues=1 written explicitly is the same as absent. */
static void test_protocol_default(uint64_t seed)
{
	struct rng rng = { seed ^ 0x2222 };
	struct fe_opts o = opts_default();
	struct bu_env e;
	struct bu_disk disk;

	bu_env_init(&e);
	o.no_protocol = true;
	o.abi = XE_BLKIF_ABI_DEFAULT;
	o.num_queues_1 = true;
	bu_disk_open(&e, &disk, GUEST, XVDA, "blank:size=1M", false, &o, NULL,
		     0);
	bu_random_ops(&disk, &rng, 30);
	bu_verify_all(&disk);
	bu_disk_close(&disk);
	bu_disk_free(&disk);
	/* "arm-abi" has the x86_64 layout */
	o = opts_default();
	o.raw_protocol = "arm-abi";
	o.order = 1;
	bu_disk_open(&e, &disk, GUEST, XVDB, "blank:size=1M", false, &o, NULL,
		     0);
	bu_random_ops(&disk, &rng, 30);
	bu_verify_all(&disk);
	bu_disk_close(&disk);
	bu_disk_free(&disk);
	bu_env_fini(&e);
	printf("  default protocol, arm-abi: ok\n");
}

/* Flush empty and with data; discard of whole and partial blocks. */
static void test_flush_discard(uint64_t seed)
{
	struct rng rng = { seed ^ 0x3333 };
	struct fe_opts o = opts_default();
	struct bu_env e;
	struct bu_disk disk;
	struct xenbus_dev_info info;
	uint8_t *page = sim_page_alloc(1);
	struct fe_seg seg = { .page = page, .first_sect = 2, .last_sect = 5 };
	struct fe_req fl = { .op = XE_BLKIF_OP_FLUSH_DISKCACHE,
			     .sector = 100,
			     .nr_segs = 1,
			     .segs = &seg };

	bu_env_init(&e);
	bu_disk_open(&e, &disk, GUEST, XVDA, "blank:size=2M", false, &o, NULL,
		     0);
	CHECK(fe_backend(disk.fe)->flush && fe_backend(disk.fe)->discard,
	      "flush/discard not advertised");
	bu_write(&disk, 0, 0, 4096, FE_PACKED, &rng);
	CHECK(fe_flush(disk.fe, 0) == 0, "empty flush failed");
	/* a flush carrying data: flush, then write (REQ_PREFLUSH) */
	rng_fill(&rng, page, 4096);
	CHECK(fe_io(disk.fe, 0, &fl) == 0, "flush with data failed");
	memcpy(disk.model + 100 * SECTOR, page + 2 * SECTOR, 4 * SECTOR);
	bu_verify(&disk, 0, 96, 16, FE_PACKED, NULL);
	/* whole blocks read zeros after discard ... */
	bu_discard(&disk, 0, 64, 64);
	/* ... partial blocks at either end stay as they were */
	bu_discard(&disk, 0, 203, 30);
	bu_discard(&disk, 0, 1000, 3);
	bu_verify_all(&disk);
	{
		uint8_t z[8 * SECTOR];

		memset(z, 0, sizeof(z));
		CHECK(!memcmp(disk.model + 64 * SECTOR, z, sizeof(z)),
		      "model not zeroed");
	}
	CHECK_OK(fe_daemon_dev(e.d, GUEST, XVDA, &info));
	CHECK(info.ring.flush_req == 2 && info.ring.discard_req == 3,
	      "counters: %llu flushes, %llu discards",
	      (unsigned long long)info.ring.flush_req,
	      (unsigned long long)info.ring.discard_req);
	bu_disk_close(&disk);
	bu_disk_free(&disk);
	bu_env_fini(&e);
	printf("  flush and discard: ok\n");
}

static uint8_t *make_base(struct rng *rng, size_t len, char **path_r)
{
	uint8_t *base = malloc(len);

	CHECK(base, "out of memory");
	rng_fill(rng, base, len);
	*path_r = test_write_file("base.img", base, len);
	return base;
}

/* A cow disk over a base file: base content, writes land, base unchanged;
 * the same over AES-XTS scratch; a second guest sees none of it. */
static void test_cow_base(uint64_t seed)
{
	struct rng rng = { seed ^ 0x4444 };
	struct fe_opts o = opts_default();
	struct bu_env e;
	struct bu_disk d1, d2, d3;
	size_t len = 3u << 20;
	unsigned char before[32], after[32];
	char *path, spec[4200];
	uint8_t *base = make_base(&rng, len, &path);

	test_sha256_file(path, before);
	bu_env_init(&e);
	snprintf(spec, sizeof(spec), "cow:base=%s", path);
	bu_disk_open(&e, &d1, GUEST, XVDA, spec, false, &o, base, len);
	CHECK(d1.sectors == len / SECTOR, "sectors %llu",
	      (unsigned long long)d1.sectors);
	bu_verify_all(&d1);
	snprintf(spec, sizeof(spec), "cow:base=%s,store=xts,scratch=%s", path,
		 test_tmpdir());
	o.order = 2;
	o.queues = 2;
	bu_disk_open(&e, &d2, GUEST, XVDB, spec, false, &o, base, len);
	bu_random_ops(&d1, &rng, 150);
	bu_random_ops(&d2, &rng, 150);
	bu_write(&d1, 0, 7, 1, FE_PACKED, &rng); /* partial block copy-up */
	bu_verify_all(&d1);
	bu_verify_all(&d2);
	/* a second guest on the same base sees the base, nothing else */
	snprintf(spec, sizeof(spec), "cow:base=%s", path);
	o = opts_default();
	bu_disk_open(&e, &d3, GUEST + 1, XVDA, spec, false, &o, base, len);
	bu_verify_all(&d3);
	bu_disk_close(&d1);
	bu_disk_close(&d2);
	bu_disk_close(&d3);
	bu_disk_free(&d1);
	bu_disk_free(&d2);
	bu_disk_free(&d3);
	bu_env_fini(&e);
	test_sha256_file(path, after);
	CHECK(!memcmp(before, after, 32), "the base file changed");
	unlink(path);
	free(path);
	free(base);
	printf("  cow over a base (ram and xts), second guest: ok\n");
}

/* Read-only disks: the base is served, writes and discards get ERROR. */
static void no_check(struct fe_wire *w, void *arg)
{
	(void)w;
	(void)arg; /* a hook turns off the frontend's own checks */
}

static void test_read_only(uint64_t seed)
{
	struct rng rng = { seed ^ 0x5555 };
	struct fe_opts o = opts_default();
	struct bu_env e;
	struct bu_disk d1, d2;
	size_t len = 1u << 20;
	char *path, spec[4200];
	uint8_t *base = make_base(&rng, len, &path);
	uint8_t *page = sim_page_alloc(1);
	struct fe_seg seg = { .page = page, .first_sect = 0, .last_sect = 7 };
	struct fe_req w = {
		.op = XE_BLKIF_OP_WRITE, .sector = 8, .nr_segs = 1, .segs = &seg
	};
	struct fe_req dc = { .op = XE_BLKIF_OP_DISCARD,
			     .sector = 0,
			     .nr_sectors = 64,
			     .tamper = no_check };
	struct fe_req fw = { .op = XE_BLKIF_OP_FLUSH_DISKCACHE,
			     .sector = 8,
			     .nr_segs = 1,
			     .segs = &seg };
	unsigned int i;

	bu_env_init(&e);
	snprintf(spec, sizeof(spec), "ro:base=%s", path);
	bu_disk_open(&e, &d1, GUEST, XVDA, spec, false, &o, base, len);
	/* a cow spec made read-only by the toolstack's mode=r */
	snprintf(spec, sizeof(spec), "cow:base=%s", path);
	bu_disk_open(&e, &d2, GUEST, XVDB, spec, true, &o, base, len);
	for (i = 0; i < 2; i++) {
		struct bu_disk *d = i ? &d2 : &d1;

		expect_be_node(d->fe, "info", "4");
		expect_be_node(d->fe, "feature-discard", "0");
		memset(page, 0xee, 4096);
		CHECK(fe_io(d->fe, 0, &w) == XE_BLKIF_RSP_ERROR,
		      "write to a read-only disk: %d", w.status);
		CHECK(fe_io(d->fe, 0, &dc) == XE_BLKIF_RSP_ERROR,
		      "discard on a read-only disk: %d", dc.status);
		CHECK(fe_io(d->fe, 0, &fw) == XE_BLKIF_RSP_ERROR,
		      "flush with data on a read-only disk: %d", fw.status);
		CHECK(fe_flush(d->fe, 0) == 0, "empty flush failed");
		bu_verify_all(d);
		bu_disk_close(d);
		bu_disk_free(d);
	}
	bu_env_fini(&e);
	unlink(path);
	free(path);
	free(base);
	printf("  read-only disks: ok\n");
}

/* Several guests and disks at once, each driven by its own thread. */
struct mix_arg {
	struct bu_disk disk;
	uint64_t seed;
	unsigned int n;
};

static void *mix_thread(void *p)
{
	struct mix_arg *a = p;
	struct rng rng = { a->seed };

	bu_random_ops(&a->disk, &rng, a->n);
	bu_verify_all(&a->disk);
	return NULL;
}

static void test_random_mix(uint64_t seed)
{
	enum { N = 6 };
	struct mix_arg a[N];
	pthread_t t[N];
	struct bu_env e;
	unsigned int i;
	unsigned int n = (unsigned int)(300 * test_scale()) + 5;

	bu_env_init(&e);
	for (i = 0; i < N; i++) {
		struct fe_opts o = opts_default();
		char spec[4200];

		if (i % 3 == 2)
			snprintf(spec, sizeof(spec),
				 "blank:size=3M,store=xts,scratch=%s",
				 test_tmpdir());
		else
			snprintf(spec, sizeof(spec), "blank:size=6M");

		o.order = i % 5;
		o.queues = 1 + i % 4;
		o.abi = i % 2 ? XE_BLKIF_ABI_X86_32 : XE_BLKIF_ABI_NATIVE;
		o.max_indirect = i % 3 ? 256 : 32;
		o.no_flush = i == 1; /* as blkfront after a failed flush */
		o.no_discard = i == 4;
		bu_disk_open(&e, &a[i].disk, (uint16_t)(GUEST + i / 2),
			     i % 2 ? XVDB : XVDA, spec, false, &o, NULL, 0);
		a[i].seed = seed + 1000 + i;
		a[i].n = n;
	}
	for (i = 0; i < N; i++)
		CHECK(!pthread_create(&t[i], NULL, mix_thread, &a[i]),
		      "pthread_create");
	for (i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < N; i++) {
		bu_disk_close(&a[i].disk);
		bu_disk_free(&a[i].disk);
	}
	bu_env_fini(&e);
	printf("  random mix, %d disks of 3 guests at once: ok\n", N);
}

/* Close and reconnect (another ring shape, other ABI): the data stays. */
static void test_reconnect(uint64_t seed)
{
	struct rng rng = { seed ^ 0x6666 };
	struct fe_opts o = opts_default();
	struct bu_env e;
	struct bu_disk disk;
	unsigned int i;

	bu_env_init(&e);
	bu_disk_open(&e, &disk, GUEST, XVDA, "blank:size=2M", false, &o, NULL,
		     0);
	for (i = 0; i < 4; i++) {
		struct fe *old = disk.fe;

		bu_random_ops(&disk, &rng, 40);
		bu_disk_close(&disk);
		/* a new frontend instance: another ring shape and ABI */
		o.order = (i + 1) % 5;
		o.queues = 1 + (i + 1) % 4;
		o.abi = i % 2 ? XE_BLKIF_ABI_NATIVE : XE_BLKIF_ABI_X86_32;
		CHECK_OK(fe_new(e.sim, GUEST, XVDA, &o, &disk.fe));
		fe_free(old);
		CHECK_OK(fe_reconnect(disk.fe));
		bu_verify_all(&disk);
	}
	bu_disk_close(&disk);
	bu_disk_free(&disk);
	bu_env_fini(&e);
	printf("  close and reconnect keep the data: ok\n");
}

/* online=0 wipes the disk: a new disk in its place reads zeros. */
static void test_detach(uint64_t seed)
{
	struct rng rng = { seed ^ 0x7777 };
	struct fe_opts o = opts_default();
	struct bu_env e;
	struct bu_disk disk;
	struct xenbus_dev_info info;
	char path[128];
	struct xp *tool;

	bu_env_init(&e);
	tool = fe_daemon_xp(e.d);
	/* detach of a closed device */
	bu_disk_open(&e, &disk, GUEST, XVDA, "blank:size=1M", false, &o, NULL,
		     0);
	bu_write(&disk, 0, 0, 2048, FE_PACKED, &rng);
	CHECK_OK(fe_daemon_dev(e.d, GUEST, XVDA, &info));
	CHECK(info.cow.used_blks == 256, "%llu blocks used",
	      (unsigned long long)info.cow.used_blks);
	bu_disk_close(&disk);
	bu_disk_free(&disk);
	CHECK_OK(detach_device(tool, NULL, GUEST, XVDA, 5000));
	/* the daemon forgets the device once its directory is gone */
	for (int i = 0; i < 5000 && fe_daemon_nr_devs(e.d); i++)
		usleep(1000);
	CHECK(fe_daemon_nr_devs(e.d) == 0, "device still known");
	/* detach leaves no empty per-domain directory behind */
	{
		char *v = NULL;

		snprintf(path, sizeof(path),
			 "/local/domain/0/backend/ephemeral/%u", GUEST);
		CHECK(xp_xs_read(tool, XP_XS_NO_TXN, path, &v, NULL) ==
			      -ENOENT,
		      "empty %s left behind", path);
	}

	/* a fresh device in its place: zeros */
	bu_disk_open(&e, &disk, GUEST, XVDA, "blank:size=1M", false, &o, NULL,
		     0);
	bu_verify_all(&disk);
	bu_write(&disk, 0, 0, 64, FE_PACKED, &rng);
	/* detach of a connected device: the toolstack writes online=0 and
	 * state 5; the frontend sees Closing and closes */
	snprintf(path, sizeof(path),
		 "/local/domain/0/backend/ephemeral/%u/%u/online", GUEST, XVDA);
	CHECK_OK(xp_xs_write(tool, XP_XS_NO_TXN, path, "0", 1));
	CHECK_OK(fe_wait_backend_state(disk.fe, 5, 5000));
	bu_disk_close(&disk);
	bu_disk_free(&disk);
	CHECK_OK(fe_daemon_dev(e.d, GUEST, XVDA, &info));
	CHECK(info.be_state == 6 && info.cow.size_sectors == 0,
	      "after online=0: state %d, view of %llu sectors", info.be_state,
	      (unsigned long long)info.cow.size_sectors);
	CHECK_OK(detach_device(tool, NULL, GUEST, XVDA, 5000));
	bu_env_fini(&e);
	printf("  detach wipes the disk: ok\n");
}

int main(void)
{
	uint64_t seed = test_seed("test-blkif");

	test_handshake();
	test_rings(seed);
	test_protocol_default(seed);
	test_flush_discard(seed);
	test_cow_base(seed);
	test_read_only(seed);
	test_random_mix(seed);
	test_reconnect(seed);
	test_detach(seed);
	return 0;
}
