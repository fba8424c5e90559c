/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-serve: one disk spec served over NBD, for the interop tests (and by
 * hand, as root, next to a QEMU):
 *
 *   nbd-serve [OPTIONS] SPEC SOCKET   listen on SOCKET until SIGTERM/SIGINT
 *   nbd-serve [OPTIONS] SPEC --stdio  serve one client on stdin, a socket
 *                                     (libnbd's nbd_connect_command, inetd)
 *   nbd-serve [OPTIONS] SPEC          systemd socket activation (fd 3, as
 *                                     nbdinfo/nbdcopy "[ CMD ]" start it):
 *                                     clients one after the other
 *
 * The disk is opened with disk_open(), as the daemon opens it (no budget).
 * With a SOCKET, "nbd-serve: listening on SOCKET" on stdout says clients may
 * connect; on a signal every client is closed and the disk wiped. With
 * --stdio, stdout is never written (it is the client's socket, too): logs
 * go to stderr.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/nbd.h"
#include "platform/log.h"
#include "xs-glue/disk.h"
#include "xs-glue/diskspec.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nbd-serve [-r] [-e] [-c CLIENTS] [-t MS] [-v] "
		"SPEC [SOCKET | --stdio]\n"
		"  -r, --read-only     refuse writes\n"
		"  -e, --enospc        a full overlay is NBD_ENOSPC, not "
		"NBD_EIO\n"
		"  -c, --max-clients N clients at once (default %u)\n"
		"  -t, --timeout MS    I/O timeout (default %u)\n"
		"  -v, --verbose       log each connection\n",
		NBD_DEFAULT_MAX_CLIENTS, NBD_DEFAULT_IO_TIMEOUT_MS);
}

static unsigned int number(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 1000000000ul) {
		fprintf(stderr, "nbd-serve: bad %s: %s\n", what, s);
		exit(2);
	}
	return (unsigned int)v;
}

/* Started by systemd-style socket activation: LISTEN_FDS=1 for us. */
static bool activated(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	return pid && fds && strtol(pid, NULL, 10) == (long)getpid() &&
	       !strcmp(fds, "1");
}

/* Serve the clients of the listening socket at fd 3, one at a time. */
static int serve_activated(const struct nbd_server_params *p)
{
	for (;;) {
		int fd = accept4(3, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			perror("nbd-serve: accept");
			return 1;
		}
		nbd_serve_fd(fd, p);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "read-only", no_argument, NULL, 'r' },
		{ "enospc", no_argument, NULL, 'e' },
		{ "max-clients", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "stdio", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nbd_server_params p = { .name = "nbd-serve" };
	struct nbd_server *srv = NULL;
	struct diskspec spec;
	struct cow *cow = NULL;
	char err[256];
	bool use_stdio = false;
	int level = LOG_WARNING, c, rc, sig;
	sigset_t set;

	while ((c = getopt_long(argc, argv, "rec:t:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			p.read_only = true;
			break;
		case 'e':
			p.enospc_is_enospc = true;
			break;
		case 'c':
			p.max_clients = number(optarg, "client count");
			break;
		case 't':
			p.io_timeout_ms = number(optarg, "timeout");
			break;
		case 'v':
			level = LOG_INFO;
			break;
		case 's':
			use_stdio = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != (use_stdio || activated() ? 1 : 2)) {
		usage(stderr);
		return 2;
	}
	log_init("nbd-serve", false, level);
	if (diskspec_parse(argv[optind], strlen(argv[optind]), &spec, err,
			   sizeof(err))) {
		fprintf(stderr, "nbd-serve: %s\n", err);
		return 1;
	}
	rc = disk_open(&spec, NULL, &cow, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "nbd-serve: %s\n", err);
		return 1;
	}
	p.cow = cow;

	if (use_stdio) {
		rc = nbd_serve_fd(0, &p);
		cow_free(cow);
		return rc ? 1 : 0;
	}
	if (argc - optind == 1)
		return serve_activated(&p); /* until killed */

	/* Signals only through sigwait(), in this thread; the server's
	 * threads inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	p.path = argv[optind + 1];
	rc = nbd_server_new(&p, &srv);
	if (rc) {
		cow_free(cow);
		return 1;
	}
	printf("nbd-serve: listening on %s\n", p.path);
	fflush(stdout);
	sigwait(&set, &sig);
	nbd_server_free(srv);
	cow_free(cow);
	return 0;
}
