/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The platform seam: everything the daemon needs from Xen, as one ops struct
 * with two implementations, the real one over libxengnttab, libxenevtchn and
 * libxenstore (platform/platform-xen.c, the only file that includes libxen
 * headers) and a simulated Xen for tests (tests/sim/). An instance is
 * created at the top (daemon or test) and passed down; nothing reaches it
 * through a global.
 *
 * Call sites use the static inline wrappers below (xp_gnt_copy(gnt, ...),
 * xp_xs_read(xp, ...)), never the ops table; a handle carries its own ops,
 * so a call on it needs nothing else.
 *
 * Handles: grant and event-channel handles are opened per ring; the xenstore
 * connection is one per daemon, used from one thread at a time. A guest's
 * worker process (backend/worker.h) has a platform of its own with no
 * xenstore and no domain control: it maps and copies grants, and it gets
 * each ring's event-channel handle from the supervisor, which opens it,
 * restricts it to the frontend's domain (evt_export) and passes the fd
 * over a socket (evt_import).
 *
 * Every member returns 0 or -errno unless its comment says otherwise.
 */
#ifndef XE_PLATFORM_PLATFORM_H
#define XE_PLATFORM_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XP_PAGE_BYTES 4096u

struct xp_ops;

/* A platform instance (real or simulated). */
struct xp {
	const struct xp_ops *ops;
};

/* A grant-table handle; each implementation's handle starts with this. */
struct xp_gnt {
	const struct xp_ops *ops;
};

/* An event-channel handle (one fd, any number of ports); likewise. */
struct xp_evt {
	const struct xp_ops *ops;
};

/* One grant-copy segment: between a foreign granted page and local memory. */
struct xp_gnt_copy {
	bool to_foreign;      /* true: local -> foreign page; false: foreign -> local */
	uint16_t domid;       /* the granting domain */
	uint32_t ref;         /* its grant reference */
	uint16_t offset;      /* byte offset in the foreign page */
	uint16_t len;         /* bytes; offset + len <= XP_PAGE_BYTES */
	void *local;          /* local buffer (any alignment) */
	int16_t status;       /* out: 0 ok, else a negative GNTST_-style code */
};

/* xenstore permission entry, as in xs_permissions: the first entry names the
 * owner and the access everyone else gets. */
enum xp_perm { XP_PERM_NONE = 0, XP_PERM_READ = 1, XP_PERM_WRITE = 2,
	       XP_PERM_BOTH = 3 };
struct xp_xs_perm {
	uint16_t domid;
	enum xp_perm perm;
};

#define XP_XS_NO_TXN 0u

/* What the hypervisor says of a domain (xen_domctl_getdomaininfo). */
struct xp_dominfo {
	bool dying;     /* being destroyed: only its last mappings keep it */
	bool shutdown;  /* shut down; shutdown_reason says why */
	unsigned int shutdown_reason; /* XP_SHUTDOWN_*, if shutdown */
	bool paused;
	bool hvm;       /* HVM or PVH */
};

/* public/sched.h SHUTDOWN_* codes (the same in every Xen release). */
#define XP_SHUTDOWN_POWEROFF 0u
#define XP_SHUTDOWN_REBOOT 1u
#define XP_SHUTDOWN_SUSPEND 2u /* xl save, xl migrate */
#define XP_SHUTDOWN_CRASH 3u

struct xp_ops {
	const char *name;

	/* ---- grant tables ---- */
	/* Open a grant handle (maps and copies). */
	int (*gnt_open)(struct xp *xp, struct xp_gnt **gnt_r);
	/* Close it; every mapping must have been unmapped. NULL is ok. */
	void (*gnt_close)(struct xp_gnt *gnt);
	/* Map count grants of domid into one contiguous, page-aligned area. */
	int (*gnt_map)(struct xp_gnt *gnt, uint16_t domid, uint32_t count,
		       const uint32_t *refs, bool writable, void **addr_r);
	/* Unmap an area returned by gnt_map. */
	int (*gnt_unmap)(struct xp_gnt *gnt, void *addr, uint32_t count);
	/*
	 * Perform count copies in one batch. Returns 0 if the batch was
	 * submitted (then check every segs[i].status), or -errno if it could
	 * not be (then no status is meaningful).
	 */
	int (*gnt_copy)(struct xp_gnt *gnt, uint32_t count,
			struct xp_gnt_copy *segs);

