/* SPDX-License-Identifier: MIT */
/*
 * The settings table: every option of every command, one row each, and the settings
 * struct the rows write into. The command line (args.c) is one reader of the table; the
 * policy file (/etc/st7dfu/st7dfu.ini), `config --print` and the man pages (man.c) are the
 * others:
 *
 * - a row knows its long and short name, its old spelling still accepted (alias), its
 *   group, its argument, its help, its default (as text) and its policy key: the long
 *   name with '_' for '-' (--max-poll-timeout is max_poll_timeout), or NULL for an
 *   option that only makes sense on a command line (--json, --to, pack's --vid);
 * - st7_setting_set() sets a row's field from a string, with no getopt involved: what an
 *   INI parser will call for "key = value", and what the defaults are made with;
 * - st7_setting_show() writes a field's value back as text, in a form set() reads back.
 *
 * struct st7_settings holds values only (no handles, nothing open) and owns its strings:
 * st7_settings_init() before use (every default applied), st7_settings_free() after.
 */
#ifndef ST7_SETTINGS_H
#define ST7_SETTINGS_H

#define ST7_DEFAULT_CONFIG "/etc/st7dfu/st7dfu.ini"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfu_engine.h"
#include "err.h"
#include "fetch.h"
#include "image_source.h"
#include "pack.h"
#include "schedule.h"
#include "st7_profile.h"
#include "upgrade.h"

/* One per row of the table, in help order; 0 ends lists of options. */
enum st7_opt {
	ST7_OPT_NONE = 0,
	/* device selection */
	ST7_OPT_DEVICE,
	ST7_OPT_PATH,
	ST7_OPT_SERIAL,
	/* timing */
	ST7_OPT_RETRIES,
	ST7_OPT_REENUM_TIMEOUT,
	ST7_OPT_MAX_POLL_TIMEOUT,
	/* state */
	ST7_OPT_STATE_DIR,
	ST7_OPT_CONFIG,
	ST7_OPT_LOCK_WAIT,
	/* upgrade */
	ST7_OPT_KEEP_BACKUPS,
	ST7_OPT_ALLOW_DOWNGRADE,
	ST7_OPT_ALLOW_WILDCARD,
	ST7_OPT_ALLOW_UNVERSIONED,
	ST7_OPT_BACKUP,
	ST7_OPT_NO_BACKUP,
	ST7_OPT_VERIFY_READBACK,
	ST7_OPT_NO_VERIFY_READBACK,
	ST7_OPT_PROFILE,
	/* source and trust */
	ST7_OPT_KEYS_DIR,
	ST7_OPT_SIG,
	ST7_OPT_ALLOW_UNSIGNED,
	ST7_OPT_MAX_IMAGE_SIZE,
	/* network */
	ST7_OPT_CA_FILE,
	ST7_OPT_CLIENT_CERT,
	ST7_OPT_CLIENT_KEY,
	ST7_OPT_ALLOW_HTTP,
	ST7_OPT_CONNECT_TIMEOUT,
	ST7_OPT_DOWNLOAD_TIMEOUT,
	ST7_OPT_LOW_SPEED_LIMIT,
	ST7_OPT_LOW_SPEED_TIME,
	ST7_OPT_FETCH_USER,
	/* the agent ([agent] keys only the agent uses) */
	ST7_OPT_MANIFEST_URL,
	ST7_OPT_MANIFEST_MAX_SIZE,
	ST7_OPT_POLL_INTERVAL,
	ST7_OPT_BACKOFF_MAX,
	ST7_OPT_DEVICE_ID,
	ST7_OPT_DEVICE_ID_FILE,
	ST7_OPT_CHANNEL,
	ST7_OPT_WINDOW,
	ST7_OPT_TIMEZONE,
	ST7_OPT_REPORT_URL,
	ST7_OPT_MAX_ATTEMPTS,
	ST7_OPT_RECOVER,
	ST7_OPT_REPORT_QUEUE_MAX,
	ST7_OPT_REPORT_QUEUE_SIZE,
	ST7_OPT_LAB,
	/* output */
	ST7_OPT_JSON,
	/* options of single commands */
	ST7_OPT_OUTPUT,
	ST7_OPT_TO,
	ST7_OPT_KEY,
	ST7_OPT_PSS,
	ST7_OPT_VID,
	ST7_OPT_PID,
	ST7_OPT_BCD,
	ST7_OPT_FORMAT,
	ST7_OPT_DFU_VERSION,
	ST7_OPT_STAMP_VERSION,
	ST7_OPT_ALT,
	ST7_OPT_TARGET_NAME,
	ST7_OPT_CHECK,
	ST7_OPT_PRINT,
	ST7_OPT_DRY_RUN,
	ST7_OPT_SYSLOG,
	ST7_OPT_MAN,
	ST7_OPT_HELP,
	ST7_OPT_COUNT
};

/* Groups of options a command takes as a whole (struct st7_command.groups). */
enum st7_group {
	ST7_GROUP_DEVICE = 1u << 0,  /* which device */
	ST7_GROUP_TIMING = 1u << 1,  /* retries and waits of the DFU engine */
	ST7_GROUP_STATE = 1u << 2,   /* the state directory */
	ST7_GROUP_UPGRADE = 1u << 3, /* what an upgrade may do */
	ST7_GROUP_SOURCE = 1u << 4,  /* where an image comes from, and whom to trust */
	ST7_GROUP_NETWORK = 1u << 5, /* downloads */
	ST7_GROUP_OUTPUT = 1u << 6,  /* what is printed */
	ST7_GROUP_SINGLE = 1u << 7,  /* in no group: commands name these one by one */
	ST7_GROUP_ALL = 1u << 8,     /* every command takes it (--help) */
	ST7_GROUP_AGENT = 1u << 9,   /* what the agent decides with (manifest, windows...) */
	ST7_GROUP_POLICY = 1u << 10  /* the policy file (-c): every command that has keys */
};

