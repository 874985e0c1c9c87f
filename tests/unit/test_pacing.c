/* SPDX-License-Identifier: MIT */
/*
 * core/pacing: poll jitter and full-jitter backoff — bounds over many draws, both ends
 * reachable, roughly uniform bucket counts, the 1 s floor, Retry-After honoured (and its
 * 24 h ceiling), no overflow at the edges (huge intervals, failures up to UINT_MAX), and
 * splitmix64 against its reference outputs.
 */
#include "check.h"

#include <limits.h>
#include <stdint.h>

#include "pacing.h"

#define DRAWS 200000

static void test_rnd(void)
{
	/* Reference outputs of Vigna's splitmix64.c for seed 1234567. */
	uint64_t s = 1234567;
	CHECK(st7_rnd_next(&s) == 6457827717110365317ULL);
	CHECK(st7_rnd_next(&s) == 3203168211198807973ULL);
	CHECK(st7_rnd_next(&s) == 9817491932198370423ULL);
	CHECK(st7_rnd_next(&s) == 4593380528125082431ULL);
	CHECK(st7_rnd_next(&s) == 16408922859458223821ULL);
	/* Seed 0 is fine too: the state advances before mixing. */
	s = 0;
	CHECK(st7_rnd_next(&s) == 0xE220A8397B1DCDAFULL);
	CHECK(s == 0x9E3779B97F4A7C15ULL);
}

/* Counts of `n` draws of f over [lo, hi] in 10 buckets: each within 10 % of n / 10. */
static void check_uniform(const unsigned long b[10], unsigned long n, const char *what)
{
	for (int i = 0; i < 10; i++) {
		double e = (double)n / 10;
		if (b[i] < e * 0.9 || b[i] > e * 1.1) {
			check_failed++;
			fprintf(stderr, "%s: bucket %d has %lu of %lu draws\n", what, i, b[i], n);
		} else {
			check_passed++;
		}
	}
}

static void test_poll(void)
{
	uint64_t s = 42;
	unsigned long b[10] = { 0 };
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	int bad = 0;
	for (int i = 0; i < DRAWS; i++) {
		int64_t d = st7_poll_delay_ms(3600, 10, st7_rnd_next(&s));
		if (d < 3240000 || d > 3960000)
			bad++;
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
		int k = (int)((d - 3240000) * 10 / 720001);
		if (k >= 0 && k < 10)
			b[k]++;
	}
	CHECK_INT(bad, 0);
	/* Both ends nearly reached: 200k draws over 720001 values. */
	CHECK(lo < 3240000 + 20);
	CHECK(hi > 3960000 - 20);
	check_uniform(b, DRAWS, "poll 3600 s ±10 %");

	/* Exact ends, no jitter, the floor. */
	CHECK_INT(st7_poll_delay_ms(3600, 10, 0), 3240000);
	CHECK_INT(st7_poll_delay_ms(3600, 10, 720000), 3960000);
	CHECK_INT(st7_poll_delay_ms(3600, 10, 720001), 3240000);
	CHECK_INT(st7_poll_delay_ms(3600, 0, UINT64_MAX), 3600000);
	CHECK_INT(st7_poll_delay_ms(0, 0, 0), ST7_PACING_MIN_MS);
	CHECK_INT(st7_poll_delay_ms(0, 50, UINT64_MAX), ST7_PACING_MIN_MS);
	CHECK_INT(st7_poll_delay_ms(1, 50, 0), ST7_PACING_MIN_MS); /* 500 ms raised */
	CHECK_INT(st7_poll_delay_ms(1, 50, 1000), 1500);
	/* jitter above 100 % counts as 100 %: [0, 2] × interval, then the floor. */
	CHECK_INT(st7_poll_delay_ms(60, 250, 0), ST7_PACING_MIN_MS);
	CHECK_INT(st7_poll_delay_ms(60, 250, 120000), 120000);
	CHECK_INT(st7_poll_delay_ms(60, UINT_MAX, 120000), 120000);
	/* Odd percentages of odd intervals: iv × pct / 100 exactly (7 s × 33 % = 2310 ms). */
	CHECK_INT(st7_poll_delay_ms(7, 33, 0), 7000 - 2310);
	CHECK_INT(st7_poll_delay_ms(7, 33, 4620), 7000 + 2310);
	/* Huge intervals saturate instead of wrapping. */
	const int64_t max_ms = (int64_t)ST7_PACING_MAX_S * 1000;
	CHECK_INT(st7_poll_delay_ms(UINT64_MAX, 0, 0), max_ms);
	CHECK_INT(st7_poll_delay_ms(UINT64_MAX, 100, 2 * (uint64_t)max_ms), 2 * max_ms);
	CHECK_INT(st7_poll_delay_ms(UINT64_MAX / 1000 + 1, 0, 0), max_ms);
	s = 7;
	bad = 0;
	for (int i = 0; i < 10000; i++) {
		int64_t d = st7_poll_delay_ms(UINT64_MAX, 100, st7_rnd_next(&s));
		if (d < ST7_PACING_MIN_MS || d > 2 * max_ms)
			bad++;
	}
	CHECK_INT(bad, 0);
}

