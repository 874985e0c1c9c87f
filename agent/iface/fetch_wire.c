/* SPDX-License-Identifier: MIT */
/* The fetch worker's wire (fetch_wire.h): frames built and checked, nothing read or written. */
#include "fetch_wire.h"

#include <string.h>

#include "http_meta.h"

/* ---- encoding ---- */

/* A frame is built in place: its header first, its length patched in at the end. */
static int frame_open(struct st7_buf *out, enum st7_wire_type t, size_t *start)
{
	*start = out->len;
	int ret = st7_buf_append_byte(out, (uint8_t)t);
	return ret ? ret : st7_buf_append_le32(out, 0);
}

static int frame_close(struct st7_buf *out, size_t start, int ret)
{
	size_t len = out->len - start - ST7_WIRE_HEADER;
	if (ret == ST7_OK && len > ST7_WIRE_PAYLOAD_MAX)
		ret = ST7_ERR_INVALID;
	if (ret) {
		out->len = start; /* never half a frame */
		return ret;
	}
	for (int i = 0; i < 4; i++)
		out->data[start + 1 + i] = (uint8_t)(len >> (8 * i));
	return ST7_OK;
}

static int put_u64(struct st7_buf *out, uint64_t v)
{
	int ret = st7_buf_append_le32(out, (uint32_t)v);
	return ret ? ret : st7_buf_append_le32(out, (uint32_t)(v >> 32));
}

static int put_str(struct st7_buf *out, const char *s, size_t cap)
{
	size_t n = s ? strlen(s) : 0;
	if (n >= cap || n > UINT16_MAX)
		return ST7_ERR_INVALID;
	int ret = st7_buf_append_le16(out, (uint16_t)n);
	return ret ? ret : st7_buf_append(out, s, n);
}

int st7_wire_put_setup(struct st7_buf *out, const struct st7_fetch_opts *o, const char *user)
{
	size_t at;
	int ret = frame_open(out, ST7_WIRE_SETUP, &at);
	if (!ret)
		ret = st7_buf_append_byte(out, o->allow_http ? 1 : 0);
	if (!ret)
		ret = st7_buf_append_le32(out, o->connect_timeout_s);
	if (!ret)
		ret = st7_buf_append_le32(out, o->total_timeout_s);
	if (!ret)
		ret = st7_buf_append_le32(out, o->low_speed_bytes);
	if (!ret)
		ret = st7_buf_append_le32(out, o->low_speed_time_s);
	if (!ret)
		ret = put_u64(out, o->max_size);
	if (!ret)
		ret = put_str(out, o->ca_file, PATH_MAX);
	if (!ret)
		ret = put_str(out, o->client_cert, PATH_MAX);
	if (!ret)
		ret = put_str(out, o->client_key, PATH_MAX);
	if (!ret)
		ret = put_str(out, user, ST7_WIRE_USER_MAX);
	return frame_close(out, at, ret);
}

int st7_wire_put_get(struct st7_buf *out, const struct st7_fetch_request *r)
{
	size_t at;
	int ret = frame_open(out, ST7_WIRE_GET, &at);
	if (!ret)
		ret = put_str(out, r->url, ST7_URL_MAX);
	if (!ret)
		ret = put_u64(out, r->max_size);
	if (!ret)
		ret = put_u64(out, r->offset);
	if (!ret)
		ret = put_str(out, r->if_range, ST7_ETAG_MAX);
	if (!ret)
		ret = put_u64(out, (uint64_t)r->if_range_date);
	if (!ret)
		ret = put_str(out, r->if_none_match, ST7_ETAG_MAX);
	if (!ret)
		ret = put_u64(out, (uint64_t)r->if_modified_since);
	return frame_close(out, at, ret);
}

