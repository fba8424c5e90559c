/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Simulated grant table. A grant is a 4 KiB page of the test frontend's own
 * memory, entered in its domain's table under a ref (from 8 up, as Xen keeps
 * 0..7 for the toolstack). The backend reaches it only through a grant
 * handle: gnt_copy checks each segment as Xen does and reports a per-segment
 * GNTST status (other segments still proceed); gnt_map returns the guest page
 * itself and counts the mapping, so sim_ungrant of a mapped grant fails with
 * -EBUSY like gnttab_end_foreign_access in a guest.
 *
 * gnt_copy checks and pins every segment's grant under the sim's lock, then
 * copies with the lock dropped, then unpins: like Xen, which pins a grant
 * (GTF_reading / GTF_writing) for the copy and holds no table-wide lock
 * while the bytes move. So a frontend granting pages on one core is not
 * stalled by a backend copying a megabyte on another, and sim_ungrant of a
 * grant being copied fails with -EBUSY (a backend still copying after its
 * response is caught as one still mapping).
 *
 * Not modelled: transitive grants, sub-page grants, grant-table v2. A
 * multi-page map must name pages that are contiguous in the guest's memory
 * (a test frontend allocates its ring as one buffer); -EINVAL otherwise.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim-priv.h"

struct sim_map {
	struct sim_map *next;
	void *addr;
	uint16_t domid;
	uint32_t count;
	uint32_t refs[];
};

struct sim_gnt {
	struct xp_gnt base; /* first: the seam's handle */
	struct sim *sim;
	uint16_t self; /* the mapping domain */
	struct sim_map *maps;
	/* gnt_copy's resolved pages, one per segment (NULL: failed) */
	char **pages;
	uint32_t pages_cap;
};

static struct sim_gnt *sgnt(struct xp_gnt *gnt)
{
	return (struct sim_gnt *)gnt;
}

/* The grant ref of d, whatever its state, or NULL. */
static struct sim_grant_ent *ent_of(struct sim_dom *d, uint32_t ref)
{
	if (!d || ref < SIM_FIRST_GREF || ref >= d->ngrants)
		return NULL;
	return &d->grants[ref];
}

