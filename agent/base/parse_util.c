/* SPDX-License-Identifier: MIT */
#include "parse_util.h"

#include "text_lines.h"

#include <stdio.h>
#include <string.h>

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Digits in `base` (10 or 16) from *p on, at least one, until the first other character;
 * *p is left after them. ST7_ERR_RANGE on overflow of 64 bits, ST7_ERR_FORMAT when no digit.
 */
static int digits(const char **p, unsigned base, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	bool overflow = false;
	int dv;
	while ((dv = base == 16 ? hex_value(*s) : is_digit(*s) ? *s - '0' : -1) >= 0) {
		if (v > (UINT64_MAX - (uint64_t)dv) / base)
			overflow = true;
		else
			v = v * base + (uint64_t)dv;
		s++;
	}
	if (s == *p)
		return ST7_ERR_FORMAT;
	*p = s;
	if (overflow)
		return ST7_ERR_RANGE;
	*out = v;
	return ST7_OK;
}

static bool has_hex_prefix(const char *s)
{
	return s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
}

int st7_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!s)
		return ST7_ERR_FORMAT;
	unsigned base = has_hex_prefix(s) ? 16 : 10;
	const char *p = base == 16 ? s + 2 : s;
	int ret = digits(&p, base, &v);
	if (ret == ST7_ERR_FORMAT || *p)
		return ST7_ERR_FORMAT;
	if (ret || v < min || v > max)
		return ST7_ERR_RANGE;
	*out = v;
	return ST7_OK;
}

int st7_parse_usb_id(const char *s, uint16_t *out)
{
	uint64_t v = 0;
	if (!s)
		return ST7_ERR_FORMAT;
	const char *p = has_hex_prefix(s) ? s + 2 : s;
	const char *start = p;
	if (digits(&p, 16, &v) != ST7_OK || *p)
		return ST7_ERR_FORMAT;
	if (p - start > 4)
		return ST7_ERR_RANGE;
	*out = (uint16_t)v;
	return ST7_OK;
}

int st7_parse_usb_ids(const char *s, uint16_t *vid, uint16_t *pid)
{
	char head[8];
	const char *colon = s ? strchr(s, ':') : NULL;
	uint16_t v = 0, p = 0;
	if (!colon || (size_t)(colon - s) >= sizeof(head))
		return ST7_ERR_FORMAT;
	memcpy(head, s, (size_t)(colon - s));
	head[colon - s] = '\0';
	int ret = st7_parse_usb_id(head, &v);
	if (ret == ST7_OK)
		ret = st7_parse_usb_id(colon + 1, &p);
	if (ret)
		return ret;
	*vid = v;
	*pid = p;
	return ST7_OK;
}

/* 1-2 decimal digits read as BCD nibbles: "2" = 0x2, "02" = 0x02, "34" = 0x34. */
static bool bcd_part(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	if (n < 1 || n > 2)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 16 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

int st7_parse_bcd(const char *s, uint16_t *out)
{
	const char *dot = s ? strchr(s, '.') : NULL;
	unsigned hi = 0, lo = 0;
	if (!dot)
		return st7_parse_usb_id(s, out);
	size_t lo_len = strlen(dot + 1);
	if (!bcd_part(s, (size_t)(dot - s), &hi) || !bcd_part(dot + 1, lo_len, &lo))
		return ST7_ERR_FORMAT;
	if (lo_len == 1)
		lo <<= 4; /* "1.2" means 1.20 */
	*out = (uint16_t)(hi << 8 | lo);
	return ST7_OK;
}

static unsigned size_shift(char c)
{
	switch (lower(c)) {
	case 'k':
		return 10;
	case 'm':
		return 20;
	case 'g':
		return 30;
	}
	return 0;
}

int st7_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!s)
		return ST7_ERR_FORMAT;
	const char *p = s;
	int ret = digits(&p, 10, &v);
	if (ret == ST7_ERR_FORMAT)
		return ret;
	unsigned shift = *p ? size_shift(*p) : 0;
	if (*p && (!shift || p[1]))
		return ST7_ERR_FORMAT;
	if (ret || v > UINT64_MAX >> shift)
		return ST7_ERR_RANGE;
	v <<= shift;
	if (v < min || v > max)
		return ST7_ERR_RANGE;
	*out = v;
	return ST7_OK;
}

static const struct {
	const char *name;
	uint64_t ms;
} duration_units[] = {
	/* Longest names first where one is a prefix of another ("ms" before "m"). */
	{ "d", 86400000 }, { "h", 3600000 }, { "ms", 1 }, { "m", 60000 }, { "s", 1000 },
};