bool st7_wire_ctype_ok(const char *s)
{
	size_t n = s ? strnlen(s, ST7_FETCH_CTYPE_MAX) : 0;
	if (n == 0 || n >= ST7_FETCH_CTYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
			return false;
	return true;
}

/* A POST's frame holds its largest fields with room to spare. */
_Static_assert(2 + ST7_URL_MAX + 2 + ST7_FETCH_CTYPE_MAX + 4 + ST7_FETCH_POST_MAX <=
                       ST7_WIRE_PAYLOAD_MAX,
               "a POST frame must fit ST7_WIRE_PAYLOAD_MAX");

int st7_wire_put_post(struct st7_buf *out, const struct st7_fetch_post *r)
{
	size_t at;
	if (!st7_wire_ctype_ok(r->content_type) || r->len > ST7_FETCH_POST_MAX ||
	    (!r->body && r->len))
		return ST7_ERR_INVALID;
	int ret = frame_open(out, ST7_WIRE_POST, &at);
	if (!ret)
		ret = put_str(out, r->url, ST7_URL_MAX);
	if (!ret)
		ret = put_str(out, r->content_type, ST7_FETCH_CTYPE_MAX);
	if (!ret)
		ret = st7_buf_append_le32(out, (uint32_t)r->len);
	if (!ret && r->len)
		ret = st7_buf_append(out, r->body, r->len);
	return frame_close(out, at, ret);
}

static int put_response(struct st7_buf *out, const struct st7_fetch_response *r)
{
	int ret = st7_buf_append_le32(out, (uint32_t)r->status);
	if (!ret)
		ret = put_u64(out, r->body_offset);
	if (!ret)
		ret = put_u64(out, r->complete_size);
	if (!ret)
		ret = put_u64(out, r->received);
	if (!ret)
		ret = put_str(out, r->etag, ST7_ETAG_MAX);
	if (!ret)
		ret = put_u64(out, (uint64_t)r->last_modified);
	if (!ret)
		ret = put_u64(out, (uint64_t)r->retry_after_s);
	return ret;
}

int st7_wire_put_begin(struct st7_buf *out, const struct st7_fetch_response *resp)
{
	size_t at;
	int ret = frame_open(out, ST7_WIRE_BEGIN, &at);
	return frame_close(out, at, ret ? ret : put_response(out, resp));
}

int st7_wire_put_data(struct st7_buf *out, const uint8_t *p, size_t n)
{
	size_t at;
	if (n > ST7_WIRE_DATA_MAX)
		return ST7_ERR_INVALID;
	int ret = frame_open(out, ST7_WIRE_DATA, &at);
	return frame_close(out, at, ret ? ret : st7_buf_append(out, p, n));
}

int st7_wire_put_progress(struct st7_buf *out, uint64_t done, uint64_t total)
{
	size_t at;
	int ret = frame_open(out, ST7_WIRE_PROGRESS, &at);
	if (!ret)
		ret = put_u64(out, done);
	return frame_close(out, at, ret ? ret : put_u64(out, total));
}

int st7_wire_put_end(struct st7_buf *out, int result, const struct st7_fetch_response *resp,
                     const char *msg)
{
	size_t at;
	char m[ST7_DIAG_MAX];
	/* A message is cut to its bound rather than lose the frame. */
	size_t n = msg ? strnlen(msg, sizeof(m) - 1) : 0;
	memcpy(m, msg ? msg : "", n);
	m[n] = '\0';
	int ret = frame_open(out, ST7_WIRE_END, &at);
	if (!ret)
		ret = st7_buf_append_le32(out, (uint32_t)result);
	if (!ret)
		ret = put_response(out, resp);
	return frame_close(out, at, ret ? ret : put_str(out, m, sizeof(m)));
}

/* ---- decoding: a cursor (p, end), every read checked ---- */

struct cur {
	const uint8_t *p, *end;
	const char *field; /* the field being read, for the diag */
	bool bad;
};

static uint64_t get_le(struct cur *c, int bytes)
{
	uint64_t v = 0;
	if (c->bad || c->end - c->p < bytes) {
		c->bad = true;
		return 0;
	}
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)c->p[i] << (8 * i);
	c->p += bytes;
	return v;
}

/* A string into out[cap]: shorter than cap, no NUL inside. */
static void get_str(struct cur *c, char *out, size_t cap)
{
	size_t n = (size_t)get_le(c, 2);
	out[0] = '\0';
	if (c->bad)
		return;
	if (n >= cap || (size_t)(c->end - c->p) < n || memchr(c->p, 0, n)) {
		c->bad = true;
		return;
	}
	memcpy(out, c->p, n);
	out[n] = '\0';
	c->p += n;
}

#define FIELD(c, name) ((c)->bad ? (void)0 : (void)((c)->field = (name)))

static int finish(const struct cur *c, const char *frame, struct st7_diag *d)
{
	if (c->bad)
		return st7_diag_set(d, ST7_ERR_FORMAT, "fetch worker %s frame: bad %s", frame,
		                    c->field);
	if (c->p != c->end)
		return st7_diag_set(d, ST7_ERR_FORMAT, "fetch worker %s frame: %zu bytes too many",
		                    frame, (size_t)(c->end - c->p));
	return ST7_OK;
}