	/* ---- event channels ---- */
	/* Open an event-channel handle. */
	int (*evt_open)(struct xp *xp, struct xp_evt **evt_r);
	/* Close it, unbinding every port still bound. NULL is ok. */
	void (*evt_close)(struct xp_evt *evt);
	/* A pollable fd: readable when evt_pending would return a port. */
	int (*evt_fd)(struct xp_evt *evt);
	/* Bind to domid's remote_port; returns our local port in *local_r. */
	int (*evt_bind)(struct xp_evt *evt, uint16_t domid, uint32_t remote_port,
			uint32_t *local_r);
	/* Unbind a port bound with evt_bind. */
	int (*evt_unbind)(struct xp_evt *evt, uint32_t local_port);
	/* Kick the other end. */
	int (*evt_notify)(struct xp_evt *evt, uint32_t local_port);
	/* Take one pending port (masked until evt_unmask); -EAGAIN if none. */
	int (*evt_pending)(struct xp_evt *evt, uint32_t *local_r);
	/* Re-enable delivery on a port: the EOI, after the ring is drained. */
	int (*evt_unmask)(struct xp_evt *evt, uint32_t local_port);
	/*
	 * Restrict an open handle to domid (it may bind only that domain's
	 * ports from now on) and return in *fd_r a new fd for the handle, to
	 * pass to a worker (the caller closes it after sending, and may
	 * close evt at once: the worker's copy keeps the handle alive).
	 */
	int (*evt_export)(struct xp_evt *evt, uint16_t domid, int *fd_r);
	/* A handle from an fd another process exported (the fd is owned
	 * from here on, even on failure). */
	int (*evt_import)(struct xp *xp, int fd, struct xp_evt **evt_r);

	/* ---- xenstore (one connection per instance) ---- */
	/*
	 * Read path into a malloc()ed NUL-terminated string (caller frees),
	 * length in *len_r if len_r. -ENOENT if absent, -EACCES if denied.
	 */
	int (*xs_read)(struct xp *xp, uint32_t txn, const char *path,
		       char **val_r, size_t *len_r);
	/* Write len bytes of val (no NUL needed) at path, creating it. */
	int (*xs_write)(struct xp *xp, uint32_t txn, const char *path,
			const char *val, size_t len);
	/* Create path (and its parents) empty; an existing path is kept. */
	int (*xs_mkdir)(struct xp *xp, uint32_t txn, const char *path);
	/* Remove path and everything below it. Absent is not an error. */
	int (*xs_rm)(struct xp *xp, uint32_t txn, const char *path);
	/* Children of path: *names_r is a malloc()ed array of malloc()ed
	 * strings, *n_r entries (caller frees with xp_free_strv). */
	int (*xs_directory)(struct xp *xp, uint32_t txn, const char *path,
			    char ***names_r, unsigned int *n_r);
	/* Replace path's permissions with perms[0..n-1] (n >= 1). */
	int (*xs_set_perms)(struct xp *xp, uint32_t txn, const char *path,
			    const struct xp_xs_perm *perms, unsigned int n);
	/* Start a transaction; *txn_r != XP_XS_NO_TXN. */
	int (*xs_txn_start)(struct xp *xp, uint32_t *txn_r);
	/* Commit (abort = false) or abort. -EAGAIN: conflict, retry it. */
	int (*xs_txn_end)(struct xp *xp, uint32_t txn, bool abort);
	/* Watch path (and its subtree); events carry token. A new watch fires
	 * once at once, as xenstored does. */
	int (*xs_watch)(struct xp *xp, const char *path, const char *token);
	/* Remove the watch registered with the same path and token. */
	int (*xs_unwatch)(struct xp *xp, const char *path, const char *token);
	/* A pollable fd, readable while watch events are queued. */
	int (*xs_fd)(struct xp *xp);
	/* Take one queued event: malloc()ed path and token (caller frees).
	 * -EAGAIN if none. */
	int (*xs_read_watch)(struct xp *xp, char **path_r, char **token_r);
	/* Our own domid (0 for dom0). */
	int (*self_domid)(struct xp *xp, uint16_t *domid_r);

	/* ---- domains (the real platform: libxenctrl, loaded at run time) ---- */
	/*
	 * What the hypervisor says of domid now: -ENOENT if there is no such
	 * domain, -ENOSYS if this platform cannot ask (no libxenctrl).
	 */
	int (*dom_info)(struct xp *xp, uint16_t domid, struct xp_dominfo *info);
	/* Pause / unpause domid (as `xl pause` does). -ENOSYS as above. */
	int (*dom_pause)(struct xp *xp, uint16_t domid);
	int (*dom_unpause)(struct xp *xp, uint16_t domid);

	/* Release the instance (after every handle is closed). */
	void (*destroy)(struct xp *xp);
};

/* The real platform over the libxen* libraries. -errno if xenstored or the
 * gntdev/evtchn devices cannot be opened (not running on Xen). */
int xp_xen_new(struct xp **xp_r);

/*
 * A worker's real platform: one grant device, opened here (before the
 * worker drops its privileges; every gnt_open shares it), event channels
 * by evt_import only, and every xenstore and domain op -EPERM.
 */
int xp_xen_worker_new(struct xp **xp_r);

