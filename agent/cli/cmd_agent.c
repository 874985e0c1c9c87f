/* SPDX-License-Identifier: MIT */
/*
 * The agent's commands. `config`: check the policy file, or print every setting that has
 * a policy key with its effective value and where it came from.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json_writer.h"
#include "log.h"
#include "parse_util.h"

static void rule_ids(const struct st7_device_rule *r, char *out, size_t cap)
{
	if (r->has_ids)
		snprintf(out, cap, "%04x:%04x", r->vid, r->pid);
	else
		out[0] = '\0';
}

static void print_json(const struct st7_cli *cli, struct st7_json *j)
{
	char value[4096], from[4200];
	st7_json_obj_begin(j);
	st7_json_key(j, "file");
	if (cli->policy_path[0])
		st7_json_str(j, cli->policy_path);
	else
		st7_json_null(j);
	st7_json_key(j, "settings");
	st7_json_arr_begin(j);
	for (int i = 1; i < ST7_OPT_COUNT; i++) {
		const struct st7_setting *row = st7_setting((enum st7_opt)i);
		if (!row->key)
			continue;
		st7_setting_show(&cli->s, (enum st7_opt)i, value, sizeof(value));
		st7_json_obj_begin(j);
		st7_json_kv_str(j, "section", st7_group_section(row->group));
		st7_json_kv_str(j, "key", row->key);
		st7_json_kv_str(j, "value", value);
		st7_json_kv_str(j, "source",
		                cli->given[i][0] ? "flag"
		                : cli->line[i]   ? "file"
		                                 : "default");
		st7_json_key(j, "line");
		if (cli->line[i] && !cli->given[i][0])
			st7_json_uint(j, cli->line[i]);
		else
			st7_json_null(j);
		st7_json_key(j, "flag");
		if (cli->given[i][0])
			st7_json_str(j, cli->given[i]);
		else
			st7_json_null(j);
		st7_json_obj_end(j);
	}
	st7_json_arr_end(j);
	st7_json_key(j, "devices");
	st7_json_arr_begin(j);
	for (size_t i = 0; i < cli->rules.n; i++) {
		const struct st7_device_rule *r = &cli->rules.r[i];
		rule_ids(r, value, sizeof(value));
		st7_json_obj_begin(j);
		st7_json_kv_str(j, "name", r->name);
		st7_json_kv_uint(j, "line", r->line);
		st7_json_kv_str(j, "match", value);
		st7_json_kv_str(j, "serial", r->serial_glob);
		st7_json_kv_str(j, "port", r->port);
		st7_json_kv_str(j, "profile", r->profile);
		st7_json_key(j, "min_version");
		if (r->has_min_version) {
			snprintf(from, sizeof(from), "0x%04x", r->min_version);
			st7_json_str(j, from);
		} else {
			st7_json_null(j);
		}
		st7_json_kv_bool(j, "hold", r->hold);
		st7_json_kv_str(j, "channel", r->channel);
		st7_json_obj_end(j);
	}
	st7_json_arr_end(j);
	st7_json_obj_end(j);
}

static void print_text(const struct st7_cli *cli, struct st7_buf *out)
{
	char value[4096], from[4200];
	static const char *const sections[] = { "agent", "update" };
	st7_buf_printf(out, "; policy file: %s\n",
	               cli->policy_path[0] ? cli->policy_path : "none (built-in defaults)");
	for (size_t s = 0; s < 2; s++) {
		st7_buf_printf(out, "\n[%s]\n", sections[s]);
		for (int i = 1; i < ST7_OPT_COUNT; i++) {
			const struct st7_setting *row = st7_setting((enum st7_opt)i);
			if (!row->key || strcmp(st7_group_section(row->group), sections[s]) != 0)
				continue;
			st7_setting_show(&cli->s, (enum st7_opt)i, value, sizeof(value));
			st7_policy_source(cli, (enum st7_opt)i, from, sizeof(from));
			/* Quoted when the text needs it to read back the same. */
			bool quote = value[0] == ' ' ||
			             (value[0] && value[strlen(value) - 1] == ' ') ||
			             strstr(value, " ;") || value[0] == '"';
			if (!value[0]) { /* unset: an empty value would not read back */
				st7_buf_printf(out, ";%-17s =  ; unset, %s\n", row->key, from);
				continue;
			}
			st7_buf_printf(out, "%-18s = %s%s%s ; %s\n", row->key, quote ? "\"" : "",
			               value, quote ? "\"" : "", from);
		}
	}
	for (size_t i = 0; i < cli->rules.n; i++) {
		const struct st7_device_rule *r = &cli->rules.r[i];
		st7_buf_printf(out, "\n[device \"%s\"] ; %s:%u\n", r->name, cli->policy_path,
		               r->line);
		rule_ids(r, value, sizeof(value));
		if (value[0])
			st7_buf_printf(out, "match       = %s\n", value);
		if (r->serial_glob[0])
			st7_buf_printf(out, "serial      = %s\n", r->serial_glob);
		if (r->port[0])
			st7_buf_printf(out, "port        = %s\n", r->port);
		if (r->profile[0])
			st7_buf_printf(out, "profile     = %s\n", r->profile);
		if (r->has_min_version)
			st7_buf_printf(out, "min_version = 0x%04x\n", r->min_version);
		st7_buf_printf(out, "hold        = %s\n", r->hold ? "yes" : "no");
		if (r->channel[0])
			st7_buf_printf(out, "channel     = %s\n", r->channel);
	}
}

int st7_cmd_config(struct st7_cli *cli)
{
	struct st7_diag d = { "" };
	if (cli->s.check == cli->s.print)
		return st7_cli_usage(cli, "give exactly one of --check and --print");
	if (cli->s.check) {
		int ret = st7_policy_file_load(cli, &d);
		if (ret == ST7_ERR_NOMEM) {
			st7_err("%s", d.msg);
			return ST7_EXIT_FAILURE;
		}
		if (ret) { /* whatever keeps the file from being used: missing, unreadable, bad */
			st7_err("%s", d.msg);
			return ST7_EXIT_INVALID_FILE;
		}
		if (cli->policy_path[0])
			st7_info("%s: valid (%zu [device] section%s)", cli->policy_path,
			         cli->rules.n, cli->rules.n == 1 ? "" : "s");
		else
			st7_info("no policy file at %s: the built-in defaults apply",
			         ST7_DEFAULT_CONFIG);
		return ST7_EXIT_OK;
	}
	struct st7_buf out;
	struct st7_json j;
	st7_buf_init(&out);
	st7_json_init(&j, &out);
	if (cli->s.json) {
		print_json(cli, &j);
		st7_buf_printf(&out, "\n");
	} else {
		print_text(cli, &out);
	}
	int rc = st7_json_finish(&j) == ST7_OK ? st7_cli_emit(&out) : ST7_EXIT_FAILURE;
	st7_buf_free(&out);
	return rc;
}
