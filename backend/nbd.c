/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Serving a view over NBD.
 *
 * What it owns: the listening socket, one accepting thread, and per client a
 * connection with its thread and its buffer. The wire format and every rule
 * a client is held to are in nbd-proto.c; this moves bytes and calls the
 * view.
 *
 * Threads: the acceptor polls the listening socket, a stop eventfd (written
 * once by nbd_server_free(), then readable for every thread) and a reap
 * eventfd that finished connections write, so it can join them. A connection
 * thread serves one request at a time: header, payload, the view, reply. All
 * socket I/O is non-blocking (MSG_DONTWAIT, so nbd_serve_fd() leaves the
 * caller's fd flags alone) and waits in poll(): between messages without a
 * limit (a client that never sends is fine to keep), within a message for
 * at most io_timeout_ms without progress (a client that never reads its
 * replies cannot pin a thread; only its own connection is dropped).
 *
 * Batching: a client with many requests in flight (QEMU, libnbd: queue depth
 * 16 to 32) should cost one recv() and one sendmsg() per batch, not two of
 * each per request. Bytes are received NBD_IN_BYTES at a time into an input
 * buffer, which holds the next requests while this one is served (payloads
 * of NBD_DIRECT_BYTES and more skip it: they are received straight where
 * they go). Replies are queued, not sent: headers in an array, READ data in
 * 4 KiB-aligned places of an output area (the view reads straight there),
 * and go out together in one sendmsg() before the thread next receives, so
 * no reply waits for the client: only for the requests that arrived with
 * it. Also before any direct send, when the queue is full, and at the end.
 * A failed send ends the connection; nothing is sent after it.
 *
 * Guest data moves through one locked mapping per connection, mlock()ed and
 * kept out of core dumps (key_protect_memory()), wiped before it is
 * unmapped: an NBD_CHUNK_BYTES buffer, the output area and the input
 * buffer. Requests bigger than the chunk go through it in pieces: a
 * WRITE's payload is read and written a chunk at a time (a write that fails
 * part way may have written some blocks, as cow_write() promises for any
 * write).
 *
 * READs up to NBD_OUT_BYTES are read whole into the output area first.
 * Bigger ones go out a chunk at a time as they are read
 * (cow_read_extents()), base blocks too: sent from the chunk, just
 * written and still in the cache, the client's copy out of the socket is
 * cheaper than out of the base's page cache, and the two copies together
 * cheaper than sendfile()'s one (docs/performance.md). The reply header
 * goes out with the first chunk, after it was read, so an error there is
 * an NBD error, but one later can only be a hang-up (proto.md: simple
 * replies cannot report it).
 *
 * Stopping: idle connections close at once; a request already under way
 * completes (the view is never interrupted) and is answered, its transfers
 * allowed NBD_STOP_GRACE_MS without progress; then the thread ends.
 *
 * Not here: TLS, structured replies, multi-conn (nbd-proto.c), and any
 * knowledge of the daemon: it learns of clients through changed().
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "platform/log.h"
#include "backend/nbd-proto.h"
#include "backend/nbd.h"
#include "crypto/key.h"

/* Guest data per connection, all of it locked: the chunk (payloads, READs
 * too big to queue), the output area (queued READ data), the input buffer
 * (requests and small payloads, received ahead). */
#define NBD_CHUNK_BYTES (1u << 20)
#define NBD_OUT_BYTES (128u << 10)
#define NBD_IN_BYTES (128u << 10)
#define NBD_CONN_MEM_BYTES (NBD_CHUNK_BYTES + NBD_OUT_BYTES + NBD_IN_BYTES)
/* Received straight into place, not through the input buffer. */
#define NBD_DIRECT_BYTES (NBD_IN_BYTES / 2)
/* Replies queued at most: a READ's takes two iovecs, IOV_MAX is 1024. */
#define NBD_QUEUE_REPLIES 128u
/* Where queued READ data starts: whole blocks, for any store. */
#define NBD_OUT_ALIGN STORE_BLK_BYTES
#define NBD_STOP_GRACE_MS 2000u
#define NBD_LISTEN_BACKLOG 16

_Static_assert(NBD_MIN_BLOCK_BYTES == COW_SECTOR_BYTES,
	       "an NBD block is a view's sector");
_Static_assert(NBD_CHUNK_BYTES % STORE_BLK_BYTES == 0 &&
		       NBD_MAX_PAYLOAD_BYTES % NBD_CHUNK_BYTES == 0,
	       "chunks are whole blocks and tile the largest payload");
_Static_assert(NBD_OUT_BYTES % NBD_OUT_ALIGN == 0 &&
		       NBD_OUT_BYTES <= NBD_CHUNK_BYTES,
	       "queued READ data is aligned; bigger READs use the chunk");
_Static_assert(NBD_IN_BYTES >= NBD_REQUEST_BYTES + NBD_OPT_HDR_BYTES,
	       "a header fits in the input buffer");

/* A connection ended cleanly: NBD_CMD_DISC, NBD_OPT_ABORT or EOF. */
#define CONN_END 1

