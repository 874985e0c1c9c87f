/* SPDX-License-Identifier: MIT */
/*
 * The backup store: STATE/backups/VID-PID-SERIAL/VERSION.dfu, over the store interface.
 * Backups are flashed without a signature, so only files that root (or we) alone could
 * have written count as ours: real, private directories and files, never links.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "state_dir.h"
#include "upgrade_int.h"

#define BACKUP_READ_FLAGS (ST7_STORE_NOFOLLOW | ST7_STORE_PRIVATE)
/* A backup whose device could not read its new firmware back faithfully. */
#define UNPROVEN_SUFFIX ".unproven"
/* A device's backups are all considered, up to a bound no real directory reaches. */
#define MAX_BACKUPS 4096

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && strcmp(s + n - t, tail) == 0;
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

static int any_dfu(void *arg, const struct st7_store_entry *e)
{
	(void)arg;
	return strlen(e->name) > 4 && ends_with(e->name, ".dfu");
}

/* Does `dir` hold at least one *.dfu? */
static bool holds_backups(struct st7_run *run, const char *dir)
{
	struct st7_diag d;
	return st7_store_list(run->store, dir, any_dfu, NULL, &d) == 1;
}

struct dir_match {
	struct st7_run *run;
	const char *base, *serial, *vendor;
	char *out;
	size_t cap;
	int found; /* -1 none, 0 one, -2 several */
};

static int match_dir(void *arg, const struct st7_store_entry *e)
{
	struct dir_match *m = arg;
	size_t sl = strlen(m->serial);
	char cand[PATH_MAX];
	/* "vvvv-pppp-" + serial */
	if (strlen(e->name) != 10 + sl || strcmp(e->name + 10, m->serial) != 0 ||
	    strncmp(e->name, m->vendor, 5) != 0 || e->name[9] != '-' ||
	    st7_store_join(cand, sizeof(cand), m->base, e->name) != ST7_OK ||
	    !holds_backups(m->run, cand))
		return 0; /* an empty directory is no candidate */
	if (m->found == 0) {
		m->found = -2;
		return 1;
	}
	m->found = snprintf(m->out, m->cap, "%s", cand) >= (int)m->cap ? -1 : 0;
	return 0;
}

int upg_backup_dir(struct st7_run *run, const struct st7_engine *e,
                   const struct st7_upgrade_opts *o, const uint16_t *ids, char *out, size_t cap)
{
	char serial[96], base[PATH_MAX], vendor[6];
	struct st7_diag d;
	safe_name(e->serial[0] ? e->serial : e->path, serial, sizeof(serial));
	if (ids)
		return snprintf(out, cap, "%s/" ST7_STATE_BACKUPS "/%04x-%04x-%s", o->state_dir,
		                ids[0], ids[1], serial) >= (int)cap
		               ? -1
		               : 0;
	if (st7_state_path(base, sizeof(base), o->state_dir, ST7_STATE_BACKUPS) != ST7_OK)
		return -1;
	snprintf(vendor, sizeof(vendor), "%04x-", e->dev ? e->dev->dev.id_vendor : 0);
	struct dir_match m = { run, base, serial, vendor, out, cap, -1 };
	st7_store_list(run->store, base, match_dir, &m, &d);
	if (m.found == -2)
		st7_warn("%s: several products of vendor 0x%.4s have backups for serial \"%s\" in "
		         "%s: none is used (name one with rollback --to)",
		         e->path, vendor, serial, base);
	return m.found;
}

/* Names only (the store's entries): a path is joined where one is used, so a long list
 * costs a few hundred bytes a backup, not PATH_MAX. */
struct backup_list {
	const char *dir;
	struct st7_store_entry *v;
	size_t n, cap;
};

