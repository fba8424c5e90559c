/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated Xen, reached from another process: a test's daemon runs
 * every guest's worker as a real process (tests/sim/sim-worker.c), and the
 * worker's platform calls come back here.
 *
 * - Guest memory: every page a test frontend grants comes from one arena,
 *   a memfd this process maps and each worker maps too, so a grant map or
 *   copy in a worker reaches the frontend's very page (sim_page_alloc).
 * - Grants: a worker's grant ops are requests on its platform socket; a
 *   thread here runs them against the sim as dom0. A map answers with the
 *   arena offset of the (contiguous) pages; a copy is checked and pinned
 *   here exactly as sim_gnt_copy does it, the worker then copies between
 *   its own buffer and its arena mapping and says so (RQ_GNT_UNPIN), and
 *   only then may the frontend end those grants or its domain's pages be
 *   freed and given to another (Xen's copy is one hypercall).
 * - Event channels: the daemon's evt_export gives a socket; a thread here
 *   serves that handle on it, and the worker's evt_import talks to it. The
 *   handle's readiness eventfd is passed along, so a ring polls it as it
 *   would the real /dev/xen/evtchn.
 *
 * Requests are small fixed headers plus arrays, on SOCK_SEQPACKET sockets;
 * one request at a time per socket (the client holds a mutex).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/sim/sim-priv.h"

#define ARENA_BYTES (1ull << 30)
#define ARENA_PAGES (ARENA_BYTES / XP_PAGE_BYTES)
#define MAX_MAP 1024u
#define MAX_COPY 2048u

/* ================= the arena ================= */

static struct {
	pthread_once_t once;
	pthread_mutex_t lock;
	int fd;
	uint8_t *base;
	uint8_t *used;  /* one byte a page */
	uint32_t *run;  /* pages of the allocation starting here */
	uint64_t hint;
} arena = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER,
	    .fd = -1 };

static void arena_init(void)
{
	arena.fd = memfd_create("sim-guest-memory", MFD_CLOEXEC);
	if (arena.fd < 0 || ftruncate(arena.fd, (off_t)ARENA_BYTES) < 0) {
		fprintf(stderr, "sim: no arena: %s\n", strerror(errno));
		abort();
	}
	arena.base = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_NORESERVE, arena.fd, 0);
	arena.used = calloc(ARENA_PAGES, 1);
	arena.run = calloc(ARENA_PAGES, sizeof(*arena.run));
	if (arena.base == MAP_FAILED || !arena.used || !arena.run) {
		fprintf(stderr, "sim: no arena mapping\n");
		abort();
	}
}

void *sim_page_alloc(unsigned int npages)
{
	uint64_t i, start, n;

	pthread_once(&arena.once, arena_init);
	if (!npages || npages > ARENA_PAGES)
		return NULL;
	pthread_mutex_lock(&arena.lock);
	for (n = 0; n < ARENA_PAGES; n++) {
		start = (arena.hint + n) % ARENA_PAGES;
		if (start + npages > ARENA_PAGES)
			continue;
		for (i = 0; i < npages && !arena.used[start + i]; i++)
			;
		if (i == npages) {
			memset(arena.used + start, 1, npages);
			arena.run[start] = npages;
			arena.hint = start + npages;
			pthread_mutex_unlock(&arena.lock);
			memset(arena.base + start * XP_PAGE_BYTES, 0,
			       (size_t)npages * XP_PAGE_BYTES);
			return arena.base + start * XP_PAGE_BYTES;
		}
		n += i; /* skip past the page in use */
	}
	pthread_mutex_unlock(&arena.lock);
	return NULL;
}

