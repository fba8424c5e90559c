/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The supervisor's side of the workers (xs-glue/workers.h).
 *
 * A worker is watched through its socket (what it says, and its hang-up)
 * and a pidfd (its exit), both in one epoll set. Sends never block: a
 * worker that lets its socket fill up is not reading, and is killed.
 * Everything a worker sends is checked here for form (op, sizes, slot and
 * attachment ranges, text) and by the registry for sense (answer() and the
 * tags); the stats page is mapped read-only and sealed against shrinking,
 * so a worker can neither write into the supervisor nor make it fault.
 *
 * A worker that is gone stays on the list, as a zombie with its pidfd,
 * until the kernel says it exited; a new worker for the same domain may
 * start meanwhile.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform/log.h"
#include "platform/platform.h"
#include "xs-glue/workers.h"

#define SOCK_BUF_BYTES (1u << 20)
#define WORKERS_EXIT_GRACE_MS 10000u

struct proc {
	struct proc *next;
	uint16_t domid;
	pid_t pid;
	int sock;  /* -1 once gone */
	int pidfd; /* -1 once reaped (then the proc is freed) */
	bool hello;
	const struct wire_stats *stats; /* read-only mapping */
	uint64_t lease_blks;
	uint64_t stats_asked, stats_done; /* tokens */
	bool reaped; /* exited and waited for: freed at the end of a round */
	uint64_t kill_at_ms; /* released: SIGKILL if still there by then */
	bool hup; /* it hung up: its exit is awaited */
	/* epoll tags: which fd woke us */
	struct proc_tag {
		struct proc *p;
		int what; /* TAG_SOCK or TAG_PID */
	} tag_sock, tag_pid;
};

enum { TAG_SOCK, TAG_PID };

struct workers {
	struct workers_config cfg;
	int epfd;
	struct proc *procs;
	uint64_t leased;
	uint64_t stats_token;
};

/* ---- processes ---- */

static struct proc *live_proc(const struct workers *ws, uint16_t domid)
{
	struct proc *p;

	for (p = ws->procs; p; p = p->next)
		if (p->domid == domid && p->sock >= 0 && !p->hup)
			return p;
	return NULL;
}

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

static void unmap_stats(struct proc *p)
{
	if (p->stats)
		munmap((void *)p->stats, WIRE_STATS_BYTES);
	p->stats = NULL;
}

/* The worker is gone for the registry: its socket shut, its lease back. */
static void proc_gone(struct workers *ws, struct proc *p, const char *why)
{
	if (p->sock < 0)
		return;
	if (!p->hup)
		epoll_ctl(ws->epfd, EPOLL_CTL_DEL, p->sock, NULL);
	close(p->sock);
	p->sock = -1;
	ws->leased -= p->lease_blks;
	p->lease_blks = 0;
	unmap_stats(p);
	if (why) {
		/* broken or dead: make sure, and say so */
		kill(p->pid, SIGKILL);
		log_msg(LOG_ERR, "worker of domain %u (pid %ld): %s: its disks "
				 "are closed",
			p->domid, (long)p->pid, why);
		if (ws->cfg.gone)
			ws->cfg.gone(ws->cfg.arg, p->domid, p->pid, why);
	}
}

/* Wait for pid to end and reap it, through signals (EINTR). */
static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Whether the process behind pidfd ended within ms, through signals. */
static bool ended_within(int pidfd, int ms)
{
	uint64_t end = xp_now_ms() + (uint64_t)ms;

	for (;;) {
		struct pollfd pf = { .fd = pidfd, .events = POLLIN };
		uint64_t now = xp_now_ms();
		int rc;

		if (now >= end)
			return false;
		rc = poll(&pf, 1, (int)(end - now));
		if (rc > 0)
			return true;
		if (rc == 0 || errno != EINTR)
			return false;
	}
}

static void proc_free(struct workers *ws, struct proc *p)
{
	struct proc **pp;

	for (pp = &ws->procs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (p->pidfd >= 0) {
		epoll_ctl(ws->epfd, EPOLL_CTL_DEL, p->pidfd, NULL);
		close(p->pidfd);
	}
	free(p);
}

/* The process ended: reap it; report it if it was still ours. */
static void proc_exited(struct workers *ws, struct proc *p)
{
	int status = 0;
	char why[96];

	pid_t r = waitpid(p->pid, &status, WNOHANG);

	if (r == 0)
		return; /* not yet (a spurious wake-up) */
	if (r < 0)
		status = 0; /* reaped by someone else: an exit all the same */
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "killed by signal %d",
			 WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "exited with status %d",
			 WEXITSTATUS(status));
	if (p->sock >= 0)
		proc_gone(ws, p, why);
	else
		log_msg(LOG_DEBUG, "worker of domain %u (pid %ld) %s",
			p->domid, (long)p->pid, why);
	p->reaped = true;
}

