/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block map, the overlay slot allocator and space accounting of a view
 * (cow/map.h), and the process-wide budget (cow/cow.h).
 *
 * What it owns: the map (a pointer per 256 MiB group of the disk; a
 * group's entries, once one is set, sparse: 6 bytes for each block set in
 * it, and up to an eighth more of room to grow; past 2048 of them, a
 * directory of 4 MiB leaves, each sparse the same way until that would be
 * larger than a dense page of 4-byte entries), the free-slot stack, and
 * the view's share of the budget. Either way the map takes at most about
 * 0.15% of the overlay bytes it maps, however the writes are spread, and
 * an untouched disk 32 bytes per GiB.
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
 * - Redirect slots (an overwrite written into a new slot, the old one given
 *   back once the new is published) are not charged, but they are slots:
 *   used_blks + redirects never exceeds limit_blks, so next_fresh never runs
 *   past the store. A new block's reservation that fits the limit but finds
 *   the last slots out on redirects waits for one to end (they end without
 *   taking any lock but alloc_lock, so this cannot deadlock) instead of
 *   failing. The free stack always has room for every redirect slot out,
 *   so giving one back never fails.
 *
 * What it deliberately does not do: lock blocks (cow.c does, per stripe),
 * or touch the overlay's bytes.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * A sparse group or leaf: the entries set, by index in it (a group's
 * 65536 blocks and a leaf's 1024 both fit 16 bits), ascending. The values
 * come first (aligned), the indices after the last value's room. Only
 * touched under its lock.
 */
struct map_sparse {
	uint16_t n, cap;
	uint32_t val[];
	/* uint16_t idx[cap] follows val[cap] */
};

_Static_assert(offsetof(struct map_sparse, val) == 4 &&
		       MAP_SPARSE_MAX * (sizeof(uint32_t) + sizeof(uint16_t)) +
				       4 <= MAP_LEAF_BLKS * sizeof(uint32_t) &&
		       MAP_SPARSE_MAX < MAP_LEAF_BLKS &&
		       MAP_SPARSE_MAX < MAP_GROUP_SPARSE_MAX &&
		       MAP_GROUP_SPARSE_MAX <= UINT16_MAX &&
		       MAP_GROUP_BLKS - 1 <= UINT16_MAX,
	       "a full sparse leaf is no bigger than a dense one, and a "
	       "sparse group's counts and indices fit 16 bits");

static uint16_t *sparse_idx(struct map_sparse *s)
{
	return (uint16_t *)(s->val + s->cap);
}

static struct map_sparse *untag(uintptr_t w)
{
	return (struct map_sparse *)(w & ~MAP_SPARSE);
}

/* What an allocation really takes from the heap, header included. */
static uint64_t heap_bytes(void *p)
{
	return malloc_usable_size(p) + sizeof(size_t);
}

/* The lock of blk's group while the group is sparse (leaf_lock after). */
static pthread_mutex_t *group_lock(const struct cow_map *m, uint64_t blk)
{
	return (pthread_mutex_t *)&m->leaf_locks[(blk >> MAP_GROUP_SHIFT) %
						 MAP_LEAF_LOCKS];
}

static pthread_mutex_t *leaf_lock(const struct cow_map *m, uint64_t blk)
{
	return (pthread_mutex_t *)&m->leaf_locks[(blk >> MAP_LEAF_SHIFT) %
						 MAP_LEAF_LOCKS];
}

/* How many leaves group g has (the last may have fewer than 64). */
static unsigned int group_leaves(const struct cow_map *m, uint64_t g)
{
	uint64_t blks = m->nr_blks - g * MAP_GROUP_BLKS;

	if (blks > MAP_GROUP_BLKS)
		blks = MAP_GROUP_BLKS;
	return (unsigned int)((blks + MAP_LEAF_BLKS - 1) / MAP_LEAF_BLKS);
}

