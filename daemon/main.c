/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xen-ephemerald: the process. It parses options, makes itself hard to
 * leak from (no core dumps, not dumpable), connects to Xen through the real
 * platform, and runs one loop: xenstore events and timers go to the xenbus
 * state machine; signals are read from a signalfd. The rings run in threads
 * of their own (backend/ring.c).
 *
 * SIGTERM and SIGINT close every disk (rings stopped, overlay RAM and keys
 * wiped, devices Closed) and exit 0. SIGUSR1 logs every disk's statistics.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "platform/log.h"
#include "cow/cow.h"
#include "crypto/xts.h"
#include "daemon/control.h"
#include "daemon/status.h"
#include "xs-glue/save-guard.h"
#include "xs-glue/diskspec.h"
#include "platform/platform.h"
#include "xs-glue/xenbus.h"

struct opts {
	struct xenbus_config xb;
	uint64_t budget_bytes;
	bool use_syslog;
	int log_level;
	const char *pidfile;
	const char *control;
	const char *worker;
	int cipher_threads; /* -1: the worker's default */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xen-ephemerald [options]\n"
		"Serve Xen guest disks whose writes live only in RAM or in\n"
		"AES-256-XTS scratch under a per-disk key, and vanish.\n\n"
		"  -k, --kind KIND        backend kind to serve (repeatable;\n"
		"                         default both: ephemeral, the CLI's\n"
		"                         self-attach, and vbd3, libxl's\n"
		"                         backendtype=tap; never vbd or qdisk)\n"
		"  -H, --hook PATH        vbd3: serve only devices whose script\n"
		"                         is PATH (default " XENBUS_DEFAULT_HOOK ")\n"
		"  -O, --default-overlay OPTS\n"
		"                         overlay options for a vbd3 target that\n"
		"                         is only a path (cow:base=PATH,OPTS),\n"
		"                         e.g. store=xts,scratch=/var/tmp\n"
		"  -q, --max-queues N     queues offered per disk (1-16;\n"
		"                         default: online CPUs)\n"
		"  -C, --cipher-threads N helper threads each guest's worker may\n"
		"                         add to a large xts request (0-3;\n"
		"                         default: online CPUs less one, at\n"
		"                         most 3; 0: the ring's thread only)\n"
		"  -b, --budget SIZE      cap on all overlays together (K/M/G/T,\n"
		"                         at least 4K; rounded down to 4K)\n"
		"  -s, --syslog           log to syslog instead of stderr\n"
		"  -v, --verbose          log debug messages\n"
		"  -p, --pidfile PATH     write our pid there\n"
		"  -c, --control PATH     control socket for the CLI\n"
		"                         (default " CONTROL_DEFAULT_PATH ")\n"
		"  -N, --nbd-dir DIR      HVM guests' NBD sockets, for their dom0\n"
		"                         QEMU (default " XENBUS_DEFAULT_NBD_DIR ")\n"
		"  -W, --worker PATH      each guest's worker program\n"
		"                         (default " XE_WORKER_PATH ")\n"
		"  -h, --help             this text\n"
		"  -V, --version          print the version\n");
}

