/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests of the simulated Xen itself: if the double lies, every backend test
 * built on it lies too. One function per feature; each builds its own sim.
 * Also links the real platform to prove it builds, and calls xp_xen_new,
 * which here (no hypervisor) must fail with a negative errno, not crash.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/check.h"
#include "tests/sim/sim.h"
#include "tests/sim/sim-priv.h"
#include "platform/platform.h"

#define GUEST 1

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void *page_new(unsigned int n, int fill)
{
	void *p = sim_page_alloc(n);

	CHECK(p, "out of memory");
	memset(p, fill, (size_t)n * XP_PAGE_BYTES);
	return p;
}

static struct sim *sim_with_guest(struct xp **be_r)
{
	struct sim *sim;

	CHECK_OK(sim_new(&sim));
	CHECK_OK(sim_domain_create(sim, GUEST));
	CHECK_OK(sim_xp_new(sim, 0, be_r));
	return sim;
}

/* Take one watch event and compare it. */
static void expect_event(struct xp *xp, const char *path, const char *token)
{
	char *p, *t;

	CHECK_OK(xp_xs_read_watch(xp, &p, &t));
	CHECK(!strcmp(p, path) && !strcmp(t, token),
	      "got (%s, %s), expected (%s, %s)", p, t, path, token);
	free(p);
	free(t);
}

static void expect_no_event(struct xp *xp)
{
	char *p = NULL, *t = NULL;
	int rc = xp_xs_read_watch(xp, &p, &t);

	CHECK(rc == -EAGAIN, "unexpected event (%s, %s) rc %d", p ? p : "",
	      t ? t : "", rc);
	CHECK(!readable(xp_xs_fd(xp)), "xs fd readable with no event");
}

static void drain_events(struct xp *xp)
{
	char *p, *t;

	while (xp_xs_read_watch(xp, &p, &t) == 0) {
		free(p);
		free(t);
	}
}

static void expect_value(struct xp *xp, uint32_t txn, const char *path,
			 const char *want)
{
	size_t len;
	char *v;

	CHECK_OK(xp_xs_read(xp, txn, path, &v, &len));
	CHECK(!strcmp(v, want) && len == strlen(want), "%s = '%s', want '%s'",
	      path, v, want);
	free(v);
}

static void test_grant_copy(void)
{
	struct xp *be;
	struct sim *sim = sim_with_guest(&be);
	char *rw = page_new(1, 'a'), *ro = page_new(1, 'r');
	char buf[6][64];
	uint32_t rw_ref, ro_ref, other_ref;
	struct xp_gnt *gnt;
	struct xp_gnt_copy segs[6];

	CHECK_OK(sim_domain_create(sim, 2));
	CHECK_OK(sim_grant(sim, GUEST, rw, false, &rw_ref));
	CHECK_OK(sim_grant(sim, GUEST, ro, true, &ro_ref));
	CHECK_OK(sim_grant_to(sim, GUEST, 2, rw, false, &other_ref));
	CHECK(rw_ref >= 8 && ro_ref != rw_ref, "refs %u %u", rw_ref, ro_ref);
	CHECK_ERR(sim_grant(sim, GUEST, rw + 1, false, &other_ref), -EINVAL);
	CHECK_ERR(sim_grant(sim, 9, rw, false, &other_ref), -ENOENT);
	CHECK_OK(xp_gnt_open(be, &gnt));

	memset(buf, 'x', sizeof(buf));
	memset(segs, 0, sizeof(segs));
	/* 0: read 64 bytes at 4032 (the last bytes of the page): fine */
	segs[0] = (struct xp_gnt_copy){ .domid = GUEST,
					.ref = rw_ref,
					.offset = 4032,
					.len = 64,
					.local = buf[0],
					.status = 99 };
	/* 1: a ref that was never granted */
	segs[1] = (struct xp_gnt_copy){ .domid = GUEST,
					.ref = 999,
					.len = 8,
					.local = buf[1],
					.status = 99 };
	/* 2: the right ref, but of a domain that does not exist */
	segs[2] = (struct xp_gnt_copy){ .domid = 7,
					.ref = rw_ref,
					.len = 8,
					.local = buf[2],
					.status = 99 };
	/* 3: writing into a read-only grant */
	segs[3] = (struct xp_gnt_copy){ .to_foreign = true,
					.domid = GUEST,
					.ref = ro_ref,
					.len = 8,
					.local = buf[3],
					.status = 99 };
	/* 4: crossing the end of the page */
	segs[4] = (struct xp_gnt_copy){ .domid = GUEST,
					.ref = rw_ref,
					.offset = 4090,
					.len = 7,
					.local = buf[4],
					.status = 99 };
	/* 5: write into the writable grant: fine */
	memset(buf[5], 'w', sizeof(buf[5]));
	segs[5] = (struct xp_gnt_copy){ .to_foreign = true,
					.domid = GUEST,
					.ref = rw_ref,
					.offset = 100,
					.len = 64,
					.local = buf[5],
					.status = 99 };
	CHECK_OK(xp_gnt_copy(gnt, 6, segs));
	CHECK(segs[0].status == SIM_GNTST_OKAY, "st %d", segs[0].status);
	CHECK(!memcmp(buf[0], rw + 4032, 64), "copied data differs");
	CHECK(segs[1].status == SIM_GNTST_BAD_GNTREF, "st %d", segs[1].status);
	CHECK(segs[2].status == SIM_GNTST_BAD_DOMAIN, "st %d", segs[2].status);
	CHECK(segs[3].status == SIM_GNTST_GENERAL_ERROR, "st %d",
	      segs[3].status);
	CHECK(ro[0] == 'r', "read-only grant was written");
	CHECK(segs[4].status == SIM_GNTST_BAD_COPY_ARG, "st %d",
	      segs[4].status);
	CHECK(buf[1][0] == 'x' && buf[4][0] == 'x', "failed seg wrote");
	CHECK(segs[5].status == SIM_GNTST_OKAY, "st %d", segs[5].status);
	CHECK(rw[99] == 'a' && rw[100] == 'w' && rw[163] == 'w' &&
		      rw[164] == 'a',
	      "write landed wrong");

	/* Reading a read-only grant is fine; a grant to dom2 is not ours. */
	segs[0] = (struct xp_gnt_copy){
		.domid = GUEST, .ref = ro_ref, .len = 8, .local = buf[0]
	};
	segs[1] = (struct xp_gnt_copy){
		.domid = GUEST, .ref = other_ref, .len = 8, .local = buf[1]
	};
	CHECK_OK(xp_gnt_copy(gnt, 2, segs));
	CHECK(segs[0].status == 0 && buf[0][0] == 'r', "ro read failed");
	CHECK(segs[1].status == SIM_GNTST_BAD_GNTREF, "st %d", segs[1].status);

	/* Fault injection, then its end; then an ended grant. */
	CHECK_OK(sim_grant_inject(sim, GUEST, rw_ref, SIM_GNTST_BAD_GNTREF));
	segs[0] = (struct xp_gnt_copy){
		.domid = GUEST, .ref = rw_ref, .len = 8, .local = buf[0]
	};
	CHECK_OK(xp_gnt_copy(gnt, 1, segs));
	CHECK(segs[0].status == SIM_GNTST_BAD_GNTREF, "injected fault lost");
	CHECK_OK(sim_grant_inject(sim, GUEST, rw_ref, 0));
	CHECK_OK(xp_gnt_copy(gnt, 1, segs));
	CHECK(segs[0].status == 0, "fault not cleared");
	CHECK_OK(sim_ungrant(sim, GUEST, rw_ref));
	CHECK_ERR(sim_ungrant(sim, GUEST, rw_ref), -ENOENT);
	CHECK_OK(xp_gnt_copy(gnt, 1, segs));
	CHECK(segs[0].status == SIM_GNTST_BAD_GNTREF, "ended grant copied");
	/* An empty batch is fine; a bad local buffer is our bug. */
	CHECK_OK(xp_gnt_copy(gnt, 0, segs));
	segs[0].local = NULL;
	CHECK_ERR(xp_gnt_copy(gnt, 1, segs), -EFAULT);

	xp_gnt_close(gnt);
	xp_destroy(be);
	sim_free(sim);
	sim_page_free(rw);
	sim_page_free(ro);
}

