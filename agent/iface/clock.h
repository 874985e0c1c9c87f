/* SPDX-License-Identifier: MIT */
/*
 * The clock interface: monotonic time and sleeping, so that engines can be driven by a
 * fake clock in tests and by the POSIX one in the agent.
 */
#ifndef ST7_CLOCK_H
#define ST7_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Local wall time of an instant, as a time zone database gives it. */
struct st7_local_time {
	int wday;       /* 0 Sunday .. 6 Saturday */
	int hour, min;  /* 0..23, 0..59 */
	int utc_offset; /* seconds east of UTC, for display */
};

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
	/* Wall-clock time, seconds since the epoch (UTC). May be wrong (an unset clock on a
	 * gateway without RTC): the manifest checks treat it as a claim. The agent: once per
	 * cycle. NULL in engine-only clocks. */
	int64_t (*wall_s)(void *ctx);
	/* Local wall time of `t` in time zone `tz` ("" the system's; an IANA name such as
	 * "Europe/Paris"; or a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3"). A name
	 * the time zone database does not have is ST7_ERR_NOT_FOUND, never silently UTC.
	 * The schedule of maintenance windows. NULL in engine-only clocks. */
	int (*local_time)(void *ctx, const char *tz, int64_t t, struct st7_local_time *out);
	void *ctx;
};

/* CLOCK_MONOTONIC, clock_nanosleep (absolute deadlines) and the thread's timer slack
 * (Linux prctl; elsewhere a no-op). */
extern const struct st7_clock st7_clock_posix;

#endif