static int collect_backup(void *arg, const struct st7_store_entry *e)
{
	struct backup_list *l = arg;
	/* Unproven ones end in .dfu.unproven and are never listed. */
	if (strlen(e->name) < 5 || !ends_with(e->name, ".dfu") || !e->regular)
		return 0;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct st7_store_entry *p =
		        ncap <= MAX_BACKUPS ? realloc(l->v, ncap * sizeof(*p)) : NULL;
		if (!p) {
			st7_warn("%s: more than %zu backups; the rest are not considered", l->dir,
			         l->cap);
			return 1;
		}
		l->v = p;
		l->cap = ncap;
	}
	l->v[l->n++] = *e;
	return 0;
}

static int newer_first(const void *a, const void *b)
{
	const struct st7_store_entry *x = a, *y = b;
	return st7_store_newer(x, y) ? -1 : st7_store_newer(y, x) ? 1 : 0;
}

/* The regular *.dfu files in `dir`, newest first (to the nanosecond), into *out (free()
 * it); their count. */
static size_t list_backups(struct st7_run *run, const char *dir, struct st7_store_entry **out)
{
	struct backup_list l = { dir, NULL, 0, 0 };
	struct st7_diag d;
	st7_store_list(run->store, dir, collect_backup, &l, &d);
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), newer_first);
	*out = l.v;
	return l.n;
}

int st7_backup_load(struct st7_run *run, const char *path, struct st7_buf *bytes,
                    struct st7_dfu_file *f, struct st7_diag *d)
{
	st7_dfu_file_free(f); /* it borrows `bytes`, which is filled again */
	int ret = st7_store_read(run->store, path, ST7_IMAGE_MAX, BACKUP_READ_FLAGS, bytes, d);
	if (ret == ST7_OK && (ret = st7_dfu_file_parse(f, bytes->data, bytes->len, 0, d)) != ST7_OK)
		st7_diag_prefix(d, ret, "%s", path); /* the store's messages name it already */
	return ret;
}

/* The newest backup in `dir` that is a valid .dfu, read once into `bytes`/`f` (a damaged
 * one is skipped, with a warning); its path into `path`. */
static int newest_backup(struct st7_run *run, const char *dir, char *path, size_t cap,
                         struct st7_buf *bytes, struct st7_dfu_file *f)
{
	struct st7_store_entry *list;
	int ret = -1;
	size_t n = list_backups(run, dir, &list);
	for (size_t i = 0; i < n && ret < 0; i++) {
		struct st7_diag d = { "" };
		char p[PATH_MAX];
		if (st7_store_join(p, sizeof(p), dir, list[i].name) != ST7_OK)
			continue; /* a name too long to open is no candidate */
		if (st7_backup_load(run, p, bytes, f, &d) == ST7_OK) {
			snprintf(path, cap, "%s", p);
			ret = 0;
		} else {
			st7_warn("skipping damaged backup: %s", d.msg);
		}
	}
	if (ret) {
		st7_dfu_file_free(f);
		st7_buf_clear(bytes);
	}
	free(list);
	return ret;
}

/* Keep the newest `keep` backups; never delete `protect`. */
static void prune_backups(struct st7_run *run, const char *dir, unsigned keep, const char *protect)
{
	struct st7_store_entry *list;
	size_t n = list_backups(run, dir, &list), kept = 0;
	for (size_t i = 0; i < n; i++) {
		struct st7_diag d;
		char p[PATH_MAX];
		if (st7_store_join(p, sizeof(p), dir, list[i].name) != ST7_OK)
			continue; /* too long for a path: neither counted nor removed */
		if (strcmp(p, protect) == 0 || kept < keep) {
			kept++;
			continue;
		}
		st7_info("removing old backup %s", p);
		if (st7_store_remove(run->store, p, &d) != ST7_OK)
			st7_warn("%s", d.msg);
	}
	free(list);
}

static int remove_temp(void *arg, const struct st7_store_entry *e)
{
	const void **a = arg;
	struct st7_run *run = (struct st7_run *)a[0];
	char path[PATH_MAX];
	struct st7_diag d;
	if (!strstr(e->name, ".tmp.") ||
	    st7_store_join(path, sizeof(path), (const char *)a[1], e->name) != ST7_OK)
		return 0;
	st7_info("removing %s, left by an interrupted write", path);
	if (st7_store_remove(run->store, path, &d) != ST7_OK)
		st7_warn("%s", d.msg);
	return 0;
}