/* --default-overlay must make a valid spec of any path. */
static int check_overlay(const char *opts)
{
	char spec[512], err[DISKSPEC_ERR_MAX];
	struct diskspec *ds = malloc(sizeof(*ds));
	int rc;

	if (!ds)
		return -ENOMEM;
	snprintf(spec, sizeof(spec), "cow:base=/x,%s", opts);
	rc = diskspec_parse(spec, strlen(spec), ds, err, sizeof(err));
	free(ds);
	if (rc)
		fprintf(stderr, "--default-overlay: %s\n", err);
	return rc;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "hook", required_argument, NULL, 'H' },
		{ "default-overlay", required_argument, NULL, 'O' },
		{ "max-queues", required_argument, NULL, 'q' },
		{ "cipher-threads", required_argument, NULL, 'C' },
		{ "budget", required_argument, NULL, 'b' },
		{ "syslog", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "control", required_argument, NULL, 'c' },
		{ "nbd-dir", required_argument, NULL, 'N' },
		{ "worker", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char *end;
	long n;
	int c;

	o->xb.max_queues = cpus < 1 ? 1 : cpus > 16 ? 16 : (unsigned int)cpus;
	o->log_level = LOG_INFO;
	o->cipher_threads = -1;
	o->control = CONTROL_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, "k:H:O:q:C:b:svp:c:N:W:hV", longopts,
				NULL)) !=
	       -1) {
		switch (c) {
		case 'k':
			if (o->xb.nr_kinds == XENBUS_MAX_KINDS) {
				fprintf(stderr, "at most %u kinds\n",
					XENBUS_MAX_KINDS);
				return -EINVAL;
			}
			o->xb.kinds[o->xb.nr_kinds++] = optarg;
			break;
		case 'H':
			if (optarg[0] != '/') {
				fprintf(stderr, "--hook: an absolute path (libxl "
						"writes script as one)\n");
				return -EINVAL;
			}
			o->xb.hook_path = optarg;
			break;
		case 'O':
			if (check_overlay(optarg))
				return -EINVAL;
			o->xb.default_overlay = optarg;
			break;
		case 'q':
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 16) {
				fprintf(stderr, "--max-queues: 1 to 16\n");
				return -EINVAL;
			}
			o->xb.max_queues = (unsigned int)n;
			break;
		case 'C':
			n = strtol(optarg, &end, 10);
			if (*end || n < 0 || n > (long)XTS_MAX_HELPERS) {
				fprintf(stderr, "--cipher-threads: 0 to %u\n",
					XTS_MAX_HELPERS);
				return -EINVAL;
			}
			o->cipher_threads = (int)n;
			break;
		case 'b':
			if (diskspec_parse_size(optarg, strlen(optarg),
						&o->budget_bytes)) {
				fprintf(stderr, "--budget: a size like 8G\n");
				return -EINVAL;
			}
			/* Less than one block would round to 0: no cap. */
			if (o->budget_bytes < STORE_BLK_BYTES) {
				fprintf(stderr, "--budget: at least 4K (one "
						"overlay block)\n");
				return -EINVAL;
			}
			break;
		case 's':
			o->use_syslog = true;
			break;
		case 'v':
			o->log_level = LOG_DEBUG;
			break;
		case 'p':
			o->pidfile = optarg;
			break;
		case 'c':
			o->control = optarg;
			break;
		case 'W':
			o->worker = optarg;
			break;
		case 'N':
			if (optarg[0] != '/') {
				fprintf(stderr, "--nbd-dir: an absolute path\n");
				return -EINVAL;
			}
			o->xb.nbd_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("xen-ephemerald %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	if (o->xb.nr_kinds == 0) {
		o->xb.kinds[o->xb.nr_kinds++] = "ephemeral";
		o->xb.kinds[o->xb.nr_kinds++] = "vbd3";
	}
	return 0;
}

/* Keep secrets out of core files and away from ptrace by other users. */
static void harden(void)
{
	struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none))
		log_msg(LOG_WARNING, "cannot disable core dumps: %s",
			strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		log_msg(LOG_WARNING, "cannot make the process non-dumpable: %s",
			strerror(errno));
}

static void log_dev_stats(const struct xenbus_dev_info *i, void *arg)
{
	(void)arg;
	log_msg(LOG_INFO,
		"%u/%u (%s): state %d/%d, overlay %" PRIu64 " of %" PRIu64
		" blocks (peak %" PRIu64 "), %" PRIu64 " reads, %" PRIu64
		" writes, %" PRIu64 " bad requests, %" PRIu64 " I/O errors "
		"(%" PRIu64 " out of space)",
		i->domid, i->devid, i->kind, i->be_state, i->fe_state,
		i->cow.used_blks, i->cow.limit_blks, i->cow.peak_blks,
		i->ring.rd_req, i->ring.wr_req, i->ring.bad_req, i->ring.io_err,
		i->ring.enospc);
}

/* ---- the control socket's commands ---- */

static void status_disks(void *src,
			 void (*fn)(const struct xenbus_disk_info *, void *),
			 void *arg)
{
	xenbus_for_each_disk(src, fn, arg);
}

static void status_devices(void *src,
			   void (*fn)(const struct xenbus_dev_info *, void *),
			   void *arg)
{
	xenbus_for_each(src, fn, arg);
}

static void status_saved(void *src, void (*fn)(const char *, void *),
			 void *arg)
{
	save_guard_for_each(xenbus_save_guard(src), fn, arg);
}