int st7_parse_duration_ms(const char *s, uint64_t bare_unit_ms, uint64_t min_ms, uint64_t max_ms,
                          uint64_t *out_ms)
{
	uint64_t total = 0, n = 0;
	bool overflow = false;
	const char *p = s;
	if (!s)
		return ST7_ERR_FORMAT;
	/* A bare number may be hex (0x10), as the numbers of earlier versions could be. */
	bool hex = has_hex_prefix(s);
	if (hex)
		p += 2;
	int ret = digits(&p, hex ? 16 : 10, &n);
	if (ret == ST7_ERR_FORMAT || (hex && *p))
		return ST7_ERR_FORMAT;
	if (!*p) { /* a bare number, counted in the caller's unit */
		if (!bare_unit_ms)
			return ST7_ERR_FORMAT;
		overflow = ret != ST7_OK || n > UINT64_MAX / bare_unit_ms;
		total = n * bare_unit_ms;
	} else {
		p = s;
	}
	while (*p) {
		uint64_t unit = 0;
		n = 0;
		ret = digits(&p, 10, &n);
		if (ret == ST7_ERR_FORMAT)
			return ret;
		for (size_t i = 0; !unit && i < sizeof(duration_units) / sizeof(duration_units[0]);
		     i++) {
			size_t l = strlen(duration_units[i].name);
			if (strncmp(p, duration_units[i].name, l) == 0 &&
			    (p[l] == '\0' || is_digit(p[l]))) {
				unit = duration_units[i].ms;
				p += l;
			}
		}
		if (!unit)
			return ST7_ERR_FORMAT; /* no unit, an unknown one, or "1h30" */
		if (ret != ST7_OK || n > (UINT64_MAX - total) / unit)
			overflow = true;
		else
			total += n * unit;
	}
	if (overflow || total < min_ms || total > max_ms)
		return ST7_ERR_RANGE;
	*out_ms = total;
	return ST7_OK;
}

int st7_parse_time_of_day(const char *s, unsigned *minutes)
{
	uint64_t h = 0, m = 0;
	const char *p = s;
	if (!s || !is_digit(s[0]))
		return ST7_ERR_FORMAT;
	int ret = digits(&p, 10, &h);
	if (ret || p - s > 2 || *p != ':')
		return ST7_ERR_FORMAT;
	const char *q = ++p;
	ret = digits(&p, 10, &m);
	if (ret || p - q != 2 || *p)
		return ST7_ERR_FORMAT;
	if (h > 23 || m > 59)
		return ST7_ERR_RANGE;
	*minutes = (unsigned)(h * 60 + m);
	return ST7_OK;
}

static bool same_word(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (lower(*a) != *b)
			return false;
	return *a == *b;
}

int st7_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	if (!s)
		return ST7_ERR_FORMAT;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (same_word(s, yes[i])) {
			*out = true;
			return ST7_OK;
		}
		if (same_word(s, no[i])) {
			*out = false;
			return ST7_OK;
		}
	}
	return ST7_ERR_FORMAT;
}

void st7_format_duration_ms(uint64_t ms, char *out, size_t cap)
{
	/* Largest first; "ms" last, for what no other unit divides. */
	static const size_t order[] = { 0, 1, 3, 4, 2 };
	size_t w = 0;
	if (!cap)
		return;
	out[0] = '\0';
	if (ms == 0) {
		snprintf(out, cap, "0ms");
		return;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && ms; i++) {
		uint64_t unit = duration_units[order[i]].ms;
		if (ms / unit == 0)
			continue;
		/* Whole units only when the rest can still be spelled exactly. */
		uint64_t n = ms / unit;
		int k = snprintf(out + w, cap - w, "%llu%s", (unsigned long long)n,
		                 duration_units[order[i]].name);
		if (k < 0 || (size_t)k >= cap - w)
			return;
		w += (size_t)k;
		ms -= n * unit;
	}
}

void st7_format_size(uint64_t bytes, char *out, size_t cap)
{
	static const char units[] = "GMK";
	for (int i = 0; i < 3; i++) {
		unsigned shift = (unsigned)(30 - 10 * i);
		if (bytes && (bytes & (((uint64_t)1 << shift) - 1)) == 0) {
			snprintf(out, cap, "%llu%c", (unsigned long long)(bytes >> shift),
			         units[i]);
			return;
		}
	}
	snprintf(out, cap, "%llu", (unsigned long long)bytes);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
 * days_from_civil): no timegm(), whose answer would depend on TZ. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Exactly `n` decimal digits at s. */
static bool fixed_digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

int st7_parse_utc(const char *s, int64_t *out)
{
	/* "YYYY-MM-DDTHH:MM:SSZ": the punctuation at fixed places, digits between. */
	static const char shape[] = "0000-00-00T00:00:00Z";
	unsigned y, mo, d, h, mi, se;
	if (!s || strlen(s) != sizeof(shape) - 1)
		return ST7_ERR_FORMAT;
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] != '0' && s[i] != shape[i])
			return ST7_ERR_FORMAT;
	if (!fixed_digits(s, 4, &y) || !fixed_digits(s + 5, 2, &mo) ||
	    !fixed_digits(s + 8, 2, &d) || !fixed_digits(s + 11, 2, &h) ||
	    !fixed_digits(s + 14, 2, &mi) || !fixed_digits(s + 17, 2, &se))
		return ST7_ERR_FORMAT;
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (unsigned)(mo == 2 && leap) || h > 23 || mi > 59 || se > 59)
		return ST7_ERR_RANGE;
	*out = days_from_civil(y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + se);
	return ST7_OK;
}

void st7_format_utc(int64_t t, char *out, size_t cap)
{
	int64_t days = t / 86400, rem = t % 86400, y;
	unsigned m, d;
	if (rem < 0) { /* floor, for times before the epoch */
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (cap)
		snprintf(out, cap, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d,
		         (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
}

int st7_parse_sha256(const char *s, uint8_t out[32])
{
	uint8_t h[32];
	if (!s || strlen(s) != 64)
		return ST7_ERR_FORMAT;
	for (size_t i = 0; i < 32; i++) {
		int hi = st7_hexval((unsigned char)s[2 * i]),
		    lo = st7_hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return ST7_ERR_FORMAT;
		h[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, h, sizeof(h));
	return ST7_OK;
}
