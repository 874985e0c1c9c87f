/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "clock.h"

static uint64_t posix_now_us(void *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t posix_now_ms(void *ctx)
{
	return posix_now_us(ctx) / 1000u;
}

static bool posix_sleep_until_us(void *ctx, uint64_t deadline_us)
{
	(void)ctx;
	struct timespec ts = { (time_t)(deadline_us / 1000000u),
		               (long)(deadline_us % 1000000u) * 1000L };
	/* An absolute deadline: nothing between the caller's reading of the clock and
	 * the kernel arming its timer adds to the wait. EINTR returns early on purpose
	 * (a signal means "look at the abort flag now"); any other error is not worth a retry. */
	return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != EINTR;
}

static uint64_t posix_set_slack_ns(void *ctx, uint64_t ns)
{
	(void)ctx;
#if defined(PR_SET_TIMERSLACK) && defined(PR_GET_TIMERSLACK)
	/* Per thread: the engine sleeps on the thread that sets it. The default 50 us
	 * would let every wake-up after a bwPollTimeout come that much late. */
	int old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	prctl(PR_SET_TIMERSLACK, (unsigned long)ns, 0, 0, 0);
	return old > 0 ? (uint64_t)old : 0;
#else
	(void)ns;
	return 0;
#endif
}

const struct st7_clock st7_clock_posix = {
	.now_ms = posix_now_ms,
	.now_us = posix_now_us,
	.sleep_until_us = posix_sleep_until_us,
	.set_slack_ns = posix_set_slack_ns,
	.ctx = NULL,
};
