/* SPDX-License-Identifier: MIT */
/*
 * st7dfu: the command line. This file alone parses arguments, wires the layers
 * together, writes to stdout and chooses the exit code; everything it calls returns
 * errors instead of exiting.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfu_file.h"
#include "dfu_list.h"
#include "exit_codes.h"
#include "file_store.h"
#include "inspect.h"
#include "json_writer.h"
#include "log.h"
#include "pack.h"
#include "st7_profile.h"
#include "usb_transport.h"

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
                                     "  4  a file could not be read or written\n"
                                     "  7  USB could not be used\n";

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
