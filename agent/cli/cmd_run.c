/* SPDX-License-Identifier: MIT */
/*
 * The unattended agent's commands: `check` (one cycle, for cron, timers and hotplug
 * hooks), `run` (the daemon), and `status` without a device (what the agent knows: the
 * journal, the report queue, the next poll). The cycle itself is core/cycle.c; here are
 * the process's parts: the lock shared with every manual command, the daemon's loop,
 * its signals (set by main.c), the service manager's notifications and the status file.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attempts.h"
#include "backends.h"
#include "cli.h"
#include "cycle.h"
#include "journal.h"
#include "json_writer.h"
#include "log.h"
#include "pacing.h"
#include "parse_util.h"
#include "plan_render.h"
#include "report_queue.h"
#include "state_dir.h"

#define LOCK_FILE "st7dfu.lock"
#define STATUS_FILE "agent.status"
#define STATUS_MAX 4096
/* The first wait after a failed poll; doubled each time up to backoff_max. */
#define BACKOFF_BASE_S 60
#define POLL_JITTER_PCT 10

/* ---- the lock ------------------------------------------------------------------------ */

int st7_cli_lock(struct st7_cli *cli, struct st7_store_lock **l)
{
	struct st7_diag d = { "" };
	char path[PATH_MAX];
	*l = NULL;
	if (st7_state_path(path, sizeof(path), cli->s.state_dir, LOCK_FILE))
		return st7_cli_usage(cli, "--state-dir: path too long");
	/* Root in another user's state directory (the agent's own user, on a packaged
	 * gateway): what root wrote there would be root's and unreadable to the agent (the
	 * lock, the backups directory, a journal record), which would then fail every cycle.
	 * Refused before anything is written, naming the owner. (Anyone else cannot write
	 * there at all: the lock is left, below.) */
	struct st7_store_entry top;
	int ret = st7_store_stat(&cli->store, cli->s.state_dir, &top, &d);
	if (ret == ST7_OK && top.dir && top.not_ours && geteuid() == 0) {
		st7_err("%s", st7_store_check_private(&cli->store, cli->s.state_dir, false, &d)
		                      ? d.msg
		                      : "the state directory is another user's: run st7dfu as "
		                        "its owner");
		return ST7_EXIT_IO;
	}
	ret = st7_store_mkdir_p(&cli->store, cli->s.state_dir, 0700, 0, &d);
	if (ret == ST7_OK)
		ret = st7_store_lock(&cli->store, path, 0, l, &d);
	if (ret == ST7_ERR_BUSY && cli->s.lock_wait_s) {
		char wait[32];
		st7_format_duration_ms(cli->s.lock_wait_s * 1000, wait, sizeof(wait));
		st7_info("another st7dfu (the agent?) is working on the devices (%s): waiting up "
		         "to %s",
		         path, wait);
		ret = st7_store_lock(&cli->store, path, (unsigned)cli->s.lock_wait_s, l, &d);
	}
	if (ret == ST7_ERR_BUSY) {
		st7_err("another st7dfu holds %s: try again later, or give --lock-wait", path);
		return ST7_EXIT_BUSY;
	}
	if (ret && cli->cmd->run != st7_cmd_check && cli->cmd->run != st7_cmd_run) {
		/* A person's command where the agent's state cannot be (another user, a
		 * read-only system): no agent can work there either. */
		st7_warn("%s: going on without the agent's lock", d.msg);
		return ST7_EXIT_OK;
	}
	if (ret) {
		st7_err("%s", d.msg);
		return st7_exit_for(ret, ST7_STEP_FILE);
	}
	return ST7_EXIT_OK;
}

/* ---- the agent's settings ------------------------------------------------------------ */

struct agent_setup {
	struct st7_cycle_opts o;
	char id[256];
	char cache[PATH_MAX];
};