static void test_grant_map(void)
{
	struct xp *be;
	struct sim *sim = sim_with_guest(&be);
	char *ring = page_new(2, 0), *ro = page_new(1, 'r');
	uint32_t refs[2], ro_ref, swapped[2];
	struct xp_gnt *gnt, *gnt2;
	struct xp_gnt_copy seg;
	void *addr, *addr2;
	char c;

	CHECK_OK(sim_grant(sim, GUEST, ring, false, &refs[0]));
	CHECK_OK(sim_grant(sim, GUEST, ring + XP_PAGE_BYTES, false, &refs[1]));
	CHECK_OK(sim_grant(sim, GUEST, ro, true, &ro_ref));
	CHECK_OK(xp_gnt_open(be, &gnt));

	/* One page: mapped memory is the guest's memory. */
	CHECK_OK(xp_gnt_map(gnt, GUEST, 1, refs, true, &addr));
	((char *)addr)[5] = 'm';
	CHECK(ring[5] == 'm', "map is not shared");
	CHECK(sim_grant_mapcount(sim, GUEST, refs[0]) == 1, "mapcount");
	CHECK_ERR(sim_ungrant(sim, GUEST, refs[0]), -EBUSY);
	CHECK_OK(xp_gnt_unmap(gnt, addr, 1));
	CHECK_ERR(xp_gnt_unmap(gnt, addr, 1), -EINVAL);
	CHECK(sim_grant_mapcount(sim, GUEST, refs[0]) == 0, "mapcount");

	/* Two pages, in order; not in order. */
	CHECK_OK(xp_gnt_map(gnt, GUEST, 2, refs, true, &addr));
	CHECK(addr == ring, "multi-page map");
	CHECK(sim_grant_mapcount(sim, GUEST, refs[1]) == 1, "mapcount");
	CHECK_OK(xp_gnt_unmap(gnt, addr, 2));
	swapped[0] = refs[1];
	swapped[1] = refs[0];
	CHECK_ERR(xp_gnt_map(gnt, GUEST, 2, swapped, true, &addr),
		  -EINVAL);
	CHECK(sim_grant_mapcount(sim, GUEST, refs[0]) == 0, "failed map held");

	/* Read-only grants map only read-only. */
	CHECK_ERR(xp_gnt_map(gnt, GUEST, 1, &ro_ref, true, &addr),
		  -EACCES);
	CHECK_OK(xp_gnt_map(gnt, GUEST, 1, &ro_ref, false, &addr));
	c = ((char *)addr)[0];
	CHECK(c == 'r', "ro map reads %c", c);
	CHECK_OK(xp_gnt_unmap(gnt, addr, 1));
	CHECK_ERR(xp_gnt_map(gnt, GUEST, 0, refs, false, &addr), -EINVAL);
	CHECK_ERR(xp_gnt_map(gnt, 9, 1, refs, false, &addr), -EINVAL);

	/* Closing a handle drops what it still maps. */
	CHECK_OK(xp_gnt_open(be, &gnt2));
	CHECK_OK(xp_gnt_map(gnt2, GUEST, 1, refs, true, &addr2));
	CHECK_OK(xp_gnt_map(gnt2, GUEST, 1, refs, true, &addr2));
	CHECK(sim_grant_mapcount(sim, GUEST, refs[0]) == 2, "mapcount");
	xp_gnt_close(gnt2);
	CHECK(sim_grant_mapcount(sim, GUEST, refs[0]) == 0, "close leaked");

	/* A domain destroyed while mapped is a zombie until unmapped. */
	CHECK_OK(xp_gnt_map(gnt, GUEST, 1, refs, true, &addr));
	CHECK_OK(sim_domain_destroy(sim, GUEST));
	CHECK(sim_domain_maps(sim, GUEST) == 1, "zombie maps %d",
	      sim_domain_maps(sim, GUEST));
	CHECK_ERR(sim_domain_create(sim, GUEST), -EEXIST);
	seg = (struct xp_gnt_copy){
		.domid = GUEST, .ref = refs[1], .len = 1, .local = &c
	};
	CHECK_OK(xp_gnt_copy(gnt, 1, &seg));
	CHECK(seg.status == SIM_GNTST_BAD_DOMAIN, "dead domain copied");
	CHECK_OK(xp_gnt_unmap(gnt, addr, 1));
	CHECK(sim_domain_maps(sim, GUEST) == 0, "maps left");
	CHECK_ERR(sim_domain_maps(sim, 42), -ENOENT);
	CHECK_OK(sim_domain_create(sim, GUEST));
	CHECK_ERR(sim_grant_mapcount(sim, GUEST, refs[0]), -ENOENT);

	xp_gnt_close(gnt);
	xp_destroy(be);
	sim_free(sim);
	sim_page_free(ring);
	sim_page_free(ro);
}

