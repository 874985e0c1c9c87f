/* SPDX-License-Identifier: MIT */
#include "upgrade.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_store.h"
#include "log.h"

/* A generic DFU device does not say how large its memory is; uploads stop here. */
#define GENERIC_UPLOAD_MAX ((size_t)16 << 20)
/* Backups are flashed without a signature: only files that root (or we) alone could have
 * written count as ours. */
#define BACKUP_READ_FLAGS (ST7_FILE_NOFOLLOW | ST7_FILE_PRIVATE)

void st7_upgrade_opts_default(struct st7_upgrade_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->state_dir = "/var/lib/st7dfu";
	o->keep_backups = 3;
}

const char *st7_upgrade_outcome_name(enum st7_upgrade_outcome o)
{
	static const char *const names[] = {
		"done",      "nothing-to-do", "refused",          "no-device",
		"untouched", "rolled-back",   "left-in-dfu-mode", "aborted",
	};
	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unknown";
}

static enum st7_upgrade_outcome set(struct st7_upgrade_report *r, enum st7_upgrade_outcome o,
                                    const char *msg)
{
	r->outcome = o;
	if (msg && msg != r->error)
		snprintf(r->error, sizeof(r->error), "%s", msg);
	return o;
}

/* The ST7 part: forced, or the profile the descriptors and the image size allow. */
static const struct st7_profile *pick_profile(const struct st7_engine *e,
                                              const struct st7_upgrade_opts *o, size_t image_len)
{
	if (o->profile)
		return o->profile;
	const struct st7_usb_found *f = e->dev;
	unsigned mask = st7_profile_match(f->dev.id_vendor, f->dev.max_packet_size0,
	                                  f->speed == ST7_USB_SPEED_FULL, e->dfu.func.length,
	                                  e->dfu.func.transfer_size);
	const struct st7_profile *hit = NULL;
	for (size_t i = 0; i < st7_profile_count(); i++) {
		if (!(mask & (1u << i)))
			continue;
		const struct st7_profile *p = st7_profile_at(i);
		/* ST72F62 and F63 look alike on the bus: an image's size decides; without
		 * an image (upload) the largest candidate bounds the read. */
		if (!image_len) {
			if (!hit || st7_profile_region_size(p) > st7_profile_region_size(hit))
				hit = p;
		} else if (st7_profile_region_size(p) == image_len) {
			hit = p;
		}
	}
	return hit;
}

/* Directory names come from device strings: keep them to a safe alphabet. */
static void safe_name(const char *in, char *out, size_t cap)
{
	size_t k = 0;
	for (; *in && k + 1 < cap; in++)
		out[k++] = ((*in >= 'a' && *in <= 'z') || (*in >= 'A' && *in <= 'Z') ||
		            (*in >= '0' && *in <= '9') || *in == '.' || *in == '-' || *in == '_')
		                   ? *in
		                   : '_';
	out[k] = '\0';
	if (out[0] == '.')
		out[0] = '_';
}

/* STATE/backups/VID-PID-SERIAL, or the existing directory of this serial when the
 * device is in DFU mode and its runtime IDs are unknown. */
static int backup_dir(const struct st7_engine *e, const struct st7_upgrade_opts *o,
                      const struct st7_usb_device_desc *runtime, char *out, size_t cap)
{
	char serial[96];
	safe_name(e->serial[0] ? e->serial : e->path, serial, sizeof(serial));
	if (runtime)
		return snprintf(out, cap, "%s/backups/%04x-%04x-%s", o->state_dir,
		                runtime->id_vendor, runtime->id_product, serial) >= (int)cap
		               ? -1
		               : 0;
	char base[PATH_MAX];
	snprintf(base, sizeof(base), "%s/backups", o->state_dir);
	DIR *dir = opendir(base);
	if (!dir)
		return -1;
	struct dirent *de;
	int ret = -1;
	size_t sl = strlen(serial);
	while ((de = readdir(dir)) != NULL) {
		size_t nl = strlen(de->d_name);
		/* "vvvv-pppp-" + serial */
		if (nl == 10 + sl && strcmp(de->d_name + 10, serial) == 0 && de->d_name[4] == '-' &&
		    de->d_name[9] == '-') {
			ret = snprintf(out, cap, "%s/%s", base, de->d_name) >= (int)cap ? -1 : 0;
			break;
		}
	}
	closedir(dir);
	return ret;
}

