/* SPDX-License-Identifier: MIT */
/*
 * Flashing with its post-check, and putting firmware back: the rollback command, the
 * rescue of a failed update, and an untouched device sent back to its application.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "upgrade_int.h"

/* ---- Flashing ----------------------------------------------------------------------- */

/* A device that lost power while it manifested comes back as a loader holding the whole
 * image but no valid application: one more download finishes the job. */
static bool manifest_lost(const struct st7_engine *e, int ret)
{
	return ret != ST7_OK && ret != ST7_ERR_ABORTED && e->dev && e->dfu.mode == ST7_DFU_MODE_DFU;
}

/* Download and manifest, twice at most: a download error is final (the engine retried
 * its blocks already); a manifestation lost with the power gets one more download. */
static int download_manifest(struct st7_engine *e, const struct st7_dfu_file *f, struct st7_diag *d)
{
	int ret = ST7_OK;
	for (int pass = 0; pass < 2; pass++) {
		bool needs_reset = false;
		ret = f->kind == ST7_DFU_KIND_DFUSE
		              ? st7_engine_dfuse_download(e, f, d)
		              : st7_engine_download(e, f->data, f->payload_len, &needs_reset, d);
		if (ret)
			return ret;
		/* DfuSe leaves by itself; a plain device is reset into its application. */
		ret = f->kind == ST7_DFU_KIND_DFUSE
		              ? st7_engine_wait_mode(e, ST7_DFU_MODE_RUNTIME, d)
		              : st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, d);
		if (!manifest_lost(e, ret) || pass == 1)
			break;
		st7_warn("%s: %s; downloading once more", e->path, d->msg);
	}
	return ret;
}

int upg_flash(struct st7_engine *e, const struct st7_dfu_file *f, int expect, bool *touched,
              struct st7_diag *d)
{
	/* Until the first DFU_DNLOAD the device's memory cannot have changed, so a failure
	 * before it leaves the device untouched, whatever state it left it in. */
	unsigned before = e->dnloads;
	int ret = download_manifest(e, f, d);
	*touched = e->dnloads != before;
	if (ret == ST7_OK && expect >= 0 && e->dev->dev.bcd_device != expect)
		ret = st7_diag_set(
		        d, ST7_ERR_DEVICE,
		        "post-check: the device reports bcdDevice 0x%04X, expected 0x%04X",
		        e->dev->dev.bcd_device, (unsigned)expect);
	return ret;
}

int upg_restore(struct st7_engine *e, const struct st7_dfu_file *f, const char *label,
                bool *touched, struct st7_upgrade_report *r, struct st7_diag *d)
{
	*touched = false;
	if (!e->dev)
		return st7_diag_set(d, ST7_ERR_NO_DEVICE, "device %s is not present", e->path);
	if ((f->kind == ST7_DFU_KIND_DFUSE) != (e->dfu.dfu_version == ST7_BCDDFU_DFUSE))
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED, "%s does not suit this device", label);
	uint16_t v = f->suffix.bcd_device;
	st7_info("%s: restoring %s (version 0x%04X)", e->path, label, v);
	/* 0xFFFF is no version: nothing to post-check. */
	int ret = upg_flash(e, f, v != ST7_DFU_ID_ANY ? v : -1, touched, d);
	if (ret == ST7_OK) {
		r->to_version = e->dev->dev.bcd_device;
		snprintf(r->backup, sizeof(r->backup), "%s", label);
	}
	return ret;
}

enum st7_upgrade_outcome upg_leave_or_stay(struct st7_engine *e, int old,
                                           struct st7_upgrade_report *r)
{
	bool running = false;
	struct st7_diag ld = { "" };
	if (e->dev && e->dfu.mode == ST7_DFU_MODE_DFU &&
	    st7_engine_leave_dfu(e, &running, &ld) == ST7_OK && running) {
		uint16_t v = e->dev->dev.bcd_device;
		upg_error_append(r, "; the device still held its application and runs it (0x%04X)",
		                 v);
		if (old < 0 || v == old) {
			r->to_version = v;
			return upg_set(r, ST7_UPG_UNTOUCHED, r->error);
		}
	}
	return upg_set(r, ST7_UPG_LEFT_IN_DFU, r->error);
}

