/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Simulated xenstore: a tree of nodes with values and permissions, with the
 * rules of xenstored (docs/misc/xenstore.txt):
 *
 * - perms[0] names the owner and what every other domain may do; later
 *   entries override it for one domain. The owner and dom0 may do anything.
 * - A new node inherits its parent's perms; a node created by an unprivileged
 *   domain is owned by it. Creating needs write access to the nearest
 *   existing ancestor. Reading an absent node says -ENOENT only to a domain
 *   that can read its nearest ancestor, -EACCES otherwise.
 * - Only the owner or dom0 sets perms; only dom0 gives a node away.
 * - A guest may own at most node_quota nodes (-ENOSPC), values are at most
 *   4096 bytes (-E2BIG): a guest cannot grow dom0's memory through us.
 * - Paths without a leading '/' are relative to /local/domain/<own domid>.
 *
 * Watches belong to an xp instance. A watch fires once when set, then on
 * every change at or below its path, and on removal of an ancestor, but only
 * if the watcher may read the node (XSA-115); @introduceDomain and
 * @releaseDomain reach only dom0's watches after the first firing. Events queue
 * per instance; past the limit an event equal to a queued one (path and token)
 * is coalesced into it, and past twice the limit new events are dropped and
 * counted, so a guest that writes in a loop cannot grow the backend's memory
 * (XSA-349).
 *
 * A transaction works on a private copy of the tree and logs its operations;
 * commit replays the log on a copy of the live tree and swaps it in, firing
 * watches only then. Like xenstored, commit fails with -EAGAIN if a node the
 * transaction read or changed (value, perms or children) was changed by
 * someone else meanwhile; sim_xs_fail_commits forces -EAGAIN too.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim-priv.h"

#define SIM_XS_PATH_MAX 3072u /* XENSTORE_ABS_PATH_MAX */
#define SIM_XS_VALUE_MAX 4096u /* XENSTORE_PAYLOAD_MAX */

enum sim_op_kind { SIM_OP_WRITE, SIM_OP_MKDIR, SIM_OP_RM, SIM_OP_PERMS };

struct sim_op {
	struct sim_op *next;
	enum sim_op_kind kind;
	char *path; /* absolute */
	char *val;
	size_t len;
	struct xp_xs_perm *perms;
	unsigned int nperms;
};

struct sim_txn {
	struct sim_txn *next;
	uint32_t id;
	struct sim_node *root; /* private copy, changed by the txn */
	struct sim_node *base; /* the tree as it was at the start */
	struct sim_op *ops, **tail;
	char **seen; /* paths the txn read or changed */
	unsigned int nseen, cap;
	bool nomem;
};

/* Changes made by one operation, to fire watches for once it is applied. */
struct sim_ev {
	char *path;
	bool rm;
};

struct sim_evlist {
	struct sim_ev *v;
	unsigned int n, cap;
	bool nomem;
};

/* ---- tree ---- */

static void node_free(struct sim_node *n)
{
	unsigned int i;

	if (!n)
		return;
	for (i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n->value);
	free(n->perms);
	free(n);
}

static unsigned int node_count(const struct sim_node *n)
{
	unsigned int i, c = 1;

	for (i = 0; i < n->nkids; i++)
		c += node_count(n->kids[i]);
	return c;
}

unsigned int sim_xs_nodes_locked(struct sim *sim)
{
	return sim->root ? node_count(sim->root) : 0;
}

static struct sim_node *node_new(const char *name, size_t name_len,
				 const struct xp_xs_perm *perms,
				 unsigned int nperms)
{
	struct sim_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = strndup(name, name_len);
	n->value = strdup("");
	n->perms = malloc(nperms * sizeof(*perms));
	if (!n->name || !n->value || !n->perms) {
		node_free(n);
		return NULL;
	}
	memcpy(n->perms, perms, nperms * sizeof(*perms));
	n->nperms = nperms;
	return n;
}

static struct sim_node *node_clone(const struct sim_node *src,
				   struct sim_node *parent)
{
	struct sim_node *n;
	unsigned int i;

