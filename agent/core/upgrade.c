/* SPDX-License-Identifier: MIT */
/*
 * The checks before anything is erased, and the one flow of an update for every device
 * kind (ST7, DFU 1.1, DfuSe): identity → checks → backup → flash → post-check →
 * read-back, and on failure the rescue. Download is the same flow without the backup,
 * the version order and the read-back.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "state_dir.h"
#include "upgrade_int.h"

void st7_upgrade_opts_default(struct st7_upgrade_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->state_dir = ST7_DEFAULT_STATE_DIR;
	o->keep_backups = 3;
}

const char *st7_upgrade_outcome_name(enum st7_upgrade_outcome o)
{
	static const char *const names[] = {
		"done",        "nothing-to-do",    "refused", "no-device",        "untouched",
		"rolled-back", "left-in-dfu-mode", "aborted", "storage-unusable", "done-unverified",
	};
	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unknown";
}

enum st7_upgrade_outcome upg_set(struct st7_upgrade_report *r, enum st7_upgrade_outcome o,
                                 const char *msg)
{
	r->outcome = o;
	if (msg && msg != r->error)
		snprintf(r->error, sizeof(r->error), "%s", msg);
	return o;
}

void upg_error_append(struct st7_upgrade_report *r, const char *fmt, ...)
{
	size_t w = strlen(r->error), room = sizeof(r->error) - w;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(r->error + w, room, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= room && sizeof(r->error) > 4)
		memcpy(r->error + sizeof(r->error) - 4, "...", 4);
}

/* The ST7 parts (st7_profile.h) the device's descriptors fit. */
static unsigned st7_candidates(const struct st7_engine *e)
{
	const struct st7_usb_found *f = e->dev;
	return st7_profile_match(f->dev.id_vendor, f->dev.max_packet_size0,
	                         f->speed == ST7_USB_SPEED_FULL, e->dfu.func.length,
	                         e->dfu.func.transfer_size);
}

static bool looks_st7(const struct st7_engine *e)
{
	return st7_profile_family(e->dev->dev.id_vendor, e->dfu.func.length);
}