/* The heading of a group in help texts. */
const char *st7_group_title(unsigned group);
/* The policy file section of a group's keys: "update" for timing and upgrade, "agent"
 * for the rest. */
const char *st7_group_section(unsigned group);

enum st7_recover { ST7_RECOVER_FINISH, ST7_RECOVER_RESTORE };
enum st7_readback { ST7_READBACK_AUTO, ST7_READBACK_YES, ST7_READBACK_NO };
enum st7_pack_format { ST7_PACK_DFU, ST7_PACK_DFUSE };
enum st7_pack_dfu_version { ST7_PACK_DFU_1_0, ST7_PACK_DFU_1_1 };

struct st7_usb_match {
	bool set;
	uint16_t vid, pid;
};

/* Every setting's value. Numbers are uint64_t in the unit the name says; the strings are
 * owned (st7_settings_free). */
struct st7_settings {
	/* device selection */
	struct st7_usb_match device;
	char *path, *serial;
	/* timing */
	uint64_t retries, reenum_timeout_ms, max_poll_timeout_ms;
	/* state */
	char *state_dir, *config;
	uint64_t lock_wait_s;
	/* upgrade */
	uint64_t keep_backups;
	bool allow_downgrade, allow_wildcard, allow_unversioned, backup;
	int verify_readback; /* enum st7_readback */
	const struct st7_profile *profile;
	/* source and trust */
	char *keys_dir, *sig;
	bool allow_unsigned;
	uint64_t max_image_size;
	/* network */
	char *ca_file, *client_cert, *client_key;
	bool allow_http;
	uint64_t connect_timeout_s, download_timeout_s, low_speed_limit, low_speed_time_s;
	char *fetch_user;
	/* the agent */
	char *manifest_url;
	uint64_t manifest_max_size, poll_interval_s, backoff_max_s, max_attempts;
	char *device_id, *device_id_file, *channel, *timezone, *report_url;
	struct st7_windows window;
	int recover; /* enum st7_recover */
	uint64_t report_queue_max, report_queue_size;
	bool lab;
	/* output */
	bool json;
	/* single commands */
	char *output, *to, *key;
	bool pss;
	uint16_t vid, pid, bcd;
	int format;      /* enum st7_pack_format */
	int dfu_version; /* enum st7_pack_dfu_version */
	bool stamp_version;
	uint64_t alt;
	char *target_name;
	bool check, print, dry_run, syslog;
	int man; /* index in the row's choices: "8" or "5" */
};

struct st7_setting;
/* Set the row's field (`field` points into a struct st7_settings) from `value`; on error a
 * message saying what was expected, and the field unchanged. */
typedef int (*st7_setting_set_fn)(const struct st7_setting *row, void *field, const char *value,
                                  struct st7_diag *d);
typedef void (*st7_setting_show_fn)(const struct st7_setting *row, const void *field, char *out,
                                    size_t cap);

struct st7_setting {
	const char *name;       /* the long option, --NAME */
	const char *alias;      /* an older spelling, still accepted; NULL: none */
	char short_name;        /* -X, or 0 */
	const char *key;        /* its key in the policy file; NULL: command line only */
	unsigned group;         /* one enum st7_group */
	const char *arg;        /* its argument in help ("DIR"); NULL: a flag */
	const char *flag_value; /* what a flag sets (a value set() reads: "yes", "no") */
	st7_setting_set_fn set;
	st7_setting_show_fn show;
	size_t offset;              /* the field in struct st7_settings */
	uint64_t min, max;          /* numbers: bounds in the field's unit; strings: max bytes */
	uint64_t unit_ms;           /* durations: the field's unit (1 = ms, 1000 = s) */
	const char *const *choices; /* choices: the words; the field holds the index */
	const char *def;            /* the default as text (NULL: unset) */
	const char *help;           /* one line; the default is added from `def` */
};

/* The row of `id` (never NULL for ST7_OPT_NONE < id < ST7_OPT_COUNT). */
const struct st7_setting *st7_setting(enum st7_opt id);
/* The row whose long name or alias is `name` (no dashes), or whose policy key is `key`. */
enum st7_opt st7_setting_by_name(const char *name);
enum st7_opt st7_setting_by_key(const char *key);

/* Every default applied. ST7_ERR_NOMEM; st7_settings_free() is due in every case. */
int st7_settings_init(struct st7_settings *s, struct st7_diag *d);
void st7_settings_free(struct st7_settings *s);

/* Set one setting from text (the message in `d` says what was expected). */
int st7_setting_set(struct st7_settings *s, enum st7_opt id, const char *value, struct st7_diag *d);
/* Its value as text ("" when unset), a form st7_setting_set() reads back. */
void st7_setting_show(const struct st7_settings *s, enum st7_opt id, char *out, size_t cap);

/* The settings as the layers below take them (strings borrowed from `s`). */
void st7_settings_selector(const struct st7_settings *s, struct st7_selector *o);
void st7_settings_engine(const struct st7_settings *s, struct st7_engine_opts *o);
void st7_settings_upgrade(const struct st7_settings *s, struct st7_upgrade_opts *o);
void st7_settings_source(const struct st7_settings *s, struct st7_source_opts *o);
void st7_settings_fetch(const struct st7_settings *s, struct st7_fetch_opts *o);
void st7_settings_pack(const struct st7_settings *s, struct st7_pack_opts *o);

#endif