static void test_backoff(void)
{
	uint64_t s = 99;
	/* failures 3, base 10 s, cap 1 h: uniform over [0, 80 s], the floor at 1 s. */
	unsigned long b[10] = { 0 };
	int bad = 0, floored = 0;
	for (int i = 0; i < DRAWS; i++) {
		int64_t d = st7_backoff_delay_ms(3, 10, 3600, -1, st7_rnd_next(&s));
		if (d < ST7_PACING_MIN_MS || d > 80000)
			bad++;
		if (d == ST7_PACING_MIN_MS)
			floored++;
		b[d * 10 / 80001]++;
	}
	CHECK_INT(bad, 0);
	/* 1001 of 80001 values end at 1 s (0..1000 ms): about 1.25 %. */
	CHECK(floored > DRAWS / 100 && floored < DRAWS * 15 / 1000);
	/* The first bucket holds the floored draws too: still about a tenth. */
	check_uniform(b, DRAWS, "backoff 3 × 10 s");

	/* The ceiling doubles per failure up to the cap. */
	CHECK_INT(st7_backoff_delay_ms(0, 10, 3600, -1, 10000), 10000);
	CHECK_INT(st7_backoff_delay_ms(0, 10, 3600, -1, 10001), ST7_PACING_MIN_MS); /* wraps */
	CHECK_INT(st7_backoff_delay_ms(1, 10, 3600, -1, 20000), 20000);
	CHECK_INT(st7_backoff_delay_ms(8, 10, 3600, -1, 2560000), 2560000);
	CHECK_INT(st7_backoff_delay_ms(9, 10, 3600, -1, 3600000), 3600000); /* 5120 s capped */
	CHECK_INT(st7_backoff_delay_ms(9, 10, 3600, -1, 3600001), ST7_PACING_MIN_MS);
	/* Overflow edges: shifts past 63 and huge bases saturate at the cap. */
	const unsigned edges[] = {
		30, 31, 32, 52, 53, 62, 63, 64, 65, 1000, UINT_MAX - 1, UINT_MAX
	};
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		CHECK_INT(st7_backoff_delay_ms(edges[i], 10, 3600, -1, 3600000), 3600000);
		CHECK_INT(st7_backoff_delay_ms(edges[i], 10, 3600, -1, UINT64_MAX),
		          (int64_t)(UINT64_MAX % 3600001));
		CHECK_INT(st7_backoff_delay_ms(edges[i], UINT64_MAX, UINT64_MAX, -1,
		                               ST7_PACING_MAX_S * 1000),
		          (int64_t)ST7_PACING_MAX_S * 1000);
	}
	s = 5;
	bad = 0;
	for (unsigned f = 0; f < 200; f++)
		for (int i = 0; i < 200; i++) {
			int64_t d = st7_backoff_delay_ms(f, UINT64_MAX, UINT64_MAX, -1,
			                                 st7_rnd_next(&s));
			if (d < ST7_PACING_MIN_MS || d > (int64_t)ST7_PACING_MAX_S * 1000)
				bad++;
		}
	CHECK_INT(bad, 0);
	/* base or cap 0: the floor. */
	CHECK_INT(st7_backoff_delay_ms(5, 0, 3600, -1, UINT64_MAX), ST7_PACING_MIN_MS);
	CHECK_INT(st7_backoff_delay_ms(5, 10, 0, -1, UINT64_MAX), ST7_PACING_MIN_MS);
	/* base above cap: the cap. */
	CHECK_INT(st7_backoff_delay_ms(0, 100, 50, -1, 50000), 50000);

	/* Retry-After: at least what the server said, over every draw. */
	s = 3;
	bad = 0;
	for (int i = 0; i < 20000; i++) {
		int64_t d = st7_backoff_delay_ms(2, 10, 3600, 30, st7_rnd_next(&s));
		if (d < 30000 || d > 40000)
			bad++;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(st7_backoff_delay_ms(2, 10, 3600, 30, 35000), 35000); /* the draw is later */
	CHECK_INT(st7_backoff_delay_ms(2, 10, 3600, 0, 0), ST7_PACING_MIN_MS);
	CHECK_INT(st7_backoff_delay_ms(2, 10, 3600, -5, 0), ST7_PACING_MIN_MS);
	/* Above the cap: honoured up to 24 h. */
	CHECK_INT(st7_backoff_delay_ms(2, 10, 60, 7200, UINT64_MAX), 7200000);
	CHECK_INT(st7_backoff_delay_ms(2, 10, 60, 86400, 0), 86400000);
	CHECK_INT(st7_backoff_delay_ms(2, 10, 60, 86401, 0), 86400000);
	CHECK_INT(st7_backoff_delay_ms(2, 10, 60, INT64_MAX, 0), 86400000);
	/* A cap above 24 h still bounds the draw, not Retry-After's ceiling. */
	CHECK_INT(st7_backoff_delay_ms(40, 10, 7 * 86400, INT64_MAX, 7 * 86400000ULL),
	          7 * 86400000LL);
}

int main(void)
{
	test_rnd();
	test_poll();
	test_backoff();
	return check_report();
}