	n = node_new(src->name, strlen(src->name), src->perms, src->nperms);
	if (!n)
		return NULL;
	n->parent = parent;
	free(n->value);
	n->value = malloc(src->len + 1);
	n->kids = calloc(src->nkids ? src->nkids : 1, sizeof(*n->kids));
	if (!n->value || !n->kids)
		goto fail;
	memcpy(n->value, src->value, src->len + 1);
	n->len = src->len;
	for (i = 0; i < src->nkids; i++) {
		n->kids[i] = node_clone(src->kids[i], n);
		if (!n->kids[i])
			goto fail;
		n->nkids++;
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

static struct sim_node *kid_find(const struct sim_node *n, const char *name,
				 size_t len)
{
	unsigned int i;

	for (i = 0; i < n->nkids; i++)
		if (strlen(n->kids[i]->name) == len &&
		    memcmp(n->kids[i]->name, name, len) == 0)
			return n->kids[i];
	return NULL;
}

/*
 * Walk abs (canonical) from root as far as it exists. Returns the deepest
 * existing node; *rest_r points at the first missing component, or at the
 * terminating NUL if the whole path exists.
 */
static struct sim_node *walk(struct sim_node *root, const char *abs,
			     const char **rest_r)
{
	struct sim_node *n = root, *k;
	const char *p = abs + 1, *e;

	while (*p) {
		e = strchrnul(p, '/');
		k = kid_find(n, p, (size_t)(e - p));
		if (!k)
			break;
		n = k;
		p = *e ? e + 1 : e;
	}
	*rest_r = p;
	return n;
}

static struct sim_node *lookup(struct sim_node *root, const char *abs)
{
	const char *rest;
	struct sim_node *n = walk(root, abs, &rest);

	return *rest ? NULL : n;
}

static unsigned int perm_of(const struct sim_node *n, uint16_t domid)
{
	unsigned int i;

	if (domid == 0 || n->perms[0].domid == domid)
		return XP_PERM_BOTH;
	for (i = 1; i < n->nperms; i++)
		if (n->perms[i].domid == domid)
			return n->perms[i].perm;
	return n->perms[0].perm;
}

static void ev_add(struct sim_evlist *ev, const char *path, bool rm)
{
	struct sim_ev *v;

	if (!ev)
		return;
	if (ev->n == ev->cap) {
		unsigned int cap = ev->cap ? ev->cap * 2 : 4;

		v = realloc(ev->v, cap * sizeof(*v));
		if (!v) {
			ev->nomem = true;
			return;
		}
		ev->v = v;
		ev->cap = cap;
	}
	ev->v[ev->n].path = strdup(path);
	if (!ev->v[ev->n].path) {
		ev->nomem = true;
		return;
	}
	ev->v[ev->n++].rm = rm;
}

static void ev_fini(struct sim_evlist *ev)
{
	unsigned int i;

	for (i = 0; i < ev->n; i++)
		free(ev->v[i].path);
	free(ev->v);
	memset(ev, 0, sizeof(*ev));
}

/* Nodes below (and including) n owned by domid. */
static unsigned int owned(const struct sim_node *n, uint16_t domid)
{
	unsigned int i, cnt = n->perms[0].domid == domid;

	for (i = 0; i < n->nkids; i++)
		cnt += owned(n->kids[i], domid);
	return cnt;
}

/*
 * Find abs or create it (and missing parents) as domid, who may own at most
 * quota nodes (ignored for dom0).
 */
static int t_get_or_create(struct sim_node *root, uint16_t domid,
			   unsigned int quota, const char *abs,
			   struct sim_node **node_r)
{
	struct sim_node *n, *k, **kids;
	const char *rest, *e;
	unsigned int missing = 1;

	n = walk(root, abs, &rest);
	if (!*rest) {
		if (!(perm_of(n, domid) & XP_PERM_WRITE))
			return -EACCES;
		*node_r = n;
		return 0;
	}
	if (!(perm_of(n, domid) & XP_PERM_WRITE))
		return -EACCES;
	for (e = rest; *e; e++)
		missing += *e == '/';
	if (domid != 0 && owned(root, domid) + missing > quota)
		return -ENOSPC;
	while (*rest) {
		e = strchrnul(rest, '/');
		k = node_new(rest, (size_t)(e - rest), n->perms, n->nperms);
		kids = k ? realloc(n->kids, (n->nkids + 1) * sizeof(*kids)) :
			   NULL;
		if (!kids) {
			node_free(k);
			return -ENOMEM; /* created parents stay */
		}
		if (domid != 0)
			k->perms[0].domid = domid;
		k->parent = n;
		n->kids = kids;
		n->kids[n->nkids++] = k;
		n = k;
		rest = *e ? e + 1 : e;
	}
	*node_r = n;
	return 0;
}

static int t_write(struct sim_node *root, uint16_t domid, unsigned int quota,
		   const char *abs, const char *val, size_t len,
		   struct sim_evlist *ev)
{
	struct sim_node *n;
	char *v;
	int rc;

	rc = t_get_or_create(root, domid, quota, abs, &n);
	if (rc < 0)
		return rc;
	v = malloc(len + 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, val, len);
	v[len] = '\0';
	free(n->value);
	n->value = v;
	n->len = len;
	ev_add(ev, abs, false);
	return 0;
}

static int t_mkdir(struct sim_node *root, uint16_t domid, unsigned int quota,
		   const char *abs, struct sim_evlist *ev)
{
	struct sim_node *n;
	bool existed = lookup(root, abs) != NULL;
	int rc;

	rc = t_get_or_create(root, domid, quota, abs, &n);
	if (rc == 0 && !existed)
		ev_add(ev, abs, false);
	return rc;
}

static int t_rm(struct sim_node *root, uint16_t domid, const char *abs,
		struct sim_evlist *ev)
{
	const char *rest;
	struct sim_node *n = walk(root, abs, &rest), *p;
	unsigned int i;

	if (*rest) /* absent: fine, if they may know it */
		return perm_of(n, domid) & XP_PERM_READ ? 0 : -EACCES;
	if (n == root)
		return -EINVAL;
	if (!(perm_of(n, domid) & XP_PERM_WRITE))
		return -EACCES;
	ev_add(ev, abs, true);
	p = n->parent;
	for (i = 0; i < p->nkids; i++) {
		if (p->kids[i] == n) {
			p->kids[i] = p->kids[--p->nkids];
			break;
		}
	}
	node_free(n);
	return 0;
}

static int t_set_perms(struct sim_node *root, uint16_t domid, const char *abs,
		       const struct xp_xs_perm *perms, unsigned int np,
		       struct sim_evlist *ev)
{
	struct sim_node *n = lookup(root, abs);
	struct xp_xs_perm *copy;
	unsigned int i;

	for (i = 0; i < np; i++)
		if ((unsigned int)perms[i].perm & ~(unsigned int)XP_PERM_BOTH)
			return -EINVAL;
	if (!n) {
		const char *rest;

		n = walk(root, abs, &rest);
		return perm_of(n, domid) & XP_PERM_READ ? -ENOENT : -EACCES;
	}
	if (domid != 0 && n->perms[0].domid != domid)
		return -EACCES;
	if (domid != 0 && perms[0].domid != domid)
		return -EPERM; /* only dom0 gives nodes away */
	copy = malloc(np * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, perms, np * sizeof(*copy));
	free(n->perms);
	n->perms = copy;
	n->nperms = np;
	ev_add(ev, abs, false);
	return 0;
}

/* ---- paths ---- */

static bool valid_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '@' ||
	       c == '/';
}

/* Canonical absolute path of path for domid, malloc()ed. */
static int canon(uint16_t domid, const char *path, char **abs_r)
{
	char *abs;
	size_t i, len;

	if (!path || !*path)
		return -EINVAL;
	if (path[0] == '/')
		abs = strdup(path);
	else if (asprintf(&abs, "/local/domain/%u/%s", domid, path) < 0)
		abs = NULL;
	if (!abs)
		return -ENOMEM;
	len = strlen(abs);
	for (i = 0; i < len; i++)
		if (!valid_char(abs[i]) || (abs[i] == '/' && abs[i + 1] == '/'))
			break;
	if (i < len || len > SIM_XS_PATH_MAX ||
	    (len > 1 && abs[len - 1] == '/')) {
		free(abs);
		return -EINVAL;
	}
	*abs_r = abs;
	return 0;
}

/* a is b or an ancestor of b (both absolute). */
static bool is_prefix(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la == 1)
		return b[0] == '/';
	return strncmp(a, b, la) == 0 && (b[la] == '\0' || b[la] == '/');
}

