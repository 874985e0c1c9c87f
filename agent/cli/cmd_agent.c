/* SPDX-License-Identifier: MIT */
/*
 * The agent's commands. `config`: check the policy file, or print every setting that has
 * a policy key with its effective value and where it came from. `plan`: the decision for
 * every attached device, from the verified manifest; it changes no device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cycle.h"
#include "decide.h"
#include "dfu_list.h"
#include "json_writer.h"
#include "log.h"
#include "manifest_source.h"
#include "parse_util.h"
#include "plan_render.h"

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

/* ---- plan ------------------------------------------------------------------------------ */

static int local_time(void *arg, const char *tz, int64_t t, struct st7_local_time *out)
{
	const struct st7_clock *c = arg;
	return c->local_time(c->ctx, tz, t, out);
}

/* The gateway's id: device_id, else the first line of device_id_file. */
int st7_gateway_id(struct st7_store *store, const struct st7_settings *s, char *out, size_t cap,
                   struct st7_diag *d)
{
	if (s->device_id) {
		snprintf(out, cap, "%s", s->device_id);
		return ST7_OK;
	}
	struct st7_buf b;
	st7_buf_init(&b);
	int ret = st7_store_read(store, s->device_id_file, 4096, 0, &b, d);
	/* The whole first line, trailing spaces trimmed: two gateways must not share a
	 * cohort because their ids differ only after a space. */
	size_t n = 0;
	while (ret == ST7_OK && n < b.len && b.data[n] != '\n')
		n++;
	while (n && (b.data[n - 1] == ' ' || b.data[n - 1] == '\t' || b.data[n - 1] == '\r'))
		n--;
	if (ret == ST7_OK && (n == 0 || n + 1 > cap))
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "%s: no id (1..%zu bytes) on its first line",
		                   s->device_id_file, cap - 1);
	for (size_t k = 0; ret == ST7_OK && k < n; k++)
		if (b.data[k] < 0x20 || b.data[k] == 0x7f)
			ret = st7_diag_set(d, ST7_ERR_FORMAT, "%s: a control character in the id",
			                   s->device_id_file);
	if (ret == ST7_OK) {
		memcpy(out, b.data, n);
		out[n] = '\0';
	}
	st7_buf_free(&b);
	return ret ? st7_diag_prefix(d, ret, "device_id_file (or set device_id)") : ST7_OK;
}

int st7_cli_gateway_id(struct st7_cli *cli, char *out, size_t cap, struct st7_diag *d)
{
	return st7_gateway_id(&cli->store, &cli->s, out, cap, d);
}

static void plan_devices(const struct st7_dfu_device *devs, size_t n, struct st7_plan_device *out)
{
	for (size_t i = 0; i < n; i++) {
		const struct st7_usb_found *u = devs[i].usb;
		struct st7_plan_device *p = &out[i];
		memset(p, 0, sizeof(*p));
		snprintf(p->serial, sizeof(p->serial), "%s", u->serial);
		snprintf(p->path, sizeof(p->path), "%s", u->path);
		p->vid = u->dev.id_vendor;
		p->pid = u->dev.id_product;
		p->version = u->dev.bcd_device;
		p->dfu_mode = devs[i].dfu.mode == ST7_DFU_MODE_DFU;
		p->profiles = devs[i].profiles;
	}
}