/* The first position in s whose index is >= i. */
static unsigned int sparse_find(struct map_sparse *s, unsigned int i)
{
	const uint16_t *idx = sparse_idx(s);
	unsigned int lo = 0, hi = s->n;

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (idx[mid] < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Room for n entries and an eighth more (at least 2), up to max: what a
 * sparse form grows to, and what a leaf starts with when its group becomes
 * a directory. */
static unsigned int sparse_room(unsigned int n, unsigned int max)
{
	n += n / 8 > 2 ? n / 8 : 2;
	return n < max ? n : max;
}

static uint32_t sparse_lookup(struct map_sparse *s, unsigned int i)
{
	unsigned int pos = sparse_find(s, i);

	return pos < s->n && sparse_idx(s)[pos] == i ? s->val[pos] : MAP_BASE;
}

/* A sparse form with room for at least want entries, holding old's (if
 * any). As much room as the allocation really has, up to max. */
static struct map_sparse *sparse_new(struct cow_map *m, unsigned int want,
				     unsigned int max, struct map_sparse *old)
{
	size_t bytes = offsetof(struct map_sparse, val) +
		       (size_t)want * (sizeof(uint32_t) + sizeof(uint16_t));
	struct map_sparse *s = malloc(bytes);
	size_t cap;

	if (!s)
		return NULL;
	cap = (malloc_usable_size(s) - offsetof(struct map_sparse, val)) /
	      (sizeof(uint32_t) + sizeof(uint16_t));
	s->cap = (uint16_t)(cap < max ? cap : max);
	s->n = 0;
	if (old) {
		s->n = old->n;
		memcpy(s->val, old->val, old->n * sizeof(uint32_t));
		memcpy(sparse_idx(s), sparse_idx(old),
		       old->n * sizeof(uint16_t));
	}
	atomic_fetch_add_explicit(&m->map_bytes, heap_bytes(s),
				  memory_order_relaxed);
	return s;
}

static void heap_free(struct cow_map *m, void *p)
{
	if (!p)
		return;
	atomic_fetch_sub_explicit(&m->map_bytes, heap_bytes(p),
				  memory_order_relaxed);
	free(p);
}

uint32_t map_get_sparse(const struct cow_map *m, uint64_t blk)
{
	_Atomic uintptr_t *gp = &m->groups[blk >> MAP_GROUP_SHIFT], *lp;
	pthread_mutex_t *lock;
	uint32_t val = MAP_BASE;
	uintptr_t w;

	w = atomic_load_explicit(gp, memory_order_acquire);
	if (w & MAP_SPARSE) {
		lock = group_lock(m, blk);
		pthread_mutex_lock(lock);
		/* Again, under the lock: it may have grown, or become a
		 * directory. */
		w = atomic_load_explicit(gp, memory_order_acquire);
		if (w & MAP_SPARSE)
			val = sparse_lookup(untag(w),
					    blk & (MAP_GROUP_BLKS - 1));
		pthread_mutex_unlock(lock);
		if (w & MAP_SPARSE)
			return val;
	}
	if (!w) /* groups are never freed: not reached */
		return MAP_BASE;
	/* A directory, for good: its leaf under the leaf's lock. */
	lp = map_dir_leaf(w, blk);
	lock = leaf_lock(m, blk);
	pthread_mutex_lock(lock);
	w = atomic_load_explicit(lp, memory_order_acquire);
	if (w & MAP_SPARSE)
		val = sparse_lookup(untag(w), blk & (MAP_LEAF_BLKS - 1));
	else if (w)
		val = atomic_load_explicit(
			map_dense_entry(w, blk & (MAP_LEAF_BLKS - 1)),
			memory_order_acquire);
	pthread_mutex_unlock(lock);
	return val;
}

/*
 * Set entry i of the sparse form at *p (0: none yet) to val, under its
 * lock, or on a form nobody else sees yet. max: the most entries it holds.
 * 0 if done, 1 if it is full and i is not in it (the caller changes its
 * form; nothing changed), -ENOMEM (nothing changed).
 */
static int sparse_put(struct cow_map *m, _Atomic uintptr_t *p,
		      unsigned int max, unsigned int i, uint32_t val)
{
	struct map_sparse *s = untag(atomic_load_explicit(p,
						memory_order_acquire));
	struct map_sparse *grown;
	unsigned int pos;
	uint16_t *idx;

	if (!s) {
		if (val == MAP_BASE)
			return 0; /* not there reads MAP_BASE */
		s = sparse_new(m, 2, max, NULL);
		if (!s)
			return -ENOMEM;
		atomic_store_explicit(p, (uintptr_t)s | MAP_SPARSE,
				      memory_order_release);
	}
	pos = sparse_find(s, i);
	if (pos < s->n && sparse_idx(s)[pos] == i) {
		s->val[pos] = val;
		return 0;
	}
	if (val == MAP_BASE)
		return 0;
	if (s->n == s->cap) {
		if (s->n >= max)
			return 1;
		grown = sparse_new(m, sparse_room(s->n, max), max, s);
		if (!grown)
			return -ENOMEM;
		atomic_store_explicit(p, (uintptr_t)grown | MAP_SPARSE,
				      memory_order_release);
		heap_free(m, s);
		s = grown;
	}
	idx = sparse_idx(s);
	memmove(s->val + pos + 1, s->val + pos,
		(s->n - pos) * sizeof(uint32_t));
	memmove(idx + pos + 1, idx + pos, (s->n - pos) * sizeof(uint16_t));
	s->val[pos] = val;
	idx[pos] = (uint16_t)i;
	s->n++;
	return 0;
}

/* A dense leaf, all MAP_BASE, counted in the map's bytes. */
static _Atomic uint32_t *dense_new(struct cow_map *m)
{
	_Atomic uint32_t *dense = calloc(MAP_LEAF_BLKS, sizeof(*dense));

	if (dense)
		atomic_fetch_add_explicit(&m->map_bytes, heap_bytes(dense),
					  memory_order_relaxed);
	return dense;
}

/* The sparse leaf at *lp, full, becomes a dense page with entry i set to
 * val. Under the leaf's lock (or unseen). */
static int sparse_to_dense(struct cow_map *m, _Atomic uintptr_t *lp,
			   unsigned int i, uint32_t val)
{
	struct map_sparse *s = untag(atomic_load_explicit(lp,
						memory_order_acquire));
	_Atomic uint32_t *dense = dense_new(m);
	const uint16_t *idx = sparse_idx(s);
	unsigned int k;

	if (!dense)
		return -ENOMEM;
	for (k = 0; k < s->n; k++)
		atomic_init(&dense[idx[k]], s->val[k]);
	atomic_init(&dense[i], val);
	/* Readers of a dense leaf take no lock: publish it whole. */
	atomic_store_explicit(lp, (uintptr_t)dense, memory_order_release);
	heap_free(m, s);
	return 0;
}

/* map_set() on the leaf at *lp. Under the leaf's lock (or unseen). */
static int leaf_set(struct cow_map *m, _Atomic uintptr_t *lp, uint64_t blk,
		    uint32_t val)
{
	uintptr_t leaf = atomic_load_explicit(lp, memory_order_acquire);
	unsigned int i = blk & (MAP_LEAF_BLKS - 1);
	int rc;

	if (leaf && !(leaf & MAP_SPARSE)) { /* became dense meanwhile */
		atomic_store_explicit(map_dense_entry(leaf, i), val,
				      memory_order_release);
		return 0;
	}
	rc = sparse_put(m, lp, MAP_SPARSE_MAX, i, val);
	if (rc == 1)
		rc = sparse_to_dense(m, lp, i, val);
	return rc;
}

/* A directory's leaves (of group g) and the directory itself. */
static void dir_free(struct cow_map *m, _Atomic uintptr_t *dir, uint64_t g)
{
	unsigned int l, nl = group_leaves(m, g);

	for (l = 0; l < nl; l++)
		heap_free(m, untag(atomic_load(&dir[l])));
	heap_free(m, dir);
}

/*
 * The sparse group at *gp, full, becomes a directory holding its entries
 * and blk's set to val (a new one). Under the group's lock. Everything is
 * built before the directory is published, so a reader walking it without
 * a lock sees it whole; on -ENOMEM nothing changed.
 */
static int group_to_dir(struct cow_map *m, _Atomic uintptr_t *gp,
			uint64_t blk, uint32_t val)
{
	struct map_sparse *s = untag(atomic_load_explicit(gp,
						memory_order_acquire));
	uint64_t g = blk >> MAP_GROUP_SHIFT;
	unsigned int nl = group_leaves(m, g), k, e, l, n;
	const uint16_t *idx = sparse_idx(s);
	_Atomic uintptr_t *dir = calloc(nl, sizeof(*dir));
	struct map_sparse *leaf;
	_Atomic uint32_t *dense;

	if (!dir)
		return -ENOMEM;
	atomic_fetch_add_explicit(&m->map_bytes, heap_bytes(dir),
				  memory_order_relaxed);
	for (k = 0; k < s->n; k = e) {
		l = idx[k] >> MAP_LEAF_SHIFT;
		for (e = k, n = 0; e < s->n && idx[e] >> MAP_LEAF_SHIFT == l;
		     e++)
			n += s->val[e] != MAP_BASE;
		if (!n)
			continue;
		if (n > MAP_SPARSE_MAX) {
			dense = dense_new(m);
			if (!dense)
				goto nomem;
			for (; k < e; k++)
				atomic_init(&dense[idx[k] &
						   (MAP_LEAF_BLKS - 1)],
					    s->val[k]);
			atomic_init(&dir[l], (uintptr_t)dense);
			continue;
		}
		leaf = sparse_new(m, sparse_room(n, MAP_SPARSE_MAX),
				  MAP_SPARSE_MAX, NULL);
		if (!leaf)
			goto nomem;
		for (; k < e; k++) {
			if (s->val[k] == MAP_BASE)
				continue;
			leaf->val[leaf->n] = s->val[k];
			sparse_idx(leaf)[leaf->n++] =
				idx[k] & (MAP_LEAF_BLKS - 1);
		}
		atomic_init(&dir[l], (uintptr_t)leaf | MAP_SPARSE);
	}
	if (leaf_set(m, map_dir_leaf((uintptr_t)dir, blk), blk, val) < 0)
		goto nomem;
	atomic_store_explicit(gp, (uintptr_t)dir, memory_order_release);
	heap_free(m, s);
	return 0;
nomem:
	dir_free(m, dir, g);
	return -ENOMEM;
}

int map_init(struct cow_map *m, uint64_t nr_blks, uint64_t limit_blks,
	     struct cow_budget *budget)
{
	unsigned int i;

	m->nr_blks = nr_blks;
	m->nr_groups = (nr_blks + MAP_GROUP_BLKS - 1) / MAP_GROUP_BLKS;
	m->groups = calloc(m->nr_groups ? m->nr_groups : 1,
			   sizeof(*m->groups));
	if (!m->groups)
		return -ENOMEM;
	m->free_slots = NULL;
	m->nr_free = m->free_cap = 0;
	m->next_fresh = 0;
	m->limit_blks = limit_blks;
	atomic_init(&m->used_blks, 0);
	atomic_init(&m->peak_blks, 0);
	atomic_init(&m->map_bytes, (m->nr_groups ? m->nr_groups : 1) *
					   sizeof(*m->groups));
	m->budget = budget;
	m->redirects = 0;
	pthread_mutex_init(&m->alloc_lock, NULL);
	pthread_cond_init(&m->redirect_done, NULL);
	for (i = 0; i < MAP_LEAF_LOCKS; i++)
		pthread_mutex_init(&m->leaf_locks[i], NULL);
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
	for (i = 0; i < m->nr_groups; i++) {
		uintptr_t w = atomic_load(&m->groups[i]);

		if (w & MAP_SPARSE)
			free(untag(w));
		else if (w)
			dir_free(m, (_Atomic uintptr_t *)w, i);
	}
	free(m->groups);
	free(m->free_slots);
	for (i = 0; i < MAP_LEAF_LOCKS; i++)
		pthread_mutex_destroy(&m->leaf_locks[i]);
	pthread_cond_destroy(&m->redirect_done);
	pthread_mutex_destroy(&m->alloc_lock);
}

int map_set(struct cow_map *m, uint64_t blk, uint32_t val)
{
	_Atomic uintptr_t *gp = &m->groups[blk >> MAP_GROUP_SHIFT], *lp;
	uintptr_t w = atomic_load_explicit(gp, memory_order_acquire);
	pthread_mutex_t *lock;
	int rc = 0;

	if (!w && val == MAP_BASE)
		return 0; /* an absent group already reads MAP_BASE */
	if (!w || (w & MAP_SPARSE)) {
		lock = group_lock(m, blk);
		pthread_mutex_lock(lock);
		w = atomic_load_explicit(gp, memory_order_acquire);
		if (!w || (w & MAP_SPARSE)) {
			rc = sparse_put(m, gp, MAP_GROUP_SPARSE_MAX,
					blk & (MAP_GROUP_BLKS - 1), val);
			if (rc == 1)
				rc = group_to_dir(m, gp, blk, val);
			w = 0; /* done */
		}
		pthread_mutex_unlock(lock);
		if (!w)
			return rc;
		/* It became a directory meanwhile. */
	}
	lp = map_dir_leaf(w, blk);
	w = atomic_load_explicit(lp, memory_order_acquire);
	if (w && !(w & MAP_SPARSE)) {
		atomic_store_explicit(
			map_dense_entry(w, blk & (MAP_LEAF_BLKS - 1)), val,
			memory_order_release);
		return 0;
	}
	if (!w && val == MAP_BASE)
		return 0;
	lock = leaf_lock(m, blk);
	pthread_mutex_lock(lock);
	rc = leaf_set(m, lp, blk, val);
	pthread_mutex_unlock(lock);
	return rc;
}

/* ---- slots ---- */

/* nr slots off the free stack, then fresh ones. Under alloc_lock. */
static void take_slots(struct cow_map *m, unsigned int nr, uint32_t *slots_r)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		if (m->nr_free)
			slots_r[i] = m->free_slots[--m->nr_free];
		else
			slots_r[i] = (uint32_t)m->next_fresh++;
	}
}

