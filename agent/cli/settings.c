/* SPDX-License-Identifier: MIT */
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfu_file.h"
#include "parse_util.h"
#include "state_dir.h"
#include "trust.h"

/* ---- setting a field from text, and showing it ---------------------------------------- */

static int set_string(const struct st7_setting *row, void *field, const char *value,
                      struct st7_diag *d)
{
	char **f = field;
	/* An empty path or URL would quietly mean "the root" or "nothing": say so instead. */
	if (!value[0])
		return st7_diag_set(d, ST7_ERR_FORMAT, "an empty value");
	if (row->max && strlen(value) > row->max)
		return st7_diag_set(d, ST7_ERR_RANGE, "at most %llu bytes",
		                    (unsigned long long)row->max);
	char *copy = strdup(value);
	if (!copy)
		return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
	free(*f);
	*f = copy;
	return ST7_OK;
}

static void show_string(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	(void)row;
	const char *const *f = field;
	snprintf(out, cap, "%s", *f ? *f : "");
}

static int set_bool(const struct st7_setting *row, void *field, const char *value,
                    struct st7_diag *d)
{
	(void)row;
	if (st7_parse_bool(value, field) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_FORMAT, "expected yes or no");
	return ST7_OK;
}

static void show_bool(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	(void)row;
	snprintf(out, cap, "%s", *(const bool *)field ? "yes" : "no");
}

static int set_uint(const struct st7_setting *row, void *field, const char *value,
                    struct st7_diag *d)
{
	if (st7_parse_uint(value, row->min, row->max, field) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_RANGE, "expected %llu..%llu",
		                    (unsigned long long)row->min, (unsigned long long)row->max);
	return ST7_OK;
}

static void show_uint(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	(void)row;
	snprintf(out, cap, "%llu", (unsigned long long)*(const uint64_t *)field);
}

/* A duration kept in the row's unit (ms or s); a bare number counts in that unit. */
static int set_duration(const struct st7_setting *row, void *field, const char *value,
                        struct st7_diag *d)
{
	uint64_t ms = 0;
	int ret = st7_parse_duration_ms(value, row->unit_ms, row->min * row->unit_ms,
	                                row->max * row->unit_ms, &ms);
	if (ret == ST7_OK && ms % row->unit_ms == 0) {
		*(uint64_t *)field = ms / row->unit_ms;
		return ST7_OK;
	}
	char lo[32], hi[32];
	st7_format_duration_ms(row->min * row->unit_ms, lo, sizeof(lo));
	st7_format_duration_ms(row->max * row->unit_ms, hi, sizeof(hi));
	return st7_diag_set(d, ST7_ERR_RANGE,
	                    "expected %s, %s..%s (a number counts %s; or 15s, 2m)",
	                    row->unit_ms == 1 ? "milliseconds" : "seconds", lo, hi,
	                    row->unit_ms == 1 ? "milliseconds" : "seconds");
}

static void show_duration(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	st7_format_duration_ms(*(const uint64_t *)field * row->unit_ms, out, cap);
}

static int set_size(const struct st7_setting *row, void *field, const char *value,
                    struct st7_diag *d)
{
	char hi[32];
	if (st7_parse_size(value, row->min, row->max, field) == ST7_OK)
		return ST7_OK;
	st7_format_size(row->max, hi, sizeof(hi));
	return st7_diag_set(d, ST7_ERR_RANGE, "expected N, NK, NM or NG, at most %s", hi);
}

static void show_size(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	(void)row;
	st7_format_size(*(const uint64_t *)field, out, cap);
}

static int set_usb_match(const struct st7_setting *row, void *field, const char *value,
                         struct st7_diag *d)
{
	(void)row;
	struct st7_usb_match *m = field;
	if (st7_parse_usb_ids(value, &m->vid, &m->pid) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_FORMAT, "expected VID:PID in hex (0483:df11)");
	m->set = true;
	return ST7_OK;
}

static void show_usb_match(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	(void)row;
	const struct st7_usb_match *m = field;
	if (m->set)
		snprintf(out, cap, "%04x:%04x", m->vid, m->pid);
	else
		snprintf(out, cap, "%s", "");
}

static int set_usb_id(const struct st7_setting *row, void *field, const char *value,
                      struct st7_diag *d)
{
	(void)row;
	if (st7_parse_usb_id(value, field) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_FORMAT, "expected 1 to 4 hex digits (0483)");
	return ST7_OK;
}

static void show_usb_id(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	(void)row;
	snprintf(out, cap, "%04x", *(const uint16_t *)field);
}

static int set_bcd(const struct st7_setting *row, void *field, const char *value,
                   struct st7_diag *d)
{
	(void)row;
	if (st7_parse_bcd(value, field) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_FORMAT, "expected hex (0x0102) or 1.02");
	return ST7_OK;
}

