/* SPDX-License-Identifier: MIT */
/*
 * st7dfu: the command line. This file alone parses arguments, wires the layers
 * together, writes to stdout and chooses the exit code; everything it calls returns
 * errors instead of exiting.
 */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "dfu_engine.h"
#include "dfu_file.h"
#include "dfu_list.h"
#include "exit_codes.h"
#include "fetch.h"
#include "image_source.h"
#include "file_store.h"
#include "inspect.h"
#include "json_writer.h"
#include "log.h"
#include "pack.h"
#include "st7_profile.h"
#include "trust.h"
#include "upgrade.h"
#include "usb_transport.h"
#include "verify.h"

/* Firmware files for these parts are tens of KiB; DfuSe images a few MiB. 64 MiB
 * bounds memory on a small gateway while leaving room for any real image. */
#define MAX_INPUT_FILE ((size_t)64 << 20)

struct command {
	const char *name;
	const char *summary;
	const char *usage;
	int (*run)(int argc, char **argv);
};

static const struct command *find_command(const char *name);
static void print_usage(FILE *out);

static const char exit_code_help[] = "Exit status:\n"
                                     "  0  success\n"
                                     "  1  unexpected internal failure\n"
                                     "  2  bad command line\n"
                                     "  3  an input file is malformed or fails a check\n"
                                     "  4  a file could not be read or written (the state "
                                     "directory cannot hold a backup, or holds none to "
                                     "restore)\n"
                                     "  5  nothing to do: the device already runs that version\n"
                                     "  6  no matching device, or several and none chosen\n"
                                     "  7  USB could not be used, or the update failed before "
                                     "any change\n"
                                     "  8  the update failed; the previous firmware was restored\n"
                                     "  9  the update failed and so did the rollback: the device "
                                     "waits in DFU mode\n"
                                     " 10  stopped by a signal at a safe point\n"
                                     " 11  a download failed: network, TLS, HTTP status or a "
                                     "limit\n"
                                     " 12  no valid signature from a trusted key: nothing was "
                                     "used\n"
                                     " 13  the server asked to retry later (429/503)\n"
                                     " 14  updated and post-checked, but reading the new "
                                     "firmware back disagreed or failed:\n"
                                     "     the device's upload is unreliable; its backup is "
                                     "set aside (*.unproven) or unchecked\n";

/* Print a command's help and return the usage exit code. */
static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st7_err("%s", msg);
	fprintf(stderr, "Try 'st7dfu help %s'.\n", cmd);
	return ST7_EXIT_USAGE;
}

/* Write a whole buffer to stdout; a closed pipe or full disk is an I/O failure. */
static int emit(const struct st7_buf *b)
{
	if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
		return ST7_EXIT_IO;
	if (fflush(stdout) != 0)
		return ST7_EXIT_IO;
	return ST7_EXIT_OK;
}

/* One JSON object on its own line of stdout: open it, add fields, then emit and free it. */
static void json_line_begin(struct st7_buf *b, struct st7_json *j)
{
	st7_buf_init(b);
	st7_json_init(j, b);
	st7_json_obj_begin(j);
}

static void json_line_emit(struct st7_buf *b, struct st7_json *j)
{
	st7_json_obj_end(j);
	st7_buf_printf(b, "\n");
	if (st7_json_finish(j) == ST7_OK)
		emit(b);
	st7_buf_free(b);
}

/* "0x1F" → hex; otherwise decimal. Rejects signs, junk and overflow past `max`. */
static bool parse_number(const char *s, unsigned long long max, unsigned long long *out)
{
	int base = 10;
	char *end = NULL;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return false;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* USB IDs are hex by convention: "0483", "0x0483". */
static bool parse_usb_id(const char *s, uint16_t *out)
{
	char *end = NULL;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!*s || strlen(s) > 4)
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 16);
	if (errno || *end || v > 0xFFFF)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* A version: a 16-bit hex value ("0x0102", "0102") or BCD "1.02" / "1.2" (= 0x0102). */
static bool parse_bcd(const char *s, uint16_t *out)
{
	const char *dot = s ? strchr(s, '.') : NULL;
	if (!dot)
		return parse_usb_id(s, out);
	size_t hi_len = (size_t)(dot - s), lo_len = strlen(dot + 1);
	if (hi_len < 1 || hi_len > 2 || lo_len < 1 || lo_len > 2)
		return false;
	unsigned v = 0;
	for (const char *p = s; *p; p++) {
		if (p == dot)
			continue;
		if (*p < '0' || *p > '9')
			return false;
	}
	unsigned hi = 0, lo = 0;
	for (size_t i = 0; i < hi_len; i++)
		hi = hi * 16 + (unsigned)(s[i] - '0');
	for (size_t i = 0; i < lo_len; i++)
		lo = lo * 16 + (unsigned)(dot[1 + i] - '0');
	if (lo_len == 1)
		lo <<= 4; /* "1.2" means 1.20 */
	v = (hi << 8) | lo;
	*out = (uint16_t)v;
	return true;
}

static const struct st7_profile *parse_profile(const char *cmd, const char *name, int *rc)
{
	const struct st7_profile *p = st7_profile_find(name);
	if (!p) {
		char list[128] = "";
		for (size_t i = 0; i < st7_profile_count(); i++) {
			strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
			strncat(list, st7_profile_at(i)->name, sizeof(list) - strlen(list) - 1);
		}
		*rc = usage_error(cmd, "unknown profile '%s' (known: %s)", name, list);
	}
	return p;
}

/* ---- info ---------------------------------------------------------------------------- */

static const char info_usage[] =
        "Usage: st7dfu info [--json] [--profile NAME] FILE...\n"
        "\n"
        "Decode and check DFU files: the file kind, the suffix fields, the stored and\n"
        "computed CRC, DfuSe targets and elements, and for ST7 images the version word at\n"
        "the end of the writable region and whether it equals the suffix's bcdDevice.\n"
        "\n"
        "  --json           print one JSON document (see README, \"info --json\")\n"
        "  --profile NAME   check the file as an image for this ST7 part (st72f62,\n"
        "                   st72f63, st72f65); by default a plain image whose payload is\n"
        "                   exactly a part's writable region, with ST's vendor ID or\n"
        "                   0xFFFF, is recognised as one\n"
        "\n"
        "Exit status 0 when every file is valid, 3 when any is not, 4 when one cannot be\n"
        "read.\n";

static int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "profile", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	const struct st7_profile *profile = NULL;
	int c, rc = ST7_EXIT_OK;

	while ((c = getopt_long(argc, argv, "+jp:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'p':
			profile = parse_profile("info", optarg, &rc);
			if (!profile)
				return rc;
			break;
		case 'h':
			fputs(info_usage, stdout);
			return ST7_EXIT_OK;
		default:
			return usage_error("info", "bad option");
		}
	}
	if (optind >= argc)
		return usage_error("info", "no FILE given");

	struct st7_buf out;
	struct st7_json j;
	st7_buf_init(&out);
	st7_json_init(&j, &out);
	if (json) {
		st7_json_obj_begin(&j);
		st7_json_key(&j, "files");
		st7_json_arr_begin(&j);
	}
	for (int i = optind; i < argc; i++) {
		const char *path = argv[i];
		struct st7_buf file;
		struct st7_diag d = { "" };
		struct st7_inspect_report r;
		st7_inspect_init(&r);
		int ret = st7_file_read(path, MAX_INPUT_FILE, &file, &d);
		if (ret) {
			st7_err("%s: %s", path, d.msg);
			rc = ST7_EXIT_IO;
			if (json) {
				st7_json_obj_begin(&j);
				st7_json_key(&j, "path");
				st7_json_str(&j, path);
				st7_json_key(&j, "valid");
				st7_json_bool(&j, false);
				st7_json_key(&j, "error");
				st7_json_obj_begin(&j);
				st7_json_key(&j, "code");
				st7_json_str(&j, st7_err_name(ret));
				st7_json_key(&j, "message");
				st7_json_str(&j, d.msg);
				st7_json_obj_end(&j);
				st7_json_obj_end(&j);
			}
			st7_buf_free(&file);
			continue;
		}
		if (st7_inspect(&r, file.data, file.len, profile) != ST7_OK) {
			st7_err("%s: %s", path,
			        r.diag.msg[0] ? r.diag.msg : st7_strerror(r.status));
			if (rc == ST7_EXIT_OK)
				rc = ST7_EXIT_INVALID_FILE;
		}
		if (json)
			st7_inspect_json(&r, path, &j);
		else
			st7_inspect_text(&r, path, &out);
		st7_inspect_free(&r);
		st7_buf_free(&file);
	}
	if (json) {
		st7_json_arr_end(&j);
		st7_json_obj_end(&j);
		st7_buf_printf(&out, "\n");
	}
	if (st7_json_finish(&j) != ST7_OK) {
		st7_buf_free(&out);
		return ST7_EXIT_FAILURE;
	}
	int erc = emit(&out);
	st7_buf_free(&out);
	return erc ? erc : rc;
}

/* ---- pack ---------------------------------------------------------------------------- */

