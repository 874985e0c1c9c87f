/* SPDX-License-Identifier: MIT */
#include "pacing.h"

#include <stdint.h>

/* Seconds to milliseconds, saturated at ST7_PACING_MAX_S: at most 1e12. */
static uint64_t ms_of(uint64_t s)
{
	return (s > ST7_PACING_MAX_S ? ST7_PACING_MAX_S : s) * 1000u;
}

/* Uniform over [0, hi], hi <= 2e12. */
static uint64_t draw_upto(uint64_t hi, uint64_t rnd)
{
	return rnd % (hi + 1);
}

static int64_t at_least_min(uint64_t ms)
{
	return ms < ST7_PACING_MIN_MS ? ST7_PACING_MIN_MS : (int64_t)ms;
}

int64_t st7_poll_delay_ms(uint64_t interval_s, unsigned jitter_pct, uint64_t rnd)
{
	uint64_t iv = ms_of(interval_s);
	uint64_t pct = jitter_pct > 100 ? 100 : jitter_pct;
	uint64_t j = iv / 100 * pct + iv % 100 * pct / 100; /* iv × pct / 100, exact */
	/* iv - j >= 0 and iv + j <= 2e12. */
	return at_least_min(iv - j + draw_upto(2 * j, rnd));
}

int64_t st7_backoff_delay_ms(unsigned failures, uint64_t base_s, uint64_t cap_s,
                             int64_t retry_after_s, uint64_t rnd)
{
	uint64_t base = ms_of(base_s), cap = ms_of(cap_s);
	uint64_t ceiling;
	/* base × 2^failures, saturated at cap: shifted only when the result stays <= cap. */
	if (base == 0)
		ceiling = 0;
	else if (failures >= 64 || base > (cap >> failures))
		ceiling = cap;
	else
		ceiling = base << failures;
	uint64_t d = draw_upto(ceiling, rnd);
	if (retry_after_s >= 0) {
		uint64_t ra = (uint64_t)retry_after_s > ST7_RETRY_AFTER_MAX_S
		                      ? ST7_RETRY_AFTER_MAX_S * 1000ULL
		                      : (uint64_t)retry_after_s * 1000u;
		if (d < ra)
			d = ra;
	}
	return at_least_min(d);
}

uint64_t st7_rnd_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}
