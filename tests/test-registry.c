/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One disk, many attachments, and the routes in from the toolstack, in the
 * simulated Xen with the daemon core and test frontends:
 *
 * - a guest and its stubdomain (a domain whose target node names it) read
 *   and write one view and see each other's data;
 * - a third domain, a different spec, a second device with the same id are
 *   refused, and the first attachment keeps working;
 * - the frontends that reconnect (GRUB, Windows xenvbd, OVMF) keep the
 *   overlay across every cycle;
 * - the owner's death with its stubdomain still attached wipes nothing
 *   until the last attachment goes;
 * - an open that hangs never stalls another disk;
 * - vbd3 devices: only our hook's are served, aio: is stripped, a bad
 *   target fails with its reason at InitWait, libxl's directory is never
 *   deleted, and its teardown orders (frontend first) end in Closed;
 * - an HVM guest's vbd3 disk is also exported over NBD, named in
 *   ephemeral-nbd-socket (the hook copies it into physical-device-path)
 *   for its dom0 QEMU: one view with the blkif
 *   device, and the disk lives until the last of both is gone.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/nbd-client.h"
#include "tests/sim/sim.h"
#include "tests/testlib.h"
#include "tests/toolstack.h"
#include "xs-glue/attach.h"
#include "xs-glue/vbd-xs.h"

#define SECTOR XE_BLKIF_SECTOR_BYTES
#define GUEST 5
#define STUB 6
#define THIRD 7
#define XVDA 51712u
#define XVDB 51728u
#define XVDC 51744u

static struct fe_opts opts_default(void)
{
	return (struct fe_opts){ .order = 1,
				 .queues = 2,
				 .abi = XE_BLKIF_ABI_NATIVE,
				 .max_indirect = 64 };
}

static struct ts_disk tap(uint16_t domid, uint32_t devid, const char *vdev,
			  const char *target)
{
	return (struct ts_disk){ .domid = domid,
				 .devid = devid,
				 .vdev = vdev,
				 .target = target,
				 .script = BU_HOOK };
}

/* A backend node's value, or NULL; caller frees. */
static char *be_node(struct xp *tool, uint16_t domid, uint32_t devid,
		     const char *node)
{
	char *v = NULL;

	if (xp_read_node(tool, XP_XS_NO_TXN, ts_vbd3_dir(domid, devid), node,
			 &v, NULL))
		return NULL;
	return v;
}

static void expect_error(struct xp *tool, const char *be, const char *words)
{
	uint64_t end = xp_now_ms() + 5000;
	char *v = NULL;

	while (xp_read_node(tool, XP_XS_NO_TXN, be, "error", &v, NULL)) {
		CHECK(xp_now_ms() < end, "%s: no error node", be);
		usleep(1000);
	}
	CHECK(strstr(v, words), "%s: error '%s' does not say '%s'", be, v,
	      words);
	free(v);
}

/* The daemon catches up with the toolstack: wait for n disks. */
static unsigned int nr_disks_soon(struct bu_env *e, unsigned int n)
{
	for (int i = 0; i < 5000 && fe_daemon_nr_disks(e->d) != n; i++)
		usleep(1000);
	return fe_daemon_nr_disks(e->d);
}

/* Guest and stubdomain: one view, each sees the other's writes. */
static void test_stubdom_shares(struct rng *rng)
{
	struct fe_opts o = opts_default();
	struct xenbus_dev_info info;
	struct ts_disk dg = tap(GUEST, XVDA, "xvda", "blank:size=2M");
	struct ts_disk ds = tap(STUB, XVDA, "xvda", "blank:size=2M");
	struct bu_disk g, s;
	struct bu_env e;
	struct xp *tool;
	unsigned int i;

	bu_env_init(&e);
	tool = fe_daemon_xp(e.d);
	bu_domain(&e, GUEST);
	CHECK_OK(ts_stubdom_create(e.sim, tool, STUB, GUEST));
	CHECK_OK(ts_vbd3_add(tool, &dg));
	bu_disk_connect(&e, &g, GUEST, XVDA, "guest", &o, NULL, 0);
	/* libxl adds the stubdomain's disks after the guest's */
	CHECK_OK(ts_vbd3_add(tool, &ds));
	o.order = 0;
	o.queues = 1;
	bu_disk_connect(&e, &s, STUB, XVDA, "stubdomain", &o, NULL, 0);
	free(s.model);
	s.model = g.model; /* one disk: one model */
	CHECK(fe_daemon_nr_disks(e.d) == 1, "%u disks for one guest disk",
	      fe_daemon_nr_disks(e.d));
	CHECK_OK(fe_daemon_dev(e.d, STUB, XVDA, &info));
	CHECK(info.owner == GUEST && info.role == XENBUS_ROLE_STUBDOM,
	      "stubdomain's device: owner %u role %d", info.owner, info.role);
	CHECK(!strcmp(info.vdev, "xvda"), "vdev '%s'", info.vdev);
	/* The emulated path writes at boot, then the PV path, and back. */
	for (i = 0; i < 8; i++) {
		struct bu_disk *w = i % 2 ? &g : &s, *r = i % 2 ? &s : &g;
		uint64_t sec = rng_below(rng, 4000);

		bu_write(w, 0, sec, 1 + (uint32_t)rng_below(rng, 64),
			 FE_SCATTER, rng);
		bu_verify(r, 0, sec, 64, FE_PACKED, rng);
	}
	bu_random_ops(&s, rng, 40);
	bu_verify_all(&g);
	bu_random_ops(&g, rng, 40);
	bu_verify_all(&s);
	bu_disk_close(&s);
	s.model = NULL;
	bu_disk_free(&s);
	CHECK_OK(ts_vbd3_remove(tool, STUB, XVDA, TS_REMOVE_SAFE));
	CHECK(fe_daemon_nr_disks(e.d) == 1, "the stubdomain's detach closed "
					    "the guest's disk");
	bu_verify_all(&g);
	bu_disk_close(&g);
	bu_disk_free(&g);
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDA, TS_REMOVE_SAFE));
	CHECK(nr_disks_soon(&e, 0) == 0, "disk left after both detached");
	bu_env_fini(&e);
	printf("  guest and stubdomain share one view: ok\n");
}

