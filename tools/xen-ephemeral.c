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
#include "xs-glue/diskspec.h"
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
		"  top                      the disks and their I/O, refreshed\n"
		"  set-limit DOMID VDEV SIZE  a new limit for the disk's overlay\n"
		"                           (up to the disk's size); a guest\n"
		"                           paused by on-full=pause resumes\n"
		"                           once its writes fit\n"
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
		"  -d, --delay SECONDS      top: refresh every (default 2)\n"
		"  -n, --count N            top: refresh N times, then exit\n"
		"  -h, --help               this text\n");
}

struct opts {
	const char *kind;
	const char *control;
	bool read_only, json;
	unsigned int timeout_s;
	unsigned int delay_s; /* top: seconds between refreshes */
	unsigned int count;   /* top: refreshes, 0 for ever */
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

/* The number after "key": in s (its first occurrence), or 0. */
static uint64_t field(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(s, pat);
	return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/* The string after "key": in s, JSON escapes undone, into buf; "" if none. */
static const char *sfield(const char *s, const char *key, char *buf,
			  size_t len)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	buf[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = strstr(s, pat);
	if (!p)
		return buf;
	for (p += strlen(pat); *p && *p != '"' && n + 1 < len; p++) {
		if (*p == '\\' && p[1] == 'u' && p[2] && p[3] && p[4] &&
		    p[5]) {
			buf[n++] = '?'; /* a control character */
			p += 5;
		} else if (*p == '\\' && p[1]) {
			buf[n++] = *++p;
		} else {
			buf[n++] = *p;
		}
	}
	buf[n] = '\0';
	return buf;
}

static bool flag(const char *s, const char *key)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "\"%s\": true", key);
	return strstr(s, pat) != NULL;
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

/* The attachments of a disk line, one "{...}" at a time. */
static const char *next_attachment(const char *p, char *buf, size_t len)
{
	const char *end;
	size_t n;

	p = strstr(p, "{\"type\": ");
	if (!p)
		return NULL;
	end = strchr(p, '}');
	if (!end)
		return NULL;
	n = (size_t)(end - p + 1) < len ? (size_t)(end - p + 1) : len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return end + 1;
}

/* Does the disk line concern domain want (owner, or any attachment)? */
static bool disk_of(const char *line, uint16_t want)
{
	char a[1024];
	const char *p = strstr(line, "\"attachments\": [");

	if (field(line, "owner") == want)
		return true;
	while (p && (p = next_attachment(p, a, sizeof(a))))
		if (strstr(a, "\"blkif\"") && field(a, "domid") == want)
			return true;
	return false;
}

/* "5:guest:4 6:stubdom:4 nbd:1": who is attached, and how. */
static void who(const char *line, char *buf, size_t len)
{
	char a[1024], role[16];
	const char *p = strstr(line, "\"attachments\": [");
	size_t n = 0;

	buf[0] = '\0';
	while (p && (p = next_attachment(p, a, sizeof(a))) && n < len) {
		int k;

		if (strstr(a, "\"nbd\""))
			k = snprintf(buf + n, len - n, "%snbd:%" PRIu64,
				     n ? " " : "", field(a, "clients"));
		else
			k = snprintf(buf + n, len - n, "%s%" PRIu64 ":%s:%s",
				     n ? " " : "", field(a, "domid"),
				     sfield(a, "role", role, sizeof(role)),
				     state_name(field(a, "state")));
		if (k < 0)
			break;
		n += (size_t)k;
	}
	if (!n)
		snprintf(buf, len, "-");
}

enum section { SEC_NONE, SEC_DISKS, SEC_UNATTACHED, SEC_SAVED };

static enum section section_of(const char *line, enum section cur)
{
	if (strstr(line, "\"disks\": ["))
		return SEC_DISKS;
	if (strstr(line, "\"unattached\": ["))
		return SEC_UNATTACHED;
	if (strstr(line, "\"saved_domains\": ["))
		return SEC_SAVED;
	return cur;
}

static void list_header(void)
{
	printf("%-6s %-6s %-6s %-5s %-5s %-9s %10s %10s %10s  %s\n", "OWNER",
	       "VDEV", "DEVID", "KIND", "STORE", "STATE", "USED", "PEAK",
	       "LIMIT", "ATTACHED");
}

static void list_disk(const char *line)
{
	char used[32], peak[32], limit[32], vdev[16], kind[8], store[8],
		st[16], att[256];

	human_size(field(line, "overlay_used_bytes"), used, sizeof(used));
	human_size(field(line, "overlay_peak_bytes"), peak, sizeof(peak));
	human_size(field(line, "overlay_limit_bytes"), limit, sizeof(limit));
	who(line, att, sizeof(att));
	printf("%-6" PRIu64 " %-6s %-6" PRIu64 " %-5s %-5s %-9s %10s %10s "
	       "%10s  %s\n",
	       field(line, "owner"), sfield(line, "vdev", vdev, sizeof(vdev)),
	       field(line, "devid"),
	       sfield(line, "disk_kind", kind, sizeof(kind)),
	       sfield(line, "store", store, sizeof(store)),
	       flag(line, "paused") ? "paused" :
					 sfield(line, "disk_state", st, sizeof(st)),
	       used, peak, limit, att);
}

static void status_disk(const char *line)
{
	char used[32], peak[32], limit[32], size[32], rd[32], wr[32];
	char vdev[16], kind[8], store[8], st[16], spec[300], err[300];
	char a[1024], role[16], akind[16];
	const char *p = strstr(line, "\"attachments\": [");

	human_size(field(line, "overlay_used_bytes"), used, sizeof(used));
	human_size(field(line, "overlay_peak_bytes"), peak, sizeof(peak));
	human_size(field(line, "overlay_limit_bytes"), limit, sizeof(limit));
	human_size(field(line, "size_bytes"), size, sizeof(size));
	human_size(field(line, "read_bytes"), rd, sizeof(rd));
	human_size(field(line, "write_bytes"), wr, sizeof(wr));
	printf("disk %s (%" PRIu64 ") of domain %" PRIu64 ": %s, %s%s, %s\n",
	       sfield(line, "vdev", vdev, sizeof(vdev))[0] ? vdev : "-",
	       field(line, "devid"), field(line, "owner"),
	       sfield(line, "disk_kind", kind, sizeof(kind)),
	       sfield(line, "store", store, sizeof(store)),
	       flag(line, "read_only") ? ", read-only" : "",
	       sfield(line, "disk_state", st, sizeof(st)));
	printf("  spec %s\n", sfield(line, "spec", spec, sizeof(spec)));
	if (sfield(line, "error", err, sizeof(err))[0])
		printf("  error: %s\n", err);
	printf("  disk %s, overlay %s used of %s (peak %s)\n", size, used,
	       limit, peak);
	if (flag(line, "paused"))
		printf("  PAUSED: the overlay is full (on-full=pause); "
		       "xen-ephemeral set-limit resumes it\n");
	printf("  reads %" PRIu64 " (%s), writes %" PRIu64 " (%s), flushes %"
	       PRIu64 ", discards %" PRIu64 "; errors %" PRIu64 " (%" PRIu64
	       " out of space)\n",
	       field(line, "read_reqs"), rd, field(line, "write_reqs"), wr,
	       field(line, "flush_reqs"), field(line, "discard_reqs"),
	       field(line, "io_errors"), field(line, "enospc_errors"));
	while (p && (p = next_attachment(p, a, sizeof(a)))) {
		if (strstr(a, "\"nbd\"")) {
			printf("  attached: NBD, %" PRIu64 " client(s)\n",
			       field(a, "clients"));
			continue;
		}
		printf("  attached: %s device of domain %" PRIu64 " (%s): %s, "
		       "frontend %s, %" PRIu64 " queue(s)%s; %" PRIu64
		       " bad requests, %" PRIu64 " unsupported, %" PRIu64
		       " grant errors\n",
		       sfield(a, "kind", akind, sizeof(akind)),
		       field(a, "domid"), sfield(a, "role", role, sizeof(role)),
		       state_name(field(a, "state")),
		       state_name(field(a, "frontend_state")),
		       field(a, "queues"),
		       flag(a, "halted") ? ", RING HALTED" : "",
		       field(a, "bad_reqs"), field(a, "unsupported_reqs"),
		       field(a, "grant_errors"));
	}
}

static void status_unattached(const char *line)
{
	char kind[16], vdev[16], err[300];

	printf("  %s device %" PRIu64 " (%s) of domain %" PRIu64 ": %s%s%s\n",
	       sfield(line, "kind", kind, sizeof(kind)), field(line, "devid"),
	       sfield(line, "vdev", vdev, sizeof(vdev))[0] ? vdev : "-",
	       field(line, "domid"), state_name(field(line, "state")),
	       sfield(line, "error", err, sizeof(err))[0] ? ": " : "", err);
}

/*
 * list and status: the daemon's answer, for people. dom: only what
 * concerns that domain.
 */
static int cmd_show(const struct opts *o, bool detailed, const char *dom)
{
	char *ans, *line, *save = NULL;
	enum section sec = SEC_NONE;
	uint16_t want = 0;
	int disks = 0, others = 0;

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
		list_header();
	for (line = strtok_r(ans, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		sec = section_of(line, sec);
		if (sec == SEC_DISKS && strstr(line, "{\"owner\": ")) {
			if (dom && !disk_of(line, want))
				continue;
			disks++;
			if (detailed)
				status_disk(line);
			else
				list_disk(line);
		} else if (sec == SEC_UNATTACHED &&
			   strstr(line, "{\"kind\": ")) {
			if (dom && field(line, "domid") != want)
				continue;
			if (!others++)
				printf("%s", detailed ?
						     "devices with no disk "
						     "(refused, or closed):\n" :
						     "\nno disk:\n");
			status_unattached(line);
		} else if (sec == SEC_SAVED && detailed && !dom &&
			   strstr(line, "\"saved_domains\": [\"")) {
			printf("saved domains whose restore is refused: %s\n",
			       strstr(line, "[") + 1);
		}
	}
	if (!disks && !others && detailed)
		printf("no disks%s\n", dom ? " for that domain" : "");
	free(ans);
	return 0;
}

/* top: the disks and their I/O rates, refreshed, until interrupted. */
static int cmd_top(const struct opts *o)
{
	struct prev {
		uint64_t key, rd, wr;
	} *prev = NULL, *cur = NULL;
	size_t nprev = 0, ncur = 0, cap = 0, i;
	bool tty = isatty(STDOUT_FILENO);
	unsigned int round;

	for (round = 0; !o->count || round < o->count; round++) {
		char *ans, *line, *save = NULL;
		enum section sec = SEC_NONE;

		ans = ask_daemon(o->control, "status");
		if (!ans) {
			free(prev);
			free(cur);
			return 1;
		}
		if (tty)
			printf("\033[H\033[2J");
		printf("xen-ephemeral top, every %u s%s\n\n", o->delay_s,
		       round ? "" : " (rates from the next refresh on)");
		printf("%-6s %-6s %-5s %10s %10s %10s %10s  %s\n", "OWNER",
		       "VDEV", "STORE", "USED", "LIMIT", "READ/s", "WRITE/s",
		       "ATTACHED");
		ncur = 0;
		for (line = strtok_r(ans, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char used[32], limit[32], r[32] = "-", w[32] = "-",
						   vdev[16], store[8], att[256];
			uint64_t key, rd, wr;

			sec = section_of(line, sec);
			if (sec != SEC_DISKS || !strstr(line, "{\"owner\": "))
				continue;
			key = field(line, "owner") << 32 | field(line, "devid");
			rd = field(line, "read_bytes");
			wr = field(line, "write_bytes");
			for (i = 0; i < nprev; i++)
				if (prev[i].key == key) {
					human_size((rd - prev[i].rd) /
							   o->delay_s,
						   r, sizeof(r));
					human_size((wr - prev[i].wr) /
							   o->delay_s,
						   w, sizeof(w));
				}
			if (ncur == cap) {
				struct prev *n = realloc(
					cur, (cap = cap * 2 + 16) *
						     sizeof(*cur));

				if (!n)
					break;
				cur = n;
			}
			cur[ncur++] = (struct prev){ key, rd, wr };
			human_size(field(line, "overlay_used_bytes"), used,
				   sizeof(used));
			human_size(field(line, "overlay_limit_bytes"), limit,
				   sizeof(limit));
			who(line, att, sizeof(att));
			printf("%-6" PRIu64 " %-6s %-5s %10s %10s %10s %10s  "
			       "%s\n",
			       field(line, "owner"),
			       sfield(line, "vdev", vdev, sizeof(vdev)),
			       sfield(line, "store", store, sizeof(store)),
			       used, limit, r, w, att);
		}
		free(ans);
		fflush(stdout);
		/* this round's counters are the next one's base */
		free(prev);
		prev = cur;
		nprev = ncur;
		cur = NULL;
		cap = ncur = 0;
		if (!o->count || round + 1 < o->count)
			sleep(o->delay_s);
	}
	free(prev);
	free(cur);
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

/* set-limit DOMID VDEV SIZE: the daemon resumes a paused guest once its
 * writes fit. */
static int cmd_set_limit(const struct opts *o, const char *dom,
			 const char *vdev, const char *size)
{
	char req[128], *ans;
	uint16_t domid;
	uint64_t bytes;

	if (parse_domid(dom, &domid))
		return 2;
	if (!vdev[0] || strlen(vdev) > 15 ||
	    strspn(vdev, "abcdefghijklmnopqrstuvwxyz0123456789") !=
		    strlen(vdev)) {
		fprintf(stderr, "xen-ephemeral: '%s' is not a device name "
				"(xvdb) or number\n",
			vdev);
		return 2;
	}
	if (diskspec_parse_size(size, strlen(size), &bytes) || bytes < 4096) {
		fprintf(stderr, "xen-ephemeral: '%s' is not a size of at least "
				"4K (512M, 8G)\n",
			size);
		return 2;
	}
	snprintf(req, sizeof(req), "set-limit %u %s %s", domid, vdev, size);
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
		{ "delay", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .control = CONTROL_DEFAULT_PATH,
			  .timeout_s = 10,
			  .delay_s = 2 };
	const char *cmd;
	int c, nargs;

	while ((c = getopt_long(argc, argv, "k:rt:c:jd:n:h", longopts,
				NULL)) != -1) {
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
		case 'd':
		case 'n': {
			uint32_t v;

			if (parse_u32(optarg, strlen(optarg), 3600, &v) ||
			    (c == 'd' && v == 0)) {
				fprintf(stderr, "xen-ephemeral: -%c: a number "
						"of %s\n",
					c, c == 'd' ? "seconds (1-3600)" :
						      "refreshes");
				return 2;
			}
			if (c == 'd')
				o.delay_s = v;
			else
				o.count = v;
			break;
		}
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
	if (!strcmp(cmd, "set-limit") && nargs == 3)
		return cmd_set_limit(&o, argv[0], argv[1], argv[2]);
	if (!strcmp(cmd, "top") && nargs == 0)
		return cmd_top(&o);
	fprintf(stderr, "xen-ephemeral: bad command line (see --help)\n");
	return 2;
}