static int cmd_status(void *arg, char *const *args, struct control_out *out)
{
	struct status_source s = { status_disks, status_devices, status_saved,
				   arg };

	status_json(out, &s);
	return 0;
}

/* forget UUID: a domain with that UUID may have disks again (after the
 * save guard refused its restore). */
static int cmd_forget(void *arg, char *const *args, struct control_out *out)
{
	int rc = save_guard_forget(xenbus_save_guard(arg), args[0]);

	if (rc)
		control_printf(out, "no saved domain %.40s is remembered\n",
			       args[0]);
	else
		control_printf(out, "forgot %s\n", args[0]);
	return rc;
}

/* set-limit DOMID DEV SIZE: a new limit for a disk's overlay. */
static int cmd_set_limit(void *arg, char *const *args,
			 struct control_out *out)
{
	char err[256], *end;
	uint64_t bytes;
	unsigned long domid;
	int rc;

	domid = strtoul(args[0], &end, 10);
	if (*end || end == args[0] || domid > 0x7fef) {
		control_printf(out, "not a domain id: %.16s\n", args[0]);
		return -EINVAL;
	}
	if (diskspec_parse_size(args[2], strlen(args[2]), &bytes)) {
		control_printf(out, "not a size (4K, 512M, 8G): %.32s\n",
			       args[2]);
		return -EINVAL;
	}
	rc = xenbus_set_limit(arg, (uint16_t)domid, args[1], bytes, err,
			      sizeof(err));
	if (rc)
		control_printf(out, "%s\n", err);
	else
		control_printf(out, "domain %lu's disk %s: limit %s\n", domid,
			       args[1], args[2]);
	return rc;
}

static const struct control_cmd commands[] = {
	{ "status", 0, cmd_status },
	{ "forget", 1, cmd_forget },
	{ "set-limit", 3, cmd_set_limit },
};

/* The sooner of two poll() timeouts, where -1 means none. */
static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/*
 * Tell a service manager how we stand (Type=notify): READY=1 once the
 * control socket answers, STOPPING=1 when every disk is being closed. A
 * no-op without systemd ($NOTIFY_SOCKET unset) or without libsystemd.
 */
static void notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

/*
 * The NBD socket directory: made (and its parent) mode 0700 if missing,
 * and refused unless it is a real directory of ours that nobody else may
 * enter (a socket there is a guest's disk).
 */
static int make_private_dir(const char *path)
{
	char parent[PATH_MAX];
	char *slash;
	struct stat st;

	if (snprintf(parent, sizeof(parent), "%s", path) >= (int)sizeof(parent))
		return -ENAMETOOLONG;
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (mkdir(parent, 0700) && errno != EEXIST)
			return -errno;
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	if (lstat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077))
		return -EPERM;
	return 0;
}

/*
 * Start domid's worker: the worker program with sock on descriptor 3 and
 * nothing else of ours (every other descriptor is close-on-exec, and
 * closed in the child all the same).
 */
static int spawn_worker(void *arg, uint16_t domid, int sock, pid_t *pid_r)
{
	const struct opts *o = arg;
	posix_spawn_file_actions_t fa;
	char dom[16], ct[16];
	char *argv[8];
	int n = 0, high, rc;

	snprintf(dom, sizeof(dom), "%u", domid);
	argv[n++] = (char *)o->worker;
	argv[n++] = "--domid";
	argv[n++] = dom;
	if (o->use_syslog)
		argv[n++] = "--syslog";
	if (o->log_level == LOG_DEBUG)
		argv[n++] = "--verbose";
	if (o->cipher_threads >= 0) {
		snprintf(ct, sizeof(ct), "%d", o->cipher_threads);
		argv[n++] = "--cipher-threads";
		argv[n++] = ct;
	}
	argv[n] = NULL;
	/* Out of the way of 3, so that the dup2 below always copies. */
	high = fcntl(sock, F_DUPFD_CLOEXEC, 10);
	if (high < 0)
		return -errno;
	rc = posix_spawn_file_actions_init(&fa);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, high, 3);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
	if (!rc)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 4);