static void show_bcd(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	(void)row;
	snprintf(out, cap, "0x%04X", *(const uint16_t *)field);
}

static int set_profile(const struct st7_setting *row, void *field, const char *value,
                       struct st7_diag *d)
{
	(void)row;
	const struct st7_profile *p = st7_profile_find(value);
	if (p) {
		*(const struct st7_profile **)field = p;
		return ST7_OK;
	}
	char list[128] = "";
	for (size_t i = 0, w = 0; i < st7_profile_count() && w < sizeof(list); i++) {
		int n = snprintf(list + w, sizeof(list) - w, "%s%s", i ? ", " : "",
		                 st7_profile_at(i)->name);
		w += n > 0 ? (size_t)n : 0;
	}
	return st7_diag_set(d, ST7_ERR_FORMAT, "unknown profile (known: %s)", list);
}

static void show_profile(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	(void)row;
	const struct st7_profile *p = *(const struct st7_profile *const *)field;
	snprintf(out, cap, "%s", p ? p->name : "");
}

static int set_choice(const struct st7_setting *row, void *field, const char *value,
                      struct st7_diag *d)
{
	char words[96] = "";
	size_t n = 0;
	while (row->choices[n])
		n++;
	for (size_t i = 0; i < n; i++)
		if (strcmp(value, row->choices[i]) == 0) {
			*(int *)field = (int)i;
			return ST7_OK;
		}
	for (size_t i = 0, w = 0; i < n && w < sizeof(words); i++) {
		int k = snprintf(words + w, sizeof(words) - w, "%s%s",
		                 i == 0       ? ""
		                 : i + 1 == n ? " or "
		                              : ", ",
		                 row->choices[i]);
		w += k > 0 ? (size_t)k : 0;
	}
	return st7_diag_set(d, ST7_ERR_FORMAT, "expected %s", words);
}

static void show_choice(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	snprintf(out, cap, "%s", row->choices[*(const int *)field]);
}

/* A channel or similar name: [a-z0-9_-], so that it can be compared and printed as is. */
static int set_word(const struct st7_setting *row, void *field, const char *value,
                    struct st7_diag *d)
{
	for (const char *p = value; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-'))
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "expected letters a-z, digits, '_' or '-'");
	return set_string(row, field, value, d);
}

static int set_windows(const struct st7_setting *row, void *field, const char *value,
                       struct st7_diag *d)
{
	(void)row;
	return st7_windows_parse(value, field, d);
}

static void show_windows(const struct st7_setting *row, const void *field, char *out, size_t cap)
{
	(void)row;
	st7_windows_format(field, out, cap);
}

/* ---- the table ------------------------------------------------------------------------ */

static const char *const readback_words[] = { "auto", "yes", "no", NULL };
static const char *const recover_words[] = { "finish", "restore", NULL };
static const char *const format_words[] = { "dfu", "dfuse", NULL };
static const char *const dfu_version_words[] = { "1.0", "1.1", NULL };
/* The manual's sections: a choice, so that 6 or 7 are refused like any bad word. */
static const char *const man_words[] = { "8", "5", NULL };

#define FIELD(f) offsetof(struct st7_settings, f)
#define STRING .set = set_string, .show = show_string
#define FLAG(v) .flag_value = v, .set = set_bool, .show = show_bool
#define UINT(lo, hi) .set = set_uint, .show = show_uint, .min = lo, .max = hi
#define MILLISECONDS(lo, hi) \
	.set = set_duration, .show = show_duration, .min = lo, .max = hi, .unit_ms = 1
#define SECONDS(lo, hi) \
	.set = set_duration, .show = show_duration, .min = lo, .max = hi, .unit_ms = 1000
#define CHOICE(words) .set = set_choice, .show = show_choice, .choices = words
#define WORD .set = set_word, .show = show_string
#define SIZE(lo, hi) .set = set_size, .show = show_size, .min = lo, .max = hi

