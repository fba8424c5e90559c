/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A view from a plan and its descriptors (backend/view.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/view.h"
#include "cow/store.h"
#include "crypto/key.h"

static int plan_ok(const struct wire_plan *p, int base_fd, int scratch_fd,
		   char *err, size_t err_len)
{
	bool wants_base = p->kind != COW_KIND_BLANK;
	bool wants_overlay = p->kind != COW_KIND_READONLY;

	if (p->kind > COW_KIND_READONLY || p->store > WIRE_STORE_XTS ||
	    (base_fd >= 0) != wants_base ||
	    (p->store != WIRE_STORE_NONE) != wants_overlay ||
	    (scratch_fd >= 0) != (p->store == WIRE_STORE_XTS) ||
	    (wants_overlay && (!p->overlay_blks || !p->limit_blks ||
			       p->overlay_blks > COW_MAX_OVERLAY_BLKS)) ||
	    (!wants_base && !p->size_sectors)) {
		snprintf(err, err_len, "a plan that does not hold together");
		return -EINVAL;
	}
	return 0;
}

int view_build(const struct wire_plan *plan, int base_fd, int scratch_fd,
	       struct cow_budget *budget, struct cow **cow_r, char *err,
	       size_t err_len)
{
	struct cow_params p = { .kind = (enum cow_kind)plan->kind,
				.budget = budget };
	struct store *lower = NULL;
	struct key *key = NULL;
	int rc;

	rc = plan_ok(plan, base_fd, scratch_fd, err, err_len);
	if (rc)
		goto fail;
	if (base_fd >= 0) {
		rc = store_base_open_fd(base_fd, &p.base, &p.base_bytes);
		base_fd = -1;
		if (rc) {
			snprintf(err, err_len, "base: %s", strerror(-rc));
			goto fail;
		}
		if (p.base_bytes != plan->base_bytes) {
			snprintf(err, err_len,
				 "base: %llu bytes, not the %llu it had when "
				 "it was opened",
				 (unsigned long long)p.base_bytes,
				 (unsigned long long)plan->base_bytes);
			rc = -EIO;
			goto fail;
		}
	} else {
		p.size_sectors = plan->size_sectors;
	}
	if (plan->store == WIRE_STORE_RAM) {
		rc = store_ram_new(plan->overlay_blks, &p.overlay);
		if (rc) {
			snprintf(err, err_len,
				 "overlay in RAM (%llu MiB): cannot reserve the "
				 "address space: %s",
				 (unsigned long long)(plan->overlay_blks >> 8),
				 strerror(-rc));
			goto fail;
		}
	} else if (plan->store == WIRE_STORE_XTS) {
		rc = store_file_new_fd(scratch_fd, plan->overlay_blks, &lower);
		if (!rc)
			scratch_fd = -1; /* the store's now */
		if (rc) {
			snprintf(err, err_len, "scratch: %s", strerror(-rc));
			goto fail;
		}
		rc = key_new_random(&key);
		if (rc) {
			snprintf(err, err_len, "key: %s", strerror(-rc));
			goto fail;
		}
		rc = store_xts_new(lower, key, &p.overlay); /* owns both if 0 */
		if (rc) {
			snprintf(err, err_len, "xts: %s", strerror(-rc));
			goto fail;
		}
		lower = NULL;
		key = NULL;
	}
	p.limit_blks = plan->limit_blks;
	rc = cow_new(&p, cow_r); /* owns the stores from here, even on error */
	if (rc)
		snprintf(err, err_len, "cannot build the disk's block map: %s",
			 strerror(-rc));
	return rc;
fail:
	if (base_fd >= 0)
		close(base_fd);
	if (scratch_fd >= 0)
		close(scratch_fd);
	store_destroy(lower);
	key_free(key);
	store_destroy(p.base);
	store_destroy(p.overlay);
	return rc;
}
