/* SPDX-License-Identifier: MIT */
#include "schedule.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parse_util.h"

#define WEEK_MIN (7 * 1440)
/* Longest jump: short enough that a zone changes its offset at most once within it. */
#define MAX_JUMP_MIN 1440
#define HORIZON_S (8 * 86400)

/* Mon..Sun as written, with their struct tm weekday. */
static const char *const day_names[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };

static int day_index(const char *s, size_t len)
{
	for (int i = 0; i < 7; i++)
		if (len == 3 && strncasecmp(s, day_names[i], 3) == 0)
			return (i + 1) % 7; /* Mon = 1 .. Sun = 0 */
	return -1;
}

/* "Mon", "Fri-Mon", "Sat/Sun", "Mon-Wed/Fri" into day bits; 0 on a bad spelling. */
static uint8_t parse_days(const char *s, size_t len)
{
	uint8_t bits = 0;
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != '/')
			j++;
		const char *dash = memchr(s + i, '-', j - i);
		int a, b;
		if (dash) {
			a = day_index(s + i, (size_t)(dash - (s + i)));
			b = day_index(dash + 1, (size_t)(s + j - (dash + 1)));
		} else {
			a = b = day_index(s + i, j - i);
		}
		if (a < 0 || b < 0)
			return 0;
		/* Walk in Mon..Sun order so that "Fri-Mon" wraps over the weekend. */
		int k = a;
		for (;;) {
			bits |= (uint8_t)(1u << k);
			if (k == b)
				break;
			k = (k + 1) % 7;
		}
		i = j + 1;
		if (j < len && i == len)
			return 0; /* trailing '/' */
	}
	return bits;
}

static int parse_entry(const char *s, size_t len, struct st7_window *w)
{
	char buf[64];
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *times = buf;
	w->days = 0x7f;
	char *sp = strpbrk(buf, " \t");
	if (sp) {
		*sp = '\0';
		w->days = parse_days(buf, strlen(buf));
		if (!w->days)
			return -1;
		times = sp + 1;
		while (*times == ' ' || *times == '\t')
			times++;
	}
	char *dash = strchr(times, '-');
	if (!dash)
		return -1;
	*dash = '\0';
	unsigned a, b;
	if (st7_parse_time_of_day(times, &a) != ST7_OK ||
	    st7_parse_time_of_day(dash + 1, &b) != ST7_OK || a == b)
		return -1;
	w->start_min = (uint16_t)a;
	w->end_min = (uint16_t)b;
	return 0;
}

int st7_windows_parse(const char *s, struct st7_windows *out, struct st7_diag *d)
{
	struct st7_windows tmp;
	memset(&tmp, 0, sizeof(tmp));
	if (!s || !out)
		return st7_diag_set(d, ST7_ERR_INVALID, "no window list");
	const char *p = s;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t len = strlen(p);
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0 || (len == 6 && strncasecmp(p, "always", 6) == 0)) {
		*out = tmp;
		return ST7_OK;
	}
	size_t i = 0;
	for (;;) {
		size_t j = i;
		while (j < len && p[j] != ',')
			j++;
		if (tmp.n == ST7_MAX_WINDOWS)
			return st7_diag_set(d, ST7_ERR_FORMAT, "more than %d windows",
			                    ST7_MAX_WINDOWS);
		if (parse_entry(p + i, j - i, &tmp.w[tmp.n]) != 0)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "bad window '%.*s' (expected [DAYS] HH:MM-HH:MM "
			                    "with a different start and end, days Mon..Sun)",
			                    (int)(j - i > 64 ? 64 : j - i), p + i);
		tmp.n++;
		if (j == len)
			break;
		i = j + 1;
	}
	*out = tmp;
	return ST7_OK;
}

static void put(char *out, size_t cap, size_t *pos, const char *s)
{
	size_t l = strlen(s);
	if (*pos + 1 >= cap)
		return;
	size_t room = cap - 1 - *pos;
	if (l > room)
		l = room;
	memcpy(out + *pos, s, l);
	*pos += l;
	out[*pos] = '\0';
}

