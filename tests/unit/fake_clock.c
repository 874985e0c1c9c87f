/* SPDX-License-Identifier: MIT */
#include "fake_clock.h"

#include <stddef.h>

/* A reading returns the time, then charges its cost (fake_clock.h: read_cost_us). */
static uint64_t read_us(struct fake_clock *fc)
{
	uint64_t t = fc->now_us;
	fc->now_us += fc->read_cost_us;
	return t;
}

static uint64_t now_ms(void *ctx)
{
	return read_us(ctx) / 1000;
}

static uint64_t now_us(void *ctx)
{
	return read_us(ctx);
}

/* To `deadline` (if it is ahead), plus how late the current slack lets a wake-up be. */
static void sleep_to(struct fake_clock *fc, uint64_t deadline)
{
	uint64_t late = fc->slack_ns && fc->slack_ns < 1000 ? 0 : fc->late_us;
	uint64_t wake = deadline > fc->now_us ? deadline + late : fc->now_us;
	fc->sleeps++;
	fc->slept_us += wake - fc->now_us;
	fc->now_us = wake;
}

static bool sleep_until_us(void *ctx, uint64_t deadline_us)
{
	struct fake_clock *fc = ctx;
	if (fc->signal_at_us && fc->signal_at_us > fc->now_us && fc->signal_at_us < deadline_us) {
		fc->sleeps++;
		fc->slept_us += fc->signal_at_us - fc->now_us;
		fc->now_us = fc->signal_at_us;
		fc->signal_at_us = 0;
		if (fc->signal_flag)
			*fc->signal_flag = 1;
		return false; /* woken by the signal */
	}
	sleep_to(fc, deadline_us);
	return true;
}

static uint64_t set_slack_ns(void *ctx, uint64_t ns)
{
	struct fake_clock *fc = ctx;
	uint64_t old = fc->slack_ns;
	fc->slack_ns = ns;
	fc->slack_sets++;
	return old;
}

void fake_clock_init(struct fake_clock *fc)
{
	fc->now_us = 1000000;
	fc->sleeps = fc->slept_us = 0;
	fc->late_us = fc->read_cost_us = fc->slack_ns = fc->slack_sets = 0;
	fc->signal_at_us = 0;
	fc->signal_flag = NULL;
	fc->clock.now_ms = now_ms;
	fc->clock.now_us = now_us;
	fc->clock.sleep_until_us = sleep_until_us;
	fc->clock.set_slack_ns = set_slack_ns;
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
