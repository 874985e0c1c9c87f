/* SPDX-License-Identifier: MIT */
#include "emu_expect.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

struct suite S;

const char *const ex_cmd_names[CMDS] = { "upgrade", "rollback", "download", "upload" };
const char *const ex_flash_names[3] = { "old", "new", "other" };

void ex_pass(void)
{
	S.passed++;
}

/* ---- Files -------------------------------------------------------------------------- */

int ex_read_all(const char *path, struct st7_buf *b)
{
	FILE *f = fopen(path, "rb");
	uint8_t chunk[4096];
	size_t n;
	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (st7_buf_append(b, chunk, n)) {
			fclose(f);
			return -1;
		}
	fclose(f);
	return 0;
}

int ex_write_all(const char *path, const struct st7_buf *b, mode_t mode)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = fwrite(b->data, 1, b->len, f);
	int ret = fclose(f) == 0 && n == b->len ? 0 : -1;
	return ret ? ret : chmod(path, mode);
}

bool ex_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* A .dfu holds exactly `mem`: a plain payload equal to it, or DfuSe elements that cover
 * it, each equal to the memory at its address (faults.sh's content_is). */
bool ex_content_is(const uint8_t *file, size_t len, const struct st7_buf *mem)
{
	struct st7_dfu_file f;
	struct st7_diag d = { "" };
	bool ok;
	st7_dfu_file_init(&f);
	if (st7_dfu_file_parse(&f, file, len, 0, &d) != ST7_OK) {
		st7_dfu_file_free(&f);
		return false;
	}
	if (f.kind == ST7_DFU_KIND_DFUSE) {
		size_t total = 0;
		ok = true;
		for (size_t i = 0; ok && i < f.n_elements; i++) {
			const struct st7_dfuse_element *el = &f.elements[i];
			ok = el->address >= RIG_DFUSE_BASE &&
			     (uint64_t)el->address - RIG_DFUSE_BASE + el->size <= mem->len &&
			     memcmp(f.data + el->offset, mem->data + (el->address - RIG_DFUSE_BASE),
			            el->size) == 0;
			total += el->size;
		}
		ok = ok && total == mem->len;
	} else {
		ok = f.payload_len == mem->len && memcmp(f.data, mem->data, mem->len) == 0;
	}
	st7_dfu_file_free(&f);
	return ok;
}

bool ex_file_content_is(const char *path, const struct st7_buf *mem)
{
	struct st7_buf b;
	st7_buf_init(&b);
	bool ok = ex_read_all(path, &b) == 0 && ex_content_is(b.data, b.len, mem);
	st7_buf_free(&b);
	return ok;
}

int ex_blk_for(enum rig_kind k)
{
	return k == RIG_ST7 ? 20 : 3;
}

void ex_set_expect(struct fcase *c, const char *e)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", e);
	char *mode = strchr(buf, ':');
	snprintf(c->mode, sizeof(c->mode), "%s", mode ? mode + 1 : "runtime");
	if (mode)
		*mode = '\0';
	c->n_exits = 0;
	for (char *tok = strtok(buf, ","); tok && c->n_exits < 4; tok = strtok(NULL, ","))
		c->exits[c->n_exits++] = atoi(tok);
}

enum flash ex_classify(struct rig *r, enum rig_kind k)
{
	size_t len;
	const uint8_t *mem = emu_dev_memory(emu_transport_dev(r->t, 0), &len);
	for (int w = 0; w < 2; w++)
		if (len == S.im.img[k][w].bin.len && !memcmp(mem, S.im.img[k][w].bin.data, len))
			return w ? FLASH_NEW : FLASH_OLD;
	return FLASH_OTHER;
}

void ex_fail(struct failures *fs, const char *fmt, ...)
{
	va_list ap;
	char msg[512];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FAIL: %s: %s\n", fs->what, msg);
	fs->n++;
	S.failed++;
}

void ex_observe(struct rig *r, enum rig_kind k, struct outcome *o)
{
	struct emu_info in = rig_info(r);
	struct emu_stats st;
	emu_dev_stats(emu_transport_dev(r->t, 0), &st);
	snprintf(o->mode, sizeof(o->mode), "%s",
	         !in.present                   ? "unplugged"
	         : in.mode == EMU_MODE_RUNTIME ? "runtime"
	                                       : "dfu");
	o->version = in.bcd_device;
	o->valid = in.app_valid;
	o->fired = st.faults_fired;
	o->dfu_requests = st.dfu_requests;
	o->flash = ex_classify(r, k);
}

