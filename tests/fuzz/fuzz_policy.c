/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the policy file: inih through the settings table and the
 * [device] rules (cli/policy_file.c's pure half). An accepted policy must show every
 * setting, and what it shows must read back as the same policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct st7_policy_parsed p, again;
	struct st7_diag d = { "" };
	char value[4096];
	if (st7_policy_parsed_init(&p, &d) != ST7_OK)
		abort();
	if (st7_policy_parse("fuzz.ini", data, size, NULL, &p, &d) == ST7_OK) {
		/* Every value shown is one set() reads back to the same text. */
		for (int i = 1; i < ST7_OPT_COUNT; i++) {
			if (!p.line[i])
				continue;
			char shown[4096];
			st7_setting_show(&p.s, (enum st7_opt)i, value, sizeof(value));
			if (st7_policy_parsed_init(&again, &d) != ST7_OK)
				abort();
			if (st7_setting_set(&again.s, (enum st7_opt)i, value, &d) != ST7_OK) {
				fprintf(stderr, "key %s: shown '%s' does not read back: %s\n",
				        st7_setting((enum st7_opt)i)->key, value, d.msg);
				abort();
			}
			st7_setting_show(&again.s, (enum st7_opt)i, shown, sizeof(shown));
			if (strcmp(shown, value) != 0)
				abort();
			st7_policy_parsed_free(&again);
		}
	} else if (!d.msg[0]) {
		abort(); /* every refusal says why */
	}
	st7_policy_parsed_free(&p);
	return 0;
}