static int map_stats(struct proc *p, int *fd_r)
{
	int fd = memfd_create("xen-ephemeral-stats",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *m;
	int rc;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, WIRE_STATS_BYTES) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
		    0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	m = mmap(NULL, WIRE_STATS_BYTES, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return rc;
	}
	p->stats = m;
	*fd_r = fd;
	return 0;
}

static int send_now(struct workers *ws, struct proc *p,
		    const struct wire_msg *m, const int *fds, unsigned int nfds)
{
	int rc = wire_send(p->sock, m, fds, nfds);

	if (rc == -EAGAIN)
		proc_gone(ws, p, "not reading its requests");
	else if (rc)
		proc_gone(ws, p, "its socket failed");
	return rc;
}

static int proc_start(struct workers *ws, uint16_t domid, struct proc **p_r)
{
	struct wire_msg init = { .op = WIRE_INIT,
				 .att = ws->cfg.budget_blks != 0 };
	struct epoll_event ev = { .events = EPOLLIN };
	int sv[2], buf = SOCK_BUF_BYTES, sfd = -1, rc;
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->domid = domid;
	p->sock = p->pidfd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       0, sv) < 0) {
		rc = -errno;
		free(p);
		return rc;
	}
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	rc = ws->cfg.spawn(ws->cfg.spawn_arg, domid, sv[1], &p->pid);
	close(sv[1]);
	if (rc) {
		close(sv[0]);
		free(p);
		return rc;
	}
	p->sock = sv[0];
	p->pidfd = pidfd_open_(p->pid);
	p->tag_sock.p = p->tag_pid.p = p;
	p->tag_sock.what = TAG_SOCK;
	p->tag_pid.what = TAG_PID;
	p->next = ws->procs;
	ws->procs = p;
	rc = p->pidfd < 0 ? -errno : 0;
	if (!rc) {
		ev.data.ptr = &p->tag_pid;
		if (epoll_ctl(ws->epfd, EPOLL_CTL_ADD, p->pidfd, &ev) < 0)
			rc = -errno;
	}
	if (!rc) {
		ev.data.ptr = &p->tag_sock;
		if (epoll_ctl(ws->epfd, EPOLL_CTL_ADD, p->sock, &ev) < 0)
			rc = -errno;
	}
	if (!rc)
		rc = map_stats(p, &sfd);
	if (!rc) {
		rc = send_now(ws, p, &init, &sfd, 1);
		close(sfd);
	}
	if (rc) {
		log_msg(LOG_ERR, "worker of domain %u: cannot start it: %s",
			domid, strerror(-rc));
		if (p->sock >= 0) {
			epoll_ctl(ws->epfd, EPOLL_CTL_DEL, p->sock, NULL);
			close(p->sock);
			p->sock = -1;
			unmap_stats(p);
		}
		kill(p->pid, SIGKILL);
		if (p->pidfd < 0) {
			reap(p->pid); /* no pidfd: reap it now */
			proc_free(ws, p);
		}
		return rc;
	}
	log_msg(LOG_INFO, "worker of domain %u started (pid %ld)", domid,
		(long)p->pid);
	*p_r = p;
	return 0;
}

/* ---- what a worker says ---- */

/* Error text from a worker: cut at its end, nothing but printable ASCII. */
static void clean_text(char *s, size_t len)
{
	size_t i;

	s[len - 1] = '\0';
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			s[i] = '?';
}

static void grant_lease(struct workers *ws, struct proc *p, uint64_t want)
{
	struct wire_msg m = { .op = WIRE_LEASE, .att = 1 };
	uint64_t left = ws->cfg.budget_blks - ws->leased;
	uint64_t g = want < left ? want : left;

	p->lease_blks += g;
	ws->leased += g;
	m.val = g; /* added to what it holds: its returns may be on the way */
	send_now(ws, p, &m, NULL, 0); /* always: a write waits for it */
}