static const struct st7_setting table[ST7_OPT_COUNT] = {
	/* device selection */
	[ST7_OPT_DEVICE] = { .name = "device",
	                     .short_name = 'd',
	                     .group = ST7_GROUP_DEVICE,
	                     .arg = "VID:PID",
	                     .set = set_usb_match,
	                     .show = show_usb_match,
	                     .offset = FIELD(device),
	                     .help = "its current USB IDs (hex)" },
	[ST7_OPT_PATH] = { .name = "path",
	                   .group = ST7_GROUP_DEVICE,
	                   .arg = "BUS-PORT[.PORT...]",
	                   STRING,
	                   .offset = FIELD(path),
	                   .help = "its USB port path, as 'st7dfu list' shows it" },
	[ST7_OPT_SERIAL] = { .name = "serial",
	                     .group = ST7_GROUP_DEVICE,
	                     .arg = "S",
	                     STRING,
	                     .offset = FIELD(serial),
	                     .help = "its serial number" },
	/* timing */
	[ST7_OPT_RETRIES] = { .name = "retries",
	                      .key = "retries",
	                      .group = ST7_GROUP_TIMING,
	                      .arg = "N",
	                      UINT(1, 100),
	                      .offset = FIELD(retries),
	                      .def = "3",
	                      .help = "download attempts" },
	[ST7_OPT_REENUM_TIMEOUT] = { .name = "reenum-timeout",
	                             .key = "reenum_timeout",
	                             .group = ST7_GROUP_TIMING,
	                             .arg = "TIME",
	                             MILLISECONDS(1, 600000),
	                             .offset = FIELD(reenum_timeout_ms),
	                             .def = "15s",
	                             .help = "wait for the device to come back after detach or "
	                                     "reset (a number is milliseconds)" },
	[ST7_OPT_MAX_POLL_TIMEOUT] = { .name = "max-poll-timeout",
	                               .alias = "max-poll",
	                               .key = "max_poll_timeout",
	                               .group = ST7_GROUP_TIMING,
	                               .arg = "TIME",
	                               MILLISECONDS(1, 600000),
	                               .offset = FIELD(max_poll_timeout_ms),
	                               .def = "10s",
	                               .help = "cap on the device's bwPollTimeout (a number is "
	                                       "milliseconds)" },
	/* state */
	[ST7_OPT_STATE_DIR] = { .name = "state-dir",
	                        .key = "state_dir",
	                        .group = ST7_GROUP_STATE,
	                        .arg = "DIR",
	                        STRING,
	                        .offset = FIELD(state_dir),
	                        .def = ST7_DEFAULT_STATE_DIR,
	                        .help = "backups go to DIR/backups, downloads to DIR/cache "
	                                "(private: 0700)" },
	[ST7_OPT_CONFIG] = { .name = "config",
	                     .short_name = 'c',
	                     .group = ST7_GROUP_POLICY,
	                     .arg = "FILE",
	                     STRING,
	                     .offset = FIELD(config),
	                     .help = "the policy file (default " ST7_DEFAULT_CONFIG
	                             ", when it exists); its options are overridden by "
	                             "those given here" },
	[ST7_OPT_LOCK_WAIT] = { .name = "lock-wait",
	                        .key = "lock_wait",
	                        .group = ST7_GROUP_STATE,
	                        .arg = "TIME",
	                        SECONDS(0, 86400),
	                        .offset = FIELD(lock_wait_s),
	                        .def = "10m",
	                        .help = "while another st7dfu (the agent) works on the devices, "
	                                "wait this long for it, then give up (0: refuse at "
	                                "once, exit 16)" },
	/* upgrade */
	[ST7_OPT_KEEP_BACKUPS] = { .name = "keep-backups",
	                           .key = "keep_backups",
	                           .group = ST7_GROUP_UPGRADE,
	                           .arg = "N",
	                           UINT(1, 1000),
	                           .offset = FIELD(keep_backups),
	                           .def = "3",
	                           .help = "newest backups kept per device" },
	[ST7_OPT_ALLOW_DOWNGRADE] = { .name = "allow-downgrade",
	                              .key = "allow_downgrade",
	                              .group = ST7_GROUP_UPGRADE,
	                              FLAG("yes"),
	                              .offset = FIELD(allow_downgrade),
	                              .def = "no",
	                              .help = "install an older (or the same) version" },
	[ST7_OPT_ALLOW_WILDCARD] = { .name = "allow-wildcard",
	                             .group = ST7_GROUP_UPGRADE,
	                             FLAG("yes"),
	                             .offset = FIELD(allow_wildcard),
	                             .def = "no",
	                             .help = "accept 0xFFFF IDs in the file's suffix" },
	[ST7_OPT_ALLOW_UNVERSIONED] = { .name = "allow-unversioned",
	                                .group = ST7_GROUP_UPGRADE,
	                                FLAG("yes"),
	                                .offset = FIELD(allow_unversioned),
	                                .def = "no",
	                                .help = "accept bcdDevice 0xFFFF (no version; not for "
	                                        "ST7 images)" },
	[ST7_OPT_BACKUP] = { .name = "require-backup",
	                     .alias = "backup",
	                     .key = "require_backup",
	                     .group = ST7_GROUP_UPGRADE,
	                     FLAG("yes"),
	                     .offset = FIELD(backup),
	                     .def = "yes",
	                     .help = "store a proven backup before anything is erased" },
	[ST7_OPT_NO_BACKUP] = { .name = "no-backup",
	                        .group = ST7_GROUP_UPGRADE,
	                        FLAG("no"),
	                        .offset = FIELD(backup),
	                        .help = "proceed without a backup (a failure then cannot roll "
	                                "back)" },
	[ST7_OPT_VERIFY_READBACK] = { .name = "verify-readback",
	                              .alias = "verify",
	                              .key = "verify_readback",
	                              .group = ST7_GROUP_UPGRADE,
	                              .flag_value = "yes",
	                              CHOICE(readback_words),
	                              .offset = FIELD(verify_readback),
	                              .def = "auto",
	                              .help = "read the new firmware back and compare, on any "
	                                      "device (auto: ST7 parts)" },
	[ST7_OPT_NO_VERIFY_READBACK] = { .name = "no-verify-readback",
	                                 .alias = "no-verify",
	                                 .group = ST7_GROUP_UPGRADE,
	                                 .flag_value = "no",
	                                 CHOICE(readback_words),
	                                 .offset = FIELD(verify_readback),
	                                 .help = "skip the read-back ST7 parts get by default" },
	[ST7_OPT_PROFILE] = { .name = "profile",
	                      .group = ST7_GROUP_UPGRADE,
	                      .arg = "NAME",
	                      .set = set_profile,
	                      .show = show_profile,
	                      .offset = FIELD(profile),
	                      .help = "the ST7 part (st72f62, st72f63, st72f65), when the "
	                              "descriptors cannot tell" },
	/* source and trust */
	[ST7_OPT_KEYS_DIR] = { .name = "keys-dir",
	                       .alias = "keys",
	                       .key = "keys_dir",
	                       .group = ST7_GROUP_SOURCE,
	                       .arg = "DIR",
	                       STRING,
	                       .offset = FIELD(keys_dir),
	                       .def = ST7_DEFAULT_KEYS_DIR,
	                       .help = "trusted public keys, *.pem" },
	[ST7_OPT_SIG] = { .name = "sig",
	                  .group = ST7_GROUP_SOURCE,
	                  .arg = "FILE|URL",
	                  STRING,
	                  .offset = FIELD(sig),
	                  .help = "the signature, when not SOURCE.sig" },
	[ST7_OPT_ALLOW_UNSIGNED] = { .name = "allow-unsigned",
	                             .key = "allow_unsigned",
	                             .group = ST7_GROUP_SOURCE,
	                             FLAG("yes"),
	                             .offset = FIELD(allow_unsigned),
	                             .def = "no",
	                             .help = "skip the signature check (logged; never in the "
	                                     "field)" },
	[ST7_OPT_MAX_IMAGE_SIZE] = { .name = "max-image-size",
	                             .alias = "max-size",
	                             .key = "max_image_size",
	                             .group = ST7_GROUP_SOURCE,
	                             .arg = "SIZE",
	                             .set = set_size,
	                             .show = show_size,
	                             .min = 1,
	                             .max = (uint64_t)1 << 30,
	                             .offset = FIELD(max_image_size),
	                             .def = "16M",
	                             .help = "largest image accepted, N[K|M|G], at most 1G" },
	/* network */
	[ST7_OPT_CA_FILE] = { .name = "ca-file",
	                      .key = "ca_file",
	                      .group = ST7_GROUP_NETWORK,
	                      .arg = "PEM",
	                      STRING,
	                      .offset = FIELD(ca_file),
	                      .help = "trust only this CA (pinning) instead of the system's" },
	[ST7_OPT_CLIENT_CERT] = { .name = "client-cert",
	                          .key = "client_cert",
	                          .group = ST7_GROUP_NETWORK,
	                          .arg = "PEM",
	                          STRING,
	                          .offset = FIELD(client_cert),
	                          .help = "client certificate for servers that require one "
	                                  "(mTLS)" },
	[ST7_OPT_CLIENT_KEY] = { .name = "client-key",
	                         .key = "client_key",
	                         .group = ST7_GROUP_NETWORK,
	                         .arg = "PEM",
	                         STRING,
	                         .offset = FIELD(client_key),
	                         .help = "its key (default: in --client-cert)" },
	[ST7_OPT_ALLOW_HTTP] = { .name = "allow-http",
	                         .key = "allow_http",
	                         .group = ST7_GROUP_NETWORK,
	                         FLAG("yes"),
	                         .offset = FIELD(allow_http),
	                         .def = "no",
	                         .help = "lab only: accept http:// and redirects to it (logged)" },
	[ST7_OPT_CONNECT_TIMEOUT] = { .name = "connect-timeout",
	                              .key = "connect_timeout",
	                              .group = ST7_GROUP_NETWORK,
	                              .arg = "TIME",
	                              SECONDS(1, 86400),
	                              .offset = FIELD(connect_timeout_s),
	                              .def = "20s",
	                              .help = "to connect (a number is seconds)" },
	[ST7_OPT_DOWNLOAD_TIMEOUT] = { .name = "download-timeout",
	                               .alias = "timeout",
	                               .key = "download_timeout",
	                               .group = ST7_GROUP_NETWORK,
	                               .arg = "TIME",
	                               SECONDS(1, 86400),
	                               .offset = FIELD(download_timeout_s),
	                               .def = "15m",
	                               .help = "a whole download (a number is seconds)" },
	[ST7_OPT_LOW_SPEED_LIMIT] = { .name = "low-speed-limit",
	                              .key = "low_speed_limit",
	                              .group = ST7_GROUP_NETWORK,
	                              .arg = "B",
	                              UINT(1, (uint64_t)1 << 30),
	                              .offset = FIELD(low_speed_limit),
	                              .def = "256",
	                              .help = "abandon a download slower than B bytes/s ..." },
	[ST7_OPT_LOW_SPEED_TIME] = { .name = "low-speed-time",
	                             .key = "low_speed_time",
	                             .group = ST7_GROUP_NETWORK,
	                             .arg = "TIME",
	                             SECONDS(1, 86400),
	                             .offset = FIELD(low_speed_time_s),
	                             .def = "1m",
	                             .help = "... for this long (a number is seconds)" },
	[ST7_OPT_FETCH_USER] = { .name = "fetch-user",
	                         .key = "fetch_user",
	                         .group = ST7_GROUP_NETWORK,
	                         .arg = "USER",
	                         STRING,
	                         .offset = FIELD(fetch_user),
	                         .def = "st7dfu",
	                         .help = "when run as root, fetch as this user (the default "
	                                 "falls back to nobody)" },
	/* the agent */
	[ST7_OPT_MANIFEST_URL] = { .name = "manifest-url",
	                           .key = "manifest_url",
	                           .group = ST7_GROUP_AGENT,
	                           .arg = "URL",
	                           STRING,
	                           .max = 4000,
	                           .offset = FIELD(manifest_url),
	                           .help = "the signed fleet manifest: https://..., file://... "
	                                   "or a local path (URL.sig beside it)" },
	[ST7_OPT_MANIFEST_MAX_SIZE] = { .name = "manifest-max-size",
	                                .key = "manifest_max_size",
	                                .group = ST7_GROUP_AGENT,
	                                .arg = "SIZE",
	                                SIZE(256, 16u << 20),
	                                .offset = FIELD(manifest_max_size),
	                                .def = "64K",
	                                .help = "a longer manifest is cut off and refused" },
	[ST7_OPT_POLL_INTERVAL] = { .name = "poll-interval",
	                            .key = "poll_interval",
	                            .group = ST7_GROUP_AGENT,
	                            .arg = "TIME",
	                            SECONDS(60, 30u * 86400u),
	                            .offset = FIELD(poll_interval_s),
	                            .def = "6h",
	                            .help = "how often the daemon asks for the manifest (with "
	                                    "random jitter)" },
	[ST7_OPT_BACKOFF_MAX] = { .name = "backoff-max",
	                          .key = "backoff_max",
	                          .group = ST7_GROUP_AGENT,
	                          .arg = "TIME",
	                          SECONDS(60, 30u * 86400u),
	                          .offset = FIELD(backoff_max_s),
	                          .def = "1d",
	                          .help = "after failures, retries back off exponentially up to "
	                                  "this" },
	[ST7_OPT_DEVICE_ID] = { .name = "device-id",
	                        .key = "device_id",
	                        .group = ST7_GROUP_AGENT,
	                        .arg = "ID",
	                        STRING,
	                        .max = 255,
	                        .offset = FIELD(device_id),
	                        .help = "this gateway's id (the rollout cohort's seed, and in "
	                                "reports); default: the first line of device_id_file" },
	[ST7_OPT_DEVICE_ID_FILE] = { .name = "device-id-file",
	                             .key = "device_id_file",
	                             .group = ST7_GROUP_AGENT,
	                             .arg = "FILE",
	                             STRING,
	                             .offset = FIELD(device_id_file),
	                             .def = "/etc/machine-id",
	                             .help = "where the gateway's id is read from" },
	[ST7_OPT_CHANNEL] = { .name = "channel",
	                      .key = "channel",
	                      .group = ST7_GROUP_AGENT,
	                      .arg = "NAME",
	                      WORD,
	                      .max = 31,
	                      .offset = FIELD(channel),
	                      .def = "stable",
	                      .help = "releases of this channel apply (a [device] section may "
	                              "name another)" },
	[ST7_OPT_WINDOW] = { .name = "window",
	                     .key = "window",
	                     .group = ST7_GROUP_AGENT,
	                     .arg = "WINDOWS",
	                     .set = set_windows,
	                     .show = show_windows,
	                     .offset = FIELD(window),
	                     .def = "always",
	                     .help = "maintenance windows, local time: \"Mon-Fri 02:00-05:00, "
	                             "Sat/Sun 00:00-06:00\"" },
	[ST7_OPT_TIMEZONE] = { .name = "timezone",
	                       .key = "timezone",
	                       .group = ST7_GROUP_AGENT,
	                       .arg = "TZ",
	                       STRING,
	                       .max = 255,
	                       .offset = FIELD(timezone),
	                       .help = "the windows' time zone (\"Europe/Paris\", or a POSIX TZ "
	                               "rule); default: the system's" },
	[ST7_OPT_REPORT_URL] = { .name = "report-url",
	                         .key = "report_url",
	                         .group = ST7_GROUP_AGENT,
	                         .arg = "URL",
	                         STRING,
	                         .max = 4000,
	                         .offset = FIELD(report_url),
	                         .help = "where attempt reports are POSTed (optional)" },
	[ST7_OPT_MAX_ATTEMPTS] = { .name = "max-attempts",
	                           .key = "max_attempts",
	                           .group = ST7_GROUP_UPGRADE,
	                           .arg = "N",
	                           UINT(1, 20),
	                           .offset = FIELD(max_attempts),
	                           .def = "3",
	                           .help = "failed attempts of one release on one device before "
	                                   "it is not tried again (until the release changes)" },
	[ST7_OPT_RECOVER] = { .name = "recover",
	                      .key = "recover",
	                      .group = ST7_GROUP_UPGRADE,
	                      .arg = "finish|restore",
	                      CHOICE(recover_words),
	                      .offset = FIELD(recover),
	                      .def = "finish",
	                      .help = "an update interrupted after the erase (power loss): "
	                              "finish it with its verified cached image, or restore the "
	                              "backup; the other is the fallback" },
	[ST7_OPT_REPORT_QUEUE_MAX] = { .name = "report-queue-max",
	                               .key = "report_queue_max",
	                               .group = ST7_GROUP_AGENT,
	                               .arg = "N",
	                               UINT(1, 100000),
	                               .offset = FIELD(report_queue_max),
	                               .def = "1000",
	                               .help = "reports kept while report_url cannot be "
	                                       "reached (the oldest go first)" },
	[ST7_OPT_REPORT_QUEUE_SIZE] = { .name = "report-queue-size",
	                                .key = "report_queue_size",
	                                .group = ST7_GROUP_AGENT,
	                                .arg = "SIZE",
	                                SIZE(16384, 64u << 20),
	                                .offset = FIELD(report_queue_size),
	                                .def = "1M",
	                                .help = "bytes of reports kept while report_url cannot "
	                                        "be reached" },
	[ST7_OPT_LAB] = { .name = "lab",
	                  .key = "lab",
	                  .group = ST7_GROUP_AGENT,
	                  FLAG("yes"),
	                  .offset = FIELD(lab),
	                  .def = "no",
	                  .help = "a lab policy: allow_http and allow_unsigned may be set in "
	                          "the file" },
	/* output */
	[ST7_OPT_JSON] = { .name = "json",
	                   .group = ST7_GROUP_OUTPUT,
	                   FLAG("yes"),
	                   .offset = FIELD(json),
	                   .def = "no",
	                   .help = "JSON progress events and result on stdout" },
	/* single commands */
	[ST7_OPT_OUTPUT] = { .name = "output",
	                     .short_name = 'o',
	                     .group = ST7_GROUP_SINGLE,
	                     .arg = "FILE",
	                     STRING,
	                     .offset = FIELD(output),
	                     .help = "the file to write" },
	[ST7_OPT_TO] = { .name = "to",
	                 .group = ST7_GROUP_SINGLE,
	                 .arg = "FILE",
	                 STRING,
	                 .offset = FIELD(to),
	                 .help = "restore FILE instead of the newest backup" },
	[ST7_OPT_KEY] = { .name = "key",
	                  .group = ST7_GROUP_SINGLE,
	                  .arg = "PEM",
	                  STRING,
	                  .offset = FIELD(key),
	                  .help = "the unencrypted private key" },
	[ST7_OPT_PSS] = { .name = "pss",
	                  .group = ST7_GROUP_SINGLE,
	                  FLAG("yes"),
	                  .offset = FIELD(pss),
	                  .def = "no",
	                  .help = "RSA-PSS padding (default PKCS#1 v1.5); same as openssl's "
	                          "-sigopt rsa_padding_mode:pss" },
	[ST7_OPT_VID] = { .name = "vid",
	                  .group = ST7_GROUP_SINGLE,
	                  .arg = "V",
	                  .set = set_usb_id,
	                  .show = show_usb_id,
	                  .offset = FIELD(vid),
	                  .help = "idVendor for the suffix, hex (FFFF = any)" },
	[ST7_OPT_PID] = { .name = "pid",
	                  .group = ST7_GROUP_SINGLE,
	                  .arg = "P",
	                  .set = set_usb_id,
	                  .show = show_usb_id,
	                  .offset = FIELD(pid),
	                  .help = "idProduct for the suffix, hex (FFFF = any)" },
	[ST7_OPT_BCD] = { .name = "bcd",
	                  .group = ST7_GROUP_SINGLE,
	                  .arg = "B",
	                  .set = set_bcd,
	                  .show = show_bcd,
	                  .offset = FIELD(bcd),
	                  .help = "bcdDevice: the firmware version, hex (0x0102) or 1.02" },
	[ST7_OPT_FORMAT] = { .name = "format",
	                     .group = ST7_GROUP_SINGLE,
	                     .arg = "dfu|dfuse",
	                     CHOICE(format_words),
	                     .offset = FIELD(format),
	                     .def = "dfu",
	                     .help = "a plain DFU image, or a DfuSe file with one element per "
	                             "contiguous run of data" },
	[ST7_OPT_DFU_VERSION] = { .name = "dfu-version",
	                          .group = ST7_GROUP_SINGLE,
	                          .arg = "1.0|1.1",
	                          CHOICE(dfu_version_words),
	                          .offset = FIELD(dfu_version),
	                          .def = "1.0",
	                          .help = "bcdDFU of a plain image's suffix" },
	[ST7_OPT_STAMP_VERSION] = { .name = "stamp-version",
	                            .group = ST7_GROUP_SINGLE,
	                            FLAG("yes"),
	                            .offset = FIELD(stamp_version),
	                            .def = "no",
	                            .help = "write --bcd into the part's version word (needs "
	                                    "--profile)" },
	[ST7_OPT_ALT] = { .name = "alt",
	                  .group = ST7_GROUP_SINGLE,
	                  .arg = "N",
	                  UINT(0, 255),
	                  .offset = FIELD(alt),
	                  .def = "0",
	                  .help = "DfuSe target alternate setting" },
	[ST7_OPT_TARGET_NAME] = { .name = "target-name",
	                          .group = ST7_GROUP_SINGLE,
	                          .arg = "NAME",
	                          STRING,
	                          .max = 254,
	                          .offset = FIELD(target_name),
	                          .help = "DfuSe target name" },
	[ST7_OPT_CHECK] = { .name = "check",
	                    .group = ST7_GROUP_SINGLE,
	                    FLAG("yes"),
	                    .offset = FIELD(check),
	                    .def = "no",
	                    .help = "check the policy file, print nothing but errors" },
	[ST7_OPT_PRINT] = { .name = "print",
	                    .group = ST7_GROUP_SINGLE,
	                    FLAG("yes"),
	                    .offset = FIELD(print),
	                    .def = "no",
	                    .help = "print every setting's effective value and where it came "
	                            "from" },
	[ST7_OPT_DRY_RUN] = { .name = "dry-run",
	                      .group = ST7_GROUP_SINGLE,
	                      FLAG("yes"),
	                      .offset = FIELD(dry_run),
	                      .def = "no",
	                      .help = "recover nothing, flash nothing: fetch the manifest and "
	                              "say what would be done" },
	[ST7_OPT_SYSLOG] = { .name = "syslog",
	                     .group = ST7_GROUP_SINGLE,
	                     FLAG("yes"),
	                     .offset = FIELD(syslog),
	                     .def = "no",
	                     .help = "log to syslog (daemon facility) instead of stderr" },
	[ST7_OPT_MAN] = { .name = "man",
	                  .group = ST7_GROUP_SINGLE,
	                  .arg = "SECTION",
	                  CHOICE(man_words),
	                  .offset = FIELD(man),
	                  .help = "print a manual page in roff, made from these same tables: 8 "
	                          "for st7dfu(8), 5 for st7dfu.ini(5) (read it with 'st7dfu "
	                          "help --man 8 | man -l -')" },
	[ST7_OPT_HELP] = { .name = "help",
	                   .short_name = 'h',
	                   .group = ST7_GROUP_ALL,
	                   .help = "show this help" },
};