static void test_evtchn(void)
{
	struct xp *be;
	struct sim *sim = sim_with_guest(&be);
	struct sim_evtchn_stats st;
	struct sim_usage u;
	uint32_t gport, other, lport, got;
	struct xp_evt *evt;
	uint64_t kicks;
	bool bound;
	int i;

	CHECK_OK(sim_domain_create(sim, 2));
	CHECK_OK(sim_evtchn_alloc_unbound(sim, GUEST, 0, &gport));
	CHECK_OK(sim_evtchn_alloc_unbound(sim, GUEST, 2, &other));
	CHECK_OK(xp_evt_open(be, &evt));

	/* Only a port offered to us, only once, only of a live domain. */
	CHECK_ERR(xp_evt_bind(evt, GUEST, other, &lport), -EINVAL);
	CHECK_ERR(xp_evt_bind(evt, GUEST, 77, &lport), -EINVAL);
	CHECK_ERR(xp_evt_bind(evt, 9, gport, &lport), -ESRCH);
	CHECK_OK(sim_evtchn_is_bound(sim, GUEST, gport, &bound));
	CHECK(!bound, "bound too early");
	sim_usage(sim, &u);
	CHECK(u.ports == 2 && u.dom0_ports == 0 && u.handles == 1,
	      "usage before bind: %u ports, %u of dom0, %u handles", u.ports,
	      u.dom0_ports, u.handles);
	CHECK_OK(xp_evt_bind(evt, GUEST, gport, &lport));
	CHECK_ERR(xp_evt_bind(evt, GUEST, gport, &got), -EINVAL);
	sim_usage(sim, &u);
	CHECK(u.ports == 3 && u.dom0_ports == 1,
	      "usage bound: %u ports, %u of dom0", u.ports, u.dom0_ports);
	CHECK_OK(sim_evtchn_is_bound(sim, GUEST, gport, &bound));
	CHECK(bound, "not bound");

	/* Five kicks before the backend looks: one wake-up. */
	CHECK(!readable(xp_evt_fd(evt)), "fd readable too early");
	for (i = 0; i < 5; i++)
		CHECK_OK(sim_evtchn_notify(sim, GUEST, gport));
	CHECK(readable(xp_evt_fd(evt)), "fd not readable");
	CHECK_OK(xp_evt_pending(evt, &got));
	CHECK(got == lport, "pending port %u, want %u", got, lport);
	CHECK_ERR(xp_evt_pending(evt, &got), -EAGAIN);
	CHECK(!readable(xp_evt_fd(evt)), "fd readable when drained");

	/* Kicks while masked wait for the unmask, then come once. */
	CHECK_OK(sim_evtchn_notify(sim, GUEST, gport));
	CHECK_OK(sim_evtchn_notify(sim, GUEST, gport));
	CHECK_ERR(xp_evt_pending(evt, &got), -EAGAIN);
	CHECK_OK(xp_evt_unmask(evt, lport));
	CHECK(readable(xp_evt_fd(evt)), "masked kick lost");
	CHECK_OK(xp_evt_pending(evt, &got));
	CHECK_ERR(xp_evt_pending(evt, &got), -EAGAIN);
	CHECK_OK(xp_evt_unmask(evt, lport));
	CHECK_ERR(xp_evt_pending(evt, &got), -EAGAIN);
	CHECK_OK(sim_evtchn_notify(sim, GUEST, gport));
	CHECK_OK(xp_evt_pending(evt, &got));
	CHECK_OK(xp_evt_unmask(evt, lport));

	/* Backend to guest, counted. */
	CHECK_OK(sim_evtchn_consume(sim, GUEST, gport, &kicks));
	CHECK(kicks == 0, "kicks %llu", (unsigned long long)kicks);
	CHECK(!readable(sim_evtchn_fd(sim, GUEST, gport)), "guest fd");
	CHECK_OK(xp_evt_notify(evt, lport));
	CHECK_OK(xp_evt_notify(evt, lport));
	CHECK(readable(sim_evtchn_fd(sim, GUEST, gport)), "guest fd");
	CHECK_OK(sim_evtchn_consume(sim, GUEST, gport, &kicks));
	CHECK(kicks == 2, "kicks %llu", (unsigned long long)kicks);
	CHECK_OK(sim_evtchn_stats(sim, GUEST, gport, &st));
	CHECK(st.to_backend == 8 && st.to_guest == 2, "stats %llu %llu",
	      (unsigned long long)st.to_backend,
	      (unsigned long long)st.to_guest);
	CHECK_ERR(xp_evt_notify(evt, lport + 100), -EINVAL);
	CHECK_ERR(xp_evt_unmask(evt, lport + 100), -EINVAL);

	/* Backend unbinds: the guest port is unbound again, kicks dropped. */
	CHECK_OK(xp_evt_unbind(evt, lport));
	CHECK_ERR(xp_evt_unbind(evt, lport), -EINVAL);
	CHECK_OK(sim_evtchn_is_bound(sim, GUEST, gport, &bound));
	CHECK(!bound, "still bound");
	CHECK_OK(sim_evtchn_notify(sim, GUEST, gport));
	CHECK_ERR(xp_evt_pending(evt, &got), -EAGAIN);
	sim_usage(sim, &u);
	CHECK(u.dom0_ports == 0, "an unbound port still counted");

	/* Rebind; a kick queued then unbound leaves nothing behind. */
	CHECK_OK(xp_evt_bind(evt, GUEST, gport, &lport));
	CHECK_OK(sim_evtchn_notify(sim, GUEST, gport));
	CHECK_OK(xp_evt_unbind(evt, lport));
	CHECK_ERR(xp_evt_pending(evt, &got), -EAGAIN);
	CHECK(!readable(xp_evt_fd(evt)), "stale fd");

	/* The guest closes its end: backend kicks are dropped, not errors. */
	CHECK_OK(xp_evt_bind(evt, GUEST, gport, &lport));
	CHECK_OK(sim_evtchn_close(sim, GUEST, gport));
	CHECK_OK(xp_evt_notify(evt, lport));
	CHECK_ERR(sim_evtchn_notify(sim, GUEST, gport), -EINVAL);
	CHECK_OK(xp_evt_unbind(evt, lport));

	/* Domain destroy closes the guest's ports. */
	CHECK_OK(sim_evtchn_alloc_unbound(sim, GUEST, 0, &gport));
	CHECK_OK(xp_evt_bind(evt, GUEST, gport, &lport));
	CHECK_OK(sim_domain_destroy(sim, GUEST));
	CHECK_OK(xp_evt_notify(evt, lport));
	CHECK_ERR(sim_evtchn_stats(sim, GUEST, gport, &st), -EINVAL);
	CHECK_ERR(sim_evtchn_alloc_unbound(sim, GUEST, 0, &gport), -ENOENT);

	xp_evt_close(evt); /* unbinds what is left */
	sim_usage(sim, &u);
	CHECK(u.dom0_ports == 0 && u.ports == 0 && u.handles == 0 &&
		      u.domains == 2 && u.maps == 0,
	      "usage at the end: %u ports (%u of dom0), %u handles, %u "
	      "domains, %u maps",
	      u.ports, u.dom0_ports, u.handles, u.domains, u.maps);
	xp_destroy(be);
	sim_free(sim);
}

