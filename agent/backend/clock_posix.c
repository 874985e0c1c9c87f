/* SPDX-License-Identifier: MIT */
#include <time.h>

#include "clock.h"

static uint64_t posix_now_ms(void *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void posix_sleep_ms(void *ctx, uint32_t ms)
{
	(void)ctx;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	/* An interrupted sleep returns early on purpose: a signal means "look at the
	 * abort flag now". */
	nanosleep(&ts, NULL);
}

const struct st7_clock st7_clock_posix = { posix_now_ms, posix_sleep_ms, NULL };