const struct st7_profile *upg_pick_profile(const struct st7_engine *e,
                                           const struct st7_upgrade_opts *o, size_t image_len)
{
	if (o->profile)
		return o->profile;
	unsigned mask = st7_candidates(e);
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

/* ---- Who the device is when its application runs ------------------------------------ */

/* A device in DFU mode without a valid application: what its newest stored backup says
 * it ran, else (ST7) the version word in its memory. */
static int identity_in_dfu(struct st7_run *run, struct st7_engine *e,
                           const struct st7_upgrade_opts *o, const struct st7_profile *p,
                           struct upg_identity *id, struct st7_diag *d)
{
	char path[PATH_MAX];
	struct st7_buf bytes;
	struct st7_dfu_file f;
	int ret = ST7_OK;
	st7_buf_init(&bytes);
	st7_dfu_file_init(&f);
	if (upg_stored_backup(run, e, o, NULL, path, sizeof(path), &bytes, &f, d) == ST7_OK) {
		id->ids_known = true;
		id->vid = f.suffix.id_vendor;
		id->pid = f.suffix.id_product;
		id->has_version = f.suffix.bcd_device != ST7_DFU_ID_ANY;
		id->version = f.suffix.bcd_device;
		id->source = "its newest stored backup";
	}
	st7_dfu_file_free(&f);
	st7_diag_clear(d);
	if (!id->source && p) {
		st7_buf_clear(&bytes);
		ret = st7_engine_upload(e, st7_profile_region_size(p), &bytes, d);
		if (ret == ST7_OK && bytes.len == st7_profile_region_size(p)) {
			uint16_t word = st7_be16(bytes.data + bytes.len - 2);
			id->has_version = word != ST7_DFU_ID_ANY;
			id->version = word;
			id->source = "the version word in its memory";
		}
		if (ret && ret != ST7_ERR_ABORTED)
			st7_warn("%s: cannot read its memory: %s", e->path, d->msg);
		if (ret != ST7_ERR_ABORTED) {
			ret = ST7_OK;
			st7_diag_clear(d);
		}
	}
	st7_buf_free(&bytes);
	return ret;
}

/*
 * A device in runtime mode tells who it is. One in DFU mode is first asked whether it
 * holds a valid application (a reset runs it); if not, identity_in_dfu().
 */
static int resolve_identity(struct st7_run *run, struct st7_engine *e,
                            const struct st7_upgrade_opts *o, const struct st7_profile *p,
                            struct upg_identity *id, struct st7_diag *d)
{
	memset(id, 0, sizeof(*id));
	bool was_dfu = e->dfu.mode == ST7_DFU_MODE_DFU;
	int ret = st7_engine_leave_dfu(e, &id->running, d);
	if (ret)
		return ret;
	if (id->running) {
		const struct st7_usb_device_desc *dd = &e->dev->dev;
		if (was_dfu)
			st7_info("%s: found in DFU mode with a valid application; it runs again "
			         "(0x%04X)",
			         e->path, dd->bcd_device);
		*id = (struct upg_identity){ true,
			                     true,
			                     dd->id_vendor,
			                     dd->id_product,
			                     dd->bcd_device != ST7_DFU_ID_ANY,
			                     dd->bcd_device,
			                     "the device" };
		return ST7_OK;
	}
	if ((ret = identity_in_dfu(run, e, o, p, id, d)) != ST7_OK)
		return ret;
	if (!id->source)
		id->source = "nothing (no valid application, no stored backup)";
	st7_warn("%s: in DFU mode without a valid application; its identity comes from %s", e->path,
	         id->source);
	return ST7_OK;
}

/* ---- Checks that refuse before anything is erased ------------------------------------ */

/*
 * The suffix's IDs against the device's (0xFFFF only when allowed). DFU 1.1 appendix B
 * leaves open whether a suffix names the application's product ID or the loader's
 * (DfuSe files carry the loader's): a product ID that is not the application's must be
 * the loader's. In runtime mode that is only known after detach: *loader_pid asks the
 * caller for upg_check_loader_pid() then. Without a known application product ID only the
 * vendor is compared, and the log says so.
 */
int upg_check_ids(const struct st7_engine *e, const struct st7_dfu_suffix *s,
                  const struct upg_identity *id, bool allow_wildcard, bool *loader_pid,
                  struct st7_diag *d)
{
	uint16_t vid = id->ids_known ? id->vid : e->dev->dev.id_vendor;
	*loader_pid = false;
	if ((s->id_vendor == ST7_DFU_ID_ANY || s->id_product == ST7_DFU_ID_ANY) && !allow_wildcard)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "the image's suffix has wildcard IDs %04x:%04x; pass "
		                    "--allow-wildcard to accept them",
		                    s->id_vendor, s->id_product);
	if (s->id_vendor != ST7_DFU_ID_ANY && s->id_vendor != vid)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "the image is for idVendor 0x%04X, the device is 0x%04X",
		                    s->id_vendor, vid);
	if (s->id_product == ST7_DFU_ID_ANY || (id->ids_known && s->id_product == id->pid))
		return ST7_OK;
	if (!id->running && s->id_product == e->dev->dev.id_product)
		return ST7_OK; /* the loader's, and it is the loader we see */
	if (id->running) {
		*loader_pid = true;
		return ST7_OK;
	}
	if (id->ids_known)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "the image is for idProduct 0x%04X, the device is 0x%04X "
		                    "(from %s) and 0x%04X in DFU mode",
		                    s->id_product, id->pid, id->source, e->dev->dev.id_product);
	st7_warn("%s: the application's idProduct is unknown (%s): only idVendor 0x%04X was "
	         "checked",
	         e->path, id->source, vid);
	return ST7_OK;
}

/* After detach: the product ID upg_check_ids() left for the loader to answer. */
int upg_check_loader_pid(const struct st7_engine *e, const struct st7_dfu_suffix *s,
                         uint16_t app_pid, struct st7_diag *d)
{
	if (s->id_product == e->dev->dev.id_product)
		return ST7_OK;
	return st7_diag_set(d, ST7_ERR_RANGE,
	                    "the image is for idProduct 0x%04X, the device is 0x%04X (0x%04X in "
	                    "DFU mode)",
	                    s->id_product, app_pid, e->dev->dev.id_product);
}