/* ---- watches ---- */

static void event_free(struct sim_event *e)
{
	free(e->path);
	free(e->token);
	free(e);
}

static void enqueue_locked(struct sim *sim, struct sim_xp *sx, const char *path,
			   const char *token)
{
	unsigned int limit = sim->watch_limit;
	struct sim_event *e;

	if (sx->st.queued >= limit) {
		for (e = sx->qhead; e; e = e->next) {
			if (!strcmp(e->path, path) &&
			    !strcmp(e->token, token)) {
				sx->st.coalesced++;
				return;
			}
		}
		if (sx->st.queued >= 2 * limit) {
			sx->st.overflow++;
			return;
		}
	}
	e = calloc(1, sizeof(*e));
	if (e) {
		e->path = strdup(path);
		e->token = strdup(token);
	}
	if (!e || !e->path || !e->token) {
		if (e)
			event_free(e);
		sx->st.overflow++;
		return;
	}
	if (sx->qtail)
		sx->qtail->next = e;
	else
		sx->qhead = e;
	sx->qtail = e;
	sx->st.fired++;
	if (++sx->st.queued > sx->st.max_queued)
		sx->st.max_queued = sx->st.queued;
	if (sx->st.queued == 1)
		sim_efd_set(sx->efd, true);
}

/* The path to report to watch w for a change at abs. */
static const char *report_path(const struct sim_xp *sx,
			       const struct sim_watch *w, const char *abs)
{
	char home[32];
	size_t n;

	if (w->path[0] == '/')
		return abs;
	/* A relative watch sees paths relative to the watcher's home. */
	n = (size_t)snprintf(home, sizeof(home), "/local/domain/%u/",
			     sx->domid);
	return strncmp(abs, home, n) == 0 ? abs + n : abs;
}