/* A device's backups, newest first (by modification time, nanoseconds). */
#define MAX_BACKUPS 64

struct backup_entry {
	char path[PATH_MAX];
	struct timespec mtime;
};

static int newer_first(const void *a, const void *b)
{
	const struct timespec *x = &((const struct backup_entry *)a)->mtime;
	const struct timespec *y = &((const struct backup_entry *)b)->mtime;
	if (x->tv_sec != y->tv_sec)
		return x->tv_sec > y->tv_sec ? -1 : 1;
	return x->tv_nsec > y->tv_nsec ? -1 : (x->tv_nsec < y->tv_nsec);
}

/* Fills `out` (MAX_BACKUPS entries) with the regular *.dfu files in `dir`. */
static size_t list_backups(const char *dir, struct backup_entry *out)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < MAX_BACKUPS) {
		size_t len = strlen(de->d_name);
		struct stat st;
		if (len < 5 || strcmp(de->d_name + len - 4, ".dfu") != 0)
			continue;
		if (snprintf(out[n].path, sizeof(out[n].path), "%s/%s", dir, de->d_name) >=
		            (int)sizeof(out[n].path) ||
		    stat(out[n].path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		out[n++].mtime = st.st_mtim;
	}
	closedir(d);
	qsort(out, n, sizeof(*out), newer_first);
	return n;
}

/* The newest backup that is a valid .dfu (a damaged one is skipped, with a warning). */
static int newest_backup(const char *dir, char *out, size_t cap)
{
	struct backup_entry *list = calloc(MAX_BACKUPS, sizeof(*list));
	int ret = -1;
	if (!list)
		return -1;
	size_t n = list_backups(dir, list);
	for (size_t i = 0; i < n && ret < 0; i++) {
		struct st7_buf file;
		struct st7_dfu_file f;
		struct st7_diag d = { "" };
		st7_dfu_file_init(&f);
		if (st7_file_read_ex(list[i].path, (size_t)64 << 20, BACKUP_READ_FLAGS, &file,
		                     &d) == ST7_OK &&
		    st7_dfu_file_parse(&f, file.data, file.len, 0, &d) == ST7_OK) {
			snprintf(out, cap, "%s", list[i].path);
			ret = 0;
		} else {
			st7_warn("skipping damaged backup %s: %s", list[i].path, d.msg);
		}
		st7_dfu_file_free(&f);
		st7_buf_free(&file);
	}
	free(list);
	return ret;
}

/* Keep the newest `keep` backups; never delete `protect`. */
static void prune_backups(const char *dir, unsigned keep, const char *protect)
{
	struct backup_entry *list = calloc(MAX_BACKUPS, sizeof(*list));
	if (!list)
		return;
	size_t n = list_backups(dir, list), kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i].path, protect) == 0 || kept < keep) {
			kept++;
			continue;
		}
		st7_info("removing old backup %s", list[i].path);
		unlink(list[i].path);
	}
	free(list);
}