/* NULL if m is well formed; else what is wrong with it. */
static const char *check_form(const struct proc *p, const struct wire_msg *m,
			      unsigned int nfds)
{
	if (nfds)
		return "sent descriptors";
	if (!p->hello && m->op != WIRE_HELLO)
		return "spoke before its hello";
	if (m->rc > 0 || m->rc < -4095)
		return "sent a result that is no error number";
	switch (m->op) {
	case WIRE_HELLO:
		return p->hello || m->val != WIRE_VERSION ?
			       "sent a second hello, or another version" :
			       NULL;
	case WIRE_OPENED:
	case WIRE_CLOSED:
	case WIRE_EXPORTED:
	case WIRE_NBD_CLIENTS:
	case WIRE_LIMIT_SET:
	case WIRE_FULL:
	case WIRE_ROOM:
		return m->slot < WIRE_MAX_SLOTS ? NULL : "named no slot";
	case WIRE_CONNECTED:
	case WIRE_DISCONNECTED:
		return m->slot < WIRE_MAX_SLOTS && m->att < WIRE_MAX_ATT ?
			       NULL :
			       "named no slot or attachment";
	case WIRE_WANT_LEASE:
		return NULL;
	case WIRE_RETURN_LEASE:
		return m->val <= p->lease_blks ? NULL :
						 "gave back more than it holds";
	case WIRE_STATS_DONE:
		return m->val <= p->stats_asked ? NULL :
						  "answered a stats request never made";
	default:
		return "sent an unknown message";
	}
}

/* Read what p said, as long as it says something (a bounded number of
 * messages per call, so one chatty worker cannot hold up the others). */
static void proc_read(struct workers *ws, struct proc *p)
{
	for (int left = 64; left-- && p->sock >= 0;) {
		int fds[WIRE_MAX_FDS];
		unsigned int nfds = 0, k;
		struct wire_msg m;
		const char *bad;
		int rc = wire_recv(p->sock, &m, fds, WIRE_MAX_FDS, &nfds);

		if (rc == -EAGAIN)
			return;
		if (rc == -EPIPE && !p->hup) {
			/* It is ending: its exit status (from the pidfd)
			 * will say how. One that lingers is killed. */
			epoll_ctl(ws->epfd, EPOLL_CTL_DEL, p->sock, NULL);
			p->hup = true;
			p->kill_at_ms = xp_now_ms() + 1000;
			return;
		}
		if (rc) {
			proc_gone(ws, p,
				  rc == -EBADMSG ? "sent a malformed message" :
						   "its socket failed");
			return;
		}
		for (k = 0; k < nfds; k++)
			close(fds[k]);
		bad = check_form(p, &m, nfds);
		if (bad) {
			proc_gone(ws, p, bad);
			return;
		}
		clean_text(m.u.err, sizeof(m.u.err));
		switch (m.op) {
		case WIRE_HELLO:
			p->hello = true;
			break;
		case WIRE_WANT_LEASE:
			if (ws->cfg.budget_blks)
				grant_lease(ws, p, m.val);
			break;
		case WIRE_RETURN_LEASE:
			p->lease_blks -= m.val;
			ws->leased -= m.val;
			break;
		case WIRE_STATS_DONE:
			if (m.val > p->stats_done)
				p->stats_done = m.val;
			break;
		default:
			if (!ws->cfg.answer(ws->cfg.arg, p->domid, &m)) {
				proc_gone(ws, p,
					  "answered what was never asked");
				return;
			}
		}
	}
}

void workers_process(struct workers *ws)
{
	struct epoll_event ev[32];
	struct proc *p, *next;
	int n, i;

	n = epoll_wait(ws->epfd, ev, 32, 0);
	for (i = 0; i < n; i++) {
		struct proc_tag *t = ev[i].data.ptr;

		if (t->what == TAG_PID)
			proc_exited(ws, t->p); /* marks it reaped */
		else if (t->p->sock >= 0 && !t->p->hup)
			proc_read(ws, t->p);
	}
	for (p = ws->procs; p; p = next) {
		next = p->next;
		if (p->reaped) {
			proc_free(ws, p);
		} else if (p->kill_at_ms && xp_now_ms() >= p->kill_at_ms) {
			log_msg(LOG_WARNING,
				"worker of domain %u (pid %ld) did not end "
				"after its hang-up: killed",
				p->domid, (long)p->pid);
			kill(p->pid, SIGKILL);
			p->kill_at_ms = 0;
		}
	}
}

int workers_send(struct workers *ws, uint16_t domid, const struct wire_msg *m,
		 const int *fds, unsigned int nfds)
{
	struct proc *p = live_proc(ws, domid);
	int rc;

	if (!p) {
		rc = proc_start(ws, domid, &p);
		if (rc)
			return rc;
	}
	return send_now(ws, p, m, fds, nfds);
}

void workers_release(struct workers *ws, uint16_t domid)
{
	struct proc *p = live_proc(ws, domid);

	if (p) {
		proc_gone(ws, p, NULL); /* it ends on its own at the hang-up */
		p->kill_at_ms = xp_now_ms() + WORKERS_EXIT_GRACE_MS;
	}
}