static void fire_one_locked(struct sim *sim, const char *abs, bool rm)
{
	struct sim_watch *w;
	struct sim_node *n;
	struct sim_xp *sx;
	const char *hit, *rest;

	for (sx = sim->xps; sx; sx = sx->next) {
		for (w = sx->watches; w; w = w->next) {
			if (w->abs[0] == '@')
				continue;
			if (is_prefix(w->abs, abs))
				hit = abs;
			else if (rm && is_prefix(abs, w->abs))
				hit = w->abs; /* an ancestor went away */
			else
				continue;
			n = walk(sim->root, hit, &rest);
			if (!(perm_of(n, sx->domid) & XP_PERM_READ))
				continue;
			enqueue_locked(sim, sx, report_path(sx, w, hit),
				       w->token);
		}
	}
}

static void fire_locked(struct sim *sim, struct sim_evlist *ev)
{
	unsigned int i;

	for (i = 0; i < ev->n; i++)
		fire_one_locked(sim, ev->v[i].path, ev->v[i].rm);
	ev_fini(ev);
}

void sim_xs_fire_special_locked(struct sim *sim, const char *name)
{
	struct sim_watch *w;
	struct sim_xp *sx;

	/* Since XSA-115 xenstored tells only privileged domains. */
	for (sx = sim->xps; sx; sx = sx->next)
		for (w = sx->watches; w && sx->domid == 0; w = w->next)
			if (!strcmp(w->abs, name))
				enqueue_locked(sim, sx, name, w->token);
}

/* ---- transactions ---- */

static void op_free(struct sim_op *op)
{
	free(op->path);
	free(op->val);
	free(op->perms);
	free(op);
}

static void txn_free(struct sim_txn *t)
{
	struct sim_op *op;

	while ((op = t->ops)) {
		t->ops = op->next;
		op_free(op);
	}
	node_free(t->root);
	node_free(t->base);
	while (t->nseen)
		free(t->seen[--t->nseen]);
	free(t->seen);
	free(t);
}

static void txn_saw(struct sim_txn *t, const char *abs)
{
	char **v;

	if (t->nseen == t->cap) {
		unsigned int cap = t->cap ? t->cap * 2 : 8;

		v = realloc(t->seen, cap * sizeof(*v));
		if (!v) {
			t->nomem = true;
			return;
		}
		t->seen = v;
		t->cap = cap;
	}
	t->seen[t->nseen] = strdup(abs);
	if (t->seen[t->nseen])
		t->nseen++;
	else
		t->nomem = true;
}