static const char pack_usage[] =
        "Usage: st7dfu pack -o OUT.dfu --vid V --pid P --bcd B [OPTIONS] INPUT[@ADDR]...\n"
        "\n"
        "Build a DFU file from firmware inputs: raw binaries (.bin, loaded at @ADDR),\n"
        "Intel HEX (.hex, .ihx) and Motorola S-records (.s19, .s28, .s37, .srec, .mot).\n"
        "Inputs must not overlap. The output is written atomically.\n"
        "\n"
        "  -o, --output FILE     the .dfu file to write (required)\n"
        "  --vid V, --pid P      idVendor, idProduct for the suffix, hex (FFFF = any)\n"
        "  --bcd B               bcdDevice: the firmware version, hex (0x0102) or 1.02\n"
        "  --format dfu|dfuse    a plain DFU image (default) or a DfuSe file with one\n"
        "                        element per contiguous run of data\n"
        "  --dfu-version 1.0|1.1 bcdDFU of a plain image's suffix (default 1.0)\n"
        "  --profile NAME        an ST7 part (st72f62, st72f63, st72f65): data outside its\n"
        "                        writable region is refused, a plain payload is exactly\n"
        "                        that region (gaps 0xFF), and the version word at its last\n"
        "                        two bytes must equal --bcd\n"
        "  --stamp-version       write --bcd into that version word (needs --profile)\n"
        "  --alt N               DfuSe target alternate setting (default 0)\n"
        "  --target-name NAME    DfuSe target name\n"
        "  --json                describe the written file as 'info --json' does\n"
        "\n"
        "Without --profile a plain payload spans the lowest to the highest address given,\n"
        "gaps filled with 0xFF. ADDR is decimal or 0x-prefixed hex; a binary input needs\n"
        "one unless --profile gives the region base.\n";

static int cmd_pack(int argc, char **argv)
{
	enum {
		OPT_VID = 256,
		OPT_PID,
		OPT_BCD,
		OPT_FORMAT,
		OPT_PROFILE,
		OPT_STAMP,
		OPT_ALT,
		OPT_NAME,
		OPT_JSON,
		OPT_DFUVER
	};
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "vid", required_argument, NULL, OPT_VID },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "bcd", required_argument, NULL, OPT_BCD },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "dfu-version", required_argument, NULL, OPT_DFUVER },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "stamp-version", no_argument, NULL, OPT_STAMP },
		{ "alt", required_argument, NULL, OPT_ALT },
		{ "target-name", required_argument, NULL, OPT_NAME },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct st7_pack_opts o = { 0 };
	const char *output = NULL;
	bool have_vid = false, have_pid = false, have_bcd = false, json = false;
	int c, rc = ST7_EXIT_OK;
	unsigned long long n = 0;

	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case OPT_VID:
			if (!parse_usb_id(optarg, &o.ids.id_vendor))
				return usage_error("pack", "--vid '%s': expected 4 hex digits",
				                   optarg);
			have_vid = true;
			break;
		case OPT_PID:
			if (!parse_usb_id(optarg, &o.ids.id_product))
				return usage_error("pack", "--pid '%s': expected 4 hex digits",
				                   optarg);
			have_pid = true;
			break;
		case OPT_BCD:
			if (!parse_bcd(optarg, &o.ids.bcd_device))
				return usage_error("pack",
				                   "--bcd '%s': expected hex (0x0102) or 1.02",
				                   optarg);
			have_bcd = true;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "dfu") == 0)
				o.dfuse = false;
			else if (strcmp(optarg, "dfuse") == 0)
				o.dfuse = true;
			else
				return usage_error("pack", "--format '%s': expected dfu or dfuse",
				                   optarg);
			break;
		case OPT_DFUVER:
			if (strcmp(optarg, "1.0") == 0)
				o.ids.bcd_dfu = ST7_BCDDFU_1_0;
			else if (strcmp(optarg, "1.1") == 0)
				o.ids.bcd_dfu = ST7_BCDDFU_1_1;
			else
				return usage_error(
				        "pack", "--dfu-version '%s': expected 1.0 or 1.1", optarg);
			break;
		case OPT_PROFILE:
			o.profile = parse_profile("pack", optarg, &rc);
			if (!o.profile)
				return rc;
			break;
		case OPT_STAMP:
			o.stamp_version = true;
			break;
		case OPT_ALT:
			if (!parse_number(optarg, 255, &n))
				return usage_error("pack", "--alt '%s': expected 0..255", optarg);
			o.alt = (uint8_t)n;
			break;
		case OPT_NAME:
			if (strlen(optarg) > 254)
				return usage_error("pack", "--target-name: at most 254 bytes");
			o.target_name = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			fputs(pack_usage, stdout);
			return ST7_EXIT_OK;
		default:
			return usage_error("pack", "bad option");
		}
	}
	if (!output)
		return usage_error("pack", "-o OUT.dfu is required");
	if (!have_vid || !have_pid || !have_bcd)
		return usage_error("pack", "--vid, --pid and --bcd are required");
	if (o.stamp_version && !o.profile)
		return usage_error("pack", "--stamp-version needs --profile");
	if (o.dfuse && o.ids.bcd_dfu)
		return usage_error("pack", "--dfu-version applies to plain DFU images only");
	if (optind >= argc)
		return usage_error("pack", "no INPUT given");

	struct st7_memimg image;
	struct st7_buf out;
	struct st7_diag d = { "" };
	st7_memimg_init(&image);
	st7_buf_init(&out);
	rc = ST7_EXIT_OK;
	for (int i = optind; i < argc && rc == ST7_EXIT_OK; i++) {
		char path[PATH_MAX];
		bool has_addr = false;
		unsigned long long addr = 0;
		if (snprintf(path, sizeof(path), "%s", argv[i]) >= (int)sizeof(path)) {
			rc = usage_error("pack", "input path too long");
			break;
		}
		/* FILE@ADDR: split at the last '@' only when a number follows, so a file name
		 * containing '@' still works. */
		char *at = strrchr(path, '@');
		if (at && parse_number(at + 1, UINT32_MAX, &addr)) {
			*at = '\0';
			has_addr = true;
		}
		struct st7_buf in;
		int ret = st7_file_read(path, MAX_INPUT_FILE, &in, &d);
		if (ret) {
			st7_err("%s: %s", path, d.msg);
			rc = ret == ST7_ERR_TOO_LARGE ? ST7_EXIT_INVALID_FILE : ST7_EXIT_IO;
		} else {
			ret = st7_pack_add_input(&image, &o, st7_input_format_from_name(path),
			                         in.data, in.len, has_addr, (uint32_t)addr, &d);
			if (ret) {
				st7_err("%s: %s", path, d.msg);
				rc = ret == ST7_ERR_INVALID ? ST7_EXIT_USAGE
				                            : ST7_EXIT_INVALID_FILE;
			}
		}
		st7_buf_free(&in);
	}
	if (rc == ST7_EXIT_OK) {
		int ret = st7_pack_build(&image, &o, &out, &d);
		if (ret) {
			st7_err("%s: %s", output, d.msg);
			rc = ret == ST7_ERR_NOMEM ? ST7_EXIT_FAILURE : ST7_EXIT_INVALID_FILE;
		}
	}
	if (rc == ST7_EXIT_OK && st7_file_write_atomic(output, out.data, out.len, 0644, &d)) {
		st7_err("%s: %s", output, d.msg);
		rc = ST7_EXIT_IO;
	}
	if (rc == ST7_EXIT_OK) {
		/* Describe what was written by decoding it again: the same check a
		 * gateway will run. */
		struct st7_inspect_report r;
		struct st7_buf text;
		struct st7_json j;
		st7_inspect_init(&r);
		st7_buf_init(&text);
		st7_json_init(&j, &text);
		if (st7_inspect(&r, out.data, out.len, o.profile) != ST7_OK) {
			st7_err("%s: internal error, the written file does not decode: %s", output,
			        r.diag.msg);
			rc = ST7_EXIT_FAILURE;
		}
		if (json) {
			st7_inspect_json(&r, output, &j);
			st7_buf_printf(&text, "\n");
		} else {
			st7_inspect_text(&r, output, &text);
		}
		if (rc == ST7_EXIT_OK && st7_json_finish(&j) == ST7_OK)
			rc = emit(&text);
		st7_buf_free(&text);
		st7_inspect_free(&r);
	}
	st7_buf_free(&out);
	st7_memimg_free(&image);
	return rc;
}

/* ---- list ---------------------------------------------------------------------------- */

static const char list_usage[] =
        "Usage: st7dfu list [--json]\n"
        "\n"
        "List every DFU-capable USB device, in runtime and in DFU mode (DFU 1.0, 1.1 and\n"
        "DfuSe): bus and port path, VID:PID, bcdDevice, strings, mode, DFU version,\n"
        "attributes, detach timeout, transfer size, alternate settings with their names\n"
        "(DfuSe memory layouts decoded), and the ST7 profile the descriptors fit.\n"
        "A device with unusable descriptors, or one that cannot be opened, is listed with\n"
        "the problem. Other USB devices are never opened.\n"
        "\n"
        "  --json   print one JSON document (see README, \"list --json\")\n"
        "\n"
        "Exit status 0 (also when no device is found), 7 when USB cannot be used at all.\n";

