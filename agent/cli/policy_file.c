/* SPDX-License-Identifier: MIT */
/*
 * The policy file through the settings table: [agent] and [update] keys are rows of the
 * table (settings.c), [device "NAME"] sections are core/policy.c's. Everything is
 * checked on a scratch copy first, so a bad file changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ini_doc.h"
#include "log.h"
#include "trust.h"

#define POLICY_MAX_BYTES (256u * 1024u) /* a policy is a few KiB; more is not a policy */

struct load {
	const char *file;
	struct st7_policy_parsed *p;
	char kind[32]; /* the current section's kind: "agent", "update", "device" */
};

static const char *const section_kinds[] = { "agent", "update", "device", NULL };

/* The keys of one section, for suggestions. */
static void section_keys(const char *kind, const char **out, size_t cap)
{
	size_t n = 0;
	for (int i = 1; i < ST7_OPT_COUNT && n + 1 < cap; i++) {
		const struct st7_setting *row = st7_setting((enum st7_opt)i);
		if (row->key && strcmp(st7_group_section(row->group), kind) == 0)
			out[n++] = row->key;
	}
	out[n] = NULL;
}

static int on_section(void *arg, const char *section, unsigned line, struct st7_diag *d)
{
	struct load *l = arg;
	char kind[32], name[ST7_RULE_NAME_MAX];
	int has_name = 0;
	(void)line;
	int ret = st7_ini_section_split(section, kind, sizeof(kind), name, sizeof(name), &has_name,
	                                d);
	if (ret)
		return ret;
	bool known = false;
	for (size_t i = 0; section_kinds[i]; i++)
		known = known || strcmp(kind, section_kinds[i]) == 0;
	if (!known) {
		const char *near = st7_ini_nearest(kind, section_kinds);
		return near ? st7_diag_set(d, ST7_ERR_FORMAT,
		                           "unknown section [%s] (did you mean [%s]?)", kind, near)
		            : st7_diag_set(d, ST7_ERR_FORMAT,
		                           "unknown section [%s] (expected [agent], [update] or "
		                           "[device \"NAME\"])",
		                           kind);
	}
	if (strcmp(kind, "device") == 0) {
		if (!has_name)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "a [device] section needs a name: [device \"NAME\"]");
		ret = st7_device_rules_begin(&l->p->rules, name, line, d);
		if (ret)
			return ret;
	} else if (has_name) {
		return st7_diag_set(d, ST7_ERR_FORMAT, "[%s] takes no name", kind);
	}
	snprintf(l->kind, sizeof(l->kind), "%s", kind);
	return ST7_OK;
}

static int on_entry(void *arg, const char *section, const char *key, const char *value,
                    unsigned line, struct st7_diag *d)
{
	struct load *l = arg;
	(void)section;
	if (!l->kind[0])
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "key '%s' before any section ([agent], [update] or [device "
		                    "\"NAME\"])",
		                    key);
	if (strcmp(l->kind, "device") == 0)
		return st7_device_rules_set(&l->p->rules, key, value, line, d);
	enum st7_opt id = st7_setting_by_key(key);
	const struct st7_setting *row = st7_setting(id);
	if (!row) {
		const char *keys[ST7_OPT_COUNT + 1];
		section_keys(l->kind, keys, ST7_OPT_COUNT + 1);
		const char *near = st7_ini_nearest(key, keys);
		if (near)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "unknown key '%s' in [%s] (did you mean '%s'?)", key,
			                    l->kind, near);
		return st7_diag_set(d, ST7_ERR_FORMAT, "unknown key '%s' in [%s]", key, l->kind);
	}
	const char *want = st7_group_section(row->group);
	if (strcmp(want, l->kind) != 0)
		return st7_diag_set(d, ST7_ERR_FORMAT, "key '%s' belongs in [%s], not [%s]", key,
		                    want, l->kind);
	if (l->p->line[id])
		return st7_diag_set(d, ST7_ERR_FORMAT, "duplicate key '%s' (first set at line %u)",
		                    key, l->p->line[id]);
	int ret = st7_setting_set(&l->p->s, id, value, d);
	if (ret)
		return st7_diag_prefix(d, ret, "%s = %s", key, value);
	if (!(l->p->value[id] = strdup(value)))
		return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
	l->p->line[id] = line;
	return ST7_OK;
}

