/* SPDX-License-Identifier: MIT */
#include "upgrade.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "file_store.h"
#include "log.h"

/* A generic DFU device does not say how large its memory is; uploads stop here. */
#define GENERIC_UPLOAD_MAX ((size_t)16 << 20)
/* Backups are flashed without a signature: only files that root (or we) alone could have
 * written count as ours. */
#define BACKUP_READ_FLAGS (ST7_FILE_NOFOLLOW | ST7_FILE_PRIVATE)
#define BACKUP_MAX_FILE ((size_t)64 << 20)
/* A backup whose device could not read its new firmware back faithfully. */
#define UNPROVEN_SUFFIX ".unproven"

void st7_upgrade_opts_default(struct st7_upgrade_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->state_dir = "/var/lib/st7dfu";
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

static enum st7_upgrade_outcome set(struct st7_upgrade_report *r, enum st7_upgrade_outcome o,
                                    const char *msg)
{
	r->outcome = o;
	if (msg && msg != r->error)
		snprintf(r->error, sizeof(r->error), "%s", msg);
	return o;
}

/* Does the device look like an ST7 (DFU 1.0 functional descriptor, ST's vendor ID)? */
static bool looks_st7(const struct st7_engine *e)
{
	return e->dfu.func.length == 7 && e->dev->dev.id_vendor == 0x0483;
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

/* ---- The backup store: STATE/backups/VID-PID-SERIAL/VERSION.dfu ---------------------- */

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

/* Does `dir` hold at least one *.dfu? */
static bool holds_backups(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	bool any = false;
	if (!dh)
		return false;
	while (!any && (de = readdir(dh)) != NULL) {
		size_t len = strlen(de->d_name);
		any = len > 4 && strcmp(de->d_name + len - 4, ".dfu") == 0;
	}
	closedir(dh);
	return any;
}

/*
 * STATE/backups/VID-PID-SERIAL for known runtime IDs, or (ids NULL) the existing
 * directory of this serial and vendor: a device in DFU mode shows another product ID.
 * 0, -1 when there is none, -2 when several products of the vendor share the serial.
 */
static int backup_dir(const struct st7_engine *e, const struct st7_upgrade_opts *o,
                      const uint16_t *ids, char *out, size_t cap)
{
	char serial[96];
	safe_name(e->serial[0] ? e->serial : e->path, serial, sizeof(serial));
	if (ids)
		return snprintf(out, cap, "%s/backups/%04x-%04x-%s", o->state_dir, ids[0], ids[1],
		                serial) >= (int)cap
		               ? -1
		               : 0;
	char base[PATH_MAX], vendor[6];
	snprintf(base, sizeof(base), "%s/backups", o->state_dir);
	snprintf(vendor, sizeof(vendor), "%04x-", e->dev ? e->dev->dev.id_vendor : 0);
	DIR *dir = opendir(base);
	if (!dir)
		return -1;
	struct dirent *de;
	int ret = -1;
	size_t sl = strlen(serial);
	while ((de = readdir(dir)) != NULL) {
		size_t nl = strlen(de->d_name);
		/* "vvvv-pppp-" + serial */
		char cand[PATH_MAX];
		if (nl != 10 + sl || strcmp(de->d_name + 10, serial) != 0 ||
		    strncmp(de->d_name, vendor, 5) != 0 || de->d_name[9] != '-' ||
		    snprintf(cand, sizeof(cand), "%s/%s", base, de->d_name) >= (int)sizeof(cand) ||
		    !holds_backups(cand))
			continue; /* an empty directory is no candidate */
		if (ret == 0) {
			ret = -2;
			break;
		}
		ret = snprintf(out, cap, "%s/%s", base, de->d_name) >= (int)cap ? -1 : 0;
	}
	closedir(dir);
	if (ret == -2)
		st7_warn("%s: several products of vendor 0x%.4s have backups for serial \"%s\" in "
		         "%s: none is used (name one with rollback --to)",
		         e->path, vendor, serial, base);
	return ret;
}

/* A device's backups, newest first (by modification time, nanoseconds); all of them,
 * up to a bound no real directory reaches. */
#define MAX_BACKUPS 4096

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

/* The regular *.dfu files in `dir` (unproven ones end in .dfu.unproven and are never
 * listed), newest first, into *out (free() it); their count. */
static size_t list_backups(const char *dir, struct backup_entry **out)
{
	size_t n = 0, cap = 0;
	struct backup_entry *list = NULL;
	DIR *d = opendir(dir);
	*out = NULL;
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct stat st;
		if (len < 5 || strcmp(de->d_name + len - 4, ".dfu") != 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct backup_entry *p =
			        ncap <= MAX_BACKUPS ? realloc(list, ncap * sizeof(*p)) : NULL;
			if (!p) {
				st7_warn("%s: more than %zu backups; the rest are not considered",
				         dir, cap);
				break;
			}
			list = p;
			cap = ncap;
		}
		if (snprintf(list[n].path, sizeof(list[n].path), "%s/%s", dir, de->d_name) >=
		            (int)sizeof(list[n].path) ||
		    lstat(list[n].path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		list[n++].mtime = st.st_mtim;
	}
	closedir(d);
	if (n)
		qsort(list, n, sizeof(*list), newer_first);
	*out = list;
	return n;
}

/* The bytes of a stored backup, with the backup rules (no link, private). */
static int backup_load_raw(const char *path, struct st7_buf *bytes, struct st7_diag *d)
{
	return st7_file_read_ex(path, BACKUP_MAX_FILE, BACKUP_READ_FLAGS, bytes, d);
}

static bool same_bytes(const struct st7_buf *a, const struct st7_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int st7_backup_load(const char *path, struct st7_buf *bytes, struct st7_dfu_file *f,
                    struct st7_diag *d)
{
	int ret = st7_file_read_ex(path, BACKUP_MAX_FILE, BACKUP_READ_FLAGS, bytes, d);
	if (ret == ST7_OK)
		ret = st7_dfu_file_parse(f, bytes->data, bytes->len, 0, d);
	return ret;
}

/* The newest backup in `dir` that is a valid .dfu, read once into `bytes`/`f` (a damaged
 * one is skipped, with a warning); its path into `path`. */
static int newest_backup(const char *dir, char *path, size_t cap, struct st7_buf *bytes,
                         struct st7_dfu_file *f)
{
	struct backup_entry *list;
	int ret = -1;
	size_t n = list_backups(dir, &list);
	for (size_t i = 0; i < n && ret < 0; i++) {
		struct st7_diag d = { "" };
		st7_dfu_file_free(f);
		st7_buf_free(bytes);
		if (st7_backup_load(list[i].path, bytes, f, &d) == ST7_OK) {
			snprintf(path, cap, "%s", list[i].path);
			ret = 0;
		} else {
			st7_warn("skipping damaged backup %s: %s", list[i].path, d.msg);
		}
	}
	if (ret) {
		st7_dfu_file_free(f);
		st7_buf_free(bytes);
	}
	free(list);
	return ret;
}

/* Keep the newest `keep` backups; never delete `protect`. */
static void prune_backups(const char *dir, unsigned keep, const char *protect)
{
	struct backup_entry *list;
	size_t n = list_backups(dir, &list), kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i].path, protect) == 0 || kept < keep) {
			kept++;
			continue;
		}
		st7_info("removing old backup %s", list[i].path);
		unlink(list[i].path);
	}
	free(list);
	st7_fsync_dir(dir);
}

/* One directory of the store: created if missing (durably), a real directory (never a
 * symbolic link), owned by root or us, and private: firmware is often confidential. */