static int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(list_usage, stdout);
			return ST7_EXIT_OK;
		default:
			return usage_error("list", "bad option");
		}
	}
	if (optind < argc)
		return usage_error("list", "unexpected argument '%s'", argv[optind]);

	struct st7_usb usb;
	struct st7_diag d = { "" };
	struct st7_usb_found *found = NULL;
	struct st7_dfu_device *devs = NULL;
	size_t n_found = 0, n_devs = 0;
	struct st7_buf out;
	struct st7_json j;
	int rc = ST7_EXIT_OK;

	st7_buf_init(&out);
	st7_json_init(&j, &out);
	if (st7_usb_libusb_init(&usb, &d) != ST7_OK) {
		st7_err("%s", d.msg);
		return ST7_EXIT_USB;
	}
	if (st7_usb_scan(&usb, st7_dfu_list_wants, &found, &n_found, &d) != ST7_OK) {
		st7_err("%s", d.msg);
		rc = ST7_EXIT_USB;
		goto cleanup;
	}
	if (st7_dfu_list_build(found, n_found, &devs, &n_devs) != ST7_OK) {
		rc = ST7_EXIT_FAILURE;
		goto cleanup;
	}
	for (size_t i = 0; i < n_devs; i++)
		if (devs[i].problem[0])
			st7_warn("%s: %s", devs[i].usb->path, devs[i].problem);
	if (json) {
		st7_dfu_list_json(devs, n_devs, &j);
		st7_buf_printf(&out, "\n");
	} else {
		st7_dfu_list_text(devs, n_devs, &out);
	}
	rc = st7_json_finish(&j) == ST7_OK ? emit(&out) : ST7_EXIT_FAILURE;
cleanup:
	free(devs);
	st7_usb_found_free(found, n_found);
	st7_usb_free(&usb);
	st7_buf_free(&out);
	return rc;
}

/* ---- device commands ------------------------------------------------------------------ */

/* Set by SIGINT/SIGTERM; the engine stops at the next safe point. Further signals only
 * set it again: nothing is interrupted half-way. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ---- where images come from: files or https URLs, and their signatures ---------------- */

/* Default image size limit, for files and downloads alike (--max-size). */
#define DEFAULT_MAX_IMAGE ((uint64_t)16 << 20)

struct source_args {
	struct st7_source_opts src;
	struct st7_fetch_opts net;
	bool needs_fetcher;
};

enum {
	OPT_SRC_KEYS = 400,
	OPT_SRC_SIG,
	OPT_SRC_UNSIGNED,
	OPT_NET_CA,
	OPT_NET_CERT,
	OPT_NET_KEY,
	OPT_NET_HTTP,
	OPT_NET_CONNECT,
	OPT_NET_TIMEOUT,
	OPT_NET_LS_LIMIT,
	OPT_NET_LS_TIME,
	OPT_NET_MAX_SIZE
};

#define SOURCE_LONG_OPTIONS                                                       \
	{ "keys", required_argument, NULL, OPT_SRC_KEYS },                        \
	        { "sig", required_argument, NULL, OPT_SRC_SIG },                  \
	        { "allow-unsigned", no_argument, NULL, OPT_SRC_UNSIGNED },        \
	        { "ca-file", required_argument, NULL, OPT_NET_CA },               \
	        { "client-cert", required_argument, NULL, OPT_NET_CERT },         \
	        { "client-key", required_argument, NULL, OPT_NET_KEY },           \
	        { "allow-http", no_argument, NULL, OPT_NET_HTTP },                \
	        { "connect-timeout", required_argument, NULL, OPT_NET_CONNECT },  \
	        { "timeout", required_argument, NULL, OPT_NET_TIMEOUT },          \
	        { "low-speed-limit", required_argument, NULL, OPT_NET_LS_LIMIT }, \
	        { "low-speed-time", required_argument, NULL, OPT_NET_LS_TIME },   \
	{                                                                         \
		"max-size", required_argument, NULL, OPT_NET_MAX_SIZE             \
	}

#define SOURCE_OPTIONS_HELP                                                                \
	"Signatures (FILE.sig / URL.sig, as 'openssl dgst -sha256 -sign' writes them):\n"  \
	"  --keys DIR            trusted public keys, *.pem (default /etc/st7dfu/keys)\n"  \
	"  --sig FILE|URL        the signature, when not SOURCE.sig\n"                     \
	"  --allow-unsigned      skip the signature check (logged; never in the field)\n"  \
	"Downloads (https only; proxies from https_proxy / no_proxy):\n"                   \
	"  --ca-file PEM         trust only this CA (pinning) instead of the system's\n"   \
	"  --client-cert PEM     client certificate for servers that require one (mTLS)\n" \
	"  --client-key PEM      its key (default: in --client-cert)\n"                    \
	"  --allow-http          lab only: accept http:// and redirects to it (logged)\n"  \
	"  --connect-timeout S   default 20\n"                                             \
	"  --timeout S           a whole download, default 900\n"                          \
	"  --low-speed-limit B   abandon a download slower than B bytes/s ...\n"           \
	"  --low-speed-time S    ... for S seconds (defaults 256 and 60)\n"                \
	"  --max-size N[K|M|G]   largest image accepted, at most 1G (default 16M)\n"       \
	"  --state-dir DIR       downloads are cached in DIR/cache (default /var/lib/st7dfu)\n"

static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-' || *s == '+')
		return false;
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	/* 1 GiB: far above any image, and within size_t on a 32-bit gateway. */
	if (*end || v == 0 || v > ((unsigned long long)1 << 30) >> shift)
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static void source_args_default(struct source_args *a)
{
	memset(a, 0, sizeof(*a));
	st7_fetch_opts_default(&a->net);
	a->net.max_size = DEFAULT_MAX_IMAGE;
	a->src.keys_dir = ST7_DEFAULT_KEYS_DIR;
	a->src.max_size = DEFAULT_MAX_IMAGE;
	a->src.conditional = true;
}

/* One source option: 1 when taken, 0 when not ours, or -(exit code) on a bad value. */
static int source_option(const char *cmd, int c, const char *arg, struct source_args *a)
{
	unsigned long long n;
	switch (c) {
	case OPT_SRC_KEYS:
		a->src.keys_dir = arg;
		return 1;
	case OPT_SRC_SIG:
		a->src.sig = arg;
		return 1;
	case OPT_SRC_UNSIGNED:
		a->src.allow_unsigned = true;
		return 1;
	case OPT_NET_CA:
		a->net.ca_file = arg;
		return 1;
	case OPT_NET_CERT:
		a->net.client_cert = arg;
		return 1;
	case OPT_NET_KEY:
		a->net.client_key = arg;
		return 1;
	case OPT_NET_HTTP:
		a->net.allow_http = true;
		return 1;
	case OPT_NET_CONNECT:
	case OPT_NET_TIMEOUT:
	case OPT_NET_LS_TIME:
		if (!parse_number(arg, 86400, &n) || n == 0)
			return -usage_error(cmd, "%s: expected seconds, 1..86400",
			                    c == OPT_NET_CONNECT   ? "--connect-timeout"
			                    : c == OPT_NET_TIMEOUT ? "--timeout"
			                                           : "--low-speed-time");
		if (c == OPT_NET_CONNECT)
			a->net.connect_timeout_s = (uint32_t)n;
		else if (c == OPT_NET_TIMEOUT)
			a->net.total_timeout_s = (uint32_t)n;
		else
			a->net.low_speed_time_s = (uint32_t)n;
		return 1;
	case OPT_NET_LS_LIMIT:
		if (!parse_number(arg, 1u << 30, &n) || n == 0)
			return -usage_error(cmd, "--low-speed-limit: expected bytes/s, 1..2^30");
		a->net.low_speed_bytes = (uint32_t)n;
		return 1;
	case OPT_NET_MAX_SIZE:
		if (!parse_size(arg, &a->src.max_size))
			return -usage_error(cmd,
			                    "--max-size: expected N, NK, NM or 1G (at most 1 GiB)");
		a->net.max_size = a->src.max_size;
		return 1;
	}
	return 0;
}

static int source_exit(int err)
{
	switch (err) {
	case ST7_OK:
		return ST7_EXIT_OK;
	case ST7_ERR_SIGNATURE:
		return ST7_EXIT_UNTRUSTED;
	case ST7_ERR_RETRY_LATER:
		return ST7_EXIT_RETRY_LATER;
	case ST7_ERR_NETWORK:
	case ST7_ERR_TLS:
	case ST7_ERR_HTTP:
	case ST7_ERR_TIMEOUT:
	case ST7_ERR_RANGE:
		return ST7_EXIT_NETWORK;
	case ST7_ERR_TOO_LARGE:
		return ST7_EXIT_INVALID_FILE;
	case ST7_ERR_ABORTED:
		return ST7_EXIT_ABORTED;
	case ST7_ERR_INVALID:
		return ST7_EXIT_USAGE;
	case ST7_ERR_NOMEM:
		return ST7_EXIT_FAILURE;
	default:
		return ST7_EXIT_IO;
	}
}

