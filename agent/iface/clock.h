/* SPDX-License-Identifier: MIT */
/*
 * The clock interface: monotonic time and sleeping, so that engines can be driven by a
 * fake clock in tests and by the POSIX one in the agent.
 */
#ifndef ST7_CLOCK_H
#define ST7_CLOCK_H

#include <stdint.h>

struct st7_clock {
	/* Monotonic milliseconds since an arbitrary point. */
	uint64_t (*now_ms)(void *ctx);
	/* Sleep about `ms` milliseconds; may return early on a signal. */
	void (*sleep_ms)(void *ctx, uint32_t ms);
	void *ctx;
};

/* CLOCK_MONOTONIC and nanosleep. */
extern const struct st7_clock st7_clock_posix;

#endif
