/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real platform: struct xp_ops over libxengnttab, libxenevtchn and
 * libxenstore. Each op is a thin translation: our types in, libxen's out,
 * false/NULL/-1 + errno turned into -errno. No policy lives here; everything
 * worth testing sits above the seam and runs against tests/sim/.
 *
 * Handles: struct xen_gnt and struct xen_evt wrap a xengnttab_handle and a
 * xenevtchn_handle behind the seam's struct xp_gnt / struct xp_evt.
 * The evtchn fd is made non-blocking so that evt_pending can answer -EAGAIN
 * instead of sleeping in read(). Watches are read with xs_check_watch, which
 * never blocks.
 *
 * libxenctrl (domain info, pause) is not linked: its soname and symbol
 * versions change with every Xen release (libxenctrl.so.4.17 with
 * VERS_4.17.0, libxenctrl.so.4.20 with libxenctrl_4.20.0), and one build
 * serves several. It is dlopen()ed on first use, newest release first, and
 * only functions whose prototypes are the same from 4.17 to 4.22 are used:
 * xc_interface_open/close, xc_domain_getinfolist (never xc_domain_getinfo,
 * gone in 4.18, nor _single, new in 4.18), xc_domain_pause/unpause. Their
 * xc_domaininfo_t is mirrored here: its layout (domain at 0, flags at 4,
 * 112 bytes on x86_64) and the XEN_DOMINF_* bits are the same in every
 * release. Without libxenctrl those ops answer -ENOSYS.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>
#include <xen/grant_table.h>

#include "platform/platform.h"

/* Domids at and above this are reserved (DOMID_FIRST_RESERVED). */
#define XP_XEN_DOMID_LIMIT 0x7FF0u

/* Segments converted per libxengnttab call; it splits further if needed. */
#define XP_XEN_COPY_CHUNK 32u

/* libxenctrl, loaded at run time (see the note at the top). */
struct xc_lib {
	bool tried;
	void *dl;
	void *xch;
	int (*getinfolist)(void *xch, uint32_t first, unsigned int max,
			   void *info);
	int (*pause)(void *xch, uint32_t domid);
	int (*unpause)(void *xch, uint32_t domid);
	int (*close)(void *xch);
};

struct xp_xen {
	struct xp xp;
	struct xs_handle *xsh;
	struct xc_lib xc;
};

struct xen_gnt {
	struct xp_gnt base;
	xengnttab_handle *h;
	bool shared; /* a worker's one grant device: not ours to close */
};

/* A worker's platform: its one grant device, opened before the sandbox. */
struct xp_xen_worker {
	struct xp xp;
	xengnttab_handle *gt;
};

struct xen_evt {
	struct xp_evt base;
	xenevtchn_handle *h;
};

static xengnttab_handle *xgt_of(struct xp_gnt *gnt)
{
	return ((struct xen_gnt *)gnt)->h;
}

static xenevtchn_handle *xce_of(struct xp_evt *evt)
{
	return ((struct xen_evt *)evt)->h;
}

static struct xs_handle *xsh_of(struct xp *xp)
{
	return ((struct xp_xen *)xp)->xsh;
}

/* errno as a negative code, never 0 even if a library forgot to set it. */
static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* ---- grant tables ---- */

static int xen_gnt_open(struct xp *xp, struct xp_gnt **gnt_r)
{
	struct xen_gnt *g = calloc(1, sizeof(*g));
	int rc;

	if (!g)
		return -ENOMEM;
	g->h = xengnttab_open(NULL, 0);
	if (!g->h) {
		rc = neg_errno();
		free(g);
		return rc;
	}
	g->base.ops = xp->ops;
	*gnt_r = &g->base;
	return 0;
}

static void xen_gnt_close(struct xp_gnt *gnt)
{
	if (!gnt)
		return;
	if (!((struct xen_gnt *)gnt)->shared)
		xengnttab_close(xgt_of(gnt));
	free(gnt);
}

static int xen_gnt_map(struct xp_gnt *gnt, uint16_t domid, uint32_t count,
		       const uint32_t *refs, bool writable, void **addr_r)
{
	void *addr;

	if (count == 0)
		return -EINVAL;
	/* libxengnttab takes refs without const but does not write them. */
	addr = xengnttab_map_domain_grant_refs(
		xgt_of(gnt), count, domid, (uint32_t *)refs,
		writable ? PROT_READ | PROT_WRITE : PROT_READ);
	if (!addr)
		return neg_errno();
	*addr_r = addr;
	return 0;
}

static int xen_gnt_unmap(struct xp_gnt *gnt, void *addr, uint32_t count)
{
	if (xengnttab_unmap(xgt_of(gnt), addr, count) < 0)
		return neg_errno();
	return 0;
}