/* Anything but the owner's stubdomain with the same spec is refused, and
 * the first attachment goes on as if nothing happened. */
static void test_sharing_refused(struct rng *rng)
{
	struct fe_opts o = opts_default();
	struct ts_disk dg = tap(GUEST, XVDA, "xvda", "blank:size=2M");
	struct ts_disk other = tap(STUB, XVDA, "xvda", "blank:size=4M");
	struct ts_disk third = tap(THIRD, XVDA, "xvda", "blank:size=2M");
	struct bu_disk g;
	struct bu_env e;
	struct xp *tool;
	char dir[64], *v;

	bu_env_init(&e);
	tool = fe_daemon_xp(e.d);
	bu_domain(&e, GUEST);
	CHECK_OK(ts_stubdom_create(e.sim, tool, STUB, GUEST));
	CHECK_OK(ts_vbd3_add(tool, &dg));
	bu_disk_connect(&e, &g, GUEST, XVDA, "guest", &o, NULL, 0);
	bu_random_ops(&g, rng, 30);

	/* the stubdomain with another spec */
	CHECK_OK(ts_vbd3_add(tool, &other));
	expect_error(tool, ts_vbd3_dir(STUB, XVDA), "another spec or mode");
	CHECK_OK(ts_wait_backend(tool, ts_vbd3_dir(STUB, XVDA), 2, 5000));
	bu_random_ops(&g, rng, 30);
	bu_verify_all(&g);
	CHECK_OK(ts_vbd3_remove(tool, STUB, XVDA, TS_REMOVE_FORCE));

	/* a third domain that says it is the guest's device model; the
	 * guest's device-model-domid names another */
	bu_domain(&e, THIRD);
	snprintf(dir, sizeof(dir), "/local/domain/%u", THIRD);
	CHECK_OK(xp_printf_node(tool, XP_XS_NO_TXN, dir, "target", "%u",
				GUEST));
	CHECK_OK(ts_vbd3_add(tool, &third));
	expect_error(tool, ts_vbd3_dir(THIRD, XVDA),
		     "does not name domain 7");
	bu_verify_all(&g);
	CHECK_OK(ts_vbd3_remove(tool, THIRD, XVDA, TS_REMOVE_FORCE));

	/* a second device of the guest with the same id, under the other
	 * kind, pointing at the same frontend directory */
	{
		char be[96];

		snprintf(be, sizeof(be),
			 "/local/domain/0/backend/ephemeral/%u/%u", GUEST,
			 XVDA);
		CHECK_OK(xp_printf_node(tool, XP_XS_NO_TXN, be, "frontend",
					"/local/domain/%u/device/vbd/%u",
					GUEST, XVDA));
		CHECK_OK(xp_printf_node(tool, XP_XS_NO_TXN, be, "frontend-id",
					"%u", GUEST));
		CHECK_OK(xp_printf_node(tool, XP_XS_NO_TXN, be, "params",
					"blank:size=2M"));
		CHECK_OK(xp_printf_node(tool, XP_XS_NO_TXN, be, "state", "1"));
		expect_error(tool, be, "a second device with that id");
		CHECK_OK(ts_wait_backend(tool, be, 6, 5000));
		CHECK_OK(xp_xs_rm(tool, XP_XS_NO_TXN, be));
	}
	CHECK(fe_daemon_nr_disks(e.d) == 1, "%u disks",
	      fe_daemon_nr_disks(e.d));
	v = be_node(tool, GUEST, XVDA, "error");
	CHECK(!v, "the first attachment got an error: %s", v);
	bu_random_ops(&g, rng, 30);
	bu_verify_all(&g);
	bu_disk_close(&g);
	bu_disk_free(&g);
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDA, TS_REMOVE_SAFE));
	bu_env_fini(&e);
	printf("  other spec, false stubdomain, same id twice: refused, the "
	       "guest unaffected: ok\n");
}

/* GRUB, then Linux, then Windows, then OVMF + Linux: one overlay. */
static void test_reconnect_styles(struct rng *rng)
{
	struct fe_opts o = opts_default();
	struct ts_disk dk = tap(GUEST, XVDA, "xvda", "blank:size=2M");
	struct bu_disk g;
	struct bu_env e;
	struct xp *tool;
	struct fe *fe;

	bu_env_init(&e);
	tool = fe_daemon_xp(e.d);
	bu_domain(&e, GUEST);
	CHECK_OK(ts_vbd3_add(tool, &dk));

	/* GRUB: straight to Initialised without waiting for InitWait */
	o.grub_style = true;
	o.max_indirect = 0;
	o.no_flush = o.no_discard = true;
	bu_disk_connect(&e, &g, GUEST, XVDA, "grub", &o, NULL, 0);
	bu_write(&g, 0, 8, 16, FE_PACKED, rng);
	bu_write(&g, 0, 3000, 5, FE_PACKED, rng);
	bu_verify_all(&g);
	/* 3 -> 6 with no 5, blank the nodes, 1; then Linux from scratch */
	CHECK_OK(fe_close_grub(g.fe));
	o = opts_default();
	CHECK_OK(fe_new(e.sim, GUEST, XVDA, &o, &fe));
	fe_free(g.fe);
	g.fe = fe;
	CHECK_OK(fe_wait_backend_state(fe, 2, 5000));
	CHECK_OK(fe_connect(fe));
	bu_verify_all(&g);
	bu_random_ops(&g, rng, 30);

	/* Windows: it always closes first, then comes back */
	bu_disk_close(&g);
	o = opts_default();
	o.order = 0;
	o.queues = 1;
	CHECK_OK(fe_new(e.sim, GUEST, XVDA, &o, &fe));
	fe_free(g.fe);
	g.fe = fe;
	CHECK_OK(fe_windows_prepare(fe));
	CHECK_OK(fe_connect(fe));
	bu_verify_all(&g);
	bu_random_ops(&g, rng, 30);

	/* OVMF: Closing, Closed, then the OS connects again */
	bu_disk_close(&g);
	CHECK_OK(fe_reconnect(g.fe));
	bu_verify_all(&g);
	bu_disk_close(&g);
	bu_disk_free(&g);
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDA, TS_REMOVE_SAFE));
	bu_env_fini(&e);
	printf("  GRUB, Windows and OVMF reconnect cycles keep the overlay: "
	       "ok\n");
}

