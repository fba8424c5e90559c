/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hostile frontends: one case per class of blkif-peers.md section 5 (the
 * security history of blkif backends). Each case runs against a daemon that
 * also serves a bystander disk of another guest; after the attack the
 * daemon must still run, the bystander must still read back what it wrote,
 * and where the attack targeted data, no byte of it may have landed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/blkif-util.h"
#include "tests/check.h"
#include "tests/testlib.h"
#include "xs-glue/attach.h"

#define SECTOR XE_BLKIF_SECTOR_BYTES
#define EVIL 7
#define GOOD 9
#define XVDA 51712u
#define XVDB 51728u
#define XVDC 51744u
#define BAD_GREF 0x7ffff0u

struct host {
	struct rng rng; /* the test's one random stream, seeded and printed */
	struct bu_env e;
	struct bu_disk good; /* a bystander of another guest */
};

static struct fe_opts opts_default(void)
{
	return (struct fe_opts){ .order = 0,
				 .queues = 1,
				 .abi = XE_BLKIF_ABI_NATIVE,
				 .max_indirect = 256 };
}

static void host_init(struct host *h)
{
	struct fe_opts o = opts_default();

	bu_env_init(&h->e);
	o.queues = 2;
	bu_disk_open(&h->e, &h->good, GOOD, XVDA, "blank:size=2M", false, &o,
		     NULL, 0);
	bu_write(&h->good, 0, 0, 512, FE_PACKED, &h->rng);
}

/* The daemon survived and serves the bystander as before. */
static void bystander_ok(struct host *h)
{
	bu_random_ops(&h->good, &h->rng, 20);
	bu_verify_all(&h->good);
}

static void host_fini(struct host *h)
{
	bystander_ok(h);
	bu_disk_close(&h->good);
	bu_disk_free(&h->good);
	bu_env_fini(&h->e);
}

static struct xenbus_dev_info dev_info(struct host *h, uint16_t domid,
				       uint32_t devid)
{
	struct xenbus_dev_info info;

	CHECK_OK(fe_daemon_dev(h->e.d, domid, devid, &info));
	return info;
}

static void sleep_ms(unsigned int ms)
{
	usleep(ms * 1000u);
}

/* ---- one request with a tampered wire form ---- */

/* A field to overwrite on the wire; zero-initialised means "keep". */
struct set {
	bool set;
	int64_t v;
};
#define SET(x) { true, (x) }

struct tamper {
	struct set nr_segs;    /* byte 1 / u16 nr_segments */
	struct set op;
	struct set expect_op;  /* default: op, if op is set */
	int seg;               /* descriptor to spoil (with seg_set) */
	bool seg_set;
	struct set first, last, gref; /* its first/last_sect and gref */
	struct set ind_gref;   /* indirect page 0's ref */
	struct set sector;
	struct set nr_sectors; /* discard */
};

static const struct tamper T0;

static void do_tamper(struct fe_wire *w, void *arg)
{
	const struct tamper *t = arg;

	if (t->op.set)
		w->op = (uint8_t)t->op.v;
	if (t->expect_op.set)
		w->expect_op = (uint8_t)t->expect_op.v;
	else if (t->op.set)
		w->expect_op = (uint8_t)t->op.v;
	if (t->nr_segs.set) {
		if (w->op == XE_BLKIF_OP_INDIRECT)
			w->nr_segs16 = (uint16_t)t->nr_segs.v;
		else
			w->byte1 = (uint8_t)t->nr_segs.v;
	}
	if (t->seg_set) {
		if (t->first.set)
			w->desc[t->seg].first_sect = (uint8_t)t->first.v;
		if (t->last.set)
			w->desc[t->seg].last_sect = (uint8_t)t->last.v;
		if (t->gref.set)
			w->desc[t->seg].gref = (uint32_t)t->gref.v;
	}
	if (t->ind_gref.set)
		w->ind_grefs[0] = (uint32_t)t->ind_gref.v;
	if (t->sector.set)
		w->sector = (uint64_t)t->sector.v;
	if (t->nr_sectors.set)
		w->discard_nr_sectors = (uint64_t)t->nr_sectors.v;
}

/*
 * Send op over nsegs full pages of fresh random data at sector, tampered
 * by t; return the status. For writes, the pages' data is in *data_r.
 */
static int send(struct host *h, struct bu_disk *d, uint8_t op, bool indirect,
		unsigned int nsegs, uint64_t sector, const struct tamper *t)
{
	struct fe_seg *segs = calloc(nsegs ? nsegs : 1, sizeof(*segs));
	struct tamper tc = *t;
	struct fe_req r = { .op = op,
			    .indirect = indirect,
			    .sector = sector,
			    .nr_segs = nsegs,
			    .segs = segs,
			    .tamper = do_tamper,
			    .tamper_arg = &tc };
	unsigned int i;
	int rc;

	CHECK(segs, "out of memory");
	for (i = 0; i < nsegs; i++) {
		segs[i].page = sim_page_alloc(1);
		CHECK(segs[i].page, "out of memory");
		rng_fill(&h->rng, segs[i].page, 4096);
		segs[i].first_sect = 0;
		segs[i].last_sect = 7;
	}
	if (op == XE_BLKIF_OP_DISCARD)
		r.nr_sectors = 8;
	rc = fe_io(d->fe, 0, &r);
	CHECK(rc != -ETIMEDOUT, "no response to a tampered request");
	for (i = 0; i < nsegs; i++)
		sim_page_free(segs[i].page);
	free(segs);
	return rc;
}

static void expect_status(struct host *h, struct bu_disk *d, uint8_t op,
			  bool indirect, unsigned int nsegs, uint64_t sector,
			  const struct tamper *t, int want, const char *what)
{
	int rc = send(h, d, op, indirect, nsegs, sector, t);

	CHECK(rc == want, "%s: status %d, expected %d", what, rc, want);
}

/* ---- the cases ---- */