/* What the connections of one export share; read-only once built. */
struct nbd_ctx {
	struct cow *cow;
	struct nbd_export exp;
	bool enospc_is_enospc;
	int io_timeout_ms;
	char name[128];
};

struct nbd_server;

struct nbd_conn {
	const struct nbd_ctx *ctx;
	int fd;
	int stop_fd; /* readable once stopping; -1: none */
	const atomic_bool *stop; /* NULL: never stops */
	bool stopping; /* this thread has seen it */
	const char *why; /* what went wrong, for the one log line */
	unsigned char *buf; /* NBD_CHUNK_BYTES, locked; the start of mem */
	unsigned char *out; /* NBD_OUT_BYTES: queued READ data */
	unsigned char *in; /* NBD_IN_BYTES: received */
	size_t in_pos, in_end; /* in[in_pos, in_end) is not used yet */
	/* The reply queue: iov[0..niov) to send, headers in rep[0..nrep). */
	struct iovec iov[2 * NBD_QUEUE_REPLIES];
	uint8_t rep[NBD_QUEUE_REPLIES][NBD_REPLY_BYTES];
	unsigned int niov, nrep;
	size_t out_used; /* bytes of out taken, a multiple of NBD_OUT_ALIGN */
	bool send_failed; /* nothing more is sent */
	uint8_t opt[NBD_OPT_MAX_BYTES]; /* one option's data */
	struct log_ratelimit rl;
	char prefix[160];
	/* Server connections only. */
	struct nbd_server *srv;
	pthread_t thread;
	bool done; /* under srv->lock: the thread has ended */
	struct nbd_conn *next;
};

struct nbd_server {
	struct nbd_ctx ctx;
	unsigned int max_clients;
	void (*changed)(void *arg);
	void *arg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev; /* of the socket we bound, to unlink only ours */
	ino_t ino;
	int listen_fd, stop_fd, reap_fd;
	atomic_bool stopping;
	atomic_uint clients;
	unsigned int peer_uid; /* may connect, besides root */
	bool owns_path;        /* we bound it: unlink it at the end */
	pthread_t acceptor;
	bool acceptor_started;
	pthread_mutex_t lock;
	struct nbd_conn *conns; /* under lock */
	uint64_t next_id; /* acceptor only */
	struct log_ratelimit rl; /* acceptor only */
};

static void ctx_init(struct nbd_ctx *ctx, const struct nbd_server_params *p)
{
	bool ro = p->read_only || cow_kind(p->cow) == COW_KIND_READONLY;

	ctx->cow = p->cow;
	ctx->exp.size_bytes = cow_size_sectors(p->cow) * COW_SECTOR_BYTES;
	ctx->exp.flags = nbd_export_flags(ro);
	ctx->enospc_is_enospc = p->enospc_is_enospc;
	ctx->io_timeout_ms = p->io_timeout_ms ? (int)p->io_timeout_ms :
						(int)NBD_DEFAULT_IO_TIMEOUT_MS;
	snprintf(ctx->name, sizeof(ctx->name), "%s",
		 p->name ? p->name :
		 p->path ? p->path :
			   "stdio");
}

/* ---- connections: buffers ---- */

/* Wipe and unmap the guest-data buffers (munmap unlocks them). */
static void conn_release_buf(struct nbd_conn *c)
{
	if (c->buf) {
		explicit_bzero(c->buf, NBD_CONN_MEM_BYTES);
		munmap(c->buf, NBD_CONN_MEM_BYTES);
		c->buf = c->out = c->in = NULL;
	}
}

static void conn_free(struct nbd_conn *c)
{
	if (!c)
		return;
	conn_release_buf(c);
	explicit_bzero(c->opt, sizeof(c->opt));
	free(c);
}

static int conn_new(const struct nbd_ctx *ctx, int fd, uint64_t id,
		    struct nbd_conn **c_r)
{
	struct nbd_conn *c = calloc(1, sizeof(*c));
	void *mem;
	int rc;

	if (!c)
		return -ENOMEM;
	c->ctx = ctx;
	c->fd = fd;
	c->stop_fd = -1;
	snprintf(c->prefix, sizeof(c->prefix), "%s: nbd client %llu", ctx->name,
		 (unsigned long long)id);
	mem = mmap(NULL, NBD_CONN_MEM_BYTES, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		rc = -errno;
		free(c);
		return rc;
	}
	c->buf = mem;
	c->out = c->buf + NBD_CHUNK_BYTES;
	c->in = c->out + NBD_OUT_BYTES;
	rc = key_protect_memory(mem, NBD_CONN_MEM_BYTES);
	if (rc) {
		conn_free(c);
		return rc;
	}
	*c_r = c;
	return 0;
}

/* ---- connections: socket I/O ---- */

static bool stop_requested(const struct nbd_conn *c)
{
	return c->stopping || (c->stop && atomic_load(c->stop));
}