bool ex_pending_lists(const char *dir, const char *name)
{
	char marker[2048], line[512];
	snprintf(marker, sizeof(marker), "%s/.readback-pending", dir);
	FILE *f = fopen(marker, "r");
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		found = !strcmp(line, name);
	}
	if (f)
		fclose(f);
	return found;
}

void ex_each_backup(const char *state,
                    void (*each)(void *arg, const char *dir, const char *name, const char *path,
                                 const struct stat *st),
                    void *arg)
{
	char base[1024];
	snprintf(base, sizeof(base), "%s/backups", state);
	DIR *top = opendir(base);
	struct dirent *de;
	while (top && (de = readdir(top)) != NULL) {
		char dir[1400];
		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, de->d_name);
		DIR *sub = opendir(dir);
		struct dirent *fe;
		while (sub && (fe = readdir(sub)) != NULL) {
			char path[1800];
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s", dir, fe->d_name);
			if (fe->d_name[0] != '.' && lstat(path, &st) == 0)
				each(arg, dir, fe->d_name, path, &st);
		}
		if (sub)
			closedir(sub);
	}
	if (top)
		closedir(top);
}

bool ex_is_backup(const char *name, const struct stat *st)
{
	size_t len = strlen(name);
	return len > 4 && !strcmp(name + len - 4, ".dfu") && S_ISREG(st->st_mode);
}

struct backup_counts {
	struct failures *fs;
	enum rig_kind k;
	unsigned plain, unproven, pending;
};

static void count_backup(void *arg, const char *dir, const char *name, const char *path,
                         const struct stat *st)
{
	struct backup_counts *c = arg;
	struct failures *fs = c->fs;
	size_t len = strlen(name);
	if (len > 9 && !strcmp(name + len - 9, ".unproven"))
		c->unproven++;
	if (!ex_is_backup(name, st))
		return;
	c->plain++;
	c->pending += ex_pending_lists(dir, name);
	EXPECT(fs, ex_file_content_is(path, &S.im.img[c->k][0].bin),
	       "stored backup %s is not the old firmware", name);
	EXPECT(fs, (st->st_mode & 0777) == 0600, "backup mode %o", (unsigned)(st->st_mode & 0777));
}

/* The backups of an upgrade: each *.dfu the old firmware, private; how many plain and
 * unproven ones, and how many of the plain ones wait for a read-back. */
static void ex_check_backups(struct failures *fs, const char *state, enum rig_kind k,
                             unsigned *nplain, unsigned *nunproven, unsigned *npending)
{
	struct backup_counts c = { fs, k, 0, 0, 0 };
	ex_each_backup(state, count_backup, &c);
	*nplain = c.plain;
	*nunproven = c.unproven;
	*npending = c.pending;
}

static char *ex_fmt_exits(const struct fcase *c, char *buf, size_t cap)
{
	size_t w = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < c->n_exits; i++)
		w += (size_t)snprintf(buf + w, cap - w, "%s%d", i ? "," : "", c->exits[i]);
	return buf;
}

static const struct st7_dfu_file *ex_case_image(const struct fcase *c)
{
	/* A file that does not suit the kind (faults.sh's MISMATCH). */
	static const enum rig_kind mismatch[] = { RIG_DFU11, RIG_DFUSE, RIG_DFU11 };
	enum rig_kind k = strcmp(c->name, "mismatched image") ? c->kind : mismatch[c->kind];
	return &S.im.img[k][1].f;
}

/* A plain rollback must refuse an unproven backup (faults.sh, exit 14). */
static void ex_rollback_refuses_unproven(struct failures *fs, const struct fcase *c,
                                         const struct st7_upgrade_opts *o)
{
	char spec[1024], err[256];
	struct rig r;
	struct st7_diag d = { "" };
	struct st7_upgrade_report rep;
	ex_spec(spec, sizeof(spec), c->kind, 1, NULL);
	if (rig_open(&r, spec, err, sizeof(err)) || rig_select(&r, &d)) {
		ex_fail(fs, "second device: %s%s", err, d.msg);
		return;
	}
	int rc = rig_outcome_exit(rig_rollback(&r, NULL, NULL, false, o, &rep));
	EXPECT(fs, rc == 4 && ex_classify(&r, c->kind) == FLASH_NEW,
	       "plain rollback after 14: exit %d, flash %s; expected 4 new", rc,
	       ex_flash_names[ex_classify(&r, c->kind)]);
	rig_close(&r);
}