static int agent_setup(struct st7_cli *cli, struct agent_setup *a, bool need_manifest)
{
	struct st7_diag d = { "" };
	struct st7_cycle_opts *o = &a->o;
	memset(a, 0, sizeof(*a));
	if (need_manifest && !cli->s.manifest_url)
		return st7_cli_usage(cli, "no manifest: set manifest_url in the policy or give "
		                          "--manifest-url");
	int ret = st7_cli_gateway_id(cli, a->id, sizeof(a->id), &d);
	if (ret) {
		st7_err("%s", d.msg);
		return st7_exit_for(ret, ST7_STEP_FILE);
	}
	if (st7_state_path(a->cache, sizeof(a->cache), cli->s.state_dir, ST7_STATE_CACHE))
		return st7_cli_usage(cli, "--state-dir: path too long");
	o->state_dir = cli->s.state_dir;
	o->manifest_url = cli->s.manifest_url;
	o->manifest_max_size = cli->s.manifest_max_size;
	o->build_time = ST7_BUILD_TIME;
	o->gateway_id = a->id;
	o->channel = cli->s.channel;
	o->timezone = cli->s.timezone ? cli->s.timezone : "";
	o->window = &cli->s.window;
	o->rules = &cli->rules;
	o->max_attempts = (unsigned)cli->s.max_attempts;
	o->finish_interrupted = cli->s.recover == ST7_RECOVER_FINISH;
	o->allow_http = cli->s.allow_http;
	st7_settings_upgrade(&cli->s, &o->upg);
	st7_settings_engine(&cli->s, &o->eng);
	st7_settings_source(&cli->s, &o->src);
	o->src.cache_dir = a->cache;
	o->report_url = cli->s.report_url;
	o->queue.max_records = (unsigned)cli->s.report_queue_max;
	o->queue.max_bytes = cli->s.report_queue_size;
	return ST7_EXIT_OK;
}

/* USB, and the fetch worker when the manifest or the reports are remote. */
static int agent_backends(struct st7_cli *cli)
{
	struct st7_diag d = { "" };
	int ret = ST7_OK;
	if (!cli->usb_open) {
		if ((ret = st7_usb_libusb_init(&cli->usb, &d)) != ST7_OK) {
			st7_err("%s", d.msg);
			return st7_exit_for(ret, ST7_STEP_USB);
		}
		cli->usb_open = true;
	}
	cli->run.usb = &cli->usb;
	bool remote = (cli->s.manifest_url && st7_url_is_remote(cli->s.manifest_url)) ||
	              (cli->s.report_url && st7_url_is_remote(cli->s.report_url));
	if (remote && !cli->run.fetcher) {
		if ((ret = st7_fetch_worker_init(&cli->fetcher, &cli->net, cli->s.fetch_user,
		                                 &d))) {
			st7_err("%s", d.msg);
			return st7_exit_for(ret, ST7_STEP_DOWNLOAD);
		}
		cli->run.fetcher = &cli->fetcher;
	}
	return ST7_EXIT_OK;
}

/* ---- the status file ------------------------------------------------------------------ */

struct agent_status {
	long pid;
	char mode[16];
	int64_t last_cycle, next_poll, window_opens; /* 0: none */
	char last[256];
};

/* The status file's text. */
static void status_text(const struct agent_status *s, struct st7_buf *b)
{
	char t1[40] = "", t2[40] = "", t3[40] = "";
	if (s->last_cycle)
		st7_format_utc(s->last_cycle, t1, sizeof(t1));
	if (s->next_poll)
		st7_format_utc(s->next_poll, t2, sizeof(t2));
	if (s->window_opens)
		st7_format_utc(s->window_opens, t3, sizeof(t3));
	st7_buf_printf(b, "pid=%ld\nmode=%s\nlast_cycle=%s\nnext_poll=%s\nwindow_opens=%s\nlast=",
	               s->pid, s->mode, t1, t2, t3);
	for (const char *p = s->last; *p; p++) /* one line */
		st7_buf_printf(b, "%c", (*p < 0x20 || *p == 0x7f) ? ' ' : *p);
	st7_buf_printf(b, "\n");
}

static void status_write(struct st7_cli *cli, const struct agent_status *s)
{
	struct st7_buf b;
	struct st7_diag d = { "" };
	char path[PATH_MAX];
	if (st7_state_path(path, sizeof(path), cli->s.state_dir, STATUS_FILE))
		return;
	st7_buf_init(&b);
	status_text(s, &b);
	if (st7_store_write_atomic(&cli->store, path, b.data, b.len, 0644, 0, &d) != ST7_OK)
		st7_warn("%s", d.msg);
	st7_buf_free(&b);
}

