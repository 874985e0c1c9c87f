/* SPDX-License-Identifier: MIT */
#include "http_meta.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool st7_http_header_split(const char *line, size_t len, const char **name, size_t *name_len,
                           const char **value, size_t *value_len)
{
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 0 || is_ows(line[0]))
		return false; /* blank or obsolete continuation */
	size_t colon = 0;
	while (colon < len && line[colon] != ':')
		colon++;
	if (colon == 0 || colon == len)
		return false;
	/* A token: no whitespace or controls in a field name (RFC 9110 §5.1). */
	for (size_t i = 0; i < colon; i++)
		if ((unsigned char)line[i] <= ' ' || (unsigned char)line[i] >= 0x7F)
			return false;
	size_t vb = colon + 1, ve = len;
	while (vb < ve && is_ows(line[vb]))
		vb++;
	while (ve > vb && is_ows(line[ve - 1]))
		ve--;
	*name = line;
	*name_len = colon;
	*value = line + vb;
	*value_len = ve - vb;
	return true;
}

bool st7_http_header_is(const char *name, size_t name_len, const char *want)
{
	size_t n = strlen(want);
	if (n != name_len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(name[i]) != lower(want[i]))
			return false;
	return true;
}

bool st7_http_etag_parse(const char *v, size_t len, char out[ST7_ETAG_MAX])
{
	size_t i = 0;
	if (len >= ST7_ETAG_MAX || len < 2)
		return false;
	if (len >= 4 && v[0] == 'W' && v[1] == '/')
		i = 2;
	if (len - i < 2 || v[i] != '"' || v[len - 1] != '"')
		return false;
	/* etagc = %x21 / %x23-7E / obs-text; we refuse obs-text: nothing needs it. */
	for (size_t j = i + 1; j < len - 1; j++) {
		unsigned char c = (unsigned char)v[j];
		if (c < 0x21 || c == '"' || c > 0x7E)
			return false;
	}
	memcpy(out, v, len);
	out[len] = '\0';
	return true;
}

/* Decimal without sign or overflow; advances *i. */
static bool parse_u64(const char *v, size_t len, size_t *i, uint64_t *out)
{
	uint64_t n = 0;
	size_t start = *i;
	while (*i < len && v[*i] >= '0' && v[*i] <= '9') {
		unsigned dgt = (unsigned)(v[*i] - '0');
		if (n > (UINT64_MAX - dgt) / 10)
			return false;
		n = n * 10 + dgt;
		(*i)++;
	}
	if (*i == start)
		return false;
	*out = n;
	return true;
}

int st7_http_content_range_parse(const char *v, size_t len, uint64_t *first, uint64_t *last,
                                 uint64_t *complete, struct st7_diag *d)
{
	size_t i = 6;
	if (len < 6 || !st7_http_header_is(v, 5, "bytes") || v[5] != ' ')
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "Content-Range: expected 'bytes FIRST-LAST/SIZE'");
	if (!parse_u64(v, len, &i, first) || i >= len || v[i++] != '-' ||
	    !parse_u64(v, len, &i, last) || i >= len || v[i++] != '/')
		return st7_diag_set(d, ST7_ERR_FORMAT, "Content-Range: malformed range");
	if (i < len && v[i] == '*') {
		*complete = UINT64_MAX;
		i++;
	} else if (!parse_u64(v, len, &i, complete)) {
		return st7_diag_set(d, ST7_ERR_FORMAT, "Content-Range: malformed size");
	}
	if (i != len)
		return st7_diag_set(d, ST7_ERR_FORMAT, "Content-Range: trailing characters");
	if (*first > *last || (*complete != UINT64_MAX && *last >= *complete))
		return st7_diag_set(d, ST7_ERR_FORMAT, "Content-Range: impossible range");
	return ST7_OK;
}

