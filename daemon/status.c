/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's status as JSON (daemon/status.h). Nothing secret goes in:
 * no key, no guest data; the disk spec is what the guest can read in its
 * backend directory anyway.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>

#include "daemon/status.h"

/* s as the inside of a JSON string: quotes, backslashes and control
 * characters escaped (an error message may quote a path). */
static void json_string(struct control_out *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			control_printf(b, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			control_printf(b, "\\u%04x", ch);
		else
			control_printf(b, "%c", ch);
	}
}

static void json_field(struct control_out *b, const char *key, const char *s)
{
	control_printf(b, "\"%s\": \"", key);
	json_string(b, s);
	control_printf(b, "\"");
}

static const char *disk_state_name(enum disk_state st)
{
	switch (st) {
	case DISK_OPENING:
		return "opening";
	case DISK_OPEN:
		return "open";
	default:
		return "failed";
	}
}

static const char *kind_name(enum diskspec_kind k)
{
	return k == DISKSPEC_COW ? "cow" : k == DISKSPEC_BLANK ? "blank" : "ro";
}

/* One blkif device: the fields a disk's attachment and an unattached
 * device share. */
static void dev_fields(struct control_out *b, const struct xenbus_dev_info *i)
{
	control_printf(b,
		       "\"kind\": \"%s\", \"domid\": %u, \"devid\": %u, "
		       "\"role\": \"%s\", ",
		       i->kind, i->domid, i->devid,
		       i->role == XENBUS_ROLE_STUBDOM ? "stubdom" : "guest");
	json_field(b, "vdev", i->vdev);
	control_printf(b, ", \"state\": %d, \"frontend_state\": %d", i->be_state,
		       i->fe_state);
}

struct walk {
	struct control_out *b;
	bool first;
};

static void one_disk(const struct xenbus_disk_info *d, void *arg)
{
	struct walk *w = arg;
	struct control_out *b = w->b;
	const struct cow_stats *c = &d->cow;
	unsigned int i;

	control_printf(b, "%s\n  {\"owner\": %u, \"devid\": %u, ",
		       w->first ? "" : ",", d->owner, d->devid);
	json_field(b, "vdev", d->vdev);
	control_printf(b,
		       ", \"disk_kind\": \"%s\", \"store\": \"%s\", "
		       "\"read_only\": %s, \"disk_state\": \"%s\", ",
		       kind_name(d->kind),
		       d->store == DISKSPEC_STORE_XTS ? "xts" : "ram",
		       d->read_only ? "true" : "false",
		       disk_state_name(d->state));
	json_field(b, "spec", d->spec);
	if (d->error[0]) {
		control_printf(b, ", ");
		json_field(b, "error", d->error);
	}
	control_printf(b,
		       ", \"size_bytes\": %" PRIu64
		       ", \"overlay_used_bytes\": %" PRIu64
		       ", \"overlay_peak_bytes\": %" PRIu64
		       ", \"overlay_limit_bytes\": %" PRIu64,
		       c->size_sectors * 512, c->used_bytes,
		       c->peak_blks * STORE_BLK_BYTES,
		       c->limit_blks * STORE_BLK_BYTES);
	control_printf(b,
		       ", \"read_reqs\": %" PRIu64 ", \"write_reqs\": %" PRIu64
		       ", \"read_bytes\": %" PRIu64 ", \"write_bytes\": %" PRIu64
		       ", \"flush_reqs\": %" PRIu64 ", \"discard_reqs\": %" PRIu64
		       ", \"io_errors\": %" PRIu64
		       ", \"enospc_errors\": %" PRIu64,
		       c->rd_reqs, c->wr_reqs, c->rd_sectors * 512,
		       c->wr_sectors * 512, c->flush_reqs, c->discard_reqs,
		       c->errors + c->enospc, c->enospc);
	if (d->nbd_path[0]) {
		control_printf(b, ", ");
		json_field(b, "nbd_socket", d->nbd_path);
	}
	control_printf(b,
		       ", \"paused\": %s, \"overlay_capacity_bytes\": %" PRIu64,
		       d->paused ? "true" : "false", d->capacity_bytes);
	control_printf(b, ", \"nbd_clients\": %u, \"attachments\": [",
		       d->nbd_clients);
	for (i = 0; i < d->nr_devs; i++) {
		const struct xenbus_dev_info *a = &d->devs[i];

		control_printf(b, "%s{\"type\": \"blkif\", ", i ? ", " : "");
		dev_fields(b, a);
		control_printf(b,
			       ", \"queues\": %u, \"indirect_reqs\": %" PRIu64
			       ", \"bad_reqs\": %" PRIu64
			       ", \"unsupported_reqs\": %" PRIu64
			       ", \"grant_errors\": %" PRIu64
			       ", \"halted\": %s}",
			       a->nr_rings, a->ring.indirect_req,
			       a->ring.bad_req, a->ring.unsupported,
			       a->ring.grant_err,
			       a->ring.halted ? "true" : "false");
	}
	if (d->nbd_clients)
		control_printf(b, "%s{\"type\": \"nbd\", \"clients\": %u}",
			       d->nr_devs ? ", " : "", d->nbd_clients);
	control_printf(b, "]}");
	w->first = false;
}

static void one_unattached(const struct xenbus_dev_info *i, void *arg)
{
	struct walk *w = arg;

	if (i->has_disk)
		return; /* listed with its disk */
	control_printf(w->b, "%s\n  {", w->first ? "" : ",");
	dev_fields(w->b, i);
	if (i->error[0]) {
		control_printf(w->b, ", ");
		json_field(w->b, "error", i->error);
	}
	control_printf(w->b, "}");
	w->first = false;
}

static void one_saved(const char *uuid, void *arg)
{
	struct walk *w = arg;

	control_printf(w->b, "%s\"%s\"", w->first ? "" : ", ", uuid);
	w->first = false;
}

void status_json(struct control_out *out, const struct status_source *s)
{
	struct walk w = { out, true };

	control_printf(out, "{\"version\": %d,\n \"disks\": [", STATUS_VERSION);
	s->disks(s->src, one_disk, &w);
	control_printf(out, "\n ],\n \"unattached\": [");
	w.first = true;
	s->devices(s->src, one_unattached, &w);
	control_printf(out, "\n ],\n \"saved_domains\": [");
	w.first = true;
	if (s->saved)
		s->saved(s->src, one_saved, &w);
	control_printf(out, "]}\n");
}