/* Upload the firmware and wrap it in a .dfu with the runtime IDs and version. */
static int take_backup(struct st7_engine *e, const struct st7_profile *p, uint16_t vid,
                       uint16_t pid, uint16_t version, struct st7_buf *dfu, struct st7_diag *d)
{
	struct st7_buf mem;
	size_t want = p ? st7_profile_region_size(p) : GENERIC_UPLOAD_MAX;
	st7_buf_init(&mem);
	int ret = st7_engine_upload(e, want, &mem, d);
	if (ret == ST7_OK && p && mem.len != want)
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "the backup upload gave %zu bytes, but %s's writable region is "
		                   "%zu",
		                   mem.len, p->name, want);
	if (ret == ST7_OK && mem.len == 0)
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "the device uploaded nothing");
	if (ret == ST7_OK && p && st7_be16(mem.data + mem.len - 2) != version)
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "the uploaded image's version word is 0x%04X, but the device "
		                   "reported bcdDevice 0x%04X: the upload is not trustworthy",
		                   st7_be16(mem.data + mem.len - 2), version);
	if (ret == ST7_OK) {
		struct st7_dfu_ids ids = { vid, pid, version, 0 };
		ret = st7_dfu_build_plain(mem.data, mem.len, &ids, dfu, d);
	}
	st7_buf_free(&mem);
	return ret;
}

/* Download `payload`, manifest, come back in runtime mode reporting `version`. */
static int flash_and_check(struct st7_engine *e, const uint8_t *payload, size_t len,
                           uint16_t version, bool check_version, struct st7_diag *d)
{
	bool needs_reset = false;
	int ret = st7_engine_download(e, payload, len, &needs_reset, d);
	if (ret)
		return ret;
	ret = st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, d);
	if (ret)
		return ret;
	if (check_version && e->dev->dev.bcd_device != version)
		return st7_diag_set(d, ST7_ERR_DEVICE,
		                    "post-check: the device reports bcdDevice 0x%04X, expected "
		                    "0x%04X",
		                    e->dev->dev.bcd_device, version);
	return ST7_OK;
}

static int verify_readback(struct st7_engine *e, const struct st7_profile *p, const uint8_t *want,
                           size_t len, struct st7_diag *d)
{
	struct st7_buf mem;
	int ret = st7_engine_enter_dfu(e, d);
	st7_buf_init(&mem);
	if (ret == ST7_OK)
		ret = st7_engine_upload(e, p ? st7_profile_region_size(p) : GENERIC_UPLOAD_MAX,
		                        &mem, d);
	if (ret == ST7_OK && (mem.len != len || memcmp(mem.data, want, len) != 0))
		ret = st7_diag_set(d, ST7_ERR_DEVICE, "read-back differs from the image");
	st7_buf_free(&mem);
	if (ret == ST7_OK)
		ret = st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, d);
	return ret;
}

/* Put a stored backup (plain or DfuSe) back and post-check its version. */
static int restore(struct st7_engine *e, const char *path, unsigned read_flags,
                   struct st7_upgrade_report *r, struct st7_diag *d)
{
	struct st7_buf file;
	struct st7_dfu_file f;
	st7_dfu_file_init(&f);
	int ret = st7_file_read_ex(path, (size_t)64 << 20, read_flags, &file, d);
	if (ret == ST7_OK)
		ret = st7_dfu_file_parse(&f, file.data, file.len, 0, d);
	if (ret == ST7_OK &&
	    (f.kind == ST7_DFU_KIND_DFUSE) != (e->dfu.dfu_version == ST7_BCDDFU_DFUSE))
		ret = st7_diag_set(d, ST7_ERR_UNSUPPORTED, "%s does not suit this device", path);
	if (ret == ST7_OK) {
		uint16_t v = f.suffix.bcd_device;
		bool versioned = v != ST7_DFU_ID_ANY;
		st7_info("%s: restoring %s (version 0x%04X)", e->path, path, v);
		if (f.kind == ST7_DFU_KIND_DFUSE) {
			ret = st7_engine_dfuse_download(e, &f, d);
			if (ret == ST7_OK)
				ret = st7_engine_wait_mode(e, ST7_DFU_MODE_RUNTIME, d);
			if (ret == ST7_OK && versioned && e->dev->dev.bcd_device != v)
				ret = st7_diag_set(
				        d, ST7_ERR_DEVICE,
				        "post-check: the device reports bcdDevice 0x%04X, "
				        "expected 0x%04X",
				        e->dev->dev.bcd_device, v);
		} else {
			ret = flash_and_check(e, f.data, f.payload_len, v, versioned, d);
		}
		if (ret == ST7_OK) {
			r->to_version = e->dev->dev.bcd_device;
			snprintf(r->backup, sizeof(r->backup), "%s", path);
		}
	}
	st7_dfu_file_free(&f);
	st7_buf_free(&file);
	return ret;
}

