/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's status as JSON (daemon/status.h). */
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

struct status_ctx {
	struct control_out *b;
	bool first;
};

static void one_dev(const struct xenbus_dev_info *i, void *arg)
{
	struct status_ctx *c = arg;
	struct control_out *b = c->b;

	control_printf(b, "%s\n  {\"kind\": \"%s\", \"domid\": %u, \"devid\": %u, "
		       "\"owner\": %u, \"role\": \"%s\", \"vdev\": \"%s\", "
		       "\"state\": %d, \"frontend_state\": %d, ",
		       c->first ? "" : ",", i->kind, i->domid, i->devid, i->owner,
		       i->role == XENBUS_ROLE_STUBDOM ? "stubdom" : "guest",
		       i->vdev, i->be_state, i->fe_state);
	control_printf(b, "\"size_bytes\": %" PRIu64 ", \"overlay_used_bytes\": %" PRIu64
		   ", \"overlay_peak_bytes\": %" PRIu64
		   ", \"overlay_limit_bytes\": %" PRIu64 ", ",
		i->cow.size_sectors * 512, i->cow.used_bytes,
		i->cow.peak_blks * STORE_BLK_BYTES,
		i->cow.limit_blks * STORE_BLK_BYTES);
	control_printf(b, "\"read_reqs\": %" PRIu64 ", \"write_reqs\": %" PRIu64
		   ", \"read_bytes\": %" PRIu64 ", \"write_bytes\": %" PRIu64
		   ", \"flush_reqs\": %" PRIu64 ", \"discard_reqs\": %" PRIu64
		   ", \"indirect_reqs\": %" PRIu64 ", ",
		i->ring.rd_req, i->ring.wr_req, i->ring.rd_sect * 512,
		i->ring.wr_sect * 512, i->ring.flush_req, i->ring.discard_req,
		i->ring.indirect_req);
	control_printf(b, "\"bad_reqs\": %" PRIu64 ", \"unsupported_reqs\": %" PRIu64
		   ", \"io_errors\": %" PRIu64 ", \"enospc_errors\": %" PRIu64
		   ", \"grant_errors\": %" PRIu64 ", \"queues\": %u, "
		   "\"halted\": %s",
		i->ring.bad_req, i->ring.unsupported, i->ring.io_err,
		i->ring.enospc, i->ring.grant_err, i->nr_rings,
		i->ring.halted ? "true" : "false");
	if (i->error[0]) {
		control_printf(b, ", \"error\": \"");
		json_string(b, i->error);
		control_printf(b, "\"");
	}
	control_printf(b, "}");
	c->first = false;
}


void status_json(struct control_out *out, status_for_each_fn *for_each,
		 void *src)
{
	struct status_ctx c = { out, true };

	control_printf(out, "[");
	for_each(src, one_dev, &c);
	control_printf(out, "\n]\n");
}