void sim_page_free(void *p)
{
	uint64_t start;
	uint32_t n;

	if (!p)
		return;
	if (!sim_arena_has(p, XP_PAGE_BYTES) ||
	    ((uint8_t *)p - arena.base) % XP_PAGE_BYTES) {
		fprintf(stderr, "sim: freeing %p, not from sim_page_alloc\n", p);
		abort();
	}
	start = ((uint8_t *)p - arena.base) / XP_PAGE_BYTES;
	pthread_mutex_lock(&arena.lock);
	n = arena.run[start];
	if (!n) {
		pthread_mutex_unlock(&arena.lock);
		fprintf(stderr, "sim: %p freed twice\n", p);
		abort();
	}
	arena.run[start] = 0;
	memset(arena.used + start, 0, n);
	pthread_mutex_unlock(&arena.lock);
	/* Give the memory back; the pages read as zeros again. */
	fallocate(arena.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		  (off_t)(start * XP_PAGE_BYTES), (off_t)n * XP_PAGE_BYTES);
}

bool sim_arena_has(const void *p, size_t len)
{
	const uint8_t *b = p;

	pthread_once(&arena.once, arena_init);
	return b >= arena.base && len <= ARENA_BYTES &&
	       (uint64_t)(b - arena.base) <= ARENA_BYTES - len;
}

uint64_t sim_arena_off(const void *p)
{
	return (uint64_t)((const uint8_t *)p - arena.base);
}

/* ================= threads serving other processes ================= */

struct sim_thr {
	struct sim_thr *next;
	pthread_t t;
	void *(*fn)(void *);
	void *arg;
	_Atomic bool ended; /* fn returned: join it at the next start */
};

static void *thr_main(void *arg)
{
	struct sim_thr *th = arg;

	th->fn(th->arg);
	atomic_store(&th->ended, true);
	return NULL;
}

/* Join the threads that have ended (a soak starts thousands). */
static void threads_reap(struct sim *sim)
{
	struct sim_thr **pp, *th, *done = NULL;

	pthread_mutex_lock(&sim->thr_lock);
	for (pp = &sim->thrs; (th = *pp);) {
		if (atomic_load(&th->ended)) {
			*pp = th->next;
			th->next = done;
			done = th;
		} else {
			pp = &th->next;
		}
	}
	pthread_mutex_unlock(&sim->thr_lock);
	while ((th = done)) {
		done = th->next;
		pthread_join(th->t, NULL);
		free(th);
	}
}

int sim_thread_start(struct sim *sim, void *(*fn)(void *), void *arg)
{
	struct sim_thr *th = calloc(1, sizeof(*th));
	int rc;

	if (!th)
		return -ENOMEM;
	threads_reap(sim);
	th->fn = fn;
	th->arg = arg;
	/* On the list before it runs, so that it is always joined. */
	pthread_mutex_lock(&sim->thr_lock);
	rc = -pthread_create(&th->t, NULL, thr_main, th);
	if (!rc) {
		th->next = sim->thrs;
		sim->thrs = th;
	}
	pthread_mutex_unlock(&sim->thr_lock);
	if (rc)
		free(th);
	return rc;
}

unsigned int sim_threads_running(struct sim *sim)
{
	const struct sim_thr *th;
	unsigned int n = 0;

	pthread_mutex_lock(&sim->thr_lock);
	for (th = sim->thrs; th; th = th->next)
		n += !atomic_load(&th->ended);
	pthread_mutex_unlock(&sim->thr_lock);
	return n;
}

void sim_threads_join(struct sim *sim)
{
	for (;;) {
		struct sim_thr *th;

		pthread_mutex_lock(&sim->thr_lock);
		th = sim->thrs;
		if (th)
			sim->thrs = th->next;
		pthread_mutex_unlock(&sim->thr_lock);
		if (!th)
			return;
		pthread_join(th->t, NULL);
		free(th);
	}
}

/* ================= the wire ================= */

enum rq_op {
	RQ_GNT_OPEN = 1,
	RQ_GNT_CLOSE,
	RQ_GNT_MAP,
	RQ_GNT_UNMAP,
	RQ_GNT_COPY,
	RQ_GNT_UNPIN,
	RQ_EVT_BIND,
	RQ_EVT_UNBIND,
	RQ_EVT_NOTIFY,
	RQ_EVT_PENDING,
	RQ_EVT_UNMASK,
};

