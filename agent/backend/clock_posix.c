/* SPDX-License-Identifier: MIT */
#define _DEFAULT_SOURCE /* tm_gmtoff */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "clock.h"
#include "err.h"

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

static int64_t posix_wall_s(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* A zone name glibc would look up in the database (as opposed to a POSIX TZ rule, which
 * always has a digit for its offset): it must be there, since glibc quietly falls back
 * to UTC for a name it does not find, and a window would open at the wrong hour. */
static int zone_name_known(const char *tz)
{
	if (strpbrk(tz, "0123456789"))
		return ST7_OK; /* a POSIX rule ("CET-1CEST,M3.5.0,M10.5.0/3", "UTC0") */
	if (tz[0] == '/' || strstr(tz, "..") || strlen(tz) > 200)
		return ST7_ERR_NOT_FOUND;
	const char *dir = getenv("TZDIR");
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", tz);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ST7_ERR_NOT_FOUND;
	char magic[4];
	ssize_t n = read(fd, magic, sizeof(magic));
	close(fd);
	return n == 4 && memcmp(magic, "TZif", 4) == 0 ? ST7_OK : ST7_ERR_NOT_FOUND;
}

/* glibc converts in the zone of the TZ variable: set it for the call and put the
 * previous value back, so that nothing else in the process sees another zone. st7dfu
 * is single-threaded. */
static int posix_local_time(void *ctx, const char *tz, int64_t t, struct st7_local_time *out)
{
	(void)ctx;
	char *saved = NULL;
	bool had = false;
	int ret = ST7_ERR_INVALID;
	if (tz && tz[0]) {
		if ((ret = zone_name_known(tz)) != ST7_OK)
			return ret;
		const char *old = getenv("TZ");
		had = old != NULL;
		if (had && !(saved = strdup(old)))
			return ST7_ERR_NOMEM;
		if (setenv("TZ", tz, 1) != 0) {
			free(saved);
			return ST7_ERR_NOMEM;
		}
	}
	tzset();
	time_t tt = (time_t)t;
	struct tm tm;
	ret = ST7_ERR_RANGE;
	if (localtime_r(&tt, &tm)) {
		out->wday = tm.tm_wday;
		out->hour = tm.tm_hour;
		out->min = tm.tm_min;
		out->utc_offset = (int)tm.tm_gmtoff;
		ret = ST7_OK;
	}
	if (tz && tz[0]) {
		if (had)
			setenv("TZ", saved, 1);
		else
			unsetenv("TZ");
		free(saved);
		tzset();
	}
	return ret;
}

const struct st7_clock st7_clock_posix = {
	.now_ms = posix_now_ms,
	.now_us = posix_now_us,
	.sleep_until_us = posix_sleep_until_us,
	.set_slack_ns = posix_set_slack_ns,
	.wall_s = posix_wall_s,
	.local_time = posix_local_time,
	.ctx = NULL,
};