/* What a file must be to suit the part, whatever the command: ST7 images fill the
 * writable region exactly and carry their version word, never 0xFFFF. */
int upg_check_part(const struct st7_engine *e, const struct st7_dfu_file *img,
                   const struct st7_profile *p, bool own_backup, struct st7_diag *d)
{
	const struct st7_dfu_suffix *s = &img->suffix;
	if ((img->kind == ST7_DFU_KIND_DFUSE) != (e->dfu.dfu_version == ST7_BCDDFU_DFUSE))
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED,
		                    img->kind == ST7_DFU_KIND_DFUSE
		                            ? "a DfuSe file needs a DfuSe device"
		                            : "a DfuSe device takes DfuSe files");
	if (e->dfu.func.length && !(e->dfu.func.attributes & ST7_DFU_ATTR_CAN_DNLOAD))
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED, "the device cannot download");
	if (!p && looks_st7(e))
		return st7_diag_set(d, ST7_ERR_RANGE,
		                    "the image (%zu bytes) fits no ST7 part this device could be "
		                    "(check its size, or name the part with --profile)",
		                    img->payload_len);
	if (!p)
		return ST7_OK;
	if (img->payload_len != st7_profile_region_size(p))
		return st7_diag_set(d, ST7_ERR_RANGE,
		                    "the image is %zu bytes, but %s's writable region "
		                    "0x%04X-0x%04X is %u bytes",
		                    img->payload_len, p->name, p->region_base, p->region_end - 1,
		                    st7_profile_region_size(p));
	/* A backup holds what the device ran, whatever its version word said. */
	if (own_backup)
		return ST7_OK;
	if (s->bcd_device == ST7_DFU_ID_ANY)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "the image's bcdDevice is 0xFFFF: an ST7 image carries its "
		                    "version (in its suffix and its version word), and 0xFFFF is "
		                    "none");
	uint16_t word = st7_be16(img->data + img->payload_len - 2);
	if (word != s->bcd_device)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "the image's version word is 0x%04X, but its suffix says "
		                    "bcdDevice 0x%04X",
		                    word, s->bcd_device);
	return ST7_OK;
}

/* Version order: equal = nothing to do (unless the application does not run: a
 * repair), older = refused. 0xFFFF is no version and is never ordered. */
static bool version_gate(const struct st7_engine *e, const struct st7_upgrade_opts *o,
                         const struct upg_identity *id, uint16_t to, struct st7_upgrade_report *r)
{
	if (to == ST7_DFU_ID_ANY) {
		if (!o->allow_unversioned) {
			r->outcome = ST7_UPG_REFUSED;
			snprintf(r->error, sizeof(r->error),
			         "the image's bcdDevice is 0xFFFF (no version), so it cannot be "
			         "ordered against the installed one; pass --allow-unversioned to "
			         "install it anyway");
			return false;
		}
		st7_warn("%s: installing an image without a version (--allow-unversioned): no "
		         "version check",
		         e->path);
		return true;
	}
	if (!id->has_version) {
		st7_warn("%s: the installed version is unknown (from %s%s): no version order",
		         e->path, id->source,
		         id->running && id->version == ST7_DFU_ID_ANY ? ", which reports 0xFFFF"
		                                                      : "");
		return true;
	}
	if (o->allow_downgrade)
		return true;
	if (id->version == to && id->running) {
		r->outcome = ST7_UPG_NOTHING;
		snprintf(r->error, sizeof(r->error), "the device already runs this version");
		return false;
	}
	if (id->version > to) {
		r->outcome = ST7_UPG_REFUSED;
		snprintf(r->error, sizeof(r->error),
		         "the image (0x%04X) is older than the installed firmware (0x%04X, from "
		         "%s); pass --allow-downgrade to install it",
		         to, id->version, id->source);
		return false;
	}
	return true;
}