/* Temporary files that a killed writer left (NAME.tmp.XXXXXX): they are never a backup,
 * and they fill the disk. */
static void remove_stale_temps(struct st7_run *run, const char *dir)
{
	const void *a[2] = { run, dir };
	struct st7_diag d;
	st7_store_list(run->store, dir, remove_temp, a, &d);
}

int upg_stored_backup(struct st7_run *run, const struct st7_engine *e,
                      const struct st7_upgrade_opts *o, const uint16_t *ids, char *path, size_t cap,
                      struct st7_buf *bytes, struct st7_dfu_file *f, struct st7_diag *d)
{
	char base[PATH_MAX], dir[PATH_MAX];
	struct st7_store_entry st;
	if (st7_state_path(base, sizeof(base), o->state_dir, ST7_STATE_BACKUPS) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_IO, "%s: path too long", o->state_dir);
	int found = upg_backup_dir(run, e, o, ids, dir, sizeof(dir));
	/* A backup taken from a loader is filed under product ID 0xFFFF (the application's
	 * was unknown): the application's own directory first, then that one. */
	if (ids && (found != 0 || !holds_backups(run, dir))) {
		const uint16_t loader_ids[2] = { ids[0], ST7_DFU_ID_ANY };
		found = upg_backup_dir(run, e, o, loader_ids, dir, sizeof(dir));
	}
	if (found == -2)
		return st7_diag_set(d, ST7_ERR_AMBIGUOUS,
		                    "several products' backups match this device's serial in %s",
		                    base);
	if (found != 0 || st7_store_stat(run->store, dir, &st, d) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_IO, "no stored backup for this device");
	/* The same rules as where upgrade writes them: real, private directories. */
	int ret = st7_store_check_private(run->store, base, false, d);
	if (ret == ST7_OK)
		ret = st7_store_check_private(run->store, dir, false, d);
	if (ret)
		return ST7_ERR_IO;
	remove_stale_temps(run, dir); /* a killed backup write's leftovers */
	if (newest_backup(run, dir, path, cap, bytes, f) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "no stored backup for this device");
	return ST7_OK;
}

int upg_backup_store_prepare(struct st7_run *run, const struct st7_engine *e,
                             const struct st7_upgrade_opts *o, uint16_t vid, uint16_t pid,
                             size_t need, char *dir, size_t cap, struct st7_diag *d)
{
	char base[PATH_MAX];
	uint16_t ids[2] = { vid, pid };
	if (st7_state_path(base, sizeof(base), o->state_dir, ST7_STATE_BACKUPS) != ST7_OK ||
	    upg_backup_dir(run, e, o, ids, dir, cap) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "%s: path too long", o->state_dir);
	/* Created if missing (durably), a real directory (never a symbolic link), owned by
	 * root or us, and private: firmware is often confidential. The same rules decide
	 * where rollback reads, so a backup is never written where it would be refused. */
	int ret = st7_store_mkdir_p(run->store, base, 0700, ST7_STORE_PRIVATE, d);
	if (ret == ST7_OK)
		ret = st7_store_mkdir_p(run->store, dir, 0700, ST7_STORE_PRIVATE, d);
	if (ret)
		return ret;
	remove_stale_temps(run, dir);
	/* Writable (a read-only mount says so only when we try), and room for the backup
	 * and its temporary copy. */
	return st7_store_check_room(run->store, dir, need, d);
}