static int store_dir_ready(const char *dir, struct st7_diag *d)
{
	if (st7_mkdir_p(dir, 0700) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return st7_diag_set(d, ST7_ERR_IO, "%s: %s", dir,
		                    errno == ELOOP || errno == ENOTDIR
		                            ? "not a directory (a symbolic link?)"
		                            : strerror(errno));
	struct stat st;
	int ret = ST7_OK;
	if (fstat(fd, &st) != 0)
		ret = st7_diag_set(d, ST7_ERR_IO, "%s: %s", dir, strerror(errno));
	else if (st.st_uid != 0 && st.st_uid != geteuid())
		ret = st7_diag_set(d, ST7_ERR_IO, "%s: owned by uid %u, neither root nor us", dir,
		                   (unsigned)st.st_uid);
	else if ((st.st_mode & 077) && st.st_uid == geteuid() && fchmod(fd, 0700) != 0)
		ret = st7_diag_set(d, ST7_ERR_IO, "%s: cannot make it private: %s", dir,
		                   strerror(errno));
	close(fd);
	if (ret == ST7_OK)
		ret = st7_dir_check_private(dir, true, d);
	return ret;
}

/* Temporary files that a killed writer left (NAME.tmp.XXXXXX): they are never a
 * backup, and they fill the disk. */
static void remove_stale_temps(const char *dir)
{
	DIR *dh = opendir(dir);
	if (!dh)
		return;
	struct dirent *de;
	bool removed = false;
	while ((de = readdir(dh)) != NULL) {
		char path[PATH_MAX];
		if (!strstr(de->d_name, ".tmp.") ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		st7_info("removing %s, left by an interrupted write", path);
		removed |= unlink(path) == 0;
	}
	closedir(dh);
	if (removed)
		st7_fsync_dir(dir);
}

/*
 * The newest proven backup of this device, read once into `bytes`/`f` (f borrows bytes),
 * its path into `path`: the same rules as where upgrade writes them (real, private
 * directories). `ids` NULL: found by serial and vendor. ST7_ERR_IO when there is none
 * (d says why), ST7_ERR_AMBIGUOUS when several products' directories match.
 */
static int stored_backup(const struct st7_engine *e, const struct st7_upgrade_opts *o,
                         const uint16_t *ids, char *path, size_t cap, struct st7_buf *bytes,
                         struct st7_dfu_file *f, struct st7_diag *d)
{
	char base[PATH_MAX], dir[PATH_MAX];
	if (snprintf(base, sizeof(base), "%s/backups", o->state_dir) >= (int)sizeof(base))
		return st7_diag_set(d, ST7_ERR_IO, "%s: path too long", o->state_dir);
	int found = backup_dir(e, o, ids, dir, sizeof(dir));
	/* A backup taken from a loader is filed under product ID 0xFFFF (the application's
	 * was unknown): the application's own directory first, then that one. */
	if (ids && (found != 0 || !holds_backups(dir))) {
		const uint16_t loader_ids[2] = { ids[0], ST7_DFU_ID_ANY };
		found = backup_dir(e, o, loader_ids, dir, sizeof(dir));
	}
	if (found == -2)
		return st7_diag_set(d, ST7_ERR_AMBIGUOUS,
		                    "several products' backups match this device's serial in %s",
		                    base);
	if (found != 0 || access(dir, F_OK) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "no stored backup for this device");
	int ret = st7_dir_check_private(base, false, d);
	if (ret == ST7_OK)
		ret = st7_dir_check_private(dir, false, d);
	if (ret)
		return ret;
	remove_stale_temps(dir); /* a killed backup write's leftovers */
	if (newest_backup(dir, path, cap, bytes, f) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "no stored backup for this device");
	return ST7_OK;
}

/*
 * Make the device's backup directory ready before the device is touched: created and
 * synced, private, not a link, writable, with room for `need` bytes. The same rules
 * decide where rollback reads, so a backup is never written where it would be refused.
 */
static int backup_store_prepare(const struct st7_engine *e, const struct st7_upgrade_opts *o,
                                uint16_t vid, uint16_t pid, size_t need, char *dir, size_t cap,
                                struct st7_diag *d)
{
	char base[PATH_MAX];
	uint16_t ids[2] = { vid, pid };
	if (snprintf(base, sizeof(base), "%s/backups", o->state_dir) >= (int)sizeof(base) ||
	    backup_dir(e, o, ids, dir, cap) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "%s: path too long", o->state_dir);
	int ret = store_dir_ready(base, d);
	if (ret == ST7_OK)
		ret = store_dir_ready(dir, d);
	if (ret)
		return ret;
	remove_stale_temps(dir);
	/* Writable (a read-only mount says so only when we try) and room for the backup
	 * and its temporary copy. */
	char probe[PATH_MAX];
	if (snprintf(probe, sizeof(probe), "%s/.probe.tmp.XXXXXX", dir) >= (int)sizeof(probe))
		return st7_diag_set(d, ST7_ERR_IO, "%s: path too long", dir);
	int fd = mkstemp(probe);
	if (fd < 0)
		return st7_diag_set(d, ST7_ERR_IO, "cannot write in %s: %s", dir, strerror(errno));
	close(fd);
	unlink(probe);
	struct statvfs vfs;
	if (statvfs(dir, &vfs) == 0 && (unsigned long long)vfs.f_bavail * vfs.f_frsize < need)
		return st7_diag_set(d, ST7_ERR_IO,
		                    "%s: %llu bytes free, a backup needs %zu: free some room first",
		                    dir, (unsigned long long)vfs.f_bavail * vfs.f_frsize, need);
	return ST7_OK;
}

/* Store `data` as DIR/VERSION.dfu (private) and prune; its path into `out`. */
static int store_backup(const struct st7_engine *e, const struct st7_upgrade_opts *o,
                        const char *dir, uint16_t version, const struct st7_buf *data, char *out,
                        size_t cap, struct st7_diag *d)
{
	struct st7_buf old;
	struct st7_diag od = { "" };
	if (snprintf(out, cap, "%s/%04x.dfu", dir, version) >= (int)cap)
		return st7_diag_set(d, ST7_ERR_INVALID, "path too long");
	/* A backup is never replaced by other bytes: a device whose version does not
	 * change (0xFFFF, or images that do not stamp one) would otherwise lose the backup
	 * of what ran before the last update. Other bytes get a name of their own. */
	if (backup_load_raw(out, &old, &od) == ST7_OK && !same_bytes(&old, data)) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (snprintf(out, cap, "%s/%04x-%lld%09ld.dfu", dir, version, (long long)now.tv_sec,
		             now.tv_nsec) >= (int)cap) {
			st7_buf_free(&old);
			return st7_diag_set(d, ST7_ERR_INVALID, "path too long");
		}
	}
	st7_buf_free(&old);
	int ret = st7_file_write_atomic(out, data->data, data->len, 0600, d);
	if (ret == ST7_OK) {
		st7_info("%s: backup of version 0x%04X stored in %s", e->path, version, out);
		prune_backups(dir, o->keep_backups ? o->keep_backups : 1, out);
	}
	return ret;
}

/* The backup at `path` cannot be trusted any more: keep it aside, out of rollback's
 * reach, for a human to look at. */
static bool mark_unproven(const struct st7_engine *e, char *path, size_t cap)
{
	char aside[PATH_MAX], dir[PATH_MAX];
	if (snprintf(aside, sizeof(aside), "%s" UNPROVEN_SUFFIX, path) >= (int)sizeof(aside))
		return false;
	if (rename(path, aside) != 0) {
		st7_err("%s: cannot set the unproven backup %s aside: %s; delete it by hand",
		        e->path, path, strerror(errno));
		return false;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		st7_fsync_dir(dir);
	}
	st7_warn("%s: backup set aside as %s: it is never restored automatically", e->path, aside);
	snprintf(path, cap, "%s", aside);
	return true;
}

/*
 * A backup is only cross-checked by the read-back of the new firmware, after the erase.
 * Until then DIR/.readback-pending names it (one file name a line), so that a run killed
 * before its read-back, or whose read-back failed, is finished by a later one: the next
 * upgrade reads back what the device runs, and rollback will not put an unchecked backup
 * over a running application. A marker is a hint, never a path: only plain names count.
 */
#define PENDING_NAME ".readback-pending"
#define PENDING_MAX 16

struct pending {
	size_t n;
	char name[PENDING_MAX][NAME_MAX + 1];
};

static void pending_read(const char *dir, struct pending *pl)
{
	char marker[PATH_MAX];
	struct st7_buf b;
	struct st7_diag d = { "" };
	pl->n = 0;
	if (snprintf(marker, sizeof(marker), "%s/" PENDING_NAME, dir) >= (int)sizeof(marker) ||
	    access(marker, F_OK) != 0 ||
	    st7_file_read_ex(marker, PENDING_MAX * (NAME_MAX + 1), BACKUP_READ_FLAGS, &b, &d) !=
	            ST7_OK)
		return;
	const char *p = (const char *)b.data, *end = p + b.len;
	while (p < end && pl->n < PENDING_MAX) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		if (len > 4 && len <= NAME_MAX && !memchr(p, '/', len) && !memchr(p, '\0', len) &&
		    p[0] != '.' && memcmp(p + len - 4, ".dfu", 4) == 0) {
			memcpy(pl->name[pl->n], p, len);
			pl->name[pl->n++][len] = '\0';
		}
		p += len + 1;
	}
	st7_buf_free(&b);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static bool pending_has(const struct pending *pl, const char *path)
{
	for (size_t i = 0; i < pl->n; i++)
		if (strcmp(pl->name[i], base_name(path)) == 0)
			return true;
	return false;
}

/* Add `backup` to DIR's unchecked list (durably, before the erase). */
static int pending_add(const char *dir, const char *backup, struct st7_diag *d)
{
	struct pending pl;
	struct st7_buf b;
	char marker[PATH_MAX];
	if (snprintf(marker, sizeof(marker), "%s/" PENDING_NAME, dir) >= (int)sizeof(marker))
		return st7_diag_set(d, ST7_ERR_INVALID, "path too long");
	pending_read(dir, &pl);
	if (pending_has(&pl, backup))
		return ST7_OK;
	st7_buf_init(&b);
	int ret = ST7_OK;
	for (size_t i = 0; i < pl.n && ret == ST7_OK && i + 1 < PENDING_MAX; i++)
		ret = st7_buf_printf(&b, "%s\n", pl.name[i]);
	if (ret == ST7_OK)
		ret = st7_buf_printf(&b, "%s\n", base_name(backup));
	if (ret == ST7_OK)
		ret = st7_file_write_atomic(marker, b.data, b.len, 0600, d);
	st7_buf_free(&b);
	return ret;
}

static void pending_clear(const char *dir)
{
	char marker[PATH_MAX];
	if (snprintf(marker, sizeof(marker), "%s/" PENDING_NAME, dir) < (int)sizeof(marker) &&
	    unlink(marker) == 0)
		st7_fsync_dir(dir);
}

/* The upload path lied: every backup read through it that no read-back checked is set
 * aside (`own`, this run's, is renamed in place), then the list is cleared. How many. */
static size_t pending_set_aside(const struct st7_engine *e, const char *dir, char *own, size_t cap)
{
	struct pending pl;
	size_t n = 0;
	pending_read(dir, &pl);
	for (size_t i = 0; i < pl.n; i++) {
		char path[PATH_MAX];
		bool is_own = own && own[0] && strcmp(base_name(own), pl.name[i]) == 0;
		if (snprintf(path, sizeof(path), "%s/%s", dir, pl.name[i]) >= (int)sizeof(path) ||
		    access(path, F_OK) != 0)
			continue;
		n += mark_unproven(e, path, sizeof(path));
		if (is_own)
			snprintf(own, cap, "%s", path);
	}
	pending_clear(dir); /* after the renames: a kill between keeps the list */
	return n;
}

/* ---- Reading the device: proven reads ------------------------------------------------ */

typedef int (*read_fn)(struct st7_engine *e, void *ctx, struct st7_buf *out, struct st7_diag *d);

/*
 * Read the same memory until two reads agree (three at most): a byte flipped on the bus
 * must never become the backup. A device whose every read differs has no provable copy.
 */
static int proven_read(struct st7_engine *e, read_fn fn, void *ctx, struct st7_buf *out,
                       struct st7_diag *d)
{
	struct st7_buf r[3];
	int ret, pick = -1;
	for (int i = 0; i < 3; i++)
		st7_buf_init(&r[i]);
	ret = fn(e, ctx, &r[0], d);
	if (ret == ST7_OK)
		ret = fn(e, ctx, &r[1], d);
	if (ret == ST7_OK && same_bytes(&r[0], &r[1])) {
		pick = 0;
	} else if (ret == ST7_OK) {
		st7_warn("%s: two reads of the firmware differ; reading it a third time", e->path);
		ret = fn(e, ctx, &r[2], d);
		if (ret == ST7_OK)
			pick = same_bytes(&r[2], &r[0]) ? 0 : same_bytes(&r[2], &r[1]) ? 1 : -1;
		if (ret == ST7_OK && pick < 0)
			ret = st7_diag_set(d, ST7_ERR_DEVICE,
			                   "three reads of the firmware all differ: the device's "
			                   "upload is not reliable, so no backup can be proven");
	}
	if (ret == ST7_OK) {
		*out = r[pick];
		st7_buf_init(&r[pick]);
	}
	for (int i = 0; i < 3; i++)
		st7_buf_free(&r[i]);
	return ret;
}

struct region_read {
	size_t want;
};

static int read_region(struct st7_engine *e, void *ctx, struct st7_buf *out, struct st7_diag *d)
{
	return st7_engine_upload(e, ((struct region_read *)ctx)->want, out, d);
}

/* Upload the ST7 region (or a generic device's memory), proven. */
static int upload_proven(struct st7_engine *e, const struct st7_profile *p, struct st7_buf *mem,
                         struct st7_diag *d)
{
	struct region_read rr = { p ? st7_profile_region_size(p) : GENERIC_UPLOAD_MAX };
	int ret = proven_read(e, read_region, &rr, mem, d);
	if (ret == ST7_OK && p && mem->len != rr.want)
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "the upload gave %zu bytes, but %s's writable region is %zu",
		                   mem->len, p->name, rr.want);
	if (ret == ST7_OK && mem->len == 0)
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "the device uploaded nothing");
	return ret;
}

