/* SPDX-License-Identifier: MIT */
/*
 * The decision: for every attached device, the release it should get now, or none, and
 * why. Pure: no USB, no network, no clock but `now`, no file. The same inputs give the
 * same plan (the README's "How the agent decides" states these rules for users).
 *
 * For each device, in this order; the first rule that settles it gives the reason:
 *  1. Its [device] rules (policy.h): several matching = POLICY_AMBIGUOUS (a policy error,
 *     never a guess); the one that matches gives hold, floor, channel, profile and, for a
 *     device in DFU mode, its runtime IDs. hold = HELD.
 *  2. Its runtime IDs: its own (runtime mode), the rule's `match` (DFU mode), else none.
 *  3. Candidates: releases whose match VID:PID equals the runtime IDs (in DFU mode
 *     without a rule's IDs: whose VID equals the loader's and whose profile is one the
 *     descriptors fit), whose profile (if set) is the device's (the rule's profile, else
 *     one its descriptors fit; several parts look alike, so a release's profile matches
 *     when it is one of them), whose serial glob (if set) matches, and whose channel (if
 *     set) is the device's. None = NO_RELEASE.
 *  4. Runtime mode: a candidate whose version equals the device's = UP_TO_DATE. Then keep
 *     the candidates whose `from` range holds the device's version (DFU mode: all, the
 *     version is unknown). None left = NOT_FROM; two or more = AMBIGUOUS (naming them).
 *  5. The one release R: R.version below the rule's min_version = BELOW_FLOOR; in runtime
 *     mode R.version lower than the device's without R.downgrade = DOWNGRADE_REFUSED.
 *  6. R.paused = PAUSED. Failed `max_attempts` times or more with this very release
 *     (name and sha256) = FAILED_MAX.
 *  7. DFU mode: RECOVER (not subject to 8-10: a device stuck in its loader does nothing
 *     useful, so it gets the release as soon as it is seen).
 *  8. R.not_before > now = NOT_YET; cohort >= R.rollout = NOT_IN_COHORT; window closed =
 *     OUTSIDE_WINDOW. Else UPDATE.
 */
#ifndef ST7_DECIDE_H
#define ST7_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "policy.h"
#include "schedule.h"

/* One attached device, as a scan described it. */
struct st7_plan_device {
	char serial[128]; /* "" when it has none */
	char path[32];    /* USB port path */
	uint16_t vid, pid;
	uint16_t version;  /* bcdDevice; meaningless in DFU mode */
	bool dfu_mode;     /* in its loader (DFU mode): no valid application */
	unsigned profiles; /* st7_profile_match() bits; 0 not an ST7 */
};

/* What the device history says about one (device, release) pair. */
struct st7_plan_attempts {
	char serial[128];
	char release[ST7_MANIFEST_NAME_MAX];
	uint8_t sha256[32];
	unsigned failures;
};

struct st7_plan_input {
	const struct st7_device_rules *rules; /* may be NULL: none */
	const struct st7_manifest *manifest;
	const struct st7_plan_device *devices;
	size_t n_devices;
	const struct st7_plan_attempts *attempts; /* may be NULL when n_attempts is 0 */
	size_t n_attempts;
	const char *gateway_id; /* the cohort's seed */
	const char *channel;    /* the gateway's channel ([agent] channel) */
	int64_t now;            /* seconds since the epoch */
	struct st7_window_state window;
	unsigned max_attempts; /* >= 1 */
};

enum st7_plan_reason {
	ST7_PLAN_UPDATE,  /* chosen */
	ST7_PLAN_RECOVER, /* chosen: the device waits in DFU mode */
	ST7_PLAN_UP_TO_DATE,
	ST7_PLAN_HELD,
	ST7_PLAN_BELOW_FLOOR,
	ST7_PLAN_DOWNGRADE_REFUSED,
	ST7_PLAN_NOT_IN_COHORT,
	ST7_PLAN_OUTSIDE_WINDOW,
	ST7_PLAN_PAUSED,
	ST7_PLAN_NOT_YET,
	ST7_PLAN_FAILED_MAX,
	ST7_PLAN_NO_RELEASE,
	ST7_PLAN_NOT_FROM,
	ST7_PLAN_AMBIGUOUS,
	ST7_PLAN_POLICY_AMBIGUOUS,
	ST7_PLAN_BAD_URL /* set by the caller: the release's image URL is refused */
};

struct st7_plan_row {
	size_t device; /* index in input.devices */
	long release;  /* index in manifest->releases; -1 none. Set for every reason that
	                * names one release (all but NO_RELEASE, AMBIGUOUS and the policy
	                * ones), so that the reader sees which release is held back */
	long rule;     /* index in rules->r; -1 none */
	enum st7_plan_reason reason;
	bool chosen;       /* UPDATE or RECOVER */
	unsigned cohort;   /* NOT_IN_COHORT and UPDATE: the gateway's cohort, 0..99 */
	unsigned failures; /* FAILED_MAX: how many */
	int64_t until;     /* NOT_YET: not_before; OUTSIDE_WINDOW: next_open (0 never) */
	char detail[256];  /* one line for people: the reason with its figures */
};

/* Stable machine name of a reason ("up-to-date", "not-in-cohort"...) for --json. */
const char *st7_plan_reason_name(enum st7_plan_reason r);

/* Decide: rows[i] for devices[i]. `rows` has n_devices entries (the caller's). */
void st7_plan_decide(const struct st7_plan_input *in, struct st7_plan_row *rows);

#endif