int slots_alloc(struct cow_map *m, unsigned int nr, uint32_t *slots_r)
{
	uint64_t used;
	int rc = 0;

	if (nr == 0)
		return 0;
	pthread_mutex_lock(&m->alloc_lock);
	for (;;) {
		used = atomic_load_explicit(&m->used_blks,
					    memory_order_relaxed);
		if (nr > m->limit_blks - used) {
			rc = -ENOSPC;
			goto out;
		}
		if (nr <= m->limit_blks - used - m->redirects)
			break;
		/* It fits, but the last slots are out on redirects. */
		pthread_cond_wait(&m->redirect_done, &m->alloc_lock);
	}
	if (!budget_take(m->budget, nr)) {
		rc = -ENOSPC;
		goto out;
	}
	take_slots(m, nr, slots_r);
	atomic_store_explicit(&m->used_blks, used + nr, memory_order_relaxed);
out:
	pthread_mutex_unlock(&m->alloc_lock);
	return rc;
}

/* Make room on the free stack for n more slots. Under alloc_lock. */
static bool free_stack_reserve(struct cow_map *m, uint64_t n)
{
	uint64_t cap = m->free_cap ? m->free_cap : 1024;
	uint32_t *v;

	if (m->nr_free + n <= m->free_cap)
		return true;
	while (cap < m->nr_free + n)
		cap *= 2;
	v = realloc(m->free_slots, cap * sizeof(*v));
	if (!v)
		return false;
	m->free_slots = v;
	atomic_fetch_add_explicit(&m->map_bytes,
				  (cap - m->free_cap) * sizeof(*v),
				  memory_order_relaxed);
	m->free_cap = cap;
	return true;
}

