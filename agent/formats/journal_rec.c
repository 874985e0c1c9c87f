/* SPDX-License-Identifier: MIT */
#include "journal_rec.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "crc32.h"

static const char *const phase_names[] = {
	[ST7_JPH_DECIDED] = "decided",
	[ST7_JPH_FETCHED] = "fetched",
	[ST7_JPH_BACKED_UP] = "backed-up",
	[ST7_JPH_DETACHING] = "detaching",
	[ST7_JPH_DOWNLOADING] = "downloading",
	[ST7_JPH_MANIFESTING] = "manifesting",
	[ST7_JPH_POSTCHECK] = "post-check",
	[ST7_JPH_RECOVERING] = "recovering",
	[ST7_JPH_DONE] = "done",
	[ST7_JPH_ROLLED_BACK] = "rolled-back",
	[ST7_JPH_FAILED] = "failed",
	[ST7_JPH_LEFT_IN_DFU] = "left-in-dfu",
};
#define PHASE_COUNT (sizeof(phase_names) / sizeof(phase_names[0]))

const char *st7_journal_phase_name(enum st7_journal_phase p)
{
	unsigned i = (unsigned)p;
	return i >= 1 && i < PHASE_COUNT ? phase_names[i] : "?";
}

int st7_journal_phase_parse(const char *s, enum st7_journal_phase *out)
{
	if (!s)
		return ST7_ERR_FORMAT;
	for (unsigned i = 1; i < PHASE_COUNT; i++)
		if (strcmp(s, phase_names[i]) == 0) {
			*out = (enum st7_journal_phase)i;
			return ST7_OK;
		}
	return ST7_ERR_FORMAT;
}

bool st7_journal_phase_terminal(enum st7_journal_phase p)
{
	return p == ST7_JPH_DONE || p == ST7_JPH_ROLLED_BACK || p == ST7_JPH_FAILED ||
	       p == ST7_JPH_LEFT_IN_DFU;
}

static bool safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

int st7_journal_key(uint16_t vid, uint16_t pid, const char *serial, char *out, size_t cap)
{
	size_t k;
	if (!out || !cap)
		return ST7_ERR_INVALID;
	out[0] = '\0';
	if (!serial || cap < 11)
		return ST7_ERR_INVALID;
	snprintf(out, cap, "%04x-%04x-", vid, pid);
	k = 10;
	for (const char *s = serial; *s; s++) {
		if (k + 1 >= cap) {
			out[0] = '\0';
			return ST7_ERR_INVALID;
		}
		unsigned char c = (unsigned char)*s;
		out[k++] = safe_char(c) && !(s == serial && c == '.') ? (char)c : '_';
	}
	out[k] = '\0';
	return ST7_OK;
}

/* ---- fields ---------------------------------------------------------------------------- */

enum kind {
	K_ATTEMPT,
	K_PHASE,
	K_TEXT,
	K_HEX4,
	K_VERSION,
	K_FROM,
	K_U64,
	K_SHA,
	K_I64,
	K_U32,
	K_UINT,
	K_BOOL
};

struct field {
	const char *key;
	enum kind kind;
	size_t off;  /* of the value in the struct */
	size_t size; /* of a text field's array */
};

#define F(key, kind, member)                                          \
	{                                                             \
		key, kind, offsetof(struct st7_journal_rec, member),  \
		        sizeof(((struct st7_journal_rec *)0)->member) \
	}