static void test_xs_perms(void)
{
	static const char *bdir = "/local/domain/0/backend/vbd/1/51712";
	struct xp_xs_perm bperm[2] = { { 0, XP_PERM_NONE },
				       { GUEST, XP_PERM_READ } };
	struct xp_xs_perm mine[2] = { { GUEST, XP_PERM_NONE },
				      { 0, XP_PERM_READ } };
	struct xp_xs_perm steal = { 0, XP_PERM_BOTH };
	struct xp_xs_perm taken = { 0, XP_PERM_READ };
	struct xp *be, *fe;
	struct sim *sim = sim_with_guest(&be);
	static char big[4097];
	unsigned int n;
	uint16_t domid;
	char **names;
	char *v;

	CHECK_OK(sim_xp_new(sim, GUEST, &fe));
	CHECK_ERR(sim_xp_new(sim, 5, &fe), -ENOENT);
	CHECK_OK(xp_self_domid(fe, &domid));
	CHECK(domid == GUEST, "domid %u", domid);
	CHECK_OK(xp_self_domid(be, &domid));
	CHECK(domid == 0, "domid %u", domid);

	/* The toolstack's layout: the guest owns its home. */
	expect_value(fe, XP_XS_NO_TXN, "domid", "1");
	expect_value(fe, XP_XS_NO_TXN, "/local/domain/1/domid", "1");
	CHECK_ERR(xp_xs_read(fe, 0, "/local/domain/0/domid", &v, NULL),
		  -EACCES);
	CHECK_ERR(xp_xs_read(fe, 0, "/local/domain/0/nope", &v, NULL),
		  -EACCES);
	CHECK_ERR(xp_xs_read(fe, 0, "nope", &v, NULL), -ENOENT);

	/* The backend dir: readable by the guest, writable only by dom0. */
	CHECK_OK(xp_xs_mkdir(be, 0, bdir));
	CHECK_OK(xp_xs_set_perms(be, 0, bdir, bperm, 2));
	CHECK_OK(xp_xs_write(
		be, 0, "/local/domain/0/backend/vbd/1/51712/state", "2", 1));
	expect_value(fe, 0, "/local/domain/0/backend/vbd/1/51712/state", "2");
	CHECK_ERR(xp_xs_write(fe, 0,
				    "/local/domain/0/backend/vbd/1/51712/state",
				    "4", 1),
		  -EACCES);
	CHECK_ERR(xp_xs_write(fe, 0,
				    "/local/domain/0/backend/vbd/1/51712/x",
				    "4", 1),
		  -EACCES);
	CHECK_ERR(xp_xs_mkdir(fe, 0, "/local/domain/0/backend/evil"),
		  -EACCES);
	CHECK_ERR(xp_xs_rm(fe, 0, bdir), -EACCES);
	CHECK_ERR(xp_xs_set_perms(fe, 0, bdir, mine, 2), -EACCES);
	CHECK_ERR(xp_xs_write(fe, 0, "/evil", "1", 1), -EACCES);
	expect_value(be, 0, "/local/domain/0/backend/vbd/1/51712/state", "2");

	/* The guest's own nodes (relative paths), and giving them away. */
	CHECK_OK(xp_xs_write(fe, 0, "device/vbd/51712/state", "1", 1));
	expect_value(be, 0, "/local/domain/1/device/vbd/51712/state", "1");
	CHECK_OK(xp_xs_set_perms(fe, 0, "device/vbd/51712/state", mine,
				       2));
	CHECK_ERR(xp_xs_set_perms(fe, 0, "device/vbd/51712/state", &steal,
					1),
		  -EPERM);
	CHECK_ERR(xp_xs_set_perms(fe, 0, "device/nope", mine, 2),
		  -ENOENT);
	CHECK_OK(xp_xs_set_perms(be, 0, "/local/domain/1/device", &taken,
				       1));
	CHECK_ERR(xp_xs_write(fe, 0, "device/vbd2", "", 0), -EACCES);

	/* Values: binary-safe lengths, the size limit, bad paths. */
	CHECK_OK(xp_xs_write(be, 0, "/a/b", "x\0y", 3));
	{
		size_t len;

		CHECK_OK(xp_xs_read(be, 0, "/a/b", &v, &len));
		CHECK(len == 3 && v[2] == 'y' && v[3] == '\0', "len %zu", len);
		free(v);
	}
	expect_value(be, 0, "/a", "");
	CHECK_ERR(xp_xs_write(be, 0, "/a//b", "1", 1), -EINVAL);
	CHECK_ERR(xp_xs_write(be, 0, "/a/b/", "1", 1), -EINVAL);
	CHECK_ERR(xp_xs_write(be, 0, "/a/b c", "1", 1), -EINVAL);
	CHECK_ERR(xp_xs_write(be, 0, "", "1", 1), -EINVAL);
	CHECK_ERR(xp_xs_rm(be, 0, "/"), -EINVAL);
	CHECK_ERR(xp_xs_write(be, 0, "/big", big, sizeof(big)), -E2BIG);
	CHECK_OK(xp_xs_write(be, 0, "/big", big, sizeof(big) - 1));

	/* The guest's node quota (it owns 5 nodes now); dom0 has none. */
	sim_xs_set_node_quota(sim, 8);
	CHECK_OK(xp_xs_write(fe, 0, "q/a", "", 0));
	CHECK_ERR(xp_xs_write(fe, 0, "q/b/c", "", 0), -ENOSPC);
	CHECK_OK(xp_xs_write(fe, 0, "q/b", "", 0));
	CHECK_ERR(xp_xs_mkdir(fe, 0, "q/c"), -ENOSPC);
	CHECK_OK(xp_xs_write(fe, 0, "q/b", "again", 5));
	CHECK_OK(xp_xs_write(be, 0, "/local/domain/1/q/d", "", 0));
	CHECK_OK(xp_xs_rm(fe, 0, "q"));
	CHECK_OK(xp_xs_write(fe, 0, "q/b/c", "", 0));

	/* directory and recursive rm */
	CHECK_OK(xp_xs_write(be, 0, "/a/c/d", "1", 1));
	CHECK_OK(xp_xs_directory(be, 0, "/a", &names, &n));
	CHECK(n == 2, "n %u", n);
	CHECK((!strcmp(names[0], "b") && !strcmp(names[1], "c")) ||
		      (!strcmp(names[0], "c") && !strcmp(names[1], "b")),
	      "names %s %s", names[0], names[1]);
	xp_free_strv(names, n);
	CHECK_ERR(xp_xs_directory(fe, 0, "/a", &names, &n), -EACCES);
	CHECK_OK(xp_xs_rm(be, 0, "/a"));
	CHECK_OK(xp_xs_rm(be, 0, "/a"));
	CHECK_ERR(xp_xs_read(be, 0, "/a/c/d", &v, NULL), -ENOENT);
	CHECK_ERR(xp_xs_directory(be, 0, "/a", &names, &n), -ENOENT);

	xp_destroy(fe);
	xp_destroy(be);
	sim_free(sim);
}

