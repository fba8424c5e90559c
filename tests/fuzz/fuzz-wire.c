/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the worker protocol seen from the supervisor. A worker is
 * a guest's, and may be compromised: it may send anything on its socket
 * (backend/wire.h). This plays up to three such workers against the real
 * supervisor (xs-glue/registry.c over xs-glue/workers.c, on real
 * SOCK_SEQPACKET sockets; each "worker" is a child process that only waits
 * for its hang-up), sends what the input says, and holds the supervisor
 * to its promises against a model of its own:
 *
 * - it never crashes, and a descriptor a worker sends is never kept;
 * - a message that fails a check of its form (size, descriptors, hello,
 *   result, op, slot, attachment, a lease given back that was never held,
 *   a stats answer never asked) or of its sense (a tag never issued, an
 *   open answered twice) gets the worker killed, and nothing else: no
 *   callback, no pause, no lease;
 * - a message that passes has exactly the effects the model predicts
 *   (opened, connected, failed, pause and unpause calls, leases), and the
 *   worker lives on;
 * - the leases together never exceed the budget, and each LEASE the
 *   supervisor sends grants what the model says it must;
 * - a pause or unpause only ever names the worker's own guest, and every
 *   pause is undone by the end;
 * - when the registry is freed no worker process is left.
 *
 * Input:
 *   byte 0      bits 0-1: domains - 1 (3 is 3); bits 2-4: the budget
 *               (0, 1, 64, 100, 4096, 8192, 10000 or 1 Mi blocks)
 *   per domain  one byte: bits 0-1 its disks (0 is 1), bits 2-4: which of
 *               them are on-full=pause (the others on-full=error)
 *   records     until the input ends:
 *     h         bits 0-1: the domain (modulo); bits 2-3: 0, 1 a message,
 *               2 a message with descriptors, 3 an action of the
 *               supervisor's side; bits 4-5: 2 the message one to 32
 *               bytes short, 3 that much long, else exact
 *     message   [descriptors: 1 byte, modulo WIRE_MAX_FDS + 2]
 *               [short/long: 1 byte] op u32, slot u32, att u32, rc i32,
 *               val u64, tag u64 (host order), then 1 byte n and n bytes
 *               of the union (the rest zeros)
 *     action    1 byte what (modulo 6: connect, disconnect, set-limit, a
 *               stats request, a fence, detach), 1 byte which disk of the
 *               domain, 1 byte x (the attachment and queues, or the limit)
 *
 * The supervisor numbers its disks 1, 2, ... in the order they are
 * attached (domain by domain), and a disk's tag is its number << 16 (its
 * connects add a sequence number): a seed can name them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/wire.h"
#include "platform/log.h"
#include "platform/platform.h"
#include "xs-glue/diskspec.h"
#include "xs-glue/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DOMS 3u
#define MAX_DISKS 9u
#define MAX_EVENTS 256u
#define TAG_SHIFT 16u
#define HEAD_BYTES 32u

static const uint64_t budgets[8] = {
	0, 1, 64, 100, 4096, 8192, 10000, 1u << 20
};

struct fworker {
	uint16_t domid;
	pid_t pid;
	int sock; /* our end (a copy of the worker's), -1 once hung up */
	bool alive; /* the supervisor has it, as far as the model knows */
	bool hello;
	uint64_t lease;
	uint64_t grant; /* the LEASE the supervisor must send now */
	bool granted;
	uint64_t asked; /* the last stats token sent to it */
};

struct fdisk {
	bool present; /* in the registry */
	unsigned int num; /* its tag's high bits, and its devid */
	unsigned int dom;
	bool pause_spec;
	struct disk *d;
	bool open_seen; /* the OPEN request came */
	bool in_worker;
	unsigned int slot;
	enum disk_state st;
	bool paused;
	uint16_t conn_seq[WIRE_MAX_ATT];
	bool connecting[WIRE_MAX_ATT];
	unsigned int attached, nbd;
};

enum ev_kind { EV_OPENED = 1, EV_CONNECTED, EV_FAILED, EV_PAUSE };