static void xen_copy_seg(const struct xp_gnt_copy *in,
			 xengnttab_grant_copy_segment_t *out)
{
	memset(out, 0, sizeof(*out));
	out->len = in->len;
	if (in->to_foreign) {
		out->source.virt = in->local;
		out->dest.foreign.ref = in->ref;
		out->dest.foreign.offset = in->offset;
		out->dest.foreign.domid = in->domid;
		out->flags = GNTCOPY_dest_gref;
	} else {
		out->source.foreign.ref = in->ref;
		out->source.foreign.offset = in->offset;
		out->source.foreign.domid = in->domid;
		out->dest.virt = in->local;
		out->flags = GNTCOPY_source_gref;
	}
}

static int xen_gnt_copy(struct xp_gnt *gnt, uint32_t count,
			struct xp_gnt_copy *segs)
{
	xengnttab_grant_copy_segment_t chunk[XP_XEN_COPY_CHUNK];
	uint32_t i, j, n;

	/* A foreign segment may not cross its page (grant_table.h). */
	for (i = 0; i < count; i++)
		if ((uint32_t)segs[i].offset + segs[i].len > XP_PAGE_BYTES)
			return -EINVAL;

	for (i = 0; i < count; i += n) {
		n = count - i < XP_XEN_COPY_CHUNK ? count - i :
						    XP_XEN_COPY_CHUNK;
		for (j = 0; j < n; j++)
			xen_copy_seg(&segs[i + j], &chunk[j]);
		if (xengnttab_grant_copy(xgt_of(gnt), n, chunk) < 0)
			return neg_errno();
		for (j = 0; j < n; j++)
			segs[i + j].status = chunk[j].status;
	}
	return 0;
}

/* ---- event channels ---- */

/* Wrap h (owned from here on): non-blocking, so that pending can say
 * -EAGAIN. */
static int evt_wrap(struct xp *xp, xenevtchn_handle *h, struct xp_evt **evt_r)
{
	struct xen_evt *e = calloc(1, sizeof(*e));
	int fd = xenevtchn_fd(h), fl, rc;

	fl = fcntl(fd, F_GETFL);
	if (!e || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		rc = e ? neg_errno() : -ENOMEM;
		xenevtchn_close(h);
		free(e);
		return rc;
	}
	e->h = h;
	e->base.ops = xp->ops;
	*evt_r = &e->base;
	return 0;
}

static int xen_evt_open(struct xp *xp, struct xp_evt **evt_r)
{
	xenevtchn_handle *h = xenevtchn_open(NULL, 0);

	if (!h)
		return neg_errno();
	return evt_wrap(xp, h, evt_r);
}