/* After a failed update: put the backup at `path` back. r->error already holds why the
 * update failed; a failed rescue is appended to it. */
static enum st7_upgrade_outcome rescue(struct st7_engine *e, const char *path,
                                       struct st7_upgrade_report *r)
{
	struct st7_diag rd = { "" };
	if (!e->dev || e->dfu.mode != ST7_DFU_MODE_DFU)
		st7_engine_enter_dfu(e, &rd);
	if (restore(e, path, BACKUP_READ_FLAGS, r, &rd) == ST7_OK)
		return set(r, ST7_UPG_ROLLED_BACK, r->error);
	size_t w = strlen(r->error);
	snprintf(r->error + w, sizeof(r->error) - w, "; rollback failed too: %s", rd.msg);
	return set(r, ST7_UPG_LEFT_IN_DFU, r->error);
}

/* The suffix's IDs against the device (0xFFFF only when allowed). The suffix may name
 * the runtime or the DFU-mode IDs (DFU 1.1 appendix B leaves it open), so the product
 * ID is only compared in runtime mode. */
static int check_ids(const struct st7_engine *e, const struct st7_dfu_suffix *s,
                     const struct st7_upgrade_opts *o, struct st7_diag *d)
{
	const struct st7_usb_device_desc *dd = &e->dev->dev;
	if ((s->id_vendor == ST7_DFU_ID_ANY || s->id_product == ST7_DFU_ID_ANY) &&
	    !o->allow_wildcard)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "the image's suffix has wildcard IDs %04x:%04x; pass "
		                    "--allow-wildcard to accept them",
		                    s->id_vendor, s->id_product);
	if (s->id_vendor != ST7_DFU_ID_ANY && s->id_vendor != dd->id_vendor)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "the image is for idVendor 0x%04X, the device is 0x%04X",
		                    s->id_vendor, dd->id_vendor);
	if (s->id_product != ST7_DFU_ID_ANY && s->id_product != dd->id_product &&
	    e->dfu.mode == ST7_DFU_MODE_RUNTIME)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "the image is for idProduct 0x%04X, the device is 0x%04X",
		                    s->id_product, dd->id_product);
	return ST7_OK;
}

/* The checks that need no device access beyond its descriptors. */
static int check_image(const struct st7_engine *e, const struct st7_dfu_file *img,
                       const struct st7_upgrade_opts *o, const struct st7_profile *p,
                       struct st7_diag *d)
{
	const struct st7_dfu_suffix *s = &img->suffix;
	if (img->kind != ST7_DFU_KIND_PLAIN)
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED,
		                    "only plain DFU images can be installed on this device");
	int ret = check_ids(e, s, o, d);
	if (ret)
		return ret;
	if (p) {
		if (img->payload_len != st7_profile_region_size(p))
			return st7_diag_set(d, ST7_ERR_RANGE,
			                    "the image is %zu bytes, but %s's writable region "
			                    "0x%04X-0x%04X is %u bytes",
			                    img->payload_len, p->name, p->region_base,
			                    p->region_end - 1, st7_profile_region_size(p));
		uint16_t word = st7_be16(img->data + img->payload_len - 2);
		if (word != s->bcd_device)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "the image's version word is 0x%04X, but its suffix "
			                    "says bcdDevice 0x%04X",
			                    word, s->bcd_device);
	}
	if (e->dfu.func.length && !(e->dfu.func.attributes & ST7_DFU_ATTR_CAN_DNLOAD))
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED, "the device cannot download");
	return ST7_OK;
}

