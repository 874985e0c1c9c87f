/* SPDX-License-Identifier: MIT */
/*
 * What the files of cli/ share: the commands (each names the option groups and single
 * options it takes; commands.c lists them), the command line read through the settings
 * table (args.c), and the one run context of the process (wiring.c).
 *
 * A command's run function returns its exit code (exit_codes.h), computed with the exit
 * map from an error or an outcome; main.c exits with it.
 */
#ifndef ST7_CLI_H
#define ST7_CLI_H

#include <signal.h>
#include <stdbool.h>

#include "buf.h"
#include "exit_map.h"
#include "image_source.h"
#include "policy.h"
#include "progress.h"
#include "run.h"
#include "settings.h"

struct st7_cli;

/* An option a command takes one by one (or whose help it words its own way). */
struct st7_cmd_opt {
	enum st7_opt id;
	bool required;
	const char *help; /* NULL: the table's */
};

struct st7_command {
	const char *name;
	const char *summary;            /* one line, for 'st7dfu help' */
	const char *synopsis;           /* "Usage: st7dfu NAME " SYNOPSIS */
	const char *about;              /* what it does, before the options */
	unsigned groups;                /* enum st7_group bits */
	const struct st7_cmd_opt *opts; /* more options; ends with { ST7_OPT_NONE } */
	int min_operands, max_operands; /* max -1: any number */
	const char *operands;           /* what they are, for messages ("FILE.dfu or URL") */
	bool permute;                   /* options may come after operands */
	bool signals;                   /* SIGINT/SIGTERM stop it at a safe point */
	int (*run)(struct st7_cli *cli);
	bool daemon; /* also SIGHUP (reload) and SIGUSR1 (a cycle now) */
};

/* Everything one command of this process works with. */
struct st7_cli {
	const struct st7_command *cmd;
	struct st7_settings s;         /* defaults, then the command line */
	char given[ST7_OPT_COUNT][24]; /* each option as spelled ("--max-size", "-d"),
	                                * "" when not given */
	bool help;                     /* --help was asked for */
	/* The policy file (policy_file.c): which one was read ("" none), the line that set
	 * each setting (0: not the file), and its [device] sections. */
	char policy_path[4096];
	unsigned line[ST7_OPT_COUNT];
	struct st7_device_rules rules;
	int argc; /* the operands */
	char **argv;
	volatile sig_atomic_t *stop; /* set by main.c's signal handler */
	/* The daemon's (main.c sets them): SIGHUP, SIGUSR1, and any of its signals. */
	volatile sig_atomic_t *reload, *trigger, *wake;
	/* The run context and the backends behind it (wiring.c): one per process. */
	bool run_open;
	struct st7_run run;
	struct st7_store store;
	struct st7_usb usb;
	bool usb_open;
	struct st7_fetcher fetcher;
	struct st7_fetch_opts net;
	struct st7_progress_view progress;
};

/* ---- policy_file.c ---- */
/*
 * Read the policy file into cli->s and cli->rules: --config FILE, else
 * ST7_DEFAULT_CONFIG when it exists (a missing default file is the built-in defaults; a
 * missing --config file is an error). All or nothing: the whole file is checked (every
 * key known and in its section, no duplicate, every value valid, lab-only settings only
 * in a lab policy, a named time zone known) before any setting changes; a setting given
 * on the command line keeps its value. Errors are "FILE:LINE: ..." in `d`.
 */
int st7_policy_file_load(struct st7_cli *cli, struct st7_diag *d);
/* The pure half, for tests and the fuzzer: `len` bytes of a policy named `file`, into
 * `p` (st7_policy_parsed_init first, _free after, in every case). `clock` (may be NULL)
 * checks a named time zone. Nothing is read or applied. */
struct st7_policy_parsed {
	struct st7_settings s;        /* the defaults, then the file's values */
	char *value[ST7_OPT_COUNT];   /* each key's text as written (NULL: not in the file) */
	unsigned line[ST7_OPT_COUNT]; /* its line (0: not in the file) */
	struct st7_device_rules rules;
};
int st7_policy_parsed_init(struct st7_policy_parsed *p, struct st7_diag *d);
void st7_policy_parsed_free(struct st7_policy_parsed *p);
int st7_policy_parse(const char *file, const uint8_t *data, size_t len,
                     const struct st7_clock *clock, struct st7_policy_parsed *p,
                     struct st7_diag *d);
/* SIGHUP: the policy file again, checked whole before anything changes; on success the
 * settings are rebuilt (defaults, the file, the command line), offered to `accept` (may
 * be NULL; non-zero refuses them, its diag saying why), and only then replace the old;
 * the fetch worker and the keyring made from the old ones are released. On error nothing
 * changed. */
int st7_cli_reload_policy(struct st7_cli *cli,
                          int (*accept)(struct st7_cli *cli, const struct st7_settings *s,
                                        struct st7_diag *d),
                          struct st7_diag *d);
/* Where a setting's value came from: "default", "FILE:LINE" or the flag as given. */
void st7_policy_source(const struct st7_cli *cli, enum st7_opt id, char *out, size_t cap);