int workers_timeout_ms(const struct workers *ws)
{
	const struct proc *p;
	uint64_t now = xp_now_ms(), best = UINT64_MAX;

	for (p = ws->procs; p; p = p->next)
		if (p->kill_at_ms && !p->reaped && p->kill_at_ms < best)
			best = p->kill_at_ms;
	if (best == UINT64_MAX)
		return -1;
	return best <= now ? 0 : (int)(best - now);
}

bool workers_running(const struct workers *ws, uint16_t domid)
{
	return live_proc(ws, domid) != NULL;
}

pid_t workers_pid(const struct workers *ws, uint16_t domid)
{
	const struct proc *p = live_proc(ws, domid);

	return p ? p->pid : -1;
}

int workers_slot_stats(const struct workers *ws, uint16_t domid,
		       unsigned int slot, struct wire_slot_stats *out)
{
	const struct proc *p = live_proc(ws, domid);
	const struct wire_slot_stats *s;
	int tries;

	if (!p || !p->stats || slot >= WIRE_MAX_SLOTS)
		return -ENOENT;
	s = &p->stats->slot[slot];
	for (tries = 0; tries < 100; tries++) {
		uint32_t a = atomic_load_explicit(
			(_Atomic uint32_t *)&s->seq, memory_order_acquire);

		if (a & 1)
			continue;
		memcpy(out, (const void *)s, sizeof(*out));
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit((_Atomic uint32_t *)&s->seq,
					 memory_order_relaxed) == a)
			return 0;
	}
	return -EBUSY;
}

uint64_t workers_stats_request(struct workers *ws)
{
	struct wire_msg m = { .op = WIRE_STATS };
	struct proc *p, *next;

	m.val = ++ws->stats_token;
	for (p = ws->procs; p; p = next) {
		next = p->next;
		if (p->sock < 0)
			continue;
		p->stats_asked = m.val;
		send_now(ws, p, &m, NULL, 0);
	}
	return m.val;
}

uint64_t workers_fence(struct workers *ws, uint16_t domid, pid_t *pid_r)
{
	struct wire_msg m = { .op = WIRE_STATS };
	struct proc *p = live_proc(ws, domid);

	if (!p) {
		/* Hung up on, and maybe still unmapping on its way out: its
		 * end is the fence. */
		for (p = ws->procs; p; p = p->next)
			if (p->domid == domid && !p->reaped) {
				*pid_r = p->pid;
				return ++ws->stats_token;
			}
		return 0;
	}
	m.val = ++ws->stats_token;
	p->stats_asked = m.val;
	if (send_now(ws, p, &m, NULL, 0))
		return 0; /* gone: nothing of it is mapped any more */
	*pid_r = p->pid;
	return m.val;
}

bool workers_fence_passed(const struct workers *ws, pid_t pid, uint64_t token)
{
	const struct proc *p;

	for (p = ws->procs; p; p = p->next)
		if (p->pid == pid)
			/* a worker that hung up may still be unmapping */
			return p->sock >= 0 ? p->stats_done >= token : p->reaped;
	return true; /* reaped: the kernel unmapped all it had */
}

bool workers_stats_fresh(const struct workers *ws, uint64_t token)
{
	const struct proc *p;

	for (p = ws->procs; p; p = p->next)
		if (p->sock >= 0 && p->hello && p->stats_asked >= token &&
		    p->stats_done < token)
			return false;
	return true;
}

uint64_t workers_leased_blks(const struct workers *ws)
{
	return ws->leased;
}

int workers_new(const struct workers_config *cfg, struct workers **ws_r)
{
	struct workers *ws = calloc(1, sizeof(*ws));

	if (!ws)
		return -ENOMEM;
	ws->cfg = *cfg;
	ws->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ws->epfd < 0) {
		int rc = -errno;

		free(ws);
		return rc;
	}
	*ws_r = ws;
	return 0;
}

int workers_fd(struct workers *ws)
{
	return ws->epfd;
}

void workers_free(struct workers *ws)
{
	struct proc *p;

	if (!ws)
		return;
	/* Hang up on each; each frees its disks (wiping them) and ends. */
	for (p = ws->procs; p; p = p->next)
		if (p->sock >= 0)
			proc_gone(ws, p, NULL);
	while ((p = ws->procs)) {
		/* A worker still wiping a large overlay gets its time; one
		 * that is stuck gets SIGKILL after 10 s. */
		if (p->pidfd >= 0 && !ended_within(p->pidfd, 10000))
			kill(p->pid, SIGKILL);
		reap(p->pid);
		p->reaped = true;
		proc_free(ws, p);
	}
	close(ws->epfd);
	free(ws);
}