/* The owner dies with its stubdomain still attached: the disk lives on
 * for the stubdomain, and is wiped once the last attachment goes. */
static void test_owner_dies_first(struct rng *rng)
{
	struct fe_opts o = opts_default();
	struct ts_disk dg = tap(GUEST, XVDA, "xvda", "blank:size=2M");
	struct ts_disk ds = tap(STUB, XVDA, "xvda", "blank:size=2M");
	struct bu_disk g, s;
	struct bu_env e;
	struct xp *tool;
	char *v;

	bu_env_init(&e);
	tool = fe_daemon_xp(e.d);
	bu_domain(&e, GUEST);
	CHECK_OK(ts_stubdom_create(e.sim, tool, STUB, GUEST));
	CHECK_OK(ts_vbd3_add(tool, &dg));
	CHECK_OK(ts_vbd3_add(tool, &ds));
	bu_disk_connect(&e, &g, GUEST, XVDA, "guest", &o, NULL, 0);
	bu_disk_connect(&e, &s, STUB, XVDA, "stubdomain", &o, NULL, 0);
	free(s.model);
	s.model = g.model; /* one disk: one model (freed with s) */
	bu_write(&g, 0, 0, 4096, FE_PACKED, rng);

	/* the guest's domain goes (guest and stubdomain are destroyed in
	 * parallel by libxl: here the guest first) */
	CHECK_OK(sim_domain_destroy(e.sim, GUEST));
	fe_domain_gone(g.fe);
	fe_free(g.fe);
	CHECK_OK(ts_wait_backend(tool, ts_vbd3_dir(GUEST, XVDA), 6, 5000));
	/* vbd3 is libxl's: Closed, but the directory is left to libxl */
	v = be_node(tool, GUEST, XVDA, "params");
	CHECK(v, "the daemon deleted libxl's backend directory");
	free(v);
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDA, TS_REMOVE_FORCE));
	CHECK(fe_daemon_nr_disks(e.d) == 1, "the disk went with its owner "
					    "while the stubdomain is "
					    "attached");
	bu_verify_all(&s); /* nothing wiped */
	bu_random_ops(&s, rng, 20);
	bu_disk_close(&s);
	bu_disk_free(&s);
	CHECK_OK(ts_vbd3_remove(tool, STUB, XVDA, TS_REMOVE_SAFE));
	CHECK(nr_disks_soon(&e, 0) == 0, "the last detach left the disk");

	/* a new guest in the owner's place gets a fresh disk: zeros */
	CHECK_OK(sim_domain_create(e.sim, GUEST));
	CHECK_OK(ts_vbd3_add(tool, &dg));
	bu_disk_connect(&e, &g, GUEST, XVDA, "new guest", &o, NULL, 0);
	bu_verify_all(&g);
	bu_disk_close(&g);
	bu_disk_free(&g);
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDA, TS_REMOVE_SAFE));
	bu_env_fini(&e);
	printf("  owner gone first: the stubdomain keeps the overlay, the "
	       "last detach wipes it: ok\n");
}

/* ---- an open that hangs ---- */

static pthread_mutex_t slow_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cond = PTHREAD_COND_INITIALIZER;
static bool slow_released;
static unsigned int slow_waiting;

/* 3 MiB disks open as slowly as an NFS base whose server is gone. */
static int slow_open(const struct diskspec *spec, struct disk_plan *dp,
		     char *err, size_t err_len)
{
	if (spec->kind == DISKSPEC_BLANK && spec->size_bytes == 3u << 20) {
		pthread_mutex_lock(&slow_lock);
		slow_waiting++;
		while (!slow_released)
			pthread_cond_wait(&slow_cond, &slow_lock);
		slow_waiting--;
		pthread_mutex_unlock(&slow_lock);
	}
	return disk_plan_open(spec, dp, err, err_len);
}

static void release_slow(bool released)
{
	pthread_mutex_lock(&slow_lock);
	slow_released = released;
	pthread_cond_broadcast(&slow_cond);
	pthread_mutex_unlock(&slow_lock);
}

static void wait_slow_waiting(unsigned int n)
{
	for (int i = 0; i < 5000; i++) {
		unsigned int w;

		pthread_mutex_lock(&slow_lock);
		w = slow_waiting;
		pthread_mutex_unlock(&slow_lock);
		if (w == n)
			return;
		usleep(1000);
	}
	CHECK(0, "the slow opens never started");
}

static void test_slow_open(struct rng *rng)
{
	struct xenbus_config cfg = bu_config();
	struct fe_opts o = opts_default();
	struct bu_disk a, b;
	struct bu_env e;
	struct fe *fa;
	char fifo[4200], spec[4300];

	cfg.plan_disk = slow_open;
	bu_env_init_cfg(&e, &cfg);
	bu_domain(&e, GUEST);
	release_slow(false);
	CHECK_OK(fe_attach(e.d, GUEST, XVDA, "blank:size=3M", false));
	CHECK_OK(fe_attach(e.d, GUEST, XVDC, "blank:size=3M", false));
	wait_slow_waiting(2);
	/* while two opens hang, another disk connects and works */
	bu_disk_open(&e, &b, GUEST, XVDB, "blank:size=1M", false, &o, NULL,
		     0);
	bu_random_ops(&b, rng, 40);
	bu_verify_all(&b);
	CHECK_OK(fe_new(e.sim, GUEST, XVDA, &o, &fa));
	CHECK(fe_backend_state(fa) == 1, "a hanging disk is in state %d",
	      fe_backend_state(fa));
	/* ... and a FIFO as base fails at once instead of hanging */
	snprintf(fifo, sizeof(fifo), "%s/base.fifo", test_tmpdir());
	CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
	snprintf(spec, sizeof(spec), "cow:base=%s", fifo);
	CHECK_OK(fe_attach(e.d, GUEST, 51760, spec, false));
	{
		char be[96];

		snprintf(be, sizeof(be),
			 "/local/domain/0/backend/ephemeral/%u/51760", GUEST);
		expect_error(fe_daemon_xp(e.d), be,
			     "is not a regular file or block device");
	}
	CHECK_OK(detach_device(fe_daemon_xp(e.d), NULL, GUEST, 51760, 5000));
	unlink(fifo);
	/* one hanging disk is removed while it opens */
	CHECK_OK(detach_device(fe_daemon_xp(e.d), NULL, GUEST, XVDC, 5000));
	/* the other one's open finishes: it connects like any disk */
	release_slow(true);
	memset(&a, 0, sizeof(a));
	a.fe = fa;
	a.domid = GUEST;
	a.devid = XVDA;
	CHECK_OK(fe_connect(fa));
	a.sectors = fe_backend(fa)->sectors;
	a.model = calloc(a.sectors, SECTOR);
	CHECK(a.model, "out of memory");
	bu_random_ops(&a, rng, 40);
	bu_verify_all(&a);
	CHECK(nr_disks_soon(&e, 2) == 2,
	      "%u disks (the removed one's open must be freed)",
	      fe_daemon_nr_disks(e.d));
	bu_disk_close(&a);
	bu_disk_free(&a);
	bu_disk_close(&b);
	bu_disk_free(&b);
	bu_env_fini(&e);
	printf("  hanging opens and a FIFO base stall no other disk: ok\n");
}