static struct {
	struct registry *reg;
	unsigned int ndoms, ndisks;
	uint64_t budget, leased;
	struct fworker w[MAX_DOMS];
	struct fdisk k[MAX_DISKS];
	bool setup; /* workers may start now */
	int cur_dom; /* the domain whose message is being taken, or -1 */
	uint64_t got[MAX_EVENTS], want[MAX_EVENTS];
	unsigned int ngot, nwant;
	int pause_count[MAX_DOMS];
	int null_fd, base_fds;
	bool inited;
} fw;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz-wire: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static uint64_t ev(enum ev_kind kind, unsigned int num, unsigned int att,
		   unsigned int on, int rc, uint64_t val)
{
	return (uint64_t)kind << 56 | (uint64_t)(num & 0xffff) << 40 |
	       (uint64_t)(att & 3) << 38 | (uint64_t)(on & 1) << 37 |
	       (uint64_t)((unsigned int)-rc & 0xffff) << 16 | (val & 0xffff);
}

static void want(uint64_t e)
{
	if (fw.nwant == MAX_EVENTS)
		die("too many events");
	fw.want[fw.nwant++] = e;
}

static void got(uint64_t e)
{
	if (fw.ngot == MAX_EVENTS)
		die("too many callbacks");
	fw.got[fw.ngot++] = e;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* What the supervisor did is what the model said, in any order. */
static void events_match(const char *after)
{
	unsigned int i;

	qsort(fw.got, fw.ngot, sizeof(fw.got[0]), cmp_u64);
	qsort(fw.want, fw.nwant, sizeof(fw.want[0]), cmp_u64);
	if (fw.ngot != fw.nwant ||
	    memcmp(fw.got, fw.want, fw.ngot * sizeof(fw.got[0]))) {
		for (i = 0; i < fw.ngot; i++)
			fprintf(stderr, "  did  %016llx\n",
				(unsigned long long)fw.got[i]);
		for (i = 0; i < fw.nwant; i++)
			fprintf(stderr, "  want %016llx\n",
				(unsigned long long)fw.want[i]);
		die("after %s the supervisor did other than the model says",
		    after);
	}
	fw.ngot = fw.nwant = 0;
}

static struct fdisk *disk_of(const struct disk *d)
{
	uint32_t devid = disk_devid(d);

	if (devid < 1 || devid > fw.ndisks || !fw.k[devid - 1].present)
		die("a callback about disk %u, which is not there", devid);
	return &fw.k[devid - 1];
}

static unsigned int dom_of(uint16_t domid)
{
	if (domid < 1 || domid > fw.ndoms)
		die("domain %u is none of ours", domid);
	return domid - 1u;
}

/* ---- the registry's callbacks ---- */

static void on_opened(void *arg, struct disk *d)
{
	(void)arg;
	got(ev(EV_OPENED, disk_of(d)->num, 0, 0, 0, disk_state(d)));
}

static void on_connected(void *arg, struct disk *d, enum attach_kind att,
			 int rc, unsigned int nr_rings, const char *err)
{
	(void)arg;
	if (!memchr(err, '\0', 256))
		die("a connect's reason is not a string");
	got(ev(EV_CONNECTED, disk_of(d)->num, att, 0, rc, nr_rings));
}

static void on_failed(void *arg, struct disk *d)
{
	(void)arg;
	got(ev(EV_FAILED, disk_of(d)->num, 0, 0, 0, 0));
}

static int on_pause(void *arg, uint16_t domid, bool pause)
{
	unsigned int i = dom_of(domid);

	(void)arg;
	/* The promise in one line: a worker's message pauses (or resumes)
	 * its own guest only. */
	if (fw.cur_dom >= 0 && (unsigned int)fw.cur_dom != i)
		die("domain %u's worker got domain %u %spaused",
		    fw.w[fw.cur_dom].domid, domid, pause ? "" : "un");
	fw.pause_count[i] += pause ? 1 : -1;
	if (fw.pause_count[i] < 0)
		die("domain %u unpaused more often than paused", domid);
	got(ev(EV_PAUSE, domid, 0, pause, 0, 0));
	return 0;
}

/* The open's slow half, without a file: a 1 MiB blank disk in RAM. */
static int fake_plan(const struct diskspec *spec, struct disk_plan *dp,
		     char *err, size_t err_len)
{
	(void)err;
	(void)err_len;
	memset(dp, 0, sizeof(*dp));
	dp->plan.kind = COW_KIND_BLANK;
	dp->plan.store = WIRE_STORE_RAM;
	dp->plan.size_sectors = spec->size_bytes / 512;
	dp->plan.overlay_blks = spec->size_bytes / 4096;
	dp->plan.limit_blks = dp->plan.overlay_blks;
	dp->plan.on_full_pause = spec->on_full == DISKSPEC_ON_FULL_PAUSE;
	dp->base_fd = dp->scratch_fd = -1;
	return 0;
}

/* A "worker": a child that waits for its socket to hang up, and ends.
 * Everything but that socket is closed in it (another worker's socket
 * held open there would never hang up). */
static int fake_spawn(void *arg, uint16_t domid, int sock, pid_t *pid_r)
{
	struct fworker *w = &fw.w[dom_of(domid)];
	pid_t pid;
	int hs;

	(void)arg;
	if (!fw.setup || w->pid > 0)
		die("a worker started for domain %u unasked", domid);
	hs = fcntl(sock, F_DUPFD_CLOEXEC, 3);
	if (hs < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int rc = -errno;

		close(hs);
		return rc;
	}
	if (pid == 0) {
		/* raw system calls only: a fork of a threaded process */
		struct pollfd p = { .fd = 3, .events = 0 };

		if (sock != 3)
			syscall(SYS_dup3, sock, 3, 0);
		syscall(SYS_close_range, 4u, ~0u, 0u);
		for (;;)
			if (syscall(SYS_ppoll, &p, 1ul, NULL, NULL, 0ul) > 0)
				_exit(0);
	}
	w->pid = pid;
	w->sock = hs;
	w->alive = true;
	*pid_r = pid;
	return 0;
}

/* ---- the model ---- */

/* The worker of domain i is gone (killed, or released): what on_gone and
 * workers.c do. */
static void model_worker_gone(unsigned int i, bool killed)
{
	struct fworker *w = &fw.w[i];
	unsigned int j;

	w->alive = false;
	fw.leased -= w->lease;
	w->lease = 0;
	if (!killed)
		return;
	for (j = 0; j < fw.ndisks; j++) {
		struct fdisk *k = &fw.k[j];

		if (!k->present || k->dom != i || !k->in_worker)
			continue;
		if (k->paused)
			want(ev(EV_PAUSE, w->domid, 0, 0, 0, 0));
		k->paused = false;
		k->in_worker = false;
		k->nbd = 0;
		k->connecting[0] = k->connecting[1] = false;
		if (!k->attached) {
			k->present = false; /* an NBD-only disk: dropped */
			continue;
		}
		want(k->st == DISK_OPEN ?
			     ev(EV_FAILED, k->num, 0, 0, 0, 0) :
			     ev(EV_OPENED, k->num, 0, 0, 0, DISK_FAILED));
		k->st = DISK_FAILED;
	}
}

static bool dom_has_disks(unsigned int i)
{
	for (unsigned int j = 0; j < fw.ndisks; j++)
		if (fw.k[j].present && fw.k[j].dom == i)
			return true;
	return false;
}

/* close_disk(): the last attachment went. */
static void model_close(struct fdisk *k)
{
	if (k->paused)
		want(ev(EV_PAUSE, fw.w[k->dom].domid, 0, 0, 0, 0));
	k->paused = false;
	k->present = false;
	if (!dom_has_disks(k->dom) && fw.w[k->dom].alive)
		model_worker_gone(k->dom, false); /* released */
}

/* on_answer(): true if the answer makes sense (its effects predicted). */
static bool model_answer(unsigned int i, const struct wire_msg *m)
{
	uint64_t num = m->tag >> TAG_SHIFT;
	struct fdisk *k;

	if (num == 0 || num > fw.ndisks)
		return false;
	k = &fw.k[num - 1];
	if (!k->present || k->dom != i || !k->in_worker || k->slot != m->slot)
		return true; /* about a disk that is gone: late, not wrong */
	switch (m->op) {
	case WIRE_OPENED:
		if (k->st != DISK_OPENING)
			return false;
		if (m->rc) {
			k->in_worker = false;
			k->st = DISK_FAILED;
		} else {
			k->st = DISK_OPEN;
		}
		want(ev(EV_OPENED, k->num, 0, 0, 0, k->st));
		return true;
	case WIRE_CONNECTED:
		if ((m->tag & 0xffff) != k->conn_seq[m->att] ||
		    !k->connecting[m->att])
			return true;
		k->connecting[m->att] = false;
		want(ev(EV_CONNECTED, k->num, m->att, 0, m->rc, m->val));
		return true;
	case WIRE_NBD_CLIENTS:
		k->nbd = m->val > 64 ? 64 : (unsigned int)m->val;
		if (!k->attached && !k->nbd)
			model_close(k);
		return true;
	case WIRE_FULL:
	case WIRE_ROOM:
		if (k->st == DISK_OPEN && k->pause_spec &&
		    k->paused != (m->op == WIRE_FULL)) {
			k->paused = m->op == WIRE_FULL;
			want(ev(EV_PAUSE, fw.w[i].domid, 0, k->paused, 0, 0));
		}
		return true;
	default:
		return true;
	}
}

/* workers.c's check of the form, then the sense: true if the worker may
 * live on (the effects predicted), false if it is to be killed. */
static bool model_message(unsigned int i, const struct wire_msg *m,
			  unsigned int nfds, bool exact)
{
	struct fworker *w = &fw.w[i];

	if (!exact || nfds)
		return false; /* malformed, or descriptors */
	if (!w->hello && m->op != WIRE_HELLO)
		return false;
	if (m->rc > 0 || m->rc < -4095)
		return false;
	switch (m->op) {
	case WIRE_HELLO:
		if (w->hello || m->val != WIRE_VERSION)
			return false;
		w->hello = true;
		return true;
	case WIRE_OPENED:
	case WIRE_CLOSED:
	case WIRE_EXPORTED:
	case WIRE_NBD_CLIENTS:
	case WIRE_LIMIT_SET:
	case WIRE_FULL:
	case WIRE_ROOM:
		return m->slot < WIRE_MAX_SLOTS && model_answer(i, m);
	case WIRE_CONNECTED:
	case WIRE_DISCONNECTED:
		return m->slot < WIRE_MAX_SLOTS && m->att < WIRE_MAX_ATT &&
		       model_answer(i, m);
	case WIRE_WANT_LEASE:
		if (fw.budget) {
			uint64_t left = fw.budget - fw.leased;
			uint64_t g = m->val < left ? m->val : left;

			w->lease += g;
			fw.leased += g;
			w->grant = g;
			w->granted = true;
		}
		return true;
	case WIRE_RETURN_LEASE:
		if (m->val > w->lease)
			return false;
		w->lease -= m->val;
		fw.leased -= m->val;
		return true;
	case WIRE_STATS_DONE:
		return m->val <= w->asked;
	default:
		return false;
	}
}

/* ---- the sockets ---- */

static void send_msg(struct fworker *w, const void *buf, size_t len,
		     unsigned int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * (WIRE_MAX_FDS + 1))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	unsigned int k;

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		for (k = 0; k < nfds; k++)
			memcpy(CMSG_DATA(c) + k * sizeof(int), &fw.null_fd,
			       sizeof(int));
	}
	if (sendmsg(w->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len)
		die("cannot send to the supervisor: %s", strerror(errno));
}

