/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xen-ephemeral: the command line.
 *
 *   attach DOMID VDEV SPEC   give a (paused) domain an ephemeral disk
 *   detach DOMID VDEV        close it (the overlay and key are wiped)
 *   list                     one line per disk the daemon serves
 *   status [DOMID]           per-disk state, overlay use, I/O and errors
 *
 * attach and detach talk to xenstore, as `xl block-attach` does; list and
 * status ask the daemon over its control socket. --json prints the daemon's
 * answer as it is.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/control.h"
#include "xs-glue/attach.h"
#include "xs-glue/parse.h"
#include "platform/platform.h"

static const char *const state_names[] = { "unknown", "initialising",
					   "initwait", "initialised",
					   "connected", "closing", "closed",
					   "reconfiguring", "reconfigured" };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xen-ephemeral [options] COMMAND ...\n\n"
		"  attach DOMID VDEV SPEC   give domain DOMID the disk VDEV (xvda...)\n"
		"                           described by SPEC, e.g.\n"
		"                           'cow:base=/dev/vg/root,store=ram,limit=4G'\n"
		"  detach DOMID VDEV        close the disk: its writes are wiped\n"
		"  list                     the disks the daemon serves\n"
		"  status [DOMID]           state, overlay use and counters\n"
		"  forget UUID              let a domain whose restore the daemon\n"
		"                           refused (it was saved while on\n"
		"                           ephemeral disks) have disks again\n\n"
		"options:\n"
		"  -k, --kind KIND          backend kind (default ephemeral)\n"
		"  -r, --read-only          attach read-only\n"
		"  -t, --timeout SECONDS    detach: wait this long (default 10)\n"
		"  -c, --control PATH       the daemon's socket (default\n"
		"                           " CONTROL_DEFAULT_PATH ")\n"
		"  -j, --json               list/status: machine-readable\n"
		"  -h, --help               this text\n");
}

struct opts {
	const char *kind;
	const char *control;
	bool read_only, json;
	unsigned int timeout_s;
};

static int parse_domid(const char *s, uint16_t *domid_r)
{
	uint32_t v;

	if (parse_u32(s, strlen(s), 0x7fef, &v)) {
		fprintf(stderr, "xen-ephemeral: '%s' is not a domain id\n", s);
		return -EINVAL;
	}
	*domid_r = (uint16_t)v;
	return 0;
}

static int open_xen(struct xp **xp_r)
{
	int rc = xp_xen_new(xp_r);

	if (rc)
		fprintf(stderr, "xen-ephemeral: cannot reach xenstore (run it "
				"in dom0 as root): %s\n",
			strerror(-rc));
	return rc;
}

static int cmd_attach(const struct opts *o, char **argv)
{
	struct attach_req req = { .vdev = argv[1], .spec = argv[2],
				  .kind = o->kind, .read_only = o->read_only };
	char err[512] = "";
	struct xp *xp;
	int rc;

	if (parse_domid(argv[0], &req.domid))
		return 2;
	if (open_xen(&xp))
		return 1;
	rc = attach_device(xp, &req, err, sizeof(err));
	xp_destroy(xp);
	if (rc) {
		fprintf(stderr, "xen-ephemeral: attach: %s\n",
			err[0] ? err : strerror(-rc));
		return rc == -EINVAL ? 2 : 1;
	}
	return 0;
}

static int cmd_detach(const struct opts *o, char **argv)
{
	uint32_t devid;
	uint16_t domid;
	struct xp *xp;
	int rc;

	if (parse_domid(argv[0], &domid))
		return 2;
	if (attach_vdev_devid(argv[1], &devid)) {
		fprintf(stderr, "xen-ephemeral: bad virtual device '%s'\n",
			argv[1]);
		return 2;
	}
	if (open_xen(&xp))
		return 1;
	rc = detach_device(xp, o->kind, domid, devid, o->timeout_s * 1000);
	xp_destroy(xp);
	if (rc == -ENOENT) {
		fprintf(stderr, "xen-ephemeral: domain %u has no %s disk %s\n",
			domid, o->kind ? o->kind : ATTACH_DEFAULT_KIND,
			argv[1]);
		return 1;
	}
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "xen-ephemeral: the backend did not close "
				"within %u s; nodes removed anyway\n",
			o->timeout_s);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "xen-ephemeral: detach: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}

