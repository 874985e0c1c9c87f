/* SPDX-License-Identifier: MIT */
/*
 * One cycle of the agent (cycle.h): recover, the manifest, the decision, the updates one
 * device at a time, the reports. Every step that changes a device is journalled first.
 */
#include "cycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt_report.h"
#include "attempts.h"
#include "dfu_list.h"
#include "journal.h"
#include "log.h"
#include "parse_util.h"
#include "state_dir.h"
#include "verify.h"

/* One cycle in progress: what it works with besides the agent. */
struct cycle {
	struct st7_agent *a;
	struct st7_run *run;
	const struct st7_cycle_opts *o;
	enum st7_cycle_mode mode;
	struct st7_cycle_result *res;
	struct st7_usb_found *found;
	size_t n_found;
	struct st7_dfu_device *devs;
	size_t n_devs;
	int64_t now;
	bool attempts_ok; /* the history was read: counts may be written */
	/* Devices (serials) recovery left on their old firmware in this cycle: a later
	 * successful update of one of them takes its rollback off the count. */
	char rolled[16][128];
	size_t n_rolled;
	struct st7_journal_rec *rec; /* the attempt the phase hook records */
	bool rec_write_failed;
	st7_progress_fn progress; /* the run's, which the engine's wrapper forwards to */
	void *progress_arg;
};

static bool stopping(const struct cycle *c)
{
	return c->run->abort_flag && *c->run->abort_flag;
}

static int64_t wall(const struct cycle *c)
{
	return c->run->clock->wall_s(c->run->clock->ctx);
}

/* ---- results ---------------------------------------------------------------------- */

void st7_cycle_result_init(struct st7_cycle_result *r)
{
	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
	r->mrep.retry_after_s = -1;
}

void st7_cycle_result_free(struct st7_cycle_result *r)
{
	free(r->devices);
	free(r->rows);
	free(r->urls);
	free(r->dev);
	r->devices = NULL;
	r->rows = NULL;
	r->urls = NULL;
	r->dev = NULL;
	r->n = 0;
}

void st7_agent_init(struct st7_agent *a, struct st7_run *run, const struct st7_cycle_opts *o)
{
	memset(a, 0, sizeof(*a));
	a->run = run;
	a->o = o;
	st7_manifest_init(&a->m);
}

void st7_agent_free(struct st7_agent *a)
{
	st7_manifest_free(&a->m);
	free(a->attempts);
	a->attempts = NULL;
	a->n_attempts = 0;
	free(a->seen);
	a->seen = NULL;
	a->n_seen = 0;
}

static void seen_key(const struct st7_plan_device *p, char *out, size_t cap)
{
	snprintf(out, cap, "%s\t%s", p->path, p->serial);
}

static bool was_seen(const struct st7_agent *a, const struct st7_plan_device *p)
{
	char k[192];
	seen_key(p, k, sizeof(k));
	for (size_t i = 0; i < a->n_seen; i++)
		if (strcmp(a->seen[i], k) == 0)
			return true;
	return false;
}

/* The devices of this cycle's decision, for the next OFFLINE cycle. */
static void remember_seen(struct st7_agent *a, const struct st7_cycle_result *res)
{
	char(*v)[192] = calloc(res->n ? res->n : 1, sizeof(*v));
	if (!v)
		return; /* the old list stays: at worst a hotplug waits for the next poll */
	for (size_t i = 0; i < res->n; i++)
		seen_key(&res->devices[i], v[i], sizeof(v[i]));
	free(a->seen);
	a->seen = v;
	a->n_seen = res->n;
}

/* ---- the journal and the reports ---------------------------------------------------- */

static int journal_write(struct cycle *c, struct st7_journal_rec *r)
{
	struct st7_diag d = { "" };
	r->updated_s = wall(c);
	int ret = st7_journal_write(c->run->store, c->o->state_dir, r, &d);
	if (ret)
		st7_err("journal: %s", d.msg);
	return ret;
}

/* A settled attempt: queue its report (the queue is the reports' only way out). */
static void report(struct cycle *c, const struct st7_journal_rec *r)
{
	struct st7_buf b;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	int ret = st7_attempt_report_json(r, c->o->gateway_id, &b);
	if (ret == ST7_OK)
		ret = st7_report_queue_add(c->run->store, c->o->state_dir, &c->o->queue,
		                           (const char *)b.data, b.len, &d);
	if (ret == ST7_OK)
		c->res->queued++;
	else
		st7_warn("report of %s attempt %llu not queued: %s", r->device,
		         (unsigned long long)r->attempt, d.msg[0] ? d.msg : st7_strerror(ret));
	st7_buf_free(&b);
}

/* Close the attempt: its terminal phase, outcome and error, journalled and reported. */
static void settle(struct cycle *c, struct st7_journal_rec *r, enum st7_journal_phase ph,
                   const char *outcome, const char *error)
{
	r->phase = ph;
	snprintf(r->outcome, sizeof(r->outcome), "%s", outcome);
	snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
	journal_write(c, r);
	if (ph == ST7_JPH_DONE)
		st7_info("%s: %s: release '%s' (0x%04x) %s", r->port, r->serial, r->release,
		         r->to_version, outcome);
	else
		st7_err("%s: %s: release '%s' (0x%04x) %s%s%s", r->port, r->serial, r->release,
		        r->to_version, outcome, r->error[0] ? ": " : "", r->error);
	report(c, r);
}

/* The attempts history says `failures` for this attempt's (device, release). */
static int count_attempt(struct cycle *c, const struct st7_journal_rec *r, unsigned failures)
{
	uint8_t sha[32];
	struct st7_diag d = { "" };
	if (st7_parse_sha256(r->image_sha256, sha) != ST7_OK)
		return ST7_ERR_INVALID;
	int ret = st7_attempts_set(c->run->store, c->o->state_dir, r->serial, r->release, sha,
	                           failures, &d);
	if (ret)
		st7_err("attempts history: %s", d.msg);
	/* The snapshot follows, so that the next count in this cycle starts from it. */
	struct st7_plan_attempts *v = NULL;
	size_t n = 0;
	if (ret == ST7_OK &&
	    st7_attempts_load(c->run->store, c->o->state_dir, &v, &n, &d) == ST7_OK) {
		free(c->a->attempts);
		c->a->attempts = v;
		c->a->n_attempts = n;
	}
	return ret;
}

