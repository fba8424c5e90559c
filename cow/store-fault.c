/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault-injecting store, for tests.
 *
 * What it owns: the lower store (destroyed with it) and, per op, a call
 * counter and one armed fault: "the call numbered target fails with err,
 * and every later one too if sticky".
 *
 * Invariants: a call that fails here never reaches lower, so an injected
 * failure has no partial effect. Counting and the fault check happen under
 * one mutex so that exactly the nth call fails even when threads race.
 * direct() is NULL, so every write goes through write() and can be failed.
 *
 * What it deliberately does not do: corrupt data or fail halfway through a
 * multi-slot call (a store has no such failure mode we rely on).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "cow/store-local.h"

#define FAULT_NR_OPS 4

struct fault_arm {
	uint64_t calls; /* calls seen so far */
	uint64_t target; /* call number that fails; 0: disarmed */
	int err;
	bool sticky;
};

struct fault_store {
	struct store s;
	struct store *lower;
	pthread_mutex_t lock;
	struct fault_arm arm[FAULT_NR_OPS];
};

static struct fault_store *to_fault(struct store *s)
{
	return (struct fault_store *)s;
}

/* Count one call of op; return the error to inject, or 0 to pass it on. */
static int fault_hit(struct store *s, enum store_fault_op op)
{
	struct fault_store *f = to_fault(s);
	struct fault_arm *a = &f->arm[op];
	int err = 0;

	pthread_mutex_lock(&f->lock);
	a->calls++;
	if (a->target &&
	    (a->calls == a->target || (a->sticky && a->calls > a->target)))
		err = a->err;
	pthread_mutex_unlock(&f->lock);
	return err;
}

static int fault_read(struct store *s, void *buf, uint64_t slot, uint32_t nr)
{
	int err = fault_hit(s, STORE_FAULT_READ);

	return err ? err : store_read(to_fault(s)->lower, buf, slot, nr);
}

static int fault_write(struct store *s, const void *buf, uint64_t slot,
		       uint32_t nr)
{
	int err = fault_hit(s, STORE_FAULT_WRITE);

	return err ? err : store_write(to_fault(s)->lower, buf, slot, nr);
}

static int fault_discard(struct store *s, uint64_t slot, uint32_t nr)
{
	int err = fault_hit(s, STORE_FAULT_DISCARD);

	return err ? err : store_discard(to_fault(s)->lower, slot, nr);
}

static int fault_flush(struct store *s)
{
	int err = fault_hit(s, STORE_FAULT_FLUSH);

	return err ? err : store_flush(to_fault(s)->lower);
}

static void fault_destroy(struct store *s)
{
	struct fault_store *f = to_fault(s);

	store_destroy(f->lower);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static const struct store_ops fault_ops = {
	.name = "fault",
	.read = fault_read,
	.write = fault_write,
	.discard = fault_discard,
	.flush = fault_flush,
	.direct = NULL,
	.destroy = fault_destroy,
};

/* On failure lower stays the caller's. */
int store_fault_new(struct store *lower, struct store **store_r)
{
	struct fault_store *f;

	if (!lower)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->s.ops = &fault_ops;
	f->s.nr_blks = lower->nr_blks;
	f->lower = lower;
	pthread_mutex_init(&f->lock, NULL);
	*store_r = &f->s;
	return 0;
}

void store_fault_set(struct store *s, enum store_fault_op op, uint64_t nth,
		     int err, bool sticky)
{
	struct fault_store *f = to_fault(s);
	struct fault_arm *a;

	if ((unsigned int)op >= FAULT_NR_OPS)
		return;
	a = &f->arm[op];
	pthread_mutex_lock(&f->lock);
	a->target = nth ? a->calls + nth : 0;
	a->err = err;
	a->sticky = sticky;
	pthread_mutex_unlock(&f->lock);
}

uint64_t store_fault_count(struct store *s, enum store_fault_op op)
{
	struct fault_store *f = to_fault(s);
	uint64_t n;

	if ((unsigned int)op >= FAULT_NR_OPS)
		return 0;
	pthread_mutex_lock(&f->lock);
	n = f->arm[op].calls;
	pthread_mutex_unlock(&f->lock);
	return n;
}