/*
 * Get the image at `source` (file or URL) and check its signature, before any device is
 * looked at. `state_dir` holds the download cache. Logs the reason on failure.
 */
static int obtain_image(struct source_args *a, const char *source, const char *state_dir,
                        struct st7_buf *out, struct st7_source_report *r,
                        volatile sig_atomic_t *abort_flag, struct st7_diag *dout)
{
	struct st7_diag d = { "" };
	struct st7_fetcher f = { NULL, NULL };
	char cache_dir[PATH_MAX];
	int ret;
	bool remote = st7_url_is_remote(source) || (a->src.sig && st7_url_is_remote(a->src.sig));
	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
	if (snprintf(cache_dir, sizeof(cache_dir), "%s/cache", state_dir) >=
	    (int)sizeof(cache_dir)) {
		st7_err("--state-dir: path too long");
		return ST7_EXIT_USAGE;
	}
	a->net.abort_flag = abort_flag;
	if (remote && (ret = st7_fetch_curl_init(&f, &a->net, &d)) != ST7_OK) {
		st7_err("%s", d.msg);
		return ST7_EXIT_FAILURE;
	}
	a->src.fetcher = remote ? &f : NULL;
	a->src.cache_dir = cache_dir;
	ret = st7_source_obtain(&a->src, source, out, r, &d);
	a->src.fetcher = NULL;
	a->src.cache_dir = NULL;
	st7_fetch_free(&f);
	if (ret) {
		st7_err("%s", d.msg);
		if (r->retry_after_s >= 0)
			st7_info("retry after %lld s", (long long)r->retry_after_s);
	}
	if (dout)
		*dout = d;
	/* A download cut at the size limit is a failed download, not a bad file. */
	if (ret == ST7_ERR_TOO_LARGE && r->remote)
		return ST7_EXIT_NETWORK;
	return source_exit(ret);
}

/* Progress: a bar on a TTY, a line per phase otherwise, JSON events with --json. */
struct progress_view {
	bool tty, json;
	const char *phase;
	uint64_t start_ms, last_ms;
	int last_pct;
};

static uint64_t wall_ms(void)
{
	return st7_clock_posix.now_ms(NULL);
}

static void on_progress(void *arg, const char *phase, size_t done, size_t total)
{
	struct progress_view *v = arg;
	uint64_t t = wall_ms();
	int pct = total ? (int)(done * 100 / total) : 100;
	bool new_phase = !v->phase || strcmp(v->phase, phase) != 0;
	if (new_phase) {
		if (v->tty && v->phase)
			fputc('\n', stderr);
		v->phase = phase;
		v->start_ms = t;
		v->last_pct = -1;
	}
	if (v->json) {
		if (new_phase || pct == 100 || t - v->last_ms >= 250) {
			printf("{\"event\":\"progress\",\"phase\":\"%s\",\"done\":%zu,\"total\":%"
			       "zu}\n",
			       phase, done, total);
			fflush(stdout);
			v->last_ms = t;
		}
		return;
	}
	if (!v->tty) {
		if (new_phase)
			fprintf(stderr, "st7dfu: %s...\n", phase);
		return;
	}
	if (pct == v->last_pct && t - v->last_ms < 200)
		return;
	if (total <= 1) { /* a phase without bytes to count: detach, manifest */
		fprintf(stderr, "\r%-9s %s", phase, done >= total ? "done" : "...");
		fflush(stderr);
		v->last_pct = pct;
		v->last_ms = t;
		return;
	}
	double secs = (double)(t - v->start_ms) / 1000.0;
	double rate = secs > 0 ? (double)done / secs : 0;
	double eta = rate > 0 && total > done ? (double)(total - done) / rate : 0;
	int bar = pct / 5;
	fprintf(stderr, "\r%-9s [%.*s%*s] %3d%% %zu/%zu B %6.1f KiB/s ETA %3.0fs", phase, bar,
	        "####################", 20 - bar, "", pct, done, total, rate / 1024.0, eta);
	fflush(stderr);
	v->last_pct = pct;
	v->last_ms = t;
}

static void progress_end(struct progress_view *v)
{
	if (v->tty && v->phase)
		fputc('\n', stderr);
	v->phase = NULL;
}

struct device_args {
	struct st7_selector sel;
	struct st7_engine_opts eng;
	struct st7_upgrade_opts upg;
	bool json;
	const char *output; /* upload -o */
	const char *to;     /* rollback --to */
	struct source_args src;
};

enum {
	OPT_DEV_PATH = 300,
	OPT_DEV_SERIAL,
	OPT_DEV_STATE,
	OPT_DEV_DOWNGRADE,
	OPT_DEV_WILDCARD,
	OPT_DEV_NOBACKUP,
	OPT_DEV_VERIFY,
	OPT_DEV_KEEP,
	OPT_DEV_PROFILE,
	OPT_DEV_RETRIES,
	OPT_DEV_REENUM,
	OPT_DEV_MAXPOLL,
	OPT_DEV_TO,
	OPT_DEV_JSON,
	OPT_DEV_NOVERIFY,
	OPT_DEV_UNVERSIONED
};

/* Options every device command takes; the command says which others apply. */
static int parse_device_args(const char *cmd, int argc, char **argv, struct device_args *a)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "path", required_argument, NULL, OPT_DEV_PATH },
		{ "serial", required_argument, NULL, OPT_DEV_SERIAL },
		{ "state-dir", required_argument, NULL, OPT_DEV_STATE },
		{ "allow-downgrade", no_argument, NULL, OPT_DEV_DOWNGRADE },
		{ "allow-wildcard", no_argument, NULL, OPT_DEV_WILDCARD },
		{ "no-backup", no_argument, NULL, OPT_DEV_NOBACKUP },
		{ "verify", no_argument, NULL, OPT_DEV_VERIFY },
		{ "no-verify", no_argument, NULL, OPT_DEV_NOVERIFY },
		{ "allow-unversioned", no_argument, NULL, OPT_DEV_UNVERSIONED },
		{ "keep-backups", required_argument, NULL, OPT_DEV_KEEP },
		{ "profile", required_argument, NULL, OPT_DEV_PROFILE },
		{ "retries", required_argument, NULL, OPT_DEV_RETRIES },
		{ "reenum-timeout", required_argument, NULL, OPT_DEV_REENUM },
		{ "max-poll", required_argument, NULL, OPT_DEV_MAXPOLL },
		{ "to", required_argument, NULL, OPT_DEV_TO },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, OPT_DEV_JSON },
		{ "help", no_argument, NULL, 'h' },
		SOURCE_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = ST7_EXIT_OK;
	unsigned long long n;
	memset(a, 0, sizeof(*a));
	source_args_default(&a->src);
	st7_engine_opts_default(&a->eng);
	st7_upgrade_opts_default(&a->upg);
	while ((c = getopt_long(argc, argv, "+d:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': {
			char *colon = strchr(optarg, ':');
			if (!colon)
				return usage_error(cmd, "-d '%s': expected VID:PID", optarg);
			*colon = '\0';
			if (!parse_usb_id(optarg, &a->sel.vid) ||
			    !parse_usb_id(colon + 1, &a->sel.pid))
				return usage_error(cmd, "-d: expected VID:PID in hex");
			a->sel.has_id = true;
			break;
		}
		case OPT_DEV_PATH:
			a->sel.path = optarg;
			break;
		case OPT_DEV_SERIAL:
			a->sel.serial = optarg;
			break;
		case OPT_DEV_STATE:
			a->upg.state_dir = optarg;
			break;
		case OPT_DEV_DOWNGRADE:
			a->upg.allow_downgrade = true;
			break;
		case OPT_DEV_WILDCARD:
			a->upg.allow_wildcard = true;
			break;
		case OPT_DEV_NOBACKUP:
			a->upg.no_backup = true;
			break;
		case OPT_DEV_VERIFY:
			a->upg.verify = true;
			break;
		case OPT_DEV_NOVERIFY:
			a->upg.no_verify = true;
			break;
		case OPT_DEV_UNVERSIONED:
			a->upg.allow_unversioned = true;
			break;
		case OPT_DEV_KEEP:
			if (!parse_number(optarg, 1000, &n) || n == 0)
				return usage_error(cmd, "--keep-backups: expected 1..1000");
			a->upg.keep_backups = (unsigned)n;
			break;
		case OPT_DEV_PROFILE:
			a->upg.profile = parse_profile(cmd, optarg, &rc);
			if (!a->upg.profile)
				return rc;
			break;
		case OPT_DEV_RETRIES:
			if (!parse_number(optarg, 100, &n) || n == 0)
				return usage_error(cmd, "--retries: expected 1..100");
			a->eng.retries = (unsigned)n;
			break;
		case OPT_DEV_REENUM:
			if (!parse_number(optarg, 600000, &n) || n == 0)
				return usage_error(cmd,
				                   "--reenum-timeout: milliseconds, 1..600000");
			a->eng.reenum_timeout_ms = (uint32_t)n;
			break;
		case OPT_DEV_MAXPOLL:
			if (!parse_number(optarg, 600000, &n) || n == 0)
				return usage_error(cmd, "--max-poll: milliseconds, 1..600000");
			a->eng.poll_cap_ms = (uint32_t)n;
			break;
		case OPT_DEV_TO:
			a->to = optarg;
			break;
		case 'o':
			a->output = optarg;
			break;
		case OPT_DEV_JSON:
			a->json = true;
			break;
		case 'h':
			fputs(find_command(cmd)->usage, stdout);
			return -1;
		default:
			rc = source_option(cmd, c, optarg, &a->src);
			if (rc < 0)
				return -rc;
			if (rc == 0)
				return usage_error(cmd, "bad option");
			rc = ST7_EXIT_OK;
		}
	}
	if (a->upg.verify && a->upg.no_verify)
		return usage_error(cmd, "--verify and --no-verify contradict each other");
	return ST7_EXIT_OK;
}