static bool same_node(const struct sim_node *a, const struct sim_node *b)
{
	unsigned int i;

	if (!a || !b)
		return a == b;
	if (a->len != b->len || memcmp(a->value, b->value, a->len) ||
	    a->nperms != b->nperms || a->nkids != b->nkids)
		return false;
	for (i = 0; i < a->nperms; i++)
		if (a->perms[i].domid != b->perms[i].domid ||
		    a->perms[i].perm != b->perms[i].perm)
			return false;
	for (i = 0; i < a->nkids; i++)
		if (!kid_find(b, a->kids[i]->name, strlen(a->kids[i]->name)))
			return false;
	return true;
}

/* Did someone else change what t depends on? */
static bool txn_conflict_locked(struct sim *sim, const struct sim_txn *t)
{
	unsigned int i;

	if (t->nomem)
		return true;
	for (i = 0; i < t->nseen; i++)
		if (!same_node(lookup(t->base, t->seen[i]),
			       lookup(sim->root, t->seen[i])))
			return true;
	return false;
}

static struct sim_txn *txn_find(struct sim_xp *sx, uint32_t id)
{
	struct sim_txn *t;

	for (t = sx->txns; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

static int op_apply(struct sim_node *root, uint16_t domid, unsigned int quota,
		    const struct sim_op *op, struct sim_evlist *ev)
{
	switch (op->kind) {
	case SIM_OP_WRITE:
		return t_write(root, domid, quota, op->path, op->val, op->len,
			       ev);
	case SIM_OP_MKDIR:
		return t_mkdir(root, domid, quota, op->path, ev);
	case SIM_OP_RM:
		return t_rm(root, domid, op->path, ev);
	case SIM_OP_PERMS:
		return t_set_perms(root, domid, op->path, op->perms, op->nperms,
				   ev);
	}
	return -EINVAL;
}

/*
 * Run one modifying operation (which takes ownership of op): on the live tree
 * (firing watches) without a transaction, else on the transaction's copy and
 * into its log.
 */
static int modify(struct sim_xp *sx, uint32_t txn, struct sim_op *op)
{
	struct sim *sim = sx->sim;
	struct sim_evlist ev = { 0 };
	struct sim_txn *t;
	int rc;

	pthread_mutex_lock(&sim->lock);
	if (txn == XP_XS_NO_TXN) {
		rc = op_apply(sim->root, sx->domid, sim->node_quota, op, &ev);
		fire_locked(sim, &ev);
		op_free(op);
	} else if (!(t = txn_find(sx, txn))) {
		rc = -ENOENT;
		op_free(op);
	} else {
		txn_saw(t, op->path);
		rc = op_apply(t->root, sx->domid, sim->node_quota, op, NULL);
		if (rc == 0) {
			*t->tail = op;
			t->tail = &op->next;
		} else {
			op_free(op);
		}
	}
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

static struct sim_op *op_new(struct sim_xp *sx, enum sim_op_kind kind,
			     const char *path, int *rc_r)
{
	struct sim_op *op = calloc(1, sizeof(*op));

	if (!op) {
		*rc_r = -ENOMEM;
		return NULL;
	}
	op->kind = kind;
	*rc_r = canon(sx->domid, path, &op->path);
	if (*rc_r < 0) {
		free(op);
		return NULL;
	}
	return op;
}

/* Node abs of the tree seen by txn, checked for read access. */
static int read_node_locked(struct sim_xp *sx, uint32_t txn, const char *abs,
			    struct sim_node **node_r)
{
	struct sim_node *root = sx->sim->root, *n;
	const char *rest;
	struct sim_txn *t;

	if (txn != XP_XS_NO_TXN) {
		t = txn_find(sx, txn);
		if (!t)
			return -ENOENT;
		txn_saw(t, abs);
		root = t->root;
	}
	n = walk(root, abs, &rest);
	if (!(perm_of(n, sx->domid) & XP_PERM_READ))
		return -EACCES;
	if (*rest)
		return -ENOENT;
	*node_r = n;
	return 0;
}

/* ---- the xp ops ---- */

int sim_xs_read(struct xp *xp, uint32_t txn, const char *path, char **val_r,
		size_t *len_r)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_node *n;
	char *abs, *v = NULL;
	size_t len = 0;
	int rc;

	rc = canon(sx->domid, path, &abs);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&sx->sim->lock);
	rc = read_node_locked(sx, txn, abs, &n);
	if (rc == 0) {
		len = n->len;
		v = malloc(len + 1);
		if (v)
			memcpy(v, n->value, len + 1);
		else
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&sx->sim->lock);
	free(abs);
	if (rc < 0)
		return rc;
	*val_r = v;
	if (len_r)
		*len_r = len;
	return 0;
}

bool sim_xs_before_write(struct sim *sim, const struct xp *writer,
			 const char *path, void (*fn)(void *arg), void *arg)
{
	bool fired;

	pthread_mutex_lock(&sim->lock);
	fired = sim->hook_path == NULL;
	free(sim->hook_path);
	sim->hook_path = path ? strdup(path) : NULL;
	sim->hook_xp = writer;
	sim->hook_fn = fn;
	sim->hook_arg = arg;
	pthread_mutex_unlock(&sim->lock);
	return fired;
}

/* Fire the armed hook if this write is the one. */
static void before_write(struct sim_xp *sx, const char *path)
{
	struct sim *sim = sx->sim;
	void (*fn)(void *) = NULL;
	void *arg = NULL;

	pthread_mutex_lock(&sim->lock);
	if (sim->hook_path && &sx->xp == sim->hook_xp &&
	    !strcmp(path, sim->hook_path)) {
		fn = sim->hook_fn;
		arg = sim->hook_arg;
		free(sim->hook_path);
		sim->hook_path = NULL;
	}
	pthread_mutex_unlock(&sim->lock);
	if (fn)
		fn(arg);
}

int sim_xs_write(struct xp *xp, uint32_t txn, const char *path, const char *val,
		 size_t len)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_op *op;
	int rc;