/* ---- the seam as verbs: each wrapper only dispatches ---- */

static inline void xp_destroy(struct xp *xp)
{
	if (xp)
		xp->ops->destroy(xp);
}

static inline int xp_self_domid(struct xp *xp, uint16_t *domid_r)
{
	return xp->ops->self_domid(xp, domid_r);
}

static inline int xp_dom_info(struct xp *xp, uint16_t domid,
			      struct xp_dominfo *info)
{
	return xp->ops->dom_info(xp, domid, info);
}

static inline int xp_dom_pause(struct xp *xp, uint16_t domid)
{
	return xp->ops->dom_pause(xp, domid);
}

static inline int xp_dom_unpause(struct xp *xp, uint16_t domid)
{
	return xp->ops->dom_unpause(xp, domid);
}

static inline int xp_gnt_open(struct xp *xp, struct xp_gnt **gnt_r)
{
	return xp->ops->gnt_open(xp, gnt_r);
}

static inline void xp_gnt_close(struct xp_gnt *gnt)
{
	if (gnt)
		gnt->ops->gnt_close(gnt);
}

static inline int xp_gnt_map(struct xp_gnt *gnt, uint16_t domid,
			     uint32_t count, const uint32_t *refs,
			     bool writable, void **addr_r)
{
	return gnt->ops->gnt_map(gnt, domid, count, refs, writable, addr_r);
}

static inline int xp_gnt_unmap(struct xp_gnt *gnt, void *addr, uint32_t count)
{
	return gnt->ops->gnt_unmap(gnt, addr, count);
}

static inline int xp_gnt_copy(struct xp_gnt *gnt, uint32_t count,
			      struct xp_gnt_copy *segs)
{
	return gnt->ops->gnt_copy(gnt, count, segs);
}

static inline int xp_evt_open(struct xp *xp, struct xp_evt **evt_r)
{
	return xp->ops->evt_open(xp, evt_r);
}

static inline void xp_evt_close(struct xp_evt *evt)
{
	if (evt)
		evt->ops->evt_close(evt);
}

static inline int xp_evt_fd(struct xp_evt *evt)
{
	return evt->ops->evt_fd(evt);
}

static inline int xp_evt_bind(struct xp_evt *evt, uint16_t domid,
			      uint32_t remote_port, uint32_t *local_r)
{
	return evt->ops->evt_bind(evt, domid, remote_port, local_r);
}

static inline int xp_evt_unbind(struct xp_evt *evt, uint32_t local_port)
{
	return evt->ops->evt_unbind(evt, local_port);
}

static inline int xp_evt_notify(struct xp_evt *evt, uint32_t local_port)
{
	return evt->ops->evt_notify(evt, local_port);
}

static inline int xp_evt_pending(struct xp_evt *evt, uint32_t *local_r)
{
	return evt->ops->evt_pending(evt, local_r);
}

static inline int xp_evt_unmask(struct xp_evt *evt, uint32_t local_port)
{
	return evt->ops->evt_unmask(evt, local_port);
}

static inline int xp_evt_export(struct xp_evt *evt, uint16_t domid, int *fd_r)
{
	return evt->ops->evt_export(evt, domid, fd_r);
}

static inline int xp_evt_import(struct xp *xp, int fd, struct xp_evt **evt_r)
{
	return xp->ops->evt_import(xp, fd, evt_r);
}

static inline int xp_xs_read(struct xp *xp, uint32_t txn, const char *path,
			     char **val_r, size_t *len_r)
{
	return xp->ops->xs_read(xp, txn, path, val_r, len_r);
}

static inline int xp_xs_write(struct xp *xp, uint32_t txn, const char *path,
			      const char *val, size_t len)
{
	return xp->ops->xs_write(xp, txn, path, val, len);
}

static inline int xp_xs_mkdir(struct xp *xp, uint32_t txn, const char *path)
{
	return xp->ops->xs_mkdir(xp, txn, path);
}

static inline int xp_xs_rm(struct xp *xp, uint32_t txn, const char *path)
{
	return xp->ops->xs_rm(xp, txn, path);
}

static inline int xp_xs_directory(struct xp *xp, uint32_t txn,
				  const char *path, char ***names_r,
				  unsigned int *n_r)
{
	return xp->ops->xs_directory(xp, txn, path, names_r, n_r);
}

static inline int xp_xs_set_perms(struct xp *xp, uint32_t txn,
				  const char *path,
				  const struct xp_xs_perm *perms,
				  unsigned int n)
{
	return xp->ops->xs_set_perms(xp, txn, path, perms, n);
}

static inline int xp_xs_txn_start(struct xp *xp, uint32_t *txn_r)
{
	return xp->ops->xs_txn_start(xp, txn_r);
}

