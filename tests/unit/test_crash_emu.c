/* SPDX-License-Identifier: MIT */
/*
 * Stop a run anywhere, then restart: what does the next run find, and can it finish the
 * job? The run is stopped as if the process died: every later USB call fails and the
 * abort flag is raised; the device goes on as it was left (its busy period ends, a
 * re-enumeration completes) and, in one variant, loses power as well.
 *
 * Campaign "usb": after every control transfer N of a command (upgrade, rollback,
 * download) on each device kind, for N = 1 .. until a run completes without reaching N:
 * the kill -9 campaign of tests/cli/kill.sh, exhaustively and in-process.
 *
 * Campaign "store": after every modifying store op N (store_crashing.c) of upgrade,
 * rollback and upload, on each kind, with an empty state directory or one that holds a
 * proven backup of the old firmware already; the op completes, or (torn) dies half-way
 * and leaves what a kill would (a write's temporary file).
 *
 * After each stop, a restart (a new run context, same state directory, the device as
 * left, or power-cycled) finds, before anything else runs:
 * - every *.dfu in the state directory loads with st7_backup_load and holds the old
 *   firmware; the backup proven before the run is still there, unchanged;
 * - the device runs the old or the new firmware (runtime mode, valid application, the
 *   version that goes with it), or else is recovered below;
 * then the same command again, in a fresh run without faults, must end with the device
 * running its target (upgrade/download: the new firmware; rollback: the old one) and, if
 * it does not, a rollback must bring back a firmware whose bytes equal one of the two.
 * The backup that run takes or restores is never a temporary file; an upload's output
 * is the device's memory, or absent.
 *
 * CRASH_STRIDE=K tries every K-th N (default 1); ONLY=substring as elsewhere.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "emu_expect.h"
#include "store_crashing.h"

/* Campaign totals, for the report. */
static unsigned long n_stops, n_restarts, n_ran_known, n_redo, n_rescued, n_temps;

struct kill_hook {
	struct rig *r;
	struct store_crashing *sc; /* the run's store stops with it */
	unsigned long n, at;
	bool killed;
};

/* The process dies right after control transfer `at` reached the device. */
static enum emu_hook_verdict kill_after(void *arg, unsigned dev, const uint8_t setup[8],
                                        const uint8_t *data, uint16_t len)
{
	struct kill_hook *k = arg;
	(void)dev;
	(void)setup;
	(void)data;
	(void)len;
	if (++k->n == k->at && k->at) {
		emu_transport_fail(k->r->t, ST7_ERR_NO_DEVICE);
		store_crashing_stop(k->sc);
		k->r->stop = 1;
		k->killed = true;
	}
	return EMU_HOOK_PASS;
}

/* Does the device run `which` (0 old, 1 new, -1 either) as a healthy application? */
static bool runs(struct rig *r, enum rig_kind k, int which)
{
	struct emu_info in = rig_info(r);
	enum flash f = ex_classify(r, k);
	if (!in.present || in.mode != EMU_MODE_RUNTIME || !in.app_valid || f == FLASH_OTHER)
		return false;
	if (which >= 0 && (int)f != which)
		return false;
	return in.bcd_device == (f == FLASH_NEW ? RIG_NEWV : RIG_OLDV);
}

struct stored_check {
	struct failures *fs;
	struct rig *r;
	enum rig_kind k;
};

static void check_one_stored(void *arg, const char *dir, const char *name, const char *path,
                             const struct stat *st)
{
	struct stored_check *c = arg;
	struct failures *fs = c->fs;
	struct st7_buf b;
	struct st7_dfu_file f;
	struct st7_diag d = { "" };
	(void)dir;
	if (!ex_is_backup(name, st))
		return;
	st7_buf_init(&b);
	st7_dfu_file_init(&f);
	int ret = rig_backup_load(c->r, path, &b, &f, &d);
	EXPECT(fs, ret == ST7_OK, "backup %s does not load: %s", name, d.msg);
	EXPECT(fs, ret || ex_content_is(b.data, b.len, &S.im.img[c->k][0].bin),
	       "backup %s is not the old firmware", name);
	st7_dfu_file_free(&f);
	st7_buf_free(&b);
}

/* Every *.dfu under STATE/backups loads as a backup and holds the old firmware. */
static void check_stored(struct failures *fs, struct rig *r, const char *state, enum rig_kind k)
{
	struct stored_check c = { fs, r, k };
	ex_each_backup(state, check_one_stored, &c);
}

