/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A worker's confinement, entered once everything it will ever open is
 * open: no core dumps and no ptrace (non-dumpable), no new privileges,
 * root's identity given up for nobody's (when started as root), and a
 * seccomp allow-list (libseccomp) of what serving rings, views and NBD
 * clients needs. As nobody it keeps one capability, CAP_IPC_LOCK, for the
 * locked overlay and keys. Opening a file, connecting a socket, starting a program
 * or a process, or signalling another process fails or kills the worker:
 *
 *   open, openat, socket, connect      EACCES (libc may try: harmless)
 *   clone3                             ENOSYS (libc falls back to clone)
 *   ioctl TIOCSTI, TIOCLINUX           EPERM (no typing into a terminal)
 *   clone without CLONE_THREAD, execve, ptrace, kill or tgkill of
 *   another process, and anything not listed   the worker is killed
 *
 * docs/architecture.md, "Workers", lists what a compromised worker still
 * has: its own guest's disks, and the grant device.
 */
#ifndef XE_PLATFORM_SANDBOX_H
#define XE_PLATFORM_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

struct sandbox_config {
	/* As root: become nobody (keeping no capability). */
	bool drop_root;
	/* io_uring's three calls are allowed (for a scratch on io_uring). */
	bool allow_io_uring;
	/* Descriptors the worker may hold at once (0: 4096). */
	unsigned int max_fds;
};

/* Enter it. 0, or -errno with a sentence in err (the caller must then
 * exit: a half-confined worker serves nobody). */
int sandbox_enter(const struct sandbox_config *cfg, char *err, size_t err_len);

#endif
