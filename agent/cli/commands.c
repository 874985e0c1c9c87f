/* SPDX-License-Identifier: MIT */
/*
 * The commands: what each does, and which options it takes (groups of the settings table,
 * and single options with their wording for this command). args.c makes the getopt array
 * and the help text from this.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

const char st7_exit_status_help[] =
        "Exit status:\n"
        "  0  success\n"
        "  1  unexpected internal failure\n"
        "  2  bad command line\n"
        "  3  an input file is malformed or fails a check\n"
        "  4  a file could not be read or written (the state directory cannot hold a backup,\n"
        "     or holds none to restore)\n"
        "  5  nothing to do: the device already runs that version\n"
        "  6  no matching device, or several and none chosen\n"
        "  7  USB could not be used, or the update failed before any change\n"
        "  8  the update failed; the previous firmware was restored\n"
        "  9  the update failed and so did the rollback: the device waits in DFU mode\n"
        " 10  stopped by a signal at a safe point\n"
        " 11  a download failed: network, TLS, HTTP status or a limit\n"
        " 12  no valid signature from a trusted key: nothing was used\n"
        " 13  the server asked to retry later (429/503)\n"
        " 14  updated and post-checked, but reading the new firmware back disagreed or failed:\n"
        "     the device's upload is unreliable; its backup is set aside (*.unproven) or "
        "unchecked\n"
        " 15  a signed manifest was refused: replayed (lower serial), expired, or the clock\n"
        "     cannot be trusted; nothing was decided\n"
        " 16  another st7dfu (the agent) is working on the devices: nothing was done\n";

#define DEVICE_COMMAND                                                              \
	(ST7_GROUP_DEVICE | ST7_GROUP_TIMING | ST7_GROUP_STATE | ST7_GROUP_OUTPUT | \
	 ST7_GROUP_POLICY)
#define IMAGE_SOURCE (ST7_GROUP_SOURCE | ST7_GROUP_NETWORK)

static const struct st7_cmd_opt info_opts[] = {
	{ ST7_OPT_JSON, false, "print one JSON document (see README, \"info --json\")" },
	{ ST7_OPT_PROFILE, false,
	  "check the file as an image for this ST7 part (st72f62, st72f63, st72f65); by "
	  "default a plain image whose payload is exactly a part's writable region, with ST's "
	  "vendor ID or 0xFFFF, is recognised as one" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt pack_opts[] = {
	{ ST7_OPT_OUTPUT, true, "the .dfu file to write" },
	{ ST7_OPT_VID, true, NULL },
	{ ST7_OPT_PID, true, NULL },
	{ ST7_OPT_BCD, true, NULL },
	{ ST7_OPT_FORMAT, false, NULL },
	{ ST7_OPT_DFU_VERSION, false, NULL },
	{ ST7_OPT_PROFILE, false,
	  "an ST7 part (st72f62, st72f63, st72f65): data outside its writable region is "
	  "refused, a plain payload is exactly that region (gaps 0xFF), and the version word at "
	  "its last two bytes must equal --bcd" },
	{ ST7_OPT_STAMP_VERSION, false, NULL },
	{ ST7_OPT_ALT, false, NULL },
	{ ST7_OPT_TARGET_NAME, false, NULL },
	{ ST7_OPT_JSON, false, "describe the written file as 'info --json' does" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt config_opts[] = {
	{ ST7_OPT_CHECK, false, NULL },
	{ ST7_OPT_PRINT, false, NULL },
	{ ST7_OPT_JSON, false, "with --print: one JSON document (see README, \"config --print\")" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt plan_opts[] = {
	{ ST7_OPT_JSON, false, "print one JSON document (see README, \"plan --json\")" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt list_opts[] = {
	{ ST7_OPT_JSON, false, "print one JSON document (see README, \"list --json\")" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt rollback_opts[] = {
	{ ST7_OPT_TO, false,
	  "restore FILE instead of the newest proven backup: one of STATE/backups, or an "
	  "image with a trusted signature" },
	{ ST7_OPT_PROFILE, false, NULL },
	{ ST7_OPT_ALLOW_DOWNGRADE, false,
	  "accepted, and changes nothing: a rollback restores whatever version it holds" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt upload_opts[] = {
	{ ST7_OPT_OUTPUT, true, "the .dfu file to write" },
	{ ST7_OPT_PROFILE, false, NULL },
	{ ST7_OPT_JSON, false, "JSON progress events on stdout" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt profile_opt[] = {
	{ ST7_OPT_PROFILE, false, NULL },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt detach_opts[] = {
	{ ST7_OPT_JSON, false, "accepted like on every device command; detach prints no data" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt status_opts[] = {
	{ ST7_OPT_JSON, false, "the status as JSON on stdout" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt check_opts[] = {
	{ ST7_OPT_JSON, false, "the plan, each device's outcome and the summary as JSON" },
	{ ST7_OPT_DRY_RUN, false, NULL },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt run_opts[] = {
	{ ST7_OPT_SYSLOG, false, NULL },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt sign_opts[] = {
	{ ST7_OPT_KEY, true, NULL },
	{ ST7_OPT_PSS, false, NULL },
	{ ST7_OPT_OUTPUT, false, "where to write the signature (default FILE.sig)" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt verify_opts[] = {
	{ ST7_OPT_KEYS_DIR, false, NULL },
	{ ST7_OPT_JSON, false, "the result as JSON on stdout" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt fetch_opts[] = {
	{ ST7_OPT_OUTPUT, false, "copy the verified image (and FILE.sig) there" },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_cmd_opt help_opts[] = {
	{ ST7_OPT_MAN, false, NULL },
	{ ST7_OPT_NONE, false, NULL },
};

static const struct st7_command commands[] = {
	{ "info", "decode and check DFU / DfuSe files", "[--json] [--profile NAME] FILE...",
	  "Decode and check DFU files: the file kind, the suffix fields, the stored and\n"
	  "computed CRC, DfuSe targets and elements, and for ST7 images the version word at\n"
	  "the end of the writable region and whether it equals the suffix's bcdDevice.\n"
	  "Exit status 0 when every file is valid, 3 when any is not, 4 when one cannot be\n"
	  "read.\n",
	  0, info_opts, 1, -1, "FILE...", false, false, st7_cmd_info, false },
	{ "pack", "build a DFU or DfuSe file from .bin, .hex and .s19 inputs",
	  "-o OUT.dfu --vid V --pid P --bcd B [OPTIONS] INPUT[@ADDR]...",
	  "Build a DFU file from firmware inputs: raw binaries (.bin, loaded at @ADDR),\n"
	  "Intel HEX (.hex, .ihx) and Motorola S-records (.s19, .s28, .s37, .srec, .mot).\n"
	  "Inputs must not overlap. The output is written atomically. Without --profile a\n"
	  "plain payload spans the lowest to the highest address given, gaps filled with\n"
	  "0xFF. ADDR is decimal or 0x-prefixed hex; a binary input needs one unless\n"
	  "--profile gives the region base.\n",
	  0, pack_opts, 1, -1, "INPUT[@ADDR]...", false, false, st7_cmd_pack, false },
	{ "list", "list DFU-capable USB devices", "[--json]",
	  "List every DFU-capable USB device, in runtime and in DFU mode (DFU 1.0, 1.1 and\n"
	  "DfuSe): bus and port path, VID:PID, bcdDevice, strings, mode, DFU version,\n"
	  "attributes, detach timeout, transfer size, alternate settings with their names\n"
	  "(DfuSe memory layouts decoded), and the ST7 profile the descriptors fit.\n"
	  "A device with unusable descriptors, or one that cannot be opened, is listed with\n"
	  "the problem. Other USB devices are never opened. Exit status 0 (also when no\n"
	  "device is found), 7 when USB cannot be used at all.\n",
	  0, list_opts, 0, 0, "no argument", false, false, st7_cmd_list, false },
	{ "upgrade", "update a device, keeping a backup; roll back on failure",
	  "[DEVICE] [OPTIONS] FILE.dfu|https://.../FILE.dfu",
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
	  "parts, a read-back of the new firmware. Any failure after the backup restores it.\n",
	  DEVICE_COMMAND | ST7_GROUP_UPGRADE | IMAGE_SOURCE, NULL, 1, 1,
	  "exactly one FILE.dfu or https URL", false, true, st7_cmd_upgrade, false },
	{ "rollback", "restore the newest backup (or a file) to a device",
	  "[DEVICE] [--state-dir DIR] [--to FILE]",
	  "Restore the newest stored backup of the device (or FILE), whatever its version:\n"
	  "going down is the point. Works on a device left in DFU mode by an interrupted\n"
	  "update; one that still holds its application but has no backup is sent back to\n"
	  "it (exit 4). Backups set aside as *.unproven are never chosen; --to can name one.\n"
	  "A FILE outside STATE/backups must carry a trusted signature, like any image\n"
	  "(--keys-dir, --sig, --allow-unsigned); the bytes checked are the bytes flashed.\n",
	  DEVICE_COMMAND | IMAGE_SOURCE, rollback_opts, 0, 0, "no argument", false, true,
	  st7_cmd_rollback, false },
	{ "upload", "read a device's firmware into a .dfu file", "[DEVICE] -o FILE.dfu",
	  "Read the device's firmware into a .dfu file whose suffix carries the device's IDs\n"
	  "and version: an ST7's writable region (its size must be a part's region, and its\n"
	  "version word the reported bcdDevice), a DFU 1.1 device's memory, or every readable\n"
	  "segment of a DfuSe device's alternate settings (a DfuSe file). It is read twice\n"
	  "(three times when the reads differ) and written only when two reads agree. The\n"
	  "device returns to runtime mode after, also when the read failed.\n",
	  ST7_GROUP_DEVICE | ST7_GROUP_TIMING | ST7_GROUP_POLICY | ST7_GROUP_STATE, upload_opts, 0,
	  0, "no argument", false, true, st7_cmd_upload, false },
	{ "download", "download a signed .dfu file as it is (no backup, no version check)",
	  "[DEVICE] [OPTIONS] FILE.dfu|https://.../FILE.dfu",
	  "Download FILE.dfu's payload as it is, like dfu-util -D: no backup, no version order\n"
	  "(the file must still be a valid .dfu, signed by a trusted key like any image we\n"
	  "flash). It must still suit the target, checked before the device is detached:\n"
	  "its suffix IDs match the device (0xFFFF matches any, DFU 1.1 appendix B), and an\n"
	  "ST7 image fills the part's writable region and carries a version. Then manifest\n"
	  "and reset. A DfuSe file goes to a DfuSe device: each target to its alternate\n"
	  "setting, the pages its elements touch erased first (from the device's memory\n"
	  "layout; a file outside it is refused and the device sent back), then \"leave\".\n",
	  DEVICE_COMMAND | IMAGE_SOURCE, profile_opt, 1, 1, "exactly one FILE.dfu or https URL",
	  false, true, st7_cmd_download, false },
	{ "detach", "switch a device to DFU mode", "[DEVICE]",
	  "Switch a runtime-mode device to DFU mode (DFU_DETACH, then a USB reset unless the\n"
	  "device detaches itself).\n",
	  ST7_GROUP_DEVICE | ST7_GROUP_TIMING | ST7_GROUP_POLICY | ST7_GROUP_STATE, detach_opts, 0,
	  0, "no argument", false, true, st7_cmd_detach, false },
	{ "fetch", "download and verify an image over https, into the cache",
	  "[OPTIONS] URL [-o FILE]",
	  "Download URL and URL.sig into the cache (STATE/cache), resuming a partial download\n"
	  "and asking only for what changed (a 304 reuses the cached copy), then check the\n"
	  "signature. With -o, the verified image goes to FILE and its signature to FILE.sig.\n",
	  IMAGE_SOURCE | ST7_GROUP_STATE | ST7_GROUP_OUTPUT | ST7_GROUP_POLICY, fetch_opts, 1, 1,
	  "exactly one https:// URL", true, true, st7_cmd_fetch, false },
	{ "sign", "sign a file (vendors' build hosts)", "--key PRIVATE.pem [--pss] [-o SIG] FILE",
	  "For vendors' build hosts: sign FILE's SHA-256 with an ECDSA P-256 or RSA (2048 to\n"
	  "8192 bits) private key, writing FILE.sig (or SIG) in the format of 'openssl dgst\n"
	  "-sha256 -sign KEY -out FILE.sig FILE'. Gateways never need the private key.\n",
	  0, sign_opts, 1, 1, "exactly one FILE", true, false, st7_cmd_sign, false },
	{ "verify", "check a file's signature against the trusted keys",
	  "[--keys-dir DIR] [--json] FILE [SIG]",
	  "Check that SIG (default FILE.sig) is a valid signature of FILE by one of the trusted\n"
	  "keys: ECDSA P-256 (DER) or RSA 2048..8192 (PKCS#1 v1.5 or PSS), as 'openssl dgst\n"
	  "-sha256 -sign' makes them. Exit 0 when it is, 12 when it is not.\n",
	  ST7_GROUP_POLICY, verify_opts, 1, 2, "FILE [SIG]", true, false, st7_cmd_verify, false },
	{ "status", "show what the agent knows, or a device's DFU state",
	  "[--json] | DEVICE [--json]",
	  "Without a device: what the agent knows from the state directory: the last cycle and\n"
	  "its outcome, the next poll (while `st7dfu run` works), when a maintenance window a\n"
	  "release waits for opens, the report queue, and per device the last attempt from the\n"
	  "journal (release, phase, outcome, error), unfinished ones marked. No device is\n"
	  "opened. With a device (-d, --path, --serial): its mode and its DFU state and status\n"
	  "(DFU_GETSTATUS).\n",
	  ST7_GROUP_DEVICE | ST7_GROUP_TIMING | ST7_GROUP_POLICY | ST7_GROUP_STATE, status_opts, 0,
	  0, "no argument", false, true, st7_cmd_status, false },
	{ "config", "check the policy file, or print every setting and where it came from",
	  "--check|--print [-c FILE] [--json] [OPTIONS]",
	  "--check reads the policy file (-c FILE, default " ST7_DEFAULT_CONFIG ") and says\n"
	  "whether it is valid: exit 0, or 3 with FILE:LINE and what is wrong (an unknown key\n"
	  "with the nearest valid one, a bad value, a duplicate key, a lab-only setting).\n"
	  "--print shows the effective value of every setting that has a policy key, with\n"
	  "where it came from: the default, FILE:LINE, or an option given here; then the\n"
	  "[device] sections.\n",
	  ST7_GROUP_POLICY | ST7_GROUP_TIMING | ST7_GROUP_STATE | ST7_GROUP_UPGRADE | IMAGE_SOURCE |
	          ST7_GROUP_AGENT,
	  config_opts, 0, 0, "no argument", false, false, st7_cmd_config, false },
	{ "plan", "show what the agent would do for every attached device, and why",
	  "[-c FILE] [--json] [OPTIONS]",
	  "Fetch the signed manifest (manifest_url: https through the fetch worker and the\n"
	  "verified cache, or a local path / file:// URL), check its signature before reading\n"
	  "it, refuse it when replayed, expired or when the clock is unset (exit 15), then for\n"
	  "every attached DFU device print the release it should get now, or none, with the\n"
	  "reason: up to date, held, below floor, downgrade refused, paused, not yet, not in\n"
	  "the rollout cohort, outside the maintenance window, failed too often, no or several\n"
	  "releases match. A device in DFU mode is to recover. It changes no device; like\n"
	  "every reader of the manifest it remembers the highest serial it has believed.\n",
	  ST7_GROUP_POLICY | ST7_GROUP_STATE | ST7_GROUP_UPGRADE | IMAGE_SOURCE | ST7_GROUP_AGENT,
	  plan_opts, 0, 0, "no argument", false, false, st7_cmd_plan, false },
	{ "check", "one agent cycle: recover, fetch the manifest, update, report",
	  "[-c FILE] [--dry-run] [--json] [OPTIONS]",
	  "One cycle of the agent, for cron, a systemd timer or a hotplug hook: first settle\n"
	  "every update a power loss or a kill interrupted (journal: finish it with its verified\n"
	  "cached image or restore the backup), then fetch and believe the signed manifest\n"
	  "(like plan), decide, and update the chosen devices one at a time (backup, detach,\n"
	  "download, manifest, post-check, rollback on failure), each step journalled in\n"
	  "STATE/journal; a release waiting for the maintenance window has its image fetched\n"
	  "ahead. One report per attempt is queued and sent to report_url. --dry-run stops after\n"
	  "the decision. It waits for the lock the agent and manual commands share.\n"
	  "Exit status: 0 a device was updated or recovered, none failed; 5 nothing to do; 8 an\n"
	  "update failed and was rolled back; 9 a device is left in DFU mode; 7 an update failed\n"
	  "before any change; 14 updated but unverified; 11/13 the network, 12 a bad signature\n"
	  "or image, 3 a bad manifest, 15 a refused manifest; 10 stopped; 16 busy.\n",
	  ST7_GROUP_POLICY | ST7_GROUP_STATE | ST7_GROUP_UPGRADE | ST7_GROUP_TIMING | IMAGE_SOURCE |
	          ST7_GROUP_AGENT,
	  check_opts, 0, 0, "no argument", false, true, st7_cmd_check, false },
	{ "run", "the agent as a daemon (systemd, procd, sysvinit)",
	  "[-c FILE] [--syslog] [OPTIONS]",
	  "Run the agent in the foreground: a cycle (as check) at start, then every\n"
	  "poll_interval with 10% random jitter; after a failure, exponential backoff with full\n"
	  "jitter up to backoff_max, at least what a server's Retry-After asks. A device plugged\n"
	  "in is checked at once against the manifest held, without the network. When a chosen\n"
	  "release waits for the maintenance window, its image is fetched ahead and a cycle\n"
	  "runs when the window opens. SIGHUP reloads the policy (a bad one is refused and the\n"
	  "old one kept), SIGUSR1 runs a cycle now, SIGTERM/SIGINT stop at the next safe point.\n"
	  "With NOTIFY_SOCKET (systemd Type=notify): READY, STATUS, WATCHDOG and STOPPING.\n"
	  "Logs go to stderr, or syslog with --syslog.\n",
	  ST7_GROUP_POLICY | ST7_GROUP_STATE | ST7_GROUP_UPGRADE | ST7_GROUP_TIMING | IMAGE_SOURCE |
	          ST7_GROUP_AGENT,
	  run_opts, 0, 0, "no argument", false, true, st7_cmd_run, true },
	{ "help", "show help for a command, or a manual page", "[COMMAND] | --man SECTION",
	  "Show the help of COMMAND, or the list of commands. With --man, print a manual page\n"
	  "(roff) made from the same tables: 8 for st7dfu(8), 5 for the policy file,\n"
	  "st7dfu.ini(5). A gateway where no page is installed (OpenWrt) still has them:\n"
	  "'st7dfu help --man 8 | man -l -' (or nroff -man, or man on another machine).\n",
	  0, help_opts, 0, 1, "[COMMAND]", false, false, st7_cmd_help, false },
};

const struct st7_command *st7_command_at(size_t i)
{
	return i < sizeof(commands) / sizeof(commands[0]) ? &commands[i] : NULL;
}

const struct st7_command *st7_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void st7_commands_usage(struct st7_buf *out)
{
	st7_buf_printf(out, "Usage: st7dfu COMMAND [OPTIONS]\n"
	                    "       st7dfu help COMMAND | --version\n"
	                    "       st7dfu help --man 8|5   (the manual pages, roff)\n\n"
	                    "Firmware upgrade agent for ST7 USB DFU devices.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		st7_buf_printf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	st7_buf_printf(out, "\n%s", st7_exit_status_help);
}

int st7_cmd_help(struct st7_cli *cli)
{
	struct st7_buf out;
	st7_buf_init(&out);
	if (cli->given[ST7_OPT_MAN][0]) {
		char section[8];
		if (cli->argc > 0) {
			st7_buf_free(&out);
			return st7_cli_usage(cli, "--man takes no COMMAND ('%s')", cli->argv[0]);
		}
		/* The row's word ("8", "5") is the section, so the two cannot disagree. */
		st7_setting_show(&cli->s, ST7_OPT_MAN, section, sizeof(section));
		int ret = st7_man_render((unsigned)strtoul(section, NULL, 10), &out);
		if (ret) {
			st7_buf_free(&out);
			/* The section was checked: what fails is the tables or memory. */
			st7_err("help --man %s: the page cannot be rendered: %s", section,
			        st7_strerror(ret));
			return ST7_EXIT_FAILURE;
		}
	} else if (cli->argc == 0) {
		st7_commands_usage(&out);
	} else {
		const struct st7_command *c = st7_command_find(cli->argv[0]);
		if (!c) {
			st7_buf_free(&out);
			return st7_cli_usage(cli, "unknown command '%s'", cli->argv[0]);
		}
		st7_command_help(c, c->run != st7_cmd_help, &out);
	}
	int rc = st7_cli_emit(&out);
	st7_buf_free(&out);
	return rc;
}