static void test_watches(void)
{
	static const char *bdir = "/local/domain/0/backend/ephemeral";
	struct sim_watch_stats st;
	struct xp *be, *fe;
	struct sim *sim = sim_with_guest(&be);
	char path[64];
	int i;

	CHECK_OK(sim_xp_new(sim, GUEST, &fe));

	/* A new watch fires at once, with the path as given. */
	expect_no_event(be);
	CHECK_OK(xp_xs_watch(be, bdir, "be"));
	CHECK(readable(xp_xs_fd(be)), "xs fd not readable");
	expect_event(be, bdir, "be");
	expect_no_event(be);
	CHECK_ERR(xp_xs_watch(be, bdir, "be"), -EEXIST);

	/* Changes at and below it; not beside it. */
	CHECK_OK(xp_xs_write(
		be, 0, "/local/domain/0/backend/ephemeral/1/0/state", "1", 1));
	expect_event(be, "/local/domain/0/backend/ephemeral/1/0/state", "be");
	CHECK_OK(xp_xs_write(be, 0, "/local/domain/0/backend/ephemeralx",
				   "1", 1));
	expect_no_event(be);

	/* A watch below a removed node fires with its own path. */
	CHECK_OK(xp_xs_watch(be, "/local/domain/0/backend/ephemeral/1/0",
				   "dev"));
	expect_event(be, "/local/domain/0/backend/ephemeral/1/0", "dev");
	CHECK_OK(xp_xs_rm(be, 0, "/local/domain/0/backend/ephemeral/1"));
	{
		/* Two events, in either order. */
		char *p1, *t1, *p2, *t2;

		CHECK_OK(xp_xs_read_watch(be, &p1, &t1));
		CHECK_OK(xp_xs_read_watch(be, &p2, &t2));
		if (strcmp(t1, "be")) {
			char *x = p1;

			p1 = p2;
			p2 = x;
			x = t1;
			t1 = t2;
			t2 = x;
		}
		CHECK(!strcmp(t1, "be") &&
			      !strcmp(p1,
				      "/local/domain/0/backend/ephemeral/1"),
		      "%s %s", p1, t1);
		CHECK(!strcmp(t2, "dev") &&
			      !strcmp(p2,
				      "/local/domain/0/backend/ephemeral/1/0"),
		      "%s %s", p2, t2);
		free(p1);
		free(t1);
		free(p2);
		free(t2);
	}
	expect_no_event(be);

	/* Unwatch drops the watch and its queued events. */
	CHECK_OK(xp_xs_write(
		be, 0, "/local/domain/0/backend/ephemeral/1/0/x", "1", 1));
	CHECK_OK(xp_xs_unwatch(
		be, "/local/domain/0/backend/ephemeral/1/0", "dev"));
	CHECK_ERR(xp_xs_unwatch(
			  be, "/local/domain/0/backend/ephemeral/1/0", "dev"),
		  -ENOENT);
	expect_event(be, "/local/domain/0/backend/ephemeral/1/0/x", "be");
	expect_no_event(be);

	/* A guest may watch what it cannot read, but learns nothing. */
	CHECK_OK(xp_xs_watch(fe, bdir, "spy"));
	expect_event(fe, bdir, "spy");
	CHECK_OK(xp_xs_write(
		be, 0, "/local/domain/0/backend/ephemeral/1/0/x", "2", 1));
	expect_no_event(fe);
	expect_event(be, "/local/domain/0/backend/ephemeral/1/0/x", "be");

	/* Relative watches report relative paths. */
	CHECK_OK(xp_xs_watch(fe, "device", "dev"));
	expect_event(fe, "device", "dev");
	CHECK_OK(xp_xs_write(fe, 0, "device/vbd/0/state", "1", 1));
	expect_event(fe, "device/vbd/0/state", "dev");

	/* The special watches: a guest hears only the first firing. */
	CHECK_OK(xp_xs_watch(fe, "@releaseDomain", "rel"));
	expect_event(fe, "@releaseDomain", "rel");
	CHECK_OK(xp_xs_watch(be, "@introduceDomain", "intro"));
	CHECK_OK(xp_xs_watch(be, "@releaseDomain", "release"));
	expect_event(be, "@introduceDomain", "intro");
	expect_event(be, "@releaseDomain", "release");
	CHECK_OK(sim_domain_create(sim, 3));
	expect_event(be, "@introduceDomain", "intro");
	expect_no_event(be);
	CHECK_OK(sim_domain_destroy(sim, 3));
	expect_event(be, "@releaseDomain", "release");
	expect_no_event(be);
	expect_no_event(fe);

	/* A storm on one node is coalesced; on many, capped. */
	sim_xs_set_watch_limit(sim, 8);
	for (i = 0; i < 1000; i++)
		CHECK_OK(
			xp_xs_write(fe, 0, "device/vbd/0/state", "3", 1));
	sim_xp_watch_stats(fe, &st);
	CHECK(st.queued == 8 && st.coalesced == 992, "queued %u coalesced %llu",
	      st.queued, (unsigned long long)st.coalesced);
	for (i = 0; i < 500; i++) {
		snprintf(path, sizeof(path), "device/n%d", i);
		CHECK_OK(xp_xs_write(fe, 0, path, "1", 1));
	}
	sim_xp_watch_stats(fe, &st);
	CHECK(st.queued == 16 && st.max_queued == 16 && st.overflow == 492,
	      "queued %u max %u overflow %llu", st.queued, st.max_queued,
	      (unsigned long long)st.overflow);
	drain_events(fe);
	expect_no_event(fe);
	sim_xp_watch_stats(fe, &st);
	CHECK(st.queued == 0, "queued %u", st.queued);

	xp_destroy(fe);
	xp_destroy(be);
	sim_free(sim);
}

