/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block map, the overlay slot allocator and space accounting of a view
 * (cow/map.h), and the process-wide budget (cow/cow.h).
 *
 * What it owns: the map's leaves (allocated on first write, so a large,
 * mostly untouched disk costs a pointer per 64 MiB), the free-slot stack,
 * and the view's share of the budget.
 *
 * Invariants:
 * - used_blks counts slots handed out and not given back; it never exceeds
 *   limit_blks, and the budget (if any) is charged for exactly those slots.
 * - Space is taken all or nothing: a request for nr slots that do not all
 *   fit takes none, and the budget is charged with one compare-and-swap, so
 *   a request that does not fit never holds, even for a moment, room
 *   another disk's request would have fitted in.
 * - peak_blks is raised only when blocks are published, so it counts blocks
 *   the map really held, never slots reserved and given back.
 *
 * What it deliberately does not do: lock blocks (cow.c does, per stripe),
 * or touch the overlay's bytes.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "cow/map.h"

struct cow_budget {
	_Atomic uint64_t used_blks;
	_Atomic uint64_t limit_blks; /* UINT64_MAX: no cap */
	void (*refill)(void *arg, uint64_t short_blks);
	void *refill_arg;
};

/* ---- budget ---- */

int cow_budget_new(uint64_t limit_blks, struct cow_budget **budget_r)
{
	struct cow_budget *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	atomic_init(&b->used_blks, 0);
	atomic_init(&b->limit_blks, limit_blks ? limit_blks : UINT64_MAX);
	*budget_r = b;
	return 0;
}

void cow_budget_free(struct cow_budget *budget)
{
	free(budget);
}

uint64_t cow_budget_used_blks(const struct cow_budget *budget)
{
	return atomic_load_explicit(&budget->used_blks, memory_order_relaxed);
}

void cow_budget_set_limit(struct cow_budget *budget, uint64_t limit_blks)
{
	atomic_store_explicit(&budget->limit_blks, limit_blks,
			      memory_order_relaxed);
}

uint64_t cow_budget_limit_blks(const struct cow_budget *budget)
{
	return atomic_load_explicit(&budget->limit_blks, memory_order_relaxed);
}

void cow_budget_set_refill(struct cow_budget *budget,
			   void (*fn)(void *arg, uint64_t short_blks),
			   void *arg)
{
	budget->refill = fn;
	budget->refill_arg = arg;
}

/* One all-or-nothing charge: how many blocks it fell short by, 0 if done. */
static uint64_t budget_try(struct cow_budget *b, uint64_t nr)
{
	uint64_t old, limit;

	old = atomic_load_explicit(&b->used_blks, memory_order_relaxed);
	do {
		limit = atomic_load_explicit(&b->limit_blks,
					     memory_order_relaxed);
		if (old > limit || nr > limit - old)
			return old > limit ? nr + (old - limit) :
					     nr - (limit - old);
	} while (!atomic_compare_exchange_weak_explicit(
		&b->used_blks, &old, old + nr, memory_order_relaxed,
		memory_order_relaxed));
	return 0;
}

/* Charge nr blocks, all or nothing: false (nothing charged) if over, after
 * the refill (if any) had its one chance to raise the limit. */
static bool budget_take(struct cow_budget *b, uint64_t nr)
{
	uint64_t short_blks;

	if (!b)
		return true;
	short_blks = budget_try(b, nr);
	if (!short_blks)
		return true;
	if (!b->refill)
		return false;
	b->refill(b->refill_arg, short_blks);
	return budget_try(b, nr) == 0;
}

static void budget_give(struct cow_budget *b, uint64_t nr)
{
	if (b && nr)
		atomic_fetch_sub_explicit(&b->used_blks, nr,
					  memory_order_relaxed);
}

/* ---- the map ---- */