struct rq {
	uint32_t op;
	uint32_t h;     /* grant handle number */
	uint32_t domid;
	uint32_t count; /* refs, segments; or a port */
	uint32_t flag;  /* map: writable */
	uint32_t pad;
	uint64_t off;   /* unmap: arena offset */
};

struct rq_seg {
	uint8_t to_foreign;
	uint8_t pad;
	uint16_t domid;
	uint32_t ref;
	uint16_t offset, len;
};

struct rp {
	int32_t rc;
	uint32_t val;
	uint64_t off;
};

struct rp_seg {
	int16_t status;
	uint16_t pad[3];
	uint64_t off;
};

#define RQ_MAX (sizeof(struct rq) + MAX_COPY * sizeof(struct rq_seg))
#define RP_MAX (sizeof(struct rp) + MAX_COPY * sizeof(struct rp_seg))

static int send_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = sizeof(u.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -EPIPE;
}

/* One message; *fd_r gets a descriptor that came with it (or -1). */
static ssize_t recv_fd(int sock, void *buf, size_t len, int *fd_r)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.b,
			     .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c;
	ssize_t n;

	if (fd_r)
		*fd_r = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	c = CMSG_FIRSTHDR(&mh);
	if (n >= 0 && c && c->cmsg_type == SCM_RIGHTS) {
		int fd;

		memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		if (fd_r)
			*fd_r = fd;
		else
			close(fd);
	}
	return n;
}

/* ================= serving a worker's grants ================= */

struct gnt_server {
	struct sim *sim;
	int sock;
	struct xp *xp; /* dom0's */
	struct xp_gnt **h;
	unsigned int nh;
	/* The copy the worker is doing: its grants pinned until RQ_GNT_UNPIN
	 * (or the worker's end), as Xen keeps them for a copy's duration. */
	struct xp_gnt *pin_h;
	struct xp_gnt_copy pin_segs[MAX_COPY];
	int16_t pin_st[MAX_COPY];
	uint32_t pin_n;
};

static void unpin(struct gnt_server *gs)
{
	if (gs->pin_n)
		sim_gnt_unpin(gs->pin_h, gs->pin_n, gs->pin_segs, gs->pin_st);
	gs->pin_n = 0;
}

static struct xp_gnt *handle_of(struct gnt_server *gs, uint32_t h)
{
	return h < gs->nh ? gs->h[h] : NULL;
}