/* Take every request the supervisor sent to domain i's worker, holding
 * them to the model; note a hang-up. */
static void drain(unsigned int i)
{
	struct fworker *w = &fw.w[i];

	while (w->sock >= 0) {
		int fds[WIRE_MAX_FDS];
		unsigned int nfds = 0, k;
		struct wire_msg m;
		struct fdisk *d;
		int rc = wire_recv(w->sock, &m, fds, WIRE_MAX_FDS, &nfds);

		if (rc == -EAGAIN)
			return;
		if (rc == -EPIPE) {
			if (w->alive)
				die("domain %u's worker was hung up on, yet "
				    "did nothing wrong",
				    w->domid);
			close(w->sock);
			w->sock = -1;
			return;
		}
		if (rc)
			die("the supervisor sent a malformed request: %d", rc);
		for (k = 0; k < nfds; k++)
			close(fds[k]);
		d = m.tag >> TAG_SHIFT && m.tag >> TAG_SHIFT <= fw.ndisks ?
			    &fw.k[(m.tag >> TAG_SHIFT) - 1] :
			    NULL;
		switch (m.op) {
		case WIRE_INIT:
			if (nfds != 1 || m.val || m.att != (fw.budget != 0))
				die("INIT with %u fds, lease %llu", nfds,
				    (unsigned long long)m.val);
			break;
		case WIRE_OPEN:
			if (!d || d->dom != i || d->open_seen)
				die("an OPEN of no disk of ours");
			d->open_seen = d->in_worker = true;
			d->slot = m.slot;
			break;
		case WIRE_CONNECT:
			if (!d || nfds != m.u.rings.nr_queues ||
			    (m.tag & 0xffff) != d->conn_seq[m.att])
				die("a CONNECT the model did not ask for");
			break;
		case WIRE_LEASE:
			if (!fw.budget || m.att != 1 || !w->granted ||
			    m.val != w->grant)
				die("domain %u's worker was granted %llu, the "
				    "model says %llu",
				    w->domid, (unsigned long long)m.val,
				    (unsigned long long)w->grant);
			w->granted = false;
			break;
		case WIRE_STATS:
			if (m.val <= w->asked)
				die("a stats token that does not grow");
			w->asked = m.val;
			break;
		case WIRE_CLOSE:
		case WIRE_DISCONNECT:
		case WIRE_SET_LIMIT:
			break;
		default:
			die("the supervisor sent op %u", m.op);
		}
	}
}

