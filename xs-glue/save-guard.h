/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The guard against restoring a guest whose ephemeral disks are gone.
 *
 * `xl save` and `xl migrate` suspend the domain, then tear its devices down
 * while it still exists, shut down with reason suspend; our daemon wipes
 * every overlay then, as it must. `xl restore` later builds a new domain,
 * with the same UUID, from the saved memory, whose page cache and mounted
 * filesystems still describe the old overlays' contents. Handing it fresh,
 * empty overlays would be silent corruption. libxl neither refuses nor
 * tells the backend (toolstack-routes.md 1.8), and nothing in xenstore
 * marks a restored domain, so the guard remembers: when a guest's disks go
 * while the hypervisor says it is suspended, its UUID is kept, and a later
 * disk of a domain with that UUID is refused, as is one of a domain that
 * shares its UUID with a live suspended domain (a migration's receiver on
 * the same host). The operator may forget a UUID (save_guard_forget()).
 *
 * The UUID comes from /local/domain/<domid>/vm (libxl's "/vm/<uuid>"),
 * which the guest cannot write; the shutdown reason from the platform's
 * dom_info (libxenctrl). Without libxenctrl the guard cannot see a suspend:
 * it says so in the log, once. One thread (the main loop) calls it.
 */
#ifndef XE_XS_GLUE_SAVE_GUARD_H
#define XE_XS_GLUE_SAVE_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"

#define SAVE_GUARD_MAX_UUIDS 256u
#define SAVE_GUARD_UUID_BYTES 37u /* 36 characters and a NUL */

struct save_guard;

int save_guard_new(struct xp *xp, struct save_guard **g_r);

/* The owner's disks are being torn down: remember it if it is suspended. */
void save_guard_teardown(struct save_guard *g, uint16_t owner);

/*
 * May owner's disks be served? 0, or -EPERM with the reason, a sentence
 * for the device's error node, in err.
 */
int save_guard_check(struct save_guard *g, uint16_t owner, char *err,
		     size_t err_len);

/* Forget uuid: a domain with it may have disks again. 0, or -ENOENT. */
int save_guard_forget(struct save_guard *g, const char *uuid);

/* Call fn for every remembered UUID. */
void save_guard_for_each(struct save_guard *g,
			 void (*fn)(const char *uuid, void *arg), void *arg);

/* NULL is ok. */
void save_guard_free(struct save_guard *g);

#endif