/* Our own file, read as if it were not: bounded, line by line, unknown keys ignored. */
static bool status_read(struct st7_cli *cli, struct agent_status *s)
{
	struct st7_buf b;
	struct st7_diag d = { "" };
	char path[PATH_MAX];
	memset(s, 0, sizeof(*s));
	if (st7_state_path(path, sizeof(path), cli->s.state_dir, STATUS_FILE))
		return false;
	st7_buf_init(&b);
	bool ok =
	        st7_store_read(&cli->store, path, STATUS_MAX, ST7_STORE_NOFOLLOW, &b, &d) == ST7_OK;
	for (size_t i = 0; ok && i < b.len;) {
		size_t e = i;
		while (e < b.len && b.data[e] != '\n')
			e++;
		char line[STATUS_MAX + 1];
		memcpy(line, b.data + i, e - i);
		line[e - i] = '\0';
		char *eq = strchr(line, '=');
		if (eq) {
			*eq = '\0';
			const char *v = eq + 1;
			uint64_t n;
			if (strcmp(line, "pid") == 0 && st7_parse_uint(v, 1, 0x7fffffff, &n) == 0)
				s->pid = (long)n;
			else if (strcmp(line, "mode") == 0)
				snprintf(s->mode, sizeof(s->mode), "%s", v);
			else if (strcmp(line, "last") == 0)
				snprintf(s->last, sizeof(s->last), "%s", v);
			else if (strcmp(line, "last_cycle") == 0 && *v)
				st7_parse_utc(v, &s->last_cycle);
			else if (strcmp(line, "next_poll") == 0 && *v)
				st7_parse_utc(v, &s->next_poll);
			else if (strcmp(line, "window_opens") == 0 && *v)
				st7_parse_utc(v, &s->window_opens);
		}
		i = e + 1;
	}
	st7_buf_free(&b);
	return ok;
}

/* The earliest window opening a chosen release waits for (0: none). */
static int64_t window_opens(const struct st7_cycle_result *r)
{
	int64_t t = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->rows[i].reason == ST7_PLAN_OUTSIDE_WINDOW && r->rows[i].until > 0 &&
		    (!t || r->rows[i].until < t))
			t = r->rows[i].until;
	return t;
}

/* ---- check ------------------------------------------------------------------------------ */

/* The exit code of a cycle: the worst thing that happened to any device. */
static int cycle_exit(int ret, const struct st7_cycle_result *r)
{
	/* A device out of service first: whatever else happened, it needs a person. */
	if (r->left_in_dfu || r->unrecovered)
		return ST7_EXIT_LEFT_IN_DFU;
	if (ret == ST7_ERR_ABORTED || r->aborted)
		return ST7_EXIT_ABORTED;
	if (r->rolled_back)
		return ST7_EXIT_ROLLED_BACK;
	if (r->manifest_ret)
		return st7_exit_for(r->manifest_ret, r->manifest_ret == ST7_ERR_FORMAT
		                                             ? ST7_STEP_FILE
		                                             : ST7_STEP_DOWNLOAD);
	if (ret)
		return st7_exit_for(ret, ST7_STEP_USB);
	if (r->failed)
		return st7_exit_for(r->worst, ST7_STEP_DOWNLOAD);
	if (r->unverified)
		return ST7_EXIT_UNVERIFIED;
	if (r->storage)
		return ST7_EXIT_IO;
	if (r->untouched)
		return ST7_EXIT_USB;
	if (r->updated || r->recovered)
		return ST7_EXIT_OK;
	return ST7_EXIT_NOTHING;
}

static void results_json(struct st7_cli *cli, const struct st7_cycle_result *r, int rc,
                         struct st7_json *j)
{
	struct st7_plan_view v = { &r->in,
		                   r->rows,
		                   cli->s.manifest_url,
		                   &r->mrep,
		                   cli->s.timezone ? cli->s.timezone : "",
		                   r->urls };
	st7_json_obj_begin(j);
	st7_json_key(j, "plan");
	if (r->manifest_ret || !r->rows)
		st7_json_null(j);
	else
		st7_plan_json(&v, j);
	st7_json_key(j, "results");
	st7_json_arr_begin(j);
	for (size_t i = 0; i < r->n; i++) {
		if (!r->dev[i].attempted && !r->dev[i].error[0] && !r->dev[i].prefetched)
			continue;
		st7_json_obj_begin(j);
		st7_json_kv_str(j, "serial", r->devices[i].serial);
		st7_json_kv_str(j, "path", r->devices[i].path);
		st7_json_kv_bool(j, "attempted", r->dev[i].attempted);
		st7_json_key(j, "outcome");
		if (r->dev[i].attempted)
			st7_json_str(j, st7_upgrade_outcome_name(r->dev[i].outcome));
		else
			st7_json_null(j);
		st7_json_kv_bool(j, "prefetched", r->dev[i].prefetched);
		st7_json_key(j, "error");
		if (r->dev[i].error[0])
			st7_json_str(j, r->dev[i].error);
		else
			st7_json_null(j);
		st7_json_obj_end(j);
	}
	st7_json_arr_end(j);
	st7_json_key(j, "summary");
	st7_json_obj_begin(j);
	st7_json_kv_uint(j, "updated", r->updated + r->unverified);
	st7_json_kv_uint(j, "rolled_back", r->rolled_back);
	st7_json_kv_uint(j, "left_in_dfu", r->left_in_dfu);
	st7_json_kv_uint(j, "failed", r->failed + r->untouched + r->storage);
	st7_json_kv_uint(j, "recovered", r->recovered);
	st7_json_kv_uint(j, "unrecovered", r->unrecovered);
	st7_json_kv_uint(j, "waiting", r->waiting);
	st7_json_kv_uint(j, "bad_records", r->bad_records);
	st7_json_kv_uint(j, "reports_queued", r->queued);
	st7_json_kv_uint(j, "reports_sent", r->sent);
	st7_json_key(j, "manifest_error");
	if (r->manifest_ret)
		st7_json_str(j, r->manifest_error);
	else
		st7_json_null(j);
	st7_json_kv_str(j, "status", r->status);
	st7_json_kv_uint(j, "exit", (uint64_t)rc);
	st7_json_obj_end(j);
	st7_json_obj_end(j);
}