/* CVE-2010-4247: req_prod far beyond the ring. */
static void test_bogus_req_prod(struct host *h)
{
	struct fe_opts o = opts_default();
	struct bu_disk d;
	struct xenbus_dev_info before, after;
	struct sim_evtchn_stats es0, es1;
	uint32_t rsp;
	int i;

	bu_disk_open(&h->e, &d, EVIL, XVDA, "blank:size=1M", false, &o, NULL,
		     0);
	bu_write(&d, 0, 0, 16, FE_PACKED, &h->rng);
	rsp = fe_raw_rsp_prod(d.fe, 0);
	fe_raw_set_req_prod(d.fe, 0, rsp + fe_ring_size(d.fe) + 1000);
	fe_raw_notify(d.fe, 0);
	for (i = 0; i < 2000 && !dev_info(h, EVIL, XVDA).ring.halted; i++)
		sleep_ms(1);
	before = dev_info(h, EVIL, XVDA);
	CHECK(before.ring.halted, "ring not halted after a lying req_prod");
	CHECK(fe_raw_rsp_prod(d.fe, 0) == rsp, "backend answered a lie");
	/* It stays masked: a kick storm on a halted ring costs nothing. */
	CHECK_OK(sim_evtchn_stats(h->e.sim, EVIL, fe_port(d.fe, 0), &es0));
	for (i = 0; i < 5000; i++)
		fe_raw_notify(d.fe, 0);
	sleep_ms(50);
	after = dev_info(h, EVIL, XVDA);
	CHECK_OK(sim_evtchn_stats(h->e.sim, EVIL, fe_port(d.fe, 0), &es1));
	CHECK(after.ring.wakeups - before.ring.wakeups <= 1,
	      "halted ring woke up %" PRIu64 " times in a kick storm",
	      after.ring.wakeups - before.ring.wakeups);
	CHECK(es1.to_guest == es0.to_guest, "halted ring notified the guest");
	bystander_ok(h);
	/* A new connection starts clean. */
	fe_raw_set_req_prod(d.fe, 0, rsp);
	bu_disk_close(&d);
	CHECK_OK(fe_reconnect(d.fe));
	CHECK(!dev_info(h, EVIL, XVDA).ring.halted, "still halted");
	bu_verify(&d, 0, 0, 16, FE_PACKED, &h->rng);
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDA, 5000));
	printf("  bogus req_prod: ring halted, no spin: ok\n");
}

/* Malformed segments, counts, ranges and ops, direct and indirect. */
/*
 * Malformed requests, each refused on the private copy before any data
 * moves, and none of them changing the disk. One row per case, named after
 * the history it comes from (blkif-peers.md section 5). A sector below
 * FROM_END counts back from the disk's end.
 */
#define FROM_END(n) (UINT64_MAX - (n))
#define IS_FROM_END(s) ((s) >= UINT64_MAX - 64)

struct malformed {
	const char *what;
	uint8_t op;
	bool indirect;
	unsigned int nsegs;
	uint64_t sector;
	struct tamper t;
	int want;
};

#define ERR XE_BLKIF_RSP_ERROR
#define NOSUP XE_BLKIF_RSP_EOPNOTSUPP
#define W XE_BLKIF_OP_WRITE
#define R XE_BLKIF_OP_READ
#define D XE_BLKIF_OP_DISCARD
#define SEG(n) .seg = (n), .seg_set = true
#define KEEP { .seg_set = false }

static const struct malformed malformed[] = {
	/* segment counts (CVE-2007-5498) */
	{ "12 direct segments", W, false, 11, 0, { .nr_segs = SET(12) }, ERR },
	{ "255 direct segments", R, false, 11, 0, { .nr_segs = SET(255) }, ERR },
	{ "0 segments", W, false, 1, 0, { .nr_segs = SET(0) }, ERR },
	{ "257 indirect segments", W, true, 20, 0, { .nr_segs = SET(257) },
	  ERR },
	{ "4097 indirect segments", R, true, 20, 0, { .nr_segs = SET(4097) },
	  ERR },
	{ "65535 indirect segments", R, true, 20, 0,
	  { .nr_segs = SET(0xffff) }, ERR },
	{ "0 indirect segments", R, true, 20, 0, { .nr_segs = SET(0) }, ERR },
	/* first_sect > last_sect, last_sect > 7 (XSA-155's target) */
	{ "first > last", W, false, 5, 0,
	  { SEG(3), .first = SET(5), .last = SET(2) }, ERR },
	{ "last 8", R, false, 1, 0, { SEG(0), .first = SET(0), .last = SET(8) },
	  ERR },
	{ "first 200 last 255", W, false, 1, 0,
	  { SEG(0), .first = SET(200), .last = SET(255) }, ERR },
	{ "indirect first > last", W, true, 30, 0,
	  { SEG(17), .first = SET(6), .last = SET(1) }, ERR },
	{ "indirect last 9", R, true, 30, 0, { SEG(29), .last = SET(9) }, ERR },
	/* ranges past the end, and sectors that overflow x512 */
	{ "write across the end", W, false, 1, FROM_END(7), KEEP, ERR },
	{ "read across the end", R, false, 2, FROM_END(8), KEEP, ERR },
	{ "indirect read across the end", R, true, 12, FROM_END(8), KEEP,
	  ERR },
	{ "read at the end", R, false, 1, FROM_END(0), KEEP, ERR },
	{ "sector 2^64-4", W, false, 1, 0, { .sector = SET(-4) }, ERR },
	{ "sector 2^55 (2^64 bytes)", W, false, 1, 1ull << 55, KEEP, ERR },
	{ "indirect sector 2^64-41", R, true, 12, 0,
	  { .sector = SET(-41) }, ERR },
	{ "discard of 2^64-1 sectors", D, false, 0, 8,
	  { .nr_sectors = SET(-1) }, ERR },
	{ "discard across the end", D, false, 0, FROM_END(8),
	  { .nr_sectors = SET(16) }, ERR },
	{ "discard wrapping around", D, false, 0, 0,
	  { .sector = SET(-5), .nr_sectors = SET(16) }, ERR },
	/* unknown operations: EOPNOTSUPP, the op echoed */
	{ "RESERVED_1", W, false, 1, 0, { .op = SET(XE_BLKIF_OP_RESERVED_1) },
	  NOSUP },
	{ "op 7", R, false, 1, 0, { .op = SET(7) }, NOSUP },
	{ "op 255", R, false, 1, 0, { .op = SET(0xff) }, NOSUP },
	{ "WRITE_BARRIER (not advertised)", W, false, 1, 0,
	  { .op = SET(XE_BLKIF_OP_WRITE_BARRIER) }, NOSUP },
};

