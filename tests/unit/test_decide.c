/* SPDX-License-Identifier: MIT */
/* decide: every reason, case by case, and the order of the rules. Manifests are built by
 * hand (the parser is tested on its own). */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "decide.h"

#define NOW 1796092200       /* 2026-12-01T02:30:00Z */
#define NEXT_OPEN 1796176800 /* 2026-12-02T02:00:00Z */
#define P62 (1u << 0)        /* st7_profile_at(0) */
#define P63 (1u << 1)
#define P65 (1u << 2)

/* One scenario; kept static (the rules table is large). */
static struct {
	struct st7_release rel[4];
	struct st7_manifest man;
	struct st7_device_rules rules;
	struct st7_plan_device dev[2];
	struct st7_plan_attempts att[2];
	struct st7_plan_input in;
} s;

static void release(size_t i, const char *name, uint16_t version)
{
	struct st7_release *r = &s.rel[i];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->vid = 0x0483;
	r->pid = 0xff03;
	r->version = version;
	snprintf(r->url, sizeof(r->url), "%s.dfu", name);
	memset(r->sha256, 0x10 + (int)i, sizeof(r->sha256));
	r->size = 28688;
	r->rollout = 100;
	if (s.man.n_releases < i + 1)
		s.man.n_releases = i + 1;
}