#endif
	if (!rc)
		rc = posix_spawn(pid_r, o->worker, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(high);
	if (rc)
		log_msg(LOG_ERR, "cannot start %s: %s", o->worker, strerror(rc));
	return -rc;
}

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) ? -errno : 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct xenbus *xb = NULL;
	struct control *ctl = NULL;
	struct xp *xp = NULL;
	sigset_t mask;
	int sfd = -1, rc;
	bool running = true;

	if (parse_opts(argc, argv, &o))
		return 2;
	log_init("xen-ephemerald", o.use_syslog, o.log_level);
	harden();

	/* Signals arrive as reads on sfd; threads inherit the blocked mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_msg(LOG_ERR, "signalfd: %s", strerror(errno));
		return 1;
	}

	o.xb.budget_blks = o.budget_bytes / STORE_BLK_BYTES;
	o.xb.spawn = spawn_worker;
	o.xb.spawn_arg = &o;
	if (!o.worker)
		o.worker = XE_WORKER_PATH;
	rc = xp_xen_new(&xp);
	if (rc) {
		log_msg(LOG_ERR, "cannot reach Xen (is this dom0, with "
				 "xenstored running?): %s",
			strerror(-rc));
		goto out;
	}
	if (access(o.worker, X_OK)) {
		rc = -errno;
		log_msg(LOG_ERR, "worker program %s: %s", o.worker,
			strerror(-rc));
		goto out;
	}
	if (!o.xb.nbd_dir)
		o.xb.nbd_dir = XENBUS_DEFAULT_NBD_DIR;
	rc = make_private_dir(o.xb.nbd_dir);
	if (rc) {
		log_msg(LOG_ERR, "NBD socket directory %s: %s%s", o.xb.nbd_dir,
			strerror(-rc),
			rc == -EPERM ? " (it must be a directory of ours, "
				       "mode 0700)" :
				       "");
		goto out;
	}
	rc = xenbus_new(xp, &o.xb, &xb);
	if (rc)
		goto out;
	rc = control_new(o.control, commands,
			 sizeof(commands) / sizeof(commands[0]), xb, &ctl);
	if (rc) {
		log_msg(LOG_ERR, "control socket %s: %s", o.control,
			strerror(-rc));
		goto out;
	}
	if (o.pidfile && (rc = write_pidfile(o.pidfile))) {
		log_msg(LOG_ERR, "pidfile %s: %s", o.pidfile, strerror(-rc));
		goto out;
	}
	log_msg(LOG_INFO,
		"serving backend kind%s %s%s%s, %u queue(s) per disk%s%s",
		o.xb.nr_kinds > 1 ? "s" : "", o.xb.kinds[0],
		o.xb.nr_kinds > 1 ? " and " : "",
		o.xb.nr_kinds > 1 ? o.xb.kinds[1] : "", o.xb.max_queues,
		o.xb.nr_kinds > 1 || !strcmp(o.xb.kinds[0], "vbd3") ?
			", vbd3 hook " :
			"",
		o.xb.nr_kinds > 1 || !strcmp(o.xb.kinds[0], "vbd3") ?
			(o.xb.hook_path ? o.xb.hook_path :
					  XENBUS_DEFAULT_HOOK) :
			"");

	notify("READY=1\nSTATUS=serving");
	while (running) {
		struct pollfd p[2 + CONTROL_MAX_POLLFDS] = {
			{ .fd = xenbus_fd(xb), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		unsigned int nc = control_pollfds(ctl, p + 2);
		int tmo = min_timeout(xenbus_timeout_ms(xb),
				      control_timeout_ms(ctl));
		struct signalfd_siginfo si;

		if (poll(p, 2 + nc, tmo) < 0 && errno != EINTR) {
			rc = -errno;
			log_msg(LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGUSR1) {
				xenbus_for_each(xb, log_dev_stats, NULL);
			} else if (si.ssi_signo != SIGHUP) {
				log_msg(LOG_INFO, "signal %u: closing every "
						  "disk", si.ssi_signo);
				running = false;
			}
		}
		if (!running)
			break;
		rc = xenbus_process(xb);
		if (rc) {
			log_msg(LOG_ERR, "xenstore: %s", strerror(-rc));
			break;
		}
		control_process(ctl, p + 2, nc);
	}
out:
	notify("STOPPING=1\nSTATUS=closing every disk");
	control_free(ctl);
	xenbus_free(xb); /* every overlay and key wiped */
	if (xp)
		xp_destroy(xp);
	if (o.pidfile)
		unlink(o.pidfile);
	close(sfd);
	return rc ? 1 : 0;
}