/*
 * Wait until fd is ready for events. idle (between messages): as long as it
 * takes, but -ESHUTDOWN once the server stops. Otherwise -ETIMEDOUT after
 * io_timeout_ms without the socket getting ready (NBD_STOP_GRACE_MS once
 * the server stops).
 */
static int conn_wait(struct nbd_conn *c, short events, bool idle)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->fd, .events = events },
			{ .fd = c->stop_fd, .events = POLLIN },
		};
		nfds_t n = c->stop_fd >= 0 && !c->stopping ? 2 : 1;
		int timeout = c->ctx->io_timeout_ms, r;

		if (stop_requested(c)) {
			c->stopping = true;
			n = 1;
			if (idle)
				return -ESHUTDOWN;
			if (timeout > (int)NBD_STOP_GRACE_MS)
				timeout = (int)NBD_STOP_GRACE_MS;
		}
		r = poll(p, n, idle ? -1 : timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			c->why = "no progress within the I/O timeout";
			return -ETIMEDOUT;
		}
		if (n == 2 && p[1].revents) {
			c->stopping = true;
			if (!p[0].revents)
				continue;
		}
		return 0;
	}
}

/* Send every byte of iov[0..n-1] (which it consumes), now. */
static int conn_sendv_now(struct nbd_conn *c, struct iovec *iov, int n)
{
	if (c->send_failed)
		return -EPIPE;
	while (n > 0) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t r = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		size_t done;
		int rc;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			rc = conn_wait(c, POLLOUT, false);
			if (rc) {
				c->send_failed = true;
				return rc;
			}
			continue;
		}
		if (r < 0) {
			c->send_failed = true;
			return -errno;
		}
		for (done = (size_t)r; n > 0 && done >= iov->iov_len; n--)
			done -= (iov++)->iov_len;
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

/* Send the queued replies, if any; the queue is empty afterwards. */
static int conn_flush(struct nbd_conn *c)
{
	int rc = 0;

	if (c->niov)
		rc = conn_sendv_now(c, c->iov, (int)c->niov);
	c->niov = c->nrep = 0;
	c->out_used = 0;
	return rc;
}

/* Send iov[0..n-1] (consumed) after everything queued before it. */
static int conn_sendv(struct nbd_conn *c, struct iovec *iov, int n)
{
	int rc = conn_flush(c);

	return rc ? rc : conn_sendv_now(c, iov, n);
}

static int conn_send(struct nbd_conn *c, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return conn_sendv(c, &iov, 1);
}

/* The next piece through the chunk: at most NBD_CHUNK_BYTES of left. */
static uint32_t chunk(uint64_t left)
{
	return left < NBD_CHUNK_BYTES ? (uint32_t)left : NBD_CHUNK_BYTES;
}

/*
 * Queue a reply, and data_bytes of READ data at data (in the output area,
 * or NULL). Room for it must have been made (queue_room()).
 */
static void queue_reply(struct nbd_conn *c, uint32_t error, uint64_t cookie,
			void *data, size_t data_bytes)
{
	uint8_t *rep = c->rep[c->nrep++];

	assert(c->nrep <= NBD_QUEUE_REPLIES);
	nbd_write_reply(rep, error, cookie);
	c->iov[c->niov++] = (struct iovec){ rep, NBD_REPLY_BYTES };
	if (data_bytes)
		c->iov[c->niov++] = (struct iovec){ data, data_bytes };
}

/*
 * Make room in the queue for one reply and data_bytes (<= NBD_OUT_BYTES) in
 * the output area, sending what is queued if need be; *data_r: the data's
 * place, 4 KiB-aligned. 0, or the send's error.
 */
static int queue_room(struct nbd_conn *c, size_t data_bytes,
		      unsigned char **data_r)
{
	size_t take = (data_bytes + NBD_OUT_ALIGN - 1) / NBD_OUT_ALIGN *
		      NBD_OUT_ALIGN;
	int rc = 0;

	assert(take <= NBD_OUT_BYTES);
	if (c->nrep == NBD_QUEUE_REPLIES || c->out_used + take > NBD_OUT_BYTES)
		rc = conn_flush(c);
	*data_r = c->out + c->out_used;
	c->out_used += take;
	return rc;
}

static int conn_reply(struct nbd_conn *c, uint32_t error, uint64_t cookie)
{
	unsigned char *unused;
	int rc = queue_room(c, 0, &unused);

	if (!rc)
		queue_reply(c, error, cookie, NULL, 0);
	return rc;
}

/*
 * Receive what the client sent, at most room bytes, into p: at least one
 * byte. The queued replies go out first: the client may be waiting for
 * them before it sends more. idle: this starts a message (see conn_recv()).
 */
