/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xen-ephemeral-worker: one guest's worker (backend/worker.h), started by
 * xen-ephemerald with its end of a socket pair on descriptor 3:
 *
 *   xen-ephemeral-worker --domid N [--syslog] [--verbose]
 *
 * It opens the grant device, confines itself (platform/sandbox.h) and
 * serves what the daemon sends until the daemon hangs up. Not for use by
 * hand: it has nothing to say to anyone but its daemon.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/worker.h"
#include "crypto/xts.h"
#include "platform/log.h"
#include "platform/platform.h"
#include "platform/sandbox.h"

#define SOCK_FD 3

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "domid", required_argument, NULL, 'd' },
		{ "syslog", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "cipher-threads", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 }
	};
	/* io_uring: the scratch's I/O (cow/store-file.c) */
	struct sandbox_config sb = { .drop_root = true,
				     .allow_io_uring = true };
	struct worker_config wc = { .sock = SOCK_FD };
	bool use_syslog = false;
	int level = LOG_INFO, c, type, rc;
	socklen_t len = sizeof(type);
	char name[48], err[256];
	long domid = -1, ct;
	struct xp *xp;
	char *end;

	while ((c = getopt_long(argc, argv, "d:svC:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			domid = strtol(optarg, &end, 10);
			if (*end || domid < 0 || domid > 0x7fef)
				domid = -1;
			break;
		case 's':
			use_syslog = true;
			break;
		case 'v':
			level = LOG_DEBUG;
			break;
		case 'C':
			ct = strtol(optarg, &end, 10);
			if (*end || ct < 0 || ct > (long)XTS_MAX_HELPERS)
				return 2;
			xts_set_helpers((unsigned int)ct);
			break;
		default:
			return 2;
		}
	}
	if (domid < 0 || optind != argc ||
	    getsockopt(SOCK_FD, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    type != SOCK_SEQPACKET) {
		fprintf(stderr, "xen-ephemeral-worker is started by "
				"xen-ephemerald, not by hand\n");
		return 2;
	}
	snprintf(name, sizeof(name), "xen-ephemeral-worker[dom%ld]", domid);
	log_init(name, use_syslog, level);
	signal(SIGPIPE, SIG_IGN);
	rc = xp_xen_worker_new(&xp);
	if (rc) {
		log_msg(LOG_ERR, "cannot open the grant device: %s",
			strerror(-rc));
		return 1;
	}
	/* the cipher's helper threads, one per online CPU but this one:
	 * counted while /sys can still be read */
	log_msg(LOG_DEBUG, "xts: up to %u cipher helper thread(s)",
		xts_helpers());
	if (sandbox_enter(&sb, err, sizeof(err))) {
		log_msg(LOG_ERR, "cannot confine myself: %s", err);
		return 1;
	}
	wc.xp = xp;
	wc.domid = (uint16_t)domid;
	rc = worker_serve(&wc);
	xp_destroy(xp);
	return rc ? 1 : 0;
}