/* Upload the firmware (proven) and wrap it in a .dfu with the runtime IDs and version. */
static int take_backup(struct st7_engine *e, const struct st7_profile *p, uint16_t vid,
                       uint16_t pid, uint16_t version, size_t min_len, struct st7_buf *dfu,
                       struct st7_diag *d)
{
	struct st7_buf mem;
	st7_buf_init(&mem);
	int ret = upload_proven(e, p, &mem, d);
	/* A generic device ends its upload where it likes: a backup shorter than the
	 * image cannot put back what the download erases. */
	if (ret == ST7_OK && mem.len < min_len)
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "the device uploaded %zu bytes, less than the %zu the image "
		                   "overwrites: no complete backup",
		                   mem.len, min_len);
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

/* ---- Who the device is when its application runs -------------------------------------- */

struct runtime_id {
	bool running;   /* its application runs now (runtime mode) */
	bool ids_known; /* vid/pid are its application's USB IDs */
	uint16_t vid, pid;
	bool has_version; /* version is a real one (never 0xFFFF) */
	uint16_t version;
	const char *source; /* where the identity comes from, for messages */
};

/*
 * A device in runtime mode tells who it is. One in DFU mode is first asked whether it
 * holds a valid application (a reset runs it); if not, its newest stored backup says
 * what it ran, else (ST7) the version word in its memory says what it holds.
 */