static void test_txn(void)
{
	struct xp *be, *fe;
	struct sim *sim = sim_with_guest(&be);
	uint32_t t, t2;
	char *v;

	CHECK_OK(sim_xp_new(sim, GUEST, &fe));
	CHECK_OK(xp_xs_watch(be, "/t", "t"));
	expect_event(be, "/t", "t");

	/* Invisible until commit; visible inside; watches fire at commit. */
	CHECK_OK(xp_xs_txn_start(be, &t));
	CHECK(t != XP_XS_NO_TXN, "txn 0");
	CHECK_OK(xp_xs_write(be, t, "/t/a", "1", 1));
	CHECK_OK(xp_xs_write(be, t, "/t/b", "2", 1));
	CHECK_OK(xp_xs_rm(be, t, "/t/b"));
	expect_value(be, t, "/t/a", "1");
	CHECK_ERR(xp_xs_read(be, 0, "/t/a", &v, NULL), -ENOENT);
	expect_no_event(be);
	CHECK_OK(xp_xs_txn_end(be, t, false));
	expect_value(be, 0, "/t/a", "1");
	CHECK_ERR(xp_xs_read(be, 0, "/t/b", &v, NULL), -ENOENT);
	expect_event(be, "/t/a", "t");
	expect_event(be, "/t/b", "t");
	expect_event(be, "/t/b", "t");
	expect_no_event(be);
	CHECK_ERR(xp_xs_txn_end(be, t, false), -ENOENT);
	CHECK_ERR(xp_xs_write(be, t, "/t/a", "1", 1), -ENOENT);

	/* Abort discards. */
	CHECK_OK(xp_xs_txn_start(be, &t));
	CHECK_OK(xp_xs_write(be, t, "/t/a", "9", 1));
	CHECK_OK(xp_xs_txn_end(be, t, true));
	expect_value(be, 0, "/t/a", "1");
	expect_no_event(be);

	/* A forced conflict: -EAGAIN, nothing applied, the retry works. */
	sim_xs_fail_commits(sim, 1);
	CHECK_OK(xp_xs_txn_start(be, &t));
	CHECK_OK(xp_xs_write(be, t, "/t/a", "2", 1));
	CHECK_ERR(xp_xs_txn_end(be, t, false), -EAGAIN);
	expect_value(be, 0, "/t/a", "1");
	CHECK_OK(xp_xs_txn_start(be, &t));
	CHECK_OK(xp_xs_write(be, t, "/t/a", "2", 1));
	CHECK_OK(xp_xs_txn_end(be, t, false));
	expect_value(be, 0, "/t/a", "2");
	drain_events(be);

	/* Transactions are per connection; perms hold inside them. */
	CHECK_OK(xp_xs_txn_start(be, &t));
	CHECK_ERR(xp_xs_read(fe, t, "domid", &v, NULL), -ENOENT);
	CHECK_OK(xp_xs_txn_start(fe, &t2));
	CHECK_ERR(xp_xs_write(fe, t2, "/t/a", "3", 1), -EACCES);
	CHECK_OK(xp_xs_write(fe, t2, "data", "3", 1));
	CHECK_OK(xp_xs_txn_end(fe, t2, false));
	expect_value(fe, 0, "data", "3");
	CHECK_OK(xp_xs_txn_end(be, t, true));

	/* A commit that no longer applies fails as a conflict. */
	CHECK_OK(xp_xs_txn_start(fe, &t2));
	CHECK_OK(xp_xs_write(fe, t2, "data", "4", 1));
	CHECK_OK(xp_xs_set_perms(be, 0, "/local/domain/1/data",
				       &(struct xp_xs_perm){ 0, XP_PERM_READ },
				       1));
	CHECK_ERR(xp_xs_txn_end(fe, t2, false), -EAGAIN);
	expect_value(fe, 0, "data", "3");

	/* Someone else changes what a transaction read: conflict. */
	CHECK_OK(xp_xs_txn_start(be, &t));
	expect_value(be, t, "/t/a", "2");
	CHECK_OK(xp_xs_write(be, t, "/t/c", "1", 1));
	CHECK_OK(xp_xs_write(fe, 0, "other", "5", 1)); /* unrelated */
	CHECK_OK(xp_xs_write(be, 0, "/t/a", "3", 1));
	CHECK_ERR(xp_xs_txn_end(be, t, false), -EAGAIN);
	CHECK_ERR(xp_xs_read(be, 0, "/t/c", &v, NULL), -ENOENT);
	/* ... or the children of a directory it listed. */
	CHECK_OK(xp_xs_txn_start(be, &t));
	{
		unsigned int n;
		char **names;

		CHECK_OK(xp_xs_directory(be, t, "/t", &names, &n));
		xp_free_strv(names, n);
	}
	CHECK_OK(xp_xs_write(be, 0, "/t/new", "1", 1));
	CHECK_ERR(xp_xs_txn_end(be, t, false), -EAGAIN);
	/* Unrelated changes do not conflict. */
	CHECK_OK(xp_xs_txn_start(be, &t));
	expect_value(be, t, "/t/a", "3");
	CHECK_OK(xp_xs_write(be, t, "/t/c", "1", 1));
	CHECK_OK(xp_xs_write(fe, 0, "other", "6", 1));
	CHECK_OK(xp_xs_write(be, 0, "/t/new", "2", 1));
	CHECK_OK(xp_xs_txn_end(be, t, false));
	expect_value(be, 0, "/t/c", "1");

	/* An open transaction dies with its connection. */
	CHECK_OK(xp_xs_txn_start(fe, &t2));
	xp_destroy(fe);
	xp_destroy(be);
	sim_free(sim);
}