static void pump(void)
{
	unsigned int i, round;

	for (round = 0; round < 3; round++) {
		registry_process(fw.reg);
		for (i = 0; i < fw.ndoms; i++)
			drain(i);
	}
}

/* The supervisor and the model agree on who is alive and what is leased. */
static void agree(const char *after)
{
	unsigned int i;

	for (i = 0; i < fw.ndoms; i++) {
		pid_t pid = registry_worker_pid(fw.reg, fw.w[i].domid);

		if (fw.w[i].alive ? pid != fw.w[i].pid : pid != -1)
			die("after %s, domain %u's worker is %ld, the model "
			    "says %s",
			    after, fw.w[i].domid, (long)pid,
			    fw.w[i].alive ? "alive" : "gone");
	}
	if (registry_leased_blks(fw.reg) != fw.leased)
		die("after %s, %llu blocks leased, the model says %llu", after,
		    (unsigned long long)registry_leased_blks(fw.reg),
		    (unsigned long long)fw.leased);
	if (fw.leased > fw.budget && fw.budget)
		die("leases of %llu blocks over a budget of %llu",
		    (unsigned long long)fw.leased,
		    (unsigned long long)fw.budget);
	events_match(after);
}

/* ---- actions of the supervisor's side ---- */

static struct fdisk *dom_disk(unsigned int i, unsigned int which)
{
	unsigned int n = 0, j;