static int resolve_identity(struct st7_engine *e, const struct st7_upgrade_opts *o,
                            const struct st7_profile *p, struct runtime_id *id, struct st7_diag *d)
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
		*id = (struct runtime_id){ true,
			                   true,
			                   dd->id_vendor,
			                   dd->id_product,
			                   dd->bcd_device != ST7_DFU_ID_ANY,
			                   dd->bcd_device,
			                   "the device" };
		return ST7_OK;
	}
	char path[PATH_MAX];
	struct st7_buf bytes;
	struct st7_dfu_file f;
	st7_buf_init(&bytes);
	st7_dfu_file_init(&f);
	if (stored_backup(e, o, NULL, path, sizeof(path), &bytes, &f, d) == ST7_OK) {
		id->ids_known = true;
		id->vid = f.suffix.id_vendor;
		id->pid = f.suffix.id_product;
		id->has_version = f.suffix.bcd_device != ST7_DFU_ID_ANY;
		id->version = f.suffix.bcd_device;
		id->source = "its newest stored backup";
	}
	st7_dfu_file_free(&f);
	st7_buf_free(&bytes);
	d->msg[0] = '\0';
	if (!id->source && p) {
		struct st7_buf mem;
		st7_buf_init(&mem);
		ret = st7_engine_upload(e, st7_profile_region_size(p), &mem, d);
		if (ret == ST7_OK && mem.len == st7_profile_region_size(p)) {
			uint16_t word = st7_be16(mem.data + mem.len - 2);
			id->has_version = word != ST7_DFU_ID_ANY;
			id->version = word;
			id->source = "the version word in its memory";
		}
		st7_buf_free(&mem);
		if (ret == ST7_ERR_ABORTED)
			return ret;
		if (ret)
			st7_warn("%s: cannot read its memory: %s", e->path, d->msg);
		d->msg[0] = '\0';
	}
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
 * caller for check_loader_pid() then. Without a known application product ID only the
 * vendor is compared, and the log says so.
 */
static int check_ids(const struct st7_engine *e, const struct st7_dfu_suffix *s,
                     const struct runtime_id *id, bool allow_wildcard, bool *loader_pid,
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

/* After detach: the product ID check_ids() left for the loader to answer. */
static int check_loader_pid(const struct st7_engine *e, const struct st7_dfu_suffix *s,
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
static int check_part(const struct st7_engine *e, const struct st7_dfu_file *img,
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
                         const struct runtime_id *id, uint16_t to, struct st7_upgrade_report *r)
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

/* ---- Flashing ------------------------------------------------------------------------ */

/* A device that lost power while it manifested comes back as a loader holding the whole
 * image but no valid application: one more download finishes the job. */
static bool manifest_lost(const struct st7_engine *e, int ret)
{
	return ret != ST7_OK && ret != ST7_ERR_ABORTED && e->dev && e->dfu.mode == ST7_DFU_MODE_DFU;
}

/* Download `payload`, manifest, come back in runtime mode reporting `version`. */
static int flash_and_check(struct st7_engine *e, const uint8_t *payload, size_t len,
                           uint16_t version, bool check_version, struct st7_diag *d)
{
	int ret = ST7_OK;
	for (int pass = 0; pass < 2; pass++) {
		bool needs_reset = false;
		ret = st7_engine_download(e, payload, len, &needs_reset, d);
		if (ret)
			return ret; /* the engine has retried the blocks already */
		ret = st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, d);
		if (!manifest_lost(e, ret) || pass == 1)
			break;
		st7_warn("%s: %s; downloading once more", e->path, d->msg);
	}
	if (ret)
		return ret;
	if (check_version && e->dev->dev.bcd_device != version)
		return st7_diag_set(d, ST7_ERR_DEVICE,
		                    "post-check: the device reports bcdDevice 0x%04X, expected "
		                    "0x%04X",
		                    e->dev->dev.bcd_device, version);
	return ST7_OK;
}

/* The DfuSe download and leave, then the post-check (0xFFFF: no version to check). */
static int dfuse_flash_and_check(struct st7_engine *e, const struct st7_dfu_file *img,
                                 struct st7_diag *d)
{
	uint16_t to = img->suffix.bcd_device;
	int ret = ST7_OK;
	for (int pass = 0; pass < 2; pass++) {
		ret = st7_engine_dfuse_download(e, img, d);
		if (ret)
			return ret;
		ret = st7_engine_wait_mode(e, ST7_DFU_MODE_RUNTIME, d);
		if (!manifest_lost(e, ret) || pass == 1)
			break;
		st7_warn("%s: %s; downloading once more", e->path, d->msg);
	}
	if (ret == ST7_OK && to != ST7_DFU_ID_ANY && e->dev->dev.bcd_device != to)
		ret = st7_diag_set(
		        d, ST7_ERR_DEVICE,
		        "post-check: the device reports bcdDevice 0x%04X, expected 0x%04X",
		        e->dev->dev.bcd_device, to);
	return ret;
}

/* After a read in DFU mode, the device returns to its (post-checked) application
 * whether the read worked or not; the read's error wins. */
static int back_to_runtime(struct st7_engine *e, bool entered, int ret, struct st7_diag *d)
{
	struct st7_diag fd = { "" };
	if (!entered)
		return ret;
	int f = st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, ret ? &fd : d);
	return ret ? ret : f;
}

/*
 * Read the new firmware back and return the device to runtime mode. *differs: the read
 * disagreed with the image. After a passed post-check that says the upload path lies
 * (now or when the backup was read): once is enough to distrust the backup.
 */
static int verify_readback(struct st7_engine *e, const struct st7_profile *p, const uint8_t *want,
                           size_t len, bool *differs, struct st7_diag *d)
{
	struct st7_buf mem;
	*differs = false;
	int ret = st7_engine_enter_dfu(e, d);
	bool entered = ret == ST7_OK;
	st7_buf_init(&mem);
	if (ret == ST7_OK)
		ret = st7_engine_upload(e, p ? st7_profile_region_size(p) : GENERIC_UPLOAD_MAX,
		                        &mem, d);
	/* A generic device uploads its whole memory: the image is its start. */
	*differs = ret == ST7_OK && (mem.len < len || memcmp(mem.data, want, len) != 0);
	if (*differs)
		st7_warn("%s: the new firmware read back differs from the image", e->path);
	st7_buf_free(&mem);
	return back_to_runtime(e, entered, ret, d);
}

/* Put a backup or a checked image (plain or DfuSe), already in memory, back and
 * post-check its version. */