#undef W
#undef R
#undef D

static void test_malformed(struct host *h)
{
	struct fe_opts o = opts_default();
	struct bu_disk d;
	uint64_t end;
	unsigned int abi;
	size_t i;

	for (abi = 0; abi < 2; abi++) {
		o.abi = abi ? XE_BLKIF_ABI_X86_32 : XE_BLKIF_ABI_NATIVE;
		bu_disk_open(&h->e, &d, EVIL, XVDA, "blank:size=1M", false, &o,
			     NULL, 0);
		end = d.sectors;
		bu_write(&d, 0, 0, end, FE_PACKED, &h->rng);
		for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
			const struct malformed *m = &malformed[i];
			uint64_t sector = IS_FROM_END(m->sector) ?
						  end - (UINT64_MAX - m->sector) :
						  m->sector;

			expect_status(h, &d, m->op, m->indirect, m->nsegs,
				      sector, &m->t, m->want, m->what);
		}
		/* INDIRECT carrying something else than READ or WRITE; the
		 * response echoes indirect_op */
		for (int op = 2; op < 7; op++) {
			struct tamper ti = T0;
			int rc;

			ti.expect_op = (struct set)SET(op);
			ti.op = (struct set)SET(XE_BLKIF_OP_INDIRECT);
			rc = send(h, &d, (uint8_t)op, true, 12, 0, &ti);
			CHECK(rc == ERR || rc == NOSUP,
			      "INDIRECT with indirect_op %d: %d", op, rc);
		}
		/* none of it changed the disk */
		bu_verify_all(&d);
		{
			struct xenbus_dev_info info = dev_info(h, EVIL, XVDA);

			CHECK(info.ring.bad_req >= 20,
			      "bad requests not counted");
			/* refused on the private copy, before any data
			 * moved: none of them reached a grant copy */
			CHECK(info.ring.grant_err == 0,
			      "%" PRIu64 " malformed requests reached grant "
			      "copy",
			      info.ring.grant_err);
		}
		bu_disk_close(&d);
		bu_disk_free(&d);
		CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDA,
				       5000));
	}
	printf("  %zu kinds of malformed request (both ABIs): ok\n",
	       sizeof(malformed) / sizeof(malformed[0]) + 5);
}

/* XSA-365: a bad grant among good ones fails the whole request, and no
 * byte of it lands; the same for a bad indirect page. */
static void test_bad_grants(struct host *h)
{
	struct fe_opts o = opts_default();
	struct bu_disk d;

	bu_disk_open(&h->e, &d, EVIL, XVDA, "blank:size=1M", false, &o, NULL,
		     0);
	bu_write(&d, 0, 0, 512, FE_PACKED, &h->rng);
	static const struct malformed bad_grants[] = {
		{ "write with a bad gref", XE_BLKIF_OP_WRITE, false, 5, 16,
		  { SEG(2), .gref = SET(BAD_GREF) }, ERR },
		{ "write with a bad first gref", XE_BLKIF_OP_WRITE, false, 5,
		  64, { SEG(0), .gref = SET(BAD_GREF) }, ERR },
		{ "read with a bad gref", XE_BLKIF_OP_READ, false, 5, 16,
		  { SEG(4), .gref = SET(BAD_GREF) }, ERR },
		{ "indirect write with a bad gref", XE_BLKIF_OP_WRITE, true,
		  128, 0, { SEG(100), .gref = SET(BAD_GREF) }, ERR },
		{ "bad indirect page ref", XE_BLKIF_OP_WRITE, true, 40, 8,
		  { .ind_gref = SET(BAD_GREF) }, ERR },
		{ "read with a bad indirect page ref", XE_BLKIF_OP_READ, true,
		  40, 8, { .ind_gref = SET(BAD_GREF) }, ERR },
	};
	size_t i;

	for (i = 0; i < sizeof(bad_grants) / sizeof(bad_grants[0]); i++) {
		const struct malformed *m = &bad_grants[i];

		expect_status(h, &d, m->op, m->indirect, m->nsegs, m->sector,
			      &m->t, m->want, m->what);
	}
	bu_verify_all(&d);
	CHECK(dev_info(h, EVIL, XVDA).ring.grant_err >= 6,
	      "grant errors not counted");
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDA, 5000));
	printf("  bad grant refs and indirect pages: ok, nothing landed\n");
}

/*
 * One round of nr two-page requests on queue 0 of d: request i is op[i]
 * at sector at[i], its pages fresh and random, and request 2 lies about
 * its second page (a bad grant). All are submitted, then kicked once, so
 * that they reach the ring together; returns when each has its response.
 */
enum { ROUND_SEGS = 2 };

static void send_round(struct host *h, struct bu_disk *d, unsigned int nr,
		       const uint8_t *op, const uint64_t *at,
		       struct fe_seg (*segs)[ROUND_SEGS], struct fe_req *r,
		       struct tamper *t)
{
	unsigned int i, k, done = 0;

	for (i = 0; i < nr; i++) {
		t[i] = T0;
		if (i == 2)
			t[i] = (struct tamper){ SEG(1), .gref = SET(BAD_GREF) };
		for (k = 0; k < ROUND_SEGS; k++) {
			segs[i][k].page = sim_page_alloc(1);
			CHECK(segs[i][k].page, "out of memory");
			rng_fill(&h->rng, segs[i][k].page, 4096);
			segs[i][k].first_sect = 0;
			segs[i][k].last_sect = 7;
		}
		r[i] = (struct fe_req){ .op = op[i],
					.sector = at[i],
					.nr_segs = ROUND_SEGS,
					.segs = segs[i],
					.tamper = do_tamper,
					.tamper_arg = &t[i] };
		CHECK_OK(fe_submit(d->fe, 0, &r[i]));
	}
	fe_kick(d->fe, 0);
	while (done < nr) {
		int n = fe_wait(d->fe, 0, 5000);

		CHECK(n >= 0, "no responses: %d", n);
		done += (unsigned int)n;
	}
}