#define DEVICE_OPTIONS_HELP                                                                \
	"Choosing the device (with exactly one DFU device attached, it is the default):\n" \
	"  -d, --device VID:PID  its current USB IDs (hex)\n"                              \
	"  --path BUS-PORT[.PORT...]  its USB port path, as 'st7dfu list' shows it\n"      \
	"  --serial S            its serial number\n"                                      \
	"Timing:\n"                                                                        \
	"  --retries N           download attempts (default 3)\n"                          \
	"  --reenum-timeout MS   wait for re-enumeration (default 15000)\n"                \
	"  --max-poll MS         cap on the device's bwPollTimeout (default 10000)\n"      \
	"  --json                JSON events and result on stdout\n"

/* What every device command holds: options, the image it installs (if any), the
 * transport, the engine and the progress display. */
struct session {
	struct device_args a;
	struct st7_usb usb;
	struct st7_engine e;
	struct progress_view pv;
	struct st7_buf file;
	struct st7_dfu_file img;
	const char *path;  /* the FILE argument, or NULL */
	bool to_is_backup; /* rollback --to names one of STATE/backups */
	struct st7_source_report src;
};

/*
 * rollback --to FILE: one of this gateway's own backups (in STATE/backups, read with the
 * backup rules), or else an image like any other, which a trusted key must have signed.
 * Either way it is read once, into the session: the bytes checked are the bytes flashed.
 */
static int load_rollback_file(struct session *s)
{
	struct device_args *a = &s->a;
	char backups[PATH_MAX], real_backups[PATH_MAX], real_to[PATH_MAX];
	struct st7_diag d = { "" };
	size_t n;
	if (snprintf(backups, sizeof(backups), "%s/backups", a->upg.state_dir) >=
	    (int)sizeof(backups))
		return usage_error("rollback", "--state-dir: path too long");
	if (realpath(a->to, real_to) && realpath(backups, real_backups) &&
	    (n = strlen(real_backups)) && strncmp(real_to, real_backups, n) == 0 &&
	    real_to[n] == '/') {
		int ret = st7_backup_load(real_to, &s->file, &s->img, &d);
		s->to_is_backup = true;
		if (ret == ST7_OK)
			return ST7_EXIT_OK;
		st7_err("%s: %s", a->to, d.msg);
		return ret == ST7_ERR_IO || ret == ST7_ERR_TOO_LARGE ? ST7_EXIT_IO
		                                                     : ST7_EXIT_INVALID_FILE;
	}
	int rc = obtain_image(&a->src, a->to, a->upg.state_dir, &s->file, &s->src, &stop_requested,
	                      NULL);
	if (rc)
		return rc;
	if (st7_dfu_file_parse(&s->img, s->file.data, s->file.len, 0, &d) != ST7_OK) {
		st7_err("%s: %s", a->to, d.msg);
		return ST7_EXIT_INVALID_FILE;
	}
	return ST7_EXIT_OK;
}

/*
 * Parse the options (FILE when `wants_file`, -o when `wants_output`), read and check FILE, select
 * the device. Returns an exit code; -1 when --help was answered. session_end() is due in every
 * case.
 */
static int session_start(struct session *s, const char *cmd, int argc, char **argv, bool wants_file,
                         bool wants_output)
{
	struct st7_diag d = { "" };
	memset(s, 0, sizeof(*s));
	st7_buf_init(&s->file);
	st7_dfu_file_init(&s->img);
	int rc = parse_device_args(cmd, argc, argv, &s->a);
	if (rc)
		return rc;
	if (wants_file && optind != argc - 1)
		return usage_error(cmd, "expected exactly one FILE.dfu or https URL");
	if (!wants_file && optind != argc)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (wants_output && !s->a.output)
		return usage_error(cmd, "-o FILE is required");
	install_signals();
	if (s->a.to && (rc = load_rollback_file(s)) != ST7_EXIT_OK)
		return rc;
	s->pv.tty = isatty(STDERR_FILENO) && !s->a.json;
	s->pv.json = s->a.json;
	s->a.src.net.progress = on_progress;
	s->a.src.net.progress_arg = &s->pv;
	if (wants_file) {
		s->path = argv[optind];
		/* Trust before anything else: a file nobody trusted is never parsed further,
		 * and no device is looked at. */
		rc = obtain_image(&s->a.src, s->path, s->a.upg.state_dir, &s->file, &s->src,
		                  &stop_requested, NULL);
		if (rc)
			return rc;
		if (st7_dfu_file_parse(&s->img, s->file.data, s->file.len, 0, &d) != ST7_OK) {
			st7_err("%s: %s", s->path, d.msg);
			return ST7_EXIT_INVALID_FILE;
		}
	}
	if (st7_usb_libusb_init(&s->usb, &d) != ST7_OK) {
		st7_err("%s", d.msg);
		return ST7_EXIT_USB;
	}
	st7_engine_init(&s->e, &s->usb, &st7_clock_posix, &s->a.eng);
	s->e.abort_flag = &stop_requested;
	s->e.progress = on_progress;
	s->e.progress_arg = &s->pv;
	int ret = st7_engine_select(&s->e, &s->a.sel, &d);
	if (ret) {
		st7_err("%s", d.msg);
		return ret == ST7_ERR_NO_DEVICE || ret == ST7_ERR_AMBIGUOUS ? ST7_EXIT_NO_DEVICE
		                                                            : ST7_EXIT_USB;
	}
	return ST7_EXIT_OK;
}

static int session_end(struct session *s, int rc)
{
	progress_end(&s->pv);
	st7_engine_free(&s->e);
	st7_usb_free(&s->usb);
	st7_dfu_file_free(&s->img);
	st7_buf_free(&s->file);
	return rc < 0 ? ST7_EXIT_OK : rc;
}

static int outcome_exit(enum st7_upgrade_outcome o)
{
	switch (o) {
	case ST7_UPG_DONE:
		return ST7_EXIT_OK;
	case ST7_UPG_NOTHING:
		return ST7_EXIT_NOTHING;
	case ST7_UPG_REFUSED:
		return ST7_EXIT_INVALID_FILE;
	case ST7_UPG_NO_DEVICE:
		return ST7_EXIT_NO_DEVICE;
	case ST7_UPG_UNTOUCHED:
		return ST7_EXIT_USB;
	case ST7_UPG_ROLLED_BACK:
		return ST7_EXIT_ROLLED_BACK;
	case ST7_UPG_LEFT_IN_DFU:
		return ST7_EXIT_LEFT_IN_DFU;
	case ST7_UPG_ABORTED:
		return ST7_EXIT_ABORTED;
	case ST7_UPG_STORAGE:
		return ST7_EXIT_IO;
	case ST7_UPG_UNVERIFIED:
		return ST7_EXIT_UNVERIFIED;
	}
	return ST7_EXIT_FAILURE;
}

