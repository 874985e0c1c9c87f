/* SPDX-License-Identifier: MIT */
#include "policy.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "ini_doc.h"
#include "parse_util.h"
#include "st7_profile.h"

enum { K_MATCH, K_SERIAL, K_PORT, K_PROFILE, K_MIN_VERSION, K_HOLD, K_CHANNEL, K_COUNT };

const char *const st7_device_rule_keys[] = { "match",       "serial", "port",    "profile",
	                                     "min_version", "hold",   "channel", NULL };

/* Printable ASCII (spaces allowed only where `spaces`), 1..cap-1 bytes: values end up in
 * messages and JSON, so control bytes are refused rather than escaped everywhere. */
static bool printable(const char *v, size_t cap, bool spaces)
{
	size_t n = strlen(v);
	if (n == 0 || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c > 0x7e || (!spaces && c == ' '))
			return false;
	}
	return true;
}

static bool channel_ok(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n >= ST7_RULE_CHANNEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Each key's value into the rule; the message names the key, the caller adds nothing. */
static int set_value(struct st7_device_rule *r, int k, const char *v, struct st7_diag *d)
{
	switch (k) {
	case K_MATCH:
		if (st7_parse_usb_ids(v, &r->vid, &r->pid) != ST7_OK)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "match: '%.40s' is not VID:PID (e.g. 0483:ff03)", v);
		r->has_ids = true;
		return ST7_OK;
	case K_SERIAL:
		if (!printable(v, sizeof(r->serial_glob), true))
			return st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "serial: expected a glob of 1..%zu printable characters",
			        sizeof(r->serial_glob) - 1);
		strcpy(r->serial_glob, v);
		return ST7_OK;
	case K_PORT:
		if (!printable(v, sizeof(r->port), false))
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "port: expected a USB port path of 1..%zu printable "
			                    "characters without spaces (e.g. 1-1.2)",
			                    sizeof(r->port) - 1);
		strcpy(r->port, v);
		return ST7_OK;
	case K_PROFILE: {
		const struct st7_profile *p = st7_profile_find(v);
		if (!p || strlen(p->name) >= sizeof(r->profile))
			return st7_diag_set(d, ST7_ERR_FORMAT, "profile: unknown ST7 part '%.40s'",
			                    v);
		strcpy(r->profile, p->name);
		return ST7_OK;
	}
	case K_MIN_VERSION:
		if (st7_parse_bcd(v, &r->min_version) != ST7_OK)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "min_version: '%.40s' is not a version (e.g. 0x0120 or "
			                    "1.20)",
			                    v);
		r->has_min_version = true;
		return ST7_OK;
	case K_HOLD:
		if (st7_parse_bool(v, &r->hold) != ST7_OK)
			return st7_diag_set(d, ST7_ERR_FORMAT, "hold: '%.40s' is not yes or no", v);
		return ST7_OK;
	case K_CHANNEL:
		if (!channel_ok(v))
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "channel: '%.40s' is not 1..31 of a-z 0-9 _ -", v);
		strcpy(r->channel, v);
		return ST7_OK;
	default:
		return st7_diag_set(d, ST7_ERR_INVALID, "no such key");
	}
}

int st7_device_rules_begin(struct st7_device_rules *rules, const char *name, unsigned line,
                           struct st7_diag *d)
{
	if (!rules || !name)
		return st7_diag_set(d, ST7_ERR_INVALID, "no rules or no name");
	if (!printable(name, ST7_RULE_NAME_MAX, true))
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "[device] name: expected 1..%d printable characters",
		                    ST7_RULE_NAME_MAX - 1);
	for (size_t i = 0; i < rules->n; i++)
		if (strcmp(rules->r[i].name, name) == 0)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "duplicate [device \"%s\"] (first on line %u)", name,
			                    rules->r[i].line);
	if (rules->n >= ST7_POLICY_MAX_RULES)
		return st7_diag_set(d, ST7_ERR_FORMAT, "more than %d [device] sections",
		                    ST7_POLICY_MAX_RULES);
	struct st7_device_rule *r = &rules->r[rules->n];
	memset(r, 0, sizeof(*r));
	strcpy(r->name, name);
	r->line = line;
	rules->n++;
	return ST7_OK;
}

int st7_device_rules_set(struct st7_device_rules *rules, const char *key, const char *value,
                         unsigned line, struct st7_diag *d)
{
	if (!rules || rules->n == 0 || !key || !value)
		return st7_diag_set(d, ST7_ERR_INVALID, "a key outside a [device] section");
	struct st7_device_rule *r = &rules->r[rules->n - 1];
	int k = -1;
	for (int i = 0; i < K_COUNT; i++)
		if (strcmp(key, st7_device_rule_keys[i]) == 0)
			k = i;
	if (k < 0) {
		const char *near = st7_ini_nearest(key, st7_device_rule_keys);
		if (near)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "unknown key '%.40s' in [device \"%s\"] (did you mean "
			                    "'%s'?)",
			                    key, r->name, near);
		return st7_diag_set(d, ST7_ERR_FORMAT, "unknown key '%.40s' in [device \"%s\"]",
		                    key, r->name);
	}
	if (r->key_line[k])
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "duplicate key '%s' in [device \"%s\"] (first set on line %u)",
		                    key, r->name, r->key_line[k]);
	/* A bad value leaves the rule as it was: set into a copy, keep it on success. */
	struct st7_device_rule tmp = *r;
	int rc = set_value(&tmp, k, value, d);
	if (rc != ST7_OK)
		return rc;
	tmp.key_line[k] = line ? line : 1;
	*r = tmp;
	return ST7_OK;
}

int st7_device_rules_check(const struct st7_device_rules *rules, unsigned *bad_line,
                           struct st7_diag *d)
{
	if (!rules)
		return ST7_OK;
	for (size_t i = 0; i < rules->n; i++) {
		const struct st7_device_rule *r = &rules->r[i];
		if (!r->has_ids && !r->serial_glob[0] && !r->port[0]) {
			if (bad_line)
				*bad_line = r->line;
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "[device \"%s\"] needs at least one of match, serial, "
			                    "port",
			                    r->name);
		}
	}
	return ST7_OK;
}

bool st7_device_rule_matches(const struct st7_device_rule *r, uint16_t vid, uint16_t pid,
                             bool in_dfu_mode, const char *serial, const char *port)
{
	if (!r)
		return false;
	/* A rule with nothing but `match` says nothing about a loader (other IDs): it must
	 * not claim every device in DFU mode. */
	if (in_dfu_mode && !r->serial_glob[0] && !r->port[0])
		return false;
	if (!r->has_ids && !r->serial_glob[0] && !r->port[0])
		return false;
	if (!in_dfu_mode && r->has_ids && (r->vid != vid || r->pid != pid))
		return false;
	if (r->serial_glob[0] && (!serial || fnmatch(r->serial_glob, serial, 0) != 0))
		return false;
	if (r->port[0] && (!port || strcmp(r->port, port) != 0))
		return false;
	return true;
}
