/* SPDX-License-Identifier: MIT */
/*
 * The clock interface: monotonic time and sleeping, so that engines can be driven by a
 * fake clock in tests and by the POSIX one in the agent.
 */
#ifndef ST7_CLOCK_H
#define ST7_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct st7_clock {
	/* Monotonic milliseconds since an arbitrary point. The engine's timeouts
	 * (re-enumeration), the CLI's progress display. */
	uint64_t (*now_ms)(void *ctx);
	/* Monotonic microseconds, the same clock as now_ms. The engine reads it when a
	 * status reply arrives: the device's bwPollTimeout counts from that moment. */
	uint64_t (*now_us)(void *ctx);
	/* Sleep until now_us() reaches `deadline_us` (not at all if it has). False when a
	 * signal woke it earlier, so that the caller can look at its abort flag without
	 * reading the clock again. The engine: every wait (polls, backoff). */
	bool (*sleep_until_us)(void *ctx, uint64_t deadline_us);
	/* Set how late a wake-up may come (timer slack, ns; 0: the process default) and
	 * return the previous setting. The engine asks for 1 ns while a transfer runs and
	 * puts the previous value back after it. */
	uint64_t (*set_slack_ns)(void *ctx, uint64_t ns);
	void *ctx;
};

/* CLOCK_MONOTONIC, clock_nanosleep (absolute deadlines) and the thread's timer slack
 * (Linux prctl; elsewhere a no-op). */
extern const struct st7_clock st7_clock_posix;

#endif