enum st7_upgrade_outcome upg_rescue(struct st7_engine *e, const struct st7_dfu_file *f,
                                    const char *label, int old, struct st7_upgrade_report *r)
{
	struct st7_diag rd = { "" };
	bool touched = false;
	r->rollback_tried = true;
	if (!e->dev || e->dfu.mode != ST7_DFU_MODE_DFU)
		st7_engine_enter_dfu(e, &rd);
	if (upg_restore(e, f, label, &touched, r, &rd) == ST7_OK)
		return upg_set(r, ST7_UPG_ROLLED_BACK, r->error);
	upg_error_append(r, "; rollback failed too: %s", rd.msg);
	return upg_leave_or_stay(e, old, r);
}

enum st7_upgrade_outcome upg_send_back(struct st7_engine *e, bool was_running, int ret,
                                       const char *why, struct st7_upgrade_report *r)
{
	if (was_running && e->dev && e->dfu.mode == ST7_DFU_MODE_DFU) {
		struct st7_diag fd = { "" };
		st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, &fd);
	}
	upg_set(r, ST7_UPG_UNTOUCHED, why);
	if (ret == ST7_ERR_ABORTED)
		return upg_set(r, ST7_UPG_ABORTED, NULL);
	if (ret == ST7_ERR_RANGE || ret == ST7_ERR_UNSUPPORTED)
		return upg_set(r, ST7_UPG_REFUSED, NULL);
	return r->outcome;
}

/* ---- st7dfu rollback ---------------------------------------------------------------- */

/*
 * The newest stored backup of the device into `bytes`/`stored` (*f points to it), unless
 * none may be restored: a backup no read-back has checked is not put over a running
 * application (it may have been read through a lying upload path); on a device with no
 * application it is the best there is. *f NULL: the outcome says why.
 */
static enum st7_upgrade_outcome choose_stored(struct st7_run *run, struct st7_engine *e,
                                              const struct st7_upgrade_opts *o, bool runtime,
                                              char *from, size_t cap, struct st7_buf *bytes,
                                              struct st7_dfu_file *stored,
                                              const struct st7_dfu_file **f,
                                              struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
	struct upg_pending pl;
	char bdir[PATH_MAX];
	const uint16_t ids[2] = { e->dev->dev.id_vendor, e->dev->dev.id_product };
	*f = NULL;
	if (upg_stored_backup(run, e, o, runtime ? ids : NULL, from, cap, bytes, stored, &d) !=
	    ST7_OK) {
		/* A device a killed run left in DFU mode still holds its application: nothing
		 * to restore, but it must not stay a loader. */
		bool back = false;
		struct st7_diag ld = { "" };
		upg_set(r, ST7_UPG_STORAGE, d.msg);
		if (!runtime && st7_engine_leave_dfu(e, &back, &ld) == ST7_OK && back)
			upg_error_append(
			        r,
			        "; the device was in DFU mode with a valid application and "
			        "runs it again (0x%04X)",
			        e->dev->dev.bcd_device);
		return r->outcome;
	}
	if (st7_store_dirname(bdir, sizeof(bdir), from) == ST7_OK)
		upg_pending_read(run, bdir, &pl);
	else
		pl = (struct upg_pending){ .all = true }; /* cannot tell: unchecked */
	if (upg_pending_has(&pl, from)) {
		/* In DFU mode the device may still hold the new application: ask it. */
		bool running = runtime;
		struct st7_diag ld = { "" };
		if (!running && st7_engine_leave_dfu(e, &running, &ld) != ST7_OK)
			running = false;
		if (running) {
			upg_set(r, ST7_UPG_STORAGE, "");
			upg_error_append(
			        r,
			        "%s was never checked by a read-back (an update stopped "
			        "before it): run 'st7dfu upgrade' with the image the device "
			        "runs to check it, or 'st7dfu rollback --to %s' to restore "
			        "it anyway",
			        from, from);
			return r->outcome;
		}
		st7_warn("%s: %s was never checked by a read-back; restoring it all the same: the "
		         "device holds no application",
		         e->path, from);
	}
	*f = stored;
	return ST7_UPG_DONE;
}