/* How often this (device, release, image) failed before, from the history read. */
static unsigned failures_of(const struct cycle *c, const struct st7_journal_rec *r)
{
	uint8_t sha[32];
	if (st7_parse_sha256(r->image_sha256, sha) != ST7_OK)
		return 0;
	for (size_t i = 0; i < c->a->n_attempts; i++) {
		const struct st7_plan_attempts *at = &c->a->attempts[i];
		if (strcmp(at->serial, r->serial) == 0 && strcmp(at->release, r->release) == 0 &&
		    memcmp(at->sha256, sha, 32) == 0)
			return at->failures;
	}
	return 0;
}

/* The phase hook of st7_upgrade (run.h): each step recorded before it is taken. */
static int on_phase(void *arg, enum st7_phase ph, const char *detail)
{
	struct cycle *c = arg;
	struct st7_journal_rec *r = c->rec;
	switch (ph) {
	case ST7_PHASE_DETACHING:
		r->phase = ST7_JPH_DETACHING;
		break;
	case ST7_PHASE_BACKED_UP:
		r->phase = ST7_JPH_BACKED_UP;
		snprintf(r->backup, sizeof(r->backup), "%s", detail ? detail : "");
		break;
	case ST7_PHASE_DOWNLOADING:
		r->phase = ST7_JPH_DOWNLOADING;
		/* What a failure restores: the backup just taken, or the stored one. */
		if (!r->backup[0] && detail)
			snprintf(r->backup, sizeof(r->backup), "%s", detail);
		break;
	case ST7_PHASE_POSTCHECK:
		r->phase = ST7_JPH_POSTCHECK;
		break;
	case ST7_PHASE_RESTORING:
		r->phase = ST7_JPH_RECOVERING;
		break;
	}
	return journal_write(c, r) == ST7_OK ? 0 : -1;
}

/* The engine's progress: forwarded; the manifestation is journalled when it starts. */
static void on_progress(void *arg, const char *phase, size_t done, size_t total)
{
	struct cycle *c = arg;
	if (c->rec && strcmp(phase, "manifest") == 0 && c->rec->phase == ST7_JPH_DOWNLOADING) {
		c->rec->phase = ST7_JPH_MANIFESTING;
		journal_write(c, c->rec);
	}
	if (c->progress)
		c->progress(c->progress_arg, phase, done, total);
}

/* ---- devices ------------------------------------------------------------------------- */

static void scan_free(struct cycle *c)
{
	free(c->devs);
	st7_usb_found_free(c->found, c->n_found);
	c->devs = NULL;
	c->found = NULL;
	c->n_devs = c->n_found = 0;
}

static int scan(struct cycle *c, struct st7_diag *d)
{
	scan_free(c);
	int ret = st7_usb_scan(c->run->usb, st7_dfu_list_wants, &c->found, &c->n_found, d);
	if (ret == ST7_OK)
		ret = st7_dfu_list_build(c->found, c->n_found, &c->devs, &c->n_devs);
	if (ret == ST7_ERR_NOMEM)
		st7_diag_set(d, ret, "out of memory");
	return ret;
}

/* An engine on the device at `path` with `serial`, or the error. */
static int engine_on(struct cycle *c, struct st7_engine *e, const char *path, const char *serial,
                     struct st7_diag *d)
{
	struct st7_selector sel = { .path = path, .serial = serial[0] ? serial : NULL };
	st7_engine_init(e, c->run->usb, c->run->clock, &c->o->eng);
	/* A stop request waits for the device's update to end: the engine would stop
	 * between an erase and a complete image. The cycle looks at it between devices. */
	e->abort_flag = NULL;
	e->progress = on_progress;
	e->progress_arg = c;
	return st7_engine_select(e, &sel, d);
}

/* The attached device a journal record is about: its serial (a loader may have another
 * vendor and product ID), the one on the record's port first when twins share it;
 * without a serial, the record's port and vendor. */
static const struct st7_dfu_device *find_device(const struct cycle *c,
                                                const struct st7_journal_rec *r)
{
	const struct st7_dfu_device *any = NULL;
	for (size_t i = 0; i < c->n_devs; i++) {
		const struct st7_usb_found *u = c->devs[i].usb;
		bool dfu = c->devs[i].dfu.mode == ST7_DFU_MODE_DFU;
		bool port = strcmp(u->path, r->port) == 0;
		if (!r->serial[0]) {
			if (port && u->dev.id_vendor == r->vid &&
			    (dfu || u->dev.id_product == r->pid))
				return &c->devs[i];
			continue;
		}
		if (strcmp(u->serial, r->serial) != 0 ||
		    (!dfu && (u->dev.id_vendor != r->vid || u->dev.id_product != r->pid)))
			continue;
		if (port)
			return &c->devs[i];
		if (!any)
			any = &c->devs[i];
	}
	return any;
}

/* ---- recovery ------------------------------------------------------------------------ */

static enum st7_journal_phase phase_of(enum st7_upgrade_outcome o)
{
	switch (o) {
	case ST7_UPG_DONE:
	case ST7_UPG_NOTHING:
	case ST7_UPG_UNVERIFIED:
		return ST7_JPH_DONE;
	case ST7_UPG_ROLLED_BACK:
		return ST7_JPH_ROLLED_BACK;
	case ST7_UPG_LEFT_IN_DFU:
		return ST7_JPH_LEFT_IN_DFU;
	default:
		return ST7_JPH_FAILED;
	}
}

/* The held manifest's release that names this record's image, or NULL. */
static const struct st7_release *held_release(const struct cycle *c,
                                              const struct st7_journal_rec *r)
{
	char hex[65];
	if (!c->a->have_manifest)
		return NULL;
	for (size_t i = 0; i < c->a->m.n_releases; i++) {
		const struct st7_release *rel = &c->a->m.releases[i];
		st7_sha256_hex(rel->sha256, hex);
		if (strcmp(rel->name, r->release) == 0 && strcmp(hex, r->image_sha256) == 0)
			return rel;
	}
	return NULL;
}

/*
 * Finish the interrupted update with the release's image: the verified cache's copy of
 * the record's URL when it still is exactly the image the record pins, or the image the
 * manifest held now names with that hash. A record alone never makes st7dfu read a file
 * from elsewhere on the gateway.
 */