static void results_text(struct st7_cli *cli, const struct st7_cycle_result *r, struct st7_buf *out)
{
	struct st7_plan_view v = { &r->in,
		                   r->rows,
		                   cli->s.manifest_url,
		                   &r->mrep,
		                   cli->s.timezone ? cli->s.timezone : "",
		                   r->urls };
	if (!r->manifest_ret && r->rows)
		st7_plan_text(&v, out);
	for (size_t i = 0; i < r->n; i++) {
		const struct st7_cycle_device *cd = &r->dev[i];
		if (cd->attempted)
			st7_buf_printf(out, "%s %s: %s%s%s\n", r->devices[i].path,
			               r->devices[i].serial, st7_upgrade_outcome_name(cd->outcome),
			               cd->error[0] ? ": " : "", cd->error);
		else if (cd->error[0])
			st7_buf_printf(out, "%s %s: not attempted: %s\n", r->devices[i].path,
			               r->devices[i].serial, cd->error);
		else if (cd->prefetched)
			st7_buf_printf(out, "%s %s: image fetched ahead of the window\n",
			               r->devices[i].path, r->devices[i].serial);
	}
	st7_buf_printf(out, "%s\n", r->status);
}

int st7_cmd_check(struct st7_cli *cli)
{
	struct agent_setup a;
	struct st7_agent ag;
	struct st7_cycle_result res;
	struct st7_store_lock *lock = NULL;
	struct st7_diag d = { "" };
	int rc = agent_setup(cli, &a, true);
	if (rc != ST7_EXIT_OK)
		return rc;
	if ((rc = agent_backends(cli)) != ST7_EXIT_OK || (rc = st7_cli_lock(cli, &lock)))
		return rc;
	st7_agent_init(&ag, &cli->run, &a.o);
	st7_cycle_result_init(&res);
	int ret = st7_agent_cycle(&ag, cli->s.dry_run ? ST7_CYCLE_DRY_RUN : ST7_CYCLE_APPLY, &res,
	                          &d);
	st7_cli_progress_end(cli);
	if (ret && !res.manifest_ret)
		st7_err("%s", d.msg);
	else if (res.manifest_ret)
		st7_err("%s", res.manifest_error);
	if (res.retry_after_s >= 0)
		st7_info("retry after %lld s", (long long)res.retry_after_s);
	rc = cycle_exit(ret, &res);
	if (!cli->s.dry_run) {
		struct agent_status s = { .pid = (long)getpid(),
			                  .last_cycle = cli->run.clock->wall_s(cli->run.clock->ctx),
			                  .window_opens = window_opens(&res) };
		snprintf(s.mode, sizeof(s.mode), "check");
		snprintf(s.last, sizeof(s.last), "%s", res.status);
		status_write(cli, &s);
	}
	struct st7_buf out;
	struct st7_json j;
	st7_buf_init(&out);
	st7_json_init(&j, &out);
	if (cli->s.json) {
		results_json(cli, &res, rc, &j);
		st7_buf_printf(&out, "\n");
	} else {
		results_text(cli, &res, &out);
	}
	if (st7_json_finish(&j) != ST7_OK || st7_cli_emit(&out) != ST7_EXIT_OK)
		rc = rc ? rc : ST7_EXIT_IO;
	st7_buf_free(&out);
	st7_cycle_result_free(&res);
	st7_agent_free(&ag);
	st7_store_unlock(&cli->store, lock);
	return rc;
}