static const struct field fields[] = {
	F("attempt", K_ATTEMPT, attempt),
	F("phase", K_PHASE, phase),
	F("device", K_TEXT, device),
	F("serial", K_TEXT, serial),
	F("vid", K_HEX4, vid),
	F("pid", K_HEX4, pid),
	F("port", K_TEXT, port),
	F("from_version", K_FROM, from_version),
	F("to_version", K_VERSION, to_version),
	F("release", K_TEXT, release),
	F("manifest_serial", K_U64, manifest_serial),
	F("image_sha256", K_SHA, image_sha256),
	F("image_url", K_TEXT, image_url),
	F("backup", K_TEXT, backup),
	F("started_s", K_I64, started_s),
	F("updated_s", K_I64, updated_s),
	F("fetch_ms", K_U32, fetch_ms),
	F("flash_ms", K_U32, flash_ms),
	F("recoveries", K_UINT, recoveries),
	F("device_rollback", K_BOOL, device_rollback),
	F("outcome", K_TEXT, outcome),
	F("error", K_TEXT, error),
};
#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))

static bool needs_escape(unsigned char c)
{
	return c == '%' || c == '\\' || c < 0x20 || c >= 0x7f;
}

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int st7_journal_rec_check(const struct st7_journal_rec *r, struct st7_diag *d)
{
	char key[ST7_JOURNAL_KEY_MAX];
	if (!r)
		return st7_diag_set(d, ST7_ERR_INVALID, "journal record: none");
	if (r->attempt < 1)
		return st7_diag_set(d, ST7_ERR_INVALID, "journal record: attempt must be >= 1");
	if ((unsigned)r->phase < 1 || (unsigned)r->phase >= PHASE_COUNT)
		return st7_diag_set(d, ST7_ERR_INVALID, "journal record: phase %d unknown",
		                    (int)r->phase);
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &fields[i];
		const char *s = (const char *)r + f->off;
		if ((f->kind == K_TEXT || f->kind == K_SHA) && strnlen(s, f->size) == f->size)
			return st7_diag_set(d, ST7_ERR_INVALID,
			                    "journal record: %s is not terminated", f->key);
	}
	size_t sl = strlen(r->image_sha256);
	if (sl != 0 && (sl != 64 || !is_lower_hex(r->image_sha256, 64)))
		return st7_diag_set(d, ST7_ERR_INVALID,
		                    "journal record: image_sha256 must be 64 lowercase hex digits "
		                    "or empty");
	if (st7_journal_key(r->vid, r->pid, r->serial, key, sizeof(key)) != ST7_OK ||
	    strcmp(key, r->device) != 0)
		return st7_diag_set(d, ST7_ERR_INVALID,
		                    "journal record: device '%.191s' is not the key '%s' of its "
		                    "vid, pid and serial",
		                    r->device, key);
	return ST7_OK;
}

/* ---- encode ---------------------------------------------------------------------------- */

static int put_text(struct st7_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int ret = needs_escape(c) ? st7_buf_printf(out, "%%%c%c", hex[c >> 4], hex[c & 15])
		                          : st7_buf_append_byte(out, c);
		if (ret)
			return ret;
	}
	return ST7_OK;
}

static int put_field(struct st7_buf *out, const struct st7_journal_rec *r, const struct field *f)
{
	const void *v = (const char *)r + f->off;
	int ret = st7_buf_printf(out, "%s=", f->key);
	if (ret)
		return ret;
	switch (f->kind) {
	case K_ATTEMPT:
	case K_U64:
		ret = st7_buf_printf(out, "%" PRIu64, *(const uint64_t *)v);
		break;
	case K_PHASE:
		ret = st7_buf_printf(out, "%s", st7_journal_phase_name(r->phase));
		break;
	case K_TEXT:
	case K_SHA:
		ret = put_text(out, v);
		break;
	case K_HEX4:
		ret = st7_buf_printf(out, "%04x", (unsigned)*(const uint16_t *)v);
		break;
	case K_VERSION:
		ret = st7_buf_printf(out, "0x%04x", (unsigned)*(const uint16_t *)v);
		break;
	case K_FROM:
		ret = r->has_from ? st7_buf_printf(out, "0x%04x", (unsigned)r->from_version)
		                  : st7_buf_printf(out, "none");
		break;
	case K_I64:
		ret = st7_buf_printf(out, "%" PRId64, *(const int64_t *)v);
		break;
	case K_U32:
		ret = st7_buf_printf(out, "%" PRIu32, *(const uint32_t *)v);
		break;
	case K_UINT:
		ret = st7_buf_printf(out, "%u", *(const unsigned *)v);
		break;
	case K_BOOL:
		ret = st7_buf_printf(out, "%s", *(const bool *)v ? "yes" : "no");
		break;
	}
	return ret ? ret : st7_buf_append_byte(out, '\n');
}

