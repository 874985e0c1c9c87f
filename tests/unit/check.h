/* SPDX-License-Identifier: MIT */
/*
 * A minimal test harness for CTest: each test binary runs its cases, prints every
 * failure with file:line, and ends with "N passed, N failed" (exit 1 on any failure).
 */
#ifndef ST7_CHECK_H
#define ST7_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static unsigned long check_passed, check_failed;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (cond) {                                                                      \
			check_passed++;                                                          \
		} else {                                                                         \
			check_failed++;                                                          \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		}                                                                                \
	} while (0)

#define CHECK_INT(a, b)                                                                       \
	do {                                                                                  \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);               \
		if (check_a_ == check_b_) {                                                   \
			check_passed++;                                                       \
		} else {                                                                      \
			check_failed++;                                                       \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, \
			        __LINE__, #a, check_a_, #b, check_b_);                        \
		}                                                                             \
	} while (0)

/* Substring check, typically on a diagnostic message. */
#define CHECK_HAS(hay, needle)                                                               \
	do {                                                                                 \
		const char *check_h_ = (hay), *check_n_ = (needle);                          \
		if (check_h_ && strstr(check_h_, check_n_)) {                                \
			check_passed++;                                                      \
		} else {                                                                     \
			check_failed++;                                                      \
			fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, \
			        __LINE__, check_h_ ? check_h_ : "(null)", check_n_);         \
		}                                                                            \
	} while (0)

static inline int check_report(void)
{
	printf("%lu passed, %lu failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