static void print_report(const char *cmd, const struct st7_engine *e,
                         const struct st7_upgrade_report *r, const struct st7_source_report *src,
                         bool json)
{
	if (json) {
		struct st7_buf b;
		struct st7_json j;
		json_line_begin(&b, &j);
		st7_json_key(&j, "event");
		st7_json_str(&j, "result");
		st7_json_key(&j, "command");
		st7_json_str(&j, cmd);
		st7_json_key(&j, "outcome");
		st7_json_str(&j, st7_upgrade_outcome_name(r->outcome));
		st7_json_key(&j, "exit_code");
		st7_json_uint(&j, (uint64_t)outcome_exit(r->outcome));
		st7_json_key(&j, "device");
		st7_json_str(&j, e->path);
		st7_json_key(&j, "serial");
		st7_json_str(&j, e->serial);
		st7_json_key(&j, "from_version");
		if (r->had_version)
			st7_json_uint(&j, r->from_version);
		else
			st7_json_null(&j);
		st7_json_key(&j, "to_version");
		if (r->outcome == ST7_UPG_DONE || r->outcome == ST7_UPG_ROLLED_BACK ||
		    r->outcome == ST7_UPG_UNVERIFIED)
			st7_json_uint(&j, r->to_version);
		else
			st7_json_null(&j);
		st7_json_key(&j, "backup");
		st7_json_str(&j, r->backup[0] ? r->backup : NULL);
		st7_json_key(&j, "attempts");
		st7_json_uint(&j, r->attempts);
		st7_json_key(&j, "error");
		st7_json_str(&j, r->error[0] ? r->error : NULL);
		if (src) { /* what was installed, and who vouched for it */
			st7_json_key(&j, "image_sha256");
			st7_json_str(&j, src->sha256[0] ? src->sha256 : NULL);
			st7_json_key(&j, "signer");
			st7_json_str(&j, src->verified ? src->signer : NULL);
			st7_json_key(&j, "fetch");
			st7_json_str(&j, !src->remote        ? NULL
			                 : src->not_modified ? "not-modified"
			                 : src->resumed      ? "resumed"
			                                     : "downloaded");
		}
		json_line_emit(&b, &j);
		return;
	}
	switch (r->outcome) {
	case ST7_UPG_DONE:
		printf("%s: %s: now running 0x%04X%s%s\n", e->path, cmd, r->to_version,
		       r->backup[0] ? "; backup " : "", r->backup);
		break;
	case ST7_UPG_NOTHING:
		printf("%s: nothing to do: %s\n", e->path, r->error);
		break;
	case ST7_UPG_UNVERIFIED:
		printf("%s: %s: now running 0x%04X, but UNVERIFIED%s%s\n", e->path, cmd,
		       r->to_version, r->backup[0] ? "; backup set aside: " : "", r->backup);
		st7_err("%s", r->error);
		break;
	case ST7_UPG_ROLLED_BACK:
		printf("%s: %s FAILED; rolled back to 0x%04X from %s\n", e->path, cmd,
		       r->to_version, r->backup);
		st7_err("%s", r->error);
		break;
	case ST7_UPG_LEFT_IN_DFU: {
		char where[64];
		if (!e->dev)
			snprintf(where, sizeof(where), "not on the bus");
		else if (e->dfu.mode == ST7_DFU_MODE_DFU)
			snprintf(where, sizeof(where), "LEFT IN DFU MODE");
		else
			snprintf(where, sizeof(where), "in runtime mode reporting 0x%04X",
			         e->dev->dev.bcd_device);
		/* Only an upgrade tries a rollback of its own. */
		printf("%s: %s FAILED%s; the device is %s; run 'st7dfu rollback' or 'st7dfu "
		       "upgrade' again\n",
		       e->path, cmd, r->rollback_tried ? " and so did the rollback" : "", where);
		st7_err("%s", r->error);
		break;
	}
	default:
		printf("%s: %s %s\n", e->path, cmd, st7_upgrade_outcome_name(r->outcome));
		st7_err("%s", r->error);
		break;
	}
	fflush(stdout);
}

static const char upgrade_usage[] =
        "Usage: st7dfu upgrade [DEVICE] [OPTIONS] FILE.dfu|https://.../FILE.dfu\n"
        "\n"
        "Update a device to FILE.dfu, keeping the old firmware. First the file (or download)\n"
        "must carry a valid signature from a trusted key; nothing is touched otherwise.\n"
        "Then it is checked against the device (suffix CRC, idVendor/idProduct, bcdDevice\n"
        "newer than installed, image size = the ST7 part's writable region, version word =\n"
        "suffix bcdDevice, never 0xFFFF for ST7) and the state directory must be able to\n"
        "hold the backup. A device found in DFU mode is first reset: if it holds a valid\n"
        "application it runs again and is treated like any other; if not, its identity is\n"
        "its newest stored backup's (or its version word's). The installed firmware is\n"
        "read twice (three times if the reads differ), stored durably, then detach,\n"
        "download (with retries), manifest, a post-check of the new version and, on ST7\n"
        "parts, a read-back of the new firmware. Any failure after the backup restores it.\n"
        "\n"
        "  --state-dir DIR     backups go to DIR/backups/VID-PID-SERIAL/VERSION.dfu\n"
        "                      (default /var/lib/st7dfu; private: 0700/0600)\n"
        "  --keep-backups N    newest backups kept per device (default 3)\n"
        "  --allow-downgrade   install an older (or the same) version\n"
        "  --allow-wildcard    accept 0xFFFF IDs in the file's suffix\n"
        "  --allow-unversioned accept bcdDevice 0xFFFF (no version; not for ST7 images)\n"
        "  --no-backup         proceed without a backup (a failure then cannot roll back)\n"
        "  --verify            read the firmware back after the update on any device\n"
        "  --no-verify         skip the read-back ST7 parts get by default\n"
        "  --profile NAME      the ST7 part, when the descriptors cannot "
        "tell\n" SOURCE_OPTIONS_HELP DEVICE_OPTIONS_HELP;

static int cmd_upgrade(int argc, char **argv)
{
	struct session s;
	int rc = session_start(&s, "upgrade", argc, argv, true, false);
	if (rc == ST7_EXIT_OK) {
		struct st7_upgrade_report r;
		st7_upgrade(&s.e, &s.img, &s.a.upg, &r);
		progress_end(&s.pv);
		print_report("upgrade", &s.e, &r, &s.src, s.a.json);
		rc = outcome_exit(r.outcome);
	}
	return session_end(&s, rc);
}

static const char rollback_usage[] =
        "Usage: st7dfu rollback [DEVICE] [--state-dir DIR] [--to FILE]\n"
        "\n"
        "Restore the newest stored backup of the device (or FILE), whatever its version:\n"
        "going down is the point. Works on a device left in DFU mode by an interrupted\n"
        "update; one that still holds its application but has no backup is sent back to\n"
        "it (exit 4). Backups set aside as *.unproven are never chosen; --to can name one.\n"
        "A FILE outside STATE/backups must carry a trusted signature, like any image\n"
        "(--keys, --sig, --allow-unsigned); the bytes checked are the bytes "
        "flashed.\n" DEVICE_OPTIONS_HELP;

static int cmd_rollback(int argc, char **argv)
{
	struct session s;
	int rc = session_start(&s, "rollback", argc, argv, false, false);
	if (rc == ST7_EXIT_OK) {
		struct st7_upgrade_report r;
		st7_rollback(&s.e, s.a.to ? &s.img : NULL, s.a.to, s.to_is_backup, &s.a.upg, &r);
		progress_end(&s.pv);
		print_report("rollback", &s.e, &r, NULL, s.a.json);
		rc = outcome_exit(r.outcome);
	}
	return session_end(&s, rc);
}

static const char upload_usage[] =
        "Usage: st7dfu upload [DEVICE] -o FILE.dfu\n"
        "\n"
        "Read the device's firmware into a .dfu file whose suffix carries the device's IDs\n"
        "and version: an ST7's writable region (its size must be a part's region, and its\n"
        "version word the reported bcdDevice), a DFU 1.1 device's memory, or every readable\n"
        "segment of a DfuSe device's alternate settings (a DfuSe file). It is read twice\n"
        "(three times when the reads differ) and written only when two reads agree. The\n"
        "device returns to runtime mode after, also when the read failed.\n" DEVICE_OPTIONS_HELP;

static int cmd_upload(int argc, char **argv)
{
	struct session s;
	struct st7_diag d = { "" };
	int rc = session_start(&s, "upload", argc, argv, false, true);
	if (rc == ST7_EXIT_OK) {
		int ret = st7_upload_to_file(&s.e, &s.a.upg, s.a.output, &d);
		progress_end(&s.pv);
		if (ret) {
			st7_err("%s: %s", s.e.path, d.msg);
			rc = ret == ST7_ERR_IO        ? ST7_EXIT_IO
			     : ret == ST7_ERR_ABORTED ? ST7_EXIT_ABORTED
			                              : ST7_EXIT_USB;
		} else {
			printf("%s: firmware written to %s\n", s.e.path, s.a.output);
		}
	}
	return session_end(&s, rc);
}

static const char download_usage[] =
        "Usage: st7dfu download [DEVICE] [OPTIONS] FILE.dfu|https://.../FILE.dfu\n"
        "\n"
        "Download FILE.dfu's payload as it is, like dfu-util -D: no backup, no version order\n"
        "(the file must still be a valid .dfu, signed by a trusted key like any image we\n"
        "flash). It must still suit the target, checked before the device is detached:\n"
        "its suffix IDs match the device (0xFFFF matches any, DFU 1.1 appendix B), and an\n"
        "ST7 image fills the part's writable region and carries a version. Then manifest\n"
        "and reset. A DfuSe file goes to a DfuSe device: each target to its alternate\n"
        "setting, the pages its elements touch erased first (from the device's memory\n"
        "layout; a file outside it is refused and the device sent back), then "
        "\"leave\".\n" SOURCE_OPTIONS_HELP DEVICE_OPTIONS_HELP;

static int cmd_download(int argc, char **argv)
{
	struct session s;
	int rc = session_start(&s, "download", argc, argv, true, false);
	if (rc == ST7_EXIT_OK) {
		struct st7_upgrade_report r;
		st7_download(&s.e, &s.img, &s.a.upg, &r);
		progress_end(&s.pv);
		print_report("download", &s.e, &r, &s.src, s.a.json);
		rc = outcome_exit(r.outcome);
	}
	return session_end(&s, rc);
}