/* The same target checks as any image, before the device is touched; then restore. */
static enum st7_upgrade_outcome put_back(struct st7_engine *e, const struct st7_dfu_file *f,
                                         bool given, bool own_backup, const char *from,
                                         bool runtime, const struct st7_upgrade_opts *o,
                                         struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
	const struct st7_profile *p = e->dfu.dfu_version == ST7_BCDDFU_DFUSE
	                                      ? NULL
	                                      : upg_pick_profile(e, o, f->payload_len);
	bool loader_pid = false, touched = false;
	uint16_t app_pid = e->dev->dev.id_product;
	int old = runtime && r->from_version != ST7_DFU_ID_ANY ? r->from_version : -1;
	int ret = upg_check_part(e, f, p, own_backup, &d);
	if (ret == ST7_OK && given) { /* a stored backup carries this device's own IDs */
		struct upg_identity id = { runtime,
			                   runtime,
			                   e->dev->dev.id_vendor,
			                   e->dev->dev.id_product,
			                   false,
			                   0,
			                   runtime ? "the device" : "the device's descriptors" };
		ret = upg_check_ids(e, &f->suffix, &id, true, &loader_pid, &d);
	}
	if (ret) {
		st7_diag_prefix(&d, ret, "%s", from);
		return upg_set(r, ST7_UPG_REFUSED, d.msg);
	}
	ret = st7_engine_enter_dfu(e, &d);
	if (ret == ST7_OK && loader_pid)
		ret = upg_check_loader_pid(e, &f->suffix, app_pid, &d);
	if (ret == ST7_OK)
		ret = upg_restore(e, f, from, &touched, r, &d);
	if (ret == ST7_OK)
		return upg_set(r, ST7_UPG_DONE, "");
	upg_set(r, r->outcome, d.msg);
	if (!touched || ret == ST7_ERR_RANGE || ret == ST7_ERR_UNSUPPORTED)
		return upg_send_back(e, runtime, ret, r->error, r); /* nothing erased */
	if (ret == ST7_ERR_ABORTED)
		return upg_set(r, ST7_UPG_ABORTED, NULL);
	/* The backup did not take: whatever the device runs is not verified. */
	return upg_leave_or_stay(e, old, r);
}

enum st7_upgrade_outcome st7_rollback(struct st7_run *run, struct st7_engine *e,
                                      const struct st7_dfu_file *file, const char *label,
                                      bool own_backup, const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *r)
{
	char from[PATH_MAX] = "";
	bool runtime = e->dfu.mode == ST7_DFU_MODE_RUNTIME;
	struct st7_buf bytes;
	struct st7_dfu_file stored;
	enum st7_upgrade_outcome out = ST7_UPG_STORAGE;
	const struct st7_dfu_file *f = file;

	memset(r, 0, sizeof(*r));
	st7_buf_init(&bytes);
	st7_dfu_file_init(&stored);
	if (runtime) {
		r->had_version = true;
		r->from_version = e->dev->dev.bcd_device;
	}
	if (file)
		snprintf(from, sizeof(from), "%s", label ? label : "the file");
	else
		out = choose_stored(run, e, o, runtime, from, sizeof(from), &bytes, &stored, &f, r);
	if (f)
		out = put_back(e, f, file != NULL, own_backup || !file, from, runtime, o, r);
	st7_dfu_file_free(&stored);
	st7_buf_free(&bytes);
	return out;
}