/* Read exactly len bytes (less only at EOF); returns how many, or -1. */
static ssize_t read_full(int fd, char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * Ask the daemon; returns its malloc()ed answer (NUL-terminated) or NULL
 * with a message printed. Only a whole answer counts: the header names the
 * body's length, and a shorter body is an error, never a partial list.
 */
static char *ask_daemon(const char *path, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 60 };
	char hdr[CONTROL_HEADER_MAX + 1];
	size_t hlen = 0, len;
	char *out = NULL, *end;
	ssize_t n;
	bool ok;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "xen-ephemeral: socket path too long: %s\n",
			path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "xen-ephemeral: cannot reach the daemon at %s "
				"(is xen-ephemerald running?): %s\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req) ||
	    write(fd, "\n", 1) != 1) {
		fprintf(stderr, "xen-ephemeral: cannot ask the daemon: %s\n",
			strerror(errno));
		close(fd);
		return NULL;
	}
	/* The header line, byte by byte: it is short. */
	while (hlen < CONTROL_HEADER_MAX) {
		n = read(fd, hdr + hlen, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || hdr[hlen++] == '\n')
			break;
	}
	hdr[hlen] = '\0';
	ok = !strncmp(hdr, CONTROL_ANSWER_OK " ", strlen(CONTROL_ANSWER_OK) + 1);
	if (!ok && strncmp(hdr, CONTROL_ANSWER_ERROR " ",
			   strlen(CONTROL_ANSWER_ERROR) + 1)) {
		fprintf(stderr, "xen-ephemeral: the daemon's answer is not "
				"understood (no header)\n");
		close(fd);
		return NULL;
	}
	errno = 0;
	len = strtoull(strrchr(hdr, ' ') + 1, &end, 10);
	if (errno || *end != '\n' || len > (1u << 30)) {
		fprintf(stderr, "xen-ephemeral: bad header from the daemon\n");
		close(fd);
		return NULL;
	}
	out = malloc(len + 1);
	if (!out) {
		close(fd);
		return NULL;
	}
	n = read_full(fd, out, len);
	close(fd);
	if (n < 0 || (size_t)n != len) {
		fprintf(stderr,
			"xen-ephemeral: the daemon's answer was cut short "
			"(%zd of %zu bytes)\n",
			n < 0 ? (ssize_t)0 : n, len);
		free(out);
		return NULL;
	}
	out[len] = '\0';
	if (!ok) {
		fprintf(stderr, "xen-ephemeral: the daemon says: %s", out);
		free(out);
		return NULL;
	}
	return out;
}