/* DfuSe, a device without a running application: every page `img` will erase must be
 * in the stored backup `bk`, or what is outside it would be lost for good. */
static int dfuse_backup_covers(struct st7_engine *e, const struct st7_dfu_file *img,
                               const struct st7_dfu_file *bk, const char *label, struct st7_diag *d)
{
	enum { MAX_PAGES = 1024 };
	uint32_t *start = calloc(MAX_PAGES, sizeof(*start)),
	         *size = calloc(MAX_PAGES, sizeof(*size));
	int ret = !start || !size ? ST7_ERR_NOMEM : ST7_OK;
	for (unsigned t = 0; ret == ST7_OK && t < img->n_targets; t++) {
		size_t n = 0;
		uint8_t alt = img->targets[t].alt;
		ret = st7_engine_dfuse_pages(e, img, t, start, size, MAX_PAGES, &n, d);
		for (size_t i = 0; ret == ST7_OK && i < n; i++) {
			bool inside = false;
			for (unsigned bt = 0; !inside && bt < bk->n_targets; bt++) {
				const struct st7_dfuse_target *tg = &bk->targets[bt];
				for (uint32_t k = 0;
				     tg->alt == alt && !inside && k < tg->n_elements; k++) {
					const struct st7_dfuse_element *el =
					        &bk->elements[tg->first_element + k];
					inside = start[i] >= el->address &&
					         (uint64_t)start[i] + size[i] <=
					                 (uint64_t)el->address + el->size;
				}
			}
			if (!inside)
				ret = st7_diag_set(
				        d, ST7_ERR_RANGE,
				        "the image erases alt %u 0x%08X-0x%08X, which the stored "
				        "backup %s does not hold: install the image the "
				        "interrupted update was installing, or roll back first",
				        alt, start[i], start[i] + size[i] - 1, label);
		}
	}
	free(start);
	free(size);
	return ret;
}

/* ---- The flow ------------------------------------------------------------------------- */

/* Everything an update decides before it touches anything but descriptors (and, for a
 * device in DFU mode, the reset that asks it whether it holds an application). */
static enum st7_upgrade_outcome precheck(struct st7_run *run, struct st7_engine *e,
                                         const struct st7_dfu_file *img,
                                         const struct st7_upgrade_opts *o, bool wildcard,
                                         const struct st7_profile *p, struct upg_identity *id,
                                         bool *loader_pid, struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
	int ret = upg_check_part(e, img, p, false, &d);
	if (ret)
		return upg_set(r, ST7_UPG_REFUSED, d.msg);
	ret = resolve_identity(run, e, o, p, id, &d);
	if (ret)
		return upg_set(r, ret == ST7_ERR_ABORTED ? ST7_UPG_ABORTED : ST7_UPG_UNTOUCHED,
		               d.msg);
	if (id->running && id->ids_known) {
		r->had_version = true;
		r->from_version = id->version;
	}
	if (upg_check_ids(e, &img->suffix, id, wildcard, loader_pid, &d))
		return upg_set(r, ST7_UPG_REFUSED, d.msg);
	return ST7_UPG_DONE;
}

/* One update in progress: what it knows, and what a failure puts back. */
struct update {
	struct st7_run *run;
	struct st7_engine *e;
	const struct st7_dfu_file *img;
	const struct st7_upgrade_opts *o;
	struct st7_upgrade_report *r;
	const struct st7_profile *p;
	struct upg_identity id;  /* the device's */
	struct upg_identity bid; /* what a backup taken now is filed as */
	bool loader_pid;         /* the suffix's product ID is checked after detach */
	bool take;               /* back up what the device holds, before the erase */
	bool readback;           /* read the new firmware back after its post-check */
	char dir[PATH_MAX];      /* where the backup goes */
	char pdir[PATH_MAX];     /* the backup directory whose unchecked list applies */
	char path[PATH_MAX];     /* the backup taken */
	char from[PATH_MAX];     /* what a failure restores */
	struct upg_pending pl;
	struct st7_buf backup, stored;
	struct st7_dfu_file rescue_f; /* parsed: what a failure restores (none: no data) */
};