static const char detach_usage[] =
        "Usage: st7dfu detach [DEVICE]\n"
        "\n"
        "Switch a runtime-mode device to DFU mode (DFU_DETACH, then a\n"
        "USB reset unless the device detaches itself).\n" DEVICE_OPTIONS_HELP;

static int cmd_detach(int argc, char **argv)
{
	struct session s;
	struct st7_diag d = { "" };
	int rc = session_start(&s, "detach", argc, argv, false, false);
	if (rc == ST7_EXIT_OK) {
		int ret = st7_engine_enter_dfu(&s.e, &d);
		progress_end(&s.pv);
		if (ret) {
			st7_err("%s: %s", s.e.path, d.msg);
			rc = ST7_EXIT_USB;
		} else {
			printf("%s: in DFU mode (%04x:%04x)\n", s.e.path, s.e.dev->dev.id_vendor,
			       s.e.dev->dev.id_product);
		}
	}
	return session_end(&s, rc);
}

static const char status_usage[] = "Usage: st7dfu status [DEVICE] [--json]\n"
                                   "\n"
                                   "Show the device's mode and its DFU state and status\n"
                                   "(DFU_GETSTATUS).\n" DEVICE_OPTIONS_HELP;

static int cmd_status(int argc, char **argv)
{
	struct session s;
	struct st7_diag d = { "" };
	int rc = session_start(&s, "status", argc, argv, false, false);
	struct st7_engine *e = &s.e;
	if (rc == ST7_EXIT_OK) {
		struct st7_dfu_status_reply r;
		int ret = st7_engine_open(e, &d);
		if (ret == ST7_OK)
			ret = st7_engine_get_status(e, &r, &d);
		if (ret) {
			st7_err("%s: %s", e->path, d.msg);
			rc = ST7_EXIT_USB;
		} else if (s.a.json) {
			printf("{\"device\":\"%s\",\"mode\":\"%s\",\"vid\":%u,\"pid\":%u,"
			       "\"bcdDevice\":%u,\"state\":\"%s\",\"state_code\":%u,\"status\":\"%"
			       "s\","
			       "\"status_code\":%u,\"poll_timeout_ms\":%u}\n",
			       e->path, st7_dfu_mode_name(e->dfu.mode), e->dev->dev.id_vendor,
			       e->dev->dev.id_product, e->dev->dev.bcd_device,
			       st7_dfu_state_name(r.state), r.state, st7_dfu_status_name(r.status),
			       r.status, r.poll_timeout_ms);
		} else {
			printf("%s: %s mode, %04x:%04x bcdDevice 0x%04X, state %s, status %s "
			       "(%s)\n",
			       e->path, st7_dfu_mode_name(e->dfu.mode), e->dev->dev.id_vendor,
			       e->dev->dev.id_product, e->dev->dev.bcd_device,
			       st7_dfu_state_name(r.state), st7_dfu_status_name(r.status),
			       st7_dfu_status_text(r.status));
		}
	}
	return session_end(&s, rc);
}

/* ---- sign / verify / fetch ------------------------------------------------------------ */

static const char sign_usage[] =
        "Usage: st7dfu sign --key PRIVATE.pem [--pss] [-o SIG] FILE\n"
        "\n"
        "For vendors' build hosts: sign FILE's SHA-256 with an ECDSA P-256 or RSA (2048 to\n"
        "8192 bits) private key, writing FILE.sig (or SIG) in the format of 'openssl dgst\n"
        "-sha256 -sign KEY -out FILE.sig FILE'. Gateways never need the private key.\n"
        "\n"
        "  --key PEM    the unencrypted private key\n"
        "  --pss        RSA-PSS padding (default PKCS#1 v1.5); same as openssl's\n"
        "               -sigopt rsa_padding_mode:pss\n"
        "  -o SIG       where to write the signature (default FILE.sig)\n";

static int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "pss", no_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key_path = NULL, *out_path = NULL;
	enum st7_sig_padding padding = ST7_SIG_PKCS1V15;
	struct st7_diag d = { "" };
	struct st7_buf key, sig;
	uint8_t digest[ST7_SHA256_LEN];
	uint64_t size;
	char sig_path[PATH_MAX], hex[2 * ST7_SHA256_LEN + 1];
	int c, rc = ST7_EXIT_OK;

	while ((c = getopt_long(argc, argv, "k:po:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'p':
			padding = ST7_SIG_PSS;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			fputs(sign_usage, stdout);
			return ST7_EXIT_OK;
		default:
			return usage_error("sign", "bad option");
		}
	}
	if (!key_path)
		return usage_error("sign", "--key PRIVATE.pem is required");
	if (optind != argc - 1)
		return usage_error("sign", "expected exactly one FILE");
	const char *path = argv[optind];
	if (!out_path) {
		if (snprintf(sig_path, sizeof(sig_path), "%s.sig", path) >= (int)sizeof(sig_path))
			return usage_error("sign", "path too long");
		out_path = sig_path;
	}
	st7_buf_init(&key);
	st7_buf_init(&sig);
	struct stat st;
	if (stat(key_path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
		st7_warn("%s: a private key others can read (chmod 600)", key_path);
	if (st7_file_read(key_path, ST7_KEY_FILE_MAX, &key, &d) != ST7_OK) {
		st7_err("%s: %s", key_path, d.msg);
		rc = ST7_EXIT_IO;
		goto cleanup;
	}
	if (st7_sha256_file(path, digest, &size, &d) != ST7_OK) {
		st7_err("%s", d.msg);
		rc = ST7_EXIT_IO;
		goto cleanup;
	}
	int ret = st7_sign_digest(key.data, key.len, padding, digest, &sig, &d);
	if (ret) {
		st7_err("%s: %s", key_path, d.msg);
		rc = ret == ST7_ERR_NOMEM ? ST7_EXIT_FAILURE : ST7_EXIT_INVALID_FILE;
		goto cleanup;
	}
	if (st7_file_write_atomic(out_path, sig.data, sig.len, 0644, &d) != ST7_OK) {
		st7_err("%s", d.msg);
		rc = ST7_EXIT_IO;
		goto cleanup;
	}
	st7_sha256_hex(digest, hex);
	printf("%s: signature of %s (%llu bytes, sha256 %s)\n", out_path, path,
	       (unsigned long long)size, hex);
cleanup:
	if (key.data)
		memset(key.data, 0, key.len);
	st7_buf_free(&key);
	st7_buf_free(&sig);
	return rc;
}

static const char verify_usage[] =
        "Usage: st7dfu verify [--keys DIR] [--json] FILE [SIG]\n"
        "\n"
        "Check that SIG (default FILE.sig) is a valid signature of FILE by one of the trusted\n"
        "keys: ECDSA P-256 (DER) or RSA 2048..8192 (PKCS#1 v1.5 or PSS), as 'openssl dgst\n"
        "-sha256 -sign' makes them. Exit 0 when it is, 12 when it is not.\n"
        "\n"
        "  --keys DIR   trusted public keys, *.pem (default /etc/st7dfu/keys)\n"
        "  --json       the result as JSON on stdout\n";

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keys", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keys_dir = ST7_DEFAULT_KEYS_DIR;
	bool json = false;
	struct st7_diag d = { "" };
	struct st7_keyring keys;
	struct st7_buf sig;
	uint8_t digest[ST7_SHA256_LEN];
	uint64_t size = 0;
	char sig_path[PATH_MAX], hex[2 * ST7_SHA256_LEN + 1] = "",
	                                                  signer[ST7_KEY_NAME_MAX + 32] = "";
	int c, rc = ST7_EXIT_OK, ret;
	bool hashed = false;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			keys_dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(verify_usage, stdout);
			return ST7_EXIT_OK;
		default:
			return usage_error("verify", "bad option");
		}
	}
	if (optind != argc - 1 && optind != argc - 2)
		return usage_error("verify", "expected FILE [SIG]");
	const char *path = argv[optind];
	if (optind == argc - 2)
		snprintf(sig_path, sizeof(sig_path), "%s", argv[optind + 1]);
	else if (snprintf(sig_path, sizeof(sig_path), "%s.sig", path) >= (int)sizeof(sig_path))
		return usage_error("verify", "path too long");
	st7_keyring_init(&keys);
	st7_buf_init(&sig);
	if ((ret = st7_keyring_load_dir(&keys, keys_dir, &d)) != ST7_OK) {
		rc = ST7_EXIT_UNTRUSTED;
	} else if ((ret = st7_sha256_file(path, digest, &size, &d)) != ST7_OK) {
		rc = ST7_EXIT_IO;
	} else if (!(hashed = true)) {
		/* not reached: marks the digest as computed */
	} else if ((ret = st7_file_read(sig_path, ST7_SIG_MAX, &sig, &d)) != ST7_OK) {
		char why[ST7_DIAG_MAX];
		snprintf(why, sizeof(why), "%s", d.msg);
		st7_diag_set(&d, ret, "%s: %s", sig_path, why);
		rc = ret == ST7_ERR_TOO_LARGE ? ST7_EXIT_UNTRUSTED : ST7_EXIT_IO;
	} else if ((ret = st7_keyring_verify(&keys, digest, sig.data, sig.len, signer,
	                                     sizeof(signer), &d)) != ST7_OK) {
		rc = ST7_EXIT_UNTRUSTED;
	}
	if (hashed)
		st7_sha256_hex(digest, hex);
	if (json) {
		struct st7_buf b;
		struct st7_json j;
		json_line_begin(&b, &j);
		st7_json_key(&j, "file");
		st7_json_str(&j, path);
		st7_json_key(&j, "signature");
		st7_json_str(&j, sig_path);
		st7_json_key(&j, "valid");
		st7_json_bool(&j, rc == ST7_EXIT_OK);
		st7_json_key(&j, "signer");
		st7_json_str(&j, rc == ST7_EXIT_OK ? signer : NULL);
		st7_json_key(&j, "sha256");
		st7_json_str(&j, hex[0] ? hex : NULL);
		st7_json_key(&j, "size");
		st7_json_uint(&j, size);
		st7_json_key(&j, "error");
		st7_json_str(&j, rc == ST7_EXIT_OK ? NULL : d.msg);
		json_line_emit(&b, &j);
	}
	if (rc != ST7_EXIT_OK)
		st7_err("%s: %s", path, d.msg);
	else if (!json)
		printf("%s: good signature by %s\n", path, signer);
	st7_buf_free(&sig);
	st7_keyring_free(&keys);
	return rc;
}