/* ---- run: the daemon -------------------------------------------------------------------- */

struct daemon {
	struct st7_cli *cli;
	char status_written[STATUS_MAX]; /* the status file's last content: unchanged, unwritten */
	struct agent_setup a;
	struct st7_agent ag;
	uint64_t rnd;
	uint64_t watchdog_ms; /* 0: none; else the period to feed it at */
	uint64_t last_fed_ms;
	unsigned failures;
	int64_t next_poll_ms; /* monotonic */
	int64_t window_ms;    /* monotonic: a chosen release's window opens; 0 none */
	struct agent_status st;
};

static uint64_t mono_ms(const struct daemon *dm)
{
	return dm->cli->run.clock->now_ms(dm->cli->run.clock->ctx);
}

static void notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notify(const char *fmt, ...)
{
	char msg[512];
	struct st7_diag d = { "" };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st7_sd_notify(msg, &d) != ST7_OK)
		st7_debug("notify: %s", d.msg);
}

static void feed_watchdog(struct daemon *dm, bool force)
{
	uint64_t now = mono_ms(dm);
	if (!dm->watchdog_ms || (!force && now - dm->last_fed_ms < dm->watchdog_ms))
		return;
	dm->last_fed_ms = now;
	notify("WATCHDOG=1");
}

/* The fetch worker's sign of life during a cycle. */
static void worker_alive(void *arg, const char *phase, size_t done, size_t total)
{
	(void)phase;
	(void)done;
	(void)total;
	feed_watchdog(arg, false);
}

/* The engine's progress during a cycle: the display's, and the watchdog fed. */
static void daemon_progress(void *arg, const char *phase, size_t done, size_t total)
{
	struct daemon *dm = arg;
	feed_watchdog(dm, false);
	(void)phase;
	(void)done;
	(void)total;
}

static void daemon_status(struct daemon *dm)
{
	struct st7_cli *cli = dm->cli;
	dm->st.pid = (long)getpid();
	snprintf(dm->st.mode, sizeof(dm->st.mode), "daemon");
	/* Written when it says something new: a gateway's flash is not worn by hotplug
	 * cycles that change nothing. */
	struct st7_buf b;
	st7_buf_init(&b);
	status_text(&dm->st, &b);
	if (b.len < sizeof(dm->status_written) &&
	    (strlen(dm->status_written) != b.len || memcmp(dm->status_written, b.data, b.len))) {
		status_write(cli, &dm->st);
		memcpy(dm->status_written, b.data, b.len);
		dm->status_written[b.len] = '\0';
		notify("STATUS=%s", dm->st.last);
	}
	st7_buf_free(&b);
}