	for (j = 0; j < fw.ndisks; j++)
		if (fw.k[j].dom == i && n++ == which % 3)
			return fw.k[j].present ? &fw.k[j] : NULL;
	for (j = 0; j < fw.ndisks; j++) /* fewer than which: the first */
		if (fw.k[j].dom == i)
			return fw.k[j].present ? &fw.k[j] : NULL;
	return NULL;
}

static void action(unsigned int i, uint8_t what, uint8_t which, uint8_t x)
{
	struct fdisk *k = dom_disk(i, which);
	unsigned int att = x & 1;
	char err[256];
	int rc;

	switch (what % 6) {
	case 0: { /* connect: one event channel a queue */
		struct wire_rings rings = { .domid = fw.w[i].domid,
					    .nr_queues = 1u + (x >> 1) % 4u };
		int fds[4];
		unsigned int q;
		bool can;

		if (!k)
			return;
		can = k->st == DISK_OPEN && k->in_worker;
		for (q = 0; q < rings.nr_queues; q++)
			fds[q] = eventfd(0, EFD_CLOEXEC);
		if (can)
			k->conn_seq[att]++;
		rc = registry_connect(fw.reg, k->d, (enum attach_kind)att,
				      &rings, fds, err, sizeof(err));
		for (q = 0; q < rings.nr_queues; q++)
			close(fds[q]);
		if ((rc == 0) != can)
			die("connect: %d, the model says %s", rc,
			    can ? "yes" : "no");
		if (!rc)
			k->connecting[att] = true;
		return;
	}
	case 1: /* disconnect */
		if (!k)
			return;
		k->connecting[att] = false;
		k->conn_seq[att]++;
		registry_disconnect(fw.reg, k->d, (enum attach_kind)att);
		return;
	case 2: { /* set-limit */
		bool can = k && k->st == DISK_OPEN && k->in_worker;

		if (!k)
			return;
		rc = registry_set_limit(fw.reg, k->d, (uint64_t)x << 12, err,
					sizeof(err));
		if (can && x >= 1 ? rc != 0 : rc == 0)
			die("set-limit %u: %d", x, rc);
		return;
	}
	case 3:
		registry_stats_request(fw.reg);
		return;
	case 4: {
		pid_t pid;

		registry_fence(fw.reg, fw.w[i].domid, &pid);
		return;
	}
	default: /* the guest's device goes */
		if (!k || !k->attached)
			return;
		k->attached = 0;
		k->connecting[0] = false;
		k->conn_seq[0]++;
		if (!k->nbd)
			model_close(k);
		registry_detach(fw.reg, k->d, ATTACH_GUEST);
		return;
	}
}