static bool same_bytes(const struct st7_buf *a, const struct st7_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int upg_store_backup(struct st7_run *run, const struct st7_engine *e,
                     const struct st7_upgrade_opts *o, const char *dir, uint16_t version,
                     const struct st7_buf *data, bool unchecked, char *out, size_t cap,
                     struct st7_diag *d)
{
	struct st7_buf old;
	struct st7_diag od = { "" };
	if (snprintf(out, cap, "%s/%04x.dfu", dir, version) >= (int)cap)
		return st7_diag_set(d, ST7_ERR_INVALID, "path too long");
	/* A backup is never replaced by other bytes: a device whose version does not
	 * change (0xFFFF, or images that do not stamp one) would otherwise lose the backup
	 * of what ran before the last update. Other bytes get a name of their own. */
	st7_buf_init(&old);
	bool stored = st7_store_read(run->store, out, ST7_IMAGE_MAX, BACKUP_READ_FLAGS, &old,
	                             &od) == ST7_OK;
	if (stored && same_bytes(&old, data)) {
		/* These bytes are stored already. A proven copy stays proven (listing it as
		 * pending would let a killed run demote it); one still pending stays listed.
		 * Nothing is rewritten. */
		st7_buf_free(&old);
		st7_info("%s: backup of version 0x%04X already stored in %s", e->path, version,
		         out);
		struct upg_pending pl;
		upg_pending_read(run, dir, &pl);
		if (!unchecked || !upg_pending_has(&pl, out))
			upg_backup_prune(run, o, dir, out);
		return ST7_OK;
	}
	if (stored) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (snprintf(out, cap, "%s/%04x-%lld%09ld.dfu", dir, version, (long long)now.tv_sec,
		             now.tv_nsec) >= (int)cap) {
			st7_buf_free(&old);
			return st7_diag_set(d, ST7_ERR_INVALID, "path too long");
		}
	}
	st7_buf_free(&old);
	/* Listed before it exists: a run stopped at any point leaves no backup that a
	 * restart would take for proven. */
	int ret = unchecked ? upg_pending_add(run, dir, out, d) : ST7_OK;
	if (ret == ST7_OK)
		ret = st7_store_write_atomic(run->store, out, data->data, data->len, 0600, 0, d);
	if (ret == ST7_OK)
		st7_info("%s: backup of version 0x%04X stored in %s", e->path, version, out);
	if (ret == ST7_OK && !unchecked)
		upg_backup_prune(run, o, dir, out);
	return ret;
}

void upg_backup_prune(struct st7_run *run, const struct st7_upgrade_opts *o, const char *dir,
                      const char *protect)
{
	prune_backups(run, dir, o->keep_backups ? o->keep_backups : 1, protect);
}

/* The backup at `path` cannot be trusted any more: keep it aside, out of rollback's
 * reach, for a human to look at. */