static void one_cycle(struct daemon *dm, enum st7_cycle_mode mode, const char *why)
{
	struct st7_cli *cli = dm->cli;
	struct st7_cycle_result res;
	struct st7_store_lock *lock = NULL;
	struct st7_diag d = { "" };
	struct st7_diag ld = { "" };
	char path[PATH_MAX];
	st7_info("cycle (%s)", why);
	/* The lock is held for the cycle only: manual commands run between cycles. A
	 * manual command at work is not waited for (the daemon would stop answering its
	 * signals and its watchdog): the cycle comes back in 30 s. */
	if (st7_state_path(path, sizeof(path), cli->s.state_dir, LOCK_FILE) ||
	    st7_store_lock(&cli->store, path, 0, &lock, &ld) != ST7_OK) {
		st7_warn("cycle put off for 30 s: %s",
		         ld.msg[0] ? ld.msg : "state directory path too long");
		/* Whatever was due moves there: a due poll must not come straight back. */
		int64_t later = (int64_t)mono_ms(dm) + 30000;
		if (dm->next_poll_ms < later)
			dm->next_poll_ms = later;
		if (dm->window_ms && dm->window_ms < later)
			dm->window_ms = later;
		feed_watchdog(dm, false);
		return;
	}
	feed_watchdog(dm, true);
	/* A slow server (a manifest, an image, a queue of reports) is no hang: every word of
	 * the fetch worker feeds the watchdog. */
	if (cli->run.fetcher == &cli->fetcher)
		st7_fetch_worker_set_alive(&cli->fetcher, worker_alive, dm);
	st7_cycle_result_init(&res);
	int ret = st7_agent_cycle(&dm->ag, mode, &res, &d);
	if (ret && !res.manifest_ret && ret != ST7_ERR_ABORTED)
		st7_err("cycle: %s", d.msg);
	st7_info("%s", res.status);
	int64_t now = (int64_t)mono_ms(dm);
	if (mode == ST7_CYCLE_APPLY) {
		bool ok = res.manifest_ret == ST7_OK && ret == ST7_OK;
		if (ok) {
			dm->failures = 0;
			dm->next_poll_ms =
			        now + st7_poll_delay_ms(cli->s.poll_interval_s, POLL_JITTER_PCT,
			                                st7_rnd_next(&dm->rnd));
		} else if (ret != ST7_ERR_ABORTED) {
			dm->failures++;
			int64_t wait = st7_backoff_delay_ms(dm->failures, BACKOFF_BASE_S,
			                                    cli->s.backoff_max_s, res.retry_after_s,
			                                    st7_rnd_next(&dm->rnd));
			/* Never later than a normal poll would be. */
			int64_t poll = (int64_t)cli->s.poll_interval_s * 1000;
			dm->next_poll_ms = now + (wait < poll ? wait : poll);
			st7_warn("next try in %lld s (failure %u)", (long long)(wait / 1000),
			         dm->failures);
		}
		dm->st.last_cycle = cli->run.clock->wall_s(cli->run.clock->ctx);
		/* In wall time once per poll, so that hotplug cycles do not move it. */
		dm->st.next_poll = dm->st.last_cycle + (dm->next_poll_ms - now) / 1000;
		int64_t opens = window_opens(&res);
		dm->st.window_opens = opens;
		dm->window_ms = 0;
		if (opens > 0) {
			int64_t in_s = opens - dm->st.last_cycle;
			/* A little after the opening, spread like the polls. */
			dm->window_ms = now + (in_s > 0 ? in_s * 1000 : 0) +
			                (int64_t)(st7_rnd_next(&dm->rnd) % 60000);
		}
	}
	snprintf(dm->st.last, sizeof(dm->st.last), "%s", res.status);
	daemon_status(dm);
	st7_store_unlock(&cli->store, lock); /* after the status file: a writer under the lock */
	st7_cycle_result_free(&res);
}

/* What a reloaded policy must allow before it replaces the running one: a manifest and
 * a gateway id, as at start. */
static int accept_agent_policy(struct st7_cli *cli, const struct st7_settings *s,
                               struct st7_diag *d)
{
	char id[256];
	if (!s->manifest_url)
		return st7_diag_set(d, ST7_ERR_INVALID, "no manifest_url: the agent cannot run");
	return st7_gateway_id(&cli->store, s, id, sizeof(id), d);
}

/* SIGHUP: the policy again, all or nothing; a bad one is refused and the old one kept.
 * False when the daemon cannot go on (what it was checked for failed after all). */
static bool reload(struct daemon *dm)
{
	struct st7_cli *cli = dm->cli;
	struct st7_diag d = { "" };
	int ret = st7_cli_reload_policy(cli, accept_agent_policy, &d);
	if (ret) {
		st7_err("SIGHUP: the policy was not reloaded, the old one stays: %s", d.msg);
		return true;
	}
	/* The cycle's settings point into the new ones now; the fetch worker made from the
	 * old ones is gone, and comes back with the new network settings. */
	if (agent_setup(cli, &dm->a, true) != ST7_EXIT_OK) {
		st7_err("SIGHUP: the agent cannot run with the reloaded policy: stopping");
		return false;
	}
	/* Without a fetch worker the cycles fail (and back off) until a policy that allows
	 * one is loaded: the devices' recovery still runs. */
	if (agent_backends(cli) != ST7_EXIT_OK)
		st7_err("SIGHUP: no fetch worker with the reloaded policy: the manifest cannot be "
		        "fetched until it is fixed");
	/* What was believed under the old policy (another URL, other keys) is not any more. */
	st7_manifest_free(&dm->ag.m);
	st7_manifest_init(&dm->ag.m);
	dm->ag.have_manifest = false;
	st7_info("SIGHUP: policy %s reloaded", cli->policy_path[0] ? cli->policy_path : "(none)");
	dm->next_poll_ms = (int64_t)mono_ms(dm); /* a new manifest_url, a new window... */
	return true;
}

