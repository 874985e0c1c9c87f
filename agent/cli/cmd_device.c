/* SPDX-License-Identifier: MIT */
/*
 * The commands on devices: list, and on one device upgrade, rollback, upload, download,
 * detach and status. A device command is a session: its image (if any) obtained and
 * trusted first, then USB, the engine over the run context's backends, and the device
 * chosen; then the command's one call into core/ or the engine, and its result.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfu_list.h"
#include "journal.h"
#include "list_render.h"
#include "log.h"
#include "results.h"
#include "state_dir.h"

int st7_cmd_list(struct st7_cli *cli)
{
	struct st7_diag d = { "" };
	struct st7_usb_found *found = NULL;
	struct st7_dfu_device *devs = NULL;
	size_t n_found = 0, n_devs = 0;
	struct st7_buf out;
	struct st7_json j;
	int ret = st7_usb_libusb_init(&cli->usb, &d);
	if (ret) {
		st7_err("%s", d.msg);
		return st7_exit_for(ret, ST7_STEP_USB);
	}
	cli->usb_open = true;
	st7_buf_init(&out);
	st7_json_init(&j, &out);
	ret = st7_usb_scan(&cli->usb, st7_dfu_list_wants, &found, &n_found, &d);
	if (ret)
		st7_err("%s", d.msg);
	else
		ret = st7_dfu_list_build(found, n_found, &devs, &n_devs);
	int rc = st7_exit_for(ret, ST7_STEP_USB);
	for (size_t i = 0; i < n_devs; i++)
		if (devs[i].problem[0])
			st7_warn("%s: %s", devs[i].usb->path, devs[i].problem);
	if (ret == ST7_OK && cli->s.json) {
		st7_dfu_list_json(devs, n_devs, &j);
		st7_buf_printf(&out, "\n");
	} else if (ret == ST7_OK) {
		st7_dfu_list_text(devs, n_devs, &out);
	}
	if (ret == ST7_OK)
		rc = st7_json_finish(&j) == ST7_OK ? st7_cli_emit(&out) : ST7_EXIT_FAILURE;
	free(devs);
	st7_usb_found_free(found, n_found);
	st7_buf_free(&out);
	return rc;
}

/* One device command: what it works with besides the run context. */
struct session {
	struct st7_cli *cli;
	struct st7_engine e;
	bool engine_ready;
	struct st7_buf file;     /* the image, read once: the bytes checked are those flashed */
	struct st7_dfu_file img; /* parsed from `file` */
	bool to_is_backup;       /* rollback --to names one of STATE/backups */
	struct st7_source_report src;
	struct st7_upgrade_opts upg;
	bool lock_wanted;            /* the command changes the device */
	bool flashed;                /* it wrote the device's memory (an outcome that did) */
	struct st7_store_lock *lock; /* held from before USB to the end */
};

/* Parse the image just obtained (from `what`): the exit code. */
static int parse_image(struct session *s, const char *what)
{
	struct st7_diag d = { "" };
	int ret = st7_dfu_file_parse(&s->img, s->file.data, s->file.len, 0, &d);
	if (ret)
		st7_err("%s: %s", what, d.msg);
	return st7_exit_for(ret, ST7_STEP_FILE);
}

/*
 * rollback --to FILE: one of this gateway's own backups (in STATE/backups, read with the
 * backup rules), or else an image like any other, which a trusted key must have signed.
 * Either way it is read once, into the session.
 */
static int load_rollback_file(struct session *s)
{
	struct st7_cli *cli = s->cli;
	const char *to = cli->s.to;
	char backups[PATH_MAX], real_backups[PATH_MAX], real_to[PATH_MAX];
	struct st7_diag d = { "" };
	size_t n;
	if (st7_state_path(backups, sizeof(backups), cli->s.state_dir, ST7_STATE_BACKUPS))
		return st7_cli_usage(cli, "--state-dir: path too long");
	if (st7_store_canonical(&cli->store, to, real_to, sizeof(real_to), NULL) == ST7_OK &&
	    st7_store_canonical(&cli->store, backups, real_backups, sizeof(real_backups), NULL) ==
	            ST7_OK &&
	    (n = strlen(real_backups)) && strncmp(real_to, real_backups, n) == 0 &&
	    real_to[n] == '/') {
		int ret = st7_backup_load(&cli->run, real_to, &s->file, &s->img, &d);
		s->to_is_backup = true;
		if (ret) /* the message names the file */
			st7_err("%s", d.msg);
		return st7_exit_for(ret, ST7_STEP_FILE);
	}
	int rc = st7_cli_obtain(cli, to, &s->file, NULL, &s->src, &d);
	return rc ? rc : parse_image(s, to);
}

/* Obtain the image (rollback --to, or the FILE of upgrade and download), start USB and the
 * engine, choose the device. The exit code; session_end() is due in every case. */