const char *st7_group_title(unsigned group)
{
	switch (group) {
	case ST7_GROUP_DEVICE:
		return "Choosing the device (with exactly one DFU device attached, it is the "
		       "default)";
	case ST7_GROUP_TIMING:
		return "Timing";
	case ST7_GROUP_STATE:
		return "State";
	case ST7_GROUP_UPGRADE:
		return "Upgrade";
	case ST7_GROUP_SOURCE:
		return "Signatures (FILE.sig / URL.sig, as 'openssl dgst -sha256 -sign' writes "
		       "them)";
	case ST7_GROUP_NETWORK:
		return "Downloads (https only; proxies from https_proxy / no_proxy)";
	case ST7_GROUP_POLICY:
		return "Policy";
	case ST7_GROUP_AGENT:
		return "Agent (what 'plan' decides with)";
	case ST7_GROUP_OUTPUT:
		return "Output";
	}
	return "Options";
}

const char *st7_group_section(unsigned group)
{
	return group == ST7_GROUP_TIMING || group == ST7_GROUP_UPGRADE ? "update" : "agent";
}

const struct st7_setting *st7_setting(enum st7_opt id)
{
	return id > ST7_OPT_NONE && id < ST7_OPT_COUNT ? &table[id] : NULL;
}

enum st7_opt st7_setting_by_name(const char *name)
{
	for (int i = 1; i < ST7_OPT_COUNT; i++)
		if (strcmp(table[i].name, name) == 0 ||
		    (table[i].alias && strcmp(table[i].alias, name) == 0))
			return (enum st7_opt)i;
	return ST7_OPT_NONE;
}

