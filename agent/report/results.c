/* SPDX-License-Identifier: MIT */
#include "results.h"

#include <stdio.h>

#include "err.h"

static void line_begin(struct st7_json *j, struct st7_buf *out)
{
	st7_json_init(j, out);
	st7_json_obj_begin(j);
}

/* Closes the object and the line; on a writer failure the buffer stays as it was. */
static void line_end(struct st7_json *j, struct st7_buf *out, size_t start)
{
	st7_json_obj_end(j);
	if (st7_json_finish(j) != ST7_OK || st7_buf_printf(out, "\n") != ST7_OK)
		out->len = start;
}

static void key_str(struct st7_json *j, const char *key, const char *v)
{
	st7_json_key(j, key);
	st7_json_str(j, v);
}

static void key_uint(struct st7_json *j, const char *key, uint64_t v)
{
	st7_json_key(j, key);
	st7_json_uint(j, v);
}

static void key_uint_or_null(struct st7_json *j, const char *key, bool present, uint64_t v)
{
	st7_json_key(j, key);
	if (present)
		st7_json_uint(j, v);
	else
		st7_json_null(j);
}

/* "downloaded", "resumed", "not-modified", or NULL for a local file. */
static const char *fetch_status(const struct st7_source_report *src)
{
	return !src->remote        ? NULL
	       : src->not_modified ? "not-modified"
	       : src->resumed      ? "resumed"
	                           : "downloaded";
}

void st7_result_upgrade_json(const char *cmd, const struct st7_device_seen *dev,
                             const struct st7_upgrade_report *r, int exit_code,
                             const struct st7_source_report *src, struct st7_buf *out)
{
	struct st7_json j;
	size_t start = out->len;
	bool runs_to = r->outcome == ST7_UPG_DONE || r->outcome == ST7_UPG_ROLLED_BACK ||
	               r->outcome == ST7_UPG_UNVERIFIED;
	line_begin(&j, out);
	key_str(&j, "event", "result");
	key_str(&j, "command", cmd);
	key_str(&j, "outcome", st7_upgrade_outcome_name(r->outcome));
	key_uint(&j, "exit_code", (uint64_t)exit_code);
	key_str(&j, "device", dev->path);
	key_str(&j, "serial", dev->serial);
	key_uint_or_null(&j, "from_version", r->had_version, r->from_version);
	key_uint_or_null(&j, "to_version", runs_to, r->to_version);
	key_str(&j, "backup", r->backup[0] ? r->backup : NULL);
	key_uint(&j, "attempts", r->attempts);
	key_str(&j, "error", r->error[0] ? r->error : NULL);
	if (src) { /* what was installed, and who vouched for it */
		key_str(&j, "image_sha256", src->sha256[0] ? src->sha256 : NULL);
		key_str(&j, "signer", src->verified ? src->signer : NULL);
		key_str(&j, "fetch", fetch_status(src));
	}
	line_end(&j, out, start);
}

void st7_result_upgrade_text(const char *cmd, const struct st7_device_seen *dev,
                             const struct st7_upgrade_report *r, struct st7_buf *out)
{
	const char *path = dev->path;
	switch (r->outcome) {
	case ST7_UPG_DONE:
		st7_buf_printf(out, "%s: %s: now running 0x%04X%s%s\n", path, cmd, r->to_version,
		               r->backup[0] ? "; backup " : "", r->backup);
		return;
	case ST7_UPG_NOTHING:
		st7_buf_printf(out, "%s: nothing to do: %s\n", path, r->error);
		return;
	case ST7_UPG_UNVERIFIED:
		st7_buf_printf(out, "%s: %s: now running 0x%04X, but UNVERIFIED%s%s\n", path, cmd,
		               r->to_version, r->backup[0] ? "; backup set aside: " : "",
		               r->backup);
		return;
	case ST7_UPG_ROLLED_BACK:
		st7_buf_printf(out, "%s: %s FAILED; rolled back to 0x%04X from %s\n", path, cmd,
		               r->to_version, r->backup);
		return;
	case ST7_UPG_LEFT_IN_DFU: {
		char where[64];
		if (!dev->present)
			snprintf(where, sizeof(where), "not on the bus");
		else if (dev->mode == ST7_DFU_MODE_DFU)
			snprintf(where, sizeof(where), "LEFT IN DFU MODE");
		else
			snprintf(where, sizeof(where), "in runtime mode reporting 0x%04X",
			         dev->bcd_device);
		/* Only an upgrade tries a rollback of its own. */
		st7_buf_printf(out,
		               "%s: %s FAILED%s; the device is %s; run 'st7dfu rollback' or "
		               "'st7dfu upgrade' again\n",
		               path, cmd, r->rollback_tried ? " and so did the rollback" : "",
		               where);
		return;
	}
	default:
		st7_buf_printf(out, "%s: %s %s\n", path, cmd, st7_upgrade_outcome_name(r->outcome));
		return;
	}
}

