/* SPDX-License-Identifier: MIT */
/*
 * Pacing for the daemon (`st7dfu run`): how long to wait before the next poll, and before
 * the next try after failures. Pure: no clock, no I/O, no randomness of its own — the
 * caller draws a uint64 (st7_rnd_next over a state it seeded from /dev/urandom or the
 * time) and passes it in, so the same inputs give the same delay and tests are exact.
 *
 * Every delay is in milliseconds, at least ST7_PACING_MIN_MS (a daemon never spins), and
 * computed without overflow for any argument: seconds above ST7_PACING_MAX_S count as
 * ST7_PACING_MAX_S (about 31.7 years), so every product fits an int64_t. A uint64 draw is
 * mapped onto a range of n values by `rnd % n`; n is at most 2e12 here, so the bias
 * (below n / 2^64, under 1e-7) is irrelevant for pacing.
 */
#ifndef ST7_PACING_H
#define ST7_PACING_H

#include <stdint.h>

#define ST7_PACING_MIN_MS 1000
#define ST7_PACING_MAX_S 1000000000ULL
/* The most a server's Retry-After is honoured for, beyond the caller's cap: 24 hours. A
 * larger value is taken as 24 hours (a broken or hostile server does not park a gateway
 * for weeks; it can ask again next time). */
#define ST7_RETRY_AFTER_MAX_S 86400

/*
 * The next poll after a normal cycle: `interval_s` ± `jitter_pct` percent, uniform. With
 * jitter_pct 10, uniform over [0.9, 1.1] × interval (whole milliseconds, both ends
 * included); jitter_pct 0 gives the interval itself; above 100 counts as 100 (uniform
 * over [0, 2] × interval). Never below ST7_PACING_MIN_MS (an interval of 0 polls every
 * second).
 */
int64_t st7_poll_delay_ms(uint64_t interval_s, unsigned jitter_pct, uint64_t rnd);

/*
 * The wait after `failures` consecutive failures (1 after the first), exponential backoff
 * with "full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015):
 * uniform over [0, min(cap, base × 2^failures)] milliseconds. Then:
 *  - retry_after_s >= 0 (the server said Retry-After): at least that, even above cap, up
 *    to ST7_RETRY_AFTER_MAX_S; retry_after_s < 0: the server said nothing;
 *  - at least ST7_PACING_MIN_MS, even when cap or base is 0.
 * So the result is max(MIN, min(draw, cap), min(retry_after, 24 h)) with draw <= cap.
 * base × 2^failures saturates at cap for any `failures` up to UINT_MAX.
 */
int64_t st7_backoff_delay_ms(unsigned failures, uint64_t base_s, uint64_t cap_s,
                             int64_t retry_after_s, uint64_t rnd);

/*
 * splitmix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014; Vigna's public-domain reference): advances *state and returns the next
 * 64-bit draw. Any seed works, 0 included. Not for secrets: for spreading a fleet's polls.
 */
uint64_t st7_rnd_next(uint64_t *state);

#endif