static size_t serve_one(struct gnt_server *gs, const uint8_t *in, size_t n,
			uint8_t *out)
{
	const struct rq *q = (const void *)in;
	struct rp *p = (void *)out;
	struct xp_gnt *g;
	size_t len = sizeof(*p);

	memset(p, 0, sizeof(*p));
	if (n < sizeof(*q)) {
		p->rc = -EINVAL;
		return len;
	}
	switch (q->op) {
	case RQ_GNT_OPEN: {
		struct xp_gnt **v = realloc(gs->h, (gs->nh + 1) * sizeof(*v));

		if (!v) {
			p->rc = -ENOMEM;
			break;
		}
		gs->h = v;
		p->rc = xp_gnt_open(gs->xp, &gs->h[gs->nh]);
		if (!p->rc)
			p->val = gs->nh++;
		break;
	}
	case RQ_GNT_CLOSE:
		g = handle_of(gs, q->h);
		if (g && g == gs->pin_h)
			unpin(gs);
		xp_gnt_close(g);
		if (g)
			gs->h[q->h] = NULL;
		break;
	case RQ_GNT_MAP: {
		const uint32_t *refs = (const void *)(q + 1);
		void *addr;

		g = handle_of(gs, q->h);
		if (!g || q->count > MAX_MAP ||
		    n != sizeof(*q) + q->count * sizeof(*refs)) {
			p->rc = -EINVAL;
			break;
		}
		p->rc = xp_gnt_map(g, (uint16_t)q->domid, q->count, refs,
				   q->flag != 0, &addr);
		if (!p->rc)
			p->off = sim_arena_off(addr);
		break;
	}
	case RQ_GNT_UNMAP:
		g = handle_of(gs, q->h);
		p->rc = g && sim_arena_has(arena.base + q->off, XP_PAGE_BYTES) ?
				xp_gnt_unmap(g, arena.base + q->off, q->count) :
				-EINVAL;
		break;
	case RQ_GNT_COPY: {
		const struct rq_seg *in_segs = (const void *)(q + 1);
		struct rp_seg *out_segs = (void *)(p + 1);
		uint64_t *off;
		uint32_t i;

		unpin(gs); /* a worker that never said it was done */
		g = handle_of(gs, q->h);
		if (!g || q->count > MAX_COPY ||
		    n != sizeof(*q) + q->count * sizeof(*in_segs)) {
			p->rc = -EINVAL;
			break;
		}
		off = calloc(q->count + 1, sizeof(*off));
		if (!off) {
			p->rc = -ENOMEM;
			break;
		}
		for (i = 0; i < q->count; i++)
			gs->pin_segs[i] = (struct xp_gnt_copy){
				.to_foreign = in_segs[i].to_foreign,
				.domid = in_segs[i].domid,
				.ref = in_segs[i].ref,
				.offset = in_segs[i].offset,
				.len = in_segs[i].len,
			};
		p->rc = sim_gnt_resolve(g, q->count, gs->pin_segs, gs->pin_st,
					off);
		gs->pin_h = g;
		gs->pin_n = q->count;
		for (i = 0; i < q->count; i++)
			out_segs[i] = (struct rp_seg){ .status = gs->pin_st[i],
						       .off = off[i] };
		len += q->count * sizeof(*out_segs);
		free(off);
		break;
	}
	case RQ_GNT_UNPIN:
		unpin(gs);
		break;
	default:
		p->rc = -EINVAL;
	}
	return len;
}

static void *gnt_server_main(void *arg)
{
	struct gnt_server *gs = arg;
	uint8_t *in = malloc(RQ_MAX), *out = malloc(RP_MAX);
	uint64_t size = ARENA_BYTES;
	unsigned int i;

	/* first the arena, then requests until the worker hangs up */
	if (in && out && !send_fd(gs->sock, &size, sizeof(size), arena.fd)) {
		for (;;) {
			ssize_t n = recv_fd(gs->sock, in, RQ_MAX, NULL);
			size_t len;

			if (n <= 0)
				break;
			len = serve_one(gs, in, (size_t)n, out);
			if (send_fd(gs->sock, out, len, -1))
				break;
		}
	}
	unpin(gs); /* a worker that died copying */
	for (i = 0; i < gs->nh; i++)
		xp_gnt_close(gs->h[i]); /* as the kernel does at exit */
	free(gs->h);
	xp_destroy(gs->xp);
	close(gs->sock);
	free(in);
	free(out);
	free(gs);
	return NULL;
}

int sim_remote_serve(struct sim *sim, int sock)
{
	struct gnt_server *gs = calloc(1, sizeof(*gs));
	int rc;

	pthread_once(&arena.once, arena_init);
	if (!gs) {
		close(sock);
		return -ENOMEM;
	}
	gs->sim = sim;
	gs->sock = sock;
	rc = sim_xp_new(sim, 0, &gs->xp);
	if (!rc)
		rc = sim_thread_start(sim, gnt_server_main, gs);
	if (rc) {
		xp_destroy(gs->xp);
		close(sock);
		free(gs);
	}
	return rc;
}

/* ================= serving one exported event-channel handle ========= */

struct evt_server {
	struct xp_evt *evt;
	int sock;
};