static void test_domain_destroy(void)
{
	struct xp *be, *fe;
	struct sim *sim = sim_with_guest(&be);
	char *page = page_new(1, 'p');
	struct xp_gnt_copy seg;
	struct xp_gnt *gnt;
	uint32_t ref, port;
	char c;
	char *v;

	CHECK_OK(sim_xp_new(sim, GUEST, &fe));
	CHECK_OK(xp_xs_write(fe, 0, "device/vbd/0/state", "1", 1));
	CHECK_OK(xp_xs_watch(be, "/local/domain/1/device", "fe"));
	CHECK_OK(xp_xs_watch(be, "@releaseDomain", "rel"));
	drain_events(be);
	CHECK_OK(sim_grant(sim, GUEST, page, false, &ref));
	CHECK_OK(sim_evtchn_alloc_unbound(sim, GUEST, 0, &port));
	CHECK_OK(xp_gnt_open(be, &gnt));

	CHECK_OK(sim_domain_destroy(sim, GUEST));
	CHECK_ERR(sim_domain_destroy(sim, GUEST), -ENOENT);
	CHECK_ERR(sim_domain_destroy(sim, 0), -EINVAL);
	CHECK_ERR(xp_xs_read(be, 0, "/local/domain/1/domid", &v, NULL),
		  -ENOENT);
	expect_event(be, "/local/domain/1/device", "fe");
	expect_event(be, "@releaseDomain", "rel");
	expect_no_event(be);
	seg = (struct xp_gnt_copy){
		.domid = GUEST, .ref = ref, .len = 1, .local = &c
	};
	CHECK_OK(xp_gnt_copy(gnt, 1, &seg));
	CHECK(seg.status == SIM_GNTST_BAD_DOMAIN, "st %d", seg.status);
	CHECK_ERR(sim_grant_mapcount(sim, GUEST, ref), -ENOENT);
	CHECK_ERR(sim_evtchn_notify(sim, GUEST, port), -EINVAL);
	CHECK_ERR(sim_xp_new(sim, GUEST, &fe), -ENOENT);
	CHECK_ERR(sim_grant(sim, GUEST, page, false, &ref), -ENOENT);
	CHECK_ERR(sim_domain_create(sim, 0), -EINVAL);
	CHECK_ERR(sim_domain_create(sim, 0x7ff0), -EINVAL);

	xp_gnt_close(gnt);
	xp_destroy(fe);
	xp_destroy(be);
	sim_free(sim);
	sim_page_free(page);
}

/* Several threads at once: the sim must stay consistent (and ASan quiet). */
struct hammer {
	struct sim *sim;
	struct xp *be;
	uint32_t ref, port;
	char *page;
	int done; /* set by hammer_guest when it has sent every kick */
};

