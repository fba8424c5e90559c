/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block map (cow/map.h) against a plain array:
 * - every entry reads back what was last set, through each leaf's life
 *   (absent, sparse and growing from either end or the middle, dense);
 *   setting MAP_BASE where nothing is set makes no leaf;
 * - a leaf is sparse until the sparse form would outgrow a page, then
 *   dense, and the map's memory stays within its promise: at most 6 bytes
 *   an entry and an eighth of room while sparse (plus the heap's header
 *   and rounding), a page when dense;
 * - readers without a lock, and writers of other blocks of the same
 *   leaves, in four threads, while leaves grow and turn dense: each
 *   reader sees for each block only values its writer set, never older
 *   than one it saw before.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "cow/map.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define LEAVES 6u
#define NBLKS (LEAVES * MAP_LEAF_BLKS - 100) /* the last leaf partial */

static uint32_t model[NBLKS];

static uintptr_t leaf_of(struct cow_map *m, uint64_t blk)
{
	return atomic_load(&m->leaves[blk >> MAP_LEAF_SHIFT]);
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

/* Entries set (not MAP_BASE) in leaf l of the model. */
static unsigned int model_count(unsigned int l)
{
	unsigned int i, n = 0;

	for (i = 0; i < MAP_LEAF_BLKS && l * MAP_LEAF_BLKS + i < NBLKS; i++)
		n += model[l * MAP_LEAF_BLKS + i] != MAP_BASE;
	return n;
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

	/* Nothing set: no leaf, and setting MAP_BASE makes none. */
	for (b = 0; b < NBLKS; b += 97)
		set_both(&m, b, MAP_BASE);
	for (l = 0; l < LEAVES; l++)
		CHECK(!leaf_of(&m, (uint64_t)l * MAP_LEAF_BLKS),
		      "leaf %u made by MAP_BASE", l);
	CHECK(atomic_load(&m.map_bytes) == ptrs, "map grew for MAP_BASE");

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
		set_both(&m, 5 * MAP_LEAF_BLKS +
				     rng_below(r, NBLKS - 5 * MAP_LEAF_BLKS),
			 some_val(r));
	}
	check_all(&m, "sparse");
	for (l = 0; l < LEAVES; l++)
		CHECK(leaf_of(&m, (uint64_t)l * MAP_LEAF_BLKS) &
			      MAP_LEAF_SPARSE,
		      "leaf %u with %u entries is not sparse", l,
		      model_count(l));
	/* The promise while sparse: 6 bytes an entry, an eighth more room,
	 * and per leaf the heap's header and rounding (32 bytes). */
	{
		uint64_t entries = 0, bound;

		for (l = 0; l < LEAVES; l++)
			entries += model_count(l);
		bound = ptrs + entries * 6 * 9 / 8 + LEAVES * (4 + 32);
		CHECK(atomic_load(&m.map_bytes) <= bound,
		      "%llu entries in sparse leaves take %llu bytes, more "
		      "than %llu",
		      (unsigned long long)entries,
		      (unsigned long long)atomic_load(&m.map_bytes),
		      (unsigned long long)bound);
	}

	/* Changing a set entry of a full sparse leaf keeps it sparse. */
	for (i = 0; i < 3 * MAP_LEAF_BLKS; i++)
		if (model[i] != MAP_BASE)
			set_both(&m, i, model[i] == MAP_ZERO ? MAP_SLOT0 + 7 :
							       MAP_ZERO);
	for (l = 0; l < 4; l++)
		CHECK(leaf_of(&m, (uint64_t)l * MAP_LEAF_BLKS) &
			      MAP_LEAF_SPARSE,
		      "leaf %u turned dense without a new entry", l);

	/* One more entry each: leaves 0 to 3 become pages. */
	for (l = 0; l < 4; l++) {
		for (i = 0; model[l * MAP_LEAF_BLKS + i] != MAP_BASE; i++)
			;
		set_both(&m, l * MAP_LEAF_BLKS + i, MAP_ZERO);
		CHECK(!(leaf_of(&m, (uint64_t)l * MAP_LEAF_BLKS) &
			MAP_LEAF_SPARSE),
		      "leaf %u with %u entries is still sparse", l,
		      model_count(l));
	}
	check_all(&m, "dense");

	/* Random churn over everything, MAP_BASE included. */
	for (round = 0; round < 20000; round++) {
		b = rng_below(r, NBLKS);
		set_both(&m, b, rng_below(r, 3) ? some_val(r) : MAP_BASE);
	}
	check_all(&m, "churn");
	map_fini(&m);
}

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
	for (l = 0; l < LEAVES; l++)
		CHECK(!(leaf_of(&sh.m, l * MAP_LEAF_BLKS) & MAP_LEAF_SPARSE),
		      "leaf %llu full and still sparse",
		      (unsigned long long)l);
	map_fini(&sh.m);
}

int main(void)
{
	struct rng r = { test_seed("test-map") };

	test_against_model(&r);
	test_concurrent(&r);
	printf("test-map: ok\n");
	return 0;
}
