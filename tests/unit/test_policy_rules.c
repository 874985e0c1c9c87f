/* SPDX-License-Identifier: MIT */
/* policy: [device "NAME"] sections through the key table, and rule matching. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "policy.h"

static struct st7_device_rules rules; /* large: kept off the stack */

static void test_keys(void)
{
	static const struct {
		const char *key, *value;
		int rc;
		const char *msg; /* a substring of the message on an error */
	} cases[] = {
		{ "match", "0483:ff03", ST7_OK, NULL },
		{ "match", "0483", ST7_ERR_FORMAT, "match:" },
		{ "match", "0483:ff03x", ST7_ERR_FORMAT, "match:" },
		{ "serial", "ST7-00*", ST7_OK, NULL },
		{ "serial", "", ST7_ERR_FORMAT, "serial:" },
		{ "serial", "a\tb", ST7_ERR_FORMAT, "serial:" },
		{ "serial", "\x80", ST7_ERR_FORMAT, "serial:" },
		{ "port", "1-1.2", ST7_OK, NULL },
		{ "port", "1-1 .2", ST7_ERR_FORMAT, "port:" },
		{ "port", "123456789012345678901234567890123", ST7_ERR_FORMAT, "port:" },
		{ "profile", "st72f65", ST7_OK, NULL },
		{ "profile", "st99", ST7_ERR_FORMAT, "profile: unknown ST7 part 'st99'" },
		{ "min_version", "0x0120", ST7_OK, NULL },
		{ "min_version", "1.20", ST7_OK, NULL },
		{ "min_version", "v1", ST7_ERR_FORMAT, "min_version:" },
		{ "hold", "yes", ST7_OK, NULL },
		{ "hold", "maybe", ST7_ERR_FORMAT, "hold:" },
		{ "channel", "beta-2_x", ST7_OK, NULL },
		{ "channel", "Beta", ST7_ERR_FORMAT, "channel:" },
		{ "channel", "", ST7_ERR_FORMAT, "channel:" },
		{ "channel", "abcdefghijklmnopqrstuvwxyz01234", ST7_OK, NULL }, /* 31 */
		{ "channel", "abcdefghijklmnopqrstuvwxyz012345", ST7_ERR_FORMAT,
		  "channel:" }, /* 32 */
		{ "serail", "x", ST7_ERR_FORMAT,
		  "unknown key 'serail' in [device \"t\"] (did you "
		  "mean 'serial'?)" },
		{ "min_versoin", "1", ST7_ERR_FORMAT, "did you mean 'min_version'?" },
		{ "xyzzy", "1", ST7_ERR_FORMAT, "unknown key 'xyzzy'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct st7_diag d = { { 0 } };
		memset(&rules, 0, sizeof(rules));
		CHECK_INT(st7_device_rules_begin(&rules, "t", 3, &d), ST7_OK);
		struct st7_device_rule before = rules.r[0];
		int rc = st7_device_rules_set(&rules, cases[i].key, cases[i].value, 4, &d);
		if (rc != cases[i].rc)
			fprintf(stderr, "case %zu (%s = %s): rc %d (%s)\n", i, cases[i].key,
			        cases[i].value, rc, d.msg);
		CHECK_INT(rc, cases[i].rc);
		if (cases[i].msg) {
			CHECK_HAS(d.msg, cases[i].msg);
			/* A refused value leaves the rule as it was. */
			CHECK(memcmp(&before, &rules.r[0], sizeof(before)) == 0);
		}
	}
	/* What each key sets. */
	struct st7_diag d;
	memset(&rules, 0, sizeof(rules));
	CHECK_INT(st7_device_rules_begin(&rules, "card-reader", 10, &d), ST7_OK);
	CHECK_INT(st7_device_rules_set(&rules, "match", "0483:FF03", 11, &d), ST7_OK);
	CHECK_INT(st7_device_rules_set(&rules, "serial", "ST7-00*", 12, &d), ST7_OK);
	CHECK_INT(st7_device_rules_set(&rules, "port", "1-1.2", 13, &d), ST7_OK);
	CHECK_INT(st7_device_rules_set(&rules, "profile", "st72f63", 14, &d), ST7_OK);
	CHECK_INT(st7_device_rules_set(&rules, "min_version", "1.2", 15, &d), ST7_OK);
	CHECK_INT(st7_device_rules_set(&rules, "hold", "on", 16, &d), ST7_OK);
	CHECK_INT(st7_device_rules_set(&rules, "channel", "beta", 17, &d), ST7_OK);
	const struct st7_device_rule *r = &rules.r[0];
	CHECK(r->has_ids && r->vid == 0x0483 && r->pid == 0xff03);
	CHECK(strcmp(r->serial_glob, "ST7-00*") == 0 && strcmp(r->port, "1-1.2") == 0);
	CHECK(strcmp(r->profile, "st72f63") == 0);
	CHECK(r->has_min_version && r->min_version == 0x0120);
	CHECK(r->hold && strcmp(r->channel, "beta") == 0);
	CHECK(r->line == 10 && strcmp(r->name, "card-reader") == 0);
	for (unsigned k = 0; k < 7; k++)
		CHECK_INT(r->key_line[k], 11 + k);
	CHECK(strcmp(st7_device_rule_keys[0], "match") == 0 && st7_device_rule_keys[7] == NULL);
	/* A duplicate key names the first line. */
	CHECK_INT(st7_device_rules_set(&rules, "serial", "X*", 20, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "duplicate key 'serial'");
	CHECK_HAS(d.msg, "line 12");
	CHECK(strcmp(r->serial_glob, "ST7-00*") == 0);
}

static void test_sections(void)
{
	struct st7_diag d;
	unsigned bad = 0;
	memset(&rules, 0, sizeof(rules));
	/* A key before any section: refused. */
	CHECK_INT(st7_device_rules_set(&rules, "hold", "yes", 1, &d), ST7_ERR_INVALID);
	CHECK_INT(st7_device_rules_begin(&rules, "a", 5, &d), ST7_OK);
	CHECK_INT(st7_device_rules_set(&rules, "serial", "A*", 6, &d), ST7_OK);
	CHECK_INT(st7_device_rules_begin(&rules, "a", 9, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "duplicate [device \"a\"]");
	CHECK_HAS(d.msg, "line 5");
	CHECK_INT(st7_device_rules_begin(&rules, "", 9, &d), ST7_ERR_FORMAT);
	CHECK_INT(st7_device_rules_begin(&rules, "b", 12, &d), ST7_OK);
	CHECK_INT(st7_device_rules_set(&rules, "profile", "st72f65", 13, &d), ST7_OK);
	CHECK_INT(st7_device_rules_set(&rules, "hold", "yes", 14, &d), ST7_OK);
	CHECK_INT(st7_device_rules_check(&rules, &bad, &d), ST7_ERR_FORMAT);
	CHECK_INT(bad, 12);
	CHECK_HAS(d.msg, "[device \"b\"] needs at least one of match, serial, port");
	CHECK(strncmp(d.msg, "12", 2) != 0); /* the caller adds FILE:LINE from bad_line */
	CHECK_INT(st7_device_rules_set(&rules, "port", "2-1", 15, &d), ST7_OK);
	CHECK_INT(st7_device_rules_check(&rules, &bad, &d), ST7_OK);
	/* At most ST7_POLICY_MAX_RULES sections. */
	memset(&rules, 0, sizeof(rules));
	char name[16];
	for (unsigned i = 0; i < ST7_POLICY_MAX_RULES; i++) {
		snprintf(name, sizeof(name), "d%u", i);
		CHECK_INT(st7_device_rules_begin(&rules, name, i + 1, &d), ST7_OK);
	}
	CHECK_INT(st7_device_rules_begin(&rules, "one-more", 100, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "more than 64");
	CHECK_INT(rules.n, ST7_POLICY_MAX_RULES);
}

static void test_matches(void)
{
	static const struct st7_device_rule r_ids = { .has_ids = true,
		                                      .vid = 0x0483,
		                                      .pid = 0xff03 };
	static const struct st7_device_rule r_serial = { .serial_glob = "ST7-1*" };
	static const struct st7_device_rule r_port = { .port = "1-1.2" };
	static const struct st7_device_rule r_all = { .has_ids = true,
		                                      .vid = 0x0483,
		                                      .pid = 0xff03,
		                                      .serial_glob = "ST7-[0-9][0-9]",
		                                      .port = "1-1.2" };
	static const struct st7_device_rule r_none = { .hold = true };
	static const struct {
		const struct st7_device_rule *r;
		uint16_t vid, pid;
		bool dfu;
		const char *serial, *port;
		bool want;
	} cases[] = {
		{ &r_ids, 0x0483, 0xff03, false, "", "1-1", true },
		{ &r_ids, 0x0483, 0xff04, false, "", "1-1", false },
		{ &r_ids, 0x0484, 0xff03, false, "", "1-1", false },
		/* DFU mode: `match` alone does not claim a loader. */
		{ &r_ids, 0x0483, 0xdf11, true, "", "1-1", false },
		{ &r_ids, 0x0483, 0xff03, true, "", "1-1", false },
		{ &r_serial, 0x1234, 0x5678, false, "ST7-123", "9", true },
		{ &r_serial, 0x1234, 0x5678, false, "ST7-023", "9", false },
		{ &r_serial, 0x1234, 0x5678, false, "", "9", false },
		{ &r_serial, 0x1234, 0x5678, false, NULL, "9", false },
		{ &r_serial, 0x0483, 0xdf11, true, "ST7-1", "9", true },
		{ &r_port, 0x0483, 0xff03, false, "", "1-1.2", true },
		{ &r_port, 0x0483, 0xff03, false, "", "1-1.20", false },
		{ &r_port, 0x0483, 0xff03, false, "", NULL, false },
		{ &r_all, 0x0483, 0xff03, false, "ST7-42", "1-1.2", true },
		{ &r_all, 0x0483, 0xff03, false, "ST7-420", "1-1.2", false },
		{ &r_all, 0x0483, 0xff03, false, "ST7-42", "1-1.3", false },
		{ &r_all, 0x0483, 0xff00, false, "ST7-42", "1-1.2", false },
		/* DFU mode: the loader's IDs differ; serial and port still decide. */
		{ &r_all, 0x0483, 0xdf11, true, "ST7-42", "1-1.2", true },
		{ &r_all, 0x0483, 0xdf11, true, "ST7-43x", "1-1.2", false },
		/* No criterion: matches nothing (st7_device_rules_check refuses it anyway). */
		{ &r_none, 0x0483, 0xff03, false, "ST7-42", "1-1.2", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = st7_device_rule_matches(cases[i].r, cases[i].vid, cases[i].pid,
		                                   cases[i].dfu, cases[i].serial, cases[i].port);
		if (got != cases[i].want)
			fprintf(stderr, "match case %zu: got %d\n", i, got);
		CHECK(got == cases[i].want);
	}
}

int main(void)
{
	test_keys();
	test_sections();
	test_matches();
	return check_report();
}
