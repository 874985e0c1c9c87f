/* SPDX-License-Identifier: MIT */
/*
 * cli/settings: the table the command line, and next the policy file, read. Names and
 * policy keys are the same words and unique; every default parses and shows back as
 * itself; the defaults are the layers' own; a setting is set from text with no getopt.
 */
#include <stdlib.h>

#include "check.h"
#include "settings.h"
#include "state_dir.h"
#include "trust.h"

static void test_names(void)
{
	for (int i = 1; i < ST7_OPT_COUNT; i++) {
		const struct st7_setting *a = st7_setting((enum st7_opt)i);
		CHECK(a && a->name && a->help);
		if (!a)
			continue;
		/* The policy key is the option's name, '_' for '-'. */
		if (a->key) {
			char want[64];
			snprintf(want, sizeof(want), "%s", a->name);
			for (char *p = want; *p; p++)
				if (*p == '-')
					*p = '_';
			if (strcmp(a->key, want) != 0)
				fprintf(stderr, "--%s: key %s\n", a->name, a->key);
			CHECK(strcmp(a->key, want) == 0);
			CHECK_INT(st7_setting_by_key(a->key), i);
		}
		CHECK_INT(st7_setting_by_name(a->name), i);
		if (a->alias)
			CHECK_INT(st7_setting_by_name(a->alias), i);
		/* A flag says what it sets; an option with an argument names it. */
		CHECK(a->arg || a->flag_value || i == ST7_OPT_HELP);
		CHECK(i == ST7_OPT_HELP || (a->set && a->show));
		for (int j = i + 1; j < ST7_OPT_COUNT; j++) {
			const struct st7_setting *b = st7_setting((enum st7_opt)j);
			CHECK(strcmp(a->name, b->name) != 0);
			CHECK(!a->short_name || a->short_name != b->short_name);
			CHECK(!a->key || !b->key || strcmp(a->key, b->key) != 0);
			CHECK(!a->alias || strcmp(a->alias, b->name) != 0);
		}
	}
	CHECK(st7_setting(ST7_OPT_NONE) == NULL);
	CHECK(st7_setting(ST7_OPT_COUNT) == NULL);
	CHECK_INT(st7_setting_by_name("nonsense"), ST7_OPT_NONE);
	CHECK_INT(st7_setting_by_key("max_poll"), ST7_OPT_NONE);
	/* The names chosen for the policy keys of the draft. */
	CHECK_INT(st7_setting_by_key("max_poll_timeout"), ST7_OPT_MAX_POLL_TIMEOUT);
	CHECK_INT(st7_setting_by_key("verify_readback"), ST7_OPT_VERIFY_READBACK);
	CHECK_INT(st7_setting_by_key("reenum_timeout"), ST7_OPT_REENUM_TIMEOUT);
	CHECK_INT(st7_setting_by_key("max_image_size"), ST7_OPT_MAX_IMAGE_SIZE);
	CHECK_INT(st7_setting_by_key("keys_dir"), ST7_OPT_KEYS_DIR);
	/* The policy's keys, each in its section. */
	CHECK_INT(st7_setting_by_key("require_backup"), ST7_OPT_BACKUP);
	CHECK_INT(st7_setting_by_name("backup"), ST7_OPT_BACKUP);
	CHECK_INT(st7_setting_by_key("manifest_url"), ST7_OPT_MANIFEST_URL);
	CHECK_INT(st7_setting_by_key("max_attempts"), ST7_OPT_MAX_ATTEMPTS);
	CHECK_INT(st7_setting_by_key("window"), ST7_OPT_WINDOW);
	CHECK_INT(st7_setting_by_key("lab"), ST7_OPT_LAB);
	CHECK_INT(st7_setting_by_key("profile"), ST7_OPT_NONE);        /* per [device] section */
	CHECK_INT(st7_setting_by_key("allow_wildcard"), ST7_OPT_NONE); /* manual use only */
	CHECK_INT(st7_setting_by_key("config"), ST7_OPT_NONE);
	CHECK(strcmp(st7_group_section(st7_setting(ST7_OPT_RETRIES)->group), "update") == 0);
	CHECK(strcmp(st7_group_section(st7_setting(ST7_OPT_MAX_ATTEMPTS)->group), "update") == 0);
	CHECK(strcmp(st7_group_section(st7_setting(ST7_OPT_BACKUP)->group), "update") == 0);
	CHECK(strcmp(st7_group_section(st7_setting(ST7_OPT_CA_FILE)->group), "agent") == 0);
	CHECK(strcmp(st7_group_section(st7_setting(ST7_OPT_STATE_DIR)->group), "agent") == 0);
	CHECK(strcmp(st7_group_section(st7_setting(ST7_OPT_WINDOW)->group), "agent") == 0);
	CHECK_INT(st7_setting_by_name("max-poll"), ST7_OPT_MAX_POLL_TIMEOUT);
	CHECK_INT(st7_setting_by_name("verify"), ST7_OPT_VERIFY_READBACK);
	CHECK_INT(st7_setting_by_name("keys"), ST7_OPT_KEYS_DIR);
}