/* ---- the vbd3 route ---- */

static void test_vbd3_claims(struct rng *rng)
{
	struct fe_opts o = opts_default();
	struct ts_disk theirs = tap(GUEST, XVDA, "xvda", "/srv/img.raw");
	struct ts_disk vhd = tap(GUEST, XVDB, "xvdb", "blank:size=1M");
	struct ts_disk path, ro;
	unsigned char img[256 * 1024];
	struct xenbus_dev_info info;
	struct bu_disk d;
	struct bu_env e;
	struct xp *tool;
	char *base, *v;

	bu_env_init(&e);
	tool = fe_daemon_xp(e.d);
	bu_domain(&e, GUEST);

	/* a real blktap's device (Debian's block-tap): never touched */
	theirs.script = "/etc/xen/scripts/block-tap";
	CHECK_OK(ts_vbd3_add(tool, &theirs));
	/* another device, served, proves the daemon has looked */
	path = tap(GUEST, XVDC, "xvdc", "");
	rng_fill(rng, img, sizeof(img));
	base = test_write_file("vbd3-base.img", img, sizeof(img));
	path.target = base; /* only a path: cow:base=<path> */
	CHECK_OK(ts_vbd3_add(tool, &path));
	bu_disk_connect(&e, &d, GUEST, XVDC, "path target", &o, img,
			sizeof(img));
	bu_verify_all(&d);
	bu_random_ops(&d, rng, 30);
	bu_verify_all(&d);
	v = be_node(tool, GUEST, XVDA, "state");
	CHECK(v && !strcmp(v, "1"), "someone else's device in state %s", v);
	free(v);
	v = be_node(tool, GUEST, XVDA, "sectors");
	CHECK(!v, "the daemon wrote into someone else's device");
	v = be_node(tool, GUEST, XVDA, "error");
	CHECK(!v, "the daemon wrote into someone else's device");
	CHECK(fe_daemon_dev(e.d, GUEST, XVDA, &info) == -ENOENT,
	      "someone else's device is reported");

	/* format=vhd: refused with the reason, at InitWait for the hook */
	vhd.format = "vhd";
	CHECK_OK(ts_vbd3_add(tool, &vhd));
	expect_error(tool, ts_vbd3_dir(GUEST, XVDB), "'vhd' is not supported");
	CHECK_OK(ts_wait_backend(tool, ts_vbd3_dir(GUEST, XVDB), 2, 5000));
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDB, TS_REMOVE_FORCE));

	/* a bad target: its reason, for the hook */
	vhd.format = NULL;
	vhd.target = "cow:base=/nonexistent/root.img,store=ram";
	CHECK_OK(ts_vbd3_add(tool, &vhd));
	expect_error(tool, ts_vbd3_dir(GUEST, XVDB), "/nonexistent/root.img");
	CHECK_OK(ts_wait_backend(tool, ts_vbd3_dir(GUEST, XVDB), 2, 5000));
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDB, TS_REMOVE_FORCE));

	/* access=ro: read-only whatever the spec */
	ro = tap(GUEST, XVDB, "xvdb", "blank:size=1M");
	ro.read_only = true;
	CHECK_OK(ts_vbd3_add(tool, &ro));
	{
		struct bu_disk r;

		bu_disk_connect(&e, &r, GUEST, XVDB, "ro", &o, NULL, 0);
		CHECK(fe_backend(r.fe)->info & 4, "info %u: not read-only",
		      fe_backend(r.fe)->info);
		bu_disk_close(&r);
		bu_disk_free(&r);
	}
	/* xl block-detach -f / destroy: the frontend directory first */
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDB, TS_REMOVE_FORCE));

	/* destroy with I/O in flight: frontend first, then online=0 */
	{
		struct fe_req req = { .op = XE_BLKIF_OP_WRITE, .sector = 64 };
		struct fe_seg seg = { .page = sim_page_alloc(1),
				      .last_sect = 7 };

		CHECK(seg.page, "out of memory");
		req.nr_segs = 1;
		req.segs = &seg;
		CHECK_OK(fe_submit(d.fe, 0, &req));
		fe_kick(d.fe, 0);
		CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDC, TS_REMOVE_FORCE));
		fe_wait(d.fe, 0, 100);
		/* a request may be left unanswered: forget the grants */
		fe_domain_gone(d.fe);
		fe_free(d.fe);
		d.fe = NULL;
		sim_page_free(seg.page);
	}
	CHECK(sim_domain_maps(e.sim, GUEST) == 0, "rings still mapped");
	usleep(20000);
	v = be_node(tool, GUEST, XVDC, "state");
	CHECK(!v, "the daemon wrote back into a removed directory");
	free(d.model);
	/* the other backend's device goes without us (nobody answers it
	 * here: libxl would wait 10 s for its Closed) */
	CHECK_OK(xp_xs_rm(tool, XP_XS_NO_TXN, ts_vbd3_dir(GUEST, XVDA)));
	CHECK_OK(xp_xs_rm(tool, XP_XS_NO_TXN,
			  "/local/domain/5/device/vbd/51712"));
	unlink(base);
	free(base);
	bu_env_fini(&e);
	printf("  vbd3: only our hook's devices, aio: and paths, reasons at "
	       "InitWait, libxl's teardown orders: ok\n");
}