int st7_cmd_run(struct st7_cli *cli)
{
	struct daemon *dm = calloc(1, sizeof(*dm));
	if (!dm)
		return ST7_EXIT_FAILURE;
	dm->cli = cli;
	int rc = agent_setup(cli, &dm->a, true);
	if (rc == ST7_EXIT_OK)
		rc = agent_backends(cli);
	if (rc != ST7_EXIT_OK) {
		free(dm);
		return rc;
	}
	if (cli->s.syslog)
		st7_log_open(ST7_LOG_SYSLOG, ST7_LOG_INFO, "st7dfu");
	/* The daemon draws no progress bar: the engine's progress feeds the watchdog. */
	cli->run.progress = daemon_progress;
	cli->run.progress_arg = dm;
	dm->rnd = (uint64_t)getpid() ^
	          ((uint64_t)cli->run.clock->wall_s(cli->run.clock->ctx) << 20) ^
	          cli->run.clock->now_us(cli->run.clock->ctx);
	uint64_t wd = st7_sd_watchdog_usec();
	dm->watchdog_ms = wd ? wd / 2000 : 0;
	if (dm->watchdog_ms == 0 && wd)
		dm->watchdog_ms = 1;
	st7_agent_init(&dm->ag, &cli->run, &dm->a.o);
	st7_info("agent started: manifest %s, every %llu s, gateway %s", cli->s.manifest_url,
	         (unsigned long long)cli->s.poll_interval_s, dm->a.id);
	notify("READY=1\nSTATUS=starting: first cycle");
	dm->next_poll_ms = (int64_t)mono_ms(dm); /* the first cycle at once */
	rc = ST7_EXIT_OK;
	while (!*cli->stop) {
		int64_t now = (int64_t)mono_ms(dm);
		if (*cli->reload) {
			*cli->reload = 0;
			if (!reload(dm)) {
				rc = ST7_EXIT_USAGE;
				break;
			}
			continue;
		}
		if (*cli->trigger) {
			*cli->trigger = 0;
			one_cycle(dm, ST7_CYCLE_APPLY, "SIGUSR1");
			continue;
		}
		if (now >= dm->next_poll_ms) {
			one_cycle(dm, ST7_CYCLE_APPLY, "poll");
			continue;
		}
		if (dm->window_ms && now >= dm->window_ms) {
			dm->window_ms = 0;
			one_cycle(dm, ST7_CYCLE_APPLY, "maintenance window");
			continue;
		}
		int64_t until = dm->next_poll_ms;
		if (dm->window_ms && dm->window_ms < until)
			until = dm->window_ms;
		if (dm->watchdog_ms && (int64_t)(dm->last_fed_ms + dm->watchdog_ms) < until)
			until = (int64_t)(dm->last_fed_ms + dm->watchdog_ms);
		int64_t timeout = until - now;
		if (timeout < 0)
			timeout = 0;
		if (timeout > 0x7fffffff)
			timeout = 0x7fffffff;
		int ev = st7_usb_wait_event(&cli->usb, (int)timeout, cli->wake);
		*cli->wake = 0;
		feed_watchdog(dm, false);
		if (ev == 1) {
			/* A device came or went: settle it against the manifest held, offline. */
			one_cycle(dm, ST7_CYCLE_OFFLINE, "hotplug");
		} else if (ev < 0 && ev != ST7_ERR_ABORTED) {
			st7_err("waiting for USB events failed: %s", st7_strerror(ev));
			rc = ST7_EXIT_USB;
			break;
		}
	}
	notify("STOPPING=1\nSTATUS=stopping");
	st7_info("agent stopped");
	dm->st.next_poll = 0;
	snprintf(dm->st.mode, sizeof(dm->st.mode), "stopped");
	status_write(cli, &dm->st);
	st7_agent_free(&dm->ag);
	free(dm);
	return rc;
}

/* ---- status: what the agent knows ----------------------------------------------------- */

struct status_rows {
	struct st7_journal_rec *v;
	size_t n, cap;
};

static int collect_all(void *arg, const struct st7_journal_rec *r)
{
	struct status_rows *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		void *v = realloc(l->v, cap * sizeof(*l->v));
		if (!v)
			return ST7_ERR_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *r;
	return 0;
}

