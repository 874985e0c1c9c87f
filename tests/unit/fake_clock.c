/* SPDX-License-Identifier: MIT */
#include "fake_clock.h"

static uint64_t now_ms(void *ctx)
{
	return ((struct fake_clock *)ctx)->now_us / 1000;
}

static void sleep_ms(void *ctx, uint32_t ms)
{
	struct fake_clock *fc = ctx;
	fc->sleeps++;
	fc->slept_us += (uint64_t)ms * 1000;
	fc->now_us += (uint64_t)ms * 1000;
}

void fake_clock_init(struct fake_clock *fc)
{
	fc->now_us = 1000000;
	fc->sleeps = fc->slept_us = 0;
	fc->clock.now_ms = now_ms;
	fc->clock.sleep_ms = sleep_ms;
	fc->clock.ctx = fc;
}

uint64_t fake_clock_us(const struct fake_clock *fc)
{
	return fc->now_us;
}

void fake_clock_advance_us(struct fake_clock *fc, uint64_t us)
{
	fc->now_us += us;
}