static int restore(struct st7_engine *e, const struct st7_dfu_file *f, const char *label,
                   bool *flashing, struct st7_upgrade_report *r, struct st7_diag *d)
{
	int ret = ST7_OK;
	if (!e->dev)
		return st7_diag_set(d, ST7_ERR_NO_DEVICE, "device %s is not present", e->path);
	if ((f->kind == ST7_DFU_KIND_DFUSE) != (e->dfu.dfu_version == ST7_BCDDFU_DFUSE))
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED, "%s does not suit this device", label);
	uint16_t v = f->suffix.bcd_device;
	bool versioned = v != ST7_DFU_ID_ANY;
	st7_info("%s: restoring %s (version 0x%04X)", e->path, label, v);
	*flashing = true;
	if (f->kind == ST7_DFU_KIND_DFUSE) {
		ret = dfuse_flash_and_check(e, f, d);
	} else {
		ret = flash_and_check(e, f->data, f->payload_len, v, versioned, d);
	}
	if (ret == ST7_OK) {
		r->to_version = e->dev->dev.bcd_device;
		snprintf(r->backup, sizeof(r->backup), "%s", label);
	}
	return ret;
}

/*
 * Before saying the device is left in DFU mode: if it still holds a valid application
 * (nothing was erased after all), it runs it again. `old` is the version it should
 * report to count as untouched (-1: any).
 */
static enum st7_upgrade_outcome leave_or_stay(struct st7_engine *e, int old,
                                              struct st7_upgrade_report *r)
{
	bool running = false;
	struct st7_diag ld = { "" };
	if (e->dev && e->dfu.mode == ST7_DFU_MODE_DFU &&
	    st7_engine_leave_dfu(e, &running, &ld) == ST7_OK && running) {
		uint16_t v = e->dev->dev.bcd_device;
		size_t w = strlen(r->error);
		snprintf(r->error + w, sizeof(r->error) - w,
		         "; the device still held its application and runs it (0x%04X)", v);
		if (old < 0 || v == old) {
			r->to_version = v;
			return set(r, ST7_UPG_UNTOUCHED, r->error);
		}
	}
	return set(r, ST7_UPG_LEFT_IN_DFU, r->error);
}

/* After a failed update: put the backup back. r->error already holds why the update
 * failed; a failed rescue is appended to it. */
static enum st7_upgrade_outcome rescue(struct st7_engine *e, const struct st7_dfu_file *f,
                                       const char *label, struct st7_upgrade_report *r)
{
	struct st7_diag rd = { "" };
	bool flashing = false;
	r->rollback_tried = true;
	if (!e->dev || e->dfu.mode != ST7_DFU_MODE_DFU)
		st7_engine_enter_dfu(e, &rd);
	if (restore(e, f, label, &flashing, r, &rd) == ST7_OK)
		return set(r, ST7_UPG_ROLLED_BACK, r->error);
	size_t w = strlen(r->error);
	snprintf(r->error + w, sizeof(r->error) - w, "; rollback failed too: %s", rd.msg);
	return leave_or_stay(e, r->had_version ? r->from_version : -1, r);
}

/* Nothing is erased yet: give the device its application back, then report. */
static enum st7_upgrade_outcome send_back(struct st7_engine *e, bool was_running, int ret,
                                          const char *why, struct st7_upgrade_report *r)
{
	if (was_running && e->dev && e->dfu.mode == ST7_DFU_MODE_DFU) {
		struct st7_diag fd = { "" };
		st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, &fd);
	}
	snprintf(r->error, sizeof(r->error), "%s", why);
	if (ret == ST7_ERR_ABORTED)
		return set(r, ST7_UPG_ABORTED, r->error);
	if (ret == ST7_ERR_RANGE || ret == ST7_ERR_UNSUPPORTED)
		return set(r, ST7_UPG_REFUSED, r->error);
	return set(r, ST7_UPG_UNTOUCHED, r->error);
}

/* ---- DfuSe --------------------------------------------------------------------------- */

/* DfuSe backup: every page the image will erase, as a DfuSe file of the same targets. */
static int read_dfuse_pages(struct st7_engine *e, void *ctx, struct st7_buf *out,
                            struct st7_diag *d)
{
	const struct st7_dfu_file *img = ((const struct st7_dfu_file **)ctx)[0];
	const struct runtime_id *id = ((const struct runtime_id **)ctx)[1];
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
		struct st7_dfu_ids ids = { id->vid, id->pid, id->version, 0 };
		ret = st7_dfu_build_dfuse(spec, nt, &ids, out, d);
	}
	for (unsigned t = 0; t < nt; t++)
		st7_memimg_free(&mem[t]);
	free(start);
	free(size);
	return ret;
}

/* Read back every element of `img` and compare, like verify_readback(). */
static int dfuse_readback(struct st7_engine *e, const struct st7_dfu_file *img, bool *differs,
                          struct st7_diag *d)
{
	int ret = st7_engine_enter_dfu(e, d);
	bool entered = ret == ST7_OK;
	*differs = false;
	for (size_t i = 0; ret == ST7_OK && !*differs && i < img->n_elements; i++) {
		const struct st7_dfuse_element *el = &img->elements[i];
		uint8_t alt = 0;
		for (unsigned t = 0; t < img->n_targets; t++)
			if (i >= img->targets[t].first_element &&
			    i < img->targets[t].first_element + img->targets[t].n_elements)
				alt = img->targets[t].alt;
		struct st7_buf back;
		st7_buf_init(&back);
		ret = st7_engine_dfuse_upload(e, alt, el->address, el->size, &back, d);
		*differs =
		        ret == ST7_OK && (back.len != el->size ||
		                          memcmp(back.data, img->data + el->offset, el->size) != 0);
		if (*differs)
			st7_warn("%s: the read-back at 0x%08X differs from the image", e->path,
			         el->address);
		st7_buf_free(&back);
	}
	return back_to_runtime(e, entered, ret, d);
}

/* ---- The commands -------------------------------------------------------------------- */

/* Everything an upgrade decides before it touches anything but descriptors (and, for
 * a device in DFU mode, the reset that asks it whether it holds an application). */
