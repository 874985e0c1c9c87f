/* SPDX-License-Identifier: MIT */
/* The commands on files: info (decode and check) and pack (build). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "inspect.h"
#include "log.h"
#include "memimg.h"
#include "pack.h"
#include "parse_util.h"
#include "results.h"

/* Read a file named on the command line into `out` (the caller's). A file that cannot be
 * read is ST7_ERR_IO whatever the store found (info --json's error codes are stable). */
static int read_input(struct st7_cli *cli, const char *path, struct st7_buf *out,
                      struct st7_diag *d)
{
	int ret = st7_store_read(&cli->store, path, ST7_IMAGE_MAX, 0, out, d);
	return ret == ST7_OK || ret == ST7_ERR_TOO_LARGE || ret == ST7_ERR_NOMEM ? ret : ST7_ERR_IO;
}

/* Decode `file` and describe it as `path`: text into `out`, or JSON into `j`. A file that
 * does not decode is logged, after `why` ("" or a reason of the caller's); its status. */
static int describe(struct st7_cli *cli, const struct st7_buf *file, const char *path,
                    const struct st7_profile *profile, const char *why, struct st7_buf *out,
                    struct st7_json *j)
{
	struct st7_inspect_report r;
	st7_inspect_init(&r);
	int ret = st7_inspect(&r, file->data, file->len, profile);
	if (ret)
		st7_err("%s: %s%s", path, why, r.diag.msg[0] ? r.diag.msg : st7_strerror(r.status));
	if (cli->s.json)
		st7_inspect_json(&r, path, j);
	else
		st7_inspect_text(&r, path, out);
	st7_inspect_free(&r);
	return ret;
}

/* One file of `info`: its entry in `out` (text) or `j` (JSON); its exit code. */
static int info_one(struct st7_cli *cli, const char *path, struct st7_buf *out, struct st7_json *j,
                    bool *unreadable)
{
	struct st7_buf file;
	struct st7_diag d = { "" };
	st7_buf_init(&file);
	int ret = read_input(cli, path, &file, &d);
	*unreadable = ret != ST7_OK;
	if (ret) {
		st7_err("%s", d.msg);
		if (cli->s.json)
			st7_result_unreadable_json(path, ret, d.msg, j);
	} else {
		ret = describe(cli, &file, path, cli->s.profile, "", out, j);
	}
	st7_buf_free(&file);
	return st7_exit_for(ret, ST7_STEP_FILE);
}

int st7_cmd_info(struct st7_cli *cli)
{
	struct st7_buf out;
	struct st7_json j;
	int rc = ST7_EXIT_OK;
	st7_buf_init(&out);
	st7_json_init(&j, &out);
	if (cli->s.json) {
		st7_json_obj_begin(&j);
		st7_json_key(&j, "files");
		st7_json_arr_begin(&j);
	}
	/* The worst wins: a file that cannot be read over one that is invalid. */
	for (int i = 0; i < cli->argc; i++) {
		bool unreadable = false;
		int one = info_one(cli, cli->argv[i], &out, &j, &unreadable);
		if (unreadable || rc == ST7_EXIT_OK)
			rc = one ? one : rc;
	}
	if (cli->s.json) {
		st7_json_arr_end(&j);
		st7_json_obj_end(&j);
		st7_buf_printf(&out, "\n");
	}
	if (st7_json_finish(&j) != ST7_OK) {
		st7_buf_free(&out);
		return ST7_EXIT_FAILURE;
	}
	int erc = st7_cli_emit(&out);
	st7_buf_free(&out);
	return erc ? erc : rc;
}

/* One INPUT[@ADDR] of `pack`, merged into `image`: its exit code. */
static int pack_input(struct st7_cli *cli, const char *arg, const struct st7_pack_opts *o,
                      struct st7_memimg *image)
{
	char path[PATH_MAX];
	uint64_t addr = 0;
	bool has_addr = false;
	struct st7_diag d = { "" };
	struct st7_buf in;
	if (snprintf(path, sizeof(path), "%s", arg) >= (int)sizeof(path))
		return st7_cli_usage(cli, "input path too long");
	/* FILE@ADDR: split at the last '@' only when a number follows, so a file name
	 * containing '@' still works. */
	char *at = strrchr(path, '@');
	if (at && st7_parse_uint(at + 1, 0, UINT32_MAX, &addr) == ST7_OK) {
		*at = '\0';
		has_addr = true;
	}
	st7_buf_init(&in);
	int ret = read_input(cli, path, &in, &d);
	int rc = st7_exit_for(ret, ST7_STEP_FILE);
	if (ret) {
		st7_err("%s", d.msg);
	} else {
		ret = st7_pack_add_input(image, o, st7_input_format_from_name(path), in.data,
		                         in.len, has_addr, (uint32_t)addr, &d);
		if (ret)
			st7_err("%s: %s", path, d.msg);
		rc = st7_exit_for(ret, ST7_STEP_ARGUMENT);
	}
	st7_buf_free(&in);
	return rc;
}

/* Describe what was written by decoding it again: the same check a gateway will run. */
static int pack_describe(struct st7_cli *cli, const struct st7_buf *file,
                         const struct st7_pack_opts *o)
{
	struct st7_buf text;
	struct st7_json j;
	int rc = ST7_EXIT_OK;
	st7_buf_init(&text);
	st7_json_init(&j, &text);
	if (describe(cli, file, cli->s.output, o->profile,
	             "internal error, the written file does not decode: ", &text, &j))
		rc = ST7_EXIT_FAILURE;
	if (cli->s.json)
		st7_buf_printf(&text, "\n");
	if (rc == ST7_EXIT_OK && st7_json_finish(&j) == ST7_OK)
		rc = st7_cli_emit(&text);
	st7_buf_free(&text);
	return rc;
}

int st7_cmd_pack(struct st7_cli *cli)
{
	struct st7_pack_opts o;
	struct st7_memimg image;
	struct st7_buf out;
	struct st7_diag d = { "" };
	int rc = ST7_EXIT_OK;
	if (cli->s.stamp_version && !cli->s.profile)
		return st7_cli_usage(cli, "--stamp-version needs --profile");
	if (cli->s.format == ST7_PACK_DFUSE && cli->given[ST7_OPT_DFU_VERSION][0])
		return st7_cli_usage(cli, "--dfu-version applies to plain DFU images only");
	st7_settings_pack(&cli->s, &o);
	st7_memimg_init(&image);
	st7_buf_init(&out);
	for (int i = 0; i < cli->argc && rc == ST7_EXIT_OK; i++)
		rc = pack_input(cli, cli->argv[i], &o, &image);
	if (rc == ST7_EXIT_OK) {
		int ret = st7_pack_build(&image, &o, &out, &d);
		if (ret)
			st7_err("%s: %s", cli->s.output, d.msg);
		rc = st7_exit_for(ret, ST7_STEP_FILE);
	}
	if (rc == ST7_EXIT_OK) {
		int ret = st7_store_write_atomic(&cli->store, cli->s.output, out.data, out.len,
		                                 0644, 0, &d);
		if (ret)
			st7_err("%s: %s", cli->s.output, d.msg);
		rc = st7_exit_for(ret, ST7_STEP_FILE);
	}
	if (rc == ST7_EXIT_OK)
		rc = pack_describe(cli, &out, &o);
	st7_buf_free(&out);
	st7_memimg_free(&image);
	return rc;
}