/* Version gate shared by both paths: equal = nothing to do, older = refused. */
static bool version_gate(const struct st7_upgrade_opts *o, uint16_t installed, uint16_t to,
                         struct st7_upgrade_report *r)
{
	if (installed == to && !o->allow_downgrade) {
		r->outcome = ST7_UPG_NOTHING;
		snprintf(r->error, sizeof(r->error), "the device already runs this version");
		return false;
	}
	if (installed > to && !o->allow_downgrade) {
		r->outcome = ST7_UPG_REFUSED;
		snprintf(r->error, sizeof(r->error),
		         "the image (0x%04X) is older than the installed firmware (0x%04X); pass "
		         "--allow-downgrade to install it",
		         to, installed);
		return false;
	}
	return true;
}

/* Store `data` as DIR/VERSION.dfu for this device and prune; path into `out`. */
static int store_backup(const struct st7_engine *e, const struct st7_upgrade_opts *o,
                        const struct st7_usb_device_desc *runtime, const struct st7_buf *data,
                        char *out, size_t cap, struct st7_diag *d)
{
	char dir[PATH_MAX];
	if (backup_dir(e, o, runtime, dir, sizeof(dir)) != 0 || st7_mkdir_p(dir, 0755) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "cannot create %s/backups: %s", o->state_dir,
		                    strerror(errno));
	if (snprintf(out, cap, "%s/%04x.dfu", dir, runtime->bcd_device) >= (int)cap)
		return st7_diag_set(d, ST7_ERR_INVALID, "path too long");
	int ret = st7_file_write_atomic(out, data->data, data->len, 0644, d);
	if (ret == ST7_OK) {
		st7_info("%s: backup of version 0x%04X stored in %s", e->path, runtime->bcd_device,
		         out);
		prune_backups(dir, o->keep_backups ? o->keep_backups : 1, out);
	}
	return ret;
}

/* DfuSe backup: every page the image will erase, as a DfuSe file of the same targets. */
static int take_dfuse_backup(struct st7_engine *e, const struct st7_dfu_file *img,
                             const struct st7_usb_device_desc *runtime, struct st7_buf *out,
                             struct st7_diag *d)
{
	enum { MAX_PAGES = 1024 };
	uint32_t *start = calloc(MAX_PAGES, sizeof(*start)),
	         *size = calloc(MAX_PAGES, sizeof(*size));
	struct st7_memimg mem[8];
	struct st7_dfuse_target_spec spec[8];
	unsigned nt = img->n_targets < 8 ? img->n_targets : 8;
	int ret = ST7_OK;
	if (!start || !size)
		ret = ST7_ERR_NOMEM;
	else if (img->n_targets > 8)
		ret = st7_diag_set(d, ST7_ERR_UNSUPPORTED, "more than 8 DfuSe targets");
	for (unsigned t = 0; t < nt; t++)
		st7_memimg_init(&mem[t]);
	for (unsigned t = 0; t < nt && ret == ST7_OK; t++) {
		size_t n = 0;
		ret = st7_engine_dfuse_pages(e, img, t, start, size, MAX_PAGES, &n, d);
		for (size_t i = 0; i < n && ret == ST7_OK; i++) {
			struct st7_buf page;
			st7_buf_init(&page);
			ret = st7_engine_dfuse_upload(e, img->targets[t].alt, start[i], size[i],
			                              &page, d);
			if (ret == ST7_OK)
				ret = st7_memimg_add(&mem[t], start[i], page.data, page.len, d);
			st7_buf_free(&page);
		}
		spec[t] = (struct st7_dfuse_target_spec){
			img->targets[t].alt, img->targets[t].named ? img->targets[t].name : NULL,
			&mem[t]
		};
	}
	if (ret == ST7_OK) {
		struct st7_dfu_ids ids = { runtime->id_vendor, runtime->id_product,
			                   runtime->bcd_device, 0 };
		ret = st7_dfu_build_dfuse(spec, nt, &ids, out, d);
	}
	for (unsigned t = 0; t < nt; t++)
		st7_memimg_free(&mem[t]);
	free(start);
	free(size);
	return ret;
}