static struct st7_device_rule *rule(const char *name)
{
	struct st7_device_rule *r = &s.rules.r[s.rules.n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->line = (unsigned)s.rules.n * 10;
	return r;
}

/* The baseline: one release 0x0237 for a device at 0x0236, window open: UPDATE. */
static void baseline(void)
{
	memset(&s, 0, sizeof(s));
	s.man.serial = 42;
	s.man.releases = s.rel;
	release(0, "reader-2.37", 0x0237);
	s.dev[0] = (struct st7_plan_device){ .serial = "ST7-0042",
		                             .path = "1-1.2",
		                             .vid = 0x0483,
		                             .pid = 0xff03,
		                             .version = 0x0236,
		                             .profiles = P65 };
	s.in = (struct st7_plan_input){ .rules = &s.rules,
		                        .manifest = &s.man,
		                        .devices = s.dev,
		                        .n_devices = 1,
		                        .attempts = s.att,
		                        .gateway_id = "gw-1",
		                        .channel = "stable",
		                        .now = NOW,
		                        .window = { .open = true },
		                        .max_attempts = 3 };
}

/* A device in its loader, recognised by its serial number through a rule. */
static void dfu_with_rule(void)
{
	s.dev[0].dfu_mode = true;
	s.dev[0].pid = 0xdf11;
	s.dev[0].version = 0x2200; /* the loader's; meaningless */
	struct st7_device_rule *r = rule("reader");
	strcpy(r->serial_glob, "ST7-00*");
	r->has_ids = true, r->vid = 0x0483, r->pid = 0xff03;
}

static unsigned cohort0(void)
{
	return st7_cohort("gw-1", "reader-2.37");
}

static void c_update(void)
{
}
static void c_up_to_date(void)
{
	s.dev[0].version = 0x0237;
}
static void c_up_to_date_before_from(void)
{
	s.dev[0].version = 0x0237;
	s.rel[0].has_from = true, s.rel[0].from_lo = 0x0100, s.rel[0].from_hi = 0x0200;
}
static void c_held(void)
{
	rule("frozen")->hold = true;
	strcpy(s.rules.r[0].serial_glob, "ST7-00*");
	s.rel[0].paused = true; /* rule 1 comes first */
}
static void c_policy_ambiguous(void)
{
	strcpy(rule("by-serial")->serial_glob, "ST7-*");
	strcpy(rule("by-port")->port, "1-1.2");
	s.rules.r[1].hold = true; /* ambiguity before hold */
}
static void c_rule_no_match(void)
{
	strcpy(rule("other")->serial_glob, "XX-*");
	s.rules.r[0].hold = true;
}
static void c_no_release_ids(void)
{
	s.rel[0].pid = 0xff04;
}
static void c_no_release_channel(void)
{
	strcpy(s.rel[0].channel, "beta");
}
static void c_channel_from_rule(void)
{
	strcpy(s.rel[0].channel, "beta");
	struct st7_device_rule *r = rule("beta-tester");
	strcpy(r->port, "1-1.2");
	strcpy(r->channel, "beta");
}
static void c_channel_same(void)
{
	strcpy(s.rel[0].channel, "stable");
}
static void c_serial_glob_no(void)
{
	strcpy(s.rel[0].serial_glob, "ST7-1*");
}
static void c_serial_glob_yes(void)
{
	strcpy(s.rel[0].serial_glob, "ST7-00[0-9]2");
}
static void c_profile_no(void)
{
	strcpy(s.rel[0].profile, "st72f62");
}
static void c_profile_lookalike(void)
{
	s.dev[0].profiles = P62 | P63;
	strcpy(s.rel[0].profile, "st72f63");
}
static void c_profile_from_rule(void)
{
	strcpy(s.rel[0].profile, "st72f62");
	struct st7_device_rule *r = rule("old-part");
	strcpy(r->port, "1-1.2");
	strcpy(r->profile, "st72f62"); /* the rule says what the descriptors cannot */
}
static void c_profile_rule_overrides(void)
{
	s.dev[0].profiles = P62 | P63 | P65;
	strcpy(s.rel[0].profile, "st72f65");
	struct st7_device_rule *r = rule("old-part");
	strcpy(r->port, "1-1.2");
	strcpy(r->profile, "st72f62");
}
static void c_not_from(void)
{
	s.rel[0].has_from = true, s.rel[0].from_lo = 0x0200, s.rel[0].from_hi = 0x0230;
}
static void c_from_picks_one(void)
{
	s.rel[0].has_from = true, s.rel[0].from_lo = 0x0100, s.rel[0].from_hi = 0x0199;
	release(1, "reader-2.37-b", 0x0237);
	s.rel[1].has_from = true, s.rel[1].from_lo = 0x0200, s.rel[1].from_hi = 0x0236;
}
static void c_not_from_two(void)
{
	c_not_from();
	release(1, "reader-2.38", 0x0238);
	s.rel[1].has_from = true, s.rel[1].from_lo = 0x0236, s.rel[1].from_hi = 0x0236;
	s.dev[0].version = 0x0235;
}
static void c_ambiguous(void)
{
	release(1, "reader-2.38", 0x0238);
	s.rel[1].paused = true; /* ambiguity is settled before paused */
}
static void c_ambiguous_other_channel_ok(void)
{
	release(1, "reader-2.38", 0x0238);
	strcpy(s.rel[1].channel, "beta");
}
static void c_below_floor(void)
{
	struct st7_device_rule *r = rule("floor");
	r->has_ids = true, r->vid = 0x0483, r->pid = 0xff03;
	r->has_min_version = true, r->min_version = 0x0300;
	s.rel[0].paused = true;
}
static void c_floor_ok(void)
{
	c_below_floor();
	s.rules.r[0].min_version = 0x0237;
	s.rel[0].paused = false;
}
static void c_downgrade_refused(void)
{
	s.rel[0].version = 0x0200;
}
static void c_downgrade_allowed(void)
{
	s.rel[0].version = 0x0200;
	s.rel[0].downgrade = true;
}
static void c_paused(void)
{
	s.rel[0].paused = true;
	s.rel[0].rollout = 0; /* 6 before 8 */
	s.in.window.open = false;
}
static void attempts(const char *release_name, uint8_t sha_byte, unsigned failures)
{
	struct st7_plan_attempts *a = &s.att[s.in.n_attempts++];
	strcpy(a->serial, "ST7-0042");
	snprintf(a->release, sizeof(a->release), "%s", release_name);
	memset(a->sha256, sha_byte, sizeof(a->sha256));
	a->failures = failures;
}
static void c_failed_max(void)
{
	attempts("reader-2.37", 0x10, 3);
	s.in.window.open = false;
}
static void c_failed_below_max(void)
{
	attempts("reader-2.37", 0x10, 2);
}
static void c_failed_other_build(void)
{
	attempts("reader-2.37", 0x99, 7); /* another image under the same name */
	attempts("reader-2.36", 0x10, 7);
}
static void c_failed_other_device(void)
{
	attempts("reader-2.37", 0x10, 7);
	strcpy(s.att[0].serial, "ST7-0043");
}
static void c_not_yet(void)
{
	s.rel[0].has_not_before = true;
	s.rel[0].not_before = NOW + 3600;
	s.rel[0].rollout = 0;
}
static void c_not_before_past(void)
{
	s.rel[0].has_not_before = true;
	s.rel[0].not_before = NOW;
}
static void c_not_in_cohort_zero(void)
{
	s.rel[0].rollout = 0;
	s.in.window.open = false;
}
static void c_not_in_cohort_edge(void)
{
	s.rel[0].rollout = cohort0();
}
static void c_in_cohort_edge(void)
{
	s.rel[0].rollout = cohort0() + 1;
}
static void c_outside_window(void)
{
	s.in.window =
	        (struct st7_window_state){ .open = false, .opens = true, .next_open = NEXT_OPEN };
}
static void c_outside_window_never(void)
{
	s.in.window = (struct st7_window_state){ .open = false };
}
static void c_recover(void)
{
	dfu_with_rule();
	s.rel[0].has_from = true, s.rel[0].from_lo = 0x0100, s.rel[0].from_hi = 0x0101;
	s.rel[0].version = 0x0100; /* no downgrade check: the version is unknown */
	s.rel[0].rollout = 0;
	s.rel[0].has_not_before = true, s.rel[0].not_before = NOW + 86400;
	s.in.window.open = false;
}
static void c_recover_same_version(void)
{
	dfu_with_rule();
	s.dev[0].version = 0x0237; /* not "up to date": the loader's word means nothing */
}
static void c_recover_held(void)
{
	dfu_with_rule();
	s.rules.r[0].hold = true;
}
static void c_recover_paused(void)
{
	dfu_with_rule();
	s.rel[0].paused = true;
}
static void c_recover_failed(void)
{
	dfu_with_rule();
	attempts("reader-2.37", 0x10, 4);
}
static void c_recover_floor(void)
{
	dfu_with_rule();
	s.rules.r[0].has_min_version = true, s.rules.r[0].min_version = 0x0240;
}
static void c_recover_two(void)
{
	dfu_with_rule();
	release(1, "reader-2.38", 0x0238);
}
static void c_dfu_by_profile(void)
{
	s.dev[0].dfu_mode = true, s.dev[0].pid = 0xdf11;
	strcpy(s.rel[0].profile, "st72f65");
}
static void c_dfu_no_profile(void)
{
	s.dev[0].dfu_mode = true, s.dev[0].pid = 0xdf11;
}
static void c_dfu_other_profile(void)
{
	s.dev[0].dfu_mode = true, s.dev[0].pid = 0xdf11;
	s.dev[0].profiles = P62 | P63;
	strcpy(s.rel[0].profile, "st72f65");
}
static void c_dfu_other_vendor(void)
{
	c_dfu_by_profile();
	s.dev[0].vid = 0x1234;
}
static void c_dfu_match_only_rule(void)
{
	/* A rule with `match` alone does not claim a loader; the profile still finds it,
	 * and the rule's hold does not apply. */
	c_dfu_by_profile();
	struct st7_device_rule *r = rule("runtime-only");
	r->has_ids = true, r->vid = 0x0483, r->pid = 0xff03;
	r->hold = true;
}

static const struct {
	const char *name;
	void (*setup)(void);
	enum st7_plan_reason reason;
	long release, rule;
	const char *detail;
} cases[] = {
	{ "update", c_update, ST7_PLAN_UPDATE, 0, -1, "update from 0x0236 to 0x0237" },
	{ "up-to-date", c_up_to_date, ST7_PLAN_UP_TO_DATE, 0, -1, "up to date: version 0x0237" },
	{ "up-to-date before from", c_up_to_date_before_from, ST7_PLAN_UP_TO_DATE, 0, -1, NULL },
	{ "held", c_held, ST7_PLAN_HELD, -1, 0, "held by [device \"frozen\"]" },
	{ "policy ambiguous", c_policy_ambiguous, ST7_PLAN_POLICY_AMBIGUOUS, -1, -1,
	  "[device \"by-serial\"] and [device \"by-port\"] both match" },
	{ "rule not matching", c_rule_no_match, ST7_PLAN_UPDATE, 0, -1, NULL },
	{ "no release (ids)", c_no_release_ids, ST7_PLAN_NO_RELEASE, -1, -1,
	  "no release in the manifest for 0483:ff03 on channel 'stable'" },
	{ "no release (channel)", c_no_release_channel, ST7_PLAN_NO_RELEASE, -1, -1, NULL },
	{ "channel from the rule", c_channel_from_rule, ST7_PLAN_UPDATE, 0, 0, NULL },
	{ "channel same", c_channel_same, ST7_PLAN_UPDATE, 0, -1, NULL },
	{ "serial glob no", c_serial_glob_no, ST7_PLAN_NO_RELEASE, -1, -1, NULL },
	{ "serial glob yes", c_serial_glob_yes, ST7_PLAN_UPDATE, 0, -1, NULL },
	{ "profile no", c_profile_no, ST7_PLAN_NO_RELEASE, -1, -1, NULL },
	{ "profile look-alike", c_profile_lookalike, ST7_PLAN_UPDATE, 0, -1, NULL },
	{ "profile from the rule", c_profile_from_rule, ST7_PLAN_UPDATE, 0, 0, NULL },
	{ "rule profile overrides", c_profile_rule_overrides, ST7_PLAN_NO_RELEASE, -1, 0, NULL },
	{ "not from", c_not_from, ST7_PLAN_NOT_FROM, 0, -1,
	  "version 0x0236 is outside release 'reader-2.37''s from range 0x0200-0x0230" },
	{ "from picks one", c_from_picks_one, ST7_PLAN_UPDATE, 1, -1, "reader-2.37-b" },
	{ "not from (two)", c_not_from_two, ST7_PLAN_NOT_FROM, 0, -1,
	  "outside the from range of all 2 matching releases" },
	{ "ambiguous", c_ambiguous, ST7_PLAN_AMBIGUOUS, -1, -1,
	  "ambiguous: releases 'reader-2.37' and 'reader-2.38' both match" },
	{ "other channel not ambiguous", c_ambiguous_other_channel_ok, ST7_PLAN_UPDATE, 0, -1,
	  NULL },
	{ "below floor", c_below_floor, ST7_PLAN_BELOW_FLOOR, 0, 0,
	  "version 0x0237 is below the floor (min_version 0x0300" },
	{ "floor reached", c_floor_ok, ST7_PLAN_UPDATE, 0, 0, NULL },
	{ "downgrade refused", c_downgrade_refused, ST7_PLAN_DOWNGRADE_REFUSED, 0, -1,
	  "version 0x0200 is lower than the device's 0x0236" },
	{ "downgrade allowed", c_downgrade_allowed, ST7_PLAN_UPDATE, 0, -1,
	  "update from 0x0236 to 0x0200" },
	{ "paused", c_paused, ST7_PLAN_PAUSED, 0, -1, "release 'reader-2.37' is paused" },
	{ "failed max", c_failed_max, ST7_PLAN_FAILED_MAX, 0, -1,
	  "failed 3 times already on this device (max_attempts 3)" },
	{ "failed below max", c_failed_below_max, ST7_PLAN_UPDATE, 0, -1, NULL },
	{ "failed other build", c_failed_other_build, ST7_PLAN_UPDATE, 0, -1, NULL },
	{ "failed other device", c_failed_other_device, ST7_PLAN_UPDATE, 0, -1, NULL },
	{ "not yet", c_not_yet, ST7_PLAN_NOT_YET, 0, -1, "before 2026-12-01T03:30:00Z" },
	{ "not_before reached", c_not_before_past, ST7_PLAN_UPDATE, 0, -1, NULL },
	{ "not in cohort (0%)", c_not_in_cohort_zero, ST7_PLAN_NOT_IN_COHORT, 0, -1,
	  "not in the rollout: cohort " },
	{ "not in cohort (edge)", c_not_in_cohort_edge, ST7_PLAN_NOT_IN_COHORT, 0, -1, NULL },
	{ "in cohort (edge)", c_in_cohort_edge, ST7_PLAN_UPDATE, 0, -1, NULL },
	{ "outside window", c_outside_window, ST7_PLAN_OUTSIDE_WINDOW, 0, -1,
	  "outside the maintenance window until 2026-12-02T02:00:00Z" },
	{ "outside window, none", c_outside_window_never, ST7_PLAN_OUTSIDE_WINDOW, 0, -1,
	  "none opens within 8 days" },
	{ "recover", c_recover, ST7_PLAN_RECOVER, 0, 0, "DFU mode" },
	{ "recover, same version", c_recover_same_version, ST7_PLAN_RECOVER, 0, 0, NULL },
	{ "recover held", c_recover_held, ST7_PLAN_HELD, -1, 0, NULL },
	{ "recover paused", c_recover_paused, ST7_PLAN_PAUSED, 0, 0, NULL },
	{ "recover failed max", c_recover_failed, ST7_PLAN_FAILED_MAX, 0, 0, "failed 4 times" },
	{ "recover below floor", c_recover_floor, ST7_PLAN_BELOW_FLOOR, 0, 0, NULL },
	{ "recover, two releases", c_recover_two, ST7_PLAN_AMBIGUOUS, -1, 0, NULL },
	{ "dfu by profile", c_dfu_by_profile, ST7_PLAN_RECOVER, 0, -1, NULL },
	{ "dfu, release without profile", c_dfu_no_profile, ST7_PLAN_NO_RELEASE, -1, -1,
	  "this loader (0483:df11)" },
	{ "dfu, other profile", c_dfu_other_profile, ST7_PLAN_NO_RELEASE, -1, -1, NULL },
	{ "dfu, other vendor", c_dfu_other_vendor, ST7_PLAN_NO_RELEASE, -1, -1, NULL },
	{ "dfu, match-only rule", c_dfu_match_only_rule, ST7_PLAN_RECOVER, 0, -1, NULL },
};

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct st7_plan_row row;
		baseline();
		cases[i].setup();
		memset(&row, 0xa5, sizeof(row));
		st7_plan_decide(&s.in, &row);
		if (row.reason != cases[i].reason || row.release != cases[i].release ||
		    row.rule != cases[i].rule)
			fprintf(stderr, "case '%s': %s release %ld rule %ld (%s)\n", cases[i].name,
			        st7_plan_reason_name(row.reason), row.release, row.rule,
			        row.detail);
		CHECK_INT(row.reason, cases[i].reason);
		CHECK_INT(row.release, cases[i].release);
		CHECK_INT(row.rule, cases[i].rule);
		CHECK_INT(row.device, 0);
		CHECK(row.chosen ==
		      (cases[i].reason == ST7_PLAN_UPDATE || cases[i].reason == ST7_PLAN_RECOVER));
		CHECK(row.detail[0] != '\0' && strlen(row.detail) < sizeof(row.detail));
		CHECK(strchr(row.detail, '\n') == NULL);
		if (cases[i].detail)
			CHECK_HAS(row.detail, cases[i].detail);
		/* The figures each reason carries. */
		if (row.reason == ST7_PLAN_UPDATE || row.reason == ST7_PLAN_NOT_IN_COHORT)
			CHECK_INT(row.cohort, st7_cohort("gw-1", s.rel[row.release].name));
		else
			CHECK_INT(row.cohort, 0);
		if (row.reason == ST7_PLAN_FAILED_MAX)
			CHECK(row.failures >= s.in.max_attempts);
		else
			CHECK_INT(row.failures, 0);
		if (row.reason == ST7_PLAN_NOT_YET)
			CHECK_INT(row.until, NOW + 3600);
		else if (row.reason == ST7_PLAN_OUTSIDE_WINDOW)
			CHECK_INT(row.until, s.in.window.opens ? NEXT_OPEN : 0);
		else
			CHECK_INT(row.until, 0);
	}
}