static void free_round(unsigned int nr, struct fe_seg (*segs)[ROUND_SEGS])
{
	unsigned int i, k;

	for (i = 0; i < nr; i++)
		for (k = 0; k < ROUND_SEGS; k++)
			sim_page_free(segs[i][k].page);
}

/*
 * Plain writes that reach the ring together have their data brought in by
 * one grant-copy call: one with a bad grant among them is refused and
 * writes nothing, the others before and after it land, in ring order where
 * they write the same blocks.
 */
static void test_bad_grant_in_batch(struct host *h)
{
	enum { NR = 5, SEGS = ROUND_SEGS };
	static const uint8_t ops[NR] = { XE_BLKIF_OP_WRITE, XE_BLKIF_OP_WRITE,
					 XE_BLKIF_OP_WRITE, XE_BLKIF_OP_WRITE,
					 XE_BLKIF_OP_WRITE };
	/* Writes 3 and 4 land on 0's and 1's blocks; the refused 2's are
	 * written by no other, so anything it left would show. */
	static const uint64_t at[NR] = { 0, 64, 128, 0, 64 };
	struct fe_opts o = opts_default();
	struct fe_seg segs[NR][SEGS];
	struct fe_req r[NR];
	struct tamper t[NR];
	struct bu_disk d;
	unsigned int i, k;

	bu_disk_open(&h->e, &d, EVIL, XVDB, "blank:size=1M", false, &o, NULL,
		     0);
	bu_write(&d, 0, 0, 512, FE_PACKED, &h->rng);
	send_round(h, &d, NR, ops, at, segs, r, t);
	for (i = 0; i < NR; i++) {
		CHECK(r[i].status == (i == 2 ? ERR : 0),
		      "write %u of the batch: status %d", i, r[i].status);
		for (k = 0; k < SEGS && i != 2; k++)
			memcpy(d.model + (at[i] + 8 * k) * 512,
			       segs[i][k].page, 4096);
	}
	bu_verify_all(&d); /* the refused one left its blocks as they were */
	free_round(NR, segs);
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDB, 5000));
	printf("  a bad grant among writes sent together: ok, only it "
	       "refused\n");
}

/*
 * Plain reads that reach the ring together have their data taken out by
 * one grant-copy call: one with a bad grant among them is refused, the
 * others before and after it read right; a read behind a write of the
 * same blocks in that round sees the write (ring order), and so does the
 * write behind it.
 */
static void test_bad_grant_in_read_batch(struct host *h)
{
	enum { NR = 7, SEGS = ROUND_SEGS };
	struct fe_opts o = opts_default();
	struct fe_seg segs[NR][SEGS];
	struct fe_req r[NR];
	struct tamper t[NR];
	struct bu_disk d;
	unsigned int i, k;
	/* read, read, bad read, read, write of 0-15, read of 0-15, read */
	static const uint8_t ops[NR] = { XE_BLKIF_OP_READ, XE_BLKIF_OP_READ,
					 XE_BLKIF_OP_READ, XE_BLKIF_OP_READ,
					 XE_BLKIF_OP_WRITE, XE_BLKIF_OP_READ,
					 XE_BLKIF_OP_READ };
	static const uint64_t at[NR] = { 64, 128, 192, 256, 0, 0, 320 };

	bu_disk_open(&h->e, &d, EVIL, XVDC, "blank:size=1M", false, &o, NULL,
		     0);
	bu_write(&d, 0, 0, 512, FE_PACKED, &h->rng);
	send_round(h, &d, NR, ops, at, segs, r, t);
	for (i = 0; i < NR; i++) {
		CHECK(r[i].status == (i == 2 ? ERR : 0),
		      "request %u of the round: status %d", i, r[i].status);
		if (ops[i] == XE_BLKIF_OP_WRITE) {
			for (k = 0; k < SEGS; k++)
				memcpy(d.model + (at[i] + 8 * k) * 512,
				       segs[i][k].page, 4096);
			continue;
		}
		for (k = 0; k < SEGS && i != 2; k++)
			CHECK(!memcmp(segs[i][k].page,
				      d.model + (at[i] + 8 * k) * 512, 4096),
			      "read %u of the round, page %u: wrong data", i,
			      k);
	}
	bu_verify_all(&d);
	CHECK(dev_info(h, EVIL, XVDC).ring.grant_err >= 1,
	      "the bad read's grant error not counted");
	free_round(NR, segs);
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDC, 5000));
	printf("  a bad grant among reads sent together: ok, only it "
	       "refused; a read behind a write sees it\n");
}

/* Writes, flushes with data and discards to read-only disks. */
static void test_read_only(struct host *h)
{
	struct fe_opts o = opts_default();
	struct bu_disk d;
	struct tamper t = T0;
	int err = XE_BLKIF_RSP_ERROR;
	size_t len = 256 * 1024;
	uint8_t *base = malloc(len);
	char *path, spec[4200];

	CHECK(base, "out of memory");
	rng_fill(&h->rng, base, len);
	path = test_write_file("ro.img", base, len);
	snprintf(spec, sizeof(spec), "ro:base=%s", path);
	bu_disk_open(&h->e, &d, EVIL, XVDA, spec, false, &o, base, len);
	expect_status(h, &d, XE_BLKIF_OP_WRITE, false, 3, 0, &t, err,
		      "write to read-only");
	expect_status(h, &d, XE_BLKIF_OP_WRITE, true, 30, 0, &t, err,
		      "indirect write to read-only");
	expect_status(h, &d, XE_BLKIF_OP_FLUSH_DISKCACHE, false, 1, 0, &t, err,
		      "flush with data to read-only");
	t.nr_sectors = (struct set)SET(64);
	{
		int rc = send(h, &d, XE_BLKIF_OP_DISCARD, false, 0, 0, &t);

		CHECK(rc == err, "discard on read-only: %d", rc);
	}
	bu_verify_all(&d);
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDA, 5000));
	unlink(path);
	free(path);
	free(base);
	printf("  writes and discards to read-only disks: ok\n");
}

