/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The platform seam: everything the daemon needs from Xen, as one ops struct
 * with two implementations, the real one over libxengnttab, libxenevtchn and
 * libxenstore (xs-glue/platform-xen.c) and a simulated Xen for tests
 * (tests/sim/). An instance is created at the top (daemon or test) and passed
 * down; nothing reaches it through a global.
 *
 * Handles: grant and event-channel handles are opened per ring so that a ring
 * can later move into its own thread or process; the xenstore connection is
 * one per daemon (or per worker), used from one thread at a time.
 *
 * Every member returns 0 or -errno unless its comment says otherwise.
 */
#ifndef XE_XS_GLUE_PLATFORM_H
#define XE_XS_GLUE_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XP_PAGE_BYTES 4096u

struct xp;     /* a platform instance (real or simulated) */
struct xp_gnt; /* a grant-table handle */
struct xp_evt; /* an event-channel handle: one fd, any number of ports */

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
	int (*evt_open)(struct xp *xp, struct xp_evt **evt_r);
	void (*evt_close)(struct xp_evt *evt);
	/* A pollable fd: readable when evt_pending would return a port. */
	int (*evt_fd)(struct xp_evt *evt);
	/* Bind to domid's remote_port; returns our local port in *local_r. */
	int (*evt_bind)(struct xp_evt *evt, uint16_t domid, uint32_t remote_port,
			uint32_t *local_r);
	int (*evt_unbind)(struct xp_evt *evt, uint32_t local_port);
	/* Kick the other end. */
	int (*evt_notify)(struct xp_evt *evt, uint32_t local_port);
	/* Take one pending port (masked until evt_unmask); -EAGAIN if none. */
	int (*evt_pending)(struct xp_evt *evt, uint32_t *local_r);
	/* Re-enable delivery on a port: the EOI, after the ring is drained. */
	int (*evt_unmask)(struct xp_evt *evt, uint32_t local_port);

	/* ---- xenstore (one connection per instance) ---- */
	/*
	 * Read path into a malloc()ed NUL-terminated string (caller frees),
	 * length in *len_r if len_r. -ENOENT if absent, -EACCES if denied.
	 */
	int (*xs_read)(struct xp *xp, uint32_t txn, const char *path,
		       char **val_r, size_t *len_r);
	int (*xs_write)(struct xp *xp, uint32_t txn, const char *path,
			const char *val, size_t len);
	int (*xs_mkdir)(struct xp *xp, uint32_t txn, const char *path);
	/* Remove path and everything below it. Absent is not an error. */
	int (*xs_rm)(struct xp *xp, uint32_t txn, const char *path);
	/* Children of path: *names_r is a malloc()ed array of malloc()ed
	 * strings, *n_r entries (caller frees with xp_free_strv). */
	int (*xs_directory)(struct xp *xp, uint32_t txn, const char *path,
			    char ***names_r, unsigned int *n_r);
	int (*xs_set_perms)(struct xp *xp, uint32_t txn, const char *path,
			    const struct xp_xs_perm *perms, unsigned int n);
	/* Start a transaction; *txn_r != XP_XS_NO_TXN. */
	int (*xs_txn_start)(struct xp *xp, uint32_t *txn_r);
	/* Commit (abort = false) or abort. -EAGAIN: conflict, retry it. */
	int (*xs_txn_end)(struct xp *xp, uint32_t txn, bool abort);
	/* Watch path (and its subtree); events carry token. A new watch fires
	 * once at once, as xenstored does. */
	int (*xs_watch)(struct xp *xp, const char *path, const char *token);
	int (*xs_unwatch)(struct xp *xp, const char *path, const char *token);
	/* A pollable fd, readable while watch events are queued. */
	int (*xs_fd)(struct xp *xp);
	/* Take one queued event: malloc()ed path and token (caller frees).
	 * -EAGAIN if none. */
	int (*xs_read_watch)(struct xp *xp, char **path_r, char **token_r);
	/* Our own domid (0 for dom0). */
	int (*self_domid)(struct xp *xp, uint16_t *domid_r);

	/* Release the instance (after every handle is closed). */
	void (*destroy)(struct xp *xp);
};

struct xp {
	const struct xp_ops *ops;
};

/* The real platform over the libxen* libraries. -errno if xenstored or the
 * gntdev/evtchn devices cannot be opened (not running on Xen). */
int xp_xen_new(struct xp **xp_r);

/*
 * Remove the xenstore directory path if it has no children, atomically (a
 * transaction, retried on conflict), so a node written there at the same
 * moment is never lost. Absent or not empty is not an error.
 */
int xp_rm_if_empty(struct xp *xp, const char *path);

/* Free an array returned by xs_directory. */
void xp_free_strv(char **v, unsigned int n);

#endif