static int conn_recv_some(struct nbd_conn *c, void *p, size_t room, bool idle,
			  size_t *got_r)
{
	int rc = conn_flush(c);

	while (!rc) {
		ssize_t n = recv(c->fd, p, room, MSG_DONTWAIT);

		if (n > 0) {
			*got_r = (size_t)n;
			return 0;
		}
		if (n == 0) {
			if (idle)
				return CONN_END;
			c->why = "the client closed in the middle of a message";
			return -ECONNRESET;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = conn_wait(c, POLLIN, idle);
	}
	return rc;
}

/*
 * Receive exactly len bytes, through the input buffer (small reads; what
 * comes after them stays there for the next) or, NBD_DIRECT_BYTES and
 * more, straight into buf. idle: this starts a message, and EOF before its
 * first byte is a clean end (CONN_END); EOF later is -ECONNRESET.
 */
static int conn_recv(struct nbd_conn *c, void *buf, size_t len, bool idle)
{
	uint8_t *dst = buf;

	while (len) {
		size_t n = c->in_end - c->in_pos;
		int rc;

		if (n) {
			if (n > len)
				n = len;
			memcpy(dst, c->in + c->in_pos, n);
			c->in_pos += n;
			dst += n;
			len -= n;
			idle = false;
			continue;
		}
		c->in_pos = c->in_end = 0;
		if (len >= NBD_DIRECT_BYTES) {
			rc = conn_recv_some(c, dst, len, idle, &n);
			if (rc)
				return rc;
			dst += n;
			len -= n;
		} else {
			rc = conn_recv_some(c, c->in, NBD_IN_BYTES, idle,
					    &c->in_end);
			if (rc)
				return rc;
		}
		idle = false;
	}
	return 0;
}

/* ---- the handshake ---- */

static int conn_handshake(struct nbd_conn *c)
{
	uint8_t greeting[NBD_GREETING_BYTES], buf[NBD_OPT_HDR_BYTES];
	uint32_t client_flags;
	int rc;

	nbd_write_greeting(greeting);
	rc = conn_send(c, greeting, sizeof(greeting));
	if (rc)
		return rc;
	rc = conn_recv(c, buf, NBD_CLIENT_FLAGS_BYTES, true);
	if (rc)
		return rc;
	if (nbd_decode_client_flags(buf, &client_flags)) {
		c->why = "unknown client flags";
		return -EPROTO;
	}
	for (;;) {
		struct nbd_answer ans;
		struct nbd_opt opt;

		rc = conn_recv(c, buf, NBD_OPT_HDR_BYTES, true);
		if (rc)
			return rc;
		if (nbd_decode_opt(buf, &opt)) {
			c->why = "an option without the IHAVEOPT magic";
			return -EPROTO;
		}
		rc = conn_recv(c, c->opt, opt.payload_bytes, false);
		if (rc)
			return rc;
		nbd_opt_answer(&c->ctx->exp, client_flags, &opt, c->opt, &ans);
		rc = conn_send(c, ans.bytes, ans.len);
		if (rc)
			return rc;
		switch (ans.next) {
		case NBD_NEXT_OPTION:
			break;
		case NBD_NEXT_TRANSMIT:
			return 0;
		case NBD_NEXT_ABORT:
			return CONN_END;
		case NBD_NEXT_HANGUP:
			c->why = ans.why;
			return -EPROTO;
		}
	}
}

/* ---- requests ---- */

static const char *cmd_name(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:
		return "read";
	case NBD_CMD_WRITE:
		return "write";
	case NBD_CMD_FLUSH:
		return "flush";
	case NBD_CMD_TRIM:
		return "trim";
	case NBD_CMD_WRITE_ZEROES:
		return "write-zeroes";
	default:
		return "command";
	}
}

/* The NBD error for the view's rc, logged (rate-limited) if it failed. */
static uint32_t view_err(struct nbd_conn *c, const struct nbd_request *req,
			 int rc)
{
	if (rc && log_ratelimit_ok(&c->rl, c->prefix))
		log_msg(LOG_WARNING, "%s: %s at byte %llu, %u bytes: %s",
			c->prefix, cmd_name(req->type),
			(unsigned long long)req->offset, req->length,
			rc == -ENOSPC ? "overlay full" : strerror(-rc));
	return nbd_error_of(rc, c->ctx->enospc_is_enospc);
}

/* A READ that fits in the output area: read into it, queue the reply. */
static int do_read_queued(struct nbd_conn *c, const struct nbd_request *req)
{
	unsigned char *data;
	int rc = queue_room(c, req->length, &data);

	if (rc)
		return rc;
	rc = cow_read(c->ctx->cow, data, req->offset / COW_SECTOR_BYTES,
		      req->length / COW_SECTOR_BYTES);
	if (rc)
		queue_reply(c, view_err(c, req, rc), req->cookie, NULL, 0);
	else
		queue_reply(c, 0, req->cookie, data, req->length);
	return 0;
}

/* A big READ going out a chunk at a time (cow_read_extents()). */
struct read_out {
	struct nbd_conn *c;
	uint64_t cookie;
	bool started; /* its reply header went out */
};

static int send_extent(void *arg, const struct cow_extent *e)
{
	struct read_out *ro = arg;
	struct nbd_conn *c = ro->c;
	uint8_t rep[NBD_REPLY_BYTES];
	struct iovec iov[2];
	int n = 0;

	if (!ro->started) {
		nbd_write_reply(rep, 0, ro->cookie);
		iov[n++] = (struct iovec){ rep, sizeof(rep) };
		ro->started = true;
	}
	iov[n++] = (struct iovec){ (void *)e->data, e->len };
	return conn_sendv(c, iov, n);
}