static bool mark_unproven(struct st7_run *run, const struct st7_engine *e, char *path, size_t cap)
{
	char aside[PATH_MAX];
	struct st7_diag d = { "" };
	if (snprintf(aside, sizeof(aside), "%s" UNPROVEN_SUFFIX, path) >= (int)sizeof(aside))
		return false;
	if (st7_store_rename(run->store, path, aside, 0, &d) != ST7_OK) {
		st7_err("%s: cannot set the unproven backup %s aside (%s); delete it by hand",
		        e->path, path, d.msg);
		return false;
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

void upg_pending_read(struct st7_run *run, const char *dir, struct upg_pending *pl)
{
	char marker[PATH_MAX];
	struct st7_buf b;
	struct st7_diag d = { "" };
	pl->n = 0;
	pl->all = false;
	if (st7_store_join(marker, sizeof(marker), dir, PENDING_NAME) != ST7_OK) {
		pl->all = true;
		return;
	}
	st7_buf_init(&b);
	int ret = st7_store_read(run->store, marker, (UPG_PENDING_MAX + 1) * (NAME_MAX + 1),
	                         BACKUP_READ_FLAGS, &b, &d);
	if (ret != ST7_OK) {
		/* No marker: nothing pending. A marker we cannot read (a link, a directory,
		 * writable by others, too large): fail closed, every backup is unchecked. */
		if (ret != ST7_ERR_NOT_FOUND) {
			st7_warn("%s (every backup there counts as unchecked)", d.msg);
			pl->all = true;
		}
		st7_buf_free(&b);
		return;
	}
	const char *p = (const char *)b.data, *end = p + b.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		if (len == 1 && p[0] == '*') {
			pl->all = true;
		} else if (len > 4 && len <= NAME_MAX && !memchr(p, '/', len) &&
		           !memchr(p, '\0', len) && p[0] != '.' &&
		           memcmp(p + len - 4, ".dfu", 4) == 0) {
			if (pl->n < UPG_PENDING_MAX) {
				memcpy(pl->name[pl->n], p, len);
				pl->name[pl->n++][len] = '\0';
			} else {
				pl->all = true; /* more than we keep: none is taken for proven */
			}
		}
		p += len + 1;
	}
	st7_buf_free(&b);
}

bool upg_pending_has(const struct upg_pending *pl, const char *path)
{
	if (pl->all)
		return true;
	for (size_t i = 0; i < pl->n; i++)
		if (strcmp(pl->name[i], st7_store_basename(path)) == 0)
			return true;
	return false;
}

int upg_pending_add(struct st7_run *run, const char *dir, const char *backup, struct st7_diag *d)
{
	struct upg_pending pl;
	struct st7_buf b;
	char marker[PATH_MAX];
	if (st7_store_join(marker, sizeof(marker), dir, PENDING_NAME) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_INVALID, "path too long");
	upg_pending_read(run, dir, &pl);
	/* Listed, or everything counts as unchecked: still rewritten, so that a marker we
	 * could not read is replaced by one we can ("*" keeps the meaning). */
	bool listed = false;
	for (size_t i = 0; i < pl.n; i++)
		listed |= strcmp(pl.name[i], st7_store_basename(backup)) == 0;
	if (listed && !pl.all)
		return ST7_OK;
	st7_buf_init(&b);
	int ret = ST7_OK;
	for (size_t i = 0; i < pl.n && ret == ST7_OK; i++)
		ret = st7_buf_printf(&b, "%s\n", pl.name[i]);
	/* Never drop a name to make room: past the limit every backup counts as unchecked. */
	if (ret == ST7_OK && !listed && pl.n < UPG_PENDING_MAX)
		ret = st7_buf_printf(&b, "%s\n", st7_store_basename(backup));
	if (ret == ST7_OK && (pl.all || (!listed && pl.n >= UPG_PENDING_MAX)))
		ret = st7_buf_printf(&b, "*\n");
	if (ret == ST7_OK) /* durably, before the erase */
		ret = st7_store_write_atomic(run->store, marker, b.data, b.len, 0600, 0, d);
	st7_buf_free(&b);
	return ret;
}

void upg_pending_clear(struct st7_run *run, const char *dir)
{
	char marker[PATH_MAX];
	struct st7_diag d;
	if (st7_store_join(marker, sizeof(marker), dir, PENDING_NAME) == ST7_OK &&
	    st7_store_remove(run->store, marker, &d) != ST7_OK)
		st7_warn("%s", d.msg);
}

size_t upg_pending_set_aside(struct st7_run *run, const struct st7_engine *e, const char *dir,
                             char *own, size_t cap)
{
	struct upg_pending pl;
	size_t n = 0;
	upg_pending_read(run, dir, &pl);
	for (size_t i = 0; i < pl.n; i++) {
		char path[PATH_MAX];
		struct st7_store_entry st;
		struct st7_diag d;
		bool is_own = own && own[0] && strcmp(st7_store_basename(own), pl.name[i]) == 0;
		if (st7_store_join(path, sizeof(path), dir, pl.name[i]) != ST7_OK ||
		    st7_store_stat(run->store, path, &st, &d) != ST7_OK)
			continue;
		n += mark_unproven(run, e, path, sizeof(path));
		if (is_own)
			snprintf(own, cap, "%s", path);
	}
	upg_pending_clear(run, dir); /* after the renames: a kill between keeps the list */
	return n;
}