static enum st7_upgrade_outcome recover_finish(struct cycle *c, struct st7_engine *e,
                                               struct st7_journal_rec *r,
                                               struct st7_upgrade_report *rep)
{
	struct st7_source_opts so = c->o->src;
	struct st7_source_report sr;
	struct st7_diag d = { "" };
	struct st7_buf bytes;
	struct st7_dfu_file img;
	char url[ST7_MANIFEST_URL_MAX] = "";
	const struct st7_release *rel = held_release(c, r);
	enum st7_upgrade_outcome out = ST7_UPG_STORAGE;
	int ret = ST7_ERR_NOT_FOUND;
	memset(rep, 0, sizeof(*rep));
	st7_buf_init(&bytes);
	st7_dfu_file_init(&img);
	so.pinned_sha256 = r->image_sha256;
	so.cache_only = true;
	so.max_size = rel ? rel->size : ST7_IMAGE_MAX;
	if (rel)
		ret = st7_release_url(c->o->manifest_url, c->o->allow_http, rel, url, sizeof(url),
		                      &d);
	else if (r->image_sha256[0] && st7_url_is_remote(r->image_url))
		ret = snprintf(url, sizeof(url), "%s", r->image_url) < (int)sizeof(url)
		              ? ST7_OK
		              : ST7_ERR_INVALID;
	else
		st7_diag_set(&d, ret, "the manifest held names no such image");
	if (ret == ST7_OK)
		ret = st7_source_obtain(c->run, &so, url, &bytes, NULL, &sr, &d);
	if (ret == ST7_OK && rel)
		ret = st7_release_image_check(rel, bytes.data, bytes.len, &d);
	if (ret == ST7_OK)
		ret = st7_dfu_file_parse(&img, bytes.data, bytes.len, 0, &d);
	if (ret) {
		snprintf(rep->error, sizeof(rep->error), "no verified image to finish with: %.300s",
		         d.msg);
		goto cleanup;
	}
	st7_info("%s: finishing the interrupted update with %s", e->path, url);
	c->rec = r;
	c->run->phase = on_phase;
	c->run->phase_arg = c;
	out = st7_upgrade(c->run, e, &img, &c->o->upg, rep);
	c->run->phase = NULL;
	c->rec = NULL;
cleanup:
	st7_dfu_file_free(&img);
	st7_buf_free(&bytes);
	return out;
}

/* Is `path` one of STATE/backups's files (its real path)? */
static bool in_backups(struct cycle *c, const char *path)
{
	char dir[PATH_MAX], real_dir[PATH_MAX], real[PATH_MAX];
	size_t n;
	return st7_state_path(dir, sizeof(dir), c->o->state_dir, ST7_STATE_BACKUPS) == ST7_OK &&
	       st7_store_canonical(c->run->store, dir, real_dir, sizeof(real_dir), NULL) ==
	               ST7_OK &&
	       st7_store_canonical(c->run->store, path, real, sizeof(real), NULL) == ST7_OK &&
	       (n = strlen(real_dir)) && strncmp(real, real_dir, n) == 0 && real[n] == '/';
}

/* Give the device its backup back (the record's, when it is one of STATE/backups, else
 * the device's newest). */
static enum st7_upgrade_outcome recover_restore(struct cycle *c, struct st7_engine *e,
                                                const struct st7_journal_rec *r,
                                                struct st7_upgrade_report *rep)
{
	struct st7_buf bytes;
	struct st7_dfu_file f;
	struct st7_diag d = { "" };
	enum st7_upgrade_outcome out;
	st7_buf_init(&bytes);
	st7_dfu_file_init(&f);
	if (r->backup[0] && in_backups(c, r->backup) &&
	    st7_backup_load(c->run, r->backup, &bytes, &f, &d) == ST7_OK) {
		out = st7_rollback(c->run, e, &f, r->backup, true, &c->o->upg, rep);
	} else {
		if (r->backup[0])
			st7_warn("%s: %s; restoring the device's newest backup instead", r->device,
			         d.msg[0] ? d.msg : "not a backup of the state directory");
		out = st7_rollback(c->run, e, NULL, NULL, false, &c->o->upg, rep);
	}
	st7_dfu_file_free(&f);
	st7_buf_free(&bytes);
	return out;
}

static void count_rolled(struct cycle *c, const struct st7_journal_rec *r)
{
	c->res->rolled_back++;
	if (r->serial[0] && c->n_rolled < sizeof(c->rolled) / sizeof(c->rolled[0]))
		snprintf(c->rolled[c->n_rolled++], sizeof(c->rolled[0]), "%s", r->serial);
}

/* The device recovery rolled back earlier in this cycle runs the release now. */
static void uncount_rolled(struct cycle *c, const char *serial)
{
	for (size_t i = 0; serial[0] && i < c->n_rolled; i++)
		if (strcmp(c->rolled[i], serial) == 0) {
			c->rolled[i][0] = '\0';
			c->res->rolled_back--;
			return;
		}
}

/* A version the device runs again after an interrupted update, judged: the release's
 * (done) or the old one (the attempt failed). False: neither. */
static bool settle_by_version(struct cycle *c, struct st7_journal_rec *r, uint16_t v,
                              unsigned failures)
{
	bool touched = r->phase >= ST7_JPH_BACKED_UP; /* decided, fetched: not yet */
	if (v == r->to_version) {
		settle(c, r, ST7_JPH_DONE, "done", "finished before the interruption");
		if (c->attempts_ok)
			count_attempt(c, r, failures ? failures - 1 : 0);
		c->res->recovered++;
		return true;
	}
	if (!r->has_from || v != r->from_version)
		return false;
	/* The old firmware runs: the attempt failed (it was counted before the device). */
	if (r->phase == ST7_JPH_POSTCHECK)
		r->device_rollback = true;
	settle(c, r, touched ? ST7_JPH_ROLLED_BACK : ST7_JPH_FAILED,
	       touched ? "rolled-back" : "interrupted",
	       r->device_rollback ? "the device went back to its old firmware by itself"
	       : touched          ? "interrupted; the old firmware runs again"
	                          : "interrupted before the device was touched");
	if (touched)
		count_rolled(c, r);
	else
		c->res->recovered++;
	return true;
}