/* ---- xl save / restore / migrate ---- */

/* A guest with its UUID and two vbd3 disks, connected, written to. */
static void guest_up(struct bu_env *e, uint16_t domid, const char *uuid,
		     struct bu_disk *a, struct bu_disk *b, struct rng *rng)
{
	struct fe_opts o = opts_default();
	struct ts_disk da = tap(domid, XVDA, "xvda", "blank:size=1M");
	struct ts_disk db = tap(domid, XVDB, "xvdb", "blank:size=1M");
	struct xp *tool = fe_daemon_xp(e->d);

	CHECK_OK(sim_domain_create(e->sim, domid));
	CHECK_OK(ts_domain_uuid(tool, domid, uuid));
	CHECK_OK(ts_vbd3_add(tool, &da));
	CHECK_OK(ts_vbd3_add(tool, &db));
	bu_disk_connect(e, a, domid, XVDA, "a", &o, NULL, 0);
	bu_disk_connect(e, b, domid, XVDB, "b", &o, NULL, 0);
	bu_write(a, 0, 0, 64, FE_PACKED, rng);
	bu_write(b, 1, 8, 64, FE_PACKED, rng);
}

/* libxl's destroy after a save or a poweroff: devices first (frontend
 * directories first), while the domain exists; then the domain. */
static void guest_down(struct bu_env *e, uint16_t domid, struct bu_disk *a,
		       struct bu_disk *b)
{
	struct xp *tool = fe_daemon_xp(e->d);

	CHECK_OK(ts_vbd3_remove(tool, domid, XVDA, TS_REMOVE_FORCE));
	CHECK_OK(ts_vbd3_remove(tool, domid, XVDB, TS_REMOVE_FORCE));
	CHECK_OK(sim_domain_destroy(e->sim, domid));
	fe_domain_gone(a->fe);
	fe_domain_gone(b->fe);
	bu_disk_free(a);
	bu_disk_free(b);
}

/* One vbd3 disk of domid, expected refused with words (or served). */
static void try_disk(struct bu_env *e, uint16_t domid, const char *uuid,
		     const char *words)
{
	struct ts_disk dk = tap(domid, XVDA, "xvda", "blank:size=1M");
	struct xp *tool = fe_daemon_xp(e->d);
	const char *be = ts_vbd3_dir(domid, XVDA);
	char dir[96];

	CHECK_OK(sim_domain_create(e->sim, domid));
	CHECK_OK(ts_domain_uuid(tool, domid, uuid));
	CHECK_OK(ts_vbd3_add(tool, &dk));
	snprintf(dir, sizeof(dir), "%s", be);
	if (words) {
		expect_error(tool, dir, words);
	} else {
		char *v = NULL;

		CHECK_OK(ts_wait_backend(tool, dir, 2, 5000));
		CHECK(xp_read_node(tool, XP_XS_NO_TXN, dir, "error", &v, NULL),
		      "domain %u refused: %s", domid, v);
	}
	CHECK_OK(ts_vbd3_remove(tool, domid, XVDA, TS_REMOVE_FORCE));
	CHECK_OK(sim_domain_destroy(e->sim, domid));
}

static void test_save_restore_guard(struct rng *rng)
{
	const char *saved = "6f1c3b2e-0a4d-4c8e-9b1a-2d3e4f5a6b7c";
	const char *off = "0e5d7c3a-1b2f-4e6a-8c9d-aabbccddeeff";
	const char *moving = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f11223344";
	struct bu_disk a, b;
	struct bu_env e;

	bu_env_init(&e);
	/* xl save: suspended, then torn down while it still exists */
	guest_up(&e, 20, saved, &a, &b, rng);
	CHECK_OK(sim_domain_shutdown(e.sim, 20, XP_SHUTDOWN_SUSPEND));
	guest_down(&e, 20, &a, &b);
	CHECK(nr_disks_soon(&e, 0) == 0, "the saved guest's disks stayed");
	/* xl restore: a new domain with its UUID */
	try_disk(&e, 21, saved, "was saved or migrated");
	try_disk(&e, 22, saved, "xen-ephemeral forget " /* says how */);

	/* a guest powered off is not remembered */
	guest_up(&e, 23, off, &a, &b, rng);
	CHECK_OK(sim_domain_shutdown(e.sim, 23, XP_SHUTDOWN_POWEROFF));
	guest_down(&e, 23, &a, &b);
	try_disk(&e, 24, off, NULL);

	/* xl migrate on one host: the receiver comes while the sender,
	 * suspended, still has its disks */
	guest_up(&e, 25, moving, &a, &b, rng);
	CHECK_OK(sim_domain_shutdown(e.sim, 25, XP_SHUTDOWN_SUSPEND));
	try_disk(&e, 26, moving, "UUID of suspended domain 25");
	guest_down(&e, 25, &a, &b);

	/* the operator's word lets a domain with that UUID have disks */
	CHECK_OK(fe_daemon_forget(e.d, saved));
	CHECK(fe_daemon_forget(e.d, saved) == -ENOENT, "forgot twice");
	try_disk(&e, 27, saved, NULL);
	bu_env_fini(&e);
	printf("  save, restore and migrate of guests on ephemeral disks: "
	       "refused, powered-off guests not: ok\n");
}

/* ---- the toolstack moving under the daemon ---- */

struct remake {
	struct bu_env *e;
	uint32_t devid;
	const char *spec;
	volatile bool fired;
};

/* The toolstack removes the device and makes another in its place. */
static void remake(void *arg)
{
	struct remake *r = arg;
	struct xp *tool = fe_daemon_xp(r->e->d);
	char be[96], fe[96];

	snprintf(be, sizeof(be), "/local/domain/0/backend/ephemeral/%u/%u",
		 GUEST, r->devid);
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/vbd/%u", GUEST,
		 r->devid);
	CHECK_OK(xp_xs_rm(tool, XP_XS_NO_TXN, be));
	CHECK_OK(xp_xs_rm(tool, XP_XS_NO_TXN, fe));
	CHECK_OK(fe_attach(r->e->d, GUEST, r->devid, r->spec, false));
	r->fired = true;
}