static bool same_file(const char *path, const struct st7_buf *want)
{
	struct st7_buf b;
	st7_buf_init(&b);
	bool same = ex_read_all(path, &b) == 0 && b.len == want->len &&
	            !memcmp(b.data, want->data, b.len);
	st7_buf_free(&b);
	return same;
}

/* One command in a fresh run (a new process: new run context and engine, the POSIX
 * store, nothing failing); its exit, why, and the backup it took or restored. */
static int fresh_run(struct rig *r, enum ex_cmd cmd, const struct st7_upgrade_opts *uo,
                     const char *up, char *why, char *backup)
{
	struct st7_upgrade_report rep = { 0 };
	struct st7_diag d = { "" };
	const struct st7_dfu_file *img = &S.im.img[r->kind][1].f;
	int rc;
	emu_transport_set_hook(r->t, NULL, NULL);
	emu_transport_fail(r->t, 0);
	r->stop = 0;
	rig_new_run(r);
	int ret = rig_select(r, &d);
	if (ret)
		rc = rig_select_exit(ret);
	else if (cmd == CMD_UPGRADE)
		rc = rig_outcome_exit(rig_upgrade(r, img, uo, &rep));
	else if (cmd == CMD_DOWNLOAD)
		rc = rig_outcome_exit(rig_download(r, img, uo, &rep));
	else if (cmd == CMD_ROLLBACK)
		rc = rig_outcome_exit(rig_rollback(r, NULL, NULL, false, uo, &rep));
	else
		rc = rig_upload(r, uo, up, &d);
	snprintf(why, ST7_DIAG_MAX, "%s", ret || cmd == CMD_UPLOAD ? d.msg : rep.error);
	snprintf(backup, PATH_MAX, "%s", rep.backup);
	return rc;
}

/* Temporaries (NAME.tmp.XXXXXX) under `dir`, two levels down. */
static unsigned count_temps(const char *dir, int depth)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	unsigned n = 0;
	while (dh && (de = readdir(dh)) != NULL) {
		char sub[1400];
		if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
			continue;
		n += strstr(de->d_name, ".tmp.") != NULL;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (depth > 0)
			n += count_temps(sub, depth - 1);
	}
	if (dh)
		closedir(dh);
	return n;
}

/* What one stop point is about. */
struct stop {
	enum ex_cmd cmd;
	enum rig_kind k;
	bool power_cycle;
	const char *dir, *state, *placed, *up;
	const struct st7_upgrade_opts *uo;
	const struct store_crashing *sc; /* the stopped run's store */
};

/* The stopped run's read-back is done: it removed the marker that waits for it. */
static bool readback_done(const struct store_crashing *sc)
{
	return store_crashing_done(sc, "remove", "/.readback-pending");
}

/*
 * A backup the stopped run wrote (a new file, or new bytes) that no read-back checked yet
 * must be listed in .readback-pending: otherwise a restart takes it for proven (rollback
 * puts it over a running application) although the upload path it came through was never
 * checked. The run's read-back is done once it removed the marker.
 */
struct marked_check {
	struct failures *fs;
	const struct stop *st;
};

static void check_one_marked(void *arg, const char *dir, const char *name, const char *path,
                             const struct stat *sb)
{
	struct marked_check *c = arg;
	const struct stop *st = c->st;
	if (!ex_is_backup(name, sb))
		return;
	if (st->placed[0] && !strcmp(path, st->placed) && same_file(path, &S.base_backup[st->k]))
		return; /* proven before the run */
	EXPECT(c->fs, ex_pending_lists(dir, name),
	       "%s was written by the stopped run, no read-back checked it, and it is not listed "
	       "as unchecked (stopped at: %s)",
	       name, st->sc->crash_op[0] ? st->sc->crash_op : "a USB transfer");
}

static void check_unproven_marked(struct failures *fs, const struct stop *st)
{
	struct marked_check c = { fs, st };
	if (st->sc && !readback_done(st->sc))
		ex_each_backup(st->state, check_one_marked, &c);
}

/* An upload's output after a stop: absent, or the device's memory. */
static void check_upload_file(struct failures *fs, struct rig *r, const char *up)
{
	size_t len;
	struct st7_buf mem;
	if (!ex_exists(up))
		return;
	st7_buf_init(&mem);
	const uint8_t *m = emu_dev_memory(emu_transport_dev(r->t, 0), &len);
	EXPECT(fs, st7_buf_append(&mem, m, len) == 0 && ex_file_content_is(up, &mem),
	       "the upload's output is there but not the device's memory");
	st7_buf_free(&mem);
}

/*
 * After a stop: what the restart finds, then the same command again, then (if the
 * device still does not run what it should) a rollback.
 */