/* One unfinished record whose device is attached (cycle.h, step 1). */
static void recover_one(struct cycle *c, struct st7_journal_rec *r, const struct st7_dfu_device *dv)
{
	const struct st7_usb_found *u = dv->usb;
	bool dfu = dv->dfu.mode == ST7_DFU_MODE_DFU;
	uint16_t v = u->dev.bcd_device;
	struct st7_upgrade_report rep;
	struct st7_engine e;
	bool engine = false;
	struct st7_diag d = { "" };
	char msg[ST7_DIAG_MAX + 128];
	unsigned failures = failures_of(c, r);

	memset(&rep, 0, sizeof(rep));
	if (r->phase == ST7_JPH_DECIDED || r->phase == ST7_JPH_FETCHED) {
		/* Stopped before the device was touched: whatever it runs now is not ours to
		 * undo (the decision takes it from here). */
		settle(c, r, ST7_JPH_FAILED, "interrupted",
		       "interrupted before the device was touched");
		c->res->recovered++;
		return;
	}
	if (dfu && engine_on(c, &e, u->path, r->serial, &d) == ST7_OK) {
		/* A loader that still holds a valid application (killed right after the detach,
		 * or once the image was complete) runs it again, and is judged by its version. */
		bool running = false;
		engine = true;
		if (st7_engine_leave_dfu(&e, &running, &d) == ST7_OK && running && e.dev) {
			dfu = false;
			v = e.dev->dev.bcd_device;
		}
	}
	if (!dfu && settle_by_version(c, r, v, failures))
		goto cleanup;
	/* In DFU mode, or on a third version: brought back, within bounds. */
	if (r->recoveries >= ST7_RECOVERIES_MAX) {
		snprintf(msg, sizeof(msg),
		         "%u recovery attempts failed: left %s for service (st7dfu rollback)",
		         r->recoveries, dfu ? "in DFU mode" : "as it is");
		settle(c, r, ST7_JPH_LEFT_IN_DFU, "left-in-dfu", msg);
		c->res->unrecovered++;
		goto cleanup;
	}
	r->recoveries++;
	r->phase = ST7_JPH_RECOVERING;
	if (journal_write(c, r) != ST7_OK) {
		c->res->unrecovered++; /* what cannot be recorded is not done */
		goto cleanup;
	}
	st7_warn("%s: %s found %s after an interrupted update to 0x%04x: recovering (try %u of %u)",
	         u->path, r->serial, dfu ? "in DFU mode" : "on an unexpected version",
	         r->to_version, r->recoveries, ST7_RECOVERIES_MAX);
	enum st7_upgrade_outcome out = ST7_UPG_NO_DEVICE;
	if (!engine && engine_on(c, &e, u->path, r->serial, &d) != ST7_OK) {
		engine = true;
		snprintf(rep.error, sizeof(rep.error), "%s", d.msg);
	} else {
		engine = true;
		bool finish = dfu && c->o->finish_interrupted;
		out = finish ? recover_finish(c, &e, r, &rep) : ST7_UPG_STORAGE;
		/* A failed finish that restored the backup itself is settled as it is. */
		bool settled = out == ST7_UPG_DONE || out == ST7_UPG_UNVERIFIED ||
		               out == ST7_UPG_NOTHING || out == ST7_UPG_ROLLED_BACK;
		if (!settled && !stopping(c)) {
			if (finish)
				st7_warn("%s: %s; restoring the backup", u->path, rep.error);
			out = recover_restore(c, &e, r, &rep);
		}
	}
	if (out == ST7_UPG_DONE || out == ST7_UPG_UNVERIFIED || out == ST7_UPG_NOTHING ||
	    out == ST7_UPG_ROLLED_BACK) {
		bool finished = out != ST7_UPG_ROLLED_BACK && rep.to_version == r->to_version;
		settle(c, r, finished ? ST7_JPH_DONE : ST7_JPH_ROLLED_BACK,
		       finished ? "done" : "rolled-back",
		       finished ? "finished after an interruption"
		                : "interrupted; the backup was restored");
		if (finished && c->attempts_ok)
			count_attempt(c, r, failures ? failures - 1 : 0);
		if (finished)
			c->res->recovered++;
		else
			count_rolled(c, r);
	} else {
		snprintf(msg, sizeof(msg), "recovery failed: %s", rep.error);
		r->phase = ST7_JPH_RECOVERING; /* tried again next cycle, up to the bound */
		snprintf(r->error, sizeof(r->error), "%s", msg);
		journal_write(c, r);
		st7_err("%s: %s", u->path, msg);
		c->res->unrecovered++;
	}
cleanup:
	if (engine)
		st7_engine_free(&e);
}

struct recover_list {
	struct st7_journal_rec *v;
	size_t n, cap;
};

/* Unfinished records, and finished updates whose device may have gone back by itself. */
static int collect_unfinished(void *arg, const struct st7_journal_rec *r)
{
	struct recover_list *l = arg;
	bool done = r->phase == ST7_JPH_DONE && strcmp(r->outcome, "done") == 0 && r->has_from &&
	            r->from_version != r->to_version;
	if (st7_journal_phase_terminal(r->phase) && !done)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4;
		void *v = realloc(l->v, cap * sizeof(*l->v));
		if (!v)
			return ST7_ERR_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *r;
	return 0;
}

/* The attempts history as the state directory holds it now. */
static int load_attempts(struct cycle *c, struct st7_diag *d)
{
	free(c->a->attempts);
	c->a->attempts = NULL;
	c->a->n_attempts = 0;
	int ret = st7_attempts_load(c->run->store, c->o->state_dir, &c->a->attempts,
	                            &c->a->n_attempts, d);
	c->attempts_ok = ret == ST7_OK;
	return ret;
}

/*
 * A finished update whose device runs its old version again: the device went back by
 * itself (its loader's fallback, a self-test of the new firmware). Settled as a
 * device-side rollback, reported, and counted as a failure of the release, so that the
 * fleet owner learns of it and a release the device keeps refusing is not retried
 * forever.
 */
static void device_rollback(struct cycle *c, struct st7_journal_rec *r,
                            const struct st7_dfu_device *dv)
{
	const struct st7_usb_found *u = dv->usb;
	char msg[160];
	if (dv->dfu.mode == ST7_DFU_MODE_DFU || u->dev.bcd_device != r->from_version)
		return;
	snprintf(msg, sizeof(msg),
	         "the device went back from 0x%04x to 0x%04x by itself after the update",
	         r->to_version, r->from_version);
	r->device_rollback = true;
	settle(c, r, ST7_JPH_ROLLED_BACK, "device-rolled-back", msg);
	if (c->attempts_ok)
		count_attempt(c, r, failures_of(c, r) + 1);
	count_rolled(c, r);
}