static enum st7_upgrade_outcome upgrade_dfuse(struct st7_engine *e, const struct st7_dfu_file *img,
                                              const struct st7_upgrade_opts *o,
                                              struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
	const struct st7_usb_device_desc dd = e->dev->dev;
	bool runtime = e->dfu.mode == ST7_DFU_MODE_RUNTIME;
	uint16_t to = img->suffix.bcd_device;
	bool versioned = to != ST7_DFU_ID_ANY; /* 0xFFFF: "any" (DFU 1.1 appendix B) */
	char path[PATH_MAX] = "";
	struct st7_buf backup;
	int ret;

	if (img->kind != ST7_DFU_KIND_DFUSE)
		return set(r, ST7_UPG_REFUSED, "a DfuSe device takes DfuSe files");
	if (check_ids(e, &img->suffix, o, &d))
		return set(r, ST7_UPG_REFUSED, d.msg);
	if (runtime) {
		r->had_version = true;
		r->from_version = dd.bcd_device;
		if (versioned && !version_gate(o, dd.bcd_device, to, r))
			return r->outcome;
	}
	st7_buf_init(&backup);
	ret = st7_engine_enter_dfu(e, &d);
	if (ret == ST7_OK && runtime && !o->no_backup) {
		ret = take_dfuse_backup(e, img, &dd, &backup, &d);
		if (ret == ST7_OK)
			ret = store_backup(e, o, &dd, &backup, path, sizeof(path), &d);
		if (ret == ST7_OK)
			snprintf(r->backup, sizeof(r->backup), "%s", path);
	}
	st7_buf_free(&backup);
	if (ret) {
		struct st7_diag fd;
		snprintf(r->error, sizeof(r->error), "%s", d.msg);
		st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, &fd);
		return set(r, ret == ST7_ERR_ABORTED ? ST7_UPG_ABORTED : ST7_UPG_UNTOUCHED,
		           r->error);
	}
	ret = st7_engine_dfuse_download(e, img, &d);
	if (ret == ST7_OK)
		ret = st7_engine_wait_mode(e, ST7_DFU_MODE_RUNTIME, &d);
	if (ret == ST7_OK && versioned && e->dev->dev.bcd_device != to)
		ret = st7_diag_set(
		        &d, ST7_ERR_DEVICE,
		        "post-check: the device reports bcdDevice 0x%04X, expected 0x%04X",
		        e->dev->dev.bcd_device, to);
	if (ret == ST7_OK && o->verify) {
		/* Read back every element and compare. */
		ret = st7_engine_enter_dfu(e, &d);
		for (size_t i = 0; ret == ST7_OK && i < img->n_elements; i++) {
			const struct st7_dfuse_element *el = &img->elements[i];
			uint8_t alt = 0;
			for (unsigned t = 0; t < img->n_targets; t++)
				if (i >= img->targets[t].first_element &&
				    i < img->targets[t].first_element + img->targets[t].n_elements)
					alt = img->targets[t].alt;
			struct st7_buf back;
			st7_buf_init(&back);
			ret = st7_engine_dfuse_upload(e, alt, el->address, el->size, &back, &d);
			if (ret == ST7_OK &&
			    memcmp(back.data, img->data + el->offset, el->size) != 0)
				ret = st7_diag_set(&d, ST7_ERR_DEVICE,
				                   "read-back at 0x%08X differs from the image",
				                   el->address);
			st7_buf_free(&back);
		}
		if (ret == ST7_OK)
			ret = st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, &d);
	}
	r->attempts = 1;
	if (ret == ST7_OK) {
		r->to_version = e->dev->dev.bcd_device;
		return set(r, ST7_UPG_DONE, "");
	}
	snprintf(r->error, sizeof(r->error), "%s", d.msg);
	st7_err("%s: update failed: %s", e->path, d.msg);
	if (ret == ST7_ERR_ABORTED)
		return set(r, ST7_UPG_ABORTED, r->error);
	if (!path[0])
		return set(r, ST7_UPG_LEFT_IN_DFU, r->error);
	return rescue(e, path, r);
}