void st7_windows_format(const struct st7_windows *w, char *out, size_t cap)
{
	size_t pos = 0;
	if (!out || cap == 0)
		return;
	out[0] = '\0';
	if (!w || w->n == 0) {
		put(out, cap, &pos, "always");
		return;
	}
	for (size_t i = 0; i < w->n && i < ST7_MAX_WINDOWS; i++) {
		const struct st7_window *x = &w->w[i];
		if (i)
			put(out, cap, &pos, ", ");
		if ((x->days & 0x7f) != 0x7f) {
			/* Runs in Mon..Sun order: 3+ days as a range, shorter ones listed. */
			bool first = true;
			int k = 0;
			while (k < 7) {
				if (!(x->days & (1u << ((k + 1) % 7)))) {
					k++;
					continue;
				}
				int e = k;
				while (e + 1 < 7 && (x->days & (1u << ((e + 2) % 7))))
					e++;
				if (e - k >= 2) {
					if (!first)
						put(out, cap, &pos, "/");
					put(out, cap, &pos, day_names[k]);
					put(out, cap, &pos, "-");
					put(out, cap, &pos, day_names[e]);
					first = false;
				} else {
					for (int m = k; m <= e; m++) {
						if (!first)
							put(out, cap, &pos, "/");
						put(out, cap, &pos, day_names[m]);
						first = false;
					}
				}
				k = e + 1;
			}
			put(out, cap, &pos, " ");
		}
		char t[16];
		snprintf(t, sizeof(t), "%02u:%02u-%02u:%02u", x->start_min / 60u,
		         x->start_min % 60u, x->end_min / 60u, x->end_min % 60u);
		put(out, cap, &pos, t);
	}
}

static bool in_window(const struct st7_windows *w, int wday, int m)
{
	for (size_t i = 0; i < w->n; i++) {
		const struct st7_window *x = &w->w[i];
		int prev = (wday + 6) % 7;
		if (x->start_min < x->end_min) {
			if ((x->days & (1u << wday)) && m >= x->start_min && m < x->end_min)
				return true;
		} else {
			if ((x->days & (1u << wday)) && m >= x->start_min)
				return true;
			if ((x->days & (1u << prev)) && m < x->end_min)
				return true;
		}
	}
	return false;
}

/* Wall minutes from (wday, m) to the next window edge (0 when on one): membership can
 * only change at an edge or where the wall clock jumps. */
static int edge_distance(const struct st7_windows *w, int wday, int m)
{
	int cur = wday * 1440 + m, best = WEEK_MIN;
	for (size_t i = 0; i < w->n; i++) {
		const struct st7_window *x = &w->w[i];
		for (int day = 0; day < 7; day++) {
			if (!(x->days & (1u << day)))
				continue;
			int s = day * 1440 + x->start_min;
			int e = day * 1440 + x->end_min + (x->end_min <= x->start_min ? 1440 : 0);
			int ds = ((s - cur) % WEEK_MIN + WEEK_MIN) % WEEK_MIN;
			int de = ((e - cur) % WEEK_MIN + WEEK_MIN) % WEEK_MIN;
			if (ds < best)
				best = ds;
			if (de < best)
				best = de;
		}
	}
	return best;
}

static int lookup(st7_local_time_fn local, void *arg, const char *tz, int64_t t,
                  struct st7_local_time *lt, struct st7_diag *d)
{
	int rc = local(arg, tz, t, lt);
	if (rc != ST7_OK)
		return st7_diag_set(d, rc < 0 ? rc : ST7_ERR_INVALID,
		                    "time zone '%s': cannot convert the time", tz ? tz : "");
	if (lt->wday < 0 || lt->wday > 6 || lt->hour < 0 || lt->hour > 23 || lt->min < 0 ||
	    lt->min > 59)
		return st7_diag_set(d, ST7_ERR_INVALID, "time zone '%s': impossible local time",
		                    tz ? tz : "");
	return ST7_OK;
}

/* The zone's offset at `t` as minutes of the week (wall minus UTC): equal offsets at two
 * instants a day apart at most mean no change in between. */