static int recover_all(struct cycle *c, struct st7_diag *d)
{
	struct recover_list l = { 0 };
	unsigned bad = 0;
	/* Without the history a device is still recovered; only the counts are not
	 * touched (and nothing new is decided: decide() refuses the same history). */
	int ret = load_attempts(c, d);
	if (ret)
		st7_err("attempts history: %s", d->msg);
	ret = st7_journal_list(c->run->store, c->o->state_dir, collect_unfinished, &l, &bad, d);
	c->res->bad_records += bad;
	for (size_t i = 0; ret == ST7_OK && i < l.n && !stopping(c); i++) {
		const struct st7_dfu_device *dv = find_device(c, &l.v[i]);
		if (l.v[i].phase == ST7_JPH_DONE) {
			if (dv)
				device_rollback(c, &l.v[i], dv);
			continue;
		}
		if (!dv) {
			st7_warn("%s: interrupted update to 0x%04x waits for its device",
			         l.v[i].device, l.v[i].to_version);
			c->res->waiting++;
			continue;
		}
		recover_one(c, &l.v[i], dv);
		if (i + 1 < l.n)
			ret = scan(c, d);
	}
	free(l.v);
	return ret;
}

/* ---- the decision ------------------------------------------------------------------- */

int st7_release_url(const char *manifest_url, bool allow_http, const struct st7_release *r,
                    char *out, size_t cap, struct st7_diag *d)
{
	bool local_manifest = !st7_url_is_remote(manifest_url);
	int ret = st7_manifest_resolve_url(manifest_url, r->url, out, cap, d);
	if (ret) {
		out[0] = '\0';
		return ret;
	}
	bool https = strncmp(out, "https://", 8) == 0;
	bool http = strncmp(out, "http://", 7) == 0;
	bool file = out[0] == '/' || strncmp(out, "file:///", 8) == 0;
	if (https || (http && allow_http) || (file && local_manifest))
		return ST7_OK;
	ret = st7_diag_set(d, ST7_ERR_FORMAT, "%s: not a place an image may come from%s", out,
	                   local_manifest ? "" : " for a manifest served over the network");
	out[0] = '\0';
	return ret;
}

void st7_release_url_row(const char *manifest_url, bool allow_http, const struct st7_release *r,
                         struct st7_plan_row *row, char *out, size_t cap)
{
	struct st7_diag d = { "" };
	if (st7_release_url(manifest_url, allow_http, r, out, cap, &d) == ST7_OK || !row->chosen)
		return;
	row->chosen = false;
	row->reason = ST7_PLAN_BAD_URL;
	/* The detail is one line for people; the message may be cut to fit it. */
	int w = snprintf(row->detail, sizeof(row->detail),
	                 "release '%s': image URL refused: ", r->name);
	if (w > 0 && (size_t)w < sizeof(row->detail))
		snprintf(row->detail + w, sizeof(row->detail) - (size_t)w, "%.*s",
		         (int)(sizeof(row->detail) - (size_t)w - 1), d.msg);
}

static int local_time(void *arg, const char *tz, int64_t t, struct st7_local_time *out)
{
	const struct st7_clock *clk = arg;
	return clk->local_time(clk->ctx, tz, t, out);
}

static int decide(struct cycle *c, struct st7_diag *d)
{
	struct st7_cycle_result *res = c->res;
	size_t n = c->n_devs;
	st7_cycle_result_free(res);
	res->devices = calloc(n ? n : 1, sizeof(*res->devices));
	res->rows = calloc(n ? n : 1, sizeof(*res->rows));
	res->urls = calloc(n ? n : 1, sizeof(*res->urls));
	res->dev = calloc(n ? n : 1, sizeof(*res->dev));
	if (!res->devices || !res->rows || !res->urls || !res->dev)
		return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
	res->n = n;
	for (size_t i = 0; i < n; i++) {
		const struct st7_usb_found *u = c->devs[i].usb;
		struct st7_plan_device *p = &res->devices[i];
		snprintf(p->serial, sizeof(p->serial), "%s", u->serial);
		snprintf(p->path, sizeof(p->path), "%s", u->path);
		p->vid = u->dev.id_vendor;
		p->pid = u->dev.id_product;
		p->version = u->dev.bcd_device;
		p->dfu_mode = c->devs[i].dfu.mode == ST7_DFU_MODE_DFU;
		p->profiles = c->devs[i].profiles;
	}
	int ret = load_attempts(c, d);
	if (ret)
		return ret;
	struct st7_plan_input *in = &res->in;
	memset(in, 0, sizeof(*in));
	ret = st7_window_state(c->o->window, c->o->timezone ? c->o->timezone : "", c->now,
	                       local_time, (void *)c->run->clock, &in->window, d);
	if (ret)
		return ret;
	in->rules = c->o->rules;
	in->manifest = &c->a->m;
	in->devices = res->devices;
	in->n_devices = n;
	in->attempts = c->a->attempts;
	in->n_attempts = c->a->n_attempts;
	in->gateway_id = c->o->gateway_id;
	in->channel = c->o->channel;
	in->now = c->now;
	in->max_attempts = c->o->max_attempts;
	st7_plan_decide(in, res->rows);
	for (size_t i = 0; i < n; i++)
		if (res->rows[i].release >= 0)
			st7_release_url_row(c->o->manifest_url, c->o->allow_http,
			                    &c->a->m.releases[res->rows[i].release], &res->rows[i],
			                    res->urls[i], sizeof(res->urls[i]));
	return ST7_OK;
}

/* ---- updates ------------------------------------------------------------------------ */

/* The release's image, pinned by its SHA-256, checked against the release. */
static int release_image(struct cycle *c, const struct st7_release *r, const char *url,
                         struct st7_buf *bytes, struct st7_dfu_file *img, struct st7_diag *d)
{
	struct st7_source_opts so = c->o->src;
	struct st7_source_report sr;
	char hex[65];
	st7_sha256_hex(r->sha256, hex);
	so.pinned_sha256 = hex;
	so.max_size = r->size; /* endless data is cut at the size the manifest says */
	so.cache_only = c->mode == ST7_CYCLE_OFFLINE;
	int ret = st7_source_obtain(c->run, &so, url, bytes, NULL, &sr, d);
	if (ret == ST7_OK)
		ret = st7_release_image_check(r, bytes->data, bytes->len, d);
	if (ret == ST7_OK && img)
		ret = st7_dfu_file_parse(img, bytes->data, bytes->len, 0, d);
	if (ret && sr.retry_after_s >= 0)
		c->res->retry_after_s = sr.retry_after_s;
	return ret;
}