static void *hammer_guest(void *arg)
{
	struct hammer *h = arg;
	int i;

	for (i = 0; i < 2000; i++)
		CHECK_OK(sim_evtchn_notify(h->sim, GUEST, h->port));
	__atomic_store_n(&h->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *hammer_copy(void *arg)
{
	struct hammer *h = arg;
	struct xp_gnt_copy seg;
	struct xp_gnt *gnt;
	char buf[16];
	int i;

	CHECK_OK(xp_gnt_open(h->be, &gnt));
	for (i = 0; i < 2000; i++) {
		seg = (struct xp_gnt_copy){ .domid = GUEST,
					    .ref = h->ref,
					    .len = sizeof(buf),
					    .local = buf };
		CHECK_OK(xp_gnt_copy(gnt, 1, &seg));
		CHECK(seg.status == 0, "st %d", seg.status);
	}
	xp_gnt_close(gnt);
	return NULL;
}

static void test_threads(void)
{
	struct hammer h = { 0 };
	struct sim_evtchn_stats st;
	pthread_t t1, t2;
	struct xp_evt *evt;
	uint32_t lport, got;
	unsigned int wakeups = 0;

	h.sim = sim_with_guest(&h.be);
	h.page = page_new(1, 'h');
	CHECK_OK(sim_grant(h.sim, GUEST, h.page, true, &h.ref));
	CHECK_OK(sim_evtchn_alloc_unbound(h.sim, GUEST, 0, &h.port));
	CHECK_OK(xp_evt_open(h.be, &evt));
	CHECK_OK(xp_evt_bind(evt, GUEST, h.port, &lport));
	CHECK(pthread_create(&t1, NULL, hammer_guest, &h) == 0, "thread");
	CHECK(pthread_create(&t2, NULL, hammer_copy, &h) == 0, "thread");
	/* The backend loop: take, "drain", unmask; until the guest is done
	 * and its last kick has been taken. */
	for (;;) {
		struct pollfd p = { .fd = xp_evt_fd(evt),
				    .events = POLLIN };
		bool done = __atomic_load_n(&h.done, __ATOMIC_ACQUIRE);

		if (poll(&p, 1, 50) == 0 && done)
			break;
		while (xp_evt_pending(evt, &got) == 0) {
			CHECK(got == lport, "port %u", got);
			wakeups++;
			CHECK_OK(xp_evt_unmask(evt, got));
		}
	}
	CHECK(pthread_join(t1, NULL) == 0 && pthread_join(t2, NULL) == 0,
	      "join");
	CHECK_OK(sim_evtchn_stats(h.sim, GUEST, h.port, &st));
	CHECK(st.to_backend == 2000, "kicks %llu",
	      (unsigned long long)st.to_backend);
	CHECK(wakeups >= 1 && wakeups <= 2000, "wakeups %u", wakeups);

	xp_evt_close(evt);
	xp_destroy(h.be);
	sim_free(h.sim);
	sim_page_free(h.page);
}

/* The real seam links; without a hypervisor it fails cleanly. */
static void test_xen_links(void)
{
	struct xp *xp = NULL;
	int rc = xp_xen_new(&xp);

	if (rc == 0) { /* on a real dom0: it must at least know its domid */
		uint16_t domid;

		CHECK(xp && !strcmp(xp->ops->name, "xen"), "bad instance");
		CHECK_OK(xp_self_domid(xp, &domid));
		xp_destroy(xp);
		return;
	}
	CHECK(rc < 0 && rc > -4096, "xp_xen_new returned %d", rc);
	CHECK(xp == NULL, "xp set on failure");
}

/* The sim reached from a worker process (sim-remote.c), here over a
 * socketpair in one process: a copy lands and leaves nothing pinned; while
 * a copy is in progress (resolved, not yet unpinned) its grant cannot be
 * ended nor its destroyed domain's id reused, as under Xen, whose copy is
 * one hypercall; a page the worker unmapped is out of its reach. */
static void test_remote(void)
{
	struct xp *be, *wk;
	struct sim *sim = sim_with_guest(&be);
	char *pg = page_new(1, 'g'), *ring = page_new(1, 0);
	char buf[16] = "from the worker";
	struct xp_gnt *gnt, *lg;
	struct xp_gnt_copy seg;
	uint32_t ref, rref;
	uint64_t off;
	int16_t st;
	void *addr;
	int sv[2], pfd[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
	CHECK_OK(sim_remote_serve(sim, sv[0]));
	CHECK_OK(sim_remote_xp_new(sv[1], &wk));
	CHECK_OK(xp_gnt_open(wk, &gnt));
	CHECK_OK(sim_grant(sim, GUEST, pg, false, &ref));
	seg = (struct xp_gnt_copy){ .to_foreign = true, .domid = GUEST,
				    .ref = ref, .offset = 8,
				    .len = sizeof(buf), .local = buf };
	CHECK_OK(xp_gnt_copy(gnt, 1, &seg));
	CHECK(seg.status == 0 && !memcmp(pg + 8, buf, sizeof(buf)),
	      "remote copy: status %d", seg.status);
	CHECK(sim_domain_maps(sim, GUEST) == 0, "remote copy left %d pins",
	      sim_domain_maps(sim, GUEST));

	CHECK_OK(xp_gnt_open(be, &lg));
	CHECK_OK(sim_gnt_resolve(lg, 1, &seg, &st, &off));
	CHECK(st == 0 && off == sim_arena_off(pg), "resolve: %d", st);
	CHECK_ERR(sim_ungrant(sim, GUEST, ref), -EBUSY);
	CHECK_OK(sim_domain_destroy(sim, GUEST));
	CHECK(sim_domain_maps(sim, GUEST) == 1, "a copying domain: %d",
	      sim_domain_maps(sim, GUEST));
	CHECK_ERR(sim_domain_create(sim, GUEST), -EEXIST);
	sim_gnt_unpin(lg, 1, &seg, &st);
	CHECK(sim_domain_maps(sim, GUEST) == 0, "unpinned: %d",
	      sim_domain_maps(sim, GUEST));
	CHECK_OK(sim_domain_create(sim, GUEST));
	xp_gnt_close(lg);

	CHECK_OK(sim_grant(sim, GUEST, ring, false, &rref));
	CHECK_OK(xp_gnt_map(gnt, GUEST, 1, &rref, true, &addr));
	((volatile char *)addr)[5] = 'w';
	CHECK(ring[5] == 'w', "the map view is not the guest's page");
	/* The kernel says whether a page may be written (read(2) into it:
	 * EFAULT if not), with no signal for a sanitizer to take. */
	CHECK_OK(pipe(pfd));
	CHECK(write(pfd[1], "xy", 2) == 2, "pipe");
	CHECK(read(pfd[0], (char *)addr + 6, 1) == 1 && ring[6] == 'x',
	      "a mapped page is not writable");
	CHECK_OK(xp_gnt_unmap(gnt, addr, 1));
	errno = 0;
	CHECK(read(pfd[0], (char *)addr + 5, 1) < 0 && errno == EFAULT,
	      "a page the worker unmapped is still writable (errno %d)",
	      errno);
	close(pfd[0]);
	close(pfd[1]);
	CHECK(ring[5] == 'w', "the unmapped page changed");
	CHECK_OK(sim_ungrant(sim, GUEST, rref));

	xp_gnt_close(gnt);
	xp_destroy(wk);
	xp_destroy(be);
	sim_free(sim);
	sim_page_free(pg);
	sim_page_free(ring);
}

int main(void)
{
	test_grant_copy();
	test_grant_map();
	test_evtchn();
	test_xs_perms();
	test_watches();
	test_txn();
	test_domain_destroy();
	test_threads();
	test_xen_links();
	test_remote();
	printf("test-sim: 10 groups passed\n");
	return 0;
}