void st7_result_status_json(const struct st7_device_seen *dev, const struct st7_dfu_status_reply *r,
                            struct st7_buf *out)
{
	struct st7_json j;
	size_t start = out->len;
	line_begin(&j, out);
	key_str(&j, "device", dev->path);
	key_str(&j, "mode", st7_dfu_mode_name(dev->mode));
	key_uint(&j, "vid", dev->vid);
	key_uint(&j, "pid", dev->pid);
	key_uint(&j, "bcdDevice", dev->bcd_device);
	key_str(&j, "state", st7_dfu_state_name(r->state));
	key_uint(&j, "state_code", r->state);
	key_str(&j, "status", st7_dfu_status_name(r->status));
	key_uint(&j, "status_code", r->status);
	key_uint(&j, "poll_timeout_ms", r->poll_timeout_ms);
	line_end(&j, out, start);
}

void st7_result_status_text(const struct st7_device_seen *dev, const struct st7_dfu_status_reply *r,
                            struct st7_buf *out)
{
	st7_buf_printf(out, "%s: %s mode, %04x:%04x bcdDevice 0x%04X, state %s, status %s (%s)\n",
	               dev->path, st7_dfu_mode_name(dev->mode), dev->vid, dev->pid, dev->bcd_device,
	               st7_dfu_state_name(r->state), st7_dfu_status_name(r->status),
	               st7_dfu_status_text(r->status));
}

void st7_result_fetch_json(const char *url, const struct st7_source_report *r, int exit_code,
                           const char *output, uint64_t size, const char *error,
                           struct st7_buf *out)
{
	struct st7_json j;
	size_t start = out->len;
	line_begin(&j, out);
	key_str(&j, "event", "result");
	key_str(&j, "command", "fetch");
	key_str(&j, "url", url);
	key_uint(&j, "exit_code", (uint64_t)exit_code);
	key_str(&j, "status",
	        exit_code         ? "failed"
	        : r->not_modified ? "not-modified"
	        : r->resumed      ? "resumed"
	                          : "downloaded");
	key_uint(&j, "resumed_from", r->resumed_from);
	st7_json_key(&j, "restarted");
	st7_json_bool(&j, r->restarted);
	key_uint_or_null(&j, "size", exit_code == 0, size);
	key_str(&j, "sha256", exit_code || !r->sha256[0] ? NULL : r->sha256);
	st7_json_key(&j, "verified");
	st7_json_bool(&j, r->verified);
	key_str(&j, "signer", r->verified ? r->signer : NULL);
	key_str(&j, "output", exit_code ? NULL : output);
	key_uint_or_null(&j, "retry_after", r->retry_after_s >= 0, (uint64_t)r->retry_after_s);
	key_str(&j, "error", error);
	line_end(&j, out, start);
}

void st7_result_fetch_text(const char *url, const struct st7_source_report *r, uint64_t size,
                           const char *output, struct st7_buf *out)
{
	st7_buf_printf(out, "%s: %s, %llu bytes, sha256 %s%s%s%s%s\n", url,
	               r->not_modified ? "not modified (cached copy)"
	               : r->resumed    ? "downloaded (resumed)"
	                               : "downloaded",
	               (unsigned long long)size, r->sha256,
	               r->verified ? ", signed by " : ", UNSIGNED", r->verified ? r->signer : "",
	               output ? " -> " : "", output ? output : "");
}

void st7_result_verify_json(const char *path, const char *sig_path, bool valid, const char *signer,
                            const char *sha256, uint64_t size, const char *error,
                            struct st7_buf *out)
{
	struct st7_json j;
	size_t start = out->len;
	line_begin(&j, out);
	key_str(&j, "file", path);
	key_str(&j, "signature", sig_path);
	st7_json_key(&j, "valid");
	st7_json_bool(&j, valid);
	key_str(&j, "signer", valid ? signer : NULL);
	key_str(&j, "sha256", sha256 && sha256[0] ? sha256 : NULL);
	key_uint(&j, "size", size);
	key_str(&j, "error", valid ? NULL : error);
	line_end(&j, out, start);
}

void st7_result_unreadable_json(const char *path, int err, const char *message, struct st7_json *j)
{
	st7_json_obj_begin(j);
	key_str(j, "path", path);
	st7_json_kv_bool(j, "valid", false);
	st7_json_key(j, "error");
	st7_json_obj_begin(j);
	key_str(j, "code", st7_err_name(err));
	key_str(j, "message", message);
	st7_json_obj_end(j);
	st7_json_obj_end(j);
}
