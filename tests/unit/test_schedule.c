/* SPDX-License-Identifier: MIT */
/* schedule: window lists, window state across midnight and DST, rollout cohorts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "schedule.h"

/* The real time zone database, as the POSIX clock backend uses it; counts its calls so
 * that the walk's cost is checked too. */
struct tzconv {
	unsigned calls;
};

static int tz_local(void *arg, const char *tz, int64_t t, struct st7_local_time *out)
{
	struct tzconv *c = arg;
	struct tm tm;
	time_t tt = (time_t)t;
	c->calls++;
	setenv("TZ", tz, 1);
	tzset();
	if (!localtime_r(&tt, &tm))
		return ST7_ERR_INVALID;
	out->wday = tm.tm_wday;
	out->hour = tm.tm_hour;
	out->min = tm.tm_min;
	out->utc_offset = 0; /* tm_gmtoff is not POSIX; only for display */
	return ST7_OK;
}

/* A clock whose wall time never moves: no window ever opens. */
static int frozen_local(void *arg, const char *tz, int64_t t, struct st7_local_time *out)
{
	struct tzconv *c = arg;
	(void)tz, (void)t;
	c->calls++;
	*out = (struct st7_local_time){ .wday = 3, .hour = 12, .min = 0 };
	return ST7_OK;
}

static int fail_local(void *arg, const char *tz, int64_t t, struct st7_local_time *out)
{
	(void)arg, (void)tz, (void)t, (void)out;
	return ST7_ERR_NOT_FOUND;
}

/* UTC "YYYY-MM-DDTHH:MM" to seconds. */
static int64_t utc(const char *s)
{
	struct tm tm = { 0 };
	if (sscanf(s, "%d-%d-%dT%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
	           &tm.tm_min) != 5)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	/* timegm is not POSIX: days from the civil date (Howard Hinnant's algorithm). */
	int y = tm.tm_year + 1900 - (tm.tm_mon < 2);
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int mp = (tm.tm_mon + 10) % 12; /* March = 0 */
	int doy = (153 * mp + 2) / 5 + tm.tm_mday - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = (int64_t)era * 146097 + doe - 719468;
	return days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60;
}