/*
 * The device already runs `img`, but a run killed before its read-back left the backup
 * it took unchecked: read the firmware back now. A difference sets that backup aside,
 * as the killed run would have (exit 14).
 */
static void finish_pending_readback(struct update *u)
{
	const uint16_t ids[2] = { u->id.vid, u->id.pid };
	struct st7_diag d = { "" };
	bool differs = false;
	if (upg_backup_dir(u->run, u->e, u->o, ids, u->pdir, sizeof(u->pdir)) != 0)
		return;
	upg_pending_read(u->run, u->pdir, &u->pl);
	if (!upg_pending_any(&u->pl))
		return;
	st7_info("%s: an earlier run did not read back its new firmware; reading it back now",
	         u->e->path);
	if (upg_read_back(u->e, u->p, u->img, &differs, &d) != ST7_OK) {
		st7_warn("%s: read-back failed: %s (the backup stays unchecked)", u->e->path,
		         d.msg);
		return;
	}
	if (!differs) {
		upg_pending_clear(u->run, u->pdir);
		return;
	}
	size_t n = upg_pending_set_aside(u->run, u->e, u->pdir, NULL, 0);
	u->r->to_version = u->e->dev ? u->e->dev->dev.bcd_device : 0;
	snprintf(u->r->error, sizeof(u->r->error),
	         "the device runs this version, but reading it back disagreed with the image: its "
	         "upload is not reliable, so %zu backup(s) an earlier run read through it %s set "
	         "aside",
	         n, n == 1 ? "was" : "were");
	upg_set(u->r, ST7_UPG_UNVERIFIED, NULL);
}

/*
 * What a failure will restore, for a device that runs no application: its newest stored
 * backup (read once, now), else a backup of what its memory holds, when that can be
 * trusted to be whole: any DfuSe or DFU 1.1 memory, an ST7 region whose version word
 * (written last) is there. The application's product ID is unknown then: such a backup
 * is filed under 0xFFFF, where a lookup by the application's IDs looks next.
 */
static enum st7_upgrade_outcome plan_without_app(struct update *u)
{
	struct st7_engine *e = u->e;
	struct st7_diag sd = { "" }, d = { "" };
	int ret = upg_stored_backup(u->run, e, u->o, NULL, u->from, sizeof(u->from), &u->stored,
	                            &u->rescue_f, &sd);
	if (ret == ST7_ERR_AMBIGUOUS)
		return upg_set(u->r, ST7_UPG_STORAGE, sd.msg);
	if (ret == ST7_OK && u->img->kind == ST7_DFU_KIND_DFUSE &&
	    (ret = dfuse_backup_covers(e, u->img, &u->rescue_f, u->from, &d)) != ST7_OK)
		return upg_set(u->r, ret == ST7_ERR_RANGE ? ST7_UPG_REFUSED : ST7_UPG_UNTOUCHED,
		               d.msg);
	if (u->rescue_f.data)
		return ST7_UPG_DONE;
	u->from[0] = '\0';
	bool can_upload = !e->dfu.func.length || (e->dfu.func.attributes & ST7_DFU_ATTR_CAN_UPLOAD);
	u->take = u->p ? u->id.has_version : can_upload;
	u->bid.vid = e->dev->dev.id_vendor;
	u->bid.pid = ST7_DFU_ID_ANY;
	u->bid.version = u->id.has_version ? u->id.version : ST7_DFU_ID_ANY;
	if (u->take)
		st7_warn("%s: no stored backup and no running application: backing up what its "
		         "memory holds",
		         e->path);
	return ST7_UPG_DONE;
}

