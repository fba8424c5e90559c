/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket and the CLI that reads it, driven from outside: the
 * daemon's control server runs in a thread over a synthetic set of 2000
 * disks, and the real tools/xen-ephemeral binary asks it. An answer is
 * either whole or an error: never cut short and reported as success.
 * Silent or slow clients never hold up the others, and requests are
 * matched exactly.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/status.h"
#include "tests/check.h"
#include "tests/testlib.h"

#define NR_DISKS 2000u

/* 2000 disks of 667 guests, each with its guest's device; one of them
 * with an error quoting a path (JSON-escaped in the answer). */
static void disks(void *src,
		  void (*fn)(const struct xenbus_disk_info *, void *), void *arg)
{
	struct xenbus_disk_info *info = calloc(1, sizeof(*info));
	unsigned int i;

	CHECK(info, "out of memory");
	(void)src;
	for (i = 0; i < NR_DISKS; i++) {
		struct xenbus_dev_info *dev = &info->devs[0];

		memset(info, 0, sizeof(*info));
		info->owner = (uint16_t)(1 + i / 3);
		info->devid = 51712 + 16 * (i % 3);
		snprintf(info->vdev, sizeof(info->vdev), "xvd%c",
			 'a' + (int)(i % 3));
		snprintf(info->spec, sizeof(info->spec),
			 "blank:size=64M,store=ram,on-full=error");
		info->kind = DISKSPEC_BLANK;
		info->state = DISK_OPEN;
		info->cow.size_sectors = 131072;
		info->cow.used_blks = i;
		info->cow.used_bytes = (uint64_t)i * 4096;
		info->cow.limit_blks = 16384;
		if (i == 7)
			snprintf(info->error, sizeof(info->error),
				 "base \"/srv/x\\y\": no such file");
		info->nr_devs = 1;
		snprintf(dev->kind, sizeof(dev->kind), "vbd3");
		dev->domid = info->owner;
		dev->owner = info->owner;
		dev->devid = info->devid;
		dev->be_state = dev->fe_state = XENBUS_STATE_CONNECTED;
		dev->has_disk = true;
		dev->nr_rings = 1;
		fn(info, arg);
	}
	free(info);
}

/* Devices with no disk: one refused. */
static void devices(void *src,
		    void (*fn)(const struct xenbus_dev_info *, void *),
		    void *arg)
{
	struct xenbus_dev_info info = { .domid = 9999, .devid = 51712,
					.be_state = XENBUS_STATE_INIT_WAIT };

	(void)src;
	snprintf(info.kind, sizeof(info.kind), "vbd3");
	snprintf(info.error, sizeof(info.error), "bad disk spec: x");
	fn(&info, arg);
}

static int cmd_status(void *arg, char *const *args, struct control_out *out)
{
	struct status_source s = { disks, devices, NULL, arg };

	status_json(out, &s);
	return 0;
}

static const struct control_cmd commands[] = {
	{ "status", 0, cmd_status },
};

struct server {
	struct control *ctl;
	int stop[2];
	pthread_t thread;
};