/* The number after "key": in one line of the daemon's answer, or 0. */
static uint64_t field(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(line, pat);
	return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static const char *state_name(uint64_t s)
{
	return s < sizeof(state_names) / sizeof(state_names[0]) ?
		       state_names[s] :
		       "?";
}

static void human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static int cmd_show(const struct opts *o, bool detailed, const char *dom)
{
	char *ans, *line, *save = NULL;
	uint16_t want = 0;
	int shown = 0;

	if (dom && parse_domid(dom, &want))
		return 2;
	ans = ask_daemon(o->control, "status");
	if (!ans)
		return 1;
	if (o->json) {
		fputs(ans, stdout);
		free(ans);
		return 0;
	}
	if (!detailed)
		printf("%-6s %-8s %-12s %-12s %12s %12s\n", "DOMID", "DEVID",
		       "STATE", "FRONTEND", "OVERLAY", "LIMIT");
	for (line = strtok_r(ans, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char used[32], limit[32], peak[32], size[32];

		if (!strstr(line, "\"domid\""))
			continue;
		if (dom && field(line, "domid") != want)
			continue;
		human_size(field(line, "overlay_used_bytes"), used,
			   sizeof(used));
		human_size(field(line, "overlay_limit_bytes"), limit,
			   sizeof(limit));
		human_size(field(line, "overlay_peak_bytes"), peak,
			   sizeof(peak));
		human_size(field(line, "size_bytes"), size, sizeof(size));
		shown++;
		if (!detailed) {
			printf("%-6" PRIu64 " %-8" PRIu64 " %-12s %-12s %12s "
			       "%12s\n",
			       field(line, "domid"), field(line, "devid"),
			       state_name(field(line, "state")),
			       state_name(field(line, "frontend_state")), used,
			       limit);
			continue;
		}
		printf("domain %" PRIu64 " device %" PRIu64 ": %s (frontend %s)"
		       "%s\n",
		       field(line, "domid"), field(line, "devid"),
		       state_name(field(line, "state")),
		       state_name(field(line, "frontend_state")),
		       strstr(line, "\"halted\": true") ? ", RING HALTED" : "");
		printf("  disk %s, overlay %s used of %s (peak %s), %" PRIu64
		       " queue(s)\n",
		       size, used, limit, peak, field(line, "queues"));
		printf("  reads %" PRIu64 " (%" PRIu64 " bytes), writes %" PRIu64
		       " (%" PRIu64 " bytes), flushes %" PRIu64
		       ", discards %" PRIu64 "\n",
		       field(line, "read_reqs"), field(line, "read_bytes"),
		       field(line, "write_reqs"), field(line, "write_bytes"),
		       field(line, "flush_reqs"), field(line, "discard_reqs"));
		printf("  errors: %" PRIu64 " I/O (%" PRIu64 " out of space), %"
		       PRIu64 " bad requests, %" PRIu64 " unsupported, %" PRIu64
		       " grant\n",
		       field(line, "io_errors"), field(line, "enospc_errors"),
		       field(line, "bad_reqs"), field(line, "unsupported_reqs"),
		       field(line, "grant_errors"));
	}
	if (!shown && detailed)
		printf("no disks%s\n", dom ? " for that domain" : "");
	free(ans);
	return 0;
}

static int cmd_forget(const struct opts *o, const char *uuid)
{
	char req[96], *ans;

	if (strlen(uuid) != 36 || strspn(uuid, "0123456789abcdef-") != 36) {
		fprintf(stderr, "xen-ephemeral: '%s' is not a UUID\n", uuid);
		return 2;
	}
	snprintf(req, sizeof(req), "forget %s", uuid);
	ans = ask_daemon(o->control, req);
	if (!ans)
		return 1;
	fputs(ans, stdout);
	free(ans);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "control", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .control = CONTROL_DEFAULT_PATH, .timeout_s = 10 };
	const char *cmd;
	int c, nargs;

	while ((c = getopt_long(argc, argv, "k:rt:c:jh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'k':
			o.kind = optarg;
			break;
		case 'r':
			o.read_only = true;
			break;
		case 't':
			o.timeout_s = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			o.control = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	nargs = argc - optind - 1;
	argv += optind + 1;
	if (!strcmp(cmd, "attach") && nargs == 3)
		return cmd_attach(&o, argv);
	if (!strcmp(cmd, "detach") && nargs == 2)
		return cmd_detach(&o, argv);
	if (!strcmp(cmd, "list") && nargs == 0)
		return cmd_show(&o, false, NULL);
	if (!strcmp(cmd, "status") && nargs <= 1)
		return cmd_show(&o, true, nargs ? argv[0] : NULL);
	if (!strcmp(cmd, "forget") && nargs == 1)
		return cmd_forget(&o, argv[0]);
	fprintf(stderr, "xen-ephemeral: bad command line (see --help)\n");
	return 2;
}