static void *evt_server_main(void *arg)
{
	struct evt_server *es = arg;
	struct rp hello = { 0 };

	if (!send_fd(es->sock, &hello, sizeof(hello), xp_evt_fd(es->evt))) {
		for (;;) {
			struct rq q;
			struct rp p = { 0 };
			uint32_t port = 0;
			ssize_t n = recv_fd(es->sock, &q, sizeof(q), NULL);

			if (n != (ssize_t)sizeof(q))
				break;
			switch (q.op) {
			case RQ_EVT_BIND:
				p.rc = xp_evt_bind(es->evt, (uint16_t)q.domid,
						   q.count, &port);
				p.val = port;
				break;
			case RQ_EVT_UNBIND:
				p.rc = xp_evt_unbind(es->evt, q.count);
				break;
			case RQ_EVT_NOTIFY:
				p.rc = xp_evt_notify(es->evt, q.count);
				break;
			case RQ_EVT_PENDING:
				p.rc = xp_evt_pending(es->evt, &port);
				p.val = port;
				break;
			case RQ_EVT_UNMASK:
				p.rc = xp_evt_unmask(es->evt, q.count);
				break;
			default:
				p.rc = -EINVAL;
			}
			if (send_fd(es->sock, &p, sizeof(p), -1))
				break;
		}
	}
	xp_evt_close(es->evt); /* the export's reference */
	close(es->sock);
	free(es);
	return NULL;
}