static int offset_of(int64_t t, const struct st7_local_time *lt)
{
	int64_t m = t / 60 - (t % 60 < 0);
	int real = (int)(((m + 4 * 1440) % WEEK_MIN + WEEK_MIN) % WEEK_MIN); /* 1970-01-01: Thu */
	int wall = lt->wday * 1440 + lt->hour * 60 + lt->min;
	return ((wall - real) % WEEK_MIN + WEEK_MIN) % WEEK_MIN;
}

int st7_window_state(const struct st7_windows *w, const char *tz, int64_t now,
                     st7_local_time_fn local, void *arg, struct st7_window_state *out,
                     struct st7_diag *d)
{
	struct st7_window_state st = { 0 };
	struct st7_local_time lt, at;
	int rc;
	if (!w || !out)
		return st7_diag_set(d, ST7_ERR_INVALID, "no windows");
	if (w->n == 0) {
		st.open = true;
		*out = st;
		return ST7_OK;
	}
	if (!local)
		return st7_diag_set(d, ST7_ERR_INVALID, "no local time converter");
	/* Offsets change on whole minutes, so the minute holding `now` is in or out whole. */
	int64_t t = now - (((now % 60) + 60) % 60);
	rc = lookup(local, arg, tz, t, &lt, d);
	if (rc != ST7_OK)
		return rc;
	bool open = in_window(w, lt.wday, lt.hour * 60 + lt.min);
	st.open = open;
	/*
	 * Jump straight to the next window edge in wall time. If the offset is the same
	 * there, the wall clock ran evenly and crossed no edge on the way. If it changed
	 * (DST), find the first minute of the new offset by bisection and go on from there:
	 * before it the wall clock ran evenly too. A few conversions per edge, exact.
	 */
	while (t - now < HORIZON_S) {
		int dist = edge_distance(w, lt.wday, lt.hour * 60 + lt.min);
		if (dist == 0)
			dist = 1; /* on an edge that changed nothing: the next minute */
		if (dist > MAX_JUMP_MIN)
			dist = MAX_JUMP_MIN;
		int64_t next = t + (int64_t)dist * 60;
		rc = lookup(local, arg, tz, next, &at, d);
		if (rc != ST7_OK)
			return rc;
		int off = offset_of(t, &lt), off_next = offset_of(next, &at);
		if (off != off_next && dist > 1) {
			/* lo keeps the old offset, hi has the new one. */
			int64_t lo = t, hi = next;
			struct st7_local_time hi_lt = at, mid_lt;
			while (hi - lo > 60) {
				int64_t mid = lo + ((hi - lo) / 120) * 60;
				rc = lookup(local, arg, tz, mid, &mid_lt, d);
				if (rc != ST7_OK)
					return rc;
				if (offset_of(mid, &mid_lt) == off) {
					lo = mid;
				} else {
					hi = mid;
					hi_lt = mid_lt;
				}
			}
			next = hi;
			at = hi_lt;
		}
		t = next;
		lt = at;
		if (in_window(w, lt.wday, lt.hour * 60 + lt.min) != open) {
			if (open) {
				st.closes = t;
			} else {
				st.opens = true;
				st.next_open = t;
			}
			*out = st;
			return ST7_OK;
		}
	}
	/* Open for 8 days on end (a window set that covers the week): report the horizon
	 * rather than loop on. */
	if (open)
		st.closes = t;
	*out = st;
	return ST7_OK;
}

static uint64_t fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

unsigned st7_cohort(const char *gateway_id, const char *release_name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const char *parts[2] = { gateway_id ? gateway_id : "", release_name ? release_name : "" };
	for (int p = 0; p < 2; p++) {
		for (const unsigned char *c = (const unsigned char *)parts[p]; *c; c++) {
			h ^= *c;
			h *= 0x100000001b3ull;
		}
		if (p == 0)
			h *= 0x100000001b3ull; /* the NUL separator: h ^= 0 is a no-op */
	}
	return (unsigned)(fmix64(h) % 100u);
}