static void check_restart(struct failures *fs, struct rig *r, const struct stop *st)
{
	char why[ST7_DIAG_MAX], backup[PATH_MAX];
	enum rig_kind k = st->k;
	n_restarts++;
	emu_transport_set_hook(r->t, NULL, NULL);
	if (st->power_cycle)
		emu_dev_unplug(emu_transport_dev(r->t, 0), emu_transport_now_us(r->t), 10000);
	emu_transport_run_for(r->t, 100);
	rig_new_run(r); /* the restart reads the state through a store that works */
	check_stored(fs, r, st->state, k);
	/* Until the new backup is proven, the one proven before stays. */
	if (st->placed[0] && !readback_done(st->sc))
		EXPECT(fs, same_file(st->placed, &S.base_backup[k]),
		       "the backup proven before the run was changed or removed before the new one "
		       "was proven");
	if (st->cmd == CMD_UPLOAD)
		check_upload_file(fs, r, st->up);
	check_unproven_marked(fs, st);
	n_temps += count_temps(st->dir, 3);
	n_ran_known += runs(r, k, -1);
	int target = st->cmd == CMD_ROLLBACK || st->cmd == CMD_UPLOAD ? 0 : 1;
	int rc = fresh_run(r, st->cmd, st->uo, st->up, why, backup);
	n_redo++;
	bool done = runs(r, k, target);
	/* An upload leaves a device it found in DFU mode there (usage: only one it found
	 * running goes back): a stop before its return needs the rollback below. */
	EXPECT(fs,
	       (done || st->cmd == CMD_UPLOAD) && (rc == 0 || (st->cmd == CMD_UPGRADE && rc == 5)),
	       "%s again: exit %d, the device %s (%s)", ex_cmd_names[st->cmd], rc,
	       done ? "runs its target" : "does not run its target", why);
	EXPECT(fs, !strstr(backup, ".tmp."), "%s again used the temporary %s",
	       ex_cmd_names[st->cmd], backup);
	if (st->cmd == CMD_UPLOAD)
		EXPECT(fs, rc != 0 || ex_exists(st->up), "upload again: exit 0 but no file");
	if (st->cmd == CMD_UPLOAD)
		check_upload_file(fs, r, st->up);
	if (!done) {
		n_rescued++;
		rc = fresh_run(r, CMD_ROLLBACK, st->uo, st->up, why, backup);
		EXPECT(fs, runs(r, k, -1),
		       "rollback after that: exit %d, still no known firmware (%s)", rc, why);
		EXPECT(fs, !strstr(backup, ".tmp."), "rollback restored the temporary %s", backup);
	}
	check_stored(fs, r, st->state, k);
	if (st->placed[0])
		EXPECT(fs, same_file(st->placed, &S.base_backup[k]) || st->cmd == CMD_UPGRADE,
		       "the backup proven before the run was changed or removed by the restart");
}

/* How a stop point stops the run: after control transfer N, or store op N. */
struct stopper {
	bool store;          /* the store campaign */
	bool torn, seeded;   /* store: the op dies half-way; a proven backup is there */
	bool keep1;          /* seeded as 0101.dfu, older, and keep_backups 1 */
	struct kill_hook kh; /* usb */
	struct store_crashing sc;
	struct st7_store crashing;
};

static bool stopped(const struct stopper *sp)
{
	return sp->store ? sp->sc.crashed : sp->kh.killed;
}

/* The proven backup as an older one, 0101.dfu, a minute back. */
static int seed_older(char *placed, size_t cap)
{
	char older[PATH_MAX];
	size_t n = strlen(placed);
	if (n < 8 || n >= sizeof(older))
		return -1;
	memcpy(older, placed, n + 1);
	memcpy(older + n - 8, "0101.dfu", 8);
	if (rename(placed, older))
		return -1;
	struct timespec t[2];
	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= 60;
	t[1] = t[0];
	if (utimensat(AT_FDCWD, older, t, 0))
		return -1;
	snprintf(placed, cap, "%s", older);
	return 0;
}

/* One stop point: a fresh device and state, the command stopped at `at`. Returns false
 * when the command completed before reaching `at`. */