/* Every value shows as text that sets it back to itself. */
static void test_round_trips(void)
{
	struct st7_settings s, t;
	struct st7_diag d = { "" };
	CHECK_INT(st7_settings_init(&s, &d), ST7_OK);
	CHECK_INT(st7_settings_init(&t, &d), ST7_OK);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_DEVICE, "0483:df11", &d), ST7_OK);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_PROFILE, "st72f63", &d), ST7_OK);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_BCD, "1.02", &d), ST7_OK);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_MAX_POLL_TIMEOUT, "1m30s", &d), ST7_OK);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_SERIAL, "A1 B2", &d), ST7_OK);
	for (int i = 1; i < ST7_OPT_COUNT; i++) {
		char a[256], b[256];
		const struct st7_setting *row = st7_setting((enum st7_opt)i);
		if (!row->set)
			continue;
		st7_setting_show(&s, (enum st7_opt)i, a, sizeof(a));
		if (!a[0]) /* unset */
			continue;
		CHECK_INT(st7_setting_set(&t, (enum st7_opt)i, a, &d), ST7_OK);
		st7_setting_show(&t, (enum st7_opt)i, b, sizeof(b));
		if (strcmp(a, b) != 0)
			fprintf(stderr, "--%s: '%s' came back as '%s'\n", row->name, a, b);
		CHECK(strcmp(a, b) == 0);
	}
	char text[64];
	st7_setting_show(&s, ST7_OPT_MAX_POLL_TIMEOUT, text, sizeof(text));
	CHECK(strcmp(text, "1m30s") == 0);
	st7_setting_show(&s, ST7_OPT_DEVICE, text, sizeof(text));
	CHECK(strcmp(text, "0483:df11") == 0);
	st7_setting_show(&s, ST7_OPT_BCD, text, sizeof(text));
	CHECK(strcmp(text, "0x0102") == 0);
	st7_settings_free(&s);
	st7_settings_free(&t);
	st7_settings_free(&t); /* twice is harmless */
}

/* The table's defaults are the ones the layers below use on their own. */
static void test_defaults(void)
{
	struct st7_settings s;
	struct st7_diag d = { "" };
	struct st7_engine_opts eng, eng_def;
	struct st7_upgrade_opts upg, upg_def;
	struct st7_fetch_opts net, net_def;
	struct st7_source_opts src;
	CHECK_INT(st7_settings_init(&s, &d), ST7_OK);
	st7_settings_engine(&s, &eng);
	st7_engine_opts_default(&eng_def);
	CHECK(memcmp(&eng, &eng_def, sizeof(eng)) == 0);
	st7_settings_upgrade(&s, &upg);
	st7_upgrade_opts_default(&upg_def);
	CHECK(strcmp(upg.state_dir, ST7_DEFAULT_STATE_DIR) == 0);
	CHECK_INT(upg.keep_backups, upg_def.keep_backups);
	CHECK(!upg.verify && !upg.no_verify && !upg.no_backup && !upg.allow_downgrade);
	CHECK(upg.profile == NULL);
	st7_settings_fetch(&s, &net);
	st7_fetch_opts_default(&net_def);
	CHECK_INT(net.connect_timeout_s, net_def.connect_timeout_s);
	CHECK_INT(net.total_timeout_s, net_def.total_timeout_s);
	CHECK_INT(net.low_speed_bytes, net_def.low_speed_bytes);
	CHECK_INT(net.low_speed_time_s, net_def.low_speed_time_s);
	CHECK_INT(net.max_size, 16 << 20);
	CHECK(!net.allow_http && !net.ca_file);
	st7_settings_source(&s, &src);
	CHECK(strcmp(src.keys_dir, ST7_DEFAULT_KEYS_DIR) == 0);
	CHECK_INT(src.max_size, 16 << 20);
	CHECK(src.conditional && !src.allow_unsigned && !src.sig);
	st7_settings_free(&s);
}