static void test_cohort_detail(void)
{
	struct st7_plan_row row;
	char want[64];
	baseline();
	s.rel[0].rollout = 0;
	st7_plan_decide(&s.in, &row);
	snprintf(want, sizeof(want), "not in the rollout: cohort %u >= 0%%", cohort0());
	CHECK_HAS(row.detail, want);
}

/* Several devices in one plan: a row each, each on its own. */
static void test_several(void)
{
	struct st7_plan_row rows[2];
	baseline();
	s.dev[1] = s.dev[0];
	strcpy(s.dev[1].serial, "ST7-0043");
	s.dev[1].version = 0x0237;
	s.in.n_devices = 2;
	st7_plan_decide(&s.in, rows);
	CHECK_INT(rows[0].reason, ST7_PLAN_UPDATE);
	CHECK_INT(rows[1].reason, ST7_PLAN_UP_TO_DATE);
	CHECK_INT(rows[1].device, 1);

	/* No rules, no attempts, no manifest releases: NULLs are fine. */
	baseline();
	s.in.rules = NULL;
	s.in.attempts = NULL;
	s.man.n_releases = 0;
	st7_plan_decide(&s.in, rows);
	CHECK_INT(rows[0].reason, ST7_PLAN_NO_RELEASE);
}

static void test_names(void)
{
	const char *seen[ST7_PLAN_POLICY_AMBIGUOUS + 1];
	for (int r = 0; r <= ST7_PLAN_POLICY_AMBIGUOUS; r++) {
		seen[r] = st7_plan_reason_name((enum st7_plan_reason)r);
		CHECK(strcmp(seen[r], "unknown") != 0);
		for (int q = 0; q < r; q++)
			CHECK(strcmp(seen[q], seen[r]) != 0);
	}
	CHECK(strcmp(st7_plan_reason_name(ST7_PLAN_UP_TO_DATE), "up-to-date") == 0);
	CHECK(strcmp(st7_plan_reason_name(ST7_PLAN_NOT_IN_COHORT), "not-in-cohort") == 0);
}

int main(void)
{
	test_cases();
	test_cohort_detail();
	test_several();
	test_names();
	return check_report();
}