/* ---- one input ---- */

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int n = -1; /* the directory's own */

	if (!dir)
		die("no /proc/self/fd");
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

static void init_once(void)
{
	if (fw.inited)
		return;
	fw.inited = true;
	log_init("fuzz-wire", false, LOG_EMERG); /* kills are expected */
	signal(SIGPIPE, SIG_IGN);
	fw.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fw.null_fd < 0)
		die("no /dev/null");
	fw.base_fds = count_fds();
}

static void setup(const uint8_t **p, const uint8_t *end)
{
	struct registry_config cfg = { .spawn = fake_spawn,
				       .plan = fake_plan,
				       .opened = on_opened,
				       .connected = on_connected,
				       .failed = on_failed,
				       .pause = on_pause };
	uint8_t conf = *p < end ? *(*p)++ : 0;
	uint64_t until;
	unsigned int i, j;

	/* Counted afresh for each input: between two inputs libFuzzer may
	 * start the sanitizers' symbolizer (two pipes) to name a new
	 * function. What an input leaks shows at its own teardown. */
	fw.base_fds = count_fds();
	fw.ndoms = 1u + (conf & 3u);
	if (fw.ndoms > MAX_DOMS)
		fw.ndoms = MAX_DOMS;
	fw.budget = budgets[(conf >> 2) & 7u];
	cfg.budget_blks = fw.budget;
	if (registry_new(&cfg, &fw.reg))
		die("registry_new");
	fw.setup = true;
	for (i = 0; i < fw.ndoms; i++) {
		uint8_t b = *p < end ? *(*p)++ : 0;
		unsigned int n = (b & 3u) ? b & 3u : 1u;

		fw.w[i] = (struct fworker){ .domid = (uint16_t)(i + 1),
					    .sock = -1 };
		for (j = 0; j < n; j++) {
			struct fdisk *k = &fw.k[fw.ndisks];
			const char *text =
				b >> (2 + j) & 1 ?
					"blank:size=1M,on-full=pause" :
					"blank:size=1M,on-full=error";
			struct diskspec spec;
			char err[256];

			if (diskspec_parse(text, strlen(text), &spec, err,
					   sizeof(err)))
				die("spec %s: %s", text, err);
			*k = (struct fdisk){ .present = true,
					     .num = ++fw.ndisks,
					     .dom = i,
					     .pause_spec = b >> (2 + j) & 1,
					     .st = DISK_OPENING,
					     .attached = 1 };
			if (registry_attach(fw.reg, fw.w[i].domid, k->num,
					    &spec, false, ATTACH_GUEST, &k->d,
					    err, sizeof(err)))
				die("attach: %s", err);
		}
	}
	/* the opens run in threads: wait until every disk went to its
	 * worker (the first request of each worker is its INIT) */
	until = xp_now_ms() + 5000;
	for (;;) {
		bool all = true;

		pump();
		for (j = 0; j < fw.ndisks; j++)
			all = all && fw.k[j].open_seen;
		if (all)
			break;
		if (xp_now_ms() > until)
			die("the disks never went to their workers");
		poll(&(struct pollfd){ .fd = registry_fd(fw.reg),
				       .events = POLLIN },
		     1, 10);
	}
	fw.setup = false;
	agree("the opens");
}

