/* SPDX-License-Identifier: MIT */
#include "attempt_report.h"

#include <stdio.h>

#include "json_writer.h"
#include "parse_util.h"

/* "0483" (an ID) or "0x0100" (a version). */
static void kv_hex(struct st7_json *j, const char *key, bool prefix, unsigned v)
{
	char s[8];
	snprintf(s, sizeof(s), "%s%04x", prefix ? "0x" : "", v & 0xffffu);
	st7_json_kv_str(j, key, s);
}

static void kv_time(struct st7_json *j, const char *key, int64_t t)
{
	char s[40];
	st7_format_utc(t, s, sizeof(s));
	st7_json_kv_str(j, key, s);
}

int st7_attempt_report_json(const struct st7_journal_rec *r, const char *gateway_id,
                            struct st7_buf *out)
{
	int ret = ST7_ERR_INVALID;
	struct st7_json j;
	size_t len0;
	if (!r || !out)
		return ret;
	len0 = out->len;
	st7_json_init(&j, out);
	st7_json_obj_begin(&j);
	st7_json_kv_uint(&j, "schema", 1);
	st7_json_key(&j, "gateway");
	if (gateway_id)
		st7_json_str(&j, gateway_id);
	else
		st7_json_null(&j);
	st7_json_key(&j, "device");
	st7_json_obj_begin(&j);
	st7_json_kv_str(&j, "serial", r->serial);
	kv_hex(&j, "vid", false, r->vid);
	kv_hex(&j, "pid", false, r->pid);
	st7_json_kv_str(&j, "port", r->port);
	st7_json_obj_end(&j);
	st7_json_kv_uint(&j, "attempt", r->attempt);
	st7_json_kv_str(&j, "release", r->release);
	st7_json_kv_uint(&j, "manifest_serial", r->manifest_serial);
	if (r->has_from) {
		kv_hex(&j, "from_version", true, r->from_version);
	} else {
		st7_json_key(&j, "from_version");
		st7_json_null(&j);
	}
	kv_hex(&j, "to_version", true, r->to_version);
	st7_json_kv_str(&j, "image_sha256", r->image_sha256);
	st7_json_kv_str(&j, "result",
	                r->outcome[0] ? r->outcome : st7_journal_phase_name(r->phase));
	st7_json_kv_str(&j, "phase", st7_journal_phase_name(r->phase));
	st7_json_key(&j, "error");
	if (r->error[0])
		st7_json_str(&j, r->error);
	else
		st7_json_null(&j);
	st7_json_kv_bool(&j, "device_rollback", r->device_rollback);
	st7_json_kv_uint(&j, "recoveries", r->recoveries);
	kv_time(&j, "started", r->started_s);
	if (st7_journal_phase_terminal(r->phase)) {
		kv_time(&j, "finished", r->updated_s);
	} else {
		st7_json_key(&j, "finished");
		st7_json_null(&j);
	}
	st7_json_key(&j, "durations_ms");
	st7_json_obj_begin(&j);
	st7_json_kv_uint(&j, "fetch", r->fetch_ms);
	st7_json_kv_uint(&j, "flash", r->flash_ms);
	st7_json_obj_end(&j);
	st7_json_obj_end(&j);
	ret = st7_json_finish(&j);
	if (ret == ST7_OK)
		ret = st7_buf_append_byte(out, '\n');
	if (ret) {
		out->len = len0;
		ret = ST7_ERR_NOMEM;
	}
	return ret;
}