/*
 * A device removed and made again (another disk this time) between the
 * daemon's reading it and its writing to it: nothing meant for the old
 * device may land on the new one. The sim runs the toolstack's remake
 * right before the daemon's write of the device's state.
 */
static void test_toolstack_races(struct rng *rng)
{
	struct fe_opts o = opts_default();
	struct remake r = { .devid = XVDA, .spec = "blank:size=2M" };
	struct bu_disk d;
	struct bu_env e;
	char state[96];

	bu_env_init(&e);
	r.e = &e;
	bu_domain(&e, GUEST);
	snprintf(state, sizeof(state),
		 "/local/domain/0/backend/ephemeral/%u/%u/state", GUEST, XVDA);

	/* while the daemon publishes the first disk and says InitWait */
	sim_xs_before_write(e.sim, fe_daemon_core_xp(e.d), state, remake, &r);
	CHECK_OK(fe_attach(e.d, GUEST, XVDA, "blank:size=1M", false));
	bu_disk_connect(&e, &d, GUEST, XVDA, "made again", &o, NULL, 0);
	CHECK(r.fired, "the toolstack's remake never ran");
	CHECK(d.sectors == 4096, "the new device shows %llu sectors: the old "
				 "disk's InitWait landed on it",
	      (unsigned long long)d.sectors);
	bu_random_ops(&d, rng, 20);
	bu_verify_all(&d);

	/* while the daemon answers the frontend's Closing */
	r.fired = false;
	r.spec = "blank:size=3M";
	sim_xs_before_write(e.sim, fe_daemon_core_xp(e.d), state, remake, &r);
	CHECK_OK(fe_write_fe(d.fe, "state", "5"));
	for (int i = 0; i < 5000 && !r.fired; i++)
		usleep(1000);
	CHECK(r.fired, "the daemon never answered Closing");
	fe_domain_gone(d.fe); /* its device is gone: forget its grants */
	fe_free(d.fe);
	free(d.model);
	bu_disk_connect(&e, &d, GUEST, XVDA, "made again", &o, NULL, 0);
	CHECK(d.sectors == 6144, "%llu sectors", (unsigned long long)d.sectors);
	bu_random_ops(&d, rng, 20);
	bu_verify_all(&d);
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(fe_daemon_xp(e.d), NULL, GUEST, XVDA, 5000));
	bu_env_fini(&e);
	printf("  a device made again under the daemon gets nothing of the "
	       "old one: ok\n");
}

/* Overlay usage is published in the backend directory for dom0 tools. */
static void test_usage_published(struct rng *rng)
{
	struct fe_opts o = opts_default();
	struct ts_disk dk = tap(GUEST, XVDA, "xvda", "blank:size=2M,limit=1M");
	struct xenbus_dev_info info;
	struct bu_disk d;
	struct bu_env e;
	struct xp *tool;
	char want[32], *v = NULL;
	int i;

	bu_env_init(&e);
	tool = fe_daemon_xp(e.d);
	bu_domain(&e, GUEST);
	CHECK_OK(ts_vbd3_add(tool, &dk));
	bu_disk_connect(&e, &d, GUEST, XVDA, "usage", &o, NULL, 0);
	bu_write(&d, 0, 0, 64, FE_PACKED, rng);  /* 8 blocks */
	bu_write(&d, 0, 999, 1, FE_PACKED, rng); /* one more */
	CHECK_OK(fe_daemon_dev(e.d, GUEST, XVDA, &info));
	snprintf(want, sizeof(want), "%llu",
		 (unsigned long long)info.cow.used_bytes);
	CHECK(info.cow.used_bytes == 9 * 4096, "used %llu",
	      (unsigned long long)info.cow.used_bytes);
	for (i = 0; i < 5000; i++) {
		free(v);
		v = be_node(tool, GUEST, XVDA, "ephemeral-used-bytes");
		if (v && !strcmp(v, want))
			break;
		usleep(1000);
	}
	CHECK(v && !strcmp(v, want), "ephemeral-used-bytes is %s, want %s", v,
	      want);
	free(v);
	v = be_node(tool, GUEST, XVDA, "ephemeral-limit-bytes");
	CHECK(v && !strcmp(v, "1048576"), "ephemeral-limit-bytes is %s", v);
	free(v);
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDA, TS_REMOVE_SAFE));
	bu_env_fini(&e);
	printf("  overlay usage published in the backend directory: ok\n");
}


/* An NBD client (the dom0 QEMU) has gone: the daemon notices. */
static unsigned int nbd_clients_soon(struct bu_env *e, uint16_t domid,
				     uint32_t devid, unsigned int n)
{
	for (int i = 0; i < 5000; i++) {
		if (fe_daemon_disk_nbd_clients(e->d, domid, devid) == n)
			return n;
		usleep(1000);
	}
	return fe_daemon_disk_nbd_clients(e->d, domid, devid);
}

/*
 * HVM: libxl starts QEMU with -drive file=nbd+unix:///?socket=<physical-
 * device-path> after the disk's hook ran; the guest's firmware reads and
 * writes through it, then its PV drivers take over on the blkif device.
 */
