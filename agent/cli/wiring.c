/* SPDX-License-Identifier: MIT */
/*
 * The wiring: the backends this process uses (POSIX store and clock, libusb, the fetch
 * worker),
 * the one run context that lends them to every layer below, and the progress display
 * they report to. Created once per process; the fetcher and USB only when a command needs
 * them.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "log.h"
#include "state_dir.h"

/* The progress sink of the run context: the display, on stderr or (JSON) stdout. */
static void on_progress(void *arg, const char *phase, size_t done, size_t total)
{
	struct st7_cli *cli = arg;
	struct st7_buf b;
	FILE *f = cli->progress.json ? stdout : stderr;
	st7_buf_init(&b);
	st7_progress_update(&cli->progress, st7_clock_posix.now_ms(st7_clock_posix.ctx), phase,
	                    done, total, &b);
	if (b.len && fwrite(b.data, 1, b.len, f) == b.len)
		fflush(f);
	st7_buf_free(&b);
}

void st7_cli_progress_end(struct st7_cli *cli)
{
	struct st7_buf b;
	st7_buf_init(&b);
	st7_progress_end(&cli->progress, &b);
	if (b.len && fwrite(b.data, 1, b.len, stderr) == b.len)
		fflush(stderr);
	st7_buf_free(&b);
}

int st7_cli_run_open(struct st7_cli *cli, struct st7_diag *d)
{
	st7_run_init(&cli->run);
	cli->run_open = true;
	st7_progress_init(&cli->progress, isatty(STDERR_FILENO), cli->s.json);
	st7_settings_fetch(&cli->s, &cli->net);
	int ret = st7_store_posix_init(&cli->store, d);
	if (ret)
		return ret;
	cli->run.store = &cli->store;
	cli->run.clock = &st7_clock_posix;
	cli->run.abort_flag = cli->stop;
	cli->run.progress = on_progress;
	cli->run.progress_arg = cli;
	return ST7_OK;
}

void st7_cli_run_close(struct st7_cli *cli)
{
	if (!cli->run_open)
		return;
	st7_fetch_free(&cli->fetcher);
	if (cli->usb_open)
		st7_usb_free(&cli->usb);
	cli->usb_open = false;
	st7_store_free(&cli->store);
	st7_run_free(&cli->run);
	cli->run_open = false;
}

int st7_cli_obtain(struct st7_cli *cli, const char *source, struct st7_buf *out,
                   struct st7_buf *sig_out, struct st7_source_report *r, struct st7_diag *d)
{
	struct st7_source_opts o;
	char cache_dir[PATH_MAX];
	int ret;
	st7_settings_source(&cli->s, &o);
	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
	if (st7_state_path(cache_dir, sizeof(cache_dir), cli->s.state_dir, ST7_STATE_CACHE))
		return st7_cli_usage(cli, "--state-dir: path too long");
	o.cache_dir = cache_dir;
	bool remote = st7_url_is_remote(source) || (o.sig && st7_url_is_remote(o.sig));
	if (remote && !cli->run.fetcher) {
		ret = st7_fetch_worker_init(&cli->fetcher, &cli->net, cli->s.fetch_user, d);
		if (ret) {
			st7_err("%s", d->msg);
			return st7_exit_for(ret, ST7_STEP_DOWNLOAD);
		}
		cli->run.fetcher = &cli->fetcher;
	}
	ret = st7_source_obtain(&cli->run, &o, source, out, sig_out, r, d);
	if (ret) {
		st7_err("%s", d->msg);
		if (r->retry_after_s >= 0)
			st7_info("retry after %lld s", (long long)r->retry_after_s);
	}
	/* A download cut at the size limit is a failed download, not a bad file. */
	return st7_exit_for(ret, r->remote ? ST7_STEP_DOWNLOAD : ST7_STEP_SOURCE);
}
