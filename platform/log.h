/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for the daemon and everything under it. One sink per process
 * (stderr or syslog), chosen once at start-up. Messages about a device carry
 * a "domid/devid" prefix. Guest-caused messages go through a rate limiter so
 * that a hostile guest cannot flood the host's log; what the limiter drops is
 * counted and reported when it lets messages through again.
 *
 * Nothing secret is ever logged: no key bytes, no guest data.
 */
#ifndef XE_PLATFORM_LOG_H
#define XE_PLATFORM_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* Choose the sink: syslog (with ident) or stderr; drop levels above max. */
void log_init(const char *ident, bool use_syslog, int max_level);

/* Log at a syslog level (LOG_ERR ... LOG_DEBUG). Thread-safe. */
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Allow LOG_RATELIMIT_BURST messages per LOG_RATELIMIT_SECONDS. */
#define LOG_RATELIMIT_BURST 10u
#define LOG_RATELIMIT_SECONDS 5u

struct log_ratelimit {
	uint64_t window_start_ns;
	uint32_t printed;    /* in this window */
	uint64_t suppressed; /* since the last message let through */
};

/*
 * Should a message limited by rl be printed now? The caller serialises
 * access to rl (one per ring or device, used by its owner thread). When it
 * says yes after dropping some, it logs how many were dropped first.
 */
bool log_ratelimit_ok(struct log_ratelimit *rl, const char *prefix);

#define log_dev(level, domid, devid, fmt, ...)                                 \
	log_msg(level, "%u/%u: " fmt, (unsigned int)(domid),                   \
		(unsigned int)(devid), ##__VA_ARGS__)

#endif