static void teardown(void)
{
	unsigned int i, j;
	int st;

	for (i = 0; i < fw.ndoms; i++)
		if (fw.w[i].sock >= 0)
			close(fw.w[i].sock);
	fw.cur_dom = -1;
	for (j = 0; j < fw.ndisks; j++)
		if (fw.k[j].present && fw.k[j].paused)
			want(ev(EV_PAUSE, fw.w[fw.k[j].dom].domid, 0, 0, 0, 0));
	registry_free(fw.reg); /* waits for every worker to end */
	events_match("the end");
	for (i = 0; i < fw.ndoms; i++)
		if (fw.pause_count[i])
			die("domain %u left paused", i + 1);
	/* Each worker reaped: asked by pid, since the sanitizers' runtime
	 * keeps a child of its own (llvm-symbolizer, started when libFuzzer
	 * names a new function) that waitpid(-1) would find. */
	for (i = 0; i < fw.ndoms; i++)
		if (fw.w[i].pid > 0 &&
		    (waitpid(fw.w[i].pid, &st, WNOHANG) != -1 ||
		     errno != ECHILD))
			die("domain %u's worker (pid %d) was left behind",
			    i + 1, (int)fw.w[i].pid);
	if (count_fds() != fw.base_fds)
		die("%d descriptors, %d before the input", count_fds(),
		    fw.base_fds);
	memset(fw.w, 0, sizeof(fw.w));
	memset(fw.k, 0, sizeof(fw.k));
	memset(fw.pause_count, 0, sizeof(fw.pause_count));
	fw.reg = NULL;
	fw.ndoms = fw.ndisks = 0;
	fw.leased = 0;
}

static void record(const uint8_t **p, const uint8_t *end)
{
	uint8_t h = *(*p)++;
	unsigned int i = (h & 3u) % fw.ndoms, nfds = 0, n;
	unsigned int kind = h >> 2 & 3u, sizing = h >> 4 & 3u, delta = 0;
	struct fworker *w = &fw.w[i];
	uint8_t buf[sizeof(struct wire_msg) + 33] = { 0 };
	struct wire_msg m;
	size_t len = sizeof(m);
	bool alive;

	if (kind == 3) {
		if (end - *p < 3) {
			*p = end;
			return;
		}
		fw.cur_dom = -1; /* the supervisor's own doing */
		action(i, (*p)[0], (*p)[1], (*p)[2]);
		*p += 3;
		pump();
		agree("an action");
		return;
	}
	if (kind == 2 && *p < end)
		nfds = *(*p)++ % (WIRE_MAX_FDS + 2);
	if (sizing >= 2 && *p < end)
		delta = 1u + *(*p)++ % 32u;
	if (end - *p < HEAD_BYTES + 1) {
		*p = end;
		return;
	}
	memset(&m, 0, sizeof(m));
	memcpy(&m, *p, HEAD_BYTES); /* op slot att rc val tag */
	*p += HEAD_BYTES;
	n = *(*p)++;
	if ((size_t)(end - *p) < n)
		n = (unsigned int)(end - *p);
	memcpy(&m.u, *p, n);
	*p += n;
	if (!w->alive || w->sock < 0)
		return; /* nobody left to say it */
	if (sizing == 2)
		len -= delta;
	else if (sizing == 3)
		len += delta;
	memcpy(buf, &m, sizeof(m));
	fw.cur_dom = (int)i;
	alive = model_message(i, &m, nfds, len == sizeof(m));
	if (!alive)
		model_worker_gone(i, true);
	send_msg(w, buf, len, nfds);
	pump();
	fw.cur_dom = -1;
	agree(alive ? "a message that passes" : "a message that fails");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;

	init_once();
	fw.cur_dom = -1;
	setup(&p, end);
	while (p < end)
		record(&p, end);
	teardown();
	return 0;
}