enum st7_upgrade_outcome st7_upgrade(struct st7_engine *e, const struct st7_dfu_file *img,
                                     const struct st7_upgrade_opts *o, struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
	struct st7_buf backup;
	char dir[PATH_MAX], path[PATH_MAX] = "";
	bool runtime = e->dfu.mode == ST7_DFU_MODE_RUNTIME;
	const struct st7_usb_device_desc dd = e->dev->dev;
	int ret;

	memset(r, 0, sizeof(*r));
	if (e->dfu.dfu_version == ST7_BCDDFU_DFUSE)
		return upgrade_dfuse(e, img, o, r);
	st7_buf_init(&backup);
	const struct st7_profile *p = pick_profile(e, o, img->payload_len);
	if (!p && (e->dfu.func.length == 7 && dd.id_vendor == 0x0483))
		return set(r, ST7_UPG_REFUSED,
		           "the image fits no ST7 part this device could be (check its size, or "
		           "name the part with --profile)");
	if (check_image(e, img, o, p, &d))
		return set(r, ST7_UPG_REFUSED, d.msg);
	uint16_t to = img->suffix.bcd_device;
	if (runtime) {
		r->had_version = true;
		r->from_version = dd.bcd_device;
		if (!version_gate(o, dd.bcd_device, to, r))
			return r->outcome;
	}

	/* From here on the device is touched. */
	ret = st7_engine_enter_dfu(e, &d);
	if (ret)
		goto untouched;
	if (runtime && !o->no_backup) {
		ret = take_backup(e, p, dd.id_vendor, dd.id_product, dd.bcd_device, &backup, &d);
		if (ret == ST7_OK)
			ret = store_backup(e, o, &dd, &backup, path, sizeof(path), &d);
		if (ret) {
			/* Nothing is erased yet: give the device its application back. */
			snprintf(r->error, sizeof(r->error), "backup failed: %s", d.msg);
			struct st7_diag fd;
			st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, &fd);
			st7_buf_free(&backup);
			return set(r, ret == ST7_ERR_ABORTED ? ST7_UPG_ABORTED : ST7_UPG_UNTOUCHED,
			           r->error);
		}
		snprintf(r->backup, sizeof(r->backup), "%s", path);
	} else if (!runtime) {
		st7_warn("%s: the device is in DFU mode; its memory is not trusted as a backup "
		         "(stored backups are kept)",
		         e->path);
	}

	ret = flash_and_check(e, img->data, img->payload_len, to, true, &d);
	if (ret == ST7_OK && o->verify)
		ret = verify_readback(e, p, img->data, img->payload_len, &d);
	r->attempts = e->attempts;
	if (ret == ST7_OK) {
		r->to_version = to;
		st7_buf_free(&backup);
		return set(r, ST7_UPG_DONE, "");
	}
	snprintf(r->error, sizeof(r->error), "%s", d.msg);
	st7_err("%s: update to 0x%04X failed: %s", e->path, to, d.msg);
	if (ret == ST7_ERR_ABORTED) {
		st7_buf_free(&backup);
		return set(r, ST7_UPG_ABORTED, r->error);
	}

	/* Roll back: the backup just taken, or the newest stored one. */
	char from[PATH_MAX] = "";
	if (path[0])
		snprintf(from, sizeof(from), "%s", path);
	else if (backup_dir(e, o, NULL, dir, sizeof(dir)) == 0)
		newest_backup(dir, from, sizeof(from));
	st7_buf_free(&backup);
	if (!from[0])
		return set(r, ST7_UPG_LEFT_IN_DFU, r->error);
	return rescue(e, from, r);