int st7_journal_rec_encode(const struct st7_journal_rec *r, struct st7_buf *out)
{
	int ret = ST7_ERR_INVALID;
	if (!out)
		return ST7_ERR_INVALID;
	st7_buf_clear(out);
	if (st7_journal_rec_check(r, NULL) != ST7_OK)
		goto cleanup;
	ret = st7_buf_printf(out, "%s %d\n", ST7_JOURNAL_MAGIC, ST7_JOURNAL_VERSION);
	for (size_t i = 0; ret == ST7_OK && i < FIELD_COUNT; i++)
		ret = put_field(out, r, &fields[i]);
	if (ret)
		goto cleanup;
	if (out->len > ST7_JOURNAL_REC_MAX - 15) {
		ret = ST7_ERR_INVALID; /* cannot happen for a checked record: the bound is proven */
		goto cleanup;
	}
	ret = st7_buf_printf(out, "crc32=%08" PRIx32 "\n",
	                     st7_dfu_crc(out->data, out->len) ^ 0xFFFFFFFFu);
cleanup:
	if (ret)
		st7_buf_clear(out);
	return ret;
}

/* ---- decode ---------------------------------------------------------------------------- */

/* Canonical unsigned decimal ("0", or no leading zero) of n bytes, at most max. */
static bool parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned dgt = (unsigned)(s[i] - '0');
		if (v > (max - dgt) / 10)
			return false;
		v = v * 10 + dgt;
	}
	*out = v;
	return true;
}

static bool parse_hex4(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;
	if (n != 4 || !is_lower_hex(s, 4))
		return false;
	for (size_t i = 0; i < 4; i++)
		v = v * 16 + (unsigned)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
	*out = (uint16_t)v;
	return true;
}

static int upper_hex_val(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Unescape n bytes into out[size] with its NUL; a message in why on failure. */
static bool parse_text(const char *s, size_t n, char *out, size_t size, const char **why)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (n - i < 3) {
				*why = "cut %XX escape";
				return false;
			}
			int hi = upper_hex_val(s[i + 1]), lo = upper_hex_val(s[i + 2]);
			if (hi < 0 || lo < 0) {
				*why = "bad %XX escape (two upper-case hex digits)";
				return false;
			}
			c = (unsigned char)(hi * 16 + lo);
			if (c == 0) {
				*why = "NUL byte (%00)";
				return false;
			}
			if (!needs_escape(c)) {
				*why = "escaped byte that needs no escape";
				return false;
			}
			i += 2;
		} else if (needs_escape(c)) {
			*why = "unescaped control, '\\' or non-ASCII byte";
			return false;
		}
		if (k + 1 >= size) {
			*why = "too long for its field";
			return false;
		}
		out[k++] = (char)c;
	}
	out[k] = '\0';
	return true;
}

static bool parse_i64(const char *s, size_t n, int64_t *out)
{
	uint64_t v;
	if (n && s[0] == '-') {
		if (!parse_dec(s + 1, n - 1, (uint64_t)INT64_MAX + 1, &v) || v == 0)
			return false;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		return true;
	}
	if (!parse_dec(s, n, INT64_MAX, &v))
		return false;
	*out = (int64_t)v;
	return true;
}

