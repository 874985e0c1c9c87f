/* SPDX-License-Identifier: MIT */
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini_doc.h"
#include "parse_util.h"
#include "st7_profile.h"

enum sect { SECT_NONE, SECT_MANIFEST, SECT_RELEASE };

struct mctx {
	const char *name;
	struct st7_manifest m; /* moved to the caller's only when all of it is good */
	size_t cap;
	enum sect cur;
	unsigned seen; /* bit i: key i of the current section's table was set */
	bool have_manifest;
	unsigned manifest_line;
	unsigned manifest_seen;
	unsigned rel_seen[ST7_MANIFEST_MAX_RELEASES]; /* each release's keys, for required ones */
};

typedef int (*setter_fn)(struct mctx *c, const char *v, struct st7_diag *d);

struct key {
	const char *name;
	setter_fn set;
	bool required;
};

static struct st7_release *cur_rel(struct mctx *c)
{
	return &c->m.releases[c->m.n_releases - 1];
}

/* A bcdDevice word: four decimal nibbles (st7_parse_bcd also takes hex like 0x00ff). */
static int parse_version(const char *v, uint16_t *out)
{
	uint16_t w;
	if (st7_parse_bcd(v, &w) != ST7_OK)
		return ST7_ERR_FORMAT;
	for (int i = 0; i < 16; i += 4)
		if (((w >> i) & 0xf) > 9)
			return ST7_ERR_FORMAT;
	*out = w;
	return ST7_OK;
}

static int set_serial(struct mctx *c, const char *v, struct st7_diag *d)
{
	if (st7_parse_uint(v, 1, ST7_MANIFEST_SERIAL_MAX, &c->m.serial) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_FORMAT, "serial: expected 1..2^53, not '%.64s'", v);
	return ST7_OK;
}

static int set_time(const char *key, const char *v, int64_t *out, struct st7_diag *d)
{
	if (st7_parse_utc(v, out) != ST7_OK)
		return st7_diag_set(
		        d, ST7_ERR_FORMAT,
		        "%s: expected a UTC time like 2026-12-31T00:00:00Z, not '%.64s'", key, v);
	return ST7_OK;
}

static int set_issued(struct mctx *c, const char *v, struct st7_diag *d)
{
	return set_time("issued", v, &c->m.issued, d);
}

static int set_expires(struct mctx *c, const char *v, struct st7_diag *d)
{
	return set_time("expires", v, &c->m.expires, d);
}

static int set_match(struct mctx *c, const char *v, struct st7_diag *d)
{
	struct st7_release *r = cur_rel(c);
	if (st7_parse_usb_ids(v, &r->vid, &r->pid) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_FORMAT, "match: expected VID:PID, not '%.64s'", v);
	return ST7_OK;
}

static int set_profile(struct mctx *c, const char *v, struct st7_diag *d)
{
	const struct st7_profile *p = st7_profile_find(v);
	if (!p || strlen(p->name) >= ST7_MANIFEST_PROFILE_MAX)
		return st7_diag_set(d, ST7_ERR_FORMAT, "profile: unknown ST7 part '%.64s'", v);
	strcpy(cur_rel(c)->profile, p->name);
	return ST7_OK;
}

/* Printable ASCII, 1..cap-1 bytes; `space` allows ' '. */
static bool printable(const char *v, size_t cap, bool space)
{
	size_t n = 0;
	for (; v[n]; n++)
		if ((unsigned char)v[n] > 0x7e || (unsigned char)v[n] < (space ? 0x20 : 0x21))
			return false;
	return n > 0 && n < cap;
}

static int set_serial_glob(struct mctx *c, const char *v, struct st7_diag *d)
{
	/* fnmatch(3) takes any text safely; bounding it and keeping it printable keeps
	 * messages and the report readable. */
	if (!printable(v, ST7_MANIFEST_GLOB_MAX, true))
		return st7_diag_set(d, ST7_ERR_FORMAT, "serial: expected 1..%d printable bytes",
		                    ST7_MANIFEST_GLOB_MAX - 1);
	strcpy(cur_rel(c)->serial_glob, v);
	return ST7_OK;
}

static int set_version(struct mctx *c, const char *v, struct st7_diag *d)
{
	if (parse_version(v, &cur_rel(c)->version) != ST7_OK)
		return st7_diag_set(
		        d, ST7_ERR_FORMAT,
		        "version: expected a BCD version like 0x0237 or 2.37, not '%.64s'", v);
	return ST7_OK;
}