/* Decide the backup, and make its store ready before the device is touched. */
static enum st7_upgrade_outcome plan_backup(struct update *u)
{
	struct st7_diag d = { "" };
	u->bid = u->id;
	u->take = u->id.running && !u->o->no_backup;
	if (!u->id.running && !u->o->no_backup) {
		enum st7_upgrade_outcome out = plan_without_app(u);
		if (out != ST7_UPG_DONE)
			return out;
	}
	/* The device's backup directory, and the backups in it no read-back checked yet. */
	if (u->id.running) {
		const uint16_t ids[2] = { u->id.vid, u->id.pid };
		if (upg_backup_dir(u->run, u->e, u->o, ids, u->pdir, sizeof(u->pdir)) != 0)
			u->pdir[0] = '\0';
	} else if (!u->from[0] || st7_store_dirname(u->pdir, sizeof(u->pdir), u->from) != ST7_OK) {
		u->pdir[0] = '\0';
	}
	if (u->pdir[0])
		upg_pending_read(u->run, u->pdir, &u->pl);
	/* Reading the new firmware back is what reveals an upload path that lies, and so a
	 * backup read through it: on by default for ST7 parts, whenever a backup is taken,
	 * and while an earlier backup waits for its check. */
	u->readback =
	        !u->o->no_verify && (u->o->verify || u->p || u->take || upg_pending_any(&u->pl));
	if (!u->take)
		return ST7_UPG_DONE;
	/* The backup and its temporary copy; DfuSe pages are at most the image's span,
	 * which its payload bounds well enough with a margin. */
	size_t need = 2 * (u->p ? st7_profile_region_size(u->p) : u->img->payload_len) + 65536;
	if (upg_backup_store_prepare(u->run, u->e, u->o, u->bid.vid, u->bid.pid, need, u->dir,
	                             sizeof(u->dir), &d) != ST7_OK)
		return upg_set(u->r, ST7_UPG_STORAGE, d.msg);
	if (strcmp(u->pdir, u->dir) != 0) { /* a loader's backup: filed where it goes */
		snprintf(u->pdir, sizeof(u->pdir), "%s", u->dir);
		upg_pending_read(u->run, u->pdir, &u->pl);
	}
	return ST7_UPG_DONE;
}

/* In DFU mode now: back up what the device holds, durably, before anything is erased. */
static enum st7_upgrade_outcome take_backup(struct update *u)
{
	struct st7_diag d = { "" };
	int ret = upg_read_backup(u->e, u->p, u->img, &u->bid, &u->backup, &d);
	if (ret == ST7_OK)
		ret = upg_store_backup(u->run, u->e, u->o, u->dir, u->bid.version, &u->backup,
		                       u->readback, u->path, sizeof(u->path), &d);
	if (ret == ST7_OK)
		ret = st7_dfu_file_parse(&u->rescue_f, u->backup.data, u->backup.len, 0, &d);
	if (ret) {
		st7_diag_prefix(&d, ret, "backup failed");
		enum st7_upgrade_outcome out = upg_send_back(u->e, u->id.running, ret, d.msg, u->r);
		/* the disk, not the device */
		return ret == ST7_ERR_IO && out == ST7_UPG_UNTOUCHED
		               ? upg_set(u->r, ST7_UPG_STORAGE, NULL)
		               : out;
	}
	snprintf(u->r->backup, sizeof(u->r->backup), "%s", u->path);
	snprintf(u->from, sizeof(u->from), "%s", u->path);
	return ST7_UPG_DONE;
}

/* Installed and post-checked: from here the new firmware stays. The read-back decides
 * whether the backups read through the device's upload path can be trusted. */
static enum st7_upgrade_outcome judge_readback(struct update *u)
{
	struct st7_diag d = { "" };
	bool differs = false;
	struct st7_upgrade_report *r = u->r;
	r->to_version = u->e->dev->dev.bcd_device;
	int rb = u->readback ? upg_read_back(u->e, u->p, u->img, &differs, &d) : ST7_OK;
	if (rb == ST7_OK && !differs) {
		if (u->pdir[0] && u->readback)
			upg_pending_clear(u->run, u->pdir); /* every waiting backup is proven */
		/* The new backup is proven: only now may older ones go. */
		if (u->path[0] && u->readback)
			upg_backup_prune(u->run, u->o, u->dir, u->path);
		return upg_set(r, ST7_UPG_DONE, "");
	}
	if (rb == ST7_ERR_ABORTED)
		return upg_set(r, ST7_UPG_ABORTED, d.msg);
	upg_set(r, ST7_UPG_UNVERIFIED, "");
	if (rb) { /* no check, no verdict: the backups stay listed as unchecked */
		upg_error_append(r,
		                 "the new firmware runs and passed the post-check, but reading it "
		                 "back failed (%s): the backup stays unchecked, and rollback will "
		                 "not put it over a running application",
		                 d.msg);
		return r->outcome;
	}
	/* The upload path lies: every backup read through it proves nothing. */
	size_t n = u->pdir[0]
	                   ? upg_pending_set_aside(u->run, u->e, u->pdir, u->path, sizeof(u->path))
	                   : 0;
	if (u->path[0])
		snprintf(r->backup, sizeof(r->backup), "%s", u->path);
	upg_error_append(r,
	                 "the new firmware runs and passed the post-check, but reading it back "
	                 "disagreed with the image: the device's upload is not reliable, so %zu "
	                 "backup(s) read through it %s set aside",
	                 n, n == 1 ? "was" : "were");
	return r->outcome;
}