/*
 * A READ bigger than the output area goes out a chunk at a time, as it is
 * read. Its reply header goes out with its first chunk, so an error
 * reading that one is an NBD error; a later one can only be a hang-up.
 */
static int do_read(struct nbd_conn *c, const struct nbd_request *req)
{
	struct read_out ro = { .c = c, .cookie = req->cookie };
	int rc;

	if (req->length <= NBD_OUT_BYTES)
		return do_read_queued(c, req);
	/* The queued replies go first. */
	rc = conn_flush(c);
	if (rc)
		return rc;
	rc = cow_read_extents(c->ctx->cow, req->offset / COW_SECTOR_BYTES,
			      req->length / COW_SECTOR_BYTES, c->buf,
			      NBD_CHUNK_BYTES, send_extent, &ro);
	if (!rc || c->send_failed) /* done, or the connection's error */
		return rc;
	if (!ro.started)
		return conn_reply(c, view_err(c, req, rc), req->cookie);
	view_err(c, req, rc);
	c->why = "a read failed after its reply had started";
	return -EIO;
}

/* Read (and throw away) the payload of a request we refused. */
static int drain(struct nbd_conn *c, uint32_t left)
{
	while (left) {
		uint32_t n = chunk(left);
		int rc = conn_recv(c, c->buf, n, false);

		if (rc)
			return rc;
		left -= n;
	}
	return 0;
}

static int do_write(struct nbd_conn *c, const struct nbd_request *req)
{
	uint64_t sector = req->offset / COW_SECTOR_BYTES;
	uint32_t left = req->payload_bytes, err = 0;

	while (left) {
		uint32_t n = chunk(left);
		int rc = conn_recv(c, c->buf, n, false);

		if (rc)
			return rc;
		/* After a failure, keep reading to stay in step. */
		if (!err)
			err = view_err(c, req,
				       cow_write(c->ctx->cow, c->buf, sector,
						 n / COW_SECTOR_BYTES));
		sector += n / COW_SECTOR_BYTES;
		left -= n;
	}
	if (!err && req->flags & NBD_CMD_FLAG_FUA)
		err = view_err(c, req, cow_flush(c->ctx->cow));
	return conn_reply(c, err, req->cookie);
}

/* Write zeros over sectors [from, to), a chunk at a time. */
static uint32_t write_zeros(struct nbd_conn *c, const struct nbd_request *req,
			    uint64_t from, uint64_t to)
{
	uint64_t bytes = (to - from) * COW_SECTOR_BYTES;

	memset(c->buf, 0, chunk(bytes));
	while (bytes) {
		uint32_t n = chunk(bytes);
		int rc = cow_write(c->ctx->cow, c->buf, from,
				   n / COW_SECTOR_BYTES);

		if (rc)
			return view_err(c, req, rc);
		from += n / COW_SECTOR_BYTES;
		bytes -= n;
	}
	return 0;
}

/*
 * WRITE_ZEROES. With NO_HOLE, zeros are written (the overlay holds them: the
 * client asked for the space). Without, the whole blocks of the range are
 * discarded instead, which reads back as zeros, frees their overlay slots
 * and never needs space (cow_discard(); a range reaching the end of the
 * disk covers its last, partial, block), and only the partial blocks at
 * either end are written with zeros.
 */
static uint32_t zero_range(struct nbd_conn *c, const struct nbd_request *req)
{
	uint64_t from = req->offset / COW_SECTOR_BYTES;
	uint64_t to = from + req->length / COW_SECTOR_BYTES;
	uint64_t size = cow_size_sectors(c->ctx->cow);
	uint64_t body, body_end;
	uint32_t err = 0;

	if (req->flags & NBD_CMD_FLAG_NO_HOLE)
		return write_zeros(c, req, from, to);
	body = (from + COW_SECTORS_PER_BLK - 1) / COW_SECTORS_PER_BLK *
	       COW_SECTORS_PER_BLK;
	body_end = to == size ? to :
				to / COW_SECTORS_PER_BLK * COW_SECTORS_PER_BLK;
	if (body >= body_end)
		return write_zeros(c, req, from, to);
	if (from < body)
		err = write_zeros(c, req, from, body);
	if (!err)
		err = view_err(c, req,
			       cow_discard(c->ctx->cow, body, body_end - body));
	if (!err && body_end < to)
		err = write_zeros(c, req, body_end, to);
	return err;
}