	before_write(sx, path);

	if (len > SIM_XS_VALUE_MAX)
		return -E2BIG;
	if (len && !val)
		return -EINVAL;
	op = op_new(sx, SIM_OP_WRITE, path, &rc);
	if (!op)
		return rc;
	op->val = malloc(len + 1);
	if (!op->val) {
		op_free(op);
		return -ENOMEM;
	}
	if (len)
		memcpy(op->val, val, len);
	op->len = len;
	return modify(sx, txn, op);
}

int sim_xs_mkdir(struct xp *xp, uint32_t txn, const char *path)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_op *op;
	int rc;

	op = op_new(sx, SIM_OP_MKDIR, path, &rc);
	return op ? modify(sx, txn, op) : rc;
}

int sim_xs_rm(struct xp *xp, uint32_t txn, const char *path)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_op *op;
	int rc;

	op = op_new(sx, SIM_OP_RM, path, &rc);
	return op ? modify(sx, txn, op) : rc;
}

int sim_xs_directory(struct xp *xp, uint32_t txn, const char *path,
		     char ***names_r, unsigned int *n_r)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_node *n;
	char **names = NULL, *abs;
	unsigned int i, cnt = 0;
	int rc;

	rc = canon(sx->domid, path, &abs);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&sx->sim->lock);
	rc = read_node_locked(sx, txn, abs, &n);
	if (rc == 0) {
		cnt = n->nkids;
		names = calloc(cnt ? cnt : 1, sizeof(*names));
		if (!names)
			rc = -ENOMEM;
		for (i = 0; names && i < cnt; i++) {
			names[i] = strdup(n->kids[i]->name);
			if (!names[i]) {
				xp_free_strv(names, i);
				names = NULL;
				rc = -ENOMEM;
			}
		}
	}
	pthread_mutex_unlock(&sx->sim->lock);
	free(abs);
	if (rc < 0)
		return rc;
	*names_r = names;
	*n_r = cnt;
	return 0;
}