static void test_parse(void)
{
	static const struct {
		const char *in;
		const char *canon; /* NULL: refused */
		size_t n;
	} cases[] = {
		{ "always", "always", 0 },
		{ "", "always", 0 },
		{ "  ALWAYS ", "always", 0 },
		{ "02:00-05:00", "02:00-05:00", 1 },
		{ "Mon-Fri 02:00-05:00, Sat,Sun 00:00-06:00", NULL, 0 }, /* "Sat": no time */
		{ "Mon-Fri 02:00-05:00, Sat/Sun 00:00-06:00",
		  "Mon-Fri 02:00-05:00, Sat/Sun 00:00-06:00", 2 },
		{ "mon-wed/fri 1:30-2:00", "Mon-Wed/Fri 01:30-02:00", 1 },
		{ "Fri-Mon 22:00-02:00", "Mon/Fri-Sun 22:00-02:00", 1 },
		{ "Sat 23:00-01:00", "Sat 23:00-01:00", 1 },
		{ "Mon-Sun 00:00-01:00", "00:00-01:00", 1 },
		{ "Sun/Mon 03:00-04:00", "Mon/Sun 03:00-04:00", 1 },
		{ "Tue/Wed/Thu 03:00-04:00", "Tue-Thu 03:00-04:00", 1 },
		{ "1:00-2:00,2:00-3:00,3:00-4:00,4:00-5:00,5:00-6:00,6:00-7:00,7:00-8:00,8:00-9:00",
		  "01:00-02:00, 02:00-03:00, 03:00-04:00, 04:00-05:00, 05:00-06:00, 06:00-07:00, "
		  "07:00-08:00, 08:00-09:00",
		  8 },
		{ "1:00-2:00,2:00-3:00,3:00-4:00,4:00-5:00,5:00-6:00,6:00-7:00,7:00-8:00,8:00-9:00,"
		  "9:00-10:00",
		  NULL, 0 },
		{ "02:00-02:00", NULL, 0 },
		{ "Mon 02:00", NULL, 0 },
		{ "Mon 24:00-01:00", NULL, 0 },
		{ "Mon 02:60-03:00", NULL, 0 },
		{ "Monday 02:00-03:00", NULL, 0 },
		{ "Mon- 02:00-03:00", NULL, 0 },
		{ "Mon/ 02:00-03:00", NULL, 0 },
		{ "/Mon 02:00-03:00", NULL, 0 },
		{ "Mon//Tue 02:00-03:00", NULL, 0 },
		{ "02:00-03:00,", NULL, 0 },
		{ ",02:00-03:00", NULL, 0 },
		{ "02:00-03:00-04:00", NULL, 0 },
		{ "Xyz 02:00-03:00", NULL, 0 },
		{ "never", NULL, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct st7_windows w = { .n = 99 };
		struct st7_diag d = { { 0 } };
		int rc = st7_windows_parse(cases[i].in, &w, &d);
		if (!cases[i].canon) {
			CHECK_INT(rc, ST7_ERR_FORMAT);
			CHECK_INT(w.n, 99); /* unchanged */
			CHECK(d.msg[0] != '\0');
			continue;
		}
		CHECK_INT(rc, ST7_OK);
		CHECK_INT(w.n, cases[i].n);
		char out[256];
		st7_windows_format(&w, out, sizeof(out));
		if (strcmp(out, cases[i].canon) != 0)
			fprintf(stderr, "case %zu: '%s' formats as '%s'\n", i, cases[i].in, out);
		CHECK(strcmp(out, cases[i].canon) == 0);
		/* Round trip: the canonical text parses back to the same windows. */
		struct st7_windows w2;
		CHECK_INT(st7_windows_parse(out, &w2, NULL), ST7_OK);
		CHECK(w2.n == w.n && memcmp(w2.w, w.w, w.n * sizeof(w.w[0])) == 0);
	}
	struct st7_windows w;
	struct st7_diag d;
	CHECK_INT(st7_windows_parse("Mon 02:00-03:00, Tue 9:99-10:00", &w, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "Tue 9:99-10:00");
	CHECK_INT(st7_windows_parse("Fri 22:00-02:00", &w, NULL), ST7_OK);
	CHECK_INT(w.w[0].days, 1u << 5);
	CHECK_INT(w.w[0].start_min, 22 * 60);
	CHECK_INT(w.w[0].end_min, 2 * 60);
	/* A format into a small buffer is cut, never overrun. */
	char small[8];
	memset(small, 'x', sizeof(small));
	st7_windows_format(&w, small, 5);
	CHECK(strlen(small) == 4 && small[5] == 'x');
}

struct state_case {
	const char *tz, *windows, *now;
	bool open, opens;
	const char *when; /* next_open or closes, UTC; NULL: 0 */
};

static void run_state_cases(const struct state_case *cases, size_t n)
{
	unsigned most = 0;
	for (size_t i = 0; i < n; i++) {
		struct st7_windows w;
		struct st7_window_state st;
		struct tzconv c = { 0 };
		CHECK_INT(st7_windows_parse(cases[i].windows, &w, NULL), ST7_OK);
		int rc = st7_window_state(&w, cases[i].tz, utc(cases[i].now), tz_local, &c, &st,
		                          NULL);
		CHECK_INT(rc, ST7_OK);
		int64_t when = cases[i].open ? st.closes : st.next_open;
		int64_t want = cases[i].when ? utc(cases[i].when) : 0;
		if (st.open != cases[i].open || st.opens != cases[i].opens || when != want)
			fprintf(stderr,
			        "state case %zu (%s, '%s', %s): open %d opens %d when %lld, "
			        "want %lld\n",
			        i, cases[i].tz, cases[i].windows, cases[i].now, st.open, st.opens,
			        (long long)when, (long long)want);
		CHECK(st.open == cases[i].open);
		CHECK(st.opens == cases[i].opens);
		CHECK_INT(when, want);
		CHECK(when % 60 == 0);
		CHECK(c.calls <= 400); /* cheap: no 8-day minute walk */
		if (c.calls > most)
			most = c.calls;
	}
	printf("window state: at most %u time zone conversions per call\n", most);
}

static void test_state(void)
{
	static const struct state_case cases[] = {
		/* UTC, across midnight: 2026-12-04 is a Friday. */
		{ "UTC", "Fri 22:00-02:00", "2026-12-04T21:59", false, true, "2026-12-04T22:00" },
		{ "UTC", "Fri 22:00-02:00", "2026-12-04T23:30", true, false, "2026-12-05T02:00" },
		{ "UTC", "Fri 22:00-02:00", "2026-12-05T01:59", true, false, "2026-12-05T02:00" },
		{ "UTC", "Fri 22:00-02:00", "2026-12-05T02:00", false, true, "2026-12-11T22:00" },
		/* Saturday 22:00 is not Friday's window. */
		{ "UTC", "Fri 22:00-02:00", "2026-12-05T22:30", false, true, "2026-12-11T22:00" },
		/* Seconds: the next whole minute, and the minute holding now counts. */
		{ "UTC", "Mon-Fri 02:00-05:00", "2026-12-01T01:59", false, true,
		  "2026-12-01T02:00" },
		{ "UTC", "Mon-Fri 02:00-05:00", "2026-12-04T05:00", false, true,
		  "2026-12-07T02:00" },
		{ "UTC", "Sat/Sun 00:00-06:00, Mon-Fri 02:00-05:00", "2026-12-05T10:00", false,
		  true, "2026-12-06T00:00" },
		/* Adjacent windows: closes at the end of the second. */
		{ "UTC", "01:00-02:00, 02:00-03:00", "2026-12-01T01:30", true, false,
		  "2026-12-01T03:00" },
		/* Paris (UTC+1 in winter). */
		{ "Europe/Paris", "Mon-Fri 02:00-05:00", "2026-12-01T00:30", false, true,
		  "2026-12-01T01:00" },
		{ "Europe/Paris", "Mon-Fri 02:00-05:00", "2026-12-01T01:30", true, false,
		  "2026-12-01T04:00" },
		/* Paris spring forward, Sunday 2026-03-29 02:00 -> 03:00: 02:00-03:00 does not
		 * open that day; the next is Monday 02:00 CEST = 00:00 UTC. */
		{ "Europe/Paris", "02:00-03:00", "2026-03-28T23:00", false, true,
		  "2026-03-30T00:00" },
		/* A window through the gap opens at 03:00 CEST (01:00 UTC), lasts 1 h less. */
		{ "Europe/Paris", "01:30-04:00", "2026-03-29T00:00", false, true,
		  "2026-03-29T00:30" },
		{ "Europe/Paris", "01:30-04:00", "2026-03-29T00:40", true, false,
		  "2026-03-29T02:00" },
		/* Paris fall back, 2026-10-25 03:00 CEST -> 02:00 CET: 02:00-03:00 lasts 2 h. */
		{ "Europe/Paris", "02:00-03:00", "2026-10-25T00:00", true, false,
		  "2026-10-25T02:00" },
		/* New York fall back, 2026-11-01 02:00 EDT -> 01:00 EST: 01:00-02:00 opens at
		 * 05:00 UTC and lasts until 07:00 UTC, two hours. */
		{ "America/New_York", "01:00-02:00", "2026-11-01T04:00", false, true,
		  "2026-11-01T05:00" },
		{ "America/New_York", "01:00-02:00", "2026-11-01T05:00", true, false,
		  "2026-11-01T07:00" },
		{ "America/New_York", "01:00-02:00", "2026-11-01T06:30", true, false,
		  "2026-11-01T07:00" },
		/* A window behind the wall clock comes round again after a fall back: New
		 * York 01:30-01:45 on 2026-11-01 opens at 05:30 UTC (EDT) and again at
		 * 06:30 UTC (EST). Jumping by wall distance without watching the offset
		 * would skip the second one. */
		{ "America/New_York", "01:30-01:45", "2026-11-01T05:50", false, true,
		  "2026-11-01T06:30" },
		{ "America/New_York", "01:30-01:45", "2026-11-01T06:31", true, false,
		  "2026-11-01T06:45" },
		/* Windows that open on the very minute the offset changes. */
		{ "Europe/Paris", "03:00-03:30", "2026-03-29T00:30", false, true,
		  "2026-03-29T01:00" },
		{ "America/New_York", "01:00-01:30", "2026-11-01T05:40", false, true,
		  "2026-11-01T06:00" },
		/* New York spring forward, 2026-03-08 02:00 EST -> 03:00 EDT: Sun 02:00-02:30
		 * does not open; the next Sunday's opens at 06:00 UTC (EDT). */
		{ "America/New_York", "Sun 02:00-02:30", "2026-03-08T05:00", false, true,
		  "2026-03-15T06:00" },
		/* POSIX TZ strings, the same rules as Paris. */
		{ "CET-1CEST,M3.5.0,M10.5.0/3", "02:00-03:00", "2026-03-28T23:00", false, true,
		  "2026-03-30T00:00" },
		{ "CET-1CEST,M3.5.0,M10.5.0/3", "02:00-03:00", "2026-10-25T00:00", true, false,
		  "2026-10-25T02:00" },
		/* A fixed offset (POSIX sign: east is negative). */
		{ "<+0530>-5:30", "Tue 03:00-04:00", "2026-12-01T00:00", false, true,
		  "2026-12-07T21:30" },
		{ "<+0530>-5:30", "Tue 03:00-04:00", "2026-11-30T21:00", false, true,
		  "2026-11-30T21:30" },
		/* Open all week: `closes` is the 8-day horizon (and the walk stays cheap). */
		{ "UTC", "00:00-12:00, 12:00-00:00", "2026-12-01T00:00", true, false,
		  "2026-12-09T00:00" },
	};
	run_state_cases(cases, sizeof(cases) / sizeof(cases[0]));

	/* No windows: always open, no callback needed. */
	struct st7_windows none = { .n = 0 };
	struct st7_window_state st;
	CHECK_INT(st7_window_state(&none, "UTC", 123, NULL, NULL, &st, NULL), ST7_OK);
	CHECK(st.open && !st.opens && st.closes == 0);

	/* Nothing opens within 8 days: opens false, after a bounded walk. */
	struct tzconv c = { 0 };
	struct st7_windows wf;
	CHECK_INT(st7_windows_parse("Wed 13:00-14:00", &wf, NULL), ST7_OK);
	CHECK_INT(st7_window_state(&wf, "UTC", 1000, frozen_local, &c, &st, NULL), ST7_OK);
	CHECK(!st.open && !st.opens && st.next_open == 0);
	CHECK(c.calls <= 8 * 1440 * 16); /* a lying clock: still bounded by the horizon */

	/* The callback's error comes back, with a message. */
	struct st7_windows w;
	struct st7_diag d;
	CHECK_INT(st7_windows_parse("02:00-03:00", &w, NULL), ST7_OK);
	CHECK_INT(st7_window_state(&w, "Mars/Olympus", 0, fail_local, NULL, &st, &d),
	          ST7_ERR_NOT_FOUND);
	CHECK_HAS(d.msg, "Mars/Olympus");
}

static void test_cohort(void)
{
	static const unsigned pcts[] = { 1, 10, 50, 99 };
	enum { N = 10000 };
	unsigned in[4] = { 0 };
	unsigned monotonic_breaks = 0;
	char id[33];
	/* Known values, computed independently (Python) from the recipe in schedule.h. */
	CHECK_INT(st7_cohort("gw-1", "reader-2.37"), 86);
	CHECK_INT(st7_cohort("0123456789abcdef0123456789abcdef", "reader-2.37"), 90);
	CHECK_INT(st7_cohort("", ""), 67);
	CHECK(st7_cohort("ab", "c") != st7_cohort("a", "bc") ||
	      st7_cohort("ab", "d") != st7_cohort("a", "bd")); /* the NUL separates */
	for (unsigned i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "%08x%08x%08x%08x", i * 2654435761u, i, ~i,
		         i ^ 0x5bd1e995u);
		unsigned c = st7_cohort(id, "reader-2.37");
		CHECK(c < 100);
		bool prev = false;
		for (size_t k = 0; k < 4; k++) {
			bool member = c < pcts[k];
			if (prev && !member)
				monotonic_breaks++;
			prev = member;
			in[k] += member;
		}
	}
	CHECK_INT(monotonic_breaks, 0);
	for (size_t k = 0; k < 4; k++) {
		double frac = 100.0 * in[k] / N;
		printf("rollout %2u%%: %.2f%% of %d gateways in the cohort\n", pcts[k], frac, N);
		CHECK(frac > pcts[k] - 1.5 && frac < pcts[k] + 1.5);
	}
	/* Another release reshuffles: cohorts are per release. */
	unsigned same = 0;
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "%032x", i);
		same += st7_cohort(id, "a") == st7_cohort(id, "b");
	}
	CHECK(same < 50);
}

int main(void)
{
	test_parse();
	test_state();
	test_cohort();
	return check_report();
}