int sim_evt_export(struct xp_evt *evt, uint16_t domid, int *fd_r)
{
	struct evt_server *es;
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	es = calloc(1, sizeof(*es));
	rc = es ? sim_evt_hold(evt, domid) : -ENOMEM;
	if (rc) {
		free(es);
		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	es->evt = evt;
	es->sock = sv[0];
	rc = sim_thread_start(sim_evt_sim(evt), evt_server_main, es);
	if (rc) {
		xp_evt_close(evt);
		close(sv[0]);
		close(sv[1]);
		free(es);
		return rc;
	}
	*fd_r = sv[1];
	return 0;
}

/* ================= the worker's side ================= */

struct remote {
	struct xp xp;
	int sock;
	pthread_mutex_t lock;
	uint8_t *arena; /* this process's mapping, for grant copies */
	/* A second mapping for grant maps: PROT_NONE but where a map made
	 * it readable (and writable); its unmap makes it PROT_NONE again,
	 * so a worker touching a page it unmapped dies as under gntdev. */
	uint8_t *view;
	struct rmap {
		uint64_t off;
		uint32_t count;
		bool writable;
	} *maps;
	unsigned int nmaps, maps_cap;
	uint8_t *in, *out;
};

/* Pages [off, off + count) of the map view as the live maps leave them. */
static void view_protect(struct remote *r, uint64_t off, uint32_t count)
{
	uint64_t pg, end = off + (uint64_t)count * XP_PAGE_BYTES;
	unsigned int i;

	for (pg = off; pg < end; pg += XP_PAGE_BYTES) {
		int prot = PROT_NONE;

		for (i = 0; i < r->nmaps; i++) {
			const struct rmap *m = &r->maps[i];

			if (pg >= m->off &&
			    pg < m->off + (uint64_t)m->count * XP_PAGE_BYTES)
				prot |= PROT_READ |
					(m->writable ? PROT_WRITE : 0);
		}
		if (mprotect(r->view + pg, XP_PAGE_BYTES, prot))
			abort(); /* cannot model the unmap: say so loudly */
	}
}

struct rgnt {
	struct xp_gnt base;
	struct remote *r;
	uint32_t h;
};

struct revt {
	struct xp_evt base;
	int sock;
	int efd;
	pthread_mutex_t lock;
};

/* One request and its answer (into r->in); the answer's length or -errno. */
static ssize_t call(struct remote *r, size_t len)
{
	ssize_t n;

	if (send_fd(r->sock, r->out, len, -1))
		return -EPIPE;
	n = recv_fd(r->sock, r->in, RP_MAX, NULL);
	return n < (ssize_t)sizeof(struct rp) ? -EPIPE : n;
}

static int r_gnt_open(struct xp *xp, struct xp_gnt **gnt_r)
{
	struct remote *r = (struct remote *)xp;
	struct rgnt *g = calloc(1, sizeof(*g));
	struct rq *q = (void *)r->out;
	const struct rp *p = (const void *)r->in;
	int rc;

	if (!g)
		return -ENOMEM;
	pthread_mutex_lock(&r->lock);
	*q = (struct rq){ .op = RQ_GNT_OPEN };
	rc = call(r, sizeof(*q)) < 0 ? -EPIPE : p->rc;
	g->h = p->val;
	pthread_mutex_unlock(&r->lock);
	if (rc) {
		free(g);
		return rc;
	}
	g->base.ops = xp->ops;
	g->r = r;
	*gnt_r = &g->base;
	return 0;
}

static void r_gnt_close(struct xp_gnt *gnt)
{
	struct rgnt *g = (struct rgnt *)gnt;
	struct remote *r;
	struct rq *q;

	if (!g)
		return;
	r = g->r;
	pthread_mutex_lock(&r->lock);
	q = (void *)r->out;
	*q = (struct rq){ .op = RQ_GNT_CLOSE, .h = g->h };
	call(r, sizeof(*q));
	pthread_mutex_unlock(&r->lock);
	free(g);
}

static int r_gnt_map(struct xp_gnt *gnt, uint16_t domid, uint32_t count,
		     const uint32_t *refs, bool writable, void **addr_r)
{
	struct rgnt *g = (struct rgnt *)gnt;
	struct remote *r = g->r;
	struct rq *q = (void *)r->out;
	const struct rp *p = (const void *)r->in;
	int rc;

	if (!count || count > MAX_MAP)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	*q = (struct rq){ .op = RQ_GNT_MAP, .h = g->h, .domid = domid,
			  .count = count, .flag = writable };
	memcpy(q + 1, refs, count * sizeof(*refs));
	rc = call(r, sizeof(*q) + count * sizeof(*refs)) < 0 ? -EPIPE : p->rc;
	if (!rc && r->nmaps == r->maps_cap) {
		unsigned int cap = r->maps_cap ? 2 * r->maps_cap : 16;
		struct rmap *m = realloc(r->maps, cap * sizeof(*m));

		if (m) {
			r->maps = m;
			r->maps_cap = cap;
		} else {
			*q = (struct rq){ .op = RQ_GNT_UNMAP, .h = g->h,
					  .count = count, .off = p->off };
			call(r, sizeof(*q));
			rc = -ENOMEM;
		}
	}
	if (!rc) {
		r->maps[r->nmaps++] = (struct rmap){ .off = p->off,
						     .count = count,
						     .writable = writable };
		view_protect(r, p->off, count);
		*addr_r = r->view + p->off;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static int r_gnt_unmap(struct xp_gnt *gnt, void *addr, uint32_t count)
{
	struct rgnt *g = (struct rgnt *)gnt;
	struct remote *r = g->r;
	struct rq *q = (void *)r->out;
	const struct rp *p = (const void *)r->in;
	int rc;

	uint64_t off = (uint64_t)((uint8_t *)addr - r->view);
	unsigned int i;

	pthread_mutex_lock(&r->lock);
	*q = (struct rq){ .op = RQ_GNT_UNMAP, .h = g->h, .count = count,
			  .off = off };
	rc = call(r, sizeof(*q)) < 0 ? -EPIPE : p->rc;
	if (!rc) {
		for (i = 0; i < r->nmaps; i++)
			if (r->maps[i].off == off && r->maps[i].count == count)
				break;
		if (i < r->nmaps) {
			r->maps[i] = r->maps[--r->nmaps];
			view_protect(r, off, count);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static int r_gnt_copy(struct xp_gnt *gnt, uint32_t count,
		      struct xp_gnt_copy *segs)
{
	struct rgnt *g = (struct rgnt *)gnt;
	struct remote *r = g->r;
	uint32_t done = 0, i;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	while (!rc && done < count) {
		uint32_t n = count - done < MAX_COPY ? count - done : MAX_COPY;
		struct rq *q = (void *)r->out;
		struct rq_seg *qs = (void *)(q + 1);
		const struct rp *p = (const void *)r->in;
		const struct rp_seg *ps = (const void *)(p + 1);

		*q = (struct rq){ .op = RQ_GNT_COPY, .h = g->h, .count = n };
		for (i = 0; i < n; i++) {
			const struct xp_gnt_copy *s = &segs[done + i];

			qs[i] = (struct rq_seg){ .to_foreign = s->to_foreign,
						 .domid = s->domid,
						 .ref = s->ref,
						 .offset = s->offset,
						 .len = s->len };
		}
		if (call(r, sizeof(*q) + n * sizeof(*qs)) <
		    (ssize_t)(sizeof(*p) + n * sizeof(*ps))) {
			rc = -EPIPE;
			break;
		}
		rc = p->rc;
		for (i = 0; !rc && i < n; i++) {
			struct xp_gnt_copy *s = &segs[done + i];
			uint8_t *page = r->arena + ps[i].off + s->offset;

			s->status = ps[i].status;
			if (s->status)
				continue;
			if (s->to_foreign)
				memmove(page, s->local, s->len);
			else
				memmove(s->local, page, s->len);
		}
		/* Done: the grants may end now (the response comes after). */
		*q = (struct rq){ .op = RQ_GNT_UNPIN, .h = g->h };
		if (call(r, sizeof(*q)) < 0)
			rc = -EPIPE;
		done += n;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static int evt_call(struct xp_evt *evt, uint32_t op, uint32_t domid,
		    uint32_t arg, uint32_t *val_r)
{
	struct revt *e = (struct revt *)evt;
	struct rq q = { .op = op, .domid = domid, .count = arg };
	struct rp p;
	int rc;

	pthread_mutex_lock(&e->lock);
	rc = send_fd(e->sock, &q, sizeof(q), -1);
	if (!rc && recv_fd(e->sock, &p, sizeof(p), NULL) != (ssize_t)sizeof(p))
		rc = -EPIPE;
	pthread_mutex_unlock(&e->lock);
	if (!rc)
		rc = p.rc;
	if (!rc && val_r)
		*val_r = p.val;
	return rc;
}

static int r_evt_import(struct xp *xp, int fd, struct xp_evt **evt_r)
{
	struct revt *e = calloc(1, sizeof(*e));
	struct rp hello;

	if (!e) {
		close(fd);
		return -ENOMEM;
	}
	e->sock = fd;
	if (recv_fd(fd, &hello, sizeof(hello), &e->efd) !=
		    (ssize_t)sizeof(hello) ||
	    e->efd < 0) {
		if (e->efd >= 0)
			close(e->efd);
		close(fd);
		free(e);
		return -EPROTO;
	}
	pthread_mutex_init(&e->lock, NULL);
	e->base.ops = xp->ops;
	*evt_r = &e->base;
	return 0;
}

static void r_evt_close(struct xp_evt *evt)
{
	struct revt *e = (struct revt *)evt;

	if (!e)
		return;
	close(e->sock); /* the serving thread closes the handle */
	close(e->efd);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static int r_evt_fd(struct xp_evt *evt)
{
	return ((struct revt *)evt)->efd;
}

static int r_evt_bind(struct xp_evt *evt, uint16_t domid, uint32_t remote_port,
		      uint32_t *local_r)
{
	return evt_call(evt, RQ_EVT_BIND, domid, remote_port, local_r);
}

static int r_evt_unbind(struct xp_evt *evt, uint32_t port)
{
	return evt_call(evt, RQ_EVT_UNBIND, 0, port, NULL);
}

static int r_evt_notify(struct xp_evt *evt, uint32_t port)
{
	return evt_call(evt, RQ_EVT_NOTIFY, 0, port, NULL);
}

static int r_evt_pending(struct xp_evt *evt, uint32_t *port_r)
{
	return evt_call(evt, RQ_EVT_PENDING, 0, 0, port_r);
}

static int r_evt_unmask(struct xp_evt *evt, uint32_t port)
{
	return evt_call(evt, RQ_EVT_UNMASK, 0, port, NULL);
}

static void r_destroy(struct xp *xp)
{
	struct remote *r = (struct remote *)xp;

	if (!r)
		return;
	close(r->sock);
	munmap(r->arena, ARENA_BYTES);
	munmap(r->view, ARENA_BYTES);
	free(r->maps);
	pthread_mutex_destroy(&r->lock);
	free(r->in);
	free(r->out);
	free(r);
}

static const struct xp_ops remote_ops = {
	.name = "sim-remote",
	.gnt_open = r_gnt_open,
	.gnt_close = r_gnt_close,
	.gnt_map = r_gnt_map,
	.gnt_unmap = r_gnt_unmap,
	.gnt_copy = r_gnt_copy,
	.evt_open = xp_refuse_evt_open,
	.evt_close = r_evt_close,
	.evt_fd = r_evt_fd,
	.evt_bind = r_evt_bind,
	.evt_unbind = r_evt_unbind,
	.evt_notify = r_evt_notify,
	.evt_pending = r_evt_pending,
	.evt_unmask = r_evt_unmask,
	.evt_export = xp_refuse_evt_export,
	.evt_import = r_evt_import,
	.xs_read = xp_refuse_xs_read,
	.xs_write = xp_refuse_xs_write,
	.xs_mkdir = xp_refuse_xs_path,
	.xs_rm = xp_refuse_xs_path,
	.xs_directory = xp_refuse_xs_directory,
	.xs_set_perms = xp_refuse_xs_set_perms,
	.xs_txn_start = xp_refuse_xs_txn_start,
	.xs_txn_end = xp_refuse_xs_txn_end,
	.xs_watch = xp_refuse_xs_watch,
	.xs_unwatch = xp_refuse_xs_watch,
	.xs_fd = xp_refuse_xs_fd,
	.xs_read_watch = xp_refuse_xs_read_watch,
	.self_domid = xp_refuse_self_domid,
	.dom_info = xp_refuse_dom_info,
	.dom_pause = xp_refuse_dom_op,
	.dom_unpause = xp_refuse_dom_op,
	.destroy = r_destroy,
};

int sim_remote_xp_new(int sock, struct xp **xp_r)
{
	struct remote *r = calloc(1, sizeof(*r));
	uint64_t size = 0;
	int afd = -1;

	if (!r) {
		close(sock);
		return -ENOMEM;
	}
	r->sock = sock;
	r->in = malloc(RP_MAX);
	r->out = malloc(RQ_MAX);
	if (!r->in || !r->out ||
	    recv_fd(sock, &size, sizeof(size), &afd) != (ssize_t)sizeof(size) ||
	    afd < 0 || size != ARENA_BYTES) {
		if (afd >= 0)
			close(afd);
		close(sock);
		free(r->in);
		free(r->out);
		free(r);
		return -EPROTO;
	}
	r->arena = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_NORESERVE, afd, 0);
	r->view = mmap(NULL, ARENA_BYTES, PROT_NONE, MAP_SHARED | MAP_NORESERVE,
		       afd, 0);
	close(afd);
	if (r->arena == MAP_FAILED || r->view == MAP_FAILED) {
		int rc = -errno;

		if (r->arena != MAP_FAILED)
			munmap(r->arena, ARENA_BYTES);
		if (r->view != MAP_FAILED)
			munmap(r->view, ARENA_BYTES);
		close(sock);
		free(r->in);
		free(r->out);
		free(r);
		return rc;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->xp.ops = &remote_ops;
	*xp_r = &r->xp;
	return 0;
}
