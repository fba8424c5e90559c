/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The smallest test harness that fails loudly: CHECK() prints where and why
 * and exits 1 (automake's FAIL); a test program that returns 0 passed.
 * Exit 77 (SKIP) only when a prerequisite is really absent.
 */
#ifndef XE_TESTS_CHECK_H
#define XE_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,          \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			exit(1);                                               \
		}                                                              \
	} while (0)

/* An int-returning call that must succeed (0). */
#define CHECK_OK(expr)                                                         \
	do {                                                                   \
		int check_rc_ = (expr);                                        \
		CHECK(check_rc_ == 0, "%s returned %d (%s)", #expr, check_rc_, \
		      check_rc_ < 0 ? strerror(-check_rc_) : "");              \
	} while (0)

/* An int-returning call that must fail with exactly this -errno. */
#define CHECK_ERR(expr, err)                                                   \
	do {                                                                   \
		int check_rc_ = (expr);                                        \
		CHECK(check_rc_ == (err), "%s returned %d, expected %d",       \
		      #expr, check_rc_, (err));                                \
	} while (0)

#endif