enum st7_opt st7_setting_by_key(const char *key)
{
	for (int i = 1; i < ST7_OPT_COUNT; i++)
		if (table[i].key && strcmp(table[i].key, key) == 0)
			return (enum st7_opt)i;
	return ST7_OPT_NONE;
}

int st7_setting_set(struct st7_settings *s, enum st7_opt id, const char *value, struct st7_diag *d)
{
	const struct st7_setting *row = st7_setting(id);
	if (!row || !row->set || !value)
		return st7_diag_set(d, ST7_ERR_INVALID, "not a setting");
	return row->set(row, (char *)s + row->offset, value, d);
}

void st7_setting_show(const struct st7_settings *s, enum st7_opt id, char *out, size_t cap)
{
	const struct st7_setting *row = st7_setting(id);
	if (!cap)
		return;
	out[0] = '\0';
	if (row && row->show)
		row->show(row, (const char *)s + row->offset, out, cap);
}

int st7_settings_init(struct st7_settings *s, struct st7_diag *d)
{
	memset(s, 0, sizeof(*s));
	for (int i = 1; i < ST7_OPT_COUNT; i++) {
		if (!table[i].def)
			continue;
		int ret = st7_setting_set(s, (enum st7_opt)i, table[i].def, d);
		if (ret)
			return st7_diag_prefix(d, ret, "default of --%s", table[i].name);
	}
	return ST7_OK;
}