static void *serve(void *arg)
{
	struct server *s = arg;

	for (;;) {
		struct pollfd p[1 + CONTROL_MAX_POLLFDS] = {
			{ .fd = s->stop[0], .events = POLLIN },
		};
		unsigned int n = control_pollfds(s->ctl, p + 1);

		if (poll(p, 1 + n, control_timeout_ms(s->ctl)) < 0)
			continue;
		if (p[0].revents)
			break;
		control_process(s->ctl, p + 1, n);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the CLI with args; its stdout into a malloc()ed string. */
static int run_cli(const char *sock, const char *const *args, char **out_r)
{
	const char *top = getenv("top_builddir");
	char cli[4096];
	const char *argv[16];
	int pfd[2], status, n = 0;
	size_t len = 0, cap = 1 << 16;
	char *out = malloc(cap);
	pid_t pid;
	ssize_t r;

	CHECK(out, "malloc");
	snprintf(cli, sizeof(cli), "%s/tools/xen-ephemeral", top ? top : ".");
	argv[n++] = cli;
	while (*args)
		argv[n++] = *args++;
	argv[n++] = "-c";
	argv[n++] = sock;
	argv[n] = NULL;
	CHECK(pipe(pfd) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		alarm(30);
		execv(cli, (char **)argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((r = read(pfd[0], out + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (cap - len < 4096) {
			cap *= 2;
			out = realloc(out, cap);
			CHECK(out, "realloc");
		}
	}
	out[len] = '\0';
	close(pfd[0]);
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	*out_r = out;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static unsigned int count(const char *hay, const char *needle)
{
	unsigned int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static void set_sun_path(struct sockaddr_un *sa, const char *path)
{
	CHECK(strlen(path) < sizeof(sa->sun_path), "socket path too long");
	memcpy(sa->sun_path, path, strlen(path) + 1);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0, "socket");
	set_sun_path(&sa, path);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
	      "connect: %s", strerror(errno));
	return fd;
}

/* Every disk, in a whole answer, with a valid end, and exit status 0. */
static void test_big_answer(const char *sock)
{
	const char *list[] = { "list", NULL };
	const char *json[] = { "status", "--json", NULL };
	char *out;
	int rc;

	rc = run_cli(sock, list, &out);
	CHECK(rc == 0, "list exited %d", rc);
	/* a header, the disks, a blank line, "no disk:" and one device */
	CHECK(count(out, "\n") == NR_DISKS + 4,
	      "list printed %u lines for %u disks", count(out, "\n"),
	      NR_DISKS);
	CHECK(strstr(out, "bad disk spec: x"), "list lacks the refused device");
	free(out);
	rc = run_cli(sock, json, &out);
	CHECK(rc == 0, "status --json exited %d", rc);
	CHECK(count(out, "{\"owner\"") == NR_DISKS,
	      "status --json listed %u of %u disks (%zu bytes)",
	      count(out, "{\"owner\""), NR_DISKS, strlen(out));
	CHECK(strlen(out) > 3 && !strcmp(out + strlen(out) - 3, "]}\n"),
	      "status --json does not end the JSON document");
	CHECK(strstr(out, "\"error\": \"base \\\"/srv/x\\\\y\\\": no such "
			  "file\""),
	      "an error with quotes is not escaped as JSON");
	printf("  2000 disks: list and status --json whole (%zu bytes)\n",
	       strlen(out));
	free(out);
	{
		const char *st3[] = { "status", "3", NULL };
		const char *top[] = { "top", "-n", "1", NULL };

		/* owner 3 has disks 6, 7 (the one with an error) and 8 */
		rc = run_cli(sock, st3, &out);
		CHECK(rc == 0, "status 3 exited %d", rc);
		CHECK(count(out, "disk xvd") == 3 && count(out, "of domain 3:") == 3,
		      "status 3 shows %u disks: %s", count(out, "disk xvd"), out);
		CHECK(strstr(out, "error: base \"/srv/x\\y\": no such file"),
		      "status 3 does not show the error as it was: %s", out);
		free(out);
		rc = run_cli(sock, top, &out);
		CHECK(rc == 0, "top -n 1 exited %d", rc);
		CHECK(count(out, " ram ") == NR_DISKS, "top shows %u disks",
		      count(out, " ram "));
		free(out);
	}
}

/* 40 clients that connect and say nothing hold nobody up. */
static void test_silent_clients(const char *sock)
{
	const char *list[] = { "list", NULL };
	int fds[40];
	unsigned int i;
	double t0, dt;
	char *out;
	int rc;

	for (i = 0; i < 40; i++)
		fds[i] = connect_to(sock);
	t0 = now_s();
	rc = run_cli(sock, list, &out);
	dt = now_s() - t0;
	CHECK(rc == 0, "list exited %d with 40 silent clients", rc);
	CHECK(dt < 4.0,
	      "list took %.1f s while 40 silent clients were connected", dt);
	free(out);
	for (i = 0; i < 40; i++)
		close(fds[i]);
	printf("  40 silent clients: another answered in %.2f s\n", dt);
}

/* Read a whole answer (to EOF) from a raw connection. */
static char *ask_raw(const char *sock, const char *req)
{
	int fd = connect_to(sock);
	size_t len = 0, cap = 1 << 20;
	char *out = malloc(cap);
	ssize_t r;

	CHECK(out, "malloc");
	CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req), "write");
	while ((r = read(fd, out + len, cap - len - 1)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(fd);
	return out;
}

/* Requests are matched whole: "statusX" is not "status". */
static void test_strict_requests(const char *sock)
{
	const char *bad[] = { "statusX\n", "status extra junk\n", "\n",
			      "STATUS\n" };
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = ask_raw(sock, bad[i]);

		CHECK(!strstr(out, "\"domid\""),
		      "request '%.*s' was answered as status",
		      (int)strcspn(bad[i], "\n"), bad[i]);
		CHECK(strstr(out, "error"), "request '%.*s': answer '%.60s'",
		      (int)strcspn(bad[i], "\n"), bad[i], out);
		free(out);
	}
	printf("  malformed requests refused\n");
}

/* A server that cuts its answer short: the CLI must not report success. */
struct cutter {
	int lfd;
	const char *answer;
	size_t len;
};

static void *cut_short(void *arg)
{
	struct cutter *c = arg;
	char req[256];
	int fd = accept(c->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	(void)!read(fd, req, sizeof(req));
	(void)!write(fd, c->answer, c->len);
	close(fd);
	return NULL;
}

static void test_cli_checks_whole(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char answer[8192];
	const char *args[] = { "status", "--json", NULL };
	struct cutter c;
	pthread_t t;
	char path[4200], *out;
	int rc, n;

	snprintf(path, sizeof(path), "%s/cut.sock", test_tmpdir());
	set_sun_path(&sa, path);
	c.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(c.lfd >= 0 && bind(c.lfd, (struct sockaddr *)&sa, sizeof(sa)) ==
				    0 && listen(c.lfd, 1) == 0,
	      "listen");
	/* A framed answer announcing more than it sends, then a bare one. */
	n = snprintf(answer, sizeof(answer),
		     "%s 4000\n[\n  {\"kind\": \"ephemeral\", \"domid\": 1, ",
		     CONTROL_ANSWER_OK);
	c.answer = answer;
	c.len = (size_t)n;
	CHECK(pthread_create(&t, NULL, cut_short, &c) == 0, "thread");
	rc = run_cli(path, args, &out);
	pthread_join(t, NULL);
	CHECK(rc != 0, "the CLI exited 0 on an answer cut short: '%s'", out);
	free(out);
	c.answer = "[\n  {\"kind\": \"ephemeral\", \"domid\": 1, ";
	c.len = strlen(c.answer);
	CHECK(pthread_create(&t, NULL, cut_short, &c) == 0, "thread");
	rc = run_cli(path, args, &out);
	pthread_join(t, NULL);
	CHECK(rc != 0, "the CLI exited 0 on an unframed answer: '%s'", out);
	free(out);
	close(c.lfd);
	unlink(path);
	printf("  a cut answer is an error, never success\n");
}

int main(void)
{
	struct server s;
	char sock[4200];

	test_seed("test-control");
	snprintf(sock, sizeof(sock), "%s/control/sock", test_tmpdir());
	CHECK_OK(control_new(sock, commands, 1, NULL, &s.ctl));
	CHECK(pipe(s.stop) == 0, "pipe");
	CHECK(pthread_create(&s.thread, NULL, serve, &s) == 0, "thread");

	test_big_answer(sock);
	test_silent_clients(sock);
	test_strict_requests(sock);
	test_cli_checks_whole();

	(void)!write(s.stop[1], "x", 1);
	pthread_join(s.thread, NULL);
	control_free(s.ctl);
	printf("test-control: OK\n");
	return 0;
}