/*
 * The failure of a flash. Refused by the DfuSe layout, or stopped before any DFU_DNLOAD
 * went out: nothing was erased, the device goes back to its application. Otherwise the
 * backup, if there is one, is put back; without one the device is left as it is.
 */
static enum st7_upgrade_outcome flash_failed(struct st7_engine *e, const struct upg_identity *id,
                                             uint16_t to, int ret, bool touched,
                                             const struct st7_dfu_file *rescue_f, const char *from,
                                             const struct st7_diag *d, struct st7_upgrade_report *r)
{
	upg_set(r, r->outcome, d->msg);
	if (ret == ST7_ERR_RANGE || ret == ST7_ERR_UNSUPPORTED)
		return upg_send_back(e, id->running, ret, r->error, r);
	if (ret == ST7_ERR_ABORTED)
		return upg_set(r, ST7_UPG_ABORTED, NULL);
	/* A device without an application gains from its backup even so. */
	if (!touched && (id->running || !rescue_f || !rescue_f->data))
		return upg_send_back(e, id->running, ret, r->error, r);
	if (!rescue_f || !rescue_f->data)
		return upg_leave_or_stay(e, upg_old_version(id), r);
	st7_err("%s: update to 0x%04X failed: %s; restoring %s", e->path, to, d->msg, from);
	return upg_rescue(e, rescue_f, from, upg_old_version(id), r);
}

/* Tell the journal; a refusal (ST7_ERR_IO) is returned with the reason in `d`. */
static int phase(struct update *u, enum st7_phase ph, const char *detail, struct st7_diag *d)
{
	if (!u->run->phase || u->run->phase(u->run->phase_arg, ph, detail) == 0)
		return ST7_OK;
	return st7_diag_set(d, ST7_ERR_IO, "the journal cannot record this step: nothing erased");
}

/* From detach to the verdict: the device is touched from here on. */
static enum st7_upgrade_outcome install(struct update *u)
{
	struct st7_diag d = { "" };
	struct st7_engine *e = u->e;
	uint16_t to = u->img->suffix.bcd_device;
	bool touched = false;
	if (phase(u, ST7_PHASE_DETACHING, "", &d) != ST7_OK)
		return upg_set(u->r, ST7_UPG_STORAGE, d.msg);
	int ret = st7_engine_enter_dfu(e, &d);
	if (ret == ST7_OK && u->loader_pid)
		ret = upg_check_loader_pid(e, &u->img->suffix, u->id.pid, &d);
	if (ret)
		return upg_send_back(e, u->id.running, ret, d.msg, u->r);
	if (u->take) {
		enum st7_upgrade_outcome out = take_backup(u);
		if (out != ST7_UPG_DONE)
			return out;
	} else if (!u->id.running) {
		st7_warn("%s: the device holds no valid application to back up%s", e->path,
		         u->from[0] ? " (its stored backup is kept)" : "");
	}
	if ((u->take && phase(u, ST7_PHASE_BACKED_UP, u->path, &d) != ST7_OK) ||
	    phase(u, ST7_PHASE_DOWNLOADING, u->from, &d) != ST7_OK) {
		enum st7_upgrade_outcome out =
		        upg_send_back(e, u->id.running, ST7_ERR_IO, d.msg, u->r);
		return out == ST7_UPG_UNTOUCHED ? upg_set(u->r, ST7_UPG_STORAGE, NULL) : out;
	}
	/* 0xFFFF is no version: nothing to post-check. */
	ret = upg_flash(e, u->img, to != ST7_DFU_ID_ANY ? to : -1, &touched, &d);
	u->r->attempts = e->attempts ? e->attempts : 1;
	struct st7_diag ignored = { "" }; /* mid-flight: recorded if it can be */
	if (ret == ST7_OK) {
		phase(u, ST7_PHASE_POSTCHECK, "", &ignored);
		return judge_readback(u);
	}
	if (touched && u->rescue_f.data && ret != ST7_ERR_ABORTED)
		phase(u, ST7_PHASE_RESTORING, u->from, &ignored);
	return flash_failed(e, &u->id, to, ret, touched, &u->rescue_f, u->from, &d, u->r);
}