/* What only the whole file can tell. */
static int check_whole(struct load *l, const struct st7_clock *clock, struct st7_diag *d)
{
	static const enum st7_opt lab_only[] = { ST7_OPT_ALLOW_HTTP, ST7_OPT_ALLOW_UNSIGNED };
	struct st7_policy_parsed *p = l->p;
	unsigned bad_line = 0;
	int ret = st7_device_rules_check(&p->rules, &bad_line, d);
	if (ret)
		return st7_diag_prefix(d, ret, "%s:%u", l->file, bad_line);
	for (size_t i = 0; i < sizeof(lab_only) / sizeof(lab_only[0]); i++) {
		enum st7_opt id = lab_only[i];
		const bool *on = (const bool *)((const char *)&p->s + st7_setting(id)->offset);
		if (p->line[id] && *on && !p->s.lab)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "%s:%u: %s is a lab-only setting: refused unless the file "
			        "also says [agent] lab = yes",
			        l->file, p->line[id], st7_setting(id)->key);
	}
	if (p->line[ST7_OPT_TIMEZONE] && clock && clock->local_time) {
		struct st7_local_time lt;
		if (clock->local_time(clock->ctx, p->s.timezone, 0, &lt) != ST7_OK)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "%s:%u: timezone = %s: not a time zone this system knows "
			        "(see /usr/share/zoneinfo, or give a POSIX TZ rule)",
			        l->file, p->line[ST7_OPT_TIMEZONE], p->s.timezone);
	}
	return ST7_OK;
}

int st7_policy_parse(const char *file, const uint8_t *data, size_t len,
                     const struct st7_clock *clock, struct st7_policy_parsed *p, struct st7_diag *d)
{
	struct load l = { file, p, "" };
	int ret = st7_ini_parse(file, data, len, on_section, on_entry, &l, d);
	return ret ? ret : check_whole(&l, clock, d);
}

int st7_policy_parsed_init(struct st7_policy_parsed *p, struct st7_diag *d)
{
	memset(p, 0, sizeof(*p));
	return st7_settings_init(&p->s, d);
}

void st7_policy_parsed_free(struct st7_policy_parsed *p)
{
	for (int i = 0; i < ST7_OPT_COUNT; i++) {
		free(p->value[i]);
		p->value[i] = NULL;
	}
	st7_settings_free(&p->s);
}

int st7_policy_file_load(struct st7_cli *cli, struct st7_diag *d)
{
	const char *file = cli->s.config ? cli->s.config : ST7_DEFAULT_CONFIG;
	struct st7_policy_parsed *p = calloc(1, sizeof(*p));
	struct st7_buf text;
	int ret = ST7_ERR_NOMEM;
	st7_buf_init(&text);
	if (!p)
		return st7_diag_set(d, ret, "out of memory");
	if ((ret = st7_policy_parsed_init(p, d)) != ST7_OK)
		goto cleanup;
	ret = st7_store_read(&cli->store, file, POLICY_MAX_BYTES, 0, &text, d);
	if (ret == ST7_ERR_NOT_FOUND && !cli->s.config) {
		ret = ST7_OK; /* no policy installed: the built-in defaults */
		goto cleanup;
	}
	if (ret) {
		st7_diag_prefix(d, ret, "policy");
		goto cleanup;
	}
	if ((ret = st7_policy_parse(file, text.data, text.len, cli->run.clock, p, d)) != ST7_OK)
		goto cleanup;
	/* Checked: now apply, except what the command line said. */
	for (int i = 1; i < ST7_OPT_COUNT; i++) {
		if (!p->line[i] || cli->given[i][0])
			continue;
		if ((ret = st7_setting_set(&cli->s, (enum st7_opt)i, p->value[i], d)) != ST7_OK)
			goto cleanup;
		cli->line[i] = p->line[i];
	}
	cli->rules = p->rules;
	snprintf(cli->policy_path, sizeof(cli->policy_path), "%s", file);
	ret = ST7_OK;
cleanup:
	st7_policy_parsed_free(p);
	free(p);
	st7_buf_free(&text);
	if (ret == ST7_OK) {
		/* Lab settings are loud wherever they come from. */
		if (cli->s.allow_unsigned)
			st7_warn("LAB SETTING ON: allow_unsigned: images without a valid signature "
			         "are accepted");
		if (cli->s.allow_http)
			st7_warn("LAB SETTING ON: allow_http: downloads over plain http are "
			         "accepted");
	}
	return ret;
}

