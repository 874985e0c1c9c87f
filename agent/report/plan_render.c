/* SPDX-License-Identifier: MIT */
#include "plan_render.h"

#include <stdio.h>
#include <string.h>

#include "parse_util.h"
#include "st7_profile.h"

static const char *action(const struct st7_plan_row *r)
{
	return r->reason == ST7_PLAN_UPDATE    ? "update"
	       : r->reason == ST7_PLAN_RECOVER ? "recover"
	                                       : "none";
}

static void kv_time_or_null(struct st7_json *j, const char *key, bool set, int64_t t)
{
	char s[32];
	st7_json_key(j, key);
	if (!set) {
		st7_json_null(j);
		return;
	}
	st7_format_utc(t, s, sizeof(s));
	st7_json_str(j, s);
}

static void kv_hex16(struct st7_json *j, const char *key, uint16_t v)
{
	char s[8];
	snprintf(s, sizeof(s), "0x%04x", v);
	st7_json_kv_str(j, key, s);
}

void st7_plan_json(const struct st7_plan_view *v, struct st7_json *j)
{
	const struct st7_plan_input *in = v->in;
	const struct st7_manifest *m = in->manifest;
	char s[2 * ST7_SHA256_LEN + 1];
	st7_json_obj_begin(j);
	st7_json_key(j, "manifest");
	st7_json_obj_begin(j);
	st7_json_kv_str(j, "url", v->manifest_url);
	st7_json_kv_uint(j, "serial", m->serial);
	kv_time_or_null(j, "issued", true, m->issued);
	kv_time_or_null(j, "expires", true, m->expires);
	st7_json_kv_str(j, "signer", v->rep->signer);
	st7_json_kv_str(j, "sha256", v->rep->sha256);
	st7_json_kv_bool(j, "not_modified", v->rep->not_modified);
	st7_json_kv_bool(j, "unchanged", v->rep->unchanged);
	st7_json_obj_end(j);
	st7_json_key(j, "gateway");
	st7_json_obj_begin(j);
	st7_json_kv_str(j, "id", in->gateway_id);
	st7_json_kv_str(j, "channel", in->channel);
	kv_time_or_null(j, "time", true, in->now);
	st7_json_kv_str(j, "timezone", v->timezone);
	st7_json_key(j, "window");
	st7_json_obj_begin(j);
	st7_json_kv_bool(j, "open", in->window.open);
	kv_time_or_null(j, "next_open", !in->window.open && in->window.opens, in->window.next_open);
	kv_time_or_null(j, "closes", in->window.open && in->window.closes, in->window.closes);
	st7_json_obj_end(j);
	st7_json_obj_end(j);
	st7_json_key(j, "devices");
	st7_json_arr_begin(j);
	for (size_t i = 0; i < in->n_devices; i++) {
		const struct st7_plan_row *r = &v->rows[i];
		const struct st7_plan_device *dev = &in->devices[r->device];
		const struct st7_release *rel = r->release >= 0 ? &m->releases[r->release] : NULL;
		st7_json_obj_begin(j);
		st7_json_kv_str(j, "serial", dev->serial);
		st7_json_kv_str(j, "path", dev->path);
		kv_hex16(j, "vid", dev->vid);
		kv_hex16(j, "pid", dev->pid);
		st7_json_kv_str(j, "mode", dev->dfu_mode ? "dfu" : "runtime");
		st7_json_key(j, "version");
		if (dev->dfu_mode) {
			st7_json_null(j);
		} else {
			snprintf(s, sizeof(s), "0x%04x", dev->version);
			st7_json_str(j, s);
		}
		st7_json_key(j, "profiles");
		st7_json_arr_begin(j);
		for (size_t p = 0; p < st7_profile_count(); p++)
			if (dev->profiles & (1u << p))
				st7_json_str(j, st7_profile_at(p)->name);
		st7_json_arr_end(j);
		st7_json_key(j, "rule");
		if (r->rule >= 0 && in->rules)
			st7_json_str(j, in->rules->r[r->rule].name);
		else
			st7_json_null(j);
		st7_json_kv_str(j, "action", action(r));
		st7_json_kv_str(j, "reason", st7_plan_reason_name(r->reason));
		st7_json_kv_str(j, "detail", r->detail);
		st7_json_key(j, "release");
		if (rel)
			st7_json_str(j, rel->name);
		else
			st7_json_null(j);
		st7_json_key(j, "release_version");
		if (rel) {
			snprintf(s, sizeof(s), "0x%04x", rel->version);
			st7_json_str(j, s);
		} else {
			st7_json_null(j);
		}
		st7_json_key(j, "url");
		if (rel && v->urls && v->urls[i][0])
			st7_json_str(j, v->urls[i]);
		else
			st7_json_null(j);
		st7_json_key(j, "sha256");
		if (rel) {
			st7_sha256_hex(rel->sha256, s);
			st7_json_str(j, s);
		} else {
			st7_json_null(j);
		}
		st7_json_key(j, "size");
		if (rel)
			st7_json_uint(j, rel->size);
		else
			st7_json_null(j);
		st7_json_key(j, "cohort");
		if (r->reason == ST7_PLAN_NOT_IN_COHORT || r->reason == ST7_PLAN_UPDATE)
			st7_json_uint(j, r->cohort);
		else
			st7_json_null(j);
		st7_json_key(j, "rollout");
		if (rel)
			st7_json_uint(j, rel->rollout);
		else
			st7_json_null(j);
		kv_time_or_null(
		        j, "until",
		        (r->reason == ST7_PLAN_NOT_YET || r->reason == ST7_PLAN_OUTSIDE_WINDOW) &&
		                r->until,
		        r->until);
		st7_json_kv_uint(j, "failures", r->failures);
		st7_json_obj_end(j);
	}
	st7_json_arr_end(j);
	st7_json_obj_end(j);
}

void st7_plan_text(const struct st7_plan_view *v, struct st7_buf *out)
{
	const struct st7_plan_input *in = v->in;
	char t[32];
	st7_format_utc(in->now, t, sizeof(t));
	st7_buf_printf(out, "manifest %s: serial %llu, signed by %s%s\n", v->manifest_url,
	               (unsigned long long)in->manifest->serial, v->rep->signer,
	               v->rep->not_modified ? " (not modified)" : "");
	st7_buf_printf(out, "gateway %s, channel %s, %s", in->gateway_id, in->channel, t);
	if (in->window.open) {
		st7_buf_printf(out, ", maintenance window open\n");
	} else if (in->window.opens) {
		st7_format_utc(in->window.next_open, t, sizeof(t));
		st7_buf_printf(out, ", maintenance window opens %s\n", t);
	} else {
		st7_buf_printf(out, ", no maintenance window in the next 8 days\n");
	}
	if (!in->n_devices)
		st7_buf_printf(out, "no DFU device attached\n");
	for (size_t i = 0; i < in->n_devices; i++) {
		const struct st7_plan_row *r = &v->rows[i];
		const struct st7_plan_device *dev = &in->devices[r->device];
		char ver[16];
		if (dev->dfu_mode)
			snprintf(ver, sizeof(ver), "DFU mode");
		else
			snprintf(ver, sizeof(ver), "0x%04x", dev->version);
		st7_buf_printf(out, "%-10s %-16s %04x:%04x %-9s %-8s %s\n", dev->path,
		               dev->serial[0] ? dev->serial : "-", dev->vid, dev->pid, ver,
		               action(r), r->detail);
	}
}