static const char fetch_usage[] =
        "Usage: st7dfu fetch [OPTIONS] URL [-o FILE]\n"
        "\n"
        "Download URL and URL.sig into the cache (STATE/cache), resuming a partial download\n"
        "and asking only for what changed (a 304 reuses the cached copy), then check the\n"
        "signature. With -o, the verified image goes to FILE and its signature to FILE.sig.\n"
        "\n"
        "  -o FILE      copy the verified image (and FILE.sig) there\n"
        "  --json       the result as JSON on stdout\n" SOURCE_OPTIONS_HELP;

static void fetch_report_json(const char *url, const struct st7_source_report *r, int rc,
                              const char *out, uint64_t size, const char *error)
{
	struct st7_buf b;
	struct st7_json j;
	json_line_begin(&b, &j);
	st7_json_key(&j, "event");
	st7_json_str(&j, "result");
	st7_json_key(&j, "command");
	st7_json_str(&j, "fetch");
	st7_json_key(&j, "url");
	st7_json_str(&j, url);
	st7_json_key(&j, "exit_code");
	st7_json_uint(&j, (uint64_t)rc);
	st7_json_key(&j, "status");
	st7_json_str(&j, rc                ? "failed"
	                 : r->not_modified ? "not-modified"
	                 : r->resumed      ? "resumed"
	                                   : "downloaded");
	st7_json_key(&j, "resumed_from");
	st7_json_uint(&j, r->resumed_from);
	st7_json_key(&j, "restarted");
	st7_json_bool(&j, r->restarted);
	st7_json_key(&j, "size");
	if (rc)
		st7_json_null(&j);
	else
		st7_json_uint(&j, size);
	st7_json_key(&j, "sha256");
	st7_json_str(&j, rc || !r->sha256[0] ? NULL : r->sha256);
	st7_json_key(&j, "verified");
	st7_json_bool(&j, r->verified);
	st7_json_key(&j, "signer");
	st7_json_str(&j, r->verified ? r->signer : NULL);
	st7_json_key(&j, "output");
	st7_json_str(&j, rc ? NULL : out);
	st7_json_key(&j, "retry_after");
	if (r->retry_after_s >= 0)
		st7_json_uint(&j, (uint64_t)r->retry_after_s);
	else
		st7_json_null(&j);
	st7_json_key(&j, "error");
	st7_json_str(&j, error);
	json_line_emit(&b, &j);
}

static int cmd_fetch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		SOURCE_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct source_args a;
	struct st7_source_report r;
	struct st7_buf img, sig;
	struct progress_view pv;
	struct st7_diag d = { "" };
	const char *out = NULL, *state_dir = "/var/lib/st7dfu";
	char sig_out[PATH_MAX];
	bool json = false;
	int c, rc = ST7_EXIT_OK;

	source_args_default(&a);
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'h':
			fputs(fetch_usage, stdout);
			return ST7_EXIT_OK;
		default:
			rc = source_option("fetch", c, optarg, &a);
			if (rc < 0)
				return -rc;
			if (rc == 0)
				return usage_error("fetch", "bad option");
			rc = ST7_EXIT_OK;
		}
	}
	if (optind != argc - 1)
		return usage_error("fetch", "expected exactly one URL");
	const char *url = argv[optind];
	if (!st7_url_is_remote(url))
		return usage_error("fetch", "'%s' is not an https:// URL", url);
	if (out && snprintf(sig_out, sizeof(sig_out), "%s.sig", out) >= (int)sizeof(sig_out))
		return usage_error("fetch", "-o: path too long");
	memset(&pv, 0, sizeof(pv));
	pv.tty = isatty(STDERR_FILENO) && !json;
	pv.json = json;
	a.net.progress = on_progress;
	a.net.progress_arg = &pv;
	st7_buf_init(&img);
	st7_buf_init(&sig);
	a.src.sig_out = &sig;
	install_signals();
	rc = obtain_image(&a, url, state_dir, &img, &r, &stop_requested, &d);
	progress_end(&pv);
	if (rc == ST7_EXIT_OK && out) {
		if (st7_file_write_atomic(out, img.data, img.len, 0644, &d) != ST7_OK ||
		    (sig.len &&
		     st7_file_write_atomic(sig_out, sig.data, sig.len, 0644, &d) != ST7_OK)) {
			st7_err("%s", d.msg);
			rc = ST7_EXIT_IO;
		}
	}
	if (json) {
		fetch_report_json(url, &r, rc, out, img.len, rc ? d.msg : NULL);
	} else if (rc == ST7_EXIT_OK) {
		printf("%s: %s, %zu bytes, sha256 %s%s%s%s%s\n", url,
		       r.not_modified ? "not modified (cached copy)"
		       : r.resumed    ? "downloaded (resumed)"
		                      : "downloaded",
		       img.len, r.sha256, r.verified ? ", signed by " : ", UNSIGNED",
		       r.verified ? r.signer : "", out ? " -> " : "", out ? out : "");
	}
	st7_buf_free(&img);
	st7_buf_free(&sig);
	return rc;
}

/* ---- help ---------------------------------------------------------------------------- */

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stdout);
		return ST7_EXIT_OK;
	}
	const struct command *c = find_command(argv[1]);
	if (!c)
		return usage_error("help", "unknown command '%s'", argv[1]);
	fputs(c->usage, stdout);
	if (c->run != cmd_help)
		printf("\n%s", exit_code_help);
	return ST7_EXIT_OK;
}

static const char help_usage[] = "Usage: st7dfu help [COMMAND]\n";

static const struct command commands[] = {
	{ "info", "decode and check DFU / DfuSe files", info_usage, cmd_info },
	{ "pack", "build a DFU or DfuSe file from .bin, .hex and .s19 inputs", pack_usage,
	  cmd_pack },
	{ "list", "list DFU-capable USB devices", list_usage, cmd_list },
	{ "upgrade", "update a device, keeping a backup; roll back on failure", upgrade_usage,
	  cmd_upgrade },
	{ "rollback", "restore the newest backup (or a file) to a device", rollback_usage,
	  cmd_rollback },
	{ "upload", "read a device's firmware into a .dfu file", upload_usage, cmd_upload },
	{ "download", "download a signed .dfu file as it is (no backup, no version check)",
	  download_usage, cmd_download },
	{ "detach", "switch a device to DFU mode", detach_usage, cmd_detach },
	{ "fetch", "download and verify an image over https, into the cache", fetch_usage,
	  cmd_fetch },
	{ "sign", "sign a file (vendors' build hosts)", sign_usage, cmd_sign },
	{ "verify", "check a file's signature against the trusted keys", verify_usage, cmd_verify },
	{ "status", "show a device's DFU state and status", status_usage, cmd_status },
	{ "help", "show help for a command", help_usage, cmd_help },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_usage(FILE *out)
{
	fprintf(out, "Usage: st7dfu COMMAND [OPTIONS]\n"
	             "       st7dfu help COMMAND | --version\n\n"
	             "Firmware upgrade agent for ST7 USB DFU devices.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n%s", exit_code_help);
}

int main(int argc, char **argv)
{
	st7_log_open(ST7_LOG_STDERR, ST7_LOG_INFO, "st7dfu");
	if (argc < 2) {
		print_usage(stderr);
		exit(ST7_EXIT_USAGE);
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("st7dfu %s\n", ST7DFU_VERSION);
		exit(ST7_EXIT_OK);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_usage(stdout);
		exit(ST7_EXIT_OK);
	}
	const struct command *c = find_command(argv[1]);
	if (!c) {
		st7_err("unknown command '%s'", argv[1]);
		print_usage(stderr);
		exit(ST7_EXIT_USAGE);
	}
	/* Each command parses its own options from argv[1] on (argv[0] = command). */
	optind = 1;
	int rc = c->run(argc - 1, argv + 1);
	st7_log_close();
	exit(rc);
}