enum st7_upgrade_outcome st7_upgrade(struct st7_run *run, struct st7_engine *e,
                                     const struct st7_dfu_file *img,
                                     const struct st7_upgrade_opts *o, struct st7_upgrade_report *r)
{
	struct update *u = calloc(1, sizeof(*u));
	enum st7_upgrade_outcome out;
	memset(r, 0, sizeof(*r));
	if (!u) {
		snprintf(r->error, sizeof(r->error), "out of memory");
		return upg_set(r, ST7_UPG_UNTOUCHED, NULL);
	}
	*u = (struct update){ .run = run, .e = e, .img = img, .o = o, .r = r };
	u->p = e->dfu.dfu_version == ST7_BCDDFU_DFUSE ? NULL
	                                              : upg_pick_profile(e, o, img->payload_len);
	st7_buf_init(&u->backup);
	st7_buf_init(&u->stored);
	st7_dfu_file_init(&u->rescue_f);
	out = precheck(run, e, img, o, o->allow_wildcard, u->p, &u->id, &u->loader_pid, r);
	if (out == ST7_UPG_DONE && !version_gate(e, o, &u->id, img->suffix.bcd_device, r)) {
		if (r->outcome == ST7_UPG_NOTHING && !o->no_verify)
			finish_pending_readback(u);
		out = r->outcome;
	} else if (out == ST7_UPG_DONE && (out = plan_backup(u)) == ST7_UPG_DONE) {
		out = install(u);
	}
	st7_dfu_file_free(&u->rescue_f);
	st7_buf_free(&u->stored);
	st7_buf_free(&u->backup);
	free(u);
	return out;
}

enum st7_upgrade_outcome st7_download(struct st7_run *run, struct st7_engine *e,
                                      const struct st7_dfu_file *img,
                                      const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
	struct upg_identity id;
	bool dfuse = e->dfu.dfu_version == ST7_BCDDFU_DFUSE, loader_pid, touched = false;
	const struct st7_profile *p = dfuse ? NULL : upg_pick_profile(e, o, img->payload_len);

	memset(r, 0, sizeof(*r));
	/* DFU 1.1 appendix B: 0xFFFF in the suffix matches any device. */
	enum st7_upgrade_outcome out = precheck(run, e, img, o, true, p, &id, &loader_pid, r);
	if (out != ST7_UPG_DONE)
		return out;
	int ret = st7_engine_enter_dfu(e, &d);
	if (ret == ST7_OK && loader_pid)
		ret = upg_check_loader_pid(e, &img->suffix, id.pid, &d);
	if (ret)
		return upg_send_back(e, id.running, ret, d.msg, r);
	/* "As is": no version to compare after it, but a lost manifestation is redone. */
	ret = upg_flash(e, img, -1, &touched, &d);
	r->attempts = e->attempts ? e->attempts : 1;
	if (ret == ST7_OK) {
		r->to_version = e->dev->dev.bcd_device;
		return upg_set(r, ST7_UPG_DONE, "");
	}
	return flash_failed(e, &id, img->suffix.bcd_device, ret, touched, NULL, NULL, &d, r);
}
