/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The backend kinds the daemon serves, and what each route in from the
 * toolstack allows it to do (docs/architecture.md, "Routes"):
 *
 *   ephemeral  the self-attach CLI writes backend/ephemeral/<domid>/<devid>
 *              with params = the disk spec; nobody else owns the kind, so
 *              the daemon owns the directory: it says hotplug-status
 *              itself, and removes the directory once the guest is gone.
 *   vbd3       libxl's backendtype=tap (Xen 4.19+) writes
 *              backend/vbd3/<domid>/<devid> with params = "aio:<target>" and
 *              runs the hotplug script named in script; libxl owns the
 *              directory (it reads state, script, hotplug-error and
 *              physical-device-path, and removes it; for an HVM guest it
 *              hands physical-device-path to the dom0 QEMU as an NBD
 *              socket): the daemon serves
 *              only devices whose script is its own hook, and never
 *              rewrites libxl's nodes or deletes anything.
 *
 * vbd (kernel blkback) and qdisk (QEMU) are other components' and are never
 * served.
 */
#ifndef XE_XS_GLUE_KIND_H
#define XE_XS_GLUE_KIND_H

#include <stdbool.h>

struct xenbus_kind {
	const char *name;
	/* We may delete the backend directory (and backend/<kind>/<domid>
	 * after its last device) once the frontend's domain is gone. */
	bool owns_dir;
	/* Serve only devices whose `script` node is exactly our hook. */
	bool claim_by_script;
	/* params is "<format>:<target>" (libxl's TAP); only aio (raw). */
	bool params_format;
	/*
	 * A disk that cannot be served still reaches InitWait, with the
	 * reason in the `error` node: libxl waits 10 s for InitWait and only
	 * then runs the hook, which turns our reason into hotplug-error so
	 * that `xl create` fails at once, saying why. Without a hook the
	 * device goes straight to Closed.
	 */
	bool hook_reports;
	/* No hook: the daemon writes hotplug-status itself. */
	bool write_hotplug_status;
	/*
	 * An HVM guest's own disks are also exported over NBD for its dom0
	 * device model, the socket named in physical-device-path (libxl
	 * gives QEMU nbd+unix:///?socket=<it> for a TAP disk).
	 */
	bool nbd_for_hvm;
};

/* The kind called name, or NULL (unknown, or another component's). */
const struct xenbus_kind *xenbus_kind_find(const char *name);

/* "ephemeral, vbd3": the names xenbus_kind_find() knows, for messages. */
const char *xenbus_kind_names(void);

#endif
