/* SPDX-License-Identifier: MIT */
#include "decide.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "parse_util.h"
#include "st7_profile.h"

const char *st7_plan_reason_name(enum st7_plan_reason r)
{
	switch (r) {
	case ST7_PLAN_UPDATE:
		return "update";
	case ST7_PLAN_RECOVER:
		return "recover";
	case ST7_PLAN_UP_TO_DATE:
		return "up-to-date";
	case ST7_PLAN_HELD:
		return "held";
	case ST7_PLAN_BELOW_FLOOR:
		return "below-floor";
	case ST7_PLAN_DOWNGRADE_REFUSED:
		return "downgrade-refused";
	case ST7_PLAN_NOT_IN_COHORT:
		return "not-in-cohort";
	case ST7_PLAN_OUTSIDE_WINDOW:
		return "outside-window";
	case ST7_PLAN_PAUSED:
		return "paused";
	case ST7_PLAN_NOT_YET:
		return "not-yet";
	case ST7_PLAN_FAILED_MAX:
		return "failed-max";
	case ST7_PLAN_NO_RELEASE:
		return "no-release";
	case ST7_PLAN_NOT_FROM:
		return "not-from";
	case ST7_PLAN_AMBIGUOUS:
		return "ambiguous";
	case ST7_PLAN_BAD_URL:
		return "bad-url";
	case ST7_PLAN_POLICY_AMBIGUOUS:
		return "policy-ambiguous";
	}
	return "unknown";
}

/* RFC 3339 UTC; kept local so that the decision needs nothing but libc. */
/* The profile bit of a rule's profile name; 0 when unknown (matches nothing). */
static unsigned profile_bit(const char *name)
{
	for (size_t i = 0; i < st7_profile_count() && i < 32; i++) {
		const struct st7_profile *p = st7_profile_at(i);
		if (p && strcmp(p->name, name) == 0)
			return 1u << i;
	}
	return 0;
}