untouched:
	snprintf(r->error, sizeof(r->error), "%s", d.msg);
	return set(r, ret == ST7_ERR_ABORTED ? ST7_UPG_ABORTED : ST7_UPG_UNTOUCHED, r->error);
}

enum st7_upgrade_outcome st7_rollback(struct st7_engine *e, const char *file,
                                      const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
	char dir[PATH_MAX], from[PATH_MAX] = "";
	bool runtime = e->dfu.mode == ST7_DFU_MODE_RUNTIME;

	memset(r, 0, sizeof(*r));
	if (runtime) {
		r->had_version = true;
		r->from_version = e->dev->dev.bcd_device;
	}
	if (file)
		snprintf(from, sizeof(from), "%s", file);
	else if (backup_dir(e, o, runtime ? &e->dev->dev : NULL, dir, sizeof(dir)) != 0 ||
	         newest_backup(dir, from, sizeof(from)) != 0)
		return set(r, ST7_UPG_REFUSED, "no stored backup for this device");
	else if (st7_dir_check_private(dir, false, &d) != ST7_OK)
		return set(r, ST7_UPG_REFUSED, d.msg);
	int ret = st7_engine_enter_dfu(e, &d);
	if (ret == ST7_OK)
		ret = restore(e, from, file ? 0 : BACKUP_READ_FLAGS, r, &d);
	if (ret == ST7_OK)
		return set(r, ST7_UPG_DONE, "");
	snprintf(r->error, sizeof(r->error), "%s", d.msg);
	if (ret == ST7_ERR_ABORTED)
		return set(r, ST7_UPG_ABORTED, r->error);
	/* Still in runtime mode: nothing was erased. */
	if (e->dev && e->dfu.mode == ST7_DFU_MODE_RUNTIME)
		return set(r, ST7_UPG_UNTOUCHED, r->error);
	return set(r, ST7_UPG_LEFT_IN_DFU, r->error);
}

int st7_upload_to_file(struct st7_engine *e, const struct st7_upgrade_opts *o, const char *path,
                       struct st7_diag *d)
{
	bool runtime = e->dfu.mode == ST7_DFU_MODE_RUNTIME;
	const struct st7_usb_device_desc dd = e->dev->dev;
	const struct st7_profile *p = pick_profile(e, o, 0);
	struct st7_buf mem, dfu;
	int ret = st7_engine_enter_dfu(e, d);
	st7_buf_init(&mem);
	st7_buf_init(&dfu);
	if (ret == ST7_OK)
		ret = st7_engine_upload(e, p ? st7_profile_region_size(p) : GENERIC_UPLOAD_MAX,
		                        &mem, d);
	if (ret == ST7_OK && mem.len == 0)
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "the device uploaded nothing");
	if (ret == ST7_OK) {
		/* A runtime device tells its IDs and version; in DFU mode, the image's own
		 * version word is the best we know. */
		const struct st7_profile *got = p ? pick_profile(e, o, mem.len) : NULL;
		uint16_t ver =
		        runtime ? dd.bcd_device
		                : (got && mem.len >= 2 ? st7_be16(mem.data + mem.len - 2) : 0);
		struct st7_dfu_ids ids = { dd.id_vendor, dd.id_product, ver, 0 };
		ret = st7_dfu_build_plain(mem.data, mem.len, &ids, &dfu, d);
	}
	if (ret == ST7_OK)
		ret = st7_file_write_atomic(path, dfu.data, dfu.len, 0644, d);
	if (ret == ST7_OK && runtime) {
		struct st7_diag fd;
		st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, &fd);
	}
	st7_buf_free(&mem);
	st7_buf_free(&dfu);
	return ret;
}