/* XSA-155: the backend acts on its one copy of a slot. */
struct flipper {
	struct fe *fe;
	atomic_bool stop;
	atomic_uint flips;
};

static void *flip_main(void *arg)
{
	struct flipper *f = arg;
	uint32_t n = fe_ring_size(f->fe), i = 0;

	while (!atomic_load(&f->stop)) {
		volatile uint8_t *s = fe_raw_slot(f->fe, 0, i++ % n);

		/* Only bytes past the response (16 bytes, native layout),
		 * so that responses stay intact: the top byte of
		 * sector_number, first_sect and last_sect of seg 0. */
		s[XE_BLKIF_REQ_OFF_SECTOR_NATIVE + 7] ^= 0x40;
		s[XE_BLKIF_REQ_OFF_SEG_NATIVE + XE_BLKIF_SEG_OFF_FIRST] ^= 0x07;
		s[XE_BLKIF_REQ_OFF_SEG_NATIVE + XE_BLKIF_SEG_OFF_LAST] ^= 0xf8;
		atomic_fetch_add(&f->flips, 1);
	}
	return NULL;
}

static void test_rewrite_slot(struct host *h)
{
	struct fe_opts o = opts_default();
	struct bu_disk d;
	uint8_t *page = sim_page_alloc(1);
	struct fe_seg seg = { .page = page, .first_sect = 0, .last_sect = 7 };
	struct fe_req r = { .op = XE_BLKIF_OP_WRITE,
			    .sector = 40,
			    .nr_segs = 1,
			    .segs = &seg };
	struct fe_wire w;
	struct flipper f = { 0 };
	pthread_t th;
	uint32_t ref, idx;
	unsigned int i, ok = 0, bad = 0;

	bu_disk_open(&h->e, &d, EVIL, XVDA, "blank:size=1M", false, &o, NULL,
		     0);
	bu_write(&d, 0, 0, 2048, FE_PACKED, &h->rng);
	/* 1: after its response, a slot rewritten into another request
	 * (without moving req_prod) is not acted on, however often we
	 * kick. */
	rng_fill(&h->rng, page, 4096);
	idx = fe_raw_req_prod_pvt(d.fe, 0);
	CHECK(fe_io(d.fe, 0, &r) == 0, "write failed");
	memcpy(d.model + 40 * SECTOR, page, 4096);
	CHECK_OK(sim_grant(h->e.sim, EVIL, page, true, &ref));
	memset(&w, 0, sizeof(w));
	w.op = XE_BLKIF_OP_WRITE;
	w.byte1 = 1;
	w.id = 0;
	w.sector = 400;
	w.nr_descs = 1;
	w.desc[0].gref = ref;
	w.desc[0].last_sect = 7;
	fe_raw_encode(d.fe, 0, idx, &w);
	for (i = 0; i < 100; i++)
		fe_raw_notify(d.fe, 0);
	sleep_ms(50);
	CHECK_OK(sim_ungrant(h->e.sim, EVIL, ref));
	bu_verify_all(&d);
	/* 2: slots flipped between valid and invalid while the backend
	 * takes them: each request is served as one consistent copy (OK
	 * or ERROR), nothing crashes (the sanitizer build watches), and
	 * the ring keeps going. */
	f.fe = d.fe;
	CHECK(!pthread_create(&th, NULL, flip_main, &f), "pthread_create");
	for (i = 0; i < 2000; i++) {
		struct fe_req q = r;
		int rc;

		q.sector = 8 * rng_below(&h->rng, 200);
		rc = fe_io(d.fe, 0, &q);
		CHECK(rc == 0 || rc == XE_BLKIF_RSP_ERROR ||
			      rc == XE_BLKIF_RSP_EOPNOTSUPP,
		      "flipped request: %d", rc);
		rc == 0 ? ok++ : bad++;
	}
	atomic_store(&f.stop, true);
	pthread_join(th, NULL);
	/* the flipper may have hit the page too: only check the ring */
	bystander_ok(h);
	{
		struct fe_req q = r;

		q.sector = 0;
		CHECK(fe_io(d.fe, 0, &q) == 0, "ring broken after the flips");
	}
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDA, 5000));
	printf("  slots rewritten after production: ok (%u served, %u "
	       "refused, %u flips)\n",
	       ok, bad, atomic_load(&f.flips));
}

/* XSA-332 / XSA-391: kick storms, on an idle and on a busy ring. */
static void test_event_storm(struct host *h)
{
	struct fe_opts o = opts_default();
	struct bu_disk d;
	struct xenbus_dev_info a, b;
	struct sim_evtchn_stats e0, e1;
	unsigned int i, kicks = 20000, reqs = 0;

	o.order = 1;
	bu_disk_open(&h->e, &d, EVIL, XVDA, "blank:size=1M", false, &o, NULL,
		     0);
	a = dev_info(h, EVIL, XVDA);
	CHECK_OK(sim_evtchn_stats(h->e.sim, EVIL, fe_port(d.fe, 0), &e0));
	for (i = 0; i < kicks; i++) {
		fe_raw_notify(d.fe, 0);
		if (i % 500 == 0) {
			bu_write(&d, 0, 8 * (i / 500), 8, FE_PACKED, &h->rng);
			reqs++;
		}
	}
	sleep_ms(50);
	b = dev_info(h, EVIL, XVDA);
	CHECK_OK(sim_evtchn_stats(h->e.sim, EVIL, fe_port(d.fe, 0), &e1));
	/* the backend notifies at most once per push of responses */
	CHECK(e1.to_guest - e0.to_guest <= reqs,
	      "%" PRIu64 " notifications for %u requests",
	      e1.to_guest - e0.to_guest, reqs);
	CHECK(b.ring.notifies - a.ring.notifies <= reqs, "notifies %" PRIu64,
	      b.ring.notifies - a.ring.notifies);
	/* and wakes at most once per kick (kicks while masked coalesce) */
	CHECK(b.ring.wakeups - a.ring.wakeups <= kicks, "wakeups %" PRIu64,
	      b.ring.wakeups - a.ring.wakeups);
	bystander_ok(h);
	bu_verify_all(&d);
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDA, 5000));
	printf("  event storm: ok (%" PRIu64 " wake-ups for %u kicks, %" PRIu64
	       " notifications for %u requests)\n",
	       b.ring.wakeups - a.ring.wakeups, kicks,
	       e1.to_guest - e0.to_guest, reqs);
}

