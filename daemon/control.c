/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket. Only root can connect (the socket's directory is 0700
 * and the peer's uid is checked at accept).
 *
 * Every client is a small state machine driven from the main loop's poll():
 * READING (collect one request line, at most CONTROL_REQUEST_MAX bytes)
 * -> the answer is built in memory at once -> WRITING (send as much as the
 * socket takes on each POLLOUT) -> closed. Sockets are non-blocking, so no
 * client can stall the loop or another client; a client past its deadline
 * (CONTROL_REQUEST_TIMEOUT_MS to ask, CONTROL_ANSWER_TIMEOUT_MS to read) is
 * dropped. A request is a command and its arguments, single spaces
 * between, matched whole against the caller's table.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "platform/log.h"
#include "daemon/control.h"

#define CONTROL_REQUEST_MAX 256u

struct client {
	int fd; /* -1: slot free */
	bool writing;
	char req[CONTROL_REQUEST_MAX + 1];
	size_t req_len;
	char *out;
	size_t out_len, out_off;
	uint64_t deadline_ms;
};

struct control {
	int fd;
	const struct control_cmd *cmds;
	unsigned int nr_cmds;
	void *arg;
	struct client clients[CONTROL_MAX_CLIENTS];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void control_printf(struct control_out *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL,
			      b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = (b->cap + (size_t)n + 1) * 2;
			char *p = realloc(b->p, cap);

			if (!p)
				return;
			b->p = p;
			b->cap = cap;
		}
	}
}

/* The answer: header with the body's length, then the body. */
static void frame(struct client *c, const char *status, const struct control_out *b)
{
	char hdr[CONTROL_HEADER_MAX];
	int n = snprintf(hdr, sizeof(hdr), "%s %zu\n", status,
			 b->p ? b->len : 0);

	c->out = malloc((size_t)n + (b->p ? b->len : 0));
	if (!c->out) {
		c->out_len = 0;
		return;
	}
	memcpy(c->out, hdr, (size_t)n);
	if (b->p)
		memcpy(c->out + n, b->p, b->len);
	c->out_len = (size_t)n + (b->p ? b->len : 0);
	c->out_off = 0;
}

/* Split line into words (in place, at single spaces); how many. */
static unsigned int split(char *line, char **words, unsigned int max)
{
	unsigned int n = 0;
	char *p = line;

	while (*p && n < max) {
		words[n++] = p;
		p = strchr(p, ' ');
		if (!p)
			break;
		*p++ = '\0';
	}
	return p && *p ? max + 1 : n; /* max + 1: too many words */
}

/* A whole request line arrived: dispatch it, build the answer. */
static void answer(struct control *ctl, struct client *c)
{
	struct control_out out = { 0 };
	char *words[CONTROL_MAX_ARGS + 2];
	const struct control_cmd *cmd = NULL;
	unsigned int n, i;
	bool ok = false;

	c->req[c->req_len] = '\0';
	n = memchr(c->req, '\0', c->req_len) ? 0 :
						split(c->req, words,
						      CONTROL_MAX_ARGS + 1);
	for (i = 0; n && n <= CONTROL_MAX_ARGS + 1 && i < ctl->nr_cmds; i++)
		if (!strcmp(words[0], ctl->cmds[i].name) &&
		    n - 1 == ctl->cmds[i].nr_args)
			cmd = &ctl->cmds[i];
	if (cmd) {
		ok = cmd->fn(ctl->arg, words + 1, &out) == 0;
	} else {
		control_printf(&out, "unknown request (expected:");
		for (i = 0; i < ctl->nr_cmds; i++)
			control_printf(&out, " %s%s", ctl->cmds[i].name,
				       ctl->cmds[i].nr_args ? " ..." : "");
		control_printf(&out, ")\n");
	}
	frame(c, ok ? CONTROL_ANSWER_OK : CONTROL_ANSWER_ERROR, &out);
	free(out.p);
	c->writing = true;
	c->deadline_ms = now_ms() + CONTROL_ANSWER_TIMEOUT_MS;
}