static int session_start(struct session *s, struct st7_cli *cli, bool lock)
{
	struct st7_diag d = { "" };
	struct st7_engine_opts eng;
	struct st7_selector sel;
	int rc;
	memset(s, 0, sizeof(*s));
	s->cli = cli;
	s->lock_wanted = lock;
	st7_buf_init(&s->file);
	st7_dfu_file_init(&s->img);
	st7_settings_upgrade(&cli->s, &s->upg);
	if (cli->s.to && (rc = load_rollback_file(s)) != ST7_EXIT_OK)
		return rc;
	if (cli->cmd->min_operands == 1) {
		/* Trust before anything else: a file nobody trusted is never parsed further,
		 * and no device is looked at. */
		rc = st7_cli_obtain(cli, cli->argv[0], &s->file, NULL, &s->src, &d);
		if (rc || (rc = parse_image(s, cli->argv[0])) != ST7_EXIT_OK)
			return rc;
	}
	/* The image is trusted and whole: now the devices, under the agent's lock. */
	if (s->lock_wanted && (rc = st7_cli_lock(cli, &s->lock)) != ST7_EXIT_OK)
		return rc;
	int ret = st7_usb_libusb_init(&cli->usb, &d);
	if (ret) {
		st7_err("%s", d.msg);
		return st7_exit_for(ret, ST7_STEP_USB);
	}
	cli->usb_open = true;
	cli->run.usb = &cli->usb;
	st7_settings_engine(&cli->s, &eng);
	st7_engine_init(&s->e, cli->run.usb, cli->run.clock, &eng);
	s->engine_ready = true;
	s->e.abort_flag = cli->run.abort_flag;
	s->e.progress = cli->run.progress;
	s->e.progress_arg = cli->run.progress_arg;
	st7_settings_selector(&cli->s, &sel);
	ret = st7_engine_select(&s->e, &sel, &d);
	if (ret)
		st7_err("%s", d.msg);
	return st7_exit_for(ret, ST7_STEP_USB);
}

static int session_end(struct session *s, int rc)
{
	st7_cli_progress_end(s->cli);
	if (s->engine_ready)
		st7_engine_free(&s->e);
	st7_dfu_file_free(&s->img);
	st7_buf_free(&s->file);
	st7_store_unlock(&s->cli->store, s->lock);
	s->lock = NULL;
	return rc;
}

static void device_seen(const struct st7_engine *e, struct st7_device_seen *dev)
{
	memset(dev, 0, sizeof(*dev));
	dev->path = e->path;
	dev->serial = e->serial;
	dev->present = e->dev != NULL;
	dev->mode = e->dfu.mode;
	if (e->dev) {
		dev->vid = e->dev->dev.id_vendor;
		dev->pid = e->dev->dev.id_product;
		dev->bcd_device = e->dev->dev.bcd_device;
	}
}

/* The result of an upgrade, rollback or download: printed, and its exit code. */
static int report_outcome(struct session *s, const struct st7_upgrade_report *r,
                          const struct st7_source_report *src)
{
	const char *cmd = s->cli->cmd->name;
	int rc = st7_exit_for_outcome(r->outcome);
	s->flashed = r->outcome == ST7_UPG_DONE || r->outcome == ST7_UPG_ROLLED_BACK ||
	             r->outcome == ST7_UPG_LEFT_IN_DFU || r->outcome == ST7_UPG_UNVERIFIED;
	struct st7_device_seen dev;
	struct st7_buf out;
	st7_cli_progress_end(s->cli);
	device_seen(&s->e, &dev);
	st7_buf_init(&out);
	if (s->cli->s.json)
		st7_result_upgrade_json(cmd, &dev, r, rc, src, &out);
	else
		st7_result_upgrade_text(cmd, &dev, r, &out);
	st7_cli_emit(&out);
	st7_buf_free(&out);
	if (!s->cli->s.json && r->outcome != ST7_UPG_DONE && r->outcome != ST7_UPG_NOTHING)
		st7_err("%s", r->error);
	return rc;
}

/* A manual command changed the device: an update the agent left unfinished on it is
 * over (recovery would otherwise undo the person's work). */
struct superseded {
	struct st7_cli *cli;
	const char *serial, *port;
	uint16_t vid;
};

static int settle_superseded(void *arg, const struct st7_journal_rec *r)
{
	struct superseded *sp = arg;
	struct st7_journal_rec copy = *r;
	struct st7_diag d = { "" };
	/* This device: its serial and vendor, or without a serial its port. */
	if (r->vid != sp->vid || (sp->serial[0] ? strcmp(r->serial, sp->serial) != 0
	                                        : r->serial[0] || strcmp(r->port, sp->port) != 0))
		return 0;
	/* A finished update is kept as it was, only no longer the device's state: the agent
	 * must not take a person's rollback for the device's own. */
	if (r->phase == ST7_JPH_DONE && strcmp(r->outcome, "done") == 0) {
		snprintf(copy.outcome, sizeof(copy.outcome), "superseded");
		copy.updated_s = sp->cli->run.clock->wall_s(sp->cli->run.clock->ctx);
		if (st7_journal_write(&sp->cli->store, sp->cli->s.state_dir, &copy, &d) != ST7_OK)
			st7_warn("%s", d.msg);
		return 0;
	}
	if (st7_journal_phase_terminal(r->phase) && r->phase != ST7_JPH_LEFT_IN_DFU)
		return 0;
	copy.phase = ST7_JPH_FAILED;
	snprintf(copy.outcome, sizeof(copy.outcome), "superseded");
	snprintf(copy.error, sizeof(copy.error), "a manual st7dfu %s changed the device",
	         sp->cli->cmd->name);
	copy.updated_s = sp->cli->run.clock->wall_s(sp->cli->run.clock->ctx);
	if (st7_journal_write(&sp->cli->store, sp->cli->s.state_dir, &copy, &d) == ST7_OK)
		st7_info("%s: the agent's unfinished update of %s is settled: superseded",
		         r->device, r->serial);
	else
		st7_warn("%s", d.msg);
	return 0;
}