void st7_policy_source(const struct st7_cli *cli, enum st7_opt id, char *out, size_t cap)
{
	if (cli->given[id][0])
		snprintf(out, cap, "%s", cli->given[id]);
	else if (cli->line[id])
		snprintf(out, cap, "%s:%u", cli->policy_path, cli->line[id]);
	else
		snprintf(out, cap, "default");
}

int st7_cli_reload_policy(struct st7_cli *cli,
                          int (*accept)(struct st7_cli *cli, const struct st7_settings *s,
                                        struct st7_diag *d),
                          struct st7_diag *d)
{
	char file[sizeof(cli->policy_path)]; /* the old settings' string goes with them */
	snprintf(file, sizeof(file), "%s", cli->s.config ? cli->s.config : ST7_DEFAULT_CONFIG);
	struct st7_policy_parsed *p = calloc(1, sizeof(*p));
	struct st7_settings ns;
	struct st7_buf text;
	char value[4096];
	unsigned line[ST7_OPT_COUNT] = { 0 };
	bool ns_ready = false;
	int ret = ST7_ERR_NOMEM;
	st7_buf_init(&text);
	if (!p)
		return st7_diag_set(d, ret, "out of memory");
	if ((ret = st7_policy_parsed_init(p, d)) != ST7_OK)
		goto cleanup;
	ret = st7_store_read(&cli->store, file, POLICY_MAX_BYTES, 0, &text, d);
	bool none = ret == ST7_ERR_NOT_FOUND && !cli->s.config;
	if (ret && !none) {
		st7_diag_prefix(d, ret, "policy");
		goto cleanup;
	}
	if (!none && (ret = st7_policy_parse(file, text.data, text.len, cli->run.clock, p, d)))
		goto cleanup;
	/* The new settings from scratch: defaults, the file, then the command line again (a
	 * key removed from the file goes back to its default). */
	if ((ret = st7_settings_init(&ns, d)) != ST7_OK)
		goto cleanup;
	ns_ready = true;
	for (int i = 1; i < ST7_OPT_COUNT && ret == ST7_OK; i++) {
		if (cli->given[i][0]) {
			st7_setting_show(&cli->s, (enum st7_opt)i, value, sizeof(value));
			if (value[0])
				ret = st7_setting_set(&ns, (enum st7_opt)i, value, d);
		} else if (p->line[i]) {
			ret = st7_setting_set(&ns, (enum st7_opt)i, p->value[i], d);
			line[i] = p->line[i];
		}
	}
	if (ret == ST7_OK && accept)
		ret = accept(cli, &ns, d);
	if (ret)
		goto cleanup;
	/* Checked whole: now it replaces the old. */
	st7_settings_free(&cli->s);
	cli->s = ns;
	ns_ready = false;
	memcpy(cli->line, line, sizeof(line));
	cli->rules = p->rules;
	snprintf(cli->policy_path, sizeof(cli->policy_path), "%s", none ? "" : file);
	st7_settings_fetch(&cli->s, &cli->net);
	/* What was made from the old settings goes: the worker holds their strings, the
	 * keyring their key directory. Both come back on first use. */
	st7_fetch_free(&cli->fetcher);
	memset(&cli->fetcher, 0, sizeof(cli->fetcher));
	cli->run.fetcher = NULL;
	st7_run_free(&cli->run);
	st7_keyring_init(&cli->run.keys);
	if (cli->s.allow_unsigned)
		st7_warn("LAB SETTING ON: allow_unsigned: images without a valid signature are "
		         "accepted");
	if (cli->s.allow_http)
		st7_warn("LAB SETTING ON: allow_http: downloads over plain http are accepted");
	ret = ST7_OK;
cleanup:
	if (ns_ready)
		st7_settings_free(&ns);
	st7_policy_parsed_free(p);
	free(p);
	st7_buf_free(&text);
	return ret;
}
