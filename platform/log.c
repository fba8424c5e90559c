/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The process's log sink. Its only state is the sink choice, set once by
 * log_init() before any thread starts; after that it is read-only, so
 * log_msg() needs no lock (stdio and syslog serialise their own output).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "platform/log.h"

static struct {
	bool use_syslog;
	int max_level;
} sink = { false, LOG_INFO };

void log_init(const char *ident, bool use_syslog, int max_level)
{
	sink.use_syslog = use_syslog;
	sink.max_level = max_level;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_msg(int level, const char *fmt, ...)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
					     "warning", "notice", "info",
					     "debug" };
	char line[1024];
	va_list ap;

	if (level > sink.max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (sink.use_syslog)
		syslog(level, "%s", line);
	else
		fprintf(stderr, "xen-ephemeral: %s: %s\n",
			names[level & 7], line);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool log_ratelimit_ok(struct log_ratelimit *rl, const char *prefix)
{
	uint64_t t = now_ns();

	if (t - rl->window_start_ns >= LOG_RATELIMIT_SECONDS * 1000000000ull) {
		rl->window_start_ns = t;
		rl->printed = 0;
	}
	if (rl->printed >= LOG_RATELIMIT_BURST) {
		rl->suppressed++;
		return false;
	}
	rl->printed++;
	if (rl->suppressed) {
		log_msg(LOG_WARNING, "%s: %llu messages suppressed", prefix,
			(unsigned long long)rl->suppressed);
		rl->suppressed = 0;
	}
	return true;
}
