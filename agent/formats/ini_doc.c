/* SPDX-License-Identifier: MIT */
#include "ini_doc.h"

#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Longer section texts are refused: inih keeps only 50 bytes of one, so we track our own. */
#define SECTION_MAX 256

struct doc {
	const char *name;
	const uint8_t *data;
	size_t len, pos;
	unsigned line; /* of the line last handed to inih */
	bool key_seen; /* a key line since the last header: an indented line would continue it */
	char section[SECTION_MAX];
	st7_ini_section_fn on_section;
	st7_ini_entry_fn on_entry;
	void *arg;
	int err; /* the first error, with its message in *d */
	struct st7_diag *d;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Record the first error with the "NAME:LINE: " prefix; later ones are dropped. */
static int fail(struct doc *doc, int err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int fail(struct doc *doc, int err, const char *fmt, ...)
{
	if (doc->err)
		return doc->err;
	va_list ap;
	va_start(ap, fmt);
	st7_diag_vset(doc->d, err, fmt, ap);
	va_end(ap);
	doc->err = st7_diag_prefix(doc->d, err, "%s:%u", doc->name, doc->line);
	return doc->err;
}

/* A callback's error: its message gets the prefix. */
static void callback_failed(struct doc *doc, int err)
{
	if (err >= 0) /* a callback that breaks the contract still fails closed */
		err = ST7_ERR_INVALID;
	doc->err = st7_diag_prefix(doc->d, err, "%s:%u", doc->name, doc->line);
}

/* "[text]" with only blanks or a comment after it; text as written (inih's own rule:
 * the first ']' closes, a ';' after a blank starts a comment). */
static int section_line(struct doc *doc, const char *s, size_t n)
{
	size_t i = 1, end;
	for (end = i; end < n && s[end] != ']'; end++)
		if (s[end] == ';' && is_blank(s[end - 1]))
			break;
	if (end >= n || s[end] != ']')
		return fail(doc, ST7_ERR_FORMAT, "missing ']' in section header");
	for (size_t j = end + 1; j < n; j++) {
		if (s[j] == ';' || s[j] == '#')
			break;
		if (!is_blank(s[j]))
			return fail(doc, ST7_ERR_FORMAT, "text after ']' in section header");
	}
	if (end - i >= sizeof(doc->section))
		return fail(doc, ST7_ERR_FORMAT, "section header longer than %d bytes",
		            SECTION_MAX - 1);
	memcpy(doc->section, s + i, end - i);
	doc->section[end - i] = '\0';
	doc->key_seen = false;
	int r = doc->on_section ? doc->on_section(doc->arg, doc->section, doc->line, doc->d)
	                        : ST7_OK;
	if (r != ST7_OK)
		callback_failed(doc, r);
	return doc->err;
}

/*
 * inih's reader: one whole line per call, checked first, its line end made "\n". Lines
 * are never split across calls, so inih's line count is ours. After an error it ends the
 * document: the first error is the one returned and nothing after it is called.
 */
static char *reader(char *str, int num, void *stream)
{
	struct doc *doc = stream;
	if (doc->err || doc->pos >= doc->len)
		return NULL;
	const char *s = (const char *)doc->data + doc->pos;
	size_t avail = doc->len - doc->pos, n = 0;
	doc->line++;
	if (doc->pos == 0 && avail >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3; /* the byte-order mark: ours to drop, so no build of inih sees it */
		avail -= 3;
		doc->pos += 3;
	}
	while (n < avail && s[n] != '\n')
		n++;
	doc->pos += n < avail ? n + 1 : n;
	size_t content = n;
	if (content && s[content - 1] == '\r')
		content--;
	for (size_t i = 0; i < content; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail(doc, ST7_ERR_FORMAT, "control character 0x%02x at column %zu", c,
			     i + 1);
			return NULL;
		}
	}
	if (content > ST7_INI_MAX_LINE) {
		fail(doc, ST7_ERR_FORMAT, "line longer than %d bytes", ST7_INI_MAX_LINE);
		return NULL;
	}
	/* The line, its "\n" and the NUL must fit inih's buffer whole: a cut is an error. */
	if (num < 2 || content > (size_t)num - 2) {
		fail(doc, ST7_ERR_FORMAT, "line longer than %d bytes (inih's limit)", num - 2);
		return NULL;
	}
	size_t first = 0;
	while (first < content && is_blank(s[first]))
		first++;
	if (first < content && s[first] != ';' && s[first] != '#') {
		if (first > 0 && doc->key_seen) {
			/* inih would append it to the previous key's value (or call it an
			 * error without multi-line values): either way, refused here. */
			fail(doc, ST7_ERR_FORMAT, "unexpected indented line");
			return NULL;
		}
		if (s[first] == '[') {
			if (section_line(doc, s + first, content - first) != ST7_OK)
				return NULL;
		} else {
			/* inih's find_chars_or_comment: '=' or ':' before any " ;" comment. */
			size_t i;
			for (i = first; i < content; i++)
				if (s[i] == '=' || s[i] == ':' ||
				    (s[i] == ';' && i > first && is_blank(s[i - 1])))
					break;
			if (i == content || s[i] == ';') {
				fail(doc, ST7_ERR_FORMAT, "expected 'key = value' or '[section]'");
				return NULL;
			}
			doc->key_seen = true;
		}
	}
	memcpy(str, s, content);
	str[content] = '\n';
	str[content + 1] = '\0';
	return str;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct doc *doc = user;
	(void)section; /* inih's copy is cut at 50 bytes; ours is whole */
	if (doc->err)
		return 0;
	if (!*key) {
		fail(doc, ST7_ERR_FORMAT, "empty key");
		return 0;
	}
	size_t vl = strlen(value);
	char unq[ST7_INI_MAX_LINE + 1];
	if (value[0] == '"') {
		/* Quotes keep leading and trailing spaces; no escapes inside. */
		if (vl < 2 || value[vl - 1] != '"') {
			fail(doc, ST7_ERR_FORMAT, "missing closing quote in the value of '%s'",
			     key);
			return 0;
		}
		memcpy(unq, value + 1, vl - 2);
		unq[vl - 2] = '\0';
		value = unq;
	}
	int r = doc->on_entry ? doc->on_entry(doc->arg, doc->section, key, value, doc->line, doc->d)
	                      : ST7_OK;
	if (r != ST7_OK) {
		callback_failed(doc, r);
		return 0;
	}
	return 1;
}

int st7_ini_parse(const char *name, const uint8_t *data, size_t len, st7_ini_section_fn on_section,
                  st7_ini_entry_fn on_entry, void *arg, struct st7_diag *d)
{
	struct doc doc = { .name = name ? name : "(ini)",
		           .data = data,
		           .len = data ? len : 0,
		           .on_section = on_section,
		           .on_entry = on_entry,
		           .arg = arg,
		           .d = d };
	int ret;
	if (!data && len) {
		ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: no data", doc.name);
		goto out;
	}
#ifdef ST7_INIH_RUNTIME_LIMITS
	/* Raise inih's line buffer so a whole ST7_INI_MAX_LINE line and its "\n" fit; the
	 * reader still refuses a longer one, so nothing depends on realloc kicking in. */
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_initial_alloc = ST7_INI_MAX_LINE + 3;
	ini_max_line = ST7_INI_MAX_LINE + 3;
	ini_allow_multiline = false;
#endif
	int r = ini_parse_stream(reader, &doc, handler, &doc);
	if (doc.err) {
		ret = doc.err;
	} else if (r == -2) {
		ret = st7_diag_set(d, ST7_ERR_NOMEM, "%s: out of memory reading INI", doc.name);
	} else if (r != 0) {
		/* inih refused a line our reader let through: still a syntax error. */
		doc.line = r > 0 ? (unsigned)r : doc.line;
		ret = fail(&doc, ST7_ERR_FORMAT, "line not understood");
	} else {
		ret = ST7_OK;
	}
out:
	return ret;
}

int st7_ini_section_split(const char *section, char *kind, size_t kind_cap, char *name,
                          size_t name_cap, int *has_name, struct st7_diag *d)
{
	size_t k = 0;
	if (!section || !kind || !kind_cap || !name || !name_cap || !has_name)
		return st7_diag_set(d, ST7_ERR_INVALID, "section split: bad arguments");
	while ((section[k] >= 'a' && section[k] <= 'z') ||
	       (section[k] >= '0' && section[k] <= '9') || section[k] == '_')
		k++;
	if (k == 0)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "section [%.64s]: expected a lower-case kind", section);
	if (k >= kind_cap)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "section [%.64s]: kind longer than %zu bytes", section,
		                    kind_cap - 1);
	if (section[k] == '\0') {
		memcpy(kind, section, k);
		kind[k] = '\0';
		name[0] = '\0';
		*has_name = 0;
		return ST7_OK;
	}
	const char *p = section + k;
	if (!is_blank(*p))
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "section [%.64s]: expected 'kind' or 'kind \"NAME\"'", section);
	while (is_blank(*p))
		p++;
	if (*p != '"')
		return st7_diag_set(d, ST7_ERR_FORMAT, "section [%.64s]: name must be in quotes",
		                    section);
	const char *n0 = ++p;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "section [%.64s]: unprintable byte in name", section);
		p++;
	}
	size_t nl = (size_t)(p - n0);
	if (*p != '"' || p[1] != '\0')
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "section [%.64s]: expected 'kind \"NAME\"' and nothing after",
		                    section);
	if (nl == 0 || nl >= name_cap)
		return st7_diag_set(d, ST7_ERR_FORMAT, "section [%.64s]: name must be 1..%zu bytes",
		                    section, name_cap - 1);
	memcpy(kind, section, k);
	kind[k] = '\0';
	memcpy(name, n0, nl);
	name[nl] = '\0';
	*has_name = 1;
	return ST7_OK;
}

#define NEAREST_MAX 64 /* longer words are nobody's misspelling of a key */

/* Edit distance counting a swap of two neighbours as one edit (optimal string
 * alignment): "hodl" is one typo away from "hold", not two. Three rolling rows. */
static unsigned distance(const char *a, size_t la, const char *b, size_t lb)
{
	unsigned rows[3][NEAREST_MAX + 1];
	unsigned *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned best = prev[j - 1] + (a[i - 1] != b[j - 1]);
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		unsigned *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

const char *st7_ini_nearest(const char *word, const char *const *words)
{
	const char *best = NULL;
	unsigned best_d = ~0u;
	if (!word || !words)
		return NULL;
	size_t lw = strlen(word);
	if (lw > NEAREST_MAX)
		return NULL;
	for (size_t i = 0; words[i]; i++) {
		size_t lc = strlen(words[i]);
		if (lc > NEAREST_MAX)
			continue;
		unsigned limit = lc <= 4 ? 1 : 2;
		unsigned dist = distance(word, lw, words[i], lc);
		if (dist <= limit && dist < best_d) {
			best = words[i];
			best_d = dist;
		}
	}
	return best;
}