int sim_grant_to(struct sim *sim, uint16_t domid, uint16_t grantee, void *page,
		 bool readonly, uint32_t *ref_r)
{
	struct sim_grant_ent *g;
	struct sim_dom *d;
	uint32_t ref;
	int rc = 0;

	if (!page || (uintptr_t)page % XP_PAGE_BYTES)
		return -EINVAL; /* a grant is a whole frame */
	if (!sim_arena_has(page, XP_PAGE_BYTES))
		return -EFAULT; /* guest memory comes from sim_page_alloc */
	pthread_mutex_lock(&sim->lock);
	d = sim_dom_find_locked(sim, domid);
	if (!d || !d->alive) {
		rc = -ENOENT;
		goto out;
	}
	/* Reuse a free entry (next fit from where the last search ended,
	 * so a frontend cycling through many grants pays O(1), not O(n)),
	 * else grow the table. */
	ref = d->ngrants;
	if (d->ngrants > SIM_FIRST_GREF) {
		uint32_t span = d->ngrants - SIM_FIRST_GREF, i;
		uint32_t start = d->grant_hint < SIM_FIRST_GREF ||
						 d->grant_hint >= d->ngrants ?
					 SIM_FIRST_GREF :
					 d->grant_hint;

		for (i = 0; i < span; i++) {
			uint32_t r = SIM_FIRST_GREF +
				     (start - SIM_FIRST_GREF + i) % span;

			if (!d->grants[r].active && d->grants[r].maps == 0 &&
			    d->grants[r].pins == 0) {
				ref = r;
				break;
			}
		}
	}
	if (ref >= d->ngrants) {
		uint32_t n = d->ngrants ? d->ngrants * 2 : 64;

		g = realloc(d->grants, n * sizeof(*g));
		if (!g) {
			rc = -ENOMEM;
			goto out;
		}
		memset(g + d->ngrants, 0, (n - d->ngrants) * sizeof(*g));
		d->grants = g;
		ref = d->ngrants > SIM_FIRST_GREF ? d->ngrants : SIM_FIRST_GREF;
		d->ngrants = n;
	}
	g = &d->grants[ref];
	memset(g, 0, sizeof(*g));
	g->active = true;
	g->readonly = readonly;
	g->grantee = grantee;
	g->page = page;
	d->grant_hint = ref + 1;
	*ref_r = ref;
out:
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_grant(struct sim *sim, uint16_t domid, void *page, bool readonly,
	      uint32_t *ref_r)
{
	return sim_grant_to(sim, domid, 0, page, readonly, ref_r);
}

int sim_ungrant(struct sim *sim, uint16_t domid, uint32_t ref)
{
	struct sim_grant_ent *g;
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	g = ent_of(sim_dom_find_locked(sim, domid), ref);
	if (!g || !g->active)
		rc = -ENOENT;
	else if (g->maps || g->pins)
		rc = -EBUSY;
	else
		memset(g, 0, sizeof(*g));
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_grant_mapcount(struct sim *sim, uint16_t domid, uint32_t ref)
{
	struct sim_grant_ent *g;
	int rc;

	pthread_mutex_lock(&sim->lock);
	g = ent_of(sim_dom_find_locked(sim, domid), ref);
	rc = g && (g->active || g->maps) ? (int)g->maps : -ENOENT;
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int sim_grant_inject(struct sim *sim, uint16_t domid, uint32_t ref,
		     int16_t status)
{
	struct sim_grant_ent *g;
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	g = ent_of(sim_dom_find_locked(sim, domid), ref);
	if (g && g->active)
		g->inject = status;
	else
		rc = -ENOENT;
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

void sim_gnt_revoke_locked(struct sim_dom *d)
{
	uint32_t i;

	for (i = 0; i < d->ngrants; i++)
		d->grants[i].active = false;
}

int sim_gnt_open(struct xp *xp, struct xp_gnt **gnt_r)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_gnt *g;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->base.ops = xp->ops;
	g->sim = sx->sim;
	g->self = sx->domid;
	pthread_mutex_lock(&g->sim->lock);
	g->sim->handles++;
	pthread_mutex_unlock(&g->sim->lock);
	*gnt_r = &g->base;
	return 0;
}

static void map_release_locked(struct sim *sim, struct sim_map *m)
{
	struct sim_dom *d = sim_dom_find_locked(sim, m->domid);
	uint32_t i;

	for (i = 0; i < m->count; i++) {
		struct sim_grant_ent *g = ent_of(d, m->refs[i]);

		if (g && g->maps)
			g->maps--;
	}
	if (d && !d->alive)
		sim_dom_tidy_locked(d);
	free(m);
}

void sim_gnt_close(struct xp_gnt *gnt)
{
	struct sim_gnt *g = sgnt(gnt);
	struct sim_map *m;

	if (!g)
		return;
	/* Like xengnttab_close: whatever is still mapped gets unmapped. */
	pthread_mutex_lock(&g->sim->lock);
	while ((m = g->maps)) {
		g->maps = m->next;
		map_release_locked(g->sim, m);
	}
	g->sim->handles--;
	pthread_mutex_unlock(&g->sim->lock);
	free(g->pages);
	free(g);
}

/* A grant that self may access (writably if write), or a GNTST status. */
static int access_locked(struct sim_gnt *g, struct sim_dom *d, uint32_t ref,
			 bool write, struct sim_grant_ent **ent_r)
{
	struct sim_grant_ent *e;

	if (!d || !d->alive)
		return SIM_GNTST_BAD_DOMAIN;
	e = ent_of(d, ref);
	if (!e || !e->active || e->grantee != g->self)
		return SIM_GNTST_BAD_GNTREF;
	if (e->inject)
		return e->inject;
	/* Xen: "Attempt to write-pin a r/o grant entry". */
	if (write && e->readonly)
		return SIM_GNTST_GENERAL_ERROR;
	*ent_r = e;
	return SIM_GNTST_OKAY;
}

int sim_gnt_map(struct xp_gnt *gnt, uint16_t domid, uint32_t count,
		const uint32_t *refs, bool writable, void **addr_r)
{
	struct sim_gnt *g = sgnt(gnt);
	struct sim_grant_ent *e, *first = NULL;
	struct sim_map *m;
	struct sim_dom *d;
	uint32_t i;
	int rc = 0, st;

	if (count == 0 || count > 1024 || !refs)
		return -EINVAL;
	m = calloc(1, sizeof(*m) + count * sizeof(m->refs[0]));
	if (!m)
		return -ENOMEM;
	pthread_mutex_lock(&g->sim->lock);
	d = sim_dom_find_locked(g->sim, domid);
	for (i = 0; i < count; i++) {
		st = access_locked(g, d, refs[i], writable, &e);
		if (st == SIM_GNTST_GENERAL_ERROR) {
			rc = -EACCES; /* writable map of a read-only grant */
			goto out;
		}
		if (st != SIM_GNTST_OKAY) {
			rc = -EINVAL;
			goto out;
		}
		if (i == 0)
			first = e;
		else if ((char *)e->page !=
			 (char *)first->page + (size_t)i * XP_PAGE_BYTES) {
			rc = -EINVAL; /* see the note at the top */
			goto out;
		}
	}
	for (i = 0; i < count; i++) {
		d->grants[refs[i]].maps++;
		m->refs[i] = refs[i];
	}
	m->addr = first->page;
	m->domid = domid;
	m->count = count;
	m->next = g->maps;
	g->maps = m;
	*addr_r = m->addr;
	m = NULL;
out:
	pthread_mutex_unlock(&g->sim->lock);
	free(m);
	return rc;
}

int sim_gnt_unmap(struct xp_gnt *gnt, void *addr, uint32_t count)
{
	struct sim_gnt *g = sgnt(gnt);
	struct sim_map **pp, *m;
	int rc = -EINVAL;

	pthread_mutex_lock(&g->sim->lock);
	for (pp = &g->maps; (m = *pp); pp = &m->next) {
		if (m->addr == addr && m->count == count) {
			*pp = m->next;
			map_release_locked(g->sim, m);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g->sim->lock);
	return rc;
}

/* End one segment's copy: its pin goes, and with a destroyed domain's last
 * pin (or map) its table. */
static void unpin_locked(struct sim *sim, const struct xp_gnt_copy *s)
{
	struct sim_dom *d = sim_dom_find_locked(sim, s->domid);
	struct sim_grant_ent *e = ent_of(d, s->ref);

	if (e && e->pins) {
		e->pins--;
		d->copy_pins--;
		sim_dom_tidy_locked(d);
	}
}

int sim_gnt_copy(struct xp_gnt *gnt, uint32_t count, struct xp_gnt_copy *segs)
{
	struct sim_gnt *g = sgnt(gnt);
	struct sim_grant_ent *e;
	struct sim_dom *d;
	uint32_t i;
	int st;

	if (count && !segs)
		return -EINVAL;
	for (i = 0; i < count; i++)
		if (segs[i].len && !segs[i].local)
			return -EFAULT; /* our caller's bug, not the guest's */
	if (count > g->pages_cap) {
		char **p = realloc(g->pages, count * sizeof(*p));

		if (!p)
			return -ENOMEM;
		g->pages = p;
		g->pages_cap = count;
	}

	/* Check and pin every segment. */
	pthread_mutex_lock(&g->sim->lock);
	for (i = 0; i < count; i++) {
		struct xp_gnt_copy *s = &segs[i];

		g->pages[i] = NULL;
		if ((uint32_t)s->offset + s->len > XP_PAGE_BYTES) {
			s->status = SIM_GNTST_BAD_COPY_ARG;
			continue;
		}
		d = sim_dom_find_locked(g->sim, s->domid);
		st = access_locked(g, d, s->ref, s->to_foreign, &e);
		s->status = (int16_t)st;
		if (st != SIM_GNTST_OKAY)
			continue;
		e->pins++;
		d->copy_pins++;
		g->pages[i] = (char *)e->page + s->offset;
	}
	pthread_mutex_unlock(&g->sim->lock);

	/* Move the bytes with no lock held: the pins keep the pages. */
	for (i = 0; i < count; i++) {
		struct xp_gnt_copy *s = &segs[i];

		if (!g->pages[i])
			continue;
		if (s->to_foreign)
			memmove(g->pages[i], s->local, s->len);
		else
			memmove(s->local, g->pages[i], s->len);
	}

	pthread_mutex_lock(&g->sim->lock);
	for (i = 0; i < count; i++)
		if (g->pages[i])
			unpin_locked(g->sim, &segs[i]);
	pthread_mutex_unlock(&g->sim->lock);
	return 0;
}

int sim_gnt_resolve(struct xp_gnt *gnt, uint32_t count,
		    const struct xp_gnt_copy *segs, int16_t *status,
		    uint64_t *page_off)
{
	struct sim_gnt *g = sgnt(gnt);
	struct sim_grant_ent *e;
	struct sim_dom *d;
	uint32_t i;
	int st;

	pthread_mutex_lock(&g->sim->lock);
	for (i = 0; i < count; i++) {
		const struct xp_gnt_copy *s = &segs[i];

		page_off[i] = 0;
		if ((uint32_t)s->offset + s->len > XP_PAGE_BYTES) {
			status[i] = SIM_GNTST_BAD_COPY_ARG;
			continue;
		}
		d = sim_dom_find_locked(g->sim, s->domid);
		st = access_locked(g, d, s->ref, s->to_foreign, &e);
		status[i] = (int16_t)st;
		if (st != SIM_GNTST_OKAY)
			continue;
		e->pins++;
		d->copy_pins++;
		page_off[i] = sim_arena_off(e->page);
	}
	pthread_mutex_unlock(&g->sim->lock);
	return 0;
}

void sim_gnt_unpin(struct xp_gnt *gnt, uint32_t count,
		   const struct xp_gnt_copy *segs, const int16_t *status)
{
	struct sim_gnt *g = sgnt(gnt);
	uint32_t i;

	pthread_mutex_lock(&g->sim->lock);
	for (i = 0; i < count; i++)
		if (status[i] == SIM_GNTST_OKAY)
			unpin_locked(g->sim, &segs[i]);
	pthread_mutex_unlock(&g->sim->lock);
}