static int xen_evt_export(struct xp_evt *evt, uint16_t domid, int *fd_r)
{
	int fd;

	if (xenevtchn_restrict(xce_of(evt), domid) < 0)
		return neg_errno();
	fd = fcntl(xenevtchn_fd(xce_of(evt)), F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return neg_errno();
	*fd_r = fd;
	return 0;
}

static int xen_evt_import(struct xp *xp, int fd, struct xp_evt **evt_r)
{
	xenevtchn_handle *h = xenevtchn_fdopen(NULL, fd, 0);

	if (!h) {
		int rc = neg_errno();

		close(fd);
		return rc;
	}
	return evt_wrap(xp, h, evt_r);
}


static void xen_evt_close(struct xp_evt *evt)
{
	if (!evt)
		return;
	xenevtchn_close(xce_of(evt));
	free(evt);
}

static int xen_evt_fd(struct xp_evt *evt)
{
	return xenevtchn_fd(xce_of(evt));
}

static int xen_evt_bind(struct xp_evt *evt, uint16_t domid,
			uint32_t remote_port, uint32_t *local_r)
{
	xenevtchn_port_or_error_t port;

	port = xenevtchn_bind_interdomain(xce_of(evt), domid,
					  remote_port);
	if (port < 0)
		return neg_errno();
	*local_r = (uint32_t)port;
	return 0;
}

static int xen_evt_unbind(struct xp_evt *evt, uint32_t local_port)
{
	if (xenevtchn_unbind(xce_of(evt), local_port) < 0)
		return neg_errno();
	return 0;
}

static int xen_evt_notify(struct xp_evt *evt, uint32_t local_port)
{
	if (xenevtchn_notify(xce_of(evt), local_port) < 0)
		return neg_errno();
	return 0;
}

static int xen_evt_pending(struct xp_evt *evt, uint32_t *local_r)
{
	xenevtchn_port_or_error_t port;

	port = xenevtchn_pending(xce_of(evt));
	if (port < 0)
		return neg_errno(); /* -EAGAIN: the fd is non-blocking */
	*local_r = (uint32_t)port;
	return 0;
}

static int xen_evt_unmask(struct xp_evt *evt, uint32_t local_port)
{
	if (xenevtchn_unmask(xce_of(evt), local_port) < 0)
		return neg_errno();
	return 0;
}

/* ---- xenstore ---- */

static int xen_xs_read(struct xp *xp, uint32_t txn, const char *path,
		       char **val_r, size_t *len_r)
{
	unsigned int len;
	char *val = xs_read(xsh_of(xp), txn, path, &len);

	if (!val)
		return neg_errno();
	*val_r = val; /* xs_read NUL-terminates */
	if (len_r)
		*len_r = len;
	return 0;
}

static int xen_xs_write(struct xp *xp, uint32_t txn, const char *path,
			const char *val, size_t len)
{
	if (len > UINT32_MAX)
		return -E2BIG;
	if (!xs_write(xsh_of(xp), txn, path, val, (unsigned int)len))
		return neg_errno();
	return 0;
}

static int xen_xs_mkdir(struct xp *xp, uint32_t txn, const char *path)
{
	if (!xs_mkdir(xsh_of(xp), txn, path))
		return neg_errno();
	return 0;
}

static int xen_xs_rm(struct xp *xp, uint32_t txn, const char *path)
{
	if (!xs_rm(xsh_of(xp), txn, path) && errno != ENOENT)
		return neg_errno();
	return 0;
}

static int xen_xs_directory(struct xp *xp, uint32_t txn, const char *path,
			    char ***names_r, unsigned int *n_r)
{
	unsigned int i, n;
	char **lib, **names;

	lib = xs_directory(xsh_of(xp), txn, path, &n);
	if (!lib)
		return neg_errno();
	/* libxenstore returns one block; our contract is a strv. */
	names = calloc(n ? n : 1, sizeof(*names));
	if (!names)
		goto nomem;
	for (i = 0; i < n; i++) {
		names[i] = strdup(lib[i]);
		if (!names[i]) {
			xp_free_strv(names, i);
			goto nomem;
		}
	}
	free(lib);
	*names_r = names;
	*n_r = n;
	return 0;
nomem:
	free(lib);
	return -ENOMEM;
}

static int xen_xs_set_perms(struct xp *xp, uint32_t txn, const char *path,
			    const struct xp_xs_perm *perms, unsigned int n)
{
	struct xs_permissions *p;
	unsigned int i;
	int rc = 0;

	if (n == 0)
		return -EINVAL;
	p = calloc(n, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		p[i].id = perms[i].domid;
		p[i].perms = (unsigned int)perms[i].perm &
			     (XS_PERM_READ | XS_PERM_WRITE);
	}
	if (!xs_set_permissions(xsh_of(xp), txn, path, p, n))
		rc = neg_errno();
	free(p);
	return rc;
}

static int xen_xs_txn_start(struct xp *xp, uint32_t *txn_r)
{
	xs_transaction_t t = xs_transaction_start(xsh_of(xp));

	if (t == XBT_NULL)
		return neg_errno();
	*txn_r = t;
	return 0;
}

static int xen_xs_txn_end(struct xp *xp, uint32_t txn, bool abort)
{
	if (!xs_transaction_end(xsh_of(xp), txn, abort))
		return neg_errno(); /* -EAGAIN: conflict, the caller retries */
	return 0;
}

static int xen_xs_watch(struct xp *xp, const char *path, const char *token)
{
	if (!xs_watch(xsh_of(xp), path, token))
		return neg_errno();
	return 0;
}

static int xen_xs_unwatch(struct xp *xp, const char *path, const char *token)
{
	if (!xs_unwatch(xsh_of(xp), path, token))
		return neg_errno();
	return 0;
}

static int xen_xs_fd(struct xp *xp)
{
	int fd = xs_fileno(xsh_of(xp));

	return fd < 0 ? neg_errno() : fd;
}

static int xen_xs_read_watch(struct xp *xp, char **path_r, char **token_r)
{
	char **ev, *path, *token;

	errno = 0;
	ev = xs_check_watch(xsh_of(xp));
	if (!ev)
		return errno ? -errno : -EAGAIN;
	path = strdup(ev[XS_WATCH_PATH]);
	token = strdup(ev[XS_WATCH_TOKEN]);
	free(ev);
	if (!path || !token) {
		free(path);
		free(token);
		return -ENOMEM;
	}
	*path_r = path;
	*token_r = token;
	return 0;
}

static int xen_self_domid(struct xp *xp, uint16_t *domid_r)
{
	unsigned long v;
	char *val, *end;
	int rc;

	/* Relative paths are under /local/domain/<self>. dom0 may lack it. */
	rc = xen_xs_read(xp, XP_XS_NO_TXN, "domid", &val, NULL);
	if (rc == -ENOENT) {
		*domid_r = 0;
		return 0;
	}
	if (rc < 0)
		return rc;
	errno = 0;
	v = strtoul(val, &end, 10);
	rc = (errno || end == val || *end || v >= XP_XEN_DOMID_LIMIT) ?
		     -EINVAL :
		     0;
	free(val);
	if (rc == 0)
		*domid_r = (uint16_t)v;
	return rc;
}

/* ---- domains, through libxenctrl loaded at run time ---- */

/* Our mirror of xen_domctl_getdomaininfo_t (xc_domaininfo_t). */
struct xc_dominfo_mirror {
	uint16_t domain;
	uint16_t pad1;
	uint32_t flags;
	uint8_t middle[68];
	uint8_t handle[16];
	uint8_t tail[20];
};
#if defined(__x86_64__)
_Static_assert(offsetof(struct xc_dominfo_mirror, flags) == 4, "flags");
_Static_assert(offsetof(struct xc_dominfo_mirror, handle) == 76, "handle");
_Static_assert(sizeof(struct xc_dominfo_mirror) == 112, "size");
#define XC_MIRROR_OK 1
#else
#define XC_MIRROR_OK 0 /* only x86_64's layout was checked */
#endif

#define XEN_DOMINF_DYING 0x1u
#define XEN_DOMINF_HVM 0x2u
#define XEN_DOMINF_SHUTDOWN 0x4u
#define XEN_DOMINF_PAUSED 0x8u
#define XEN_DOMINF_SHUTDOWN_SHIFT 16
#define XEN_DOMINF_SHUTDOWN_MASK 0xffu

/* The first libxenctrl.so.4.NN there is, newest first; 0 or -ENOSYS. */
static int xc_load(struct xc_lib *xc)
{
	void *(*open_fn)(void *, void *, unsigned int);
	char name[32];
	int minor;

	if (xc->tried)
		return xc->xch ? 0 : -ENOSYS;
	xc->tried = true;
	if (!XC_MIRROR_OK)
		return -ENOSYS;
	for (minor = 40; minor >= 17 && !xc->dl; minor--) {
		snprintf(name, sizeof(name), "libxenctrl.so.4.%d", minor);
		xc->dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	}
	if (!xc->dl)
		xc->dl = dlopen("libxenctrl.so", RTLD_NOW | RTLD_LOCAL);
	if (!xc->dl)
		return -ENOSYS;
	*(void **)&open_fn = dlsym(xc->dl, "xc_interface_open");
	*(void **)&xc->getinfolist = dlsym(xc->dl, "xc_domain_getinfolist");
	*(void **)&xc->pause = dlsym(xc->dl, "xc_domain_pause");
	*(void **)&xc->unpause = dlsym(xc->dl, "xc_domain_unpause");
	*(void **)&xc->close = dlsym(xc->dl, "xc_interface_close");
	if (open_fn && xc->getinfolist && xc->pause && xc->unpause &&
	    xc->close)
		xc->xch = open_fn(NULL, NULL, 0);
	if (!xc->xch) {
		dlclose(xc->dl);
		xc->dl = NULL;
		return -ENOSYS;
	}
	return 0;
}

static int xen_dom_info(struct xp *xp, uint16_t domid, struct xp_dominfo *info)
{
	struct xc_lib *xc = &((struct xp_xen *)xp)->xc;
	struct xc_dominfo_mirror m;
	int rc = xc_load(xc);

	if (rc)
		return rc;
	memset(&m, 0, sizeof(m));
	/* "the first domain >= domid" on 4.17: check it is this one */
	rc = xc->getinfolist(xc->xch, domid, 1, &m);
	if (rc < 0)
		return neg_errno();
	if (rc != 1 || m.domain != domid)
		return -ENOENT;
	*info = (struct xp_dominfo){
		.dying = m.flags & XEN_DOMINF_DYING,
		.shutdown = m.flags & XEN_DOMINF_SHUTDOWN,
		.shutdown_reason = (m.flags >> XEN_DOMINF_SHUTDOWN_SHIFT) &
				   XEN_DOMINF_SHUTDOWN_MASK,
		.paused = m.flags & XEN_DOMINF_PAUSED,
		.hvm = m.flags & XEN_DOMINF_HVM,
	};
	return 0;
}

static int xen_dom_pause(struct xp *xp, uint16_t domid)
{
	struct xc_lib *xc = &((struct xp_xen *)xp)->xc;
	int rc = xc_load(xc);

	if (rc)
		return rc;
	return xc->pause(xc->xch, domid) < 0 ? neg_errno() : 0;
}

static int xen_dom_unpause(struct xp *xp, uint16_t domid)
{
	struct xc_lib *xc = &((struct xp_xen *)xp)->xc;
	int rc = xc_load(xc);

	if (rc)
		return rc;
	return xc->unpause(xc->xch, domid) < 0 ? neg_errno() : 0;
}

static void xen_destroy(struct xp *xp)
{
	struct xp_xen *x = (struct xp_xen *)xp;

	if (!xp)
		return;
	if (x->xc.xch)
		x->xc.close(x->xc.xch);
	if (x->xc.dl)
		dlclose(x->xc.dl);
	xs_close(x->xsh);
	free(x);
}

/* ---- a worker's platform: grants and imported event channels only ---- */

static int xen_worker_gnt_open(struct xp *xp, struct xp_gnt **gnt_r)
{
	struct xen_gnt *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->h = ((struct xp_xen_worker *)xp)->gt;
	g->shared = true;
	g->base.ops = xp->ops;
	*gnt_r = &g->base;
	return 0;
}

static void xen_worker_destroy(struct xp *xp)
{
	if (!xp)
		return;
	xengnttab_close(((struct xp_xen_worker *)xp)->gt);
	free(xp);
}

static const struct xp_ops xen_worker_ops = {
	.name = "xen-worker",
	.gnt_open = xen_worker_gnt_open,
	.gnt_close = xen_gnt_close,
	.gnt_map = xen_gnt_map,
	.gnt_unmap = xen_gnt_unmap,
	.gnt_copy = xen_gnt_copy,
	.evt_open = xp_refuse_evt_open,
	.evt_close = xen_evt_close,
	.evt_fd = xen_evt_fd,
	.evt_bind = xen_evt_bind,
	.evt_unbind = xen_evt_unbind,
	.evt_notify = xen_evt_notify,
	.evt_pending = xen_evt_pending,
	.evt_unmask = xen_evt_unmask,
	.evt_export = xp_refuse_evt_export,
	.evt_import = xen_evt_import,
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
	.destroy = xen_worker_destroy,
};

int xp_xen_worker_new(struct xp **xp_r)
{
	struct xp_xen_worker *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return -ENOMEM;
	w->gt = xengnttab_open(NULL, 0);
	if (!w->gt) {
		rc = neg_errno();
		free(w);
		return rc;
	}
	w->xp.ops = &xen_worker_ops;
	*xp_r = &w->xp;
	return 0;
}

static const struct xp_ops xen_ops = {
	.name = "xen",
	.gnt_open = xen_gnt_open,
	.gnt_close = xen_gnt_close,
	.gnt_map = xen_gnt_map,
	.gnt_unmap = xen_gnt_unmap,
	.gnt_copy = xen_gnt_copy,
	.evt_open = xen_evt_open,
	.evt_close = xen_evt_close,
	.evt_fd = xen_evt_fd,
	.evt_bind = xen_evt_bind,
	.evt_unbind = xen_evt_unbind,
	.evt_notify = xen_evt_notify,
	.evt_pending = xen_evt_pending,
	.evt_unmask = xen_evt_unmask,
	.evt_export = xen_evt_export,
	.evt_import = xp_refuse_evt_import,
	.xs_read = xen_xs_read,
	.xs_write = xen_xs_write,
	.xs_mkdir = xen_xs_mkdir,
	.xs_rm = xen_xs_rm,
	.xs_directory = xen_xs_directory,
	.xs_set_perms = xen_xs_set_perms,
	.xs_txn_start = xen_xs_txn_start,
	.xs_txn_end = xen_xs_txn_end,
	.xs_watch = xen_xs_watch,
	.xs_unwatch = xen_xs_unwatch,
	.xs_fd = xen_xs_fd,
	.xs_read_watch = xen_xs_read_watch,
	.self_domid = xen_self_domid,
	.dom_info = xen_dom_info,
	.dom_pause = xen_dom_pause,
	.dom_unpause = xen_dom_unpause,
	.destroy = xen_destroy,
};

int xp_xen_new(struct xp **xp_r)
{
	struct xp_xen *x;
	int rc;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->xsh = xs_open(0);
	if (!x->xsh) {
		rc = neg_errno();
		free(x);
		return rc;
	}
	x->xp.ops = &xen_ops;
	*xp_r = &x->xp;
	return 0;
}