static void supersede_journal(struct session *s)
{
	struct st7_diag d = { "" };
	struct superseded sp = { s->cli, s->e.serial, s->e.path, 0 };
	if (!s->engine_ready || !s->flashed || !s->e.dev)
		return;
	sp.vid = s->e.dev->dev.id_vendor;
	st7_journal_list(&s->cli->store, s->cli->s.state_dir, settle_superseded, &sp, NULL, &d);
}

/* A device command: the session around its one action (which returns the exit code).
 * One that changes a device holds the lock the agent shares, for the whole session; one
 * that flashes it settles the agent's unfinished update of it. */
static int device_command(struct st7_cli *cli, int (*action)(struct session *s), bool changes,
                          bool flashes)
{
	struct session s;
	int rc = session_start(&s, cli, changes);
	if (rc == ST7_EXIT_OK) {
		rc = action(&s);
		if (flashes)
			supersede_journal(&s);
	}
	return session_end(&s, rc);
}

static int upgrade(struct session *s)
{
	struct st7_upgrade_report r;
	st7_upgrade(&s->cli->run, &s->e, &s->img, &s->upg, &r);
	return report_outcome(s, &r, &s->src);
}

static int rollback(struct session *s)
{
	struct st7_upgrade_report r;
	const char *to = s->cli->s.to;
	st7_rollback(&s->cli->run, &s->e, to ? &s->img : NULL, to, s->to_is_backup, &s->upg, &r);
	return report_outcome(s, &r, NULL);
}

static int download(struct session *s)
{
	struct st7_upgrade_report r;
	st7_download(&s->cli->run, &s->e, &s->img, &s->upg, &r);
	return report_outcome(s, &r, &s->src);
}

static int upload(struct session *s)
{
	struct st7_diag d = { "" };
	const char *output = s->cli->s.output;
	int ret = st7_upload_to_file(&s->cli->run, &s->e, &s->upg, output, &d);
	st7_cli_progress_end(s->cli);
	if (ret)
		st7_err("%s: %s", s->e.path, d.msg);
	else
		printf("%s: firmware written to %s\n", s->e.path, output);
	return st7_exit_for(ret, ST7_STEP_DEVICE);
}

static int detach(struct session *s)
{
	struct st7_diag d = { "" };
	int ret = st7_engine_enter_dfu(&s->e, &d);
	st7_cli_progress_end(s->cli);
	if (ret)
		st7_err("%s: %s", s->e.path, d.msg);
	else
		printf("%s: in DFU mode (%04x:%04x)\n", s->e.path, s->e.dev->dev.id_vendor,
		       s->e.dev->dev.id_product);
	return st7_exit_for(ret, ST7_STEP_DEVICE);
}

static int status(struct session *s)
{
	struct st7_diag d = { "" };
	struct st7_dfu_status_reply r;
	struct st7_device_seen dev;
	struct st7_buf out;
	int ret = st7_engine_open(&s->e, &d);
	if (ret == ST7_OK)
		ret = st7_engine_get_status(&s->e, &r, &d);
	st7_buf_init(&out);
	device_seen(&s->e, &dev);
	if (ret)
		st7_err("%s: %s", s->e.path, d.msg);
	else if (s->cli->s.json)
		st7_result_status_json(&dev, &r, &out);
	else
		st7_result_status_text(&dev, &r, &out);
	st7_cli_emit(&out);
	st7_buf_free(&out);
	return st7_exit_for(ret, ST7_STEP_DEVICE);
}

int st7_cmd_upgrade(struct st7_cli *cli)
{
	return device_command(cli, upgrade, true, true);
}

int st7_cmd_rollback(struct st7_cli *cli)
{
	return device_command(cli, rollback, true, true);
}

int st7_cmd_download(struct st7_cli *cli)
{
	return device_command(cli, download, true, true);
}

int st7_cmd_upload(struct st7_cli *cli)
{
	return device_command(cli, upload, true, false);
}

int st7_cmd_detach(struct st7_cli *cli)
{
	return device_command(cli, detach, true, false);
}

int st7_cmd_status(struct st7_cli *cli)
{
	/* Without a device, the agent's status: nothing is opened. */
	if (!cli->s.device.set && !cli->s.path && !cli->s.serial)
		return st7_cmd_agent_status(cli);
	return device_command(cli, status, false, false);
}