static int set_from(struct mctx *c, const char *v, struct st7_diag *d)
{
	struct st7_release *r = cur_rel(c);
	char lo[16];
	const char *dash = strchr(v, '-');
	uint16_t a, b;
	size_t n = dash ? (size_t)(dash - v) : strlen(v);
	if (n >= sizeof(lo))
		goto bad;
	memcpy(lo, v, n);
	lo[n] = '\0';
	if (parse_version(lo, &a) != ST7_OK || parse_version(dash ? dash + 1 : lo, &b) != ST7_OK)
		goto bad;
	if (a > b)
		return st7_diag_set(d, ST7_ERR_FORMAT, "from: low end above high end in '%.64s'",
		                    v);
	r->has_from = true;
	r->from_lo = a;
	r->from_hi = b;
	return ST7_OK;
bad:
	return st7_diag_set(d, ST7_ERR_FORMAT,
	                    "from: expected VERSION or VERSION-VERSION, not '%.64s'", v);
}

static int set_url(struct mctx *c, const char *v, struct st7_diag *d)
{
	if (!printable(v, ST7_MANIFEST_URL_MAX, false))
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "url: expected 1..%d printable bytes without spaces",
		                    ST7_MANIFEST_URL_MAX - 1);
	strcpy(cur_rel(c)->url, v);
	return ST7_OK;
}

static int set_sha256(struct mctx *c, const char *v, struct st7_diag *d)
{
	if (st7_parse_sha256(v, cur_rel(c)->sha256) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_FORMAT, "sha256: expected exactly 64 hex digits");
	return ST7_OK;
}

static int set_size(struct mctx *c, const char *v, struct st7_diag *d)
{
	if (st7_parse_size(v, 1, 1ull << 30, &cur_rel(c)->size) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_FORMAT, "size: expected 1..1G bytes, not '%.64s'",
		                    v);
	return ST7_OK;
}

static int set_rollout(struct mctx *c, const char *v, struct st7_diag *d)
{
	uint64_t p;
	if (st7_parse_uint(v, 0, 100, &p) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_FORMAT, "rollout: expected 0..100, not '%.64s'", v);
	cur_rel(c)->rollout = (unsigned)p;
	return ST7_OK;
}

static int set_not_before(struct mctx *c, const char *v, struct st7_diag *d)
{
	struct st7_release *r = cur_rel(c);
	int ret = set_time("not_before", v, &r->not_before, d);
	if (ret == ST7_OK)
		r->has_not_before = true;
	return ret;
}

static int set_bool(const char *key, const char *v, bool *out, struct st7_diag *d)
{
	if (st7_parse_bool(v, out) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_FORMAT, "%s: expected yes or no, not '%.64s'", key,
		                    v);
	return ST7_OK;
}

static int set_paused(struct mctx *c, const char *v, struct st7_diag *d)
{
	return set_bool("paused", v, &cur_rel(c)->paused, d);
}

static int set_downgrade(struct mctx *c, const char *v, struct st7_diag *d)
{
	return set_bool("downgrade", v, &cur_rel(c)->downgrade, d);
}

static int set_channel(struct mctx *c, const char *v, struct st7_diag *d)
{
	size_t n = 0;
	for (; v[n]; n++)
		if (!((v[n] >= 'a' && v[n] <= 'z') || (v[n] >= '0' && v[n] <= '9') || v[n] == '_' ||
		      v[n] == '-'))
			break;
	if (v[n] || n == 0 || n >= ST7_MANIFEST_CHANNEL_MAX)
		return st7_diag_set(d, ST7_ERR_FORMAT, "channel: expected [a-z0-9_-]{1,%d}",
		                    ST7_MANIFEST_CHANNEL_MAX - 1);
	strcpy(cur_rel(c)->channel, v);
	return ST7_OK;
}

static const struct key manifest_keys[] = {
	{ "serial", set_serial, true },
	{ "issued", set_issued, true },
	{ "expires", set_expires, true },
	{ NULL, NULL, false },
};

static const struct key release_keys[] = {
	{ "match", set_match, true },          { "profile", set_profile, false },
	{ "serial", set_serial_glob, false },  { "version", set_version, true },
	{ "from", set_from, false },           { "url", set_url, true },
	{ "sha256", set_sha256, true },        { "size", set_size, true },
	{ "rollout", set_rollout, false },     { "not_before", set_not_before, false },
	{ "paused", set_paused, false },       { "channel", set_channel, false },
	{ "downgrade", set_downgrade, false }, { NULL, NULL, false },
};