int sim_xs_set_perms(struct xp *xp, uint32_t txn, const char *path,
		     const struct xp_xs_perm *perms, unsigned int n)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_op *op;
	int rc;

	if (n == 0 || !perms)
		return -EINVAL;
	op = op_new(sx, SIM_OP_PERMS, path, &rc);
	if (!op)
		return rc;
	op->perms = malloc(n * sizeof(*perms));
	if (!op->perms) {
		op_free(op);
		return -ENOMEM;
	}
	memcpy(op->perms, perms, n * sizeof(*perms));
	op->nperms = n;
	return modify(sx, txn, op);
}

int sim_xs_txn_start(struct xp *xp, uint32_t *txn_r)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim *sim = sx->sim;
	struct sim_txn *t;
	int rc = 0;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->tail = &t->ops;
	pthread_mutex_lock(&sim->lock);
	t->root = node_clone(sim->root, NULL);
	t->base = node_clone(sim->root, NULL);
	if (t->root && t->base) {
		t->id = sim->next_txn++;
		if (sim->next_txn == XP_XS_NO_TXN)
			sim->next_txn = 1;
		t->next = sx->txns;
		sx->txns = t;
		*txn_r = t->id;
	} else {
		rc = -ENOMEM;
	}
	pthread_mutex_unlock(&sim->lock);
	if (rc < 0)
		txn_free(t);
	return rc;
}

int sim_xs_txn_end(struct xp *xp, uint32_t txn, bool abort)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim *sim = sx->sim;
	struct sim_evlist ev = { 0 };
	struct sim_txn **pp, *t;
	struct sim_node *live;
	struct sim_op *op;
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	for (pp = &sx->txns; (t = *pp); pp = &t->next)
		if (t->id == txn)
			break;
	if (!t) {
		rc = -ENOENT;
		goto out;
	}
	*pp = t->next;
	if (abort)
		goto out;
	if (sim->fail_commits) {
		sim->fail_commits--;
		rc = -EAGAIN;
		goto out;
	}
	if (txn_conflict_locked(sim, t)) {
		rc = -EAGAIN;
		goto out;
	}
	/* Replay on a copy of the live tree: all or nothing. */
	live = node_clone(sim->root, NULL);
	if (!live) {
		rc = -ENOMEM;
		goto out;
	}
	for (op = t->ops; op && rc == 0; op = op->next)
		rc = op_apply(live, sx->domid, sim->node_quota, op, &ev);
	if (rc == 0 && ev.nomem)
		rc = -ENOMEM;
	if (rc < 0) {
		node_free(live);
		ev_fini(&ev);
		rc = -EAGAIN; /* the tree changed under it: retry */
		goto out;
	}
	node_free(sim->root);
	sim->root = live;
	fire_locked(sim, &ev);
out:
	pthread_mutex_unlock(&sim->lock);
	if (t)
		txn_free(t);
	return rc;
}

static bool special_name(const char *path)
{
	return !strcmp(path, "@releaseDomain") ||
	       !strcmp(path, "@introduceDomain");
}

int sim_xs_watch(struct xp *xp, const char *path, const char *token)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_watch *w, *o;
	int rc = 0;

	if (!token || !path)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if (special_name(path))
		rc = (w->abs = strdup(path)) ? 0 : -ENOMEM;
	else
		rc = canon(sx->domid, path, &w->abs);
	w->path = strdup(path);
	w->token = strdup(token);
	if (rc == 0 && (!w->path || !w->token))
		rc = -ENOMEM;
	if (rc < 0)
		goto fail;
	pthread_mutex_lock(&sx->sim->lock);
	for (o = sx->watches; o; o = o->next)
		if (!strcmp(o->abs, w->abs) && !strcmp(o->token, token))
			rc = -EEXIST;
	if (rc == 0) {
		w->next = sx->watches;
		sx->watches = w;
		/* xenstored fires a new watch once, whatever the perms. */
		enqueue_locked(sx->sim, sx, w->path, w->token);
	}
	pthread_mutex_unlock(&sx->sim->lock);
	if (rc == 0)
		return 0;
fail:
	free(w->abs);
	free(w->path);
	free(w->token);
	free(w);
	return rc;
}

static void watch_free(struct sim_watch *w)
{
	free(w->abs);
	free(w->path);
	free(w->token);
	free(w);
}

