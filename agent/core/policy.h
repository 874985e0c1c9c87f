/* SPDX-License-Identifier: MIT */
/*
 * The per-device part of the policy: its `[device "NAME"]` sections, read through a
 * key table (the [agent] and [update] keys belong to the settings table, cli/settings.c).
 * Pure: cli/policy_file.c reads the file and hands each entry of such a section here.
 *
 *   [device "card-reader"]
 *   match       = 0483:ff03   ; runtime VID:PID
 *   serial      = ST7-00*     ; serial number glob (fnmatch(3), no flags)
 *   port        = 1-1.2       ; USB port path, as `st7dfu list` shows it
 *   profile     = st72f65     ; the ST7 part, when the descriptors cannot tell
 *   min_version = 0x0120      ; never install a lower version (a floor)
 *   hold        = no          ; yes: never update this device
 *   channel     = beta        ; releases of this channel (default: [agent] channel)
 *
 * A section needs at least one of match, serial, port. A device matches a rule when every
 * criterion given matches; a device in DFU mode (its loader's IDs) is matched by serial
 * and port only, and the rule's `match` then tells its runtime IDs.
 */
#ifndef ST7_POLICY_H
#define ST7_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ST7_POLICY_MAX_RULES 64
#define ST7_RULE_NAME_MAX 64
#define ST7_RULE_GLOB_MAX 128
#define ST7_RULE_PORT_MAX 32
#define ST7_RULE_CHANNEL_MAX 32

struct st7_device_rule {
	char name[ST7_RULE_NAME_MAX];
	bool has_ids;
	uint16_t vid, pid;
	char serial_glob[ST7_RULE_GLOB_MAX]; /* "" any */
	char port[ST7_RULE_PORT_MAX];        /* "" any */
	char profile[16];                    /* "" not said; else a known st7_profile name */
	bool has_min_version;
	uint16_t min_version;
	bool hold;
	char channel[ST7_RULE_CHANNEL_MAX]; /* "" the [agent] channel */
	unsigned line;                      /* its header line */
	unsigned key_line[8];               /* where each key was set (0: not set), by key index */
};

struct st7_device_rules {
	struct st7_device_rule r[ST7_POLICY_MAX_RULES];
	size_t n;
};

/* The keys of a [device] section, NULL-terminated (for suggestions and the reference). */
extern const char *const st7_device_rule_keys[];

/*
 * A new [device "NAME"] section at `line`: ST7_ERR_FORMAT for a duplicate NAME (naming
 * the first one's line) or too many sections. Messages carry no "FILE:LINE: " prefix
 * (the caller adds it).
 */
int st7_device_rules_begin(struct st7_device_rules *rules, const char *name, unsigned line,
                           struct st7_diag *d);
/* One key of the section begun last: unknown key (with the nearest valid one), duplicate
 * key (naming the first line), bad value: ST7_ERR_FORMAT with the key named. */
int st7_device_rules_set(struct st7_device_rules *rules, const char *key, const char *value,
                         unsigned line, struct st7_diag *d);
/* After the document: every section has a criterion. ST7_ERR_FORMAT for the first that
 * has none, its header line in *bad_line (the caller knows only the file, and prefixes
 * "FILE:LINE: " from it: cli/policy_file.c), the message without a line number. */
int st7_device_rules_check(const struct st7_device_rules *rules, unsigned *bad_line,
                           struct st7_diag *d);

/* Does `r` match a device with these identities? `vid`/`pid` are the device's current
 * IDs; `in_dfu_mode` makes `match` not apply (the loader has other IDs). */
bool st7_device_rule_matches(const struct st7_device_rule *r, uint16_t vid, uint16_t pid,
                             bool in_dfu_mode, const char *serial, const char *port);

#endif