/* Put the base backup of the old image where rollback looks (dirs 0700, file 0600). */
int ex_place_backup(const char *state, enum rig_kind k, char *path, size_t cap)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/backups", state);
	if (mkdir(state, 0700) || mkdir(dir, 0700))
		return -1;
	snprintf(dir, sizeof(dir), "%s/backups/0483-ff03-FM", state);
	if (mkdir(dir, 0700))
		return -1;
	snprintf(path, cap, "%s/0102.dfu", dir);
	return ex_write_all(path, &S.base_backup[k], 0600);
}

int ex_run_command(struct rig *r, const struct fcase *c, const struct st7_upgrade_opts *o,
                   const char *up, char *why, size_t cap)
{
	struct st7_upgrade_report rep;
	struct st7_diag d = { "" };
	int rc;
	memset(&rep, 0, sizeof(rep));
	switch (c->cmd) {
	case CMD_UPGRADE:
		rc = rig_outcome_exit(rig_upgrade(r, ex_case_image(c), o, &rep));
		break;
	case CMD_ROLLBACK:
		rc = rig_outcome_exit(rig_rollback(r, NULL, NULL, false, o, &rep));
		break;
	case CMD_DOWNLOAD:
		rc = rig_outcome_exit(rig_download(r, ex_case_image(c), o, &rep));
		break;
	default:
		rc = rig_upload(r, o, up, &d);
		snprintf(rep.error, sizeof(rep.error), "%s", d.msg);
		break;
	}
	snprintf(why, cap, "%s", rep.error);
	return rc;
}

static bool ex_rc_in(const struct fcase *c, int rc)
{
	for (unsigned i = 0; i < c->n_exits; i++)
		if (c->exits[i] == rc)
			return true;
	return false;
}

/* Upload: a file equal to the device's memory, or no file; never a temporary left. */
void ex_check_upload(struct failures *fs, struct rig *r, int rc, const char *dir, const char *up)
{
	if (rc == 0) {
		size_t len;
		struct st7_buf mem;
		st7_buf_init(&mem);
		const uint8_t *m = emu_dev_memory(emu_transport_dev(r->t, 0), &len);
		EXPECT(fs, st7_buf_append(&mem, m, len) == 0 && ex_file_content_is(up, &mem),
		       "uploaded file is not the device's memory");
		st7_buf_free(&mem);
	} else {
		EXPECT(fs, !ex_exists(up), "exit %d but an output file exists", rc);
	}
	DIR *dh = opendir(dir);
	struct dirent *de;
	unsigned temps = 0;
	while (dh && (de = readdir(dh)) != NULL)
		temps += !strncmp(de->d_name, "up.dfu.", 7);
	if (dh)
		closedir(dh);
	EXPECT(fs, temps == 0, "%u temporary files left", temps);
}