/* Drop queued events of an old watch, as xs_unwatch does. */
static void purge_locked(struct sim_xp *sx, const struct sim_watch *w)
{
	struct sim_event **pp, *e;

	sx->qtail = NULL;
	for (pp = &sx->qhead; (e = *pp);) {
		bool mine =
			!strcmp(e->token, w->token) &&
			(!strcmp(e->path, w->path) ||
			 (w->path[0] == '/' && is_prefix(w->path, e->path)) ||
			 (w->path[0] != '/' && e->path[0] != '/' &&
			  !strncmp(e->path, w->path, strlen(w->path))));

		if (mine) {
			*pp = e->next;
			event_free(e);
			sx->st.queued--;
		} else {
			sx->qtail = e;
			pp = &e->next;
		}
	}
	if (!sx->qhead)
		sim_efd_set(sx->efd, false);
}

int sim_xs_unwatch(struct xp *xp, const char *path, const char *token)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_watch **pp, *w;
	char *abs = NULL;
	int rc = 0;

	if (!path || !token)
		return -EINVAL;
	if (special_name(path))
		abs = strdup(path);
	else
		rc = canon(sx->domid, path, &abs);
	if (rc < 0)
		return rc;
	if (!abs)
		return -ENOMEM;
	rc = -ENOENT;
	pthread_mutex_lock(&sx->sim->lock);
	for (pp = &sx->watches; (w = *pp); pp = &w->next) {
		if (!strcmp(w->abs, abs) && !strcmp(w->token, token)) {
			*pp = w->next;
			purge_locked(sx, w);
			watch_free(w);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&sx->sim->lock);
	free(abs);
	return rc;
}

int sim_xs_fd(struct xp *xp)
{
	return ((struct sim_xp *)xp)->efd;
}

int sim_xs_read_watch(struct xp *xp, char **path_r, char **token_r)
{
	struct sim_xp *sx = (struct sim_xp *)xp;
	struct sim_event *e;

	pthread_mutex_lock(&sx->sim->lock);
	e = sx->qhead;
	if (e) {
		sx->qhead = e->next;
		if (!sx->qhead) {
			sx->qtail = NULL;
			sim_efd_set(sx->efd, false);
		}
		sx->st.queued--;
	}
	pthread_mutex_unlock(&sx->sim->lock);
	if (!e)
		return -EAGAIN;
	*path_r = e->path;
	*token_r = e->token;
	free(e);
	return 0;
}

/* ---- the sim's own use ---- */

int sim_xs_init(struct sim *sim)
{
	static const struct xp_xs_perm root_perm = { 0, XP_PERM_NONE };

	sim->root = node_new("", 0, &root_perm, 1);
	return sim->root ? 0 : -ENOMEM;
}

void sim_xs_fini(struct sim *sim)
{
	node_free(sim->root);
	sim->root = NULL;
}

int sim_xs_mkdom_locked(struct sim *sim, uint16_t domid)
{
	struct xp_xs_perm perm = { domid, XP_PERM_NONE };
	struct sim_evlist ev = { 0 };
	char path[48], val[8];
	int rc;

	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	rc = t_mkdir(sim->root, 0, 0, path, &ev);
	if (rc == 0)
		rc = t_set_perms(sim->root, 0, path, &perm, 1, &ev);
	snprintf(path, sizeof(path), "/local/domain/%u/domid", domid);
	snprintf(val, sizeof(val), "%u", domid);
	if (rc == 0)
		rc = t_write(sim->root, 0, 0, path, val, strlen(val), &ev);
	fire_locked(sim, &ev);
	return rc;
}

int sim_xs_rm_locked(struct sim *sim, const char *path)
{
	struct sim_evlist ev = { 0 };
	int rc = t_rm(sim->root, 0, path, &ev);

	fire_locked(sim, &ev);
	return rc;
}

void sim_xs_xp_fini_locked(struct sim_xp *sx)
{
	struct sim_watch *w;
	struct sim_event *e;
	struct sim_txn *t;

	while ((w = sx->watches)) {
		sx->watches = w->next;
		watch_free(w);
	}
	while ((e = sx->qhead)) {
		sx->qhead = e->next;
		event_free(e);
	}
	sx->qtail = NULL;
	while ((t = sx->txns)) {
		sx->txns = t->next;
		txn_free(t);
	}
}