/* The names of a table, NULL-terminated, for st7_ini_nearest. */
static const char *const manifest_names[] = { "serial", "issued", "expires", NULL };
static const char *const release_names[] = { "match",     "profile",    "serial", "version",
	                                     "from",      "url",        "sha256", "size",
	                                     "rollout",   "not_before", "paused", "channel",
	                                     "downgrade", NULL };

const char *const *st7_manifest_key_names(bool release)
{
	return release ? release_names : manifest_names;
}

static int on_section(void *arg, const char *section, unsigned line, struct st7_diag *d)
{
	struct mctx *c = arg;
	char kind[16], name[ST7_MANIFEST_NAME_MAX];
	int has_name, ret;
	ret = st7_ini_section_split(section, kind, sizeof(kind), name, sizeof(name), &has_name, d);
	if (ret != ST7_OK)
		return ret;
	if (strcmp(kind, "manifest") == 0 && !has_name) {
		if (c->have_manifest)
			return st7_diag_set(d, ST7_ERR_FORMAT, "a second [manifest] section");
		c->have_manifest = true;
		c->manifest_line = line;
		c->cur = SECT_MANIFEST;
		c->seen = 0;
		return ST7_OK;
	}
	if (strcmp(kind, "release") != 0 || !has_name)
		return st7_diag_set(
		        d, ST7_ERR_FORMAT,
		        "unknown section [%.80s] (expected [manifest] or [release \"NAME\"])",
		        section);
	for (size_t i = 0; i < c->m.n_releases; i++)
		if (strcmp(c->m.releases[i].name, name) == 0)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "duplicate release \"%s\" (first at line %u)", name,
			                    c->m.releases[i].line);
	if (c->m.n_releases >= ST7_MANIFEST_MAX_RELEASES)
		return st7_diag_set(d, ST7_ERR_FORMAT, "more than %d releases",
		                    ST7_MANIFEST_MAX_RELEASES);
	if (c->m.n_releases == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 8;
		struct st7_release *n = realloc(c->m.releases, ncap * sizeof(*n));
		if (!n)
			return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory for releases");
		c->m.releases = n;
		c->cap = ncap;
	}
	struct st7_release *r = &c->m.releases[c->m.n_releases++];
	memset(r, 0, sizeof(*r));
	strcpy(r->name, name);
	r->rollout = 100;
	r->line = line;
	c->cur = SECT_RELEASE;
	c->seen = 0;
	return ST7_OK;
}

static int on_entry(void *arg, const char *section, const char *key, const char *value,
                    unsigned line, struct st7_diag *d)
{
	struct mctx *c = arg;
	(void)line;
	if (c->cur == SECT_NONE)
		return st7_diag_set(d, ST7_ERR_FORMAT, "key '%.64s' outside a section", key);
	const struct key *keys = c->cur == SECT_MANIFEST ? manifest_keys : release_keys;
	for (unsigned i = 0; keys[i].name; i++) {
		if (strcmp(keys[i].name, key) != 0)
			continue;
		if (c->seen & (1u << i))
			return st7_diag_set(d, ST7_ERR_FORMAT, "duplicate key '%s' in [%.80s]", key,
			                    section);
		int ret = keys[i].set(c, value, d);
		if (ret != ST7_OK)
			return ret;
		c->seen |= 1u << i;
		if (c->cur == SECT_MANIFEST)
			c->manifest_seen = c->seen;
		else
			c->rel_seen[c->m.n_releases - 1] = c->seen;
		return ST7_OK;
	}
	const char *near =
	        st7_ini_nearest(key, c->cur == SECT_MANIFEST ? manifest_names : release_names);
	if (near)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "unknown key '%.64s' in [%.80s] (did you mean '%s'?)", key,
		                    section, near);
	return st7_diag_set(d, ST7_ERR_FORMAT, "unknown key '%.64s' in [%.80s]", key, section);
}

/* The first required key of `keys` missing from `seen`, or NULL. */
static const char *missing(const struct key *keys, unsigned seen)
{
	for (unsigned i = 0; keys[i].name; i++)
		if (keys[i].required && !(seen & (1u << i)))
			return keys[i].name;
	return NULL;
}

void st7_manifest_init(struct st7_manifest *m)
{
	memset(m, 0, sizeof(*m));
}

void st7_manifest_free(struct st7_manifest *m)
{
	if (!m)
		return;
	free(m->releases);
	st7_manifest_init(m);
}