static int serve(struct nbd_conn *c, const struct nbd_request *req)
{
	struct cow *cow = c->ctx->cow;
	uint32_t err = 0;

	switch (req->type) {
	case NBD_CMD_READ:
		return do_read(c, req);
	case NBD_CMD_WRITE:
		return do_write(c, req);
	case NBD_CMD_FLUSH:
		err = view_err(c, req, cow_flush(cow));
		break;
	case NBD_CMD_TRIM:
		err = view_err(c, req,
			       cow_discard(cow, req->offset / COW_SECTOR_BYTES,
					   req->length / COW_SECTOR_BYTES));
		break;
	case NBD_CMD_WRITE_ZEROES:
		err = zero_range(c, req);
		break;
	}
	/* FUA on a command that wrote: persist before the reply. */
	if (!err && req->flags & NBD_CMD_FLAG_FUA &&
	    (req->type == NBD_CMD_TRIM || req->type == NBD_CMD_WRITE_ZEROES))
		err = view_err(c, req, cow_flush(cow));
	return conn_reply(c, err, req->cookie);
}

static int conn_transmit(struct nbd_conn *c)
{
	for (;;) {
		uint8_t hdr[NBD_REQUEST_BYTES];
		struct nbd_request req;
		int rc;

		if (stop_requested(c))
			return -ESHUTDOWN;
		rc = conn_recv(c, hdr, sizeof(hdr), true);
		if (rc)
			return rc;
		rc = nbd_decode_request(hdr, &c->ctx->exp, &req);
		if (rc) {
			c->why = rc == -EMSGSIZE ?
					 "a write payload over 32 MiB" :
					 "a request without the request magic";
			return rc;
		}
		if (req.type == NBD_CMD_DISC)
			return CONN_END;
		if (req.error) {
			if (log_ratelimit_ok(&c->rl, c->prefix))
				log_msg(LOG_WARNING,
					"%s: refused %s (type %u, flags %#x) "
					"at byte %llu, %u bytes: NBD error %u",
					c->prefix, cmd_name(req.type), req.type,
					req.flags,
					(unsigned long long)req.offset,
					req.length, req.error);
			rc = drain(c, req.payload_bytes);
			if (!rc)
				rc = conn_reply(c, req.error, req.cookie);
		} else {
			rc = serve(c, &req);
		}
		if (rc)
			return rc;
	}
}

/*
 * Serve the connection to its end and log how it ended, once. Returns 0 for
 * a clean end, else -errno.
 */
static int conn_serve(struct nbd_conn *c)
{
	int rc = conn_handshake(c);

	if (rc == 0)
		rc = conn_transmit(c);
	/* Whatever ended it, the replies queued are owed (unless sending is
	 * what failed). */
	if (!c->send_failed)
		conn_flush(c);
	if (rc == CONN_END) {
		log_msg(LOG_INFO, "%s: disconnected", c->prefix);
		return 0;
	}
	if (rc == -ESHUTDOWN)
		log_msg(LOG_INFO, "%s: closed: the server stops", c->prefix);
	else if (log_ratelimit_ok(&c->rl, c->prefix))
		log_msg(LOG_WARNING, "%s: dropped: %s", c->prefix,
			c->why ? c->why : strerror(-rc));
	return rc;
}

/* ---- one connection on a given fd ---- */

int nbd_serve_fd(int fd, const struct nbd_server_params *p)
{
	struct nbd_conn *c = NULL;
	struct nbd_ctx ctx;
	socklen_t len = sizeof(int);
	int type, rc;

	if (!p->cow)
		return -EINVAL;
	ctx_init(&ctx, p);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    type != SOCK_STREAM) {
		log_msg(LOG_ERR, "%s: nbd: fd %d is not a stream socket",
			ctx.name, fd);
		return -ENOTSOCK;
	}
	rc = conn_new(&ctx, fd, 0, &c);
	if (rc) {
		log_msg(LOG_ERR, "%s: nbd: cannot lock a buffer: %s", ctx.name,
			strerror(-rc));
		return rc;
	}
	rc = conn_serve(c);
	conn_free(c);
	return rc;
}

/* ---- the server ---- */

static void notify(struct nbd_server *s)
{
	if (s->changed)
		s->changed(s->arg);
}

/* Connection threads: serve, release everything, tell the acceptor. */
static void *conn_main(void *arg)
{
	struct nbd_conn *c = arg;
	struct nbd_server *s = c->srv;

	conn_serve(c);
	/* Give back the socket and the locked memory now, not at reaping. */
	close(c->fd);
	c->fd = -1;
	conn_release_buf(c);
	atomic_fetch_sub(&s->clients, 1);
	notify(s);
	pthread_mutex_lock(&s->lock);
	c->done = true;
	pthread_mutex_unlock(&s->lock);
	eventfd_write(s->reap_fd, 1);
	return NULL;
}

/* Join and free the connections whose threads have ended. */
static void reap(struct nbd_server *s)
{
	struct nbd_conn **pp, *done = NULL, *c;
	eventfd_t v;

	eventfd_read(s->reap_fd, &v);
	pthread_mutex_lock(&s->lock);
	for (pp = &s->conns; (c = *pp);) {
		if (c->done) {
			*pp = c->next;
			c->next = done;
			done = c;
		} else {
			pp = &c->next;
		}
	}
	pthread_mutex_unlock(&s->lock);
	while ((c = done)) {
		done = c->next;
		pthread_join(c->thread, NULL);
		conn_free(c);
	}
}