static bool stop_at(struct stop *st, struct stopper *sp, unsigned long at, unsigned id)
{
	char dir[512], state[600], up[600], placed[PATH_MAX] = "", spec[1024], err[256];
	char what[200];
	struct failures fs = { what, 0 };
	struct st7_upgrade_opts uo;
	struct rig r;
	snprintf(what, sizeof(what), "%s stop after %s %lu of %s / %s%s%s%s",
	         sp->store ? "store" : "usb", sp->store ? "op" : "transfer", at,
	         ex_cmd_names[st->cmd], rig_kind_name(st->k), sp->torn ? " / torn" : "",
	         sp->keep1    ? " / with an older backup, keep 1"
	         : sp->seeded ? " / with a backup"
	                      : "",
	         st->power_cycle ? " / power cycle" : "");
	snprintf(dir, sizeof(dir), "%s/k%u", S.tmp, id);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(up, sizeof(up), "%s/up.dfu", dir);
	if (mkdir(dir, 0700) || ((st->cmd == CMD_ROLLBACK || sp->seeded) &&
	                         ex_place_backup(state, st->k, placed, sizeof(placed)))) {
		ex_fail(&fs, "cannot prepare %s", dir);
		return false;
	}
	if (sp->keep1 && seed_older(placed, sizeof(placed))) {
		ex_fail(&fs, "cannot prepare %s", placed);
		return false;
	}
	st7_upgrade_opts_default(&uo);
	uo.state_dir = state;
	if (sp->keep1)
		uo.keep_backups = 1;
	ex_spec(spec, sizeof(spec), st->k, st->cmd == CMD_ROLLBACK, NULL);
	if (rig_open(&r, spec, err, sizeof(err))) {
		ex_fail(&fs, "device: %s", err);
		return false;
	}
	r.kind = st->k;
	/* Both campaigns run on the crashing store: one stop point stops USB and store. */
	sp->kh = (struct kill_hook){ &r, &sp->sc, 0, sp->store ? 0 : at, false };
	emu_transport_set_hook(r.t, kill_after, &sp->kh);
	sp->sc.inner = &r.store;
	sp->sc.crash_at = sp->store ? at : 0;
	sp->sc.torn = sp->torn;
	sp->sc.usb = r.t;
	sp->sc.abort_flag = &r.stop;
	store_crashing_init(&sp->crashing, &sp->sc);
	r.run.store = &sp->crashing;
	st->sc = &sp->sc;
	struct fcase c = { .cmd = st->cmd, .kind = st->k };
	struct st7_diag d = { "" };
	if (rig_select(&r, &d) == ST7_OK)
		ex_run_command(&r, &c, &uo, up, err, sizeof(err));
	bool was_stopped = stopped(sp);
	if (was_stopped) {
		n_stops++;
		st->dir = dir;
		st->state = state;
		st->placed = placed;
		st->up = up;
		st->uo = &uo;
		check_restart(&fs, &r, st);
	}
	S.n_cases++;
	S.n_failed_cases += fs.n > 0;
	rig_close(&r);
	if (!getenv("KEEP"))
		rig_rmtree(dir);
	return was_stopped;
}

/* Every stop point of one command, kind and variant; how many. */
static unsigned long all_stops(struct stop *st, struct stopper *sp, unsigned *id)
{
	const char *stride_env = getenv("CRASH_STRIDE");
	unsigned long stride = stride_env ? strtoul(stride_env, NULL, 10) : 1;
	unsigned long at = 1, before = n_stops;
	while (stop_at(st, sp, at, ++*id))
		at += sp->store || !stride ? 1 : stride;
	if (sp->store && getenv("CRASH_OPS")) /* the modifying ops of a complete run */
		for (unsigned long i = 0; i < sp->sc.mods && i < STORE_CRASHING_LOG; i++)
			printf("  op %lu: %s\n", i + 1, sp->sc.ops[i]);
	return n_stops - before;
}

static void usb_campaign(void)
{
	static const enum ex_cmd cmds[] = { CMD_UPGRADE, CMD_ROLLBACK, CMD_DOWNLOAD };
	unsigned id = 0;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		for (int k = 0; k < RIG_KINDS; k++)
			for (int pc = 0; pc < 2; pc++) {
				char what[96];
				snprintf(what, sizeof(what), "usb %s %s%s", ex_cmd_names[cmds[i]],
				         rig_kind_name((enum rig_kind)k), pc ? " power" : "");
				if (S.only && !strstr(what, S.only))
					continue;
				struct stop st = { .cmd = cmds[i],
					           .k = (enum rig_kind)k,
					           .power_cycle = pc };
				struct stopper sp = { 0 };
				printf("%-44s %5lu stop points\n", what, all_stops(&st, &sp, &id));
			}
}