static void detail(struct st7_plan_row *row, enum st7_plan_reason why, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void detail(struct st7_plan_row *row, enum st7_plan_reason why, const char *fmt, ...)
{
	va_list ap;
	row->reason = why;
	row->chosen = why == ST7_PLAN_UPDATE || why == ST7_PLAN_RECOVER;
	va_start(ap, fmt);
	vsnprintf(row->detail, sizeof(row->detail), fmt, ap);
	va_end(ap);
}

static unsigned failures_of(const struct st7_plan_input *in, const struct st7_plan_device *dev,
                            const struct st7_release *r)
{
	unsigned most = 0;
	for (size_t i = 0; i < in->n_attempts && in->attempts; i++) {
		const struct st7_plan_attempts *a = &in->attempts[i];
		if (strcmp(a->serial, dev->serial) == 0 && strcmp(a->release, r->name) == 0 &&
		    memcmp(a->sha256, r->sha256, sizeof(a->sha256)) == 0 && a->failures > most)
			most = a->failures;
	}
	return most;
}

struct want {
	bool has_ids;
	uint16_t vid, pid;
	unsigned profiles;
	const char *channel;
};

/* Rule 3's filter, one release. */
static bool candidate(const struct st7_release *r, const struct want *w,
                      const struct st7_plan_device *dev)
{
	if (w->has_ids) {
		if (r->vid != w->vid || r->pid != w->pid)
			return false;
	} else if (r->vid != dev->vid || !r->profile[0]) {
		/* A loader without a rule's IDs: only a release that names a part the
		 * descriptors fit can be told apart from another product's. */
		return false;
	}
	if (r->profile[0] && (w->profiles & profile_bit(r->profile)) == 0)
		return false;
	if (r->serial_glob[0] && fnmatch(r->serial_glob, dev->serial, 0) != 0)
		return false;
	return !r->channel[0] || strcmp(r->channel, w->channel) == 0;
}

static void decide_one(const struct st7_plan_input *in, size_t i, struct st7_plan_row *row)
{
	const struct st7_plan_device *dev = &in->devices[i];
	const struct st7_manifest *m = in->manifest;
	const struct st7_device_rule *rule = NULL;
	char t[40];

	memset(row, 0, sizeof(*row));
	row->device = i;
	row->release = -1;
	row->rule = -1;

	/* 1. The policy: two rules claiming one device is the owner's mistake, never a
	 * guess between them. */
	if (in->rules) {
		for (size_t k = 0; k < in->rules->n; k++) {
			const struct st7_device_rule *r = &in->rules->r[k];
			if (!st7_device_rule_matches(r, dev->vid, dev->pid, dev->dfu_mode,
			                             dev->serial, dev->path))
				continue;
			if (rule) {
				row->rule = -1; /* no one rule applies */
				detail(row, ST7_PLAN_POLICY_AMBIGUOUS,
				       "policy ambiguous: [device \"%s\"] and [device \"%s\"] both "
				       "match",
				       rule->name, r->name);
				return;
			}
			rule = r;
			row->rule = (long)k;
		}
	}
	if (rule && rule->hold) {
		detail(row, ST7_PLAN_HELD, "held by [device \"%s\"] (hold = yes)", rule->name);
		return;
	}

	/* 2. Runtime IDs. */
	struct want w = { 0 };
	if (!dev->dfu_mode) {
		w.has_ids = true;
		w.vid = dev->vid;
		w.pid = dev->pid;
	} else if (rule && rule->has_ids) {
		w.has_ids = true;
		w.vid = rule->vid;
		w.pid = rule->pid;
	}
	w.profiles = rule && rule->profile[0] ? profile_bit(rule->profile) : dev->profiles;
	w.channel = rule && rule->channel[0] ? rule->channel : (in->channel ? in->channel : "");

	/* 3. Candidates. */
	size_t n_cand = 0, first = 0;
	for (size_t k = 0; m && k < m->n_releases; k++) {
		if (!candidate(&m->releases[k], &w, dev))
			continue;
		if (n_cand++ == 0)
			first = k;
	}
	if (n_cand == 0) {
		if (w.has_ids)
			detail(row, ST7_PLAN_NO_RELEASE,
			       "no release in the manifest for %04x:%04x on channel '%s'", w.vid,
			       w.pid, w.channel);
		else
			detail(row, ST7_PLAN_NO_RELEASE,
			       "no release in the manifest for this loader (%04x:%04x) on channel "
			       "'%s'",
			       dev->vid, dev->pid, w.channel);
		return;
	}

	/* 4. Up to date, then the `from` ranges (a second pass over the candidates). */
	size_t n_left = 0, pick = 0, second = 0;
	for (size_t k = first; k < m->n_releases; k++) {
		const struct st7_release *r = &m->releases[k];
		if (!candidate(r, &w, dev))
			continue;
		if (!dev->dfu_mode && r->version == dev->version) {
			row->release = (long)k;
			detail(row, ST7_PLAN_UP_TO_DATE,
			       "up to date: version 0x%04x (release '%s')", dev->version, r->name);
			return;
		}
		if (!dev->dfu_mode && r->has_from &&
		    (dev->version < r->from_lo || dev->version > r->from_hi))
			continue;
		if (n_left == 1)
			second = k;
		if (n_left++ == 0)
			pick = k;
	}
	if (n_left == 0) {
		const struct st7_release *r = &m->releases[first];
		row->release = (long)first;
		if (n_cand == 1)
			detail(row, ST7_PLAN_NOT_FROM,
			       "version 0x%04x is outside release '%s''s from range 0x%04x-0x%04x",
			       dev->version, r->name, r->from_lo, r->from_hi);
		else
			detail(row, ST7_PLAN_NOT_FROM,
			       "version 0x%04x is outside the from range of all %zu matching "
			       "releases (first '%s')",
			       dev->version, n_cand, r->name);
		return;
	}
	if (n_left > 1) {
		detail(row, ST7_PLAN_AMBIGUOUS, "ambiguous: releases '%s' and '%s' both match%s",
		       m->releases[pick].name, m->releases[second].name,
		       n_left > 2 ? " (and more)" : "");
		return;
	}

	/* 5. The one release. */
	const struct st7_release *r = &m->releases[pick];
	row->release = (long)pick;
	if (rule && rule->has_min_version && r->version < rule->min_version) {
		detail(row, ST7_PLAN_BELOW_FLOOR,
		       "release '%s' version 0x%04x is below the floor (min_version 0x%04x of "
		       "[device \"%s\"])",
		       r->name, r->version, rule->min_version, rule->name);
		return;
	}
	if (!dev->dfu_mode && r->version < dev->version && !r->downgrade) {
		detail(row, ST7_PLAN_DOWNGRADE_REFUSED,
		       "release '%s' version 0x%04x is lower than the device's 0x%04x and not "
		       "marked downgrade",
		       r->name, r->version, dev->version);
		return;
	}

	/* 6. Paused, failed too often. */
	if (r->paused) {
		detail(row, ST7_PLAN_PAUSED, "release '%s' is paused", r->name);
		return;
	}
	unsigned failures = failures_of(in, dev, r);
	if (failures >= in->max_attempts) {
		row->failures = failures;
		detail(row, ST7_PLAN_FAILED_MAX,
		       "release '%s' failed %u times already on this device (max_attempts %u)",
		       r->name, failures, in->max_attempts);
		return;
	}

	/* 7. A device stuck in its loader gets its release now. */
	if (dev->dfu_mode) {
		detail(row, ST7_PLAN_RECOVER,
		       "recover: the device waits in DFU mode; release '%s' (version 0x%04x)",
		       r->name, r->version);
		return;
	}

	/* 8. Time, cohort, window. */
	if (r->has_not_before && r->not_before > in->now) {
		row->until = r->not_before;
		st7_format_utc(r->not_before, t, sizeof(t));
		detail(row, ST7_PLAN_NOT_YET, "release '%s' is not to be installed before %s",
		       r->name, t);
		return;
	}
	unsigned cohort = st7_cohort(in->gateway_id ? in->gateway_id : "", r->name);
	if (cohort >= r->rollout) {
		row->cohort = cohort;
		detail(row, ST7_PLAN_NOT_IN_COHORT, "not in the rollout: cohort %u >= %u%%", cohort,
		       r->rollout);
		return;
	}
	if (!in->window.open) {
		if (in->window.opens) {
			row->until = in->window.next_open;
			st7_format_utc(in->window.next_open, t, sizeof(t));
			detail(row, ST7_PLAN_OUTSIDE_WINDOW,
			       "outside the maintenance window until %s", t);
		} else {
			detail(row, ST7_PLAN_OUTSIDE_WINDOW,
			       "outside the maintenance window (none opens within 8 days)");
		}
		return;
	}
	row->cohort = cohort;
	detail(row, ST7_PLAN_UPDATE,
	       "update from 0x%04x to 0x%04x (release '%s', cohort %u < %u%%)", dev->version,
	       r->version, r->name, row->cohort, r->rollout);
}

void st7_plan_decide(const struct st7_plan_input *in, struct st7_plan_row *rows)
{
	if (!in || !rows)
		return;
	for (size_t i = 0; i < in->n_devices && in->devices; i++)
		decide_one(in, i, &rows[i]);
}