/*
 * Only root may connect. The server's own euid too: in the daemon that is
 * root again, and it lets a test run by a user talk to its own server.
 */
static bool peer_allowed(int fd, unsigned int uid, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);

	*cred = (struct ucred){ .pid = -1, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) ||
	    len != sizeof(*cred))
		return false;
	return cred->uid == 0 || cred->uid == uid;
}

static void accept_one(struct nbd_server *s)
{
	struct nbd_conn *c = NULL;
	struct ucred cred;
	unsigned int n;
	int fd, rc;

	fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return;
		if (log_ratelimit_ok(&s->rl, s->ctx.name))
			log_msg(LOG_ERR, "%s: nbd: accept: %s", s->ctx.name,
				strerror(errno));
		/* Out of fds or memory: do not spin; try again soon. */
		poll(&(struct pollfd){ .fd = s->stop_fd, .events = POLLIN }, 1,
		     100);
		return;
	}
	if (!peer_allowed(fd, s->peer_uid, &cred)) {
		if (log_ratelimit_ok(&s->rl, s->ctx.name))
			log_msg(LOG_WARNING,
				"%s: nbd: refused a client of uid %u pid %d: "
				"only root may connect",
				s->ctx.name, (unsigned int)cred.uid,
				(int)cred.pid);
		close(fd);
		return;
	}
	/* Room in the socket for a whole chunk and what follows it (the
	 * kernel doubles the figure, within net.core.wmem_max): a big READ
	 * goes out in fewer waits for the client. A limit, not memory. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF,
			 &(int){ (int)NBD_CHUNK_BYTES }, sizeof(int));
	n = atomic_load(&s->clients);
	if (n >= s->max_clients) {
		if (log_ratelimit_ok(&s->rl, s->ctx.name))
			log_msg(LOG_WARNING,
				"%s: nbd: refused a client: %u connected, "
				"the most allowed",
				s->ctx.name, n);
		close(fd);
		return;
	}
	rc = conn_new(&s->ctx, fd, ++s->next_id, &c);
	if (rc) {
		if (log_ratelimit_ok(&s->rl, s->ctx.name))
			log_msg(LOG_ERR,
				"%s: nbd: refused a client: cannot lock its "
				"buffer: %s",
				s->ctx.name, strerror(-rc));
		close(fd);
		return;
	}
	c->srv = s;
	c->stop_fd = s->stop_fd;
	c->stop = &s->stopping;
	log_msg(LOG_INFO, "%s: connected (uid %u pid %d)", c->prefix,
		(unsigned int)cred.uid, (int)cred.pid);
	atomic_fetch_add(&s->clients, 1);
	pthread_mutex_lock(&s->lock);
	c->next = s->conns;
	s->conns = c;
	rc = pthread_create(&c->thread, NULL, conn_main, c);
	if (rc) {
		s->conns = c->next;
		pthread_mutex_unlock(&s->lock);
		atomic_fetch_sub(&s->clients, 1);
		log_msg(LOG_ERR, "%s: cannot start a thread: %s", c->prefix,
			strerror(rc));
		close(fd);
		conn_free(c);
		return;
	}
	pthread_mutex_unlock(&s->lock);
	notify(s);
}

static void *acceptor_main(void *arg)
{
	struct nbd_server *s = arg;

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = s->stop_fd, .events = POLLIN },
			{ .fd = s->reap_fd, .events = POLLIN },
			{ .fd = s->listen_fd, .events = POLLIN },
		};

		if (poll(p, 3, -1) < 0) {
			if (errno != EINTR)
				poll(NULL, 0, 100); /* ENOMEM: wait a bit */
			continue;
		}
		if (p[0].revents)
			return NULL;
		if (p[1].revents)
			reap(s);
		if (p[2].revents)
			accept_one(s);
	}
}

/*
 * The socket's place: the directory exists, is ours and others cannot enter
 * it; nothing is at path, or a socket nobody listens on (removed).
 */
static int check_path(const char *path, const char **why)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	char *slash;
	struct stat st;
	bool live;
	int fd, rc;

	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	*why = "its directory";
	if (stat(dir, &st))
		return -errno;
	*why = "its directory must be a directory of ours, mode 0700";
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || st.st_mode & 077)
		return -EPERM;
	*why = "the path";
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	*why = "something that is not a socket is there";
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	/* A socket: live if someone accepts on it. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*why = "socket";
		return -errno;
	}
	strcpy(sa.sun_path, path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	live = rc == 0 || errno == EAGAIN; /* EAGAIN: its backlog is full */
	close(fd);
	*why = "a server is listening there";
	if (live)
		return -EADDRINUSE;
	*why = "cannot remove the stale socket";
	return unlink(path) ? -errno : 0;
}