static void store_campaign(void)
{
	static const enum ex_cmd cmds[] = { CMD_UPGRADE, CMD_ROLLBACK, CMD_UPLOAD };
	unsigned id = 100000;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		for (int k = 0; k < RIG_KINDS; k++)
			for (int v = 0; v < 12; v++) {
				bool torn = v & 1, pc = v & 2, seeded = v >= 4, keep1 = v >= 8;
				char what[96];
				if (seeded && cmds[i] != CMD_UPGRADE)
					continue; /* rollback always has one; upload none */
				snprintf(what, sizeof(what), "store %s %s%s%s%s",
				         ex_cmd_names[cmds[i]], rig_kind_name((enum rig_kind)k),
				         torn ? " torn" : "",
				         keep1    ? " keep1"
				         : seeded ? " seeded"
				                  : "",
				         pc ? " power" : "");
				if (S.only && !strstr(what, S.only))
					continue;
				struct stop st = { .cmd = cmds[i],
					           .k = (enum rig_kind)k,
					           .power_cycle = pc };
				struct stopper sp = { .store = true,
					              .torn = torn,
					              .seeded = seeded,
					              .keep1 = keep1 };
				printf("%-44s %5lu stop points\n", what, all_stops(&st, &sp, &id));
			}
}

/*
 * Why an unchecked backup must be listed before anything else: a device whose upload
 * path lies (every read inverts one byte, so two reads agree), an upgrade stopped after
 * every store op, and then, instead of the upgrade again, a plain rollback onto the
 * running application. It must never install a third firmware.
 */
static void lying_upload_then_rollback(void)
{
	for (int k = 0; k < RIG_KINDS; k++)
		for (unsigned long at = 1;; at++) {
			char dir[512], state[600], spec[1024], err[256], what[160],
			        why[ST7_DIAG_MAX];
			char backup[PATH_MAX];
			struct failures fs = { what, 0 };
			struct st7_upgrade_opts uo;
			struct store_crashing sc = { 0 };
			struct st7_store crashing;
			struct st7_upgrade_report rep;
			struct st7_diag d = { "" };
			struct rig r;
			snprintf(what, sizeof(what),
			         "lying upload, upgrade stopped after store op %lu, then rollback "
			         "/ %s",
			         at, rig_kind_name((enum rig_kind)k));
			if (S.only && !strstr(what, S.only))
				break;
			snprintf(dir, sizeof(dir), "%s/lie-%d-%lu", S.tmp, k, at);
			snprintf(state, sizeof(state), "%s/state", dir);
			ex_spec(spec, sizeof(spec), (enum rig_kind)k, 0,
			        "upload-corrupt=100,fault-times=0");
			if (mkdir(dir, 0700) || rig_open(&r, spec, err, sizeof(err))) {
				ex_fail(&fs, "cannot prepare %s", dir);
				break;
			}
			r.kind = (enum rig_kind)k;
			st7_upgrade_opts_default(&uo);
			uo.state_dir = state;
			sc = (struct store_crashing){
				.inner = &r.store, .crash_at = at, .usb = r.t, .abort_flag = &r.stop
			};
			store_crashing_init(&crashing, &sc);
			r.run.store = &crashing;
			if (rig_select(&r, &d) == ST7_OK)
				rig_upgrade(&r, &S.im.img[k][1].f, &uo, &rep);
			bool stopped_run = sc.crashed;
			if (stopped_run) {
				emu_transport_run_for(r.t, 100);
				int rc = fresh_run(&r, CMD_ROLLBACK, &uo, NULL, why, backup);
				EXPECT(&fs, runs(&r, (enum rig_kind)k, -1),
				       "rollback exit %d installed a third firmware from %s "
				       "(stopped at "
				       "%s)",
				       rc, backup, sc.crash_op);
				S.n_cases++;
				S.n_failed_cases += fs.n > 0;
			}
			rig_close(&r);
			if (!getenv("KEEP"))
				rig_rmtree(dir);
			if (!stopped_run)
				break;
		}
}

int main(void)
{
	if (ex_suite_setup("test_crash_emu"))
		return 1;
	usb_campaign();
	unsigned long usb_stops = n_stops, usb_known = n_ran_known, usb_rescued = n_rescued;
	printf("usb campaign: %lu stops and restarts checked: the device ran a known firmware "
	       "after %lu; each command ran again; %lu needed a rollback after that\n",
	       usb_stops, usb_known, usb_rescued);
	store_campaign();
	lying_upload_then_rollback();
	printf("store campaign: %lu stops and restarts checked: the device ran a known firmware "
	       "after %lu; each command ran again; %lu needed a rollback after that; %lu "
	       "temporary files found after the stops and restarts\n",
	       n_stops - usb_stops, n_ran_known - usb_known, n_rescued - usb_rescued, n_temps);
	check_passed += S.passed;
	check_failed += ex_suite_finish();
	return check_report();
}
