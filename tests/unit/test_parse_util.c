/* SPDX-License-Identifier: MIT */
/*
 * base/parse_util: every value kind with good, malformed and out-of-range spellings, the
 * "whole string or nothing" rule, overflow, and format/parse round trips.
 */
#include "check.h"
#include "parse_util.h"

static void test_uint(void)
{
	uint64_t v = 7;
	CHECK_INT(st7_parse_uint("42", 0, 100, &v), ST7_OK);
	CHECK_INT(v, 42);
	CHECK_INT(st7_parse_uint("0x2A", 0, 100, &v), ST7_OK);
	CHECK_INT(v, 42);
	CHECK_INT(st7_parse_uint("0X2a", 0, 100, &v), ST7_OK);
	CHECK_INT(st7_parse_uint("0", 0, 0, &v), ST7_OK);
	CHECK_INT(v, 0);
	CHECK_INT(st7_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), ST7_OK);
	CHECK(v == UINT64_MAX);
	v = 7;
	/* Not a number: nothing is written. */
	const char *bad[] = { "", " 1", "1 ", "+1", "-1", "1x", "0x", "x1", "1.0", "1e3", "0x-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(st7_parse_uint(bad[i], 0, 100, &v), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_uint(NULL, 0, 100, &v), ST7_ERR_FORMAT);
	/* Numbers outside the bounds, and past 64 bits. */
	CHECK_INT(st7_parse_uint("101", 0, 100, &v), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_uint("0", 1, 100, &v), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_uint("18446744073709551616", 0, UINT64_MAX, &v), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_uint("0x10000000000000000", 0, UINT64_MAX, &v), ST7_ERR_RANGE);
	CHECK_INT(v, 7);
}

static void test_usb_ids(void)
{
	uint16_t id = 1, vid = 1, pid = 1;
	CHECK_INT(st7_parse_usb_id("0483", &id), ST7_OK);
	CHECK_INT(id, 0x0483);
	CHECK_INT(st7_parse_usb_id("0xFFFF", &id), ST7_OK);
	CHECK_INT(id, 0xFFFF);
	CHECK_INT(st7_parse_usb_id("1", &id), ST7_OK);
	CHECK_INT(id, 1);
	CHECK_INT(st7_parse_usb_id("12345", &id), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_usb_id("04g3", &id), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_usb_id("", &id), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_usb_id("0x", &id), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_usb_id("-483", &id), ST7_ERR_FORMAT);
	CHECK_INT(id, 1);
	CHECK_INT(st7_parse_usb_ids("0483:df11", &vid, &pid), ST7_OK);
	CHECK_INT(vid, 0x0483);
	CHECK_INT(pid, 0xDF11);
	CHECK_INT(st7_parse_usb_ids("0x1234:0x5678", &vid, &pid), ST7_OK);
	CHECK_INT(pid, 0x5678);
	vid = pid = 9;
	CHECK_INT(st7_parse_usb_ids("nonsense", &vid, &pid), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_usb_ids("0483:", &vid, &pid), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_usb_ids(":df11", &vid, &pid), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_usb_ids("0483:df11:1", &vid, &pid), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_usb_ids("0483:12345", &vid, &pid), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_usb_ids("000000000483:df11", &vid, &pid), ST7_ERR_FORMAT);
	CHECK_INT(vid + pid, 18);
}