static enum st7_upgrade_outcome precheck(struct st7_engine *e, const struct st7_dfu_file *img,
                                         const struct st7_upgrade_opts *o, bool wildcard,
                                         const struct st7_profile *p, struct runtime_id *id,
                                         bool *loader_pid, struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
	int ret = check_part(e, img, p, false, &d);
	if (ret)
		return set(r, ST7_UPG_REFUSED, d.msg);
	ret = resolve_identity(e, o, p, id, &d);
	if (ret)
		return set(r, ret == ST7_ERR_ABORTED ? ST7_UPG_ABORTED : ST7_UPG_UNTOUCHED, d.msg);
	if (id->running && id->ids_known) {
		r->had_version = true;
		r->from_version = id->version;
	}
	if (check_ids(e, &img->suffix, id, wildcard, loader_pid, &d))
		return set(r, ST7_UPG_REFUSED, d.msg);
	return ST7_UPG_DONE;
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

/*
 * The device already runs `img`, but a run killed before its read-back left the backup
 * it took unchecked: read the firmware back now. A difference sets that backup aside,
 * as the killed run would have (exit 14).
 */
static void finish_pending_readback(struct st7_engine *e, const struct st7_upgrade_opts *o,
                                    const struct runtime_id *id, const struct st7_dfu_file *img,
                                    const struct st7_profile *p, struct st7_upgrade_report *r)
{
	char dir[PATH_MAX];
	const uint16_t ids[2] = { id->vid, id->pid };
	struct st7_diag d = { "" };
	struct pending pl;
	bool differs = false;
	if (backup_dir(e, o, ids, dir, sizeof(dir)) != 0)
		return;
	pending_read(dir, &pl);
	if (!pl.n)
		return;
	st7_info("%s: an earlier run did not read back its new firmware; reading it back now",
	         e->path);
	int ret = e->dfu.dfu_version == ST7_BCDDFU_DFUSE
	                  ? dfuse_readback(e, img, &differs, &d)
	                  : verify_readback(e, p, img->data, img->payload_len, &differs, &d);
	if (ret) {
		st7_warn("%s: read-back failed: %s (the backup stays unchecked)", e->path, d.msg);
		return;
	}
	if (!differs) {
		pending_clear(dir);
		return;
	}
	size_t n = pending_set_aside(e, dir, NULL, 0);
	r->to_version = e->dev ? e->dev->dev.bcd_device : 0;
	snprintf(r->error, sizeof(r->error),
	         "the device runs this version, but reading it back disagreed with the image: its "
	         "upload is not reliable, so %zu backup(s) an earlier run read through it %s set "
	         "aside",
	         n, n == 1 ? "was" : "were");
	set(r, ST7_UPG_UNVERIFIED, r->error);
}

enum st7_upgrade_outcome st7_upgrade(struct st7_engine *e, const struct st7_dfu_file *img,
                                     const struct st7_upgrade_opts *o, struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
	struct st7_buf backup, stored;
	struct st7_dfu_file stored_f;
	struct runtime_id id;
	char dir[PATH_MAX], path[PATH_MAX] = "", from[PATH_MAX] = "";
	bool dfuse = e->dfu.dfu_version == ST7_BCDDFU_DFUSE;
	const struct st7_profile *p = dfuse ? NULL : pick_profile(e, o, img->payload_len);
	uint16_t to = img->suffix.bcd_device;
	enum st7_upgrade_outcome out;
	int ret;

	memset(r, 0, sizeof(*r));
	st7_buf_init(&backup);
	st7_buf_init(&stored);
	st7_dfu_file_init(&stored_f);
	bool loader_pid;
	out = precheck(e, img, o, o->allow_wildcard, p, &id, &loader_pid, r);
	if (out != ST7_UPG_DONE)
		return out;
	if (!version_gate(e, o, &id, to, r)) {
		if (r->outcome == ST7_UPG_NOTHING && !o->no_verify)
			finish_pending_readback(e, o, &id, img, p, r);
		return r->outcome;
	}

	/* What a failure will restore: a backup taken now from the running application;
	 * for a device that runs none, its newest stored backup (read once, now), else a
	 * backup of what its memory holds, when that can be trusted to be whole: any
	 * DfuSe or DFU 1.1 memory, an ST7 region whose version word (written last) is
	 * there. */
	uint16_t bk_vid = id.vid, bk_pid = id.pid, bk_version = id.version;
	bool take = id.running && !o->no_backup;
	if (!id.running && !o->no_backup) {
		struct st7_diag sd = { "" };
		ret = stored_backup(e, o, NULL, from, sizeof(from), &stored, &stored_f, &sd);
		if (ret == ST7_ERR_AMBIGUOUS)
			return set(r, ST7_UPG_STORAGE, sd.msg);
		if (ret == ST7_OK && dfuse &&
		    (ret = dfuse_backup_covers(e, img, &stored_f, from, &d)) != ST7_OK) {
			out = set(r, ret == ST7_ERR_RANGE ? ST7_UPG_REFUSED : ST7_UPG_UNTOUCHED,
			          d.msg);
			goto cleanup;
		}
		if (!stored_f.data) {
			from[0] = '\0';
			bool can_upload = !e->dfu.func.length ||
			                  (e->dfu.func.attributes & ST7_DFU_ATTR_CAN_UPLOAD);
			take = p ? id.has_version : can_upload;
			/* The application's product ID is unknown here: file it under 0xFFFF,
			 * where a lookup by the application's IDs looks next. */
			bk_vid = e->dev->dev.id_vendor;
			bk_pid = ST7_DFU_ID_ANY;
			bk_version = id.has_version ? id.version : ST7_DFU_ID_ANY;
			if (take)
				st7_warn("%s: no stored backup and no running application: backing "
				         "up "
				         "what its memory holds",
				         e->path);
		}
	}
	/* The device's backup directory, and the backups in it no read-back checked yet. */
	char pdir[PATH_MAX] = "";
	struct pending pl = { 0 };
	if (id.running) {
		const uint16_t ids[2] = { id.vid, id.pid };
		if (backup_dir(e, o, ids, pdir, sizeof(pdir)) != 0)
			pdir[0] = '\0';
	} else if (from[0] && strrchr(from, '/')) {
		snprintf(pdir, sizeof(pdir), "%.*s", (int)(strrchr(from, '/') - from), from);
	}
	if (pdir[0])
		pending_read(pdir, &pl);
	/* Reading the new firmware back is what reveals an upload path that lies, and so
	 * a backup read through it: on by default for ST7 parts, whenever a backup is
	 * taken, and while an earlier backup waits for its check. */
	bool readback = !o->no_verify && (o->verify || p || take || pl.n);
	if (take) {
		/* The backup and its temporary copy; DfuSe pages are at most the image's
		 * span, which its payload bounds well enough with a margin. */
		size_t need = 2 * (p ? st7_profile_region_size(p) : img->payload_len) + 65536;
		ret = backup_store_prepare(e, o, bk_vid, bk_pid, need, dir, sizeof(dir), &d);
		if (ret) {
			out = set(r, ST7_UPG_STORAGE, d.msg);
			goto cleanup;
		}
		if (strcmp(pdir, dir) != 0) { /* a loader's backup: filed where it goes */
			snprintf(pdir, sizeof(pdir), "%s", dir);
			pending_read(pdir, &pl);
		}
	}

	/* From here on the device is touched. */
	ret = st7_engine_enter_dfu(e, &d);
	if (ret == ST7_OK && loader_pid)
		ret = check_loader_pid(e, &img->suffix, id.pid, &d);
	if (ret) {
		out = send_back(e, id.running, ret, d.msg, r);
		goto cleanup;
	}
	if (take) {
		struct runtime_id bid = id;
		bid.vid = bk_vid;
		bid.pid = bk_pid;
		bid.version = bk_version;
		const void *ctx[2] = { img, &bid };
		ret = dfuse ? proven_read(e, read_dfuse_pages, ctx, &backup, &d)
		            : take_backup(e, p, bk_vid, bk_pid, bk_version, img->payload_len,
		                          &backup, &d);
		if (ret == ST7_OK)
			ret = store_backup(e, o, dir, bk_version, &backup, path, sizeof(path), &d);
		if (ret == ST7_OK && readback)
			ret = pending_add(dir, path, &d);
		if (ret == ST7_OK)
			ret = st7_dfu_file_parse(&stored_f, backup.data, backup.len, 0, &d);
		if (ret) {
			char why[ST7_DIAG_MAX];
			snprintf(why, sizeof(why), "backup failed: %s", d.msg);
			out = send_back(e, id.running, ret, why, r);
			if (ret == ST7_ERR_IO && out == ST7_UPG_UNTOUCHED)
				out = set(r, ST7_UPG_STORAGE,
				          r->error); /* the disk, not the device */
			goto cleanup;
		}
		snprintf(r->backup, sizeof(r->backup), "%s", path);
		snprintf(from, sizeof(from), "%s", path);
	} else if (!id.running) {
		st7_warn("%s: the device holds no valid application to back up%s", e->path,
		         from[0] ? " (its stored backup is kept)" : "");
	}

	ret = dfuse ? dfuse_flash_and_check(e, img, &d)
	            : flash_and_check(e, img->data, img->payload_len, to, true, &d);
	r->attempts = e->attempts ? e->attempts : 1;
	if (ret == ST7_OK) {
		/* Installed and post-checked: from here the new firmware stays. */
		bool differs = false;
		r->to_version = e->dev->dev.bcd_device;
		int rb = readback ? dfuse ? dfuse_readback(e, img, &differs, &d)
		                          : verify_readback(e, p, img->data, img->payload_len,
		                                            &differs, &d)
		                  : ST7_OK;
		if (rb == ST7_OK && !differs) {
			if (pdir[0] && readback)
				pending_clear(
				        pdir); /* every backup waiting for a check is proven */
			out = set(r, ST7_UPG_DONE, "");
		} else if (rb == ST7_ERR_ABORTED) {
			out = set(r, ST7_UPG_ABORTED, d.msg);
		} else if (rb) {
			/* No check, no verdict: the backups stay listed as unchecked. */
			snprintf(r->error, sizeof(r->error),
			         "the new firmware runs and passed the post-check, but reading it "
			         "back "
			         "failed (%s): the backup stays unchecked, and rollback will not "
			         "put it "
			         "over a running application",
			         d.msg);
			out = set(r, ST7_UPG_UNVERIFIED, r->error);
		} else {
			/* The upload path lies: every backup read through it proves nothing. */
			size_t n = pdir[0] ? pending_set_aside(e, pdir, path, sizeof(path)) : 0;
			if (path[0])
				snprintf(r->backup, sizeof(r->backup), "%s", path);
			snprintf(
			        r->error, sizeof(r->error),
			        "the new firmware runs and passed the post-check, but reading it "
			        "back "
			        "disagreed with the image: the device's upload is not reliable, so "
			        "%zu backup(s) read through it %s set aside",
			        n, n == 1 ? "was" : "were");
			out = set(r, ST7_UPG_UNVERIFIED, r->error);
		}
		goto cleanup;
	}
	snprintf(r->error, sizeof(r->error), "%s", d.msg);
	if (ret == ST7_ERR_RANGE || ret == ST7_ERR_UNSUPPORTED) {
		/* The DfuSe layout refused the image before any erase. */
		out = send_back(e, id.running, ret, r->error, r);
		goto cleanup;
	}
	if (ret == ST7_ERR_ABORTED) {
		out = set(r, ST7_UPG_ABORTED, r->error);
		goto cleanup;
	}
	if (!stored_f.data) {
		out = leave_or_stay(e, r->had_version ? r->from_version : -1, r);
		goto cleanup;
	}
	st7_err("%s: update to 0x%04X failed: %s; restoring %s", e->path, to, d.msg, from);
	out = rescue(e, &stored_f, from, r);
cleanup:
	st7_dfu_file_free(&stored_f);
	st7_buf_free(&stored);
	st7_buf_free(&backup);
	return out;
}

enum st7_upgrade_outcome st7_rollback(struct st7_engine *e, const struct st7_dfu_file *file,
                                      const char *label, bool own_backup,
                                      const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
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
	if (file) {
		snprintf(from, sizeof(from), "%s", label ? label : "the file");
	} else {
		const uint16_t ids[2] = { e->dev->dev.id_vendor, e->dev->dev.id_product };
		if (stored_backup(e, o, runtime ? ids : NULL, from, sizeof(from), &bytes, &stored,
		                  &d) == ST7_OK)
			f = &stored;
		else
			out = set(r, ST7_UPG_STORAGE, d.msg);
		/* A backup no read-back has checked is not put over a running application
		 * (it may have been read through a lying upload path); on a device with no
		 * application it is the best there is. */
		struct pending pl;
		char bdir[PATH_MAX];
		snprintf(bdir, sizeof(bdir), "%.*s",
		         (int)(strrchr(from, '/') ? strrchr(from, '/') - from : 0), from);
		if (f && bdir[0])
			pending_read(bdir, &pl);
		if (f && bdir[0] && pending_has(&pl, from)) {
			/* In DFU mode the device may still hold the new application: ask it. */
			bool running = runtime;
			struct st7_diag ld = { "" };
			if (!running && st7_engine_leave_dfu(e, &running, &ld) != ST7_OK)
				running = false;
			if (running) {
				snprintf(r->error, sizeof(r->error),
				         "%s was never checked by a read-back (an update stopped "
				         "before "
				         "it): run 'st7dfu upgrade' with the image the device runs "
				         "to "
				         "check it, or 'st7dfu rollback --to %s' to restore it "
				         "anyway",
				         from, from);
				out = set(r, ST7_UPG_STORAGE, r->error);
				goto cleanup;
			}
			st7_warn("%s: %s was never checked by a read-back; restoring it all the "
			         "same: "
			         "the device holds no application",
			         e->path, from);
		}
		if (!f) {
			/* A device a killed run left in DFU mode still holds its application:
			 * nothing to restore, but it must not stay a loader. */
			bool back = false;
			struct st7_diag ld = { "" };
			if (!runtime && st7_engine_leave_dfu(e, &back, &ld) == ST7_OK && back) {
				size_t w = strlen(r->error);
				snprintf(
				        r->error + w, sizeof(r->error) - w,
				        "; the device was in DFU mode with a valid application and "
				        "runs it again (0x%04X)",
				        e->dev->dev.bcd_device);
			}
			goto cleanup;
		}
	}
	/* The same target checks as any image, before the device is touched. */
	const struct st7_profile *p =
	        e->dfu.dfu_version == ST7_BCDDFU_DFUSE ? NULL : pick_profile(e, o, f->payload_len);
	bool loader_pid = false;
	uint16_t app_pid = e->dev->dev.id_product;
	own_backup = own_backup || !file;
	int ret = check_part(e, f, p, own_backup, &d);
	if (ret == ST7_OK && file) { /* a stored backup carries this device's own IDs */
		struct runtime_id id = { runtime,
			                 runtime,
			                 e->dev->dev.id_vendor,
			                 e->dev->dev.id_product,
			                 false,
			                 0,
			                 runtime ? "the device" : "the device's descriptors" };
		ret = check_ids(e, &f->suffix, &id, true, &loader_pid, &d);
	}
	if (ret) {
		char why[ST7_DIAG_MAX];
		snprintf(why, sizeof(why), "%s: %s", from, d.msg);
		out = set(r, ST7_UPG_REFUSED, why);
		goto cleanup;
	}
	bool flashing = false;
	ret = st7_engine_enter_dfu(e, &d);
	if (ret == ST7_OK && loader_pid)
		ret = check_loader_pid(e, &f->suffix, app_pid, &d);
	if (ret == ST7_OK)
		ret = restore(e, f, from, &flashing, r, &d);
	if (ret == ST7_OK) {
		out = set(r, ST7_UPG_DONE, "");
		goto cleanup;
	}
	snprintf(r->error, sizeof(r->error), "%s", d.msg);
	if (!flashing || ret == ST7_ERR_RANGE || ret == ST7_ERR_UNSUPPORTED)
		out = send_back(e, runtime, ret, r->error, r); /* nothing erased */
	else if (ret == ST7_ERR_ABORTED)
		out = set(r, ST7_UPG_ABORTED, r->error);
	else /* the backup did not take: whatever the device runs is not verified */
		out = leave_or_stay(e, r->had_version ? r->from_version : -1, r);
cleanup:
	st7_dfu_file_free(&stored);
	st7_buf_free(&bytes);
	return out;
}

enum st7_upgrade_outcome st7_download(struct st7_engine *e, const struct st7_dfu_file *img,
                                      const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *r)
{
	struct st7_diag d = { "" };
	struct runtime_id id;
	bool dfuse = e->dfu.dfu_version == ST7_BCDDFU_DFUSE;
	const struct st7_profile *p = dfuse ? NULL : pick_profile(e, o, img->payload_len);

	memset(r, 0, sizeof(*r));
	/* DFU 1.1 appendix B: 0xFFFF in the suffix matches any device. */
	bool loader_pid;
	enum st7_upgrade_outcome out = precheck(e, img, o, true, p, &id, &loader_pid, r);
	if (out != ST7_UPG_DONE)
		return out;
	int ret = st7_engine_enter_dfu(e, &d);
	if (ret == ST7_OK && loader_pid)
		ret = check_loader_pid(e, &img->suffix, id.pid, &d);
	if (ret)
		return send_back(e, id.running, ret, d.msg, r);
	/* "As is": no version to compare after it, but a lost manifestation is redone. */
	ret = dfuse ? st7_engine_dfuse_download(e, img, &d) : ST7_OK;
	if (dfuse && ret == ST7_OK) {
		ret = st7_engine_wait_mode(e, ST7_DFU_MODE_RUNTIME, &d);
		if (manifest_lost(e, ret)) {
			st7_warn("%s: %s; downloading once more", e->path, d.msg);
			ret = st7_engine_dfuse_download(e, img, &d);
			if (ret == ST7_OK)
				ret = st7_engine_wait_mode(e, ST7_DFU_MODE_RUNTIME, &d);
		}
	} else if (!dfuse) {
		ret = flash_and_check(e, img->data, img->payload_len, 0, false, &d);
	}
	/* The DfuSe layout check refuses before any erase: send the device back. */
	if (ret == ST7_ERR_RANGE || ret == ST7_ERR_UNSUPPORTED)
		return send_back(e, id.running, ret, d.msg, r);
	r->attempts = e->attempts ? e->attempts : 1;
	if (ret == ST7_OK) {
		r->to_version = e->dev->dev.bcd_device;
		return set(r, ST7_UPG_DONE, "");
	}
	snprintf(r->error, sizeof(r->error), "%s", d.msg);
	if (ret == ST7_ERR_ABORTED)
		return set(r, ST7_UPG_ABORTED, r->error);
	return leave_or_stay(e, id.running && id.has_version ? id.version : -1, r);
}

/* DfuSe upload: every readable segment of every alternate setting, as a DfuSe file of
 * the same targets (the layout strings say what there is to read). */
static int read_dfuse_all(struct st7_engine *e, void *ctx, struct st7_buf *out, struct st7_diag *d)
{
	struct st7_memimg mem[8];
	struct st7_dfuse_layout l[8];
	struct st7_dfuse_target_spec spec[8];
	unsigned nt = 0;
	int ret = ST7_OK;
	for (size_t i = 0; ret == ST7_OK; i++) {
		uint8_t alt;
		if (nt == 8) {
			ret = st7_diag_set(d, ST7_ERR_UNSUPPORTED,
			                   "more than 8 alternate settings");
			break;
		}
		ret = st7_engine_dfuse_alt(e, i, &alt, &l[nt], d);
		if (ret == ST7_ERR_RANGE) {
			ret = ST7_OK;
			break;
		}
		st7_memimg_init(&mem[nt]);
		for (unsigned k = 0; ret == ST7_OK && k < l[nt].n; k++) {
			const struct st7_dfuse_segment *sg = &l[nt].seg[k];
			uint64_t len = (uint64_t)sg->pages * sg->page_size;
			if (!(sg->attrs & ST7_DFUSE_READABLE) || len == 0)
				continue;
			if (len > GENERIC_UPLOAD_MAX) {
				ret = st7_diag_set(
				        d, ST7_ERR_TOO_LARGE,
				        "alt %u: %llu bytes at 0x%08X is more than an upload "
				        "takes",
				        alt, (unsigned long long)len, sg->start);
				break;
			}
			struct st7_buf b;
			st7_buf_init(&b);
			ret = st7_engine_dfuse_upload(e, alt, sg->start, (size_t)len, &b, d);
			if (ret == ST7_OK && b.len != len)
				ret = st7_diag_set(
				        d, ST7_ERR_FORMAT,
				        "alt %u: the device uploaded %zu of the %llu bytes at "
				        "0x%08X",
				        alt, b.len, (unsigned long long)len, sg->start);
			if (ret == ST7_OK)
				ret = st7_memimg_add(&mem[nt], sg->start, b.data, b.len, d);
			st7_buf_free(&b);
		}
		spec[nt] = (struct st7_dfuse_target_spec){ alt, l[nt].name, &mem[nt] };
		nt++;
	}
	if (ret == ST7_OK && nt == 0)
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "the device has no readable memory");
	if (ret == ST7_OK)
		ret = st7_dfu_build_dfuse(spec, nt, ctx, out, d);
	for (unsigned t = 0; t < nt; t++)
		st7_memimg_free(&mem[t]);
	return ret;
}