static void test_hvm_nbd_export(struct rng *rng)
{
	struct fe_opts o = opts_default();
	static unsigned char img[512 * 1024];
	unsigned char buf[8192], want[8192];
	char spec[512], sock[256], *v;
	struct ts_disk dk, pv;
	struct bu_disk d;
	struct bu_env e;
	struct xp *tool;
	struct stat st;
	char *base;
	int c;

	bu_env_init(&e);
	tool = fe_daemon_xp(e.d);
	bu_domain(&e, GUEST);
	CHECK_OK(sim_domain_set_hvm(e.sim, GUEST, true));
	rng_fill(rng, img, sizeof(img));
	base = test_write_file("hvm-base.img", img, sizeof(img));
	snprintf(spec, sizeof(spec), "cow:base=%s,store=ram", base);
	dk = tap(GUEST, XVDA, "hda", spec);
	CHECK_OK(ts_vbd3_add(tool, &dk));
	CHECK_OK(ts_wait_backend(tool, ts_vbd3_dir(GUEST, XVDA), 2, 5000));
	v = be_node(tool, GUEST, XVDA, VBD_XS_NODE_NBD);
	snprintf(sock, sizeof(sock), "%s/%u.%u.sock", bu_nbd_dir(), GUEST,
		 XVDA);
	CHECK(v && !strcmp(v, sock), VBD_XS_NODE_NBD " is %s, want %s", v,
	      sock);
	free(v);
	CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode) &&
		      (st.st_mode & 0777) == 0600,
	      "%s: not a 0600 socket", sock);

	/* the firmware, through QEMU: reads the base, writes the overlay */
	c = nbdc_open(sock, sizeof(img), FLAGS_RW);
	CHECK(nbdc_read(c, 4096, 4096, buf) == 0, "NBD read");
	CHECK(!memcmp(buf, img + 4096, 4096), "NBD read is not the base");
	rng_fill(rng, want, sizeof(want));
	CHECK(nbdc_write(c, 0, 8192, sizeof(want), want) == 0, "NBD write");
	memcpy(img + 8192, want, sizeof(want)); /* the guest's view now */
	CHECK(nbd_clients_soon(&e, GUEST, XVDA, 1) == 1, "client not counted");

	/* the PV drivers take over: the same view */
	bu_disk_connect(&e, &d, GUEST, XVDA, "hvm pv", &o, img, sizeof(img));
	bu_verify_all(&d);
	bu_write(&d, 0, 64, 8, FE_PACKED, rng);
	CHECK(nbdc_read(c, 64 * SECTOR, 4096, buf) == 0, "NBD read");
	CHECK(!memcmp(buf, d.model + 64 * SECTOR, 4096),
	      "QEMU does not see the PV driver's write");

	/* libxl removes the vbd3 device first: QEMU still has the disk */
	bu_disk_close(&d);
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDA, TS_REMOVE_SAFE));
	CHECK(nr_disks_soon(&e, 1) == 1, "the disk went with QEMU attached");
	CHECK(nbdc_read(c, 8192, sizeof(buf), buf) == 0, "NBD read");
	CHECK(!memcmp(buf, want, sizeof(want)), "the overlay was lost");

	/* QEMU exits: the disk closes, its socket goes */
	nbdc_disc(c);
	CHECK(nr_disks_soon(&e, 0) == 0, "the disk outlived its last client");
	CHECK(stat(sock, &st) == -1 && errno == ENOENT, "%s left behind",
	      sock);
	bu_disk_free(&d);

	/* a PV guest's disk has no export */
	bu_domain(&e, THIRD);
	pv = tap(THIRD, XVDA, "xvda", "blank:size=1M");
	CHECK_OK(ts_vbd3_add(tool, &pv));
	CHECK_OK(ts_wait_backend(tool, ts_vbd3_dir(THIRD, XVDA), 2, 5000));
	v = be_node(tool, THIRD, XVDA, VBD_XS_NODE_NBD);
	CHECK(!v, "a PV guest's disk exported at %s", v);
	CHECK_OK(ts_vbd3_remove(tool, THIRD, XVDA, TS_REMOVE_FORCE));
	CHECK(nr_disks_soon(&e, 0) == 0, "PV disk not closed");
	free(base);
	bu_env_fini(&e);
	printf("  HVM: NBD export for the dom0 QEMU, one view with blkif, "
	       "lives until both are gone: ok\n");
}

/* Wait until domid's pause count is want. */
static int paused_soon(struct bu_env *e, uint16_t domid, int want)
{
	for (int i = 0; i < 5000 && sim_domain_paused(e->sim, domid) != want;
	     i++)
		usleep(1000);
	return sim_domain_paused(e->sim, domid);
}

/*
 * on-full=pause: a write that finds the overlay full is held, not failed,
 * and its guest is paused; a raised limit (set-limit) or a discard lets it
 * through, and the guest resumes; no held write is lost.
 */