static bool parse_value(struct st7_journal_rec *r, const struct field *f, const char *s, size_t n,
                        const char **why)
{
	void *v = (char *)r + f->off;
	uint64_t u;
	*why = "bad value";
	switch (f->kind) {
	case K_ATTEMPT:
		if (!parse_dec(s, n, UINT64_MAX, &u) || u < 1) {
			*why = "expected a decimal number >= 1";
			return false;
		}
		r->attempt = u;
		return true;
	case K_U64:
		if (!parse_dec(s, n, UINT64_MAX, &u)) {
			*why = "expected a decimal number";
			return false;
		}
		*(uint64_t *)v = u;
		return true;
	case K_PHASE:
		for (unsigned i = 1; i < PHASE_COUNT; i++)
			if (strlen(phase_names[i]) == n && memcmp(s, phase_names[i], n) == 0) {
				r->phase = (enum st7_journal_phase)i;
				return true;
			}
		*why = "unknown phase";
		return false;
	case K_TEXT:
		return parse_text(s, n, v, f->size, why);
	case K_SHA:
		if (n != 0 && (n != 64 || !is_lower_hex(s, 64))) {
			*why = "expected 64 lowercase hex digits or nothing";
			return false;
		}
		memcpy(v, s, n);
		((char *)v)[n] = '\0';
		return true;
	case K_HEX4:
		*why = "expected 4 lowercase hex digits";
		return parse_hex4(s, n, v);
	case K_VERSION:
		*why = "expected 0x and 4 lowercase hex digits";
		return n == 6 && s[0] == '0' && s[1] == 'x' && parse_hex4(s + 2, 4, v);
	case K_FROM:
		*why = "expected 0x and 4 lowercase hex digits, or none";
		if (n == 4 && memcmp(s, "none", 4) == 0) {
			r->has_from = false;
			r->from_version = 0;
			return true;
		}
		if (n == 6 && s[0] == '0' && s[1] == 'x' &&
		    parse_hex4(s + 2, 4, &r->from_version)) {
			r->has_from = true;
			return true;
		}
		return false;
	case K_I64:
		*why = "expected a decimal number of seconds";
		return parse_i64(s, n, v);
	case K_U32:
		if (!parse_dec(s, n, UINT32_MAX, &u)) {
			*why = "expected a decimal number below 2^32";
			return false;
		}
		*(uint32_t *)v = (uint32_t)u;
		return true;
	case K_UINT:
		if (!parse_dec(s, n, UINT_MAX, &u)) {
			*why = "expected a decimal number";
			return false;
		}
		*(unsigned *)v = (unsigned)u;
		return true;
	case K_BOOL:
		*why = "expected yes or no";
		if (n == 3 && memcmp(s, "yes", 3) == 0)
			*(bool *)v = true;
		else if (n == 2 && memcmp(s, "no", 2) == 0)
			*(bool *)v = false;
		else
			return false;
		return true;
	}
	return false;
}

/* A key as written in a message: printable, cut. */
static void show_key(const char *s, size_t n, char *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 4 < cap; i++)
		out[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (n && k < n && k + 4 >= cap)
		out[k++] = '.', out[k++] = '.', out[k++] = '.';
	out[k] = '\0';
}