static int server_listen(struct nbd_server *s, const char **why)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	strcpy(sa.sun_path, s->path);
	*why = "socket";
	s->listen_fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0)
		return -errno;
	/* The directory is 0700: nobody else can reach the socket before
	 * the chmod. */
	*why = "bind";
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    lstat(s->path, &st))
		return -errno;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	*why = "chmod 0600";
	if (chmod(s->path, 0600))
		return -errno;
	*why = "listen";
	if (listen(s->listen_fd, NBD_LISTEN_BACKLOG))
		return -errno;
	return 0;
}

int nbd_listen(const char *path, int *fd_r, const char **why)
{
	struct nbd_server s = { .listen_fd = -1 };
	int rc;

	if (strlen(path) >= sizeof(s.path)) {
		*why = "the path is too long";
		return -ENAMETOOLONG;
	}
	strcpy(s.path, path);
	rc = check_path(path, why);
	if (!rc)
		rc = server_listen(&s, why);
	if (rc) {
		if (s.listen_fd >= 0)
			close(s.listen_fd);
		if (s.ino)
			unlink(path);
		return rc;
	}
	*fd_r = s.listen_fd;
	return 0;
}

/* Remove the socket if it is still the one we bound. */
static void unlink_ours(struct nbd_server *s)
{
	struct stat st;

	if (s->owns_path && s->ino && !lstat(s->path, &st) &&
	    st.st_dev == s->dev &&
	    st.st_ino == s->ino)
		unlink(s->path);
}

static void server_release(struct nbd_server *s)
{
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	unlink_ours(s);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->reap_fd >= 0)
		close(s->reap_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int nbd_server_new(const struct nbd_server_params *p, struct nbd_server **s_r)
{
	const char *why = "parameters";
	struct nbd_server *s;
	int rc = -EINVAL;

	if (!p->path || !p->cow) {
		log_msg(LOG_ERR,
			"nbd: a server needs a socket path and a view");
		if (p->listen_fd_given)
			close(p->listen_fd);
		return -EINVAL;
	}
	if (strlen(p->path) >= sizeof(s->path)) {
		log_msg(LOG_ERR, "nbd: socket path too long (%zu bytes): %s",
			strlen(p->path), p->path);
		if (p->listen_fd_given)
			close(p->listen_fd);
		return -ENAMETOOLONG;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		if (p->listen_fd_given)
			close(p->listen_fd);
		return -ENOMEM;
	}
	ctx_init(&s->ctx, p);
	strcpy(s->path, p->path);
	s->max_clients =
		p->max_clients ? p->max_clients : NBD_DEFAULT_MAX_CLIENTS;
	s->changed = p->changed;
	s->arg = p->arg;
	s->listen_fd = s->stop_fd = s->reap_fd = -1;
	s->peer_uid = p->peer_uid_given ? p->peer_uid : (unsigned int)geteuid();
	pthread_mutex_init(&s->lock, NULL);

	if (p->listen_fd_given) {
		int fl = fcntl(p->listen_fd, F_GETFL);

		s->listen_fd = p->listen_fd;
		why = "the listening socket given";
		if (fl < 0 || fcntl(s->listen_fd, F_SETFL, fl | O_NONBLOCK)) {
			rc = -errno;
			goto fail;
		}
	} else {
		s->owns_path = true;
		rc = check_path(s->path, &why);
		if (rc)
			goto fail;
		rc = server_listen(s, &why);
		if (rc)
			goto fail;
	}
	why = "eventfd";
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	s->reap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0 || s->reap_fd < 0) {
		rc = -errno;
		goto fail;
	}
	why = "cannot start the accepting thread";
	rc = -pthread_create(&s->acceptor, NULL, acceptor_main, s);
	if (rc)
		goto fail;
	s->acceptor_started = true;
	log_msg(LOG_INFO, "%s: nbd: serving %llu bytes%s at %s", s->ctx.name,
		(unsigned long long)s->ctx.exp.size_bytes,
		s->ctx.exp.flags & NBD_FLAG_READ_ONLY ? " read-only" : "",
		s->path);
	*s_r = s;
	return 0;
fail:
	log_msg(LOG_ERR, "%s: nbd: cannot serve at %s: %s: %s", s->ctx.name,
		s->path, why, strerror(-rc));
	server_release(s);
	return rc;
}

unsigned int nbd_server_clients(const struct nbd_server *s)
{
	return atomic_load(&s->clients);
}

void nbd_server_free(struct nbd_server *s)
{
	struct nbd_conn *c;

	if (!s)
		return;
	atomic_store(&s->stopping, true);
	eventfd_write(s->stop_fd, 1);
	if (s->acceptor_started)
		pthread_join(s->acceptor, NULL);
	/* No new client now; refuse connects at once, then wait for each. */
	close(s->listen_fd);
	s->listen_fd = -1;
	unlink_ours(s);
	pthread_mutex_lock(&s->lock);
	c = s->conns;
	s->conns = NULL;
	pthread_mutex_unlock(&s->lock);
	while (c) {
		struct nbd_conn *next = c->next;

		pthread_join(c->thread, NULL);
		conn_free(c);
		c = next;
	}
	s->ino = 0; /* unlinked already */
	server_release(s);
}