int st7_cmd_agent_status(struct st7_cli *cli)
{
	struct status_rows rows = { 0 };
	struct agent_status st;
	struct st7_diag d = { "" };
	unsigned bad = 0, queued = 0;
	uint64_t qbytes = 0;
	char t[40];
	int ret = st7_journal_list_readonly(&cli->store, cli->s.state_dir, collect_all, &rows, &bad,
	                                    &d);
	bad += st7_journal_bad_count(&cli->store, cli->s.state_dir);
	if (ret == ST7_OK)
		ret = st7_report_queue_stat(&cli->store, cli->s.state_dir, &queued, &qbytes, &d);
	if (ret) {
		st7_err("%s", d.msg);
		free(rows.v);
		return st7_exit_for(ret, ST7_STEP_FILE);
	}
	bool have = status_read(cli, &st);
	struct st7_buf out;
	struct st7_json j;
	st7_buf_init(&out);
	st7_json_init(&j, &out);
	if (cli->s.json) {
		st7_json_obj_begin(&j);
		st7_json_key(&j, "agent");
		if (!have) {
			st7_json_null(&j);
		} else {
			st7_json_obj_begin(&j);
			st7_json_kv_str(&j, "mode", st.mode);
			st7_json_kv_uint(&j, "pid", (uint64_t)st.pid);
			const int64_t *times[] = { &st.last_cycle, &st.next_poll,
				                   &st.window_opens };
			const char *names[] = { "last_cycle", "next_poll", "window_opens" };
			for (int k = 0; k < 3; k++) {
				st7_json_key(&j, names[k]);
				if (*times[k]) {
					st7_format_utc(*times[k], t, sizeof(t));
					st7_json_str(&j, t);
				} else {
					st7_json_null(&j);
				}
			}
			st7_json_kv_str(&j, "last", st.last);
			st7_json_obj_end(&j);
		}
		st7_json_kv_uint(&j, "queue_records", queued);
		st7_json_kv_uint(&j, "queue_bytes", qbytes);
		st7_json_kv_uint(&j, "bad_records", bad);
		st7_json_key(&j, "devices");
		st7_json_arr_begin(&j);
		for (size_t i = 0; i < rows.n; i++) {
			const struct st7_journal_rec *r = &rows.v[i];
			char v[16];
			st7_json_obj_begin(&j);
			st7_json_kv_str(&j, "device", r->device);
			st7_json_kv_str(&j, "serial", r->serial);
			st7_json_kv_str(&j, "port", r->port);
			st7_json_kv_uint(&j, "attempt", r->attempt);
			st7_json_kv_str(&j, "release", r->release);
			snprintf(v, sizeof(v), "0x%04x", r->to_version);
			st7_json_kv_str(&j, "to_version", v);
			st7_json_kv_str(&j, "phase", st7_journal_phase_name(r->phase));
			st7_json_kv_bool(&j, "unfinished", !st7_journal_phase_terminal(r->phase));
			st7_json_key(&j, "outcome");
			if (r->outcome[0])
				st7_json_str(&j, r->outcome);
			else
				st7_json_null(&j);
			st7_json_kv_str(&j, "error", r->error);
			st7_format_utc(r->updated_s, t, sizeof(t));
			st7_json_kv_str(&j, "updated", t);
			st7_json_obj_end(&j);
		}
		st7_json_arr_end(&j);
		st7_json_obj_end(&j);
		st7_buf_printf(&out, "\n");
	} else {
		if (!have) {
			st7_buf_printf(&out, "agent: never ran with state directory %s\n",
			               cli->s.state_dir);
		} else {
			st7_buf_printf(&out, "agent: %s (pid %ld)\n", st.mode, st.pid);
			if (st.last_cycle) {
				st7_format_utc(st.last_cycle, t, sizeof(t));
				st7_buf_printf(&out, "last cycle: %s: %s\n", t, st.last);
			}
			if (st.next_poll && strcmp(st.mode, "daemon") == 0) {
				st7_format_utc(st.next_poll, t, sizeof(t));
				st7_buf_printf(&out, "next poll: %s\n", t);
			}
			if (st.window_opens) {
				st7_format_utc(st.window_opens, t, sizeof(t));
				st7_buf_printf(&out, "maintenance window opens: %s\n", t);
			}
		}
		st7_buf_printf(&out, "report queue: %u record(s), %llu bytes\n", queued,
		               (unsigned long long)qbytes);
		if (bad)
			st7_buf_printf(&out, "damaged journal records set aside: %u\n", bad);
		for (size_t i = 0; i < rows.n; i++) {
			const struct st7_journal_rec *r = &rows.v[i];
			st7_format_utc(r->updated_s, t, sizeof(t));
			st7_buf_printf(
			        &out, "%s (%s): attempt %llu, release '%s' 0x%04x: %s%s%s%s [%s]\n",
			        r->device, r->port, (unsigned long long)r->attempt, r->release,
			        r->to_version,
			        st7_journal_phase_terminal(r->phase) ? "" : "UNFINISHED, ",
			        r->outcome[0] ? r->outcome : st7_journal_phase_name(r->phase),
			        r->error[0] ? ": " : "", r->error, t);
		}
	}
	int rc = st7_json_finish(&j) == ST7_OK ? st7_cli_emit(&out) : ST7_EXIT_FAILURE;
	st7_buf_free(&out);
	free(rows.v);
	return rc;
}
