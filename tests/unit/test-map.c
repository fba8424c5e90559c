/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block map (cow/map.h) against a plain array:
 * - every entry reads back what was last set, through each group's and
 *   leaf's life (absent; a sparse group; a directory whose leaves are
 *   absent, sparse and growing from either end or the middle, or dense,
 *   one of them dense as the directory is made); setting MAP_BASE where
 *   nothing is set makes nothing;
 * - a group is sparse until it holds MAP_GROUP_SPARSE_MAX entries and one
 *   more makes it a directory; a leaf is sparse until the sparse form
 *   would outgrow a page, then dense; the map's memory stays within its
 *   promise: at most 6 bytes an entry and an eighth of room while sparse
 *   (plus the heap's header and rounding), a page when dense, a pointer a
 *   leaf for a directory;
 * - an allocation that fails while a group becomes a directory, or a leaf
 *   dense, changes nothing (each allocation of it in turn; not in a
 *   sanitizer's build, whose allocator this test cannot stand in for);
 * - readers without a lock, and writers of other blocks of the same
 *   groups and leaves, in four threads, while groups become directories
 *   and leaves grow and turn dense: each reader sees for each block only
 *   values its writer set, never older than one it saw before.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "cow/map.h"
#include "tests/check.h"
#include "tests/testlib.h"

/* Group 0 whole (64 leaves), group 1 six leaves, the last partial. */
#define LEAVES (MAP_GROUP_LEAVES + 6u)
#define NBLKS (LEAVES * MAP_LEAF_BLKS - 100)
#define G1 ((uint64_t)MAP_GROUP_BLKS) /* group 1's first block */

static uint32_t model[NBLKS];

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FAIL_INJECT 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FAIL_INJECT 0
#endif
#endif
#ifndef FAIL_INJECT
#define FAIL_INJECT 1
#endif

#if FAIL_INJECT
/* The map's allocations (malloc, calloc) fail at the fail_at'th from now
 * (0: never). Only this test's one thread allocates while it is set. */
static int fail_at;

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);

static bool fail_now(void)
{
	if (fail_at > 0 && --fail_at == 0) {
		errno = ENOMEM;
		return true;
	}
	return false;
}

void *malloc(size_t n)
{
	return fail_now() ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : __libc_calloc(n, size);
}
#endif

static uintptr_t group_of(struct cow_map *m, uint64_t blk)
{
	return atomic_load(&m->groups[blk >> MAP_GROUP_SHIFT]);
}

static bool is_dir(struct cow_map *m, uint64_t blk)
{
	uintptr_t w = group_of(m, blk);

	return w && !(w & MAP_SPARSE);
}

/* blk's leaf in its group's directory (0 if the group is not one). */
static uintptr_t leaf_of(struct cow_map *m, uint64_t blk)
{
	return is_dir(m, blk) ? atomic_load(map_dir_leaf(group_of(m, blk), blk))
			      : 0;
}

static void set_both(struct cow_map *m, uint64_t blk, uint32_t val)
{
	CHECK_OK(map_set(m, blk, val));
	model[blk] = val;
	CHECK(map_get(m, blk) == val, "blk %llu: %u after setting %u",
	      (unsigned long long)blk, map_get(m, blk), val);
}

static void check_all(struct cow_map *m, const char *when)
{
	uint64_t b;

	for (b = 0; b < NBLKS; b++)
		CHECK(map_get(m, b) == model[b], "%s: blk %llu reads %u, set %u",
		      when, (unsigned long long)b, map_get(m, b), model[b]);
}

/* Entries set (not MAP_BASE) in the model's blocks [first, first + n). */
static unsigned int model_range(uint64_t first, uint64_t n)
{
	unsigned int c = 0;
	uint64_t b;

	for (b = first; b < first + n && b < NBLKS; b++)
		c += model[b] != MAP_BASE;
	return c;
}

static unsigned int model_count(unsigned int l)
{
	return model_range((uint64_t)l * MAP_LEAF_BLKS, MAP_LEAF_BLKS);
}

/* The promise: 6 bytes an entry and an eighth more room (at least 2) in
 * each sparse form, which costs the heap's header and rounding (32 bytes)
 * and its own 4; a page a dense leaf; a pointer a leaf of a directory. */
static void check_bytes(struct cow_map *m, uint64_t ptrs, const char *when)
{
	uint64_t bound = ptrs, g, l, n;
	uintptr_t w;

	for (g = 0; g * MAP_GROUP_BLKS < NBLKS; g++) {
		w = group_of(m, g * MAP_GROUP_BLKS);
		if (w & MAP_SPARSE) {
			n = model_range(g * MAP_GROUP_BLKS, MAP_GROUP_BLKS);
			bound += n * 6 * 9 / 8 + 12 + 4 + 32;
			continue;
		}
		if (!w)
			continue;
		bound += MAP_GROUP_LEAVES * sizeof(uintptr_t) + 32;
		for (l = g * MAP_GROUP_LEAVES;
		     l < (g + 1) * MAP_GROUP_LEAVES && l < LEAVES; l++) {
			w = leaf_of(m, l * MAP_LEAF_BLKS);
			if (w & MAP_SPARSE)
				bound += model_count((unsigned int)l) * 6 * 9 /
						 8 + 12 + 4 + 32;
			else if (w)
				bound += MAP_LEAF_BLKS * 4 + 32;
		}
	}
	CHECK(atomic_load(&m->map_bytes) <= bound,
	      "%s: the map takes %llu bytes, more than %llu", when,
	      (unsigned long long)atomic_load(&m->map_bytes),
	      (unsigned long long)bound);
}

static uint32_t some_val(struct rng *r)
{
	switch (rng_below(r, 4)) {
	case 0:
		return MAP_ZERO;
	case 1:
		return MAP_SLOT0;
	default:
		return MAP_SLOT0 + (uint32_t)rng_below(r, UINT32_MAX - MAP_SLOT0);
	}
}

static void test_against_model(struct rng *r)
{
	struct cow_map m;
	uint64_t ptrs, b;
	unsigned int l, i, round;

	memset(model, 0, sizeof(model));
	CHECK_OK(map_init(&m, NBLKS, 0, NULL));
	ptrs = atomic_load(&m.map_bytes);
	CHECK(ptrs == 2 * sizeof(uintptr_t), "an empty map of two groups "
	      "takes %llu bytes", (unsigned long long)ptrs);

	/* Nothing set: nothing made, and setting MAP_BASE makes nothing. */
	for (b = 0; b < NBLKS; b += 97)
		set_both(&m, b, MAP_BASE);
	CHECK(!group_of(&m, 0) && !group_of(&m, G1), "a group made by "
	      "MAP_BASE");
	CHECK(atomic_load(&m.map_bytes) == ptrs, "map grew for MAP_BASE");

	/* Group 1: five entries a leaf. Group 0: entries at random in its
	 * leaves 8 to 63, up to as many as a sparse group holds. */
	for (l = MAP_GROUP_LEAVES; l < LEAVES; l++)
		for (i = 0; i < 5; i++)
			set_both(&m, (uint64_t)l * MAP_LEAF_BLKS +
					     rng_below(r, l == LEAVES - 1 ?
							  MAP_LEAF_BLKS - 100 :
							  MAP_LEAF_BLKS),
				 some_val(r));
	while (model_range(0, MAP_GROUP_BLKS) < MAP_GROUP_SPARSE_MAX)
		set_both(&m, 8 * MAP_LEAF_BLKS +
				     rng_below(r, MAP_GROUP_BLKS -
							  8 * MAP_LEAF_BLKS),
			 some_val(r));
	check_all(&m, "sparse groups");
	CHECK((group_of(&m, 0) & MAP_SPARSE) && (group_of(&m, G1) & MAP_SPARSE),
	      "a group with %u entries is not sparse",
	      model_range(0, MAP_GROUP_BLKS));
	check_bytes(&m, ptrs, "sparse groups");

	/* Changing a set entry of a full sparse group keeps it sparse. */
	for (b = 0; b < MAP_GROUP_BLKS; b++)
		if (model[b] != MAP_BASE)
			set_both(&m, b, model[b] == MAP_ZERO ? MAP_SLOT0 + 7 :
							       MAP_ZERO);
	CHECK(group_of(&m, 0) & MAP_SPARSE,
	      "group 0 a directory without a new entry");

	/* One more: a directory of sparse leaves, the first 8 absent. */
	do
		b = 8 * MAP_LEAF_BLKS +
		    rng_below(r, MAP_GROUP_BLKS - 8 * MAP_LEAF_BLKS);
	while (model[b] != MAP_BASE);
	set_both(&m, b, MAP_SLOT0 + 9);
	CHECK(is_dir(&m, 0), "group 0 with %u entries is not a directory",
	      model_range(0, MAP_GROUP_BLKS));
	for (l = 0; l < MAP_GROUP_LEAVES; l++)
		CHECK(model_count(l) ?
			      (leaf_of(&m, (uint64_t)l * MAP_LEAF_BLKS) &
			       MAP_SPARSE) :
			      !leaf_of(&m, (uint64_t)l * MAP_LEAF_BLKS),
		      "leaf %u with %u entries: %#lx", l, model_count(l),
		      (unsigned long)leaf_of(&m, (uint64_t)l * MAP_LEAF_BLKS));
	check_all(&m, "directory");
	check_bytes(&m, ptrs, "directory");

	/* Leaf 0 ascending, leaf 1 descending, leaf 2 from the middle out,
	 * leaf 3 at random, each to one entry short of dense and then one
	 * more; leaves 4 and 5 a few random entries. */
	for (i = 0; i < MAP_SPARSE_MAX; i++) {
		set_both(&m, i, some_val(r));
		set_both(&m, 2 * MAP_LEAF_BLKS - 1 - i, some_val(r));
		set_both(&m, 2 * MAP_LEAF_BLKS + MAP_LEAF_BLKS / 2 +
				     (i % 2 ? -(int)(i / 2) - 1 : (int)(i / 2)),
			 some_val(r));
	}
	while (model_count(3) < MAP_SPARSE_MAX)
		set_both(&m, 3 * MAP_LEAF_BLKS + rng_below(r, MAP_LEAF_BLKS),
			 some_val(r));
	for (i = 0; i < 5; i++) {
		set_both(&m, 4 * MAP_LEAF_BLKS + rng_below(r, MAP_LEAF_BLKS),
			 some_val(r));
		set_both(&m, 5 * MAP_LEAF_BLKS + rng_below(r, MAP_LEAF_BLKS),
			 some_val(r));
	}
	check_all(&m, "sparse leaves");
	for (l = 0; l < 6; l++)
		CHECK(leaf_of(&m, (uint64_t)l * MAP_LEAF_BLKS) & MAP_SPARSE,
		      "leaf %u with %u entries is not sparse", l,
		      model_count(l));
	check_bytes(&m, ptrs, "sparse leaves");

	/* Changing a set entry of a full sparse leaf keeps it sparse. */
	for (b = 0; b < 4 * MAP_LEAF_BLKS; b++)
		if (model[b] != MAP_BASE)
			set_both(&m, b, model[b] == MAP_ZERO ? MAP_SLOT0 + 7 :
							       MAP_ZERO);
	for (l = 0; l < 4; l++)
		CHECK(leaf_of(&m, (uint64_t)l * MAP_LEAF_BLKS) & MAP_SPARSE,
		      "leaf %u turned dense without a new entry", l);

	/* One more entry each: leaves 0 to 3 become pages. */
	for (l = 0; l < 4; l++) {
		for (i = 0; model[l * MAP_LEAF_BLKS + i] != MAP_BASE; i++)
			;
		set_both(&m, l * MAP_LEAF_BLKS + i, MAP_ZERO);
		b = leaf_of(&m, (uint64_t)l * MAP_LEAF_BLKS);
		CHECK(b && !(b & MAP_SPARSE),
		      "leaf %u with %u entries is still sparse", l,
		      model_count(l));
	}
	check_all(&m, "dense leaves");
	check_bytes(&m, ptrs, "dense leaves");

	/* Group 1: its first leaf whole, a few entries set back to
	 * MAP_BASE, then more until the group is full and one more: a
	 * directory whose first leaf is dense from the start and whose
	 * MAP_BASE entries are gone. */
	for (b = G1; b < G1 + MAP_LEAF_BLKS; b++)
		set_both(&m, b, some_val(r));
	for (i = 0; i < 10; i++)
		set_both(&m, G1 + MAP_LEAF_BLKS + 17 * i, MAP_SLOT0 + i);
	for (i = 0; i < 10; i++)
		set_both(&m, G1 + MAP_LEAF_BLKS + 17 * i, MAP_BASE);
	while (model_range(G1, MAP_GROUP_BLKS) < MAP_GROUP_SPARSE_MAX - 10)
		set_both(&m, G1 + MAP_LEAF_BLKS + rng_below(r, NBLKS - G1 -
							      MAP_LEAF_BLKS),
			 some_val(r));
	CHECK(group_of(&m, G1) & MAP_SPARSE,
	      "group 1 with %u entries (and 10 set back) is not sparse",
	      model_range(G1, MAP_GROUP_BLKS));
	while (!is_dir(&m, G1))
		set_both(&m, G1 + MAP_LEAF_BLKS + rng_below(r, NBLKS - G1 -
							      MAP_LEAF_BLKS),
			 some_val(r));
	CHECK(model_range(G1, MAP_GROUP_BLKS) > MAP_GROUP_SPARSE_MAX - 10,
	      "group 1 a directory at %u entries",
	      model_range(G1, MAP_GROUP_BLKS));
	b = leaf_of(&m, G1);
	CHECK(b && !(b & MAP_SPARSE), "group 1's full first leaf is not dense");
	check_all(&m, "group 1 a directory");
	check_bytes(&m, ptrs, "group 1 a directory");

	/* Random churn over everything, MAP_BASE included. */
	for (round = 0; round < 40000; round++) {
		b = rng_below(r, NBLKS);
		set_both(&m, b, rng_below(r, 3) ? some_val(r) : MAP_BASE);
	}
	check_all(&m, "churn");
	map_fini(&m);
}

#if FAIL_INJECT
/* map_set(blk, val), blk new, with the k'th allocation failing for k = 1,
 * 2, ... until it needs fewer: each failure -ENOMEM and the map exactly as
 * before (its entries and its bytes). How many allocations it took. */
static int set_failing(struct cow_map *m, uint64_t blk, uint32_t val)
{
	uint64_t bytes = atomic_load(&m->map_bytes);
	int k, rc;

	for (k = 1;; k++) {
		fail_at = k;
		rc = map_set(m, blk, val);
		fail_at = 0;
		if (!rc)
			break;
		CHECK(rc == -ENOMEM, "map_set: %d", rc);
		CHECK(atomic_load(&m->map_bytes) == bytes,
		      "allocation %d failed: %llu bytes, %llu before", k,
		      (unsigned long long)atomic_load(&m->map_bytes),
		      (unsigned long long)bytes);
		check_all(m, "after a failed allocation");
	}
	model[blk] = val;
	check_all(m, "after the allocations went through");
	return k - 1;
}

static void test_nomem(void)
{
	struct cow_map m;
	unsigned int l;
	uint64_t b;
	int n;

	memset(model, 0, sizeof(model));
	CHECK_OK(map_init(&m, NBLKS, 0, NULL));
	/* Group 0 full: its leaf 0 whole (dense once a directory), the rest
	 * spread over leaves 8 to 63. */
	for (b = 0; b < MAP_LEAF_BLKS; b++)
		set_both(&m, b, MAP_SLOT0 + (uint32_t)b);
	for (b = 8 * MAP_LEAF_BLKS;
	     model_range(0, MAP_GROUP_BLKS) < MAP_GROUP_SPARSE_MAX; b += 29)
		set_both(&m, b, MAP_SLOT0 + (uint32_t)b);
	CHECK(group_of(&m, 0) & MAP_SPARSE, "group 0 is not sparse");
	n = set_failing(&m, 5 * MAP_LEAF_BLKS + 3, MAP_ZERO);
	/* One each: the directory, and every leaf with entries. */
	for (b = 0, l = 0; l < MAP_GROUP_LEAVES; l++)
		b += model_count(l) > 0;
	CHECK(is_dir(&m, 0) && n == (int)b + 1,
	      "group 0 a directory of %llu leaves after %d allocations",
	      (unsigned long long)b, n);
	/* A sparse leaf one entry short of dense, then one more. */
	for (b = 5 * MAP_LEAF_BLKS; model_count(5) < MAP_SPARSE_MAX; b++)
		if (model[b] == MAP_BASE)
			set_both(&m, b, MAP_SLOT0 + (uint32_t)b);
	n = set_failing(&m, b, MAP_ZERO);
	b = leaf_of(&m, 5 * MAP_LEAF_BLKS);
	CHECK(b && !(b & MAP_SPARSE) && n == 1,
	      "leaf 5 dense after %d allocations", n);
	/* A sparse group's first entry, and one that grows it. */
	n = set_failing(&m, G1 + 5, MAP_ZERO);
	CHECK((group_of(&m, G1) & MAP_SPARSE) && n == 1,
	      "group 1 sparse after %d allocations", n);
	for (b = G1 + 6; model_range(G1, MAP_GROUP_BLKS) < 3; b++)
		set_both(&m, b, MAP_ZERO);
	n = set_failing(&m, b, MAP_ZERO);
	CHECK(n == 1, "group 1 grew with %d allocations", n);
	map_fini(&m);
}
#endif

/* ---- concurrency ---- */

#define WRITERS 4u
#define ROUNDS 6u

struct shared {
	struct cow_map m;
	atomic_uint writers_done;
	uint64_t seed;
};

/* Writer w owns the blocks b with b % WRITERS == w and sets each, in a
 * random order, to versions 1..ROUNDS: MAP_SLOT0 + (b << 4 | version). */
static void *writer(void *arg_)
{
	struct shared *sh = arg_;
	static atomic_uint next_id;
	unsigned int w = atomic_fetch_add(&next_id, 1) % WRITERS, v;
	struct rng r = { sh->seed + w };
	uint64_t *order, n = 0, i, j, t;

	order = malloc(sizeof(*order) * (NBLKS / WRITERS + 1));
	CHECK(order, "out of memory");
	for (i = w; i < NBLKS; i += WRITERS)
		order[n++] = i;
	for (v = 1; v <= ROUNDS; v++) {
		for (i = n - 1; i > 0; i--) {
			j = rng_below(&r, i + 1);
			t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		/* Round 1 sets only some blocks, so leaves stay sparse for
		 * a while and then grow and turn dense under the readers. */
		for (i = 0; i < (v == 1 ? n / 8 : n); i++)
			CHECK_OK(map_set(&sh->m, order[i],
					 MAP_SLOT0 + (uint32_t)(order[i] << 4 | v)));
	}
	free(order);
	atomic_fetch_add(&sh->writers_done, 1);
	return NULL;
}

static void *reader(void *arg_)
{
	struct shared *sh = arg_;
	unsigned char *seen = calloc(NBLKS, 1);
	uint64_t b;
	uint32_t val, v;
	bool last;

	CHECK(seen, "out of memory");
	do {
		/* The pass that starts after the writers ended is the last. */
		last = atomic_load(&sh->writers_done) == WRITERS;
		for (b = 0; b < NBLKS; b++) {
			val = map_get(&sh->m, b);
			if (val == MAP_BASE) {
				CHECK(!seen[b], "blk %llu back to MAP_BASE",
				      (unsigned long long)b);
				continue;
			}
			CHECK(val >= MAP_SLOT0 &&
				      (val - MAP_SLOT0) >> 4 == b,
			      "blk %llu reads %u: another block's value",
			      (unsigned long long)b, val);
			v = (val - MAP_SLOT0) & 15;
			CHECK(v >= 1 && v <= ROUNDS && v >= seen[b],
			      "blk %llu: version %u after %u",
			      (unsigned long long)b, v, seen[b]);
			seen[b] = (unsigned char)v;
		}
	} while (!last);
	for (b = 0; b < NBLKS; b++)
		CHECK(seen[b] == ROUNDS, "blk %llu last read version %u",
		      (unsigned long long)b, seen[b]);
	free(seen);
	return NULL;
}

static void test_concurrent(struct rng *r)
{
	struct shared sh = { .seed = rng_next(r) };
	pthread_t w[WRITERS], rd[2];
	unsigned int i;
	uint64_t l;

	CHECK_OK(map_init(&sh.m, NBLKS, 0, NULL));
	atomic_init(&sh.writers_done, 0);
	for (i = 0; i < 2; i++)
		CHECK_OK(pthread_create(&rd[i], NULL, reader, &sh));
	for (i = 0; i < WRITERS; i++)
		CHECK_OK(pthread_create(&w[i], NULL, writer, &sh));
	for (i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	for (i = 0; i < 2; i++)
		pthread_join(rd[i], NULL);
	for (l = 0; l < LEAVES; l++) {
		uintptr_t lw = leaf_of(&sh.m, l * MAP_LEAF_BLKS);

		CHECK(lw && !(lw & MAP_SPARSE),
		      "leaf %llu full and not a dense leaf of a directory",
		      (unsigned long long)l);
	}
	map_fini(&sh.m);
}

int main(void)
{
	struct rng r = { test_seed("test-map") };

	test_against_model(&r);
#if FAIL_INJECT
	test_nomem();
#else
	printf("test-map: allocation failures not tried (a sanitizer's "
	       "allocator)\n");
#endif
	test_concurrent(&r);
	printf("test-map: ok\n");
	return 0;
}