static inline int xp_xs_txn_end(struct xp *xp, uint32_t txn, bool abort)
{
	return xp->ops->xs_txn_end(xp, txn, abort);
}

static inline int xp_xs_watch(struct xp *xp, const char *path,
			      const char *token)
{
	return xp->ops->xs_watch(xp, path, token);
}

static inline int xp_xs_unwatch(struct xp *xp, const char *path,
				const char *token)
{
	return xp->ops->xs_unwatch(xp, path, token);
}

static inline int xp_xs_fd(struct xp *xp)
{
	return xp->ops->xs_fd(xp);
}

static inline int xp_xs_read_watch(struct xp *xp, char **path_r,
				   char **token_r)
{
	return xp->ops->xs_read_watch(xp, path_r, token_r);
}

/*
 * For a worker's platform (here and in tests/sim/): every xenstore and
 * domain op, evt_open and evt_export answer -EPERM (a worker has no
 * xenstore and controls no domain; it only imports event channels).
 */
int xp_refuse_evt_open(struct xp *xp, struct xp_evt **evt_r);
int xp_refuse_xs_read(struct xp *xp, uint32_t txn, const char *path,
		      char **val_r, size_t *len_r);
int xp_refuse_xs_write(struct xp *xp, uint32_t txn, const char *path,
		       const char *val, size_t len);
int xp_refuse_xs_path(struct xp *xp, uint32_t txn, const char *path);
int xp_refuse_xs_directory(struct xp *xp, uint32_t txn, const char *path,
			   char ***names_r, unsigned int *n_r);
int xp_refuse_xs_set_perms(struct xp *xp, uint32_t txn, const char *path,
			   const struct xp_xs_perm *perms, unsigned int n);
int xp_refuse_xs_txn_start(struct xp *xp, uint32_t *txn_r);
int xp_refuse_xs_txn_end(struct xp *xp, uint32_t txn, bool abort);
int xp_refuse_xs_watch(struct xp *xp, const char *path, const char *token);
int xp_refuse_xs_fd(struct xp *xp);
int xp_refuse_xs_read_watch(struct xp *xp, char **path_r, char **token_r);
int xp_refuse_self_domid(struct xp *xp, uint16_t *domid_r);
int xp_refuse_dom_info(struct xp *xp, uint16_t domid, struct xp_dominfo *info);
int xp_refuse_dom_op(struct xp *xp, uint16_t domid);
/* A worker exports nothing; the daemon imports nothing (the fd is closed). */
int xp_refuse_evt_export(struct xp_evt *evt, uint16_t domid, int *fd_r);
int xp_refuse_evt_import(struct xp *xp, int fd, struct xp_evt **evt_r);

/* ---- helpers over the seam (platform/platform.c, no Xen headers) ---- */

/* Longest xenstore path the helpers build (xenstored allows 3072). */
#define XP_PATH_MAX 3072u

/*
 * Read dir/node into a malloc()ed NUL-terminated string (caller frees), its
 * length in *len_r if len_r. Returns 0, -ENOENT if absent, -ENAMETOOLONG,
 * or another -errno. *val_r is set only on success.
 */
int xp_read_node(struct xp *xp, uint32_t txn, const char *dir,
		 const char *node, char **val_r, size_t *len_r);

/*
 * Write the printf-formatted value (at most 1023 bytes) to dir/node, as
 * Linux's xenbus_printf does. Returns 0 or -errno (-EINVAL if the value does
 * not fit).
 */
int xp_printf_node(struct xp *xp, uint32_t txn, const char *dir,
		   const char *node, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Does dir/node exist? 1, 0, or -errno. */
int xp_node_exists(struct xp *xp, uint32_t txn, const char *dir,
		   const char *node);

/* Attempts xp_txn_run makes before it gives up with -EAGAIN. */
#define XP_TXN_ATTEMPTS 16u

/*
 * Run fn(xp, txn, arg) in a transaction and commit it, retrying the whole
 * of it when the commit conflicts (-EAGAIN), up to XP_TXN_ATTEMPTS times.
 * fn returns 0 to commit, or -errno to abort (that is returned; a positive
 * value aborts too and is returned as is, for "nothing to do"). fn must be
 * safe to run again: it must not keep state from an aborted attempt.
 */
int xp_txn_run(struct xp *xp, int (*fn)(struct xp *xp, uint32_t txn,
					void *arg),
	       void *arg);

/*
 * Remove the xenstore directory path if it has no children, atomically (a
 * transaction, retried on conflict), so a node written there at the same
 * moment is never lost. Absent or not empty is not an error.
 */
int xp_rm_if_empty(struct xp *xp, const char *path);

/* Free an array returned by xs_directory. */
void xp_free_strv(char **v, unsigned int n);

/* The monotonic clock in milliseconds: the one clock for timeouts. */
uint64_t xp_now_ms(void);

#endif