void st7_settings_free(struct st7_settings *s)
{
	for (int i = 1; i < ST7_OPT_COUNT; i++) {
		if (table[i].show != show_string)
			continue;
		char **f = (char **)((char *)s + table[i].offset);
		free(*f);
		*f = NULL;
	}
}

/* ---- the settings as the layers below take them --------------------------------------- */

void st7_settings_selector(const struct st7_settings *s, struct st7_selector *o)
{
	memset(o, 0, sizeof(*o));
	o->has_id = s->device.set;
	o->vid = s->device.vid;
	o->pid = s->device.pid;
	o->path = s->path;
	o->serial = s->serial;
}

void st7_settings_engine(const struct st7_settings *s, struct st7_engine_opts *o)
{
	st7_engine_opts_default(o);
	o->retries = (unsigned)s->retries;
	o->reenum_timeout_ms = (uint32_t)s->reenum_timeout_ms;
	o->poll_cap_ms = (uint32_t)s->max_poll_timeout_ms;
}

void st7_settings_upgrade(const struct st7_settings *s, struct st7_upgrade_opts *o)
{
	st7_upgrade_opts_default(o);
	o->state_dir = s->state_dir;
	o->allow_downgrade = s->allow_downgrade;
	o->allow_wildcard = s->allow_wildcard;
	o->allow_unversioned = s->allow_unversioned;
	o->no_backup = !s->backup;
	o->verify = s->verify_readback == ST7_READBACK_YES;
	o->no_verify = s->verify_readback == ST7_READBACK_NO;
	o->keep_backups = (unsigned)s->keep_backups;
	o->profile = s->profile;
}