int st7_cmd_plan(struct st7_cli *cli)
{
	struct st7_diag d = { "" };
	struct st7_manifest m;
	struct st7_manifest_report rep;
	struct st7_plan_input in;
	struct st7_plan_attempts *attempts = NULL;
	struct st7_usb_found *found = NULL;
	struct st7_dfu_device *devs = NULL;
	struct st7_plan_device *pdevs = NULL;
	struct st7_plan_row *rows = NULL;
	char(*urls)[ST7_MANIFEST_URL_MAX] = NULL;
	size_t n_attempts = 0, n_found = 0, n_devs = 0;
	char id[256];
	const struct st7_clock *clock = cli->run.clock;
	int rc = ST7_EXIT_FAILURE, ret;
	enum st7_step step = ST7_STEP_FILE;

	st7_manifest_init(&m);
	memset(&in, 0, sizeof(in));
	memset(&rep, 0, sizeof(rep));
	rep.retry_after_s = -1;
	if (!cli->s.manifest_url)
		return st7_cli_usage(cli, "no manifest: set manifest_url in the policy or give "
		                          "--manifest-url");
	if ((ret = st7_cli_gateway_id(cli, id, sizeof(id), &d)) != ST7_OK)
		goto fail;
	in.now = clock->wall_s(clock->ctx);
	/* With --json, stdout is the plan alone: the manifest fetch's heartbeats (for the
	 * daemon's watchdog) are no progress a reader of the plan waits for. */
	if (cli->s.json)
		cli->run.progress = NULL;
	/* The manifest: fetched through the worker when it is a URL. */
	if (st7_url_is_remote(cli->s.manifest_url) && !cli->run.fetcher) {
		step = ST7_STEP_DOWNLOAD;
		if ((ret = st7_fetch_worker_init(&cli->fetcher, &cli->net, cli->s.fetch_user, &d)))
			goto fail;
		cli->run.fetcher = &cli->fetcher;
	}
	struct st7_manifest_opts mo = { .url = cli->s.manifest_url,
		                        .max_size = cli->s.manifest_max_size,
		                        .keys_dir = cli->s.keys_dir,
		                        .state_dir = cli->s.state_dir,
		                        .now = in.now,
		                        .build_time = ST7_BUILD_TIME,
		                        .record = true };
	step = st7_url_is_remote(cli->s.manifest_url) ? ST7_STEP_DOWNLOAD : ST7_STEP_SOURCE;
	if ((ret = st7_manifest_obtain(&cli->run, &mo, &m, &rep, &d)) != ST7_OK) {
		if (ret == ST7_ERR_FORMAT)
			step = ST7_STEP_FILE;
		goto fail;
	}
	step = ST7_STEP_FILE;
	if ((ret = st7_attempts_load(&cli->store, cli->s.state_dir, &attempts, &n_attempts, &d)))
		goto fail;
	if ((ret = st7_window_state(&cli->s.window, cli->s.timezone ? cli->s.timezone : "", in.now,
	                            local_time, (void *)clock, &in.window, &d)))
		goto fail;
	/* The devices, as `list` sees them. */
	step = ST7_STEP_USB;
	if ((ret = st7_usb_libusb_init(&cli->usb, &d)) != ST7_OK)
		goto fail;
	cli->usb_open = true;
	if ((ret = st7_usb_scan(&cli->usb, st7_dfu_list_wants, &found, &n_found, &d)) ||
	    (ret = st7_dfu_list_build(found, n_found, &devs, &n_devs)))
		goto fail;
	pdevs = calloc(n_devs ? n_devs : 1, sizeof(*pdevs));
	rows = calloc(n_devs ? n_devs : 1, sizeof(*rows));
	urls = calloc(n_devs ? n_devs : 1, sizeof(*urls));
	if (!pdevs || !rows || !urls) {
		ret = st7_diag_set(&d, ST7_ERR_NOMEM, "out of memory");
		goto fail;
	}
	plan_devices(devs, n_devs, pdevs);
	in.rules = &cli->rules;
	in.manifest = &m;
	in.devices = pdevs;
	in.n_devices = n_devs;
	in.attempts = attempts;
	in.n_attempts = n_attempts;
	in.gateway_id = id;
	in.channel = cli->s.channel;
	in.max_attempts = (unsigned)cli->s.max_attempts;
	st7_plan_decide(&in, rows);
	for (size_t i = 0; i < n_devs; i++)
		if (rows[i].release >= 0)
			st7_release_url_row(cli->s.manifest_url, cli->s.allow_http,
			                    &m.releases[rows[i].release], &rows[i], urls[i],
			                    sizeof(urls[i]));
	struct st7_plan_view v = {
		&in, rows, cli->s.manifest_url, &rep, cli->s.timezone ? cli->s.timezone : "", urls
	};
	struct st7_buf out;
	struct st7_json j;
	st7_buf_init(&out);
	st7_json_init(&j, &out);
	if (cli->s.json) {
		st7_plan_json(&v, &j);
		st7_buf_printf(&out, "\n");
	} else {
		st7_plan_text(&v, &out);
	}
	rc = st7_json_finish(&j) == ST7_OK ? st7_cli_emit(&out) : ST7_EXIT_FAILURE;
	st7_buf_free(&out);
	goto cleanup;
fail:
	st7_err("%s", d.msg);
	if (rep.retry_after_s >= 0 && step == ST7_STEP_DOWNLOAD)
		st7_info("retry after %lld s", (long long)rep.retry_after_s);
	rc = st7_exit_for(ret, step);
cleanup:
	free(urls);
	free(rows);
	free(pdevs);
	free(devs);
	st7_usb_found_free(found, n_found);
	free(attempts);
	st7_manifest_free(&m);
	return rc;
}