static void drop(struct client *c)
{
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void accept_all(struct control *ctl)
{
	int fd;

	while ((fd = accept4(ctl->fd, NULL, NULL,
			     SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct client *c = NULL;
		unsigned int i;

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
		    cred.uid != 0) {
			close(fd);
			continue;
		}
		for (i = 0; i < CONTROL_MAX_CLIENTS && !c; i++)
			if (ctl->clients[i].fd < 0)
				c = &ctl->clients[i];
		if (!c) {
			/* Full: the client that has been silent the longest
			 * makes room; one still reading its answer never. */
			for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
				struct client *o = &ctl->clients[i];

				if (!o->writing &&
				    (!c || o->deadline_ms < c->deadline_ms))
					c = o;
			}
			if (c)
				drop(c);
		}
		if (!c) {
			log_msg(LOG_WARNING, "control: %u clients reading "
					     "answers; one more refused",
				CONTROL_MAX_CLIENTS);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->deadline_ms = now_ms() + CONTROL_REQUEST_TIMEOUT_MS;
	}
}

/* Read what the client sent; answer once a line is complete. */
static void client_read(struct control *ctl, struct client *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->req + c->req_len,
				 CONTROL_REQUEST_MAX - c->req_len, MSG_DONTWAIT);
		char *nl;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			drop(c); /* gone before asking */
			return;
		}
		nl = memchr(c->req + c->req_len, '\n', (size_t)n);
		c->req_len += (size_t)n;
		if (nl) {
			c->req_len = (size_t)(nl - c->req);
			answer(ctl, c);
			return;
		}
		if (c->req_len == CONTROL_REQUEST_MAX) {
			c->req_len = 0; /* too long: not any request */
			answer(ctl, c);
			return;
		}
	}
}

static void client_write(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			break;
		c->out_off += (size_t)n;
	}
	drop(c); /* all sent, or the client went away */
}

unsigned int control_pollfds(struct control *ctl, struct pollfd *p)
{
	unsigned int i, n = 0;

	p[n++] = (struct pollfd){ .fd = ctl->fd, .events = POLLIN };
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *c = &ctl->clients[i];

		if (c->fd >= 0)
			p[n++] = (struct pollfd){
				.fd = c->fd,
				.events = c->writing ? POLLOUT : POLLIN,
			};
	}
	return n;
}

static struct client *client_of(struct control *ctl, int fd)
{
	unsigned int i;

	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i].fd == fd)
			return &ctl->clients[i];
	return NULL;
}

void control_process(struct control *ctl, const struct pollfd *p,
		     unsigned int n)
{
	uint64_t t;
	unsigned int i;

	for (i = 1; i < n; i++) {
		struct client *c = client_of(ctl, p[i].fd);

		if (!c || !p[i].revents)
			continue;
		if (c->writing)
			client_write(c);
		else
			client_read(ctl, c);
	}
	if (n > 0 && p[0].revents)
		accept_all(ctl);
	t = now_ms();
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *c = &ctl->clients[i];

		if (c->fd >= 0 && t >= c->deadline_ms)
			drop(c);
	}
}

int control_timeout_ms(struct control *ctl)
{
	uint64_t t = now_ms(), best = UINT64_MAX;
	unsigned int i;

	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i].fd >= 0 &&
		    ctl->clients[i].deadline_ms < best)
			best = ctl->clients[i].deadline_ms;
	if (best == UINT64_MAX)
		return -1;
	return best <= t ? 0 : (int)(best - t);
}

int control_new(const char *path, const struct control_cmd *cmds,
		unsigned int nr_cmds, void *arg, struct control **ctl_r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *ctl;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	unsigned int i;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	strcpy(ctl->path, path);
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		ctl->clients[i].fd = -1;
	ctl->cmds = cmds;
	ctl->nr_cmds = nr_cmds;
	ctl->arg = arg;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->fd < 0) {
		rc = -errno;
		free(ctl);
		return rc;
	}
	unlink(path); /* a stale socket from an earlier run */
	if (bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(path, 0600) || listen(ctl->fd, 64)) {
		rc = -errno;
		close(ctl->fd);
		free(ctl);
		return rc;
	}
	*ctl_r = ctl;
	return 0;
}

void control_free(struct control *ctl)
{
	unsigned int i;

	if (!ctl)
		return;
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i].fd >= 0)
			drop(&ctl->clients[i]);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
}