int st7_upload_to_file(struct st7_engine *e, const struct st7_upgrade_opts *o, const char *path,
                       struct st7_diag *d)
{
	bool runtime = e->dfu.mode == ST7_DFU_MODE_RUNTIME;
	bool dfuse = e->dfu.dfu_version == ST7_BCDDFU_DFUSE;
	const struct st7_usb_device_desc dd = e->dev->dev;
	const struct st7_profile *p = dfuse ? NULL : pick_profile(e, o, 0);
	struct st7_buf mem, dfu;
	int ret = st7_engine_enter_dfu(e, d);
	st7_buf_init(&mem);
	st7_buf_init(&dfu);
	if (ret == ST7_OK && dfuse) {
		struct st7_dfu_ids ids = { dd.id_vendor, dd.id_product,
			                   runtime ? dd.bcd_device : ST7_DFU_ID_ANY, 0 };
		ret = proven_read(e, read_dfuse_all, &ids, &dfu, d);
	} else if (ret == ST7_OK) {
		/* ST72F62 and F63 look alike: the largest candidate bounds the read, and
		 * the device's short block ends it. */
		struct region_read rr = { p ? st7_profile_region_size(p) : GENERIC_UPLOAD_MAX };
		ret = proven_read(e, read_region, &rr, &mem, d);
		if (ret == ST7_OK && mem.len == 0)
			ret = st7_diag_set(d, ST7_ERR_FORMAT, "the device uploaded nothing");
		/* What an ST7 sends must be one of its possible parts' region, whole. */
		const struct st7_profile *got =
		        p && ret == ST7_OK ? pick_profile(e, o, mem.len) : NULL;
		if (ret == ST7_OK && p && !got)
			ret = st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "the upload gave %zu bytes, which is no ST7 part's writable "
			        "region this device could be",
			        mem.len);
		uint16_t word = got ? st7_be16(mem.data + mem.len - 2) : 0;
		if (ret == ST7_OK && got && runtime && word != dd.bcd_device)
			ret = st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "the uploaded image's version word is 0x%04X, but the device "
			        "reports bcdDevice 0x%04X: the upload is not trustworthy",
			        word, dd.bcd_device);
		if (ret == ST7_OK) {
			/* A runtime device tells its IDs and version; in DFU mode, the image's
			 * own version word is the best we know. */
			uint16_t ver = runtime ? dd.bcd_device : got ? word : 0;
			struct st7_dfu_ids ids = { dd.id_vendor, dd.id_product, ver, 0 };
			ret = st7_dfu_build_plain(mem.data, mem.len, &ids, &dfu, d);
		}
	}
	if (ret == ST7_OK)
		ret = st7_file_write_atomic(path, dfu.data, dfu.len, 0644, d);
	if (runtime && e->dev && e->dfu.mode == ST7_DFU_MODE_DFU) {
		/* Back to its application, whether the read worked or not. */
		struct st7_diag fd;
		st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, &fd);
	}
	st7_buf_free(&mem);
	st7_buf_free(&dfu);
	return ret;
}