static void test_on_full_pause(struct rng *rng)
{
	struct fe_opts o = opts_default();
	struct ts_disk dk = tap(GUEST, XVDA, "xvda",
				"blank:size=1M,limit=64K,on-full=pause");
	struct xenbus_dev_info info;
	struct fe_seg seg[2];
	struct fe_req req = { 0 };
	struct bu_disk d;
	struct bu_env e;
	struct xp *tool;
	int i;

	bu_env_init(&e);
	tool = fe_daemon_xp(e.d);
	bu_domain(&e, GUEST);
	CHECK_OK(ts_vbd3_add(tool, &dk));
	bu_disk_connect(&e, &d, GUEST, XVDA, "pause", &o, NULL, 0);
	for (i = 0; i < 16; i++) /* the 16 blocks the limit allows */
		bu_write(&d, 0, (uint64_t)i * 8, 8, FE_PACKED, rng);
	CHECK(sim_domain_paused(e.sim, GUEST) == 0, "paused too early");

	/* block 16 does not fit: held, and the guest paused */
	for (i = 0; i < 2; i++) {
		seg[i].page = sim_page_alloc(1);
		rng_fill(rng, seg[i].page, 4096);
		seg[i].first_sect = 0;
		seg[i].last_sect = 7;
	}
	req = (struct fe_req){ .op = XE_BLKIF_OP_WRITE, .sector = 16 * 8,
			       .nr_segs = 1, .segs = seg };
	CHECK_OK(fe_submit(d.fe, 0, &req));
	fe_kick(d.fe, 0);
	CHECK(paused_soon(&e, GUEST, 1) == 1, "the guest was not paused");
	CHECK(fe_wait(d.fe, 0, 300) == -ETIMEDOUT && !req.done,
	      "a write with no room was answered (status %d)", req.status);
	CHECK_OK(fe_daemon_dev(e.d, GUEST, XVDA, &info));
	CHECK(info.ring.io_err == 0, "a held write counted as an error");
	/* held for 300 ms, tried again every RING_FULL_RETRY_MS: none of
	 * the tries is an error, nor a write of its own (status'
	 * io_errors, enospc_errors and write_reqs) */
	CHECK(info.cow.enospc == 0 && info.cow.errors == 0 &&
		      info.cow.wr_reqs == 16,
	      "the view counted a held write's tries: %llu enospc, %llu "
	      "errors, %llu writes (16 answered)",
	      (unsigned long long)info.cow.enospc,
	      (unsigned long long)info.cow.errors,
	      (unsigned long long)info.cow.wr_reqs);

	/* the operator raises the limit: it goes through, the guest runs */
	CHECK_ERR(fe_daemon_set_limit(e.d, GUEST, "xvda", 2u << 20), -ERANGE);
	CHECK_OK(fe_daemon_set_limit(e.d, GUEST, "xvda", 128u << 10));
	CHECK(fe_wait(d.fe, 0, 5000) > 0, "no answer to the held write");
	CHECK(req.done && req.status == XE_BLKIF_RSP_OKAY,
	      "the held write: status %d", req.status);
	memcpy(d.model + 16 * 4096, seg[0].page, 4096);
	CHECK(paused_soon(&e, GUEST, 0) == 0, "the guest stayed paused");
	bu_verify_all(&d);
	CHECK_OK(fe_daemon_dev(e.d, GUEST, XVDA, &info));
	CHECK(info.cow.enospc == 0 && info.cow.wr_reqs == 17,
	      "after the held write: %llu enospc, %llu writes (17 answered)",
	      (unsigned long long)info.cow.enospc,
	      (unsigned long long)info.cow.wr_reqs);

	/* full again at 32 blocks; this time a discard makes room */
	for (i = 17; i < 32; i++)
		bu_write(&d, 0, (uint64_t)i * 8, 8, FE_PACKED, rng);
	req = (struct fe_req){ .op = XE_BLKIF_OP_WRITE, .sector = 40 * 8,
			       .nr_segs = 1, .segs = &seg[1] };
	CHECK_OK(fe_submit(d.fe, 0, &req));
	fe_kick(d.fe, 0);
	CHECK(paused_soon(&e, GUEST, 1) == 1, "not paused the second time");
	bu_discard(&d, 1, 0, 8); /* the other queue frees block 0 */
	CHECK(fe_wait(d.fe, 0, 5000) > 0, "no answer to the held write");
	CHECK(req.done && req.status == XE_BLKIF_RSP_OKAY,
	      "the held write after a discard: status %d", req.status);
	memcpy(d.model + 40 * 4096, seg[1].page, 4096);
	CHECK(paused_soon(&e, GUEST, 0) == 0, "paused after the discard");
	bu_verify_all(&d);
	CHECK_OK(fe_daemon_dev(e.d, GUEST, XVDA, &info));
	CHECK(info.cow.limit_blks == 32 && info.ring.io_err == 0,
	      "limit %llu blocks, %llu I/O errors",
	      (unsigned long long)info.cow.limit_blks,
	      (unsigned long long)info.ring.io_err);

	/* full and paused, then the toolstack takes the disk away (the
	 * paused guest cannot close it): the held write is answered with an
	 * error, and the guest is not left paused */
	req = (struct fe_req){ .op = XE_BLKIF_OP_WRITE, .sector = 50 * 8,
			       .nr_segs = 1, .segs = &seg[0] };
	CHECK_OK(fe_submit(d.fe, 0, &req));
	fe_kick(d.fe, 0);
	CHECK(paused_soon(&e, GUEST, 1) == 1, "not paused the third time");
	CHECK_OK(ts_vbd3_remove(tool, GUEST, XVDA, TS_REMOVE_SAFE));
	CHECK(paused_soon(&e, GUEST, 0) == 0,
	      "a guest whose full disk went stays paused");
	CHECK(fe_wait(d.fe, 0, 5000) > 0 && req.done &&
		      req.status == XE_BLKIF_RSP_ERROR,
	      "the write held when the disk went: done %d status %d",
	      req.done, req.status);
	fe_free(d.fe);
	d.fe = NULL;
	bu_disk_free(&d);
	sim_page_free(seg[0].page);
	sim_page_free(seg[1].page);
	bu_env_fini(&e);
	printf("  on-full=pause: held, guest paused, set-limit or a discard "
	       "lets the write through and the guest resumes: ok\n");
}

/*
 * pygrub: before a PV guest's disks exist, libxl attaches its boot disk
 * to dom0 itself (backend/vbd3/0/<devid>, frontend dom0) for the boot
 * loader to read, waits for Connected, and detaches it. That attachment
 * is a disk of its own, owned by dom0: it shows the base (the guest has
 * written nothing yet) and is wiped when libxl detaches it.
 */
static void test_pygrub_local_attach(struct rng *rng)
{
	struct fe_opts o = opts_default();
	static unsigned char img[256 * 1024];
	struct ts_disk dk;
	struct bu_disk d;
	struct bu_env e;
	struct xp *tool;
	char spec[512], *base;

	bu_env_init(&e);
	tool = fe_daemon_xp(e.d);
	rng_fill(rng, img, sizeof(img));
	base = test_write_file("pygrub-base.img", img, sizeof(img));
	snprintf(spec, sizeof(spec), "cow:base=%s,store=ram", base);
	dk = tap(0, XVDA, "xvda", spec);
	CHECK_OK(ts_vbd3_add(tool, &dk));
	bu_disk_connect(&e, &d, 0, XVDA, "pygrub", &o, img, sizeof(img));
	bu_verify_all(&d); /* the base, as the guest will see it */
	bu_disk_close(&d);
	CHECK_OK(ts_vbd3_remove(tool, 0, XVDA, TS_REMOVE_SAFE));
	CHECK(nr_disks_soon(&e, 0) == 0, "pygrub's disk outlived its detach");
	bu_disk_free(&d);
	free(base);
	bu_env_fini(&e);
	printf("  pygrub: dom0's own attachment of the boot disk reads the "
	       "base and is wiped at detach: ok\n");
}

int main(void)
{
	struct rng rng = { test_seed("test-registry") };

	test_stubdom_shares(&rng);
	test_sharing_refused(&rng);
	test_reconnect_styles(&rng);
	test_owner_dies_first(&rng);
	test_slow_open(&rng);
	test_vbd3_claims(&rng);
	test_save_restore_guard(&rng);
	test_toolstack_races(&rng);
	test_usage_published(&rng);
	test_hvm_nbd_export(&rng);
	test_on_full_pause(&rng);
	test_pygrub_local_attach(&rng);
	printf("test-registry: OK\n");
	return 0;
}
