/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A worker's confinement (platform/sandbox.h). */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/sandbox.h"

#define NOBODY 65534u

/* What serving needs, by name (a name this architecture lacks is skipped). */
static const char *const allowed[] = {
	/* descriptors and I/O */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "preadv2", "pwritev2", "close", "close_range", "dup",
	"dup3", "fcntl", "fstat", "newfstatat", "statx", "lseek",
	"ftruncate", "fallocate", "fsync", "fdatasync", "sync_file_range",
	"fstatfs", /* is a scratch on tmpfs (then it is mapped) */
	"ioctl",
	/* memory */
	"mmap", "munmap", "mprotect", "madvise", "mremap", "mlock",
	"mlock2", "munlock", "brk", "mincore",
	/* threads and time */
	"futex", "set_robust_list", "get_robust_list", "rseq",
	"set_tid_address", "exit", "exit_group", "sched_yield",
	"sched_getaffinity", "nanosleep", "clock_nanosleep", "clock_gettime",
	"clock_getres", "gettimeofday", "restart_syscall", "membarrier",
	/* signals (its own only: kill and tgkill are checked below) */
	"rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "sigaltstack",
	/* waiting */
	"poll", "ppoll", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait", "eventfd2",
	/* sockets it was given (the supervisor's; NBD clients) */
	"recvmsg", "sendmsg", "recvfrom", "sendto", "accept4", "accept",
	"getsockopt", "setsockopt", "shutdown", "getsockname",
	"getpeername",
	/* identity, limits, randomness (the XTS keys) */
	"getpid", "gettid", "getuid", "geteuid", "getgid", "getegid",
	"getrandom", "getrlimit", "prlimit64", "prctl", "uname",
};

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
		unsigned int n, const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0; /* not on this architecture */
	return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int build(scmp_filter_ctx ctx, bool io_uring)
{
	struct scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid());
	struct scmp_arg_cmp thread =
		SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
	/* ioctl: all but the terminal range TIOCSTI..TIOCLINUX (typing into
	 * a terminal stderr may be), compared on the 32 bits the kernel
	 * reads, so no high bits can sneak one through */
	struct scmp_arg_cmp below = SCMP_A1_32(SCMP_CMP_LT, TIOCSTI);
	struct scmp_arg_cmp above = SCMP_A1_32(SCMP_CMP_GT, TIOCLINUX);
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(allowed[i], "ioctl"))
			rc = rule(ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL);
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &below);
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &above);
	/* threads, never processes */
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &thread);
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	/* signals to itself (abort, raise) */
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &self);
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ALLOW, "kill", 1, &self);
	/* what libc may try on its own, refused without a kill */
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ERRNO(EACCES), "open", 0, NULL);
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ERRNO(EACCES), "openat", 0, NULL);
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ERRNO(EACCES), "socket", 0, NULL);
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ERRNO(EACCES), "connect", 0, NULL);
	if (!rc && io_uring) {
		rc = rule(ctx, SCMP_ACT_ALLOW, "io_uring_setup", 0, NULL);
		if (!rc)
			rc = rule(ctx, SCMP_ACT_ALLOW, "io_uring_enter", 0, NULL);
		if (!rc)
			rc = rule(ctx, SCMP_ACT_ALLOW, "io_uring_register", 0,
				  NULL);
	}
	return rc;
}

/* Only CAP_IPC_LOCK, in the permitted and effective sets. */
static int keep_ipc_lock(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[CAP_TO_INDEX(CAP_IPC_LOCK)].permitted = CAP_TO_MASK(CAP_IPC_LOCK);
	d[CAP_TO_INDEX(CAP_IPC_LOCK)].effective = CAP_TO_MASK(CAP_IPC_LOCK);
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* Give up root for nobody, keeping only the right to lock memory. */
static int drop_root(char *err, size_t err_len)
{
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct passwd pw, *pwp = NULL;
	char buf[1024];
	uid_t uid = NOBODY;
	gid_t gid = NOBODY;
	int rc;

	if (!getpwnam_r("nobody", &pw, buf, sizeof(buf), &pwp) && pwp) {
		uid = pw.pw_uid;
		gid = pw.pw_gid;
	}
	/* The overlay and the keys live in locked memory: as much as root
	 * may give (a container may not let even root raise its limit). */
	if (setrlimit(RLIMIT_MEMLOCK, &unlimited)) {
		struct rlimit cur;

		if (getrlimit(RLIMIT_MEMLOCK, &cur)) {
			snprintf(err, err_len, "RLIMIT_MEMLOCK: %s",
				 strerror(errno));
			return -errno;
		}
		cur.rlim_cur = cur.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &cur);
	}
	/* Keep the permitted set across the change of uid, then cut it
	 * down to CAP_IPC_LOCK: the locked overlay and keys, and nothing
	 * else of root's. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) ||
	    setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
		snprintf(err, err_len, "cannot become nobody: %s",
			 strerror(errno));
		return -errno;
	}
	rc = keep_ipc_lock();
	if (rc || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)) {
		snprintf(err, err_len, "cannot drop capabilities: %s",
			 strerror(rc ? -rc : errno));
		return rc ? rc : -errno;
	}
	if (setuid(0) == 0) {
		snprintf(err, err_len, "could become root again");
		return -EPERM;
	}
	return 0;
}

int sandbox_enter(const struct sandbox_config *cfg, char *err, size_t err_len)
{
	rlim_t nfd = cfg->max_fds ? cfg->max_fds : 4096;
	struct rlimit none = { 0, 0 }, fds = { nfd, nfd };
	scmp_filter_ctx ctx;
	int rc;

	if (setrlimit(RLIMIT_CORE, &none) || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
		snprintf(err, err_len, "no core dumps: %s", strerror(errno));
		return -errno;
	}
	if (cfg->drop_root && geteuid() == 0) {
		rc = drop_root(err, err_len);
		if (rc)
			return rc;
		/* setuid made the process dumpable again */
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
			snprintf(err, err_len, "non-dumpable: %s",
				 strerror(errno));
			return -errno;
		}
	}
	if (setrlimit(RLIMIT_NOFILE, &fds)) {
		struct rlimit cur;

		/* Unprivileged and already lower: keep what there is. */
		if (getrlimit(RLIMIT_NOFILE, &cur) || cur.rlim_max > nfd) {
			snprintf(err, err_len, "RLIMIT_NOFILE: %s",
				 strerror(errno));
			return -errno;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(err, err_len, "no new privileges: %s", strerror(errno));
		return -errno;
	}
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		snprintf(err, err_len, "seccomp_init failed");
		return -ENOMEM;
	}
	rc = build(ctx, cfg->allow_io_uring);
	if (!rc)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc) {
		snprintf(err, err_len, "seccomp filter: %s", strerror(-rc));
		return rc;
	}
	return 0;
}