void st7_settings_source(const struct st7_settings *s, struct st7_source_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->keys_dir = s->keys_dir;
	o->sig = s->sig;
	o->allow_unsigned = s->allow_unsigned;
	o->conditional = true;
	o->max_size = s->max_image_size;
}

void st7_settings_fetch(const struct st7_settings *s, struct st7_fetch_opts *o)
{
	st7_fetch_opts_default(o);
	o->ca_file = s->ca_file;
	o->client_cert = s->client_cert;
	o->client_key = s->client_key;
	o->allow_http = s->allow_http;
	o->connect_timeout_s = (uint32_t)s->connect_timeout_s;
	o->total_timeout_s = (uint32_t)s->download_timeout_s;
	o->low_speed_bytes = (uint32_t)s->low_speed_limit;
	o->low_speed_time_s = (uint32_t)s->low_speed_time_s;
	o->max_size = s->max_image_size;
}

void st7_settings_pack(const struct st7_settings *s, struct st7_pack_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ids.id_vendor = s->vid;
	o->ids.id_product = s->pid;
	o->ids.bcd_device = s->bcd;
	o->dfuse = s->format == ST7_PACK_DFUSE;
	if (!o->dfuse)
		o->ids.bcd_dfu =
		        s->dfu_version == ST7_PACK_DFU_1_1 ? ST7_BCDDFU_1_1 : ST7_BCDDFU_1_0;
	o->profile = s->profile;
	o->stamp_version = s->stamp_version;
	o->alt = (uint8_t)s->alt;
	o->target_name = s->target_name;
}
