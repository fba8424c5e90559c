/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The save/restore guard (xs-glue/save-guard.h).
 *
 * What it owns: a small table of UUIDs of domains whose disks went while
 * they were suspended, oldest dropped first when full (a daemon that has
 * seen 256 saves since it started forgets the oldest, and says so).
 *
 * What it deliberately does not do: keep the table across daemon restarts
 * (a restarted daemon has wiped every disk anyway, and says so in its
 * log), or try to tell a restore from a fresh create with a reused UUID:
 * both are refused until the operator forgets the UUID.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/log.h"
#include "xs-glue/parse.h"
#include "xs-glue/save-guard.h"

struct save_guard {
	struct xp *xp;
	bool warned_blind; /* no dom_info: said once */
	unsigned int n, next;
	char uuids[SAVE_GUARD_MAX_UUIDS][SAVE_GUARD_UUID_BYTES];
};

/* The canonical 8-4-4-4-12 lowercase hex form, nothing else. */
static bool uuid_ok(const char *u)
{
	size_t i;

	if (strlen(u) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? u[i] != '-' :
			   !((u[i] >= '0' && u[i] <= '9') ||
			     (u[i] >= 'a' && u[i] <= 'f')))
			return false;
	}
	return true;
}

/* domid's UUID from libxl's /local/domain/<domid>/vm = "/vm/<uuid>". */
static bool domain_uuid(struct xp *xp, uint16_t domid,
			char uuid[SAVE_GUARD_UUID_BYTES])
{
	char dir[32], *v = NULL, *slash;
	bool ok = false;

	snprintf(dir, sizeof(dir), "/local/domain/%u", domid);
	if (xp_read_node(xp, XP_XS_NO_TXN, dir, "vm", &v, NULL))
		return false;
	slash = strrchr(v, '/');
	if (slash && uuid_ok(slash + 1)) {
		strcpy(uuid, slash + 1);
		ok = true;
	}
	free(v);
	return ok;
}

static int find(const struct save_guard *g, const char *uuid)
{
	unsigned int i;

	for (i = 0; i < SAVE_GUARD_MAX_UUIDS; i++)
		if (g->uuids[i][0] && !strcmp(g->uuids[i], uuid))
			return (int)i;
	return -1;
}

/* Is domid suspended? Says once when the platform cannot tell. */
static bool suspended(struct save_guard *g, uint16_t domid)
{
	struct xp_dominfo info;
	int rc = xp_dom_info(g->xp, domid, &info);

	if (rc == -ENOSYS && !g->warned_blind) {
		log_msg(LOG_WARNING,
			"cannot ask the hypervisor about domains (libxenctrl "
			"not found): a guest saved or migrated with ephemeral "
			"disks cannot be told from one powered off, and its "
			"restore cannot be refused");
		g->warned_blind = true;
	}
	return !rc && info.shutdown &&
	       info.shutdown_reason == XP_SHUTDOWN_SUSPEND;
}

void save_guard_teardown(struct save_guard *g, uint16_t owner)
{
	char uuid[SAVE_GUARD_UUID_BYTES];

	if (!suspended(g, owner))
		return;
	if (!domain_uuid(g->xp, owner, uuid)) {
		log_msg(LOG_WARNING,
			"domain %u was suspended (xl save or migrate) with "
			"ephemeral disks attached: their contents are wiped; "
			"it has no UUID in xenstore, so a restore of it cannot "
			"be recognised",
			owner);
		return;
	}
	if (find(g, uuid) >= 0)
		return;
	if (g->uuids[g->next][0])
		log_msg(LOG_WARNING, "save guard full: forgetting domain %s",
			g->uuids[g->next]);
	else
		g->n++;
	strcpy(g->uuids[g->next], uuid);
	g->next = (g->next + 1) % SAVE_GUARD_MAX_UUIDS;
	log_msg(LOG_WARNING,
		"domain %u (%s) was suspended (xl save or migrate) with "
		"ephemeral disks attached: their contents are wiped, and a "
		"restore of it will be refused (xen-ephemeral forget %s "
		"allows it)",
		owner, uuid, uuid);
}

/* A live domain other than owner, with its UUID, that is suspended:
 * a migration's sender on this host. */
static int suspended_twin(struct save_guard *g, uint16_t owner,
			  const char *uuid)
{
	char **doms = NULL;
	unsigned int n = 0, i;
	int twin = -1;

	if (xp_xs_directory(g->xp, XP_XS_NO_TXN, "/local/domain", &doms, &n))
		return -1;
	for (i = 0; i < n && twin < 0; i++) {
		char other[SAVE_GUARD_UUID_BYTES];
		uint32_t d;

		if (parse_u32(doms[i], strlen(doms[i]), UINT16_MAX, &d) ||
		    d == owner || d == 0)
			continue;
		if (domain_uuid(g->xp, (uint16_t)d, other) &&
		    !strcmp(other, uuid) && suspended(g, (uint16_t)d))
			twin = (int)d;
	}
	xp_free_strv(doms, n);
	return twin;
}

int save_guard_check(struct save_guard *g, uint16_t owner, char *err,
		     size_t err_len)
{
	char uuid[SAVE_GUARD_UUID_BYTES];
	int twin;

	if (!domain_uuid(g->xp, owner, uuid))
		return 0;
	if (find(g, uuid) >= 0) {
		snprintf(err, err_len,
			 "domain %u was saved or migrated while its ephemeral "
			 "disks were attached: they were wiped, so a restore "
			 "would find them empty; refused (to allow it: "
			 "xen-ephemeral forget %s)",
			 owner, uuid);
		return -EPERM;
	}
	twin = suspended_twin(g, owner, uuid);
	if (twin >= 0) {
		snprintf(err, err_len,
			 "domain %u has the UUID of suspended domain %d: an "
			 "ephemeral disk's contents cannot follow a save or a "
			 "migration, so it is refused",
			 owner, twin);
		return -EPERM;
	}
	return 0;
}

int save_guard_forget(struct save_guard *g, const char *uuid)
{
	int i = find(g, uuid);

	if (i < 0)
		return -ENOENT;
	g->uuids[i][0] = '\0';
	g->n--;
	log_msg(LOG_INFO, "save guard: %s forgotten", uuid);
	return 0;
}

void save_guard_for_each(struct save_guard *g,
			 void (*fn)(const char *uuid, void *arg), void *arg)
{
	unsigned int i;

	for (i = 0; i < SAVE_GUARD_MAX_UUIDS; i++)
		if (g->uuids[i][0])
			fn(g->uuids[i], arg);
}

int save_guard_new(struct xp *xp, struct save_guard **g_r)
{
	struct save_guard *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->xp = xp;
	*g_r = g;
	return 0;
}

void save_guard_free(struct save_guard *g)
{
	free(g);
}