void ex_check_case(struct failures *fs, const struct fcase *c, const struct outcome *o,
                   const char *state, const char *placed, const struct st7_upgrade_opts *uo)
{
	char ex[32];
	enum flash before = c->cmd == CMD_ROLLBACK ? FLASH_NEW : FLASH_OLD;
	enum flash after = c->cmd == CMD_ROLLBACK || c->cmd == CMD_UPLOAD ? FLASH_OLD : FLASH_NEW;
	int want = -1, want_ver = -1;
	EXPECT(fs, ex_rc_in(c, o->rc), "exit %d, expected %s", o->rc,
	       ex_fmt_exits(c, ex, sizeof(ex)));
	EXPECT(fs, !strcmp(o->mode, c->mode), "final mode %s, expected %s", o->mode, c->mode);
	/* The firmware and the version that go with the exit code. */
	if (o->rc == 0)
		want = (int)after;
	else if (o->rc == 8)
		want = FLASH_OLD;
	else if (o->rc == 14)
		want = FLASH_NEW;
	else if (o->rc >= 3 && o->rc <= 7)
		want = (int)before;
	EXPECT(fs, o->rc != 8 || c->cmd == CMD_UPGRADE, "exit 8 from %s", ex_cmd_names[c->cmd]);
	if (want >= 0) {
		EXPECT(fs, (int)o->flash == want, "flash %s, expected %s", ex_flash_names[o->flash],
		       ex_flash_names[want]);
		want_ver = want == FLASH_OLD ? RIG_OLDV : RIG_NEWV;
	}
	/* A device that lies about its version after manifestation reports the lie. */
	const char *wv = strstr(c->spec, "wrong-version=");
	if (wv && o->rc != 7)
		want_ver = (int)strtol(wv + 14, NULL, 0);
	if (!strcmp(o->mode, "runtime")) {
		EXPECT(fs, want_ver < 0 || o->version == want_ver,
		       "version 0x%04X, expected 0x%04X", o->version, (unsigned)want_ver);
		EXPECT(fs, o->flash != FLASH_OTHER, "runs a third firmware");
	}
	EXPECT(fs, !o->valid || o->flash != FLASH_OTHER, "valid application, flash %s",
	       ex_flash_names[o->flash]);
	if (o->rc == 3 || o->rc == 6)
		EXPECT(fs, o->dfu_requests == 0, "%llu DFU requests before the refusal",
		       (unsigned long long)o->dfu_requests);
	static const char *const firing[] = { "block",       "unplug",  "upload-",
		                              "getstatus",   "poll-ms", "wrong-version",
		                              "reject-image" };
	for (size_t i = 0; i < sizeof(firing) / sizeof(firing[0]); i++)
		if (strstr(c->spec, firing[i])) {
			EXPECT(fs, o->fired >= 1, "the fault never fired");
			break;
		}
	if (c->cmd == CMD_UPGRADE) {
		unsigned nplain, nunproven, npending;
		ex_check_backups(fs, state, c->kind, &nplain, &nunproven, &npending);
		if (o->rc == 0 || o->rc == 8 || o->rc == 9)
			EXPECT(fs, nplain >= 1, "exit %d without a stored backup", o->rc);
		if (o->rc == 14) {
			/* The read-back disagreed: set aside; or it failed: left unchecked. */
			EXPECT(fs, (nplain == 0 && nunproven > 0) || (nplain && npending == nplain),
			       "backup neither set aside as *.unproven nor listed as unchecked "
			       "(%u plain, %u unproven, %u pending)",
			       nplain, nunproven, npending);
			ex_rollback_refuses_unproven(fs, c, uo);
		}
	}
	if (c->cmd == CMD_ROLLBACK) {
		struct st7_buf b;
		st7_buf_init(&b);
		EXPECT(fs,
		       ex_read_all(placed, &b) == 0 && b.len == S.base_backup[c->kind].len &&
		               !memcmp(b.data, S.base_backup[c->kind].data, b.len),
		       "the stored backup was changed or removed");
		st7_buf_free(&b);
	}
	EXPECT(fs, o->elapsed_us <= 80000000, "took %llu ms of device time",
	       (unsigned long long)(o->elapsed_us / 1000));
}

/* A clean upgrade of each kind: the backup the rollback cases restore. */
static int ex_make_base_backups(void)
{
	for (int k = 0; k < RIG_KINDS; k++) {
		char state[PATH_MAX + 16], spec[1024], err[256], path[PATH_MAX + 64];
		struct rig r;
		struct st7_diag d = { "" };
		struct st7_upgrade_opts uo;
		struct st7_upgrade_report rep;
		snprintf(state, sizeof(state), "%s/base-%s", S.tmp,
		         rig_kind_name((enum rig_kind)k));
		st7_upgrade_opts_default(&uo);
		uo.state_dir = state;
		ex_spec(spec, sizeof(spec), (enum rig_kind)k, 0, NULL);
		if (rig_open(&r, spec, err, sizeof(err)) || rig_select(&r, &d))
			return -1;
		enum st7_upgrade_outcome out = rig_upgrade(&r, &S.im.img[k][1].f, &uo, &rep);
		bool flashed = ex_classify(&r, (enum rig_kind)k) == FLASH_NEW;
		rig_close(&r);
		snprintf(path, sizeof(path), "%s/backups/0483-ff03-FM/0102.dfu", state);
		if (out != ST7_UPG_DONE || !flashed || ex_read_all(path, &S.base_backup[k]) ||
		    !ex_content_is(S.base_backup[k].data, S.base_backup[k].len,
		                   &S.im.img[k][0].bin)) {
			fprintf(stderr,
			        "%s: the clean upgrade that makes the rollback backup failed: "
			        "%s\n",
			        rig_kind_name((enum rig_kind)k), rep.error);
			return -1;
		}
	}
	return 0;
}