/* XSA-349: a frontend hammering its watched state node. */
static void test_watch_storm(struct host *h)
{
	struct fe_opts o = opts_default();
	struct bu_disk d;
	struct sim_watch_stats ws;
	unsigned int i, n = 20000;
	char junk[32];

	bu_disk_open(&h->e, &d, EVIL, XVDA, "blank:size=1M", false, &o, NULL,
		     0);
	bu_write(&d, 0, 0, 64, FE_PACKED, &h->rng);
	for (i = 0; i < n; i++) {
		snprintf(junk, sizeof(junk), "%u", i);
		CHECK_OK(fe_write_fe(d.fe, "state", i % 2 ? "4" : "3"));
		if (i % 64 == 0)
			CHECK_OK(fe_write_fe(d.fe, "noise", junk));
	}
	CHECK_OK(fe_write_fe(d.fe, "state", "4"));
	fe_daemon_watch_stats(h->e.d, &ws);
	CHECK(ws.max_queued <= 2 * SIM_WATCH_QUEUE_LIMIT,
	      "watch queue reached %u", ws.max_queued);
	bystander_ok(h);
	bu_verify(&d, 0, 0, 64, FE_PACKED, &h->rng);
	CHECK(dev_info(h, EVIL, XVDA).be_state == 4, "device not connected");
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDA, 5000));
	printf("  watch storm: ok (%" PRIu64 " events queued, %" PRIu64
	       " coalesced, high-water %u)\n",
	       ws.fired, ws.coalesced, ws.max_queued);
}

/* XSA-350: connect/disconnect toggling. */
static void test_toggling(struct host *h)
{
	struct fe_opts o = opts_default();
	struct bu_disk d;
	unsigned int i, cycles = (unsigned int)(150 * test_scale()) + 5;
	const char *seq = "3564136146";

	o.queues = 2;
	o.order = 1;
	bu_disk_open(&h->e, &d, EVIL, XVDA, "blank:size=1M", false, &o, NULL,
		     0);
	bu_write(&d, 0, 0, 256, FE_PACKED, &h->rng);
	for (i = 0; i < cycles; i++) {
		bu_disk_close(&d);
		CHECK(sim_domain_maps(h->e.sim, EVIL) == 0,
		      "cycle %u: %d grants still mapped", i,
		      sim_domain_maps(h->e.sim, EVIL));
		CHECK_OK(fe_reconnect(d.fe));
		if (i % 10 == 0)
			bu_random_ops(&d, &h->rng, 5);
	}
	/* A late Closing from a frontend we already closed changes nothing. */
	bu_disk_close(&d);
	CHECK_OK(fe_write_fe(d.fe, "state", "5"));
	sleep_ms(100);
	CHECK(fe_backend_state(d.fe) == 6,
	      "Closing after Closed moved the backend to state %d",
	      fe_backend_state(d.fe));
	CHECK_OK(fe_reconnect(d.fe));
	/* state writes in no sensible order, as fast as we can */
	for (i = 0; i < 300; i++) {
		char s[2] = { seq[i % 10], 0 };

		CHECK_OK(fe_write_fe(d.fe, "state", s));
	}
	sleep_ms(100);
	/* a clean close and reconnect still works, data intact */
	bu_disk_close(&d);
	CHECK(sim_domain_maps(h->e.sim, EVIL) == 0, "grants still mapped");
	CHECK_OK(fe_reconnect(d.fe));
	bu_verify_all(&d);
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDA, 5000));
	printf("  connect/disconnect toggling, %u cycles: ok\n", cycles);
}

/* XSA-371: the frontend's domain vanishes with requests in flight. */
static void test_domain_vanishes(struct host *h)
{
	struct fe_opts o = opts_default();
	struct bu_disk d[2];
	struct fe_seg *segs;
	struct fe_req *reqs;
	unsigned int i, k, n = 0;
	char path[128], *v = NULL;
	struct xp *tool = fe_daemon_xp(h->e.d);
	unsigned int devs_before;

	o.order = 2;
	o.queues = 2;
	for (k = 0; k < 2; k++)
		bu_disk_open(&h->e, &d[k], EVIL, k ? XVDB : XVDA,
			     "blank:size=4M", false, &o, NULL, 0);
	devs_before = fe_daemon_nr_devs(h->e.d);
	/* fill both rings of both disks with 1 MiB reads and writes */
	reqs = calloc(2 * 2 * 128, sizeof(*reqs));
	segs = calloc(2 * 2 * 128 * 32, sizeof(*segs));
	CHECK(reqs && segs, "out of memory");
	for (k = 0; k < 2; k++)
		for (unsigned int q = 0; q < 2; q++)
			for (i = 0; i < 128; i++) {
				struct fe_req *r = &reqs[n];
				struct fe_seg *s = &segs[(size_t)n * 32];

				for (unsigned int j = 0; j < 32; j++) {
					s[j].page = sim_page_alloc(1);
					CHECK(s[j].page, "out of memory");
					s[j].last_sect = 7;
				}
				r->op = i % 2 ? XE_BLKIF_OP_READ :
						XE_BLKIF_OP_WRITE;
				r->indirect = true;
				r->sector = 256 * (i % 32);
				r->nr_segs = 32;
				r->segs = s;
				CHECK_OK(fe_submit(d[k].fe, q, r));
				n++;
			}
	for (k = 0; k < 2; k++) {
		fe_kick(d[k].fe, 0);
		fe_kick(d[k].fe, 1);
	}
	CHECK_OK(sim_domain_destroy(h->e.sim, EVIL));
	for (k = 0; k < 2; k++)
		fe_domain_gone(d[k].fe);
	/* the daemon closes both devices and unmaps everything: fe_free
	 * waits for the sim's zombie count to reach 0 */
	for (k = 0; k < 2; k++) {
		fe_free(d[k].fe);
		free(d[k].model);
	}
	CHECK(sim_domain_maps(h->e.sim, EVIL) == 0, "zombie maps");
	for (i = 0; i < 5000 && fe_daemon_nr_devs(h->e.d) != devs_before - 2;
	     i++)
		sleep_ms(1);
	CHECK(fe_daemon_nr_devs(h->e.d) == devs_before - 2,
	      "daemon still has %u devices", fe_daemon_nr_devs(h->e.d));
	for (k = 0; k < 2; k++) {
		snprintf(path, sizeof(path),
			 "/local/domain/0/backend/ephemeral/%u/%u", EVIL,
			 k ? XVDB : XVDA);
		CHECK(xp_xs_read(tool, XP_XS_NO_TXN, path, &v, NULL) ==
			      -ENOENT,
		      "backend dir %s still there", path);
	}
	/* ... and the domain's directory above them (the real lab caught
	 * this one: xenstore kept backend/ephemeral/<domid> forever). */
	snprintf(path, sizeof(path), "/local/domain/0/backend/ephemeral/%u",
		 EVIL);
	CHECK(xp_xs_read(tool, XP_XS_NO_TXN, path, &v, NULL) == -ENOENT,
	      "empty backend dir %s still there", path);
	for (i = 0; i < (size_t)n * 32; i++)
		sim_page_free(segs[i].page);
	free(segs);
	free(reqs);
	bystander_ok(h);
	CHECK_OK(sim_domain_create(h->e.sim, EVIL)); /* for later cases */
	printf("  domain vanishing with %u requests in flight: ok\n", n);
}

