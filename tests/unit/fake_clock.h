/* SPDX-License-Identifier: MIT */
/*
 * A fake clock for in-process tests (st7_clock, clock.h): virtual time in microseconds
 * that moves only when someone sleeps or a test (or the emulated transport) advances it,
 * so a run that waits minutes of device time takes milliseconds.
 */
#ifndef ST7_FAKE_CLOCK_H
#define ST7_FAKE_CLOCK_H

#include <signal.h>
#include <stdint.h>

#include "clock.h"

struct fake_clock {
	uint64_t now_us;   /* virtual time; starts at 1 s so that 0 means "never set" */
	uint64_t sleeps;   /* sleep_until_us calls */
	uint64_t slept_us; /* virtual time spent in them */
	/* The kernel's timer slack, modelled: every sleep wakes `late_us` after its
	 * deadline unless the slack is below 1 us. 0 unless a test sets it. */
	uint64_t late_us;
	/* Virtual time each now_ms/now_us reading moves the clock on: the host's own
	 * work, which a deadline counted from a reply must not add to the wait. 0 unless
	 * a test sets it. */
	uint64_t read_cost_us;
	uint64_t slack_ns;   /* what set_slack_ns set; 0 is the process default */
	uint64_t slack_sets; /* set_slack_ns calls */
	/* A signal, modelled: the first sleep that spans `signal_at_us` (0: never) wakes
	 * there, sets *signal_flag (as a SIGINT handler would) and reports the early
	 * wake-up. */
	uint64_t signal_at_us;
	volatile sig_atomic_t *signal_flag;
	struct st7_clock clock; /* the interface: &fc->clock is what engines take */
};

/* A clock at 1 s of virtual time; fc->clock is ready to lend. */
void fake_clock_init(struct fake_clock *fc);
uint64_t fake_clock_us(const struct fake_clock *fc);
void fake_clock_advance_us(struct fake_clock *fc, uint64_t us);

#endif