void ex_spec(char *out, size_t cap, enum rig_kind k, int which, const char *extra)
{
	rig_spec(out, cap, &S.im, k, which, extra);
}

void ex_run_case(const char *tag, unsigned id, const struct fcase *c, const struct ex_hooks *h)
{
	char dir[512], state[600], up[600], placed[PATH_MAX] = "";
	char spec[2048], err[256], what[200];
	struct failures fs = { what, 0 };
	struct st7_upgrade_opts uo;
	struct outcome o = { 0 };
	struct rig r;
	struct st7_diag d = { "" };
	snprintf(what, sizeof(what), "%s%u %s / %s / %s", tag, id, c->name, ex_cmd_names[c->cmd],
	         rig_kind_name(c->kind));
	snprintf(dir, sizeof(dir), "%s/%s%u", S.tmp, tag, id);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(up, sizeof(up), "%s/up.dfu", dir);
	S.n_cases++;
	if (mkdir(dir, 0700) ||
	    (c->cmd == CMD_ROLLBACK && ex_place_backup(state, c->kind, placed, sizeof(placed)))) {
		ex_fail(&fs, "cannot prepare %s", dir);
		S.n_failed_cases++;
		return;
	}
	st7_upgrade_opts_default(&uo);
	uo.state_dir = state;
	uo.verify = strstr(c->opts, "--verify") != NULL;
	ex_spec(spec, sizeof(spec), c->kind, c->cmd == CMD_ROLLBACK, c->spec);
	if (rig_open(&r, spec, err, sizeof(err))) {
		ex_fail(&fs, "device: %s", err);
		S.n_failed_cases++;
		return;
	}
	if (strstr(c->opts, "--max-poll 20"))
		r.eo.poll_cap_ms = 20;
	if (h && h->before)
		h->before(&r, h->arg);
	uint64_t t0 = fake_clock_us(&r.clk);
	int ret = rig_select(&r, &d);
	char why[ST7_DIAG_MAX] = "";
	o.rc = ret ? rig_select_exit(ret) : ex_run_command(&r, c, &uo, up, why, sizeof(why));
	if (ret)
		snprintf(why, sizeof(why), "%s", d.msg);
	o.elapsed_us = fake_clock_us(&r.clk) - t0;
	if (h && h->after)
		h->after(&r, h->arg, &fs);
	if (c->settle_ms)
		emu_transport_run_for(r.t, c->settle_ms);
	ex_observe(&r, c->kind, &o);
	ex_check_case(&fs, c, &o, state, placed, &uo);
	/* Every failure says why (the text the user reads). */
	EXPECT(&fs, o.rc == 0 || o.rc == 5 || why[0], "exit %d without a message", o.rc);
	if (c->cmd == CMD_UPLOAD)
		ex_check_upload(&fs, &r, o.rc, dir, up);
	printf("%s%-3u %-40s %-8s %-5s -> exit %-3d %-9s 0x%04X flash %-5s %6llu ms%s\n", tag, id,
	       c->name, ex_cmd_names[c->cmd], rig_kind_name(c->kind), o.rc, o.mode, o.version,
	       ex_flash_names[o.flash], (unsigned long long)(o.elapsed_us / 1000),
	       fs.n ? "  <-- FAIL" : "");
	S.n_failed_cases += fs.n > 0;
	rig_close(&r);
}

int ex_suite_setup(const char *ident)
{
	S.only = getenv("ONLY");
	st7_log_open(ST7_LOG_STDERR,
	             getenv("ST7_TEST_VERBOSE") ? ST7_LOG_DEBUG : (enum st7_log_level)0, ident);
	for (int k = 0; k < RIG_KINDS; k++)
		st7_buf_init(&S.base_backup[k]);
	if (rig_tmpdir(S.tmp, sizeof(S.tmp)) || rig_images_make(&S.im, S.tmp) ||
	    ex_make_base_backups()) {
		fprintf(stderr, "cannot set up in %s\n", S.tmp);
		return -1;
	}
	return 0;
}

unsigned long ex_suite_finish(void)
{
	printf("cases: %u, failing: %u\n", S.n_cases, S.n_failed_cases);
	for (int k = 0; k < RIG_KINDS; k++)
		st7_buf_free(&S.base_backup[k]);
	rig_images_free(&S.im);
	if (!getenv("KEEP"))
		rig_rmtree(S.tmp);
	return S.failed;
}