/* ---- commands.c ---- */
const struct st7_command *st7_command_find(const char *name);
/* The table in order (`st7dfu help`'s): the i-th command, NULL past the last. */
const struct st7_command *st7_command_at(size_t i);
/* The list of commands (`st7dfu help`) and the exit codes. */
void st7_commands_usage(struct st7_buf *out);
/* The "Exit status" section of the help texts. */
extern const char st7_exit_status_help[];

/* ---- args.c ---- */
/* Does `c` take option `id` (by group or by name)? */
bool st7_command_takes(const struct st7_command *c, enum st7_opt id);
/* "Usage: ..." and every option `c` takes, from the settings table (with exit_codes: the
 * exit status section too). */
void st7_command_help(const struct st7_command *c, bool exit_codes, struct st7_buf *out);
/* Settings from their defaults and the command line (argv[0] is the command's name);
 * the operands into cli->argc/argv. ST7_ERR_INVALID for a bad command line (said on
 * stderr, naming the option), ST7_ERR_NOMEM. st7_cli_free() is due in every case. */
int st7_cli_init(struct st7_cli *cli, const struct st7_command *c, int argc, char **argv,
                 volatile sig_atomic_t *stop);
void st7_cli_free(struct st7_cli *cli);
/* Log a command-line error about the running command; returns ST7_EXIT_USAGE. */
int st7_cli_usage(const struct st7_cli *cli, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Write a whole buffer to stdout and flush it: 0, or ST7_EXIT_IO. */
int st7_cli_emit(const struct st7_buf *b);

/* ---- man.c ---- */
/*
 * The manual pages st7dfu(8) and st7dfu.ini(5), in roff (man(7) macros), rendered from
 * the command table, the settings table, the exit status text, the [device] keys and the
 * manifest's keys: what `st7dfu help` prints and the parsers read, so they cannot drift.
 * Appended to `out`. ST7_ERR_INVALID for another section or a table the renderer cannot
 * describe (a key without a description, an exit status line it cannot read);
 * ST7_ERR_NOMEM.
 */
int st7_man_render(unsigned section, struct st7_buf *out);
/* The page's description of a [device "NAME"] key, of a [manifest] key (release false)
 * or of a [release "NAME"] key; NULL when it has none (the unit test holds every key of
 * the parsers' lists to one). */
const char *st7_man_device_key(const char *key);
const char *st7_man_manifest_key(bool release, const char *key);

/* ---- wiring.c: the run context and the device session ---- */
/* The store, the clock, the abort flag and the progress display, set up for any command. */
int st7_cli_run_open(struct st7_cli *cli, struct st7_diag *d);
void st7_cli_run_close(struct st7_cli *cli);
/* The image at `source` (file or URL) with a trusted signature, before any device is
 * looked at; `sig_out` (NULL, or the caller's) gets the signature. Logs the reason; the
 * exit code (0 when obtained). */
int st7_cli_obtain(struct st7_cli *cli, const char *source, struct st7_buf *out,
                   struct st7_buf *sig_out, struct st7_source_report *r, struct st7_diag *d);
/* Progress ends: the display's line is finished. */
void st7_cli_progress_end(struct st7_cli *cli);

/* ---- cmd_run.c ---- */
/* The lock every command that changes devices holds (STATE/st7dfu.lock, the agent's
 * cycles included): taken at once, else after a message waiting up to --lock-wait, else
 * ST7_EXIT_BUSY. The exit code; *l (NULL unless taken) goes to st7_store_unlock(). */
int st7_cli_lock(struct st7_cli *cli, struct st7_store_lock **l);
/* ---- cmd_agent.c ---- */
/* The gateway's id: device_id, else the whole first line of device_id_file (of `s`, or
 * of the command's settings). */
int st7_gateway_id(struct st7_store *store, const struct st7_settings *s, char *out, size_t cap,
                   struct st7_diag *d);
int st7_cli_gateway_id(struct st7_cli *cli, char *out, size_t cap, struct st7_diag *d);

/* ---- the commands' run functions ---- */
int st7_cmd_info(struct st7_cli *cli);
int st7_cmd_pack(struct st7_cli *cli);
int st7_cmd_list(struct st7_cli *cli);
int st7_cmd_config(struct st7_cli *cli);
int st7_cmd_plan(struct st7_cli *cli);
int st7_cmd_check(struct st7_cli *cli);
int st7_cmd_run(struct st7_cli *cli);
int st7_cmd_agent_status(struct st7_cli *cli);
int st7_cmd_upgrade(struct st7_cli *cli);
int st7_cmd_rollback(struct st7_cli *cli);
int st7_cmd_upload(struct st7_cli *cli);
int st7_cmd_download(struct st7_cli *cli);
int st7_cmd_detach(struct st7_cli *cli);
int st7_cmd_status(struct st7_cli *cli);
int st7_cmd_sign(struct st7_cli *cli);
int st7_cmd_verify(struct st7_cli *cli);
int st7_cmd_fetch(struct st7_cli *cli);
int st7_cmd_help(struct st7_cli *cli);

#endif