/* The toolstack removes a device whose frontend never closes: the
 * backend gives up after close_timeout_ms, unmaps everything, and says
 * Closed (libxl waits 10 s for that). */
static void test_frontend_never_closes(struct host *h)
{
	struct fe_opts o = opts_default();
	struct xp *tool = fe_daemon_xp(h->e.d);
	struct bu_disk d;
	char path[128];
	int i;

	o.queues = 2;
	bu_disk_open(&h->e, &d, EVIL, XVDA, "blank:size=1M", false, &o, NULL,
		     0);
	bu_write(&d, 1, 0, 64, FE_PACKED, &h->rng);
	snprintf(path, sizeof(path),
		 "/local/domain/0/backend/ephemeral/%u/%u/online", EVIL, XVDA);
	CHECK_OK(xp_xs_write(tool, XP_XS_NO_TXN, path, "0", 1));
	CHECK_OK(fe_wait_backend_state(d.fe, 5, 5000));
	/* the guest ignores Closing and stays Connected */
	CHECK_OK(fe_wait_backend_state(d.fe, 6, 5000));
	for (i = 0; i < 1000 && sim_domain_maps(h->e.sim, EVIL); i++)
		sleep_ms(1);
	CHECK(sim_domain_maps(h->e.sim, EVIL) == 0,
	      "rings still mapped after the close timeout");
	bystander_ok(h);
	/* the guest finally closes; its grants can all be ended */
	bu_disk_close(&d);
	bu_disk_free(&d);
	CHECK_OK(detach_device(tool, NULL, EVIL, XVDA, 5000));
	printf("  a frontend that never closes: Closed after the timeout, "
	       "unmapped: ok\n");
}

/* Hostile xenstore values: each fails the connection, with an error. */
static void expect_refused(struct host *h, const struct fe_opts *o,
			   const char *what)
{
	struct fe *fe;
	int rc, st;

	CHECK_OK(fe_new(h->e.sim, EVIL, XVDA, o, &fe));
	{
		struct xp *tool = fe_daemon_xp(h->e.d);
		char *be = fe_backend_path(fe), path[200];

		snprintf(path, sizeof(path), "%s/error", be);
		CHECK_OK(xp_xs_rm(tool, XP_XS_NO_TXN, path));
		free(be);
	}
	if (fe_backend_state(fe) == 6) { /* from the last refusal */
		CHECK_OK(fe_write_fe(fe, "state", "1"));
		CHECK_OK(fe_wait_backend_state(fe, 2, 5000));
	}
	rc = fe_connect(fe);
	CHECK(rc == -EPROTO, "%s: connect returned %d", what, rc);
	st = fe_backend_state(fe);
	CHECK(st == 5 || st == 6, "%s: backend state %d", what, st);
	CHECK(fe_backend_error(fe)[0], "%s: no error node", what);
	CHECK_OK(fe_close(fe));
	fe_free(fe);
}