/* The runtime IDs the journal files a chosen device under. */
static void runtime_ids(const struct cycle *c, size_t i, const struct st7_release *r, uint16_t *vid,
                        uint16_t *pid)
{
	const struct st7_plan_device *p = &c->res->devices[i];
	const struct st7_plan_row *row = &c->res->rows[i];
	*vid = p->vid;
	*pid = p->pid;
	if (!p->dfu_mode)
		return;
	if (row->rule >= 0 && c->o->rules->r[row->rule].has_ids) {
		*vid = c->o->rules->r[row->rule].vid;
		*pid = c->o->rules->r[row->rule].pid;
	} else {
		*vid = r->vid;
		*pid = r->pid;
	}
}

static void outcome_counts(struct st7_cycle_result *res, enum st7_upgrade_outcome o)
{
	switch (o) {
	case ST7_UPG_DONE:
	case ST7_UPG_NOTHING:
		res->updated++;
		break;
	case ST7_UPG_UNVERIFIED:
		res->unverified++;
		break;
	case ST7_UPG_ROLLED_BACK:
		res->rolled_back++;
		break;
	case ST7_UPG_LEFT_IN_DFU:
		res->left_in_dfu++;
		break;
	case ST7_UPG_ABORTED:
		res->aborted = true;
		break;
	case ST7_UPG_STORAGE:
		res->storage++;
		break;
	default:
		res->untouched++;
		break;
	}
}

/* A device step that failed before the device: the worst error is kept for the exit. */
static void step_failed(struct cycle *c, size_t i, int ret, const char *msg)
{
	struct st7_cycle_device *cd = &c->res->dev[i];
	snprintf(cd->error, sizeof(cd->error), "%s", msg);
	c->res->failed++;
	if (!c->res->worst || ret == ST7_ERR_SIGNATURE || ret == ST7_ERR_FORMAT)
		c->res->worst = ret;
}

static void update_one(struct cycle *c, size_t i)
{
	const struct st7_plan_device *p = &c->res->devices[i];
	const struct st7_release *r = &c->a->m.releases[c->res->rows[i].release];
	struct st7_cycle_device *cd = &c->res->dev[i];
	struct st7_journal_rec *rec = calloc(1, sizeof(*rec));
	struct st7_journal_rec prev;
	struct st7_upgrade_report rep;
	struct st7_engine e;
	bool engine_ready = false;
	struct st7_buf bytes;
	struct st7_dfu_file img;
	struct st7_diag d = { "" };
	uint64_t t0 = c->run->clock->now_ms(c->run->clock->ctx);
	int ret;

	st7_buf_init(&bytes);
	st7_dfu_file_init(&img);
	if (!rec) {
		step_failed(c, i, ST7_ERR_NOMEM, "out of memory");
		return;
	}
	/* Twins with one serial would share a journal, backups and a count: neither is
	 * updated (a vendor's bug that a person must look at). */
	for (size_t k = 0; k < c->res->n; k++) {
		const struct st7_plan_device *q = &c->res->devices[k];
		/* Without a serial: two of one product cannot be told apart either. */
		if (k != i && strcmp(q->serial, p->serial) == 0 && q->vid == p->vid &&
		    (p->serial[0] || (q->pid == p->pid && !q->dfu_mode && !p->dfu_mode))) {
			step_failed(
			        c, i, ST7_ERR_AMBIGUOUS,
			        "another attached device has the same serial number: not updated");
			st7_err("%s: %s: another attached device (%s) has the same serial number: "
			        "not updated",
			        p->path, p->serial, c->res->devices[k].path);
			goto cleanup;
		}
	}
	/* The record, filled before anything is fetched: it names what is attempted. */
	runtime_ids(c, i, r, &rec->vid, &rec->pid);
	snprintf(rec->serial, sizeof(rec->serial), "%s", p->serial);
	snprintf(rec->port, sizeof(rec->port), "%s", p->path);
	/* Devices without a serial share one name per product, as they share their
	 * attempts history: they cannot be told apart across a replug. */
	if ((ret = st7_journal_key(rec->vid, rec->pid, p->serial, rec->device,
	                           sizeof(rec->device))) != ST7_OK) {
		step_failed(c, i, ret, "the device's journal name is too long");
		goto cleanup;
	}
	ret = st7_journal_read(c->run->store, c->o->state_dir, rec->device, &prev, &d);
	rec->attempt = ret == ST7_OK ? prev.attempt + 1 : 1;
	if (ret == ST7_OK && !st7_journal_phase_terminal(prev.phase)) {
		/* Recovery left it unfinished (its device was not seen then): not now. */
		step_failed(c, i, ST7_ERR_BUSY, "an interrupted update waits for recovery");
		goto cleanup;
	}
	if (ret == ST7_OK && prev.phase == ST7_JPH_LEFT_IN_DFU) {
		/* Left for service: a person's upgrade or rollback settles it (superseded). */
		step_failed(c, i, ST7_ERR_BUSY,
		            "left in DFU mode for service by an earlier attempt: not flashed again "
		            "until a person runs st7dfu upgrade or rollback on it");
		c->res->left_in_dfu++;
		goto cleanup;
	}
	rec->has_from = !p->dfu_mode;
	rec->from_version = p->dfu_mode ? 0 : p->version;
	rec->to_version = r->version;
	snprintf(rec->release, sizeof(rec->release), "%s", r->name);
	rec->manifest_serial = c->a->m.serial;
	st7_sha256_hex(r->sha256, rec->image_sha256);
	snprintf(rec->image_url, sizeof(rec->image_url), "%s", c->res->urls[i]);
	rec->started_s = wall(c);
	/* The count before this attempt: what a success gives back to. */
	unsigned before = failures_of(c, rec);

	/* The image, before the device is looked at. */
	ret = release_image(c, r, c->res->urls[i], &bytes, &img, &d);
	rec->fetch_ms = (uint32_t)(c->run->clock->now_ms(c->run->clock->ctx) - t0);
	if (ret == ST7_ERR_FORMAT || ret == ST7_ERR_SIGNATURE || ret == ST7_ERR_TOO_LARGE) {
		/* The release itself is bad: counted, so that it is not fetched forever. */
		rec->phase = ST7_JPH_DECIDED;
		count_attempt(c, rec, before + 1);
		step_failed(c, i, ret, d.msg);
		settle(c, rec, ST7_JPH_FAILED, "bad-image", d.msg);
		goto cleanup;
	}
	if (ret) { /* the network or the cache: not the release's fault, not counted */
		step_failed(c, i, ret, d.msg);
		st7_err("%s: release '%s': %s", p->path, r->name, d.msg);
		goto cleanup;
	}
	/* Recorded, then counted, then the device: a crash at any point leaves a record that
	 * recovery settles and a count that holds. */
	rec->phase = ST7_JPH_FETCHED;
	if (journal_write(c, rec) != ST7_OK) {
		step_failed(c, i, ST7_ERR_IO, "the state directory cannot record the attempt");
		goto cleanup;
	}
	if (count_attempt(c, rec, before + 1) != ST7_OK) {
		step_failed(c, i, ST7_ERR_IO, "the state directory cannot count the attempt");
		settle(c, rec, ST7_JPH_FAILED, "untouched", "the attempt could not be counted");
		goto cleanup;
	}
	cd->attempted = true;
	t0 = c->run->clock->now_ms(c->run->clock->ctx);
	if ((ret = engine_on(c, &e, p->path, p->serial, &d)) != ST7_OK) {
		engine_ready = true;
		memset(&rep, 0, sizeof(rep));
		rep.outcome = ST7_UPG_NO_DEVICE;
		snprintf(rep.error, sizeof(rep.error), "%s", d.msg);
	} else {
		engine_ready = true;
		c->rec = rec;
		c->run->phase = on_phase;
		c->run->phase_arg = c;
		st7_info("%s: %s: updating to release '%s' (0x%04x)", p->path, p->serial, r->name,
		         r->version);
		st7_upgrade(c->run, &e, &img, &c->o->upg, &rep);
		c->run->phase = NULL;
		c->rec = NULL;
	}
	rec->flash_ms = (uint32_t)(c->run->clock->now_ms(c->run->clock->ctx) - t0);
	cd->outcome = rep.outcome;
	snprintf(cd->error, sizeof(cd->error), "%s", rep.error);
	outcome_counts(c->res, rep.outcome);
	if (rep.outcome == ST7_UPG_ABORTED) {
		/* Stopped at a safe point: recovery settles it on the next start (the device
		 * may be between runtime and its loader). Not the release's fault. */
		snprintf(rec->error, sizeof(rec->error), "stopped: %s", rep.error);
		journal_write(c, rec);
		goto cleanup;
	}
	/* Settled first, then the count given back (a success, or nothing touched): a crash
	 * between the two leaves one failure too many, never one too few. */
	settle(c, rec, phase_of(rep.outcome), st7_upgrade_outcome_name(rep.outcome), rep.error);
	if (rep.outcome == ST7_UPG_DONE || rep.outcome == ST7_UPG_NOTHING ||
	    rep.outcome == ST7_UPG_UNVERIFIED || rep.outcome == ST7_UPG_NO_DEVICE ||
	    rep.outcome == ST7_UPG_STORAGE)
		count_attempt(c, rec, before); /* as it was before this attempt */
	if (rep.outcome == ST7_UPG_DONE || rep.outcome == ST7_UPG_UNVERIFIED)
		uncount_rolled(c, rec->serial);
cleanup:
	if (engine_ready)
		st7_engine_free(&e);
	st7_dfu_file_free(&img);
	st7_buf_free(&bytes);
	free(rec);
}