static void test_bcd(void)
{
	uint16_t v = 0;
	CHECK_INT(st7_parse_bcd("1.02", &v), ST7_OK);
	CHECK_INT(v, 0x0102);
	CHECK_INT(st7_parse_bcd("1.2", &v), ST7_OK);
	CHECK_INT(v, 0x0120);
	CHECK_INT(st7_parse_bcd("12.34", &v), ST7_OK);
	CHECK_INT(v, 0x1234);
	CHECK_INT(st7_parse_bcd("0x0103", &v), ST7_OK);
	CHECK_INT(v, 0x0103);
	CHECK_INT(st7_parse_bcd("1", &v), ST7_OK);
	CHECK_INT(v, 0x0001);
	v = 5;
	const char *bad[] = { "1.234", "123.4", ".5", "1.", "1.a", "a.1", "1..2", "1.2.3", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(st7_parse_bcd(bad[i], &v), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_bcd("0x10000", &v), ST7_ERR_RANGE);
	CHECK_INT(v, 5);
}

static void test_size(void)
{
	uint64_t v = 3;
	const uint64_t G = (uint64_t)1 << 30;
	CHECK_INT(st7_parse_size("16M", 1, G, &v), ST7_OK);
	CHECK_INT(v, 16 << 20);
	CHECK_INT(st7_parse_size("1G", 1, G, &v), ST7_OK);
	CHECK(v == G);
	CHECK_INT(st7_parse_size("4k", 1, G, &v), ST7_OK);
	CHECK_INT(v, 4096);
	CHECK_INT(st7_parse_size("100", 1, G, &v), ST7_OK);
	CHECK_INT(v, 100);
	v = 3;
	CHECK_INT(st7_parse_size("2G", 1, G, &v), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_size("0", 1, G, &v), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_size("1048577K", 1, G, &v), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_size("99999999999999999999", 1, UINT64_MAX, &v), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_size("17179869184G", 1, UINT64_MAX, &v), ST7_ERR_RANGE);
	const char *bad[] = { "12X", "-1", "M", "1MB", "1 M", " 1M", "0x10", "1.5M", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(st7_parse_size(bad[i], 1, G, &v), ST7_ERR_FORMAT);
	CHECK_INT(v, 3);
}

static void test_duration(void)
{
	uint64_t v = 1;
	const uint64_t day = 86400000;
	/* Bare hex numbers, as earlier versions took them; never with a unit. */
	CHECK_INT(st7_parse_duration_ms("0x10", 1000, 0, day, &v), ST7_OK);
	CHECK_INT(v, 16000);
	CHECK_INT(st7_parse_duration_ms("0x10s", 1, 0, day, &v), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_duration_ms("0x", 1, 0, day, &v), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_duration_ms("0xg", 1, 0, day, &v), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_duration_ms("15s", 1, 0, day, &v), ST7_OK);
	CHECK_INT(v, 15000);
	CHECK_INT(st7_parse_duration_ms("500ms", 1, 0, day, &v), ST7_OK);
	CHECK_INT(v, 500);
	CHECK_INT(st7_parse_duration_ms("6h", 1, 0, day, &v), ST7_OK);
	CHECK_INT(v, 6 * 3600000);
	CHECK_INT(st7_parse_duration_ms("2m", 1, 0, day, &v), ST7_OK);
	CHECK_INT(v, 120000);
	CHECK_INT(st7_parse_duration_ms("1d", 1, 0, day, &v), ST7_OK);
	CHECK_INT(v, day);
	CHECK_INT(st7_parse_duration_ms("1h30m", 1, 0, day, &v), ST7_OK);
	CHECK_INT(v, 5400000);
	CHECK_INT(st7_parse_duration_ms("1m30s250ms", 1, 0, day, &v), ST7_OK);
	CHECK_INT(v, 90250);
	/* A bare number is counted in the caller's unit. */
	CHECK_INT(st7_parse_duration_ms("15000", 1, 0, day, &v), ST7_OK);
	CHECK_INT(v, 15000);
	CHECK_INT(st7_parse_duration_ms("20", 1000, 0, day, &v), ST7_OK);
	CHECK_INT(v, 20000);
	v = 1;
	CHECK_INT(st7_parse_duration_ms("20", 0, 0, day, &v), ST7_ERR_FORMAT);
	const char *bad[] = { "", "s", "15 s", "15S", "1h30", "15x", "-5s", "1.5s", "15ss", "ms" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(st7_parse_duration_ms(bad[i], 1, 0, day, &v), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_duration_ms("2d", 1, 0, day, &v), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_duration_ms("0s", 1, 1, day, &v), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_duration_ms("99999999999999999999s", 1, 0, UINT64_MAX, &v),
	          ST7_ERR_RANGE);
	CHECK_INT(st7_parse_duration_ms("18446744073709551615d", 1, 0, UINT64_MAX, &v),
	          ST7_ERR_RANGE);
	CHECK_INT(st7_parse_duration_ms("18446744073709551615", 1000, 0, UINT64_MAX, &v),
	          ST7_ERR_RANGE);
	/* A malformed tail after an overflowing part is still malformed. */
	CHECK_INT(st7_parse_duration_ms("99999999999999999999sx", 1, 0, UINT64_MAX, &v),
	          ST7_ERR_FORMAT);
	CHECK_INT(v, 1);
}

static void test_time_and_bool(void)
{
	unsigned m = 9;
	bool b = false;
	CHECK_INT(st7_parse_time_of_day("02:00", &m), ST7_OK);
	CHECK_INT(m, 120);
	CHECK_INT(st7_parse_time_of_day("23:59", &m), ST7_OK);
	CHECK_INT(m, 1439);
	CHECK_INT(st7_parse_time_of_day("0:05", &m), ST7_OK);
	CHECK_INT(m, 5);
	m = 9;
	CHECK_INT(st7_parse_time_of_day("24:00", &m), ST7_ERR_RANGE);
	CHECK_INT(st7_parse_time_of_day("12:60", &m), ST7_ERR_RANGE);
	const char *bad[] = { "",       "12",    "12:5", "123:00", "12:000",
		              "12:00 ", "a2:00", ":30",  "1:2:3" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(st7_parse_time_of_day(bad[i], &m), ST7_ERR_FORMAT);
	CHECK_INT(m, 9);

	const char *yes[] = { "yes", "YES", "true", "On", "1" };
	const char *no[] = { "no", "False", "off", "0" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		CHECK_INT(st7_parse_bool(yes[i], &b), ST7_OK);
		CHECK(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		CHECK_INT(st7_parse_bool(no[i], &b), ST7_OK);
		CHECK(!b);
	}
	CHECK_INT(st7_parse_bool("yess", &b), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_bool("", &b), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_bool("2", &b), ST7_ERR_FORMAT);
}

static void test_format_round_trip(void)
{
	static const uint64_t ms[] = { 0,       1,        999,      1000,     15000,         90250,
		                       5400000, 21600000, 86400000, 90061001, UINT64_MAX / 2 };
	char text[64];
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		uint64_t back = 1;
		st7_format_duration_ms(ms[i], text, sizeof(text));
		CHECK_INT(st7_parse_duration_ms(text, 0, 0, UINT64_MAX, &back), ST7_OK);
		CHECK(back == ms[i]);
	}
	st7_format_duration_ms(15000, text, sizeof(text));
	CHECK(strcmp(text, "15s") == 0);
	st7_format_duration_ms(5400000, text, sizeof(text));
	CHECK(strcmp(text, "1h30m") == 0);
	st7_format_duration_ms(500, text, sizeof(text));
	CHECK(strcmp(text, "500ms") == 0);
	st7_format_duration_ms(90061001, text, 4); /* cut, but terminated */
	CHECK(strlen(text) < 4);

	static const uint64_t sizes[] = {
		1, 100, 1024, 1536 * 1024, 16 << 20, (uint64_t)1 << 30, (uint64_t)3 << 40
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t back = 0;
		st7_format_size(sizes[i], text, sizeof(text));
		CHECK_INT(st7_parse_size(text, 0, UINT64_MAX, &back), ST7_OK);
		CHECK(back == sizes[i]);
	}
	st7_format_size(16 << 20, text, sizeof(text));
	CHECK(strcmp(text, "16M") == 0);
	st7_format_size(1536 * 1024, text, sizeof(text));
	CHECK(strcmp(text, "1536K") == 0);
}

static void test_utc(void)
{
	static const struct {
		const char *s;
		int ret;
		long long t;
	} cases[] = {
		{ "1970-01-01T00:00:00Z", ST7_OK, 0 },
		{ "2026-12-31T00:00:00Z", ST7_OK, 1798675200 },
		{ "2000-02-29T23:59:59Z", ST7_OK, 951868799 }, /* 400-year leap */
		{ "2024-02-29T12:00:00Z", ST7_OK, 1709208000 },
		{ "2038-01-19T03:14:08Z", ST7_OK, 2147483648LL }, /* past 32 bits */
		{ "9999-12-31T23:59:59Z", ST7_OK, 253402300799LL },
		{ "2026-02-29T00:00:00Z", ST7_ERR_RANGE, 0 },
		{ "2100-02-29T00:00:00Z", ST7_ERR_RANGE, 0 }, /* century, not leap */
		{ "2026-04-31T00:00:00Z", ST7_ERR_RANGE, 0 },
		{ "2026-00-10T00:00:00Z", ST7_ERR_RANGE, 0 },
		{ "2026-13-10T00:00:00Z", ST7_ERR_RANGE, 0 },
		{ "2026-01-00T00:00:00Z", ST7_ERR_RANGE, 0 },
		{ "2026-01-01T24:00:00Z", ST7_ERR_RANGE, 0 },
		{ "2026-01-01T00:60:00Z", ST7_ERR_RANGE, 0 },
		{ "2026-12-31T23:59:60Z", ST7_ERR_RANGE, 0 }, /* no leap seconds */
		{ "1969-12-31T23:59:59Z", ST7_ERR_RANGE, 0 },
		{ "2026-12-31T00:00:00", ST7_ERR_FORMAT, 0 },
		{ "2026-12-31T00:00:00z", ST7_ERR_FORMAT, 0 },
		{ "2026-12-31t00:00:00Z", ST7_ERR_FORMAT, 0 },
		{ "2026-12-31 00:00:00Z", ST7_ERR_FORMAT, 0 },
		{ "2026-12-31T00:00:00+00:00", ST7_ERR_FORMAT, 0 },
		{ "2026-12-31T00:00:00.5Z", ST7_ERR_FORMAT, 0 },
		{ "2026-1-31T00:00:00Z", ST7_ERR_FORMAT, 0 },
		{ "2026-12-31T00:00:0xZ", ST7_ERR_FORMAT, 0 },
		{ " 2026-12-31T00:00:00Z", ST7_ERR_FORMAT, 0 },
		{ "", ST7_ERR_FORMAT, 0 },
	};
	char text[32];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = -5;
		CHECK_INT(st7_parse_utc(cases[i].s, &t), cases[i].ret);
		if (cases[i].ret == ST7_OK) {
			CHECK_INT(t, cases[i].t);
			st7_format_utc(t, text, sizeof(text));
			CHECK(strcmp(text, cases[i].s) == 0);
		} else {
			CHECK_INT(t, -5); /* nothing written */
		}
	}
	CHECK_INT(st7_parse_utc(NULL, NULL), ST7_ERR_FORMAT);
	st7_format_utc(-1, text, sizeof(text));
	CHECK(strcmp(text, "1969-12-31T23:59:59Z") == 0);
	st7_format_utc(0, text, 5); /* cut, but terminated */
	CHECK(strcmp(text, "1970") == 0);
	/* Every day of four years round-trips (a cheap check of the calendar arithmetic). */
	for (int64_t t = 1704067200; t < 1704067200 + 4 * 366 * 86400LL; t += 86400 + 3661) {
		int64_t back = 0;
		st7_format_utc(t, text, sizeof(text));
		CHECK_INT(st7_parse_utc(text, &back), ST7_OK);
		CHECK_INT(back, t);
	}
}

static void test_sha256(void)
{
	uint8_t h[32], keep[32];
	char s[80];
	snprintf(s, sizeof(s), "%s",
	         "00112233445566778899aabbccddeeffAABBCCDDEEFF00112233445566778899");
	CHECK_INT(st7_parse_sha256(s, h), ST7_OK);
	CHECK(h[0] == 0x00 && h[1] == 0x11 && h[5] == 0x55 && h[15] == 0xff && h[16] == 0xaa &&
	      h[31] == 0x99);
	memcpy(keep, h, sizeof(h));
	s[63] = 'g'; /* not hex: nothing written */
	CHECK_INT(st7_parse_sha256(s, h), ST7_ERR_FORMAT);
	CHECK(memcmp(keep, h, sizeof(h)) == 0);
	s[63] = '\0'; /* 63 digits */
	CHECK_INT(st7_parse_sha256(s, h), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_sha256("", h), ST7_ERR_FORMAT);
	CHECK_INT(st7_parse_sha256(NULL, h), ST7_ERR_FORMAT);
}

int main(void)
{
	test_sha256();
	test_utc();
	test_uint();
	test_usb_ids();
	test_bcd();
	test_size();
	test_duration();
	test_time_and_bool();
	test_format_round_trip();
	return check_report();
}