static void test_bad_nodes(struct host *h)
{
	static const char *const orders[] = {
		"5", "99", "x",	 "18446744073709551616", "4294967296", "-1",
		"",  "1 ", "0x1"
	};
	static const char *const queues[] = { "0", "17",	  "5",
					      "x", "99999999999", "" };
	static const char *const refs[] = { "99999", "0",	   "7", "abc",
					    "",	     "4294967296", "-8" };
	static const char *const ports[] = { "0", "9999", "x", "4294967296",
					     "" };
	static const char *const protos[] = { "x86_16-abi", "", "X86_64-ABI",
					      "x86_64-abi " };
	struct fe_opts o = opts_default();
	struct bu_disk d;
	unsigned int i;

	CHECK_OK(fe_attach(h->e.d, EVIL, XVDA, "blank:size=1M", false));
	for (i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		o = opts_default();
		o.raw_ring_page_order = orders[i];
		expect_refused(h, &o, orders[i]);
	}
	for (i = 0; i < sizeof(queues) / sizeof(queues[0]); i++) {
		o = opts_default();
		o.raw_num_queues = queues[i];
		expect_refused(h, &o, queues[i]);
	}
	o = opts_default();
	o.queues = BU_MAX_QUEUES + 1;
	o.no_cap = true;
	expect_refused(h, &o, "more queues than advertised");
	o = opts_default();
	o.order = 4;
	o.raw_ring_page_order = "5"; /* 16 pages given, 32 claimed */
	expect_refused(h, &o, "order 5 over 16 pages");
	/* ring refs and ports that are not the frontend's to give */
	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		o = opts_default();
		o.order = i % 2 ? 2 : 0;
		o.queues = 1 + i % 2;
		o.raw_ring_ref = refs[i];
		expect_refused(h, &o, refs[i]);
	}
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		o = opts_default();
		o.queues = 1 + i % 3;
		o.raw_event_channel = ports[i];
		expect_refused(h, &o, ports[i]);
	}
	CHECK(sim_domain_maps(h->e.sim, EVIL) == 0,
	      "a refused connection left %d maps",
	      sim_domain_maps(h->e.sim, EVIL));
	/* a ring that already holds more requests than slots (blkback's
	 * -EIO at attach); the good queue before it must be undone */
	o = opts_default();
	o.queues = 3;
	o.overfull = true;
	o.overfull_queue = 1;
	expect_refused(h, &o, "overfull ring at connect");
	CHECK(sim_domain_maps(h->e.sim, EVIL) == 0,
	      "a refused connection left %d maps",
	      sim_domain_maps(h->e.sim, EVIL));
	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		o = opts_default();
		o.raw_protocol = protos[i];
		expect_refused(h, &o, protos[i]);
	}
	bystander_ok(h);
	/* and after all that, a proper frontend connects */
	{
		struct fe *fe;

		o = opts_default();
		CHECK_OK(fe_new(h->e.sim, EVIL, XVDA, &o, &fe));
		CHECK_OK(fe_reconnect(fe));
		memset(&d, 0, sizeof(d));
		d.fe = fe;
		d.domid = EVIL;
		d.devid = XVDA;
		d.sectors = fe_backend(fe)->sectors;
		d.model = calloc(d.sectors, SECTOR);
		CHECK(d.model, "out of memory");
		bu_random_ops(&d, &h->rng, 20);
		bu_disk_close(&d);
		bu_disk_free(&d);
	}
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, XVDA, 5000));
	printf("  bad protocol, ring-page-order and queue counts: ok\n");
}

/* Disks that cannot be opened: Closed with an error node. */
static void expect_unopenable(struct host *h, uint32_t devid, const char *spec,
			      const char *want)
{
	struct fe_opts o = opts_default();
	struct fe *fe;
	int rc;

	CHECK_OK(fe_attach(h->e.d, EVIL, devid, spec, false));
	CHECK_OK(fe_new(h->e.sim, EVIL, devid, &o, &fe));
	rc = fe_connect(fe);
	CHECK(rc == -EPROTO && fe_backend_state(fe) == 6,
	      "%s: connect %d, state %d", spec, rc, fe_backend_state(fe));
	CHECK(strstr(fe_backend_error(fe), want),
	      "%s: error node '%s' does not say '%s'", spec,
	      fe_backend_error(fe), want);
	fe_free(fe);
	CHECK_OK(detach_device(fe_daemon_xp(h->e.d), NULL, EVIL, devid, 5000));
}

static void test_bad_disks(struct host *h)
{
	struct xp *tool = fe_daemon_xp(h->e.d);
	char path[160];
	struct fe_opts o = opts_default();
	struct fe *fe;

	expect_unopenable(h, XVDA, "cow:base=/nonexistent/base.img",
			  "cannot open");
	expect_unopenable(h, XVDA, "blank:size=1M,store=xts,scratch=/proc",
			  "cannot open");
	expect_unopenable(h, XVDA,
			  "blank:size=1M,store=xts,scratch=/nonexistent",
			  "cannot open");
	CHECK(access("/nonexistent", F_OK) < 0, "a scratch file was created");
	/* a regular file is neither a directory nor a block device */
	{
		char *f = test_write_file("not-a-dir", "x", 1), spec[4200];

		snprintf(spec, sizeof(spec),
			 "blank:size=1M,store=xts,scratch=%s", f);
		expect_unopenable(h, XVDA, spec, "not a directory");
		unlink(f);
		free(f);
	}
	/* a spec that does not parse (attach refuses it, so the toolstack
	 * resets a device with it) */
	CHECK_OK(fe_attach(h->e.d, EVIL, XVDB, "blank:size=1M", false));
	CHECK_OK(fe_new(h->e.sim, EVIL, XVDB, &o, &fe));
	CHECK_OK(fe_wait_backend_state(fe, 2, 5000));
	snprintf(path, sizeof(path), "%s", "");
	{
		char *be = fe_backend_path(fe), p2[200];

		snprintf(p2, sizeof(p2), "%s/params", be);
		CHECK_OK(xp_xs_write(tool, XP_XS_NO_TXN, p2,
					     "blank:size=lots", 15));
		snprintf(p2, sizeof(p2), "%s/state", be);
		CHECK_OK(xp_xs_write(tool, XP_XS_NO_TXN, p2, "1", 1));
		free(be);
	}
	CHECK_OK(fe_wait_backend_state(fe, 6, 5000));
	CHECK(fe_connect(fe) == -EPROTO, "connected to a bad spec");
	CHECK(strstr(fe_backend_error(fe), "bad disk spec"), "error '%s'",
	      fe_backend_error(fe));
	fe_free(fe);
	CHECK_OK(detach_device(tool, NULL, EVIL, XVDB, 5000));
	bystander_ok(h);
	printf("  bad disk spec, missing base, unwritable scratch: ok\n");
}

int main(void)
{
	struct host h;

	h.rng.s = test_seed("test-hostile");
	host_init(&h);
	bu_domain(&h.e, EVIL);
	test_bogus_req_prod(&h);
	test_malformed(&h);
	test_bad_grants(&h);
	test_bad_grant_in_batch(&h);
	test_bad_grant_in_read_batch(&h);
	test_read_only(&h);
	test_rewrite_slot(&h);
	test_event_storm(&h);
	test_watch_storm(&h);
	test_toggling(&h);
	test_frontend_never_closes(&h);
	test_bad_nodes(&h);
	test_bad_disks(&h);
	test_domain_vanishes(&h);
	host_fini(&h);
	return 0;
}