/* A chosen release that waits for the window: its image fetched ahead. */
static void prefetch(struct cycle *c, size_t i)
{
	const struct st7_release *r = &c->a->m.releases[c->res->rows[i].release];
	struct st7_buf bytes;
	struct st7_diag d = { "" };
	st7_buf_init(&bytes);
	if (release_image(c, r, c->res->urls[i], &bytes, NULL, &d) == ST7_OK) {
		c->res->dev[i].prefetched = true;
		st7_info("%s: release '%s' fetched and verified ahead of the window",
		         c->res->devices[i].path, r->name);
	} else {
		st7_warn("%s: release '%s' could not be fetched ahead: %s", c->res->devices[i].path,
		         r->name, d.msg);
	}
	st7_buf_free(&bytes);
}

/* ---- the cycle ---------------------------------------------------------------------- */

/* In the state directory itself, only the temporary files of the agent's own files there
 * (NAME.tmp.XXXXXX, mkstemp's six characters): the attempts history, the status file, a
 * manifest's record, the store's room probe. */
static bool own_top_temp(const char *name)
{
	const char *t = strstr(name, ".tmp.");
	size_t base = t ? (size_t)(t - name) : 0;
	if (!t || strlen(t + 5) != 6)
		return false;
	if ((base == 12 && strncmp(name, "attempts.ini", 12) == 0) ||
	    (base == 12 && strncmp(name, "agent.status", 12) == 0) ||
	    (base == 6 && strncmp(name, ".probe", 6) == 0))
		return true;
	return base > 15 && strncmp(name, "manifest-", 9) == 0 &&
	       strncmp(name + base - 6, ".state", 6) == 0;
}

static int remove_temp(void *arg, const struct st7_store_entry *e)
{
	const void **a = arg;
	struct st7_store *store = (struct st7_store *)a[0];
	char path[PATH_MAX];
	struct st7_diag d = { "" };
	bool top = a[2] != NULL; /* the state directory itself: the agent's own files only */
	if (!e->regular || !strstr(e->name, ".tmp.") || (top && !own_top_temp(e->name)) ||
	    st7_store_join(path, sizeof(path), (const char *)a[1], e->name) != ST7_OK)
		return 0;
	st7_info("removing %s, left by an interrupted write", path);
	if (st7_store_remove(store, path, &d) != ST7_OK)
		st7_warn("%s", d.msg);
	return 0;
}

/* What a killed writer left (NAME.tmp.XXXXXX) in the agent's own directories: never a
 * record, and it fills the disk. Only under the lock: no other writer is at work. */
static void remove_stale_temps(struct cycle *c)
{
	static const char *const subs[] = { "", "journal", ST7_REPORT_QUEUE_DIR };
	char dir[PATH_MAX];
	struct st7_diag d = { "" };
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if ((subs[i][0] ? st7_state_path(dir, sizeof(dir), c->o->state_dir, subs[i])
		     : snprintf(dir, sizeof(dir), "%s", c->o->state_dir) >= (int)sizeof(dir)
		             ? ST7_ERR_INVALID
		             : ST7_OK) != ST7_OK)
			continue;
		const void *a[3] = { c->run->store, dir, subs[i][0] ? NULL : "top" };
		st7_store_list(c->run->store, dir, remove_temp, a, &d);
	}
}