int st7_wire_frame(const uint8_t *p, const uint8_t *end, enum st7_wire_type *type,
                   const uint8_t **payload, size_t *len, size_t *used, struct st7_diag *d)
{
	*used = 0;
	if (p >= end)
		return ST7_OK;
	switch (p[0]) { /* a bad type is refused from its first byte */
	case ST7_WIRE_SETUP:
	case ST7_WIRE_GET:
	case ST7_WIRE_POST:
	case ST7_WIRE_BEGIN:
	case ST7_WIRE_DATA:
	case ST7_WIRE_PROGRESS:
	case ST7_WIRE_END:
		break;
	default:
		return st7_diag_set(d, ST7_ERR_FORMAT, "fetch worker: unknown frame type 0x%02x",
		                    p[0]);
	}
	if (end - p < ST7_WIRE_HEADER)
		return ST7_OK;
	uint32_t n =
	        (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
	if (n > ST7_WIRE_PAYLOAD_MAX)
		return st7_diag_set(d, ST7_ERR_FORMAT, "fetch worker: a frame of %lu bytes",
		                    (unsigned long)n);
	if ((size_t)(end - p) - ST7_WIRE_HEADER < n)
		return ST7_OK;
	*type = (enum st7_wire_type)p[0];
	*payload = p + ST7_WIRE_HEADER;
	*len = n;
	*used = ST7_WIRE_HEADER + (size_t)n;
	return ST7_OK;
}

int st7_wire_get_setup(const uint8_t *p, size_t len, struct st7_wire_setup *s, struct st7_diag *d)
{
	struct cur c = { p, p + len, "flags", false };
	memset(s, 0, sizeof(*s));
	uint64_t flags = get_le(&c, 1);
	s->o.allow_http = flags == 1;
	if (flags > 1)
		c.bad = true;
	FIELD(&c, "timeouts");
	s->o.connect_timeout_s = (uint32_t)get_le(&c, 4);
	s->o.total_timeout_s = (uint32_t)get_le(&c, 4);
	s->o.low_speed_bytes = (uint32_t)get_le(&c, 4);
	s->o.low_speed_time_s = (uint32_t)get_le(&c, 4);
	FIELD(&c, "max_size");
	s->o.max_size = get_le(&c, 8);
	FIELD(&c, "ca_file");
	get_str(&c, s->ca_file, sizeof(s->ca_file));
	FIELD(&c, "client_cert");
	get_str(&c, s->client_cert, sizeof(s->client_cert));
	FIELD(&c, "client_key");
	get_str(&c, s->client_key, sizeof(s->client_key));
	FIELD(&c, "user");
	get_str(&c, s->user, sizeof(s->user));
	s->o.ca_file = s->ca_file[0] ? s->ca_file : NULL;
	s->o.client_cert = s->client_cert[0] ? s->client_cert : NULL;
	s->o.client_key = s->client_key[0] ? s->client_key : NULL;
	return finish(&c, "SETUP", d);
}

int st7_wire_get_get(const uint8_t *p, size_t len, struct st7_wire_get *g, struct st7_diag *d)
{
	struct cur c = { p, p + len, "url", false };
	memset(g, 0, sizeof(*g));
	get_str(&c, g->url, sizeof(g->url));
	FIELD(&c, "max_size");
	g->r.max_size = get_le(&c, 8);
	FIELD(&c, "offset");
	g->r.offset = get_le(&c, 8);
	FIELD(&c, "if_range");
	get_str(&c, g->if_range, sizeof(g->if_range));
	FIELD(&c, "if_range_date");
	g->r.if_range_date = (int64_t)get_le(&c, 8);
	FIELD(&c, "if_none_match");
	get_str(&c, g->if_none_match, sizeof(g->if_none_match));
	FIELD(&c, "if_modified_since");
	g->r.if_modified_since = (int64_t)get_le(&c, 8);
	g->r.url = g->url;
	g->r.if_range = g->if_range[0] ? g->if_range : NULL;
	g->r.if_none_match = g->if_none_match[0] ? g->if_none_match : NULL;
	return finish(&c, "GET", d);
}

int st7_wire_get_post(const uint8_t *p, size_t len, struct st7_wire_post *w, struct st7_diag *d)
{
	struct cur c = { p, p + len, "url", false };
	memset(&w->r, 0, sizeof(w->r));
	w->url[0] = w->content_type[0] = '\0';
	get_str(&c, w->url, sizeof(w->url));
	FIELD(&c, "content_type");
	get_str(&c, w->content_type, sizeof(w->content_type));
	if (!c.bad && !st7_wire_ctype_ok(w->content_type))
		c.bad = true;
	FIELD(&c, "body");
	size_t n = (size_t)get_le(&c, 4);
	if (!c.bad && (n > ST7_FETCH_POST_MAX || (size_t)(c.end - c.p) < n))
		c.bad = true;
	if (!c.bad) {
		if (n)
			memcpy(w->body, c.p, n);
		c.p += n;
		w->r.body = n ? w->body : NULL;
		w->r.len = n;
	}
	w->r.url = w->url;
	w->r.content_type = w->content_type;
	return finish(&c, "POST", d);
}

/* A response as the other side may send it: nothing the fetch interface cannot say. */
static void get_response(struct cur *c, struct st7_fetch_response *r)
{
	memset(r, 0, sizeof(*r));
	FIELD(c, "status");
	uint64_t st = get_le(c, 4);
	r->status = (long)st;
	if (st != 0 && (st < 100 || st > 599))
		c->bad = true;
	FIELD(c, "sizes");
	r->body_offset = get_le(c, 8);
	r->complete_size = get_le(c, 8);
	r->received = get_le(c, 8);
	if (r->complete_size != UINT64_MAX &&
	    (r->body_offset > r->complete_size || r->received > r->complete_size - r->body_offset))
		c->bad = true;
	FIELD(c, "etag");
	get_str(c, r->etag, sizeof(r->etag));
	char check[ST7_ETAG_MAX];
	if (r->etag[0] && !st7_http_etag_parse(r->etag, strlen(r->etag), check))
		c->bad = true;
	FIELD(c, "last_modified");
	r->last_modified = (int64_t)get_le(c, 8);
	if (r->last_modified < -1 || r->last_modified > ST7_HTTP_DATE_LAST)
		c->bad = true;
	FIELD(c, "retry_after");
	r->retry_after_s = (int64_t)get_le(c, 8);
	if (r->retry_after_s != -1 && (r->retry_after_s < 1 || r->retry_after_s > 86400))
		c->bad = true;
}

int st7_wire_get_begin(const uint8_t *p, size_t len, struct st7_fetch_response *resp,
                       struct st7_diag *d)
{
	struct cur c = { p, p + len, "status", false };
	get_response(&c, resp);
	if (!c.bad && resp->status != 200 && resp->status != 206) {
		FIELD(&c, "status (BEGIN is for 200 and 206)");
		c.bad = true;
	}
	return finish(&c, "BEGIN", d);
}

int st7_wire_get_progress(const uint8_t *p, size_t len, uint64_t *done, uint64_t *total,
                          struct st7_diag *d)
{
	struct cur c = { p, p + len, "figures", false };
	*done = get_le(&c, 8);
	*total = get_le(&c, 8);
	return finish(&c, "PROGRESS", d);
}

/* What a GET may end with (fetch.h), and nothing else. */
static bool known_result(int r)
{
	switch (r) {
	case ST7_OK:
	case ST7_ERR_NETWORK:
	case ST7_ERR_TLS:
	case ST7_ERR_TIMEOUT:
	case ST7_ERR_TOO_LARGE:
	case ST7_ERR_HTTP:
	case ST7_ERR_RETRY_LATER:
	case ST7_ERR_RANGE:
	case ST7_ERR_ABORTED:
	case ST7_ERR_INVALID:
	case ST7_ERR_NOMEM:
	case ST7_ERR_IO:
	case ST7_ERR_WORKER: /* it could not set itself up */
		return true;
	default:
		return false;
	}
}

int st7_wire_get_end(const uint8_t *p, size_t len, struct st7_wire_end *e, struct st7_diag *d)
{
	struct cur c = { p, p + len, "result", false };
	memset(e, 0, sizeof(*e));
	e->result = (int)(int32_t)(uint32_t)get_le(&c, 4);
	if (!c.bad && !known_result(e->result))
		c.bad = true;
	get_response(&c, &e->resp);
	FIELD(&c, "message");
	get_str(&c, e->msg, sizeof(e->msg));
	/* Shown to a user and logged: printable characters only. */
	for (char *m = e->msg; *m; m++)
		if ((unsigned char)*m < ' ' || (unsigned char)*m >= 0x7F)
			*m = '?';
	return finish(&c, "END", d);
}