/* Set from text, as a policy file will: the field changes only on a good value. */
static void test_set(void)
{
	struct st7_settings s;
	struct st7_diag d = { "" };
	struct st7_upgrade_opts upg;
	struct st7_engine_opts eng;
	CHECK_INT(st7_settings_init(&s, &d), ST7_OK);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_MAX_POLL_TIMEOUT, "20", &d), ST7_OK);
	CHECK_INT(s.max_poll_timeout_ms, 20); /* a bare number is milliseconds */
	CHECK_INT(st7_setting_set(&s, ST7_OPT_REENUM_TIMEOUT, "15s", &d), ST7_OK);
	CHECK_INT(s.reenum_timeout_ms, 15000);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_CONNECT_TIMEOUT, "2m", &d), ST7_OK);
	CHECK_INT(s.connect_timeout_s, 120);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_CONNECT_TIMEOUT, "30", &d), ST7_OK);
	CHECK_INT(s.connect_timeout_s, 30); /* a bare number is seconds here */
	CHECK(st7_setting_set(&s, ST7_OPT_CONNECT_TIMEOUT, "1500ms", &d) != ST7_OK);
	CHECK_HAS(d.msg, "seconds");
	CHECK_INT(s.connect_timeout_s, 30);
	CHECK(st7_setting_set(&s, ST7_OPT_RETRIES, "0", &d) != ST7_OK);
	CHECK_HAS(d.msg, "1..100");
	CHECK_INT(s.retries, 3);
	CHECK(st7_setting_set(&s, ST7_OPT_MAX_IMAGE_SIZE, "2G", &d) != ST7_OK);
	CHECK_HAS(d.msg, "at most 1G");
	CHECK(st7_setting_set(&s, ST7_OPT_PROFILE, "st99", &d) != ST7_OK);
	CHECK_HAS(d.msg, "known: st72f62, st72f63, st72f65");
	CHECK(st7_setting_set(&s, ST7_OPT_DEVICE, "nonsense", &d) != ST7_OK);
	CHECK_HAS(d.msg, "VID:PID");
	CHECK(!s.device.set);
	CHECK(st7_setting_set(&s, ST7_OPT_VERIFY_READBACK, "maybe", &d) != ST7_OK);
	CHECK_HAS(d.msg, "expected auto, yes or no");
	CHECK(st7_setting_set(&s, ST7_OPT_ALLOW_DOWNGRADE, "perhaps", &d) != ST7_OK);
	CHECK(st7_setting_set(&s, ST7_OPT_HELP, "yes", &d) != ST7_OK); /* not a setting */
	char name[300];
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	CHECK(st7_setting_set(&s, ST7_OPT_TARGET_NAME, name, &d) != ST7_OK);
	CHECK_HAS(d.msg, "at most 254 bytes");

	CHECK_INT(st7_setting_set(&s, ST7_OPT_VERIFY_READBACK, "no", &d), ST7_OK);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_BACKUP, "off", &d), ST7_OK);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_STATE_DIR, "/tmp/state", &d), ST7_OK);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_STATE_DIR, "/tmp/state2", &d), ST7_OK);
	st7_settings_upgrade(&s, &upg);
	CHECK(upg.no_verify && !upg.verify && upg.no_backup);
	CHECK(strcmp(upg.state_dir, "/tmp/state2") == 0);
	CHECK_INT(st7_setting_set(&s, ST7_OPT_VERIFY_READBACK, "yes", &d), ST7_OK);
	st7_settings_upgrade(&s, &upg);
	CHECK(upg.verify && !upg.no_verify);
	st7_settings_engine(&s, &eng);
	CHECK_INT(eng.poll_cap_ms, 20);
	CHECK_INT(eng.reenum_timeout_ms, 15000);
	st7_settings_free(&s);
}

int main(void)
{
	test_names();
	test_round_trips();
	test_defaults();
	test_set();
	return check_report();
}