int st7_manifest_parse(const char *name, const uint8_t *data, size_t len, struct st7_manifest *m,
                       struct st7_diag *d)
{
	struct mctx c;
	int ret;
	memset(&c, 0, sizeof(c));
	c.name = name ? name : "(manifest)";
	if (!m) {
		ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: no manifest to fill", c.name);
		goto out;
	}
	ret = st7_ini_parse(c.name, data, len, on_section, on_entry, &c, d);
	if (ret != ST7_OK)
		goto out;
	ret = ST7_ERR_FORMAT;
	if (!c.have_manifest) {
		st7_diag_set(d, ret, "%s: no [manifest] section", c.name);
		goto out;
	}
	const char *k = missing(manifest_keys, c.manifest_seen);
	if (k) {
		st7_diag_set(d, ret, "%s:%u: missing key '%s' in [manifest]", c.name,
		             c.manifest_line, k);
		goto out;
	}
	if (c.m.expires <= c.m.issued) {
		st7_diag_set(d, ret, "%s:%u: expires is not after issued", c.name, c.manifest_line);
		goto out;
	}
	/* A missing key is reported at its section's header line: no other line names it. */
	for (size_t i = 0; i < c.m.n_releases; i++) {
		k = missing(release_keys, c.rel_seen[i]);
		if (k) {
			st7_diag_set(d, ret, "%s:%u: missing key '%s' in [release \"%s\"]", c.name,
			             c.m.releases[i].line, k, c.m.releases[i].name);
			goto out;
		}
	}
	ret = ST7_OK;
out:
	if (m) {
		st7_manifest_free(m); /* the caller's old content is replaced, or emptied */
		if (ret == ST7_OK) {
			*m = c.m;
			c.m.releases = NULL;
		}
	}
	free(c.m.releases);
	return ret;
}

/* scheme "://": a letter, then letters, digits, '+', '-', '.' (RFC 3986 3.1). */
static size_t scheme_len(const char *s)
{
	size_t i = 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	       (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.')
		i++;
	return strncmp(s + i, "://", 3) == 0 ? i + 3 : 0;
}

/* Does the path part (before '?' or '#') hold a ".." segment? */
static bool has_dotdot(const char *s)
{
	const char *seg = s;
	for (const char *p = s;; p++) {
		if (*p == '/' || *p == '?' || *p == '#' || *p == '\0') {
			if (p - seg == 2 && seg[0] == '.' && seg[1] == '.')
				return true;
			if (*p != '/')
				return false;
			seg = p + 1;
		}
	}
}

int st7_manifest_resolve_url(const char *base, const char *url, char *out, size_t cap,
                             struct st7_diag *d)
{
	size_t keep; /* bytes of base kept in front of url */
	if (!base || !url || !out || !cap)
		return st7_diag_set(d, ST7_ERR_INVALID, "resolve url: bad arguments");
	if (!*url)
		return st7_diag_set(d, ST7_ERR_FORMAT, "empty url");
	if (scheme_len(url)) {
		keep = 0;
	} else {
		if (url[0] == '/' && url[1] == '/')
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "url '%.64s': a network-path reference is refused",
			                    url);
		if (has_dotdot(url))
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "url '%.64s': '..' segments are refused", url);
		size_t sl = scheme_len(base);
		/* The path of base: after scheme://authority, up to '?' or '#'. */
		size_t path0 = sl ? sl + strcspn(base + sl, "/?#") : 0;
		/* A URL's query and fragment are not its path; a local path has neither. */
		size_t path_end = sl ? path0 + strcspn(base + path0, "?#") : strlen(base);
		if (url[0] == '/') {
			keep = path0; /* "/x" replaces the whole path (a local path: all of it) */
		} else {
			keep = path0;
			for (size_t i = path0; i < path_end; i++)
				if (base[i] == '/')
					keep = i + 1;
		}
		if (sl && keep == path0 && url[0] != '/') {
			/* "https://host" has an empty path: the relative url goes under "/". */
			size_t ul = strlen(url);
			if (keep + 1 + ul >= cap)
				goto too_long;
			memcpy(out, base, keep);
			out[keep] = '/';
			memcpy(out + keep + 1, url, ul + 1);
			return ST7_OK;
		}
	}
	size_t ul = strlen(url);
	if (keep + ul >= cap)
		goto too_long;
	memmove(out, base, keep);
	memcpy(out + keep, url, ul + 1);
	return ST7_OK;
too_long:
	return st7_diag_set(d, ST7_ERR_INVALID, "url '%.64s': resolved url longer than %zu bytes",
	                    url, cap - 1);
}