static int obtain_manifest(struct cycle *c, struct st7_diag *d)
{
	struct st7_agent *a = c->a;
	struct st7_manifest m;
	struct st7_manifest_opts mo = { .url = c->o->manifest_url,
		                        .max_size = c->o->manifest_max_size,
		                        .keys_dir = c->o->src.keys_dir,
		                        .state_dir = c->o->state_dir,
		                        .now = c->now,
		                        .build_time = c->o->build_time,
		                        .record = true };
	st7_manifest_init(&m);
	int ret = st7_manifest_obtain(c->run, &mo, &m, &c->res->mrep, d);
	if (ret == ST7_OK) {
		st7_manifest_free(&a->m);
		a->m = m;
		a->have_manifest = true;
	} else {
		st7_manifest_free(&m);
		/* What the server says now was refused: the older belief goes too (a network
		 * failure keeps it, for hotplug until it expires). */
		if (ret == ST7_ERR_REFUSED || ret == ST7_ERR_SIGNATURE || ret == ST7_ERR_FORMAT) {
			st7_manifest_free(&a->m);
			st7_manifest_init(&a->m);
			a->have_manifest = false;
		}
		if (c->res->mrep.retry_after_s >= 0)
			c->res->retry_after_s = c->res->mrep.retry_after_s;
	}
	return ret;
}

static void flush_reports(struct cycle *c)
{
	struct st7_diag d = { "" };
	unsigned sent = 0;
	int64_t retry = -1;
	if (!c->o->report_url || !c->run->fetcher)
		return;
	int ret = st7_report_queue_flush(c->run->store, c->o->state_dir, c->run->fetcher,
	                                 c->o->report_url, c->run->abort_flag, &sent, &retry, &d);
	c->res->sent += sent;
	c->res->report_ret = ret;
	if (ret)
		st7_warn("reports: %s (kept in the queue)", d.msg);
}

static void summarise(struct cycle *c)
{
	struct st7_cycle_result *res = c->res;
	size_t chosen = 0;
	for (size_t i = 0; i < res->n; i++)
		chosen += res->rows[i].chosen;
	if (res->manifest_ret)
		snprintf(res->status, sizeof(res->status), "no manifest: %.200s",
		         res->manifest_error);
	else
		snprintf(res->status, sizeof(res->status),
		         "manifest %llu%s: %zu device(s), %zu chosen; %u updated, %u rolled back, "
		         "%u left in DFU mode, %u failed; %u recovered",
		         (unsigned long long)c->a->m.serial,
		         res->mrep.not_modified ? " (not modified)" : "", res->n, chosen,
		         res->updated + res->unverified, res->rolled_back, res->left_in_dfu,
		         res->failed + res->untouched + res->storage, res->recovered);
}

int st7_agent_cycle(struct st7_agent *a, enum st7_cycle_mode mode, struct st7_cycle_result *res,
                    struct st7_diag *d)
{
	struct cycle c = { .a = a,
		           .run = a->run,
		           .o = a->o,
		           .mode = mode,
		           .res = res,
		           .progress = a->run->progress,
		           .progress_arg = a->run->progress_arg };
	int ret = ST7_ERR_INVALID;
	c.now = wall(&c);
	st7_cycle_result_free(res);
	st7_cycle_result_init(res);
	if (!a->run->usb)
		return st7_diag_set(d, ST7_ERR_INVALID, "no USB backend");
	if ((ret = scan(&c, d)) != ST7_OK)
		goto cleanup;
	/* 1. Recovery comes before anything new. */
	if (mode != ST7_CYCLE_DRY_RUN)
		remove_stale_temps(&c);
	if (mode != ST7_CYCLE_DRY_RUN && (ret = recover_all(&c, d)) != ST7_OK)
		goto cleanup;
	if (stopping(&c)) {
		ret = st7_diag_set(d, ST7_ERR_ABORTED, "stopped");
		goto cleanup;
	}
	/* 2. The manifest. */
	if (mode != ST7_CYCLE_OFFLINE && c.o->manifest_url) {
		struct st7_diag md = { "" };
		res->manifest_ret = obtain_manifest(&c, &md);
		snprintf(res->manifest_error, sizeof(res->manifest_error), "%s", md.msg);
	} else if (!a->have_manifest) {
		res->manifest_ret = ST7_ERR_NOT_FOUND;
		snprintf(res->manifest_error, sizeof(res->manifest_error), "%s",
		         c.o->manifest_url ? "no manifest held yet" : "no manifest_url");
	} else if (c.now >= a->m.expires) {
		char t[32];
		st7_format_utc(a->m.expires, t, sizeof(t));
		res->manifest_ret = ST7_ERR_REFUSED;
		snprintf(res->manifest_error, sizeof(res->manifest_error),
		         "the manifest held expired at %s: nothing is decided until a fresh one "
		         "is fetched",
		         t);
	}
	if (res->manifest_ret) {
		ret = res->manifest_ret;
		st7_diag_set(d, ret, "%s", res->manifest_error);
		goto reports;
	}
	/* 3. The decision, over the devices as they are after recovery. */
	if ((ret = scan(&c, d)) != ST7_OK || (ret = decide(&c, d)) != ST7_OK)
		goto cleanup;
	if (mode == ST7_CYCLE_DRY_RUN)
		goto cleanup;
	for (size_t i = 0; i < res->n; i++) /* one line per decision */
		st7_info("%s %s: %s", res->devices[i].path, res->devices[i].serial,
		         res->rows[i].detail);
	/* 4. One device at a time. */
	for (size_t i = 0; i < res->n && !stopping(&c); i++) {
		const struct st7_plan_row *row = &res->rows[i];
		/* Offline (hotplug), a device that was there at the last cycle waits for the
		 * next poll: the agent's own re-enumerations start no retry. */
		if (row->chosen && !(mode == ST7_CYCLE_OFFLINE && was_seen(a, &res->devices[i])))
			update_one(&c, i);
		else if (row->reason == ST7_PLAN_OUTSIDE_WINDOW && mode == ST7_CYCLE_APPLY)
			prefetch(&c, i);
	}
	if (stopping(&c))
		res->aborted = true;
	remember_seen(a, res);
reports:
	/* 5. The reports. */
	if (mode == ST7_CYCLE_APPLY)
		flush_reports(&c);
	if (!res->manifest_ret)
		ret = ST7_OK;
cleanup:
	summarise(&c);
	scan_free(&c);
	return ret;
}