static int decode(const uint8_t *p, size_t len, struct st7_journal_rec *r, struct st7_diag *d)
{
	static const char magic[] = ST7_JOURNAL_MAGIC " ";
	const size_t ml = sizeof(magic) - 1;
	const char *s = (const char *)p;
	size_t pos, end, line = 1, next_field = 0;
	char shown[40];

	if (len > ST7_JOURNAL_REC_MAX)
		return st7_diag_set(d, ST7_ERR_TOO_LARGE, "%zu bytes, more than the %u of a record",
		                    len, ST7_JOURNAL_REC_MAX);
	if (len == 0 || !p)
		return st7_diag_set(d, ST7_ERR_FORMAT, "empty: not a journal record");
	/* line 1: magic and version */
	if (len < ml || memcmp(s, magic, ml) != 0)
		return st7_diag_set(d, ST7_ERR_FORMAT, "not a journal record (no '%s' first line)",
		                    ST7_JOURNAL_MAGIC);
	for (pos = ml; pos < len && s[pos] != '\n'; pos++)
		;
	if (pos == len)
		return st7_diag_set(d, ST7_ERR_FORMAT, "line 1: not ended (torn record)");
	uint64_t version;
	if (!parse_dec(s + ml, pos - ml, UINT32_MAX, &version))
		return st7_diag_set(d, ST7_ERR_FORMAT, "line 1: bad version");
	if (version != ST7_JOURNAL_VERSION)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "foreign: a journal record of version %" PRIu64
		                    ", this agent reads version %d",
		                    version, ST7_JOURNAL_VERSION);
	pos++; /* past the header's "\n" */
	/* the last line: "crc32=XXXXXXXX\n" right after a line end */
	if (len - pos < 15 || memcmp(s + len - 15, "crc32=", 6) != 0 || s[len - 1] != '\n' ||
	    !is_lower_hex(s + len - 9, 8))
		return st7_diag_set(d, ST7_ERR_FORMAT, "no final crc32 line (torn record)");
	end = len - 15;
	if (end > pos && s[end - 1] != '\n')
		return st7_diag_set(d, ST7_ERR_FORMAT, "no final crc32 line (torn record)");
	uint32_t want = 0;
	for (size_t i = 0; i < 8; i++) {
		char c = s[len - 9 + i];
		want = want * 16 + (uint32_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	uint32_t got = st7_dfu_crc(p, end) ^ 0xFFFFFFFFu;
	if (got != want)
		return st7_diag_set(d, ST7_ERR_CRC,
		                    "crc32 %08" PRIx32 " does not match the record's %08" PRIx32
		                    " (torn or damaged)",
		                    got, want);
	/* every key=value line, in order */
	while (pos < end) {
		size_t eol = pos, eq;
		line++;
		while (s[eol] != '\n')
			eol++; /* end is after a "\n", so this stops inside */
		for (eq = pos; eq < eol && s[eq] != '='; eq++)
			;
		if (eq == eol)
			return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: expected key=value",
			                    line);
		const char *k = s + pos;
		size_t kl = eq - pos;
		size_t fi;
		for (fi = 0; fi < FIELD_COUNT; fi++)
			if (strlen(fields[fi].key) == kl && memcmp(fields[fi].key, k, kl) == 0)
				break;
		show_key(k, kl, shown, sizeof(shown));
		if (fi == FIELD_COUNT)
			return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: unknown key '%s'", line,
			                    shown);
		if (fi < next_field)
			return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: duplicate key '%s'", line,
			                    shown);
		if (fi > next_field)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "line %zu: key '%s' where '%s' belongs (missing or out of "
			        "order)",
			        line, shown, fields[next_field].key);
		const char *why = "bad value";
		if (!parse_value(r, &fields[fi], s + eq + 1, eol - eq - 1, &why))
			return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu (%s): %s", line, shown,
			                    why);
		next_field++;
		pos = eol + 1;
	}
	if (next_field < FIELD_COUNT)
		return st7_diag_set(d, ST7_ERR_FORMAT, "missing key '%s'", fields[next_field].key);
	char key[ST7_JOURNAL_KEY_MAX];
	if (st7_journal_key(r->vid, r->pid, r->serial, key, sizeof(key)) != ST7_OK ||
	    strcmp(key, r->device) != 0)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "device '%.191s' is not the key of its vid, pid and serial",
		                    r->device);
	return ST7_OK;
}

int st7_journal_rec_decode(const uint8_t *p, size_t len, struct st7_journal_rec *r,
                           struct st7_diag *d)
{
	int ret = ST7_ERR_INVALID;
	if (!r)
		return st7_diag_set(d, ret, "journal record: nowhere to decode into");
	memset(r, 0, sizeof(*r));
	ret = decode(p, len, r, d);
	if (ret)
		memset(r, 0, sizeof(*r));
	return ret;
}