bool st7_http_date_format(int64_t t, char out[40])
{
	struct tm tm;
	time_t tt = (time_t)t;
	out[0] = '\0';
	/* Years 1970..9999, and nothing a 32-bit time_t would wrap. */
	if (t < 0 || t > ST7_HTTP_DATE_LAST || (int64_t)tt != t)
		return false;
	if (!gmtime_r(&tt, &tm) || strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0) {
		out[0] = '\0';
		return false;
	}
	return true;
}

void st7_cache_meta_init(struct st7_cache_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->last_modified = -1;
}

static bool printable(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7E)
			return false;
	return true;
}

static int meta_field(struct st7_cache_meta *m, const char *k, size_t klen, const char *v,
                      size_t vlen, size_t line, struct st7_diag *d)
{
	size_t i = 0;
	uint64_t n;
	if (!printable(v, vlen))
		return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: control character in value",
		                    line);
	if (klen == 3 && memcmp(k, "url", 3) == 0) {
		if (vlen == 0 || vlen >= sizeof(m->url))
			return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: url length %zu", line,
			                    vlen);
		memcpy(m->url, v, vlen);
		m->url[vlen] = '\0';
	} else if (klen == 4 && memcmp(k, "etag", 4) == 0) {
		if (vlen && !st7_http_etag_parse(v, vlen, m->etag))
			return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: invalid etag", line);
	} else if (klen == 13 && memcmp(k, "last_modified", 13) == 0) {
		if (!parse_u64(v, vlen, &i, &n) || i != vlen || n > INT64_MAX)
			return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: invalid last_modified",
			                    line);
		m->last_modified = (int64_t)n;
	} else if (klen == 4 && memcmp(k, "size", 4) == 0) {
		if (!parse_u64(v, vlen, &i, &m->size) || i != vlen)
			return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: invalid size", line);
	} else if (klen == 6 && memcmp(k, "sha256", 6) == 0) {
		if (vlen != 64)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "line %zu: sha256 is not 64 hex digits", line);
		for (size_t j = 0; j < 64; j++)
			if (!((v[j] >= '0' && v[j] <= '9') || (v[j] >= 'a' && v[j] <= 'f')))
				return st7_diag_set(d, ST7_ERR_FORMAT,
				                    "line %zu: sha256 is not lower-case hex", line);
		memcpy(m->sha256, v, 64);
		m->sha256[64] = '\0';
	}
	return ST7_OK;
}

int st7_cache_meta_parse(struct st7_cache_meta *m, const uint8_t *p, size_t len, struct st7_diag *d)
{
	st7_cache_meta_init(m);
	if (len > ST7_CACHE_META_MAX)
		return st7_diag_set(d, ST7_ERR_TOO_LARGE, "%zu bytes; at most %d", len,
		                    ST7_CACHE_META_MAX);
	const char *s = (const char *)p;
	size_t pos = 0, line = 0;
	while (pos < len) {
		size_t e = pos;
		line++;
		while (e < len && s[e] != '\n')
			e++;
		if (e == len)
			return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: no line end (truncated?)",
			                    line);
		size_t eq = pos;
		while (eq < e && s[eq] != '=')
			eq++;
		if (eq == e || eq == pos)
			return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: expected key=value",
			                    line);
		int ret = meta_field(m, s + pos, eq - pos, s + eq + 1, e - eq - 1, line, d);
		if (ret)
			return ret;
		pos = e + 1;
	}
	if (!m->url[0])
		return st7_diag_set(d, ST7_ERR_FORMAT, "no url line");
	return ST7_OK;
}

int st7_cache_meta_format(const struct st7_cache_meta *m, struct st7_buf *out)
{
	int ret = st7_buf_printf(out, "url=%s\n", m->url);
	if (!ret && m->etag[0])
		ret = st7_buf_printf(out, "etag=%s\n", m->etag);
	if (!ret && m->last_modified >= 0)
		ret = st7_buf_printf(out, "last_modified=%" PRId64 "\n", m->last_modified);
	if (!ret)
		ret = st7_buf_printf(out, "size=%" PRIu64 "\n", m->size);
	if (!ret && m->sha256[0])
		ret = st7_buf_printf(out, "sha256=%s\n", m->sha256);
	return ret;
}