int slots_alloc_redirect(struct cow_map *m, unsigned int nr,
			 uint32_t *slots_r)
{
	uint64_t used;
	int rc = -ENOSPC;

	if (nr == 0)
		return 0;
	pthread_mutex_lock(&m->alloc_lock);
	used = atomic_load_explicit(&m->used_blks, memory_order_relaxed);
	/* Room now, and room on the free stack for every slot coming back
	 * (each redirect out gives back exactly one). */
	if (m->limit_blks - used - m->redirects >= nr &&
	    free_stack_reserve(m, m->redirects + nr)) {
		take_slots(m, nr, slots_r);
		m->redirects += nr;
		rc = 0;
	}
	pthread_mutex_unlock(&m->alloc_lock);
	return rc;
}

static void redirect_end(struct cow_map *m, uint32_t slot)
{
	pthread_mutex_lock(&m->alloc_lock);
	/* Room was reserved when the redirect began. */
	m->free_slots[m->nr_free++] = slot;
	m->redirects--;
	pthread_cond_broadcast(&m->redirect_done);
	pthread_mutex_unlock(&m->alloc_lock);
}

void slot_redirect_done(struct cow_map *m, uint32_t old_slot)
{
	redirect_end(m, old_slot);
}

void slot_redirect_undo(struct cow_map *m, uint32_t new_slot)
{
	redirect_end(m, new_slot);
}

/*
 * The free stack is grown here on demand. Should that fail for memory, the
 * slot stays counted as used: a slot that cannot be handed out again must
 * keep its place, or next_fresh could run past the store's end.
 */
void slot_free(struct cow_map *m, uint32_t slot)
{
	pthread_mutex_lock(&m->alloc_lock);
	/* Keep the room promised to the redirects out. */
	if (!free_stack_reserve(m, m->redirects + 1)) {
		pthread_mutex_unlock(&m->alloc_lock);
		return;
	}
	m->free_slots[m->nr_free++] = slot;
	atomic_fetch_sub_explicit(&m->used_blks, 1, memory_order_relaxed);
	budget_give(m->budget, 1);
	pthread_cond_broadcast(&m->redirect_done);
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