int map_init(struct cow_map *m, uint64_t nr_blks, uint64_t limit_blks,
	     struct cow_budget *budget)
{
	m->nr_blks = nr_blks;
	m->nr_leaves = (nr_blks + MAP_LEAF_BLKS - 1) / MAP_LEAF_BLKS;
	m->leaves = calloc(m->nr_leaves ? m->nr_leaves : 1,
			   sizeof(*m->leaves));
	if (!m->leaves)
		return -ENOMEM;
	m->free_slots = NULL;
	m->nr_free = m->free_cap = 0;
	m->next_fresh = 0;
	m->limit_blks = limit_blks;
	atomic_init(&m->used_blks, 0);
	atomic_init(&m->peak_blks, 0);
	m->budget = budget;
	pthread_mutex_init(&m->alloc_lock, NULL);
	return 0;
}

void map_set_limit(struct cow_map *m, uint64_t limit_blks)
{
	pthread_mutex_lock(&m->alloc_lock);
	m->limit_blks = limit_blks;
	pthread_mutex_unlock(&m->alloc_lock);
}

void map_fini(struct cow_map *m)
{
	uint64_t i;

	budget_give(m->budget, atomic_load(&m->used_blks));
	for (i = 0; i < m->nr_leaves; i++)
		free(atomic_load(&m->leaves[i]));
	free(m->leaves);
	free(m->free_slots);
	pthread_mutex_destroy(&m->alloc_lock);
}

int map_set(struct cow_map *m, uint64_t blk, uint32_t val)
{
	_Atomic(_Atomic uint32_t *) *leafp = &m->leaves[blk >> MAP_LEAF_SHIFT];
	_Atomic uint32_t *leaf = atomic_load_explicit(leafp,
						      memory_order_acquire);

	if (!leaf) {
		_Atomic uint32_t *fresh, *expected = NULL;

		if (val == MAP_BASE)
			return 0; /* an absent leaf already reads MAP_BASE */
		fresh = calloc(MAP_LEAF_BLKS, sizeof(*fresh));
		if (!fresh)
			return -ENOMEM;
		if (atomic_compare_exchange_strong_explicit(
			    leafp, &expected, fresh, memory_order_acq_rel,
			    memory_order_acquire)) {
			leaf = fresh;
		} else {
			free(fresh); /* another block of this leaf won */
			leaf = expected;
		}
	}
	atomic_store_explicit(&leaf[blk & (MAP_LEAF_BLKS - 1)], val,
			      memory_order_release);
	return 0;
}

/* ---- slots ---- */

int slots_alloc(struct cow_map *m, unsigned int nr, uint32_t *slots_r)
{
	uint64_t used;
	unsigned int i;
	int rc = 0;

	if (nr == 0)
		return 0;
	pthread_mutex_lock(&m->alloc_lock);
	used = atomic_load_explicit(&m->used_blks, memory_order_relaxed);
	if (nr > m->limit_blks - used || !budget_take(m->budget, nr)) {
		rc = -ENOSPC;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		if (m->nr_free)
			slots_r[i] = m->free_slots[--m->nr_free];
		else
			slots_r[i] = (uint32_t)m->next_fresh++;
	}
	atomic_store_explicit(&m->used_blks, used + nr, memory_order_relaxed);
out:
	pthread_mutex_unlock(&m->alloc_lock);
	return rc;
}

/*
 * The free stack is grown here on demand. Should that fail for memory, the
 * slot stays counted as used: a slot that cannot be handed out again must
 * keep its place, or next_fresh could run past the store's end.
 */
void slot_free(struct cow_map *m, uint32_t slot)
{
	pthread_mutex_lock(&m->alloc_lock);
	if (m->nr_free == m->free_cap) {
		uint64_t cap = m->free_cap ? m->free_cap * 2 : 1024;
		uint32_t *v = realloc(m->free_slots, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&m->alloc_lock);
			return;
		}
		m->free_slots = v;
		m->free_cap = cap;
	}
	m->free_slots[m->nr_free++] = slot;
	atomic_fetch_sub_explicit(&m->used_blks, 1, memory_order_relaxed);
	budget_give(m->budget, 1);
	pthread_mutex_unlock(&m->alloc_lock);
}

void map_note_peak(struct cow_map *m)
{
	uint64_t used = atomic_load_explicit(&m->used_blks,
					     memory_order_relaxed);
	uint64_t peak = atomic_load_explicit(&m->peak_blks,
					     memory_order_relaxed);

	while (used > peak &&
	       !atomic_compare_exchange_weak_explicit(&m->peak_blks, &peak,
						      used,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}
