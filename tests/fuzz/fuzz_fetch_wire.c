/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the fetch worker's wire (fetch_wire.h: SETUP, GET and POST, and the
 * worker's answers): the input is the byte stream one process reads from the other. It is
 * split into frames with st7_wire_frame, and every payload goes through every decoder (a
 * payload of one kind must not upset another kind's decoder either); the bytes after the
 * last whole frame are tried as a payload too, so that the decoders are reached without a
 * valid header. What decodes must
 * keep the promises of fetch_wire.h and fetch.h, re-encode to a single frame, and decode
 * again to the same values; every refusal carries a diag.
 */
#include <stdlib.h>
#include <string.h>

#include "fetch_wire.h"
#include "http_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(c)                  \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

/* Static: the decoded forms hold PATH_MAX arrays, too big for a fuzzer's stack frame. */
static struct st7_wire_setup s1, s2;
static struct st7_wire_get g1, g2;
static struct st7_wire_end e1, e2;
static struct st7_wire_post p1, p2;
static struct st7_buf out;

static bool same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* A string a decoder handed out: NULL, or non-empty and inside its own array. */
static void held(const char *ptr, const char *array, size_t cap)
{
	MUST(ptr == NULL || (ptr == array && array[0] != '\0'));
	MUST(strnlen(array, cap) < cap);
}

/* What fetch_wire.h says a decoded response can be. */
static void check_resp(const struct st7_fetch_response *r)
{
	char etag[ST7_ETAG_MAX];
	MUST(r->status == 0 || (r->status >= 100 && r->status <= 599));
	MUST(r->complete_size == UINT64_MAX || (r->body_offset <= r->complete_size &&
	                                        r->received <= r->complete_size - r->body_offset));
	MUST(strnlen(r->etag, sizeof(r->etag)) < sizeof(r->etag));
	MUST(r->etag[0] == '\0' || st7_http_etag_parse(r->etag, strlen(r->etag), etag));
	MUST(r->last_modified >= -1 && r->last_modified <= ST7_HTTP_DATE_LAST);
	MUST(r->retry_after_s == -1 || (r->retry_after_s >= 1 && r->retry_after_s <= 86400));
}

static bool same_resp(const struct st7_fetch_response *a, const struct st7_fetch_response *b)
{
	return a->status == b->status && a->body_offset == b->body_offset &&
	       a->complete_size == b->complete_size && a->received == b->received &&
	       strcmp(a->etag, b->etag) == 0 && a->last_modified == b->last_modified &&
	       a->retry_after_s == b->retry_after_s;
}

/* `out` holds exactly one frame of type t: its payload. */
static void reframe(enum st7_wire_type t, const uint8_t **q, size_t *qlen)
{
	struct st7_diag d = { "" };
	enum st7_wire_type type;
	size_t used;
	MUST(st7_wire_frame(out.data, out.data + out.len, &type, q, qlen, &used, &d) == ST7_OK);
	MUST(used == out.len && type == t && *qlen + ST7_WIRE_HEADER == used);
}

/* A refusal says why. */
static void refused(int ret, const struct st7_diag *d)
{
	MUST(ret == ST7_ERR_FORMAT);
	MUST(strstr(d->msg, "fetch worker") != NULL);
}

static void setup(const uint8_t *p, size_t len)
{
	struct st7_diag d = { "" };
	const uint8_t *q;
	size_t qlen;
	int ret = st7_wire_get_setup(p, len, &s1, &d);
	if (ret != ST7_OK) {
		refused(ret, &d);
		return;
	}
	held(s1.o.ca_file, s1.ca_file, sizeof(s1.ca_file));
	held(s1.o.client_cert, s1.client_cert, sizeof(s1.client_cert));
	held(s1.o.client_key, s1.client_key, sizeof(s1.client_key));
	MUST(strnlen(s1.user, sizeof(s1.user)) < sizeof(s1.user));
	out.len = 0;
	MUST(st7_wire_put_setup(&out, &s1.o, s1.user) == ST7_OK);
	reframe(ST7_WIRE_SETUP, &q, &qlen);
	/* one encoding per value: the very bytes come back */
	MUST(qlen == len && memcmp(q, p, len) == 0);
	MUST(st7_wire_get_setup(q, qlen, &s2, &d) == ST7_OK);
	MUST(s1.o.allow_http == s2.o.allow_http &&
	     s1.o.connect_timeout_s == s2.o.connect_timeout_s &&
	     s1.o.total_timeout_s == s2.o.total_timeout_s &&
	     s1.o.low_speed_bytes == s2.o.low_speed_bytes &&
	     s1.o.low_speed_time_s == s2.o.low_speed_time_s && s1.o.max_size == s2.o.max_size);
	MUST(same_str(s1.o.ca_file, s2.o.ca_file) && same_str(s1.o.client_cert, s2.o.client_cert) &&
	     same_str(s1.o.client_key, s2.o.client_key) && strcmp(s1.user, s2.user) == 0);
}

static void get(const uint8_t *p, size_t len)
{
	struct st7_diag d = { "" };
	const uint8_t *q;
	size_t qlen;
	int ret = st7_wire_get_get(p, len, &g1, &d);
	if (ret != ST7_OK) {
		refused(ret, &d);
		return;
	}
	MUST(g1.r.url == g1.url && strnlen(g1.url, sizeof(g1.url)) < sizeof(g1.url));
	held(g1.r.if_range, g1.if_range, sizeof(g1.if_range));
	held(g1.r.if_none_match, g1.if_none_match, sizeof(g1.if_none_match));
	MUST(g1.r.abort_flag == NULL && g1.r.progress == NULL && g1.r.progress_arg == NULL);
	out.len = 0;
	MUST(st7_wire_put_get(&out, &g1.r) == ST7_OK);
	reframe(ST7_WIRE_GET, &q, &qlen);
	MUST(qlen == len && memcmp(q, p, len) == 0);
	MUST(st7_wire_get_get(q, qlen, &g2, &d) == ST7_OK);
	MUST(strcmp(g1.url, g2.url) == 0 && g1.r.max_size == g2.r.max_size &&
	     g1.r.offset == g2.r.offset && same_str(g1.r.if_range, g2.r.if_range) &&
	     g1.r.if_range_date == g2.r.if_range_date &&
	     same_str(g1.r.if_none_match, g2.r.if_none_match) &&
	     g1.r.if_modified_since == g2.r.if_modified_since);
}

static void post(const uint8_t *p, size_t len)
{
	struct st7_diag d = { "" };
	const uint8_t *q;
	size_t qlen;
	int ret = st7_wire_get_post(p, len, &p1, &d);
	if (ret != ST7_OK) {
		refused(ret, &d);
		return;
	}
	MUST(p1.r.url == p1.url && strnlen(p1.url, sizeof(p1.url)) < sizeof(p1.url));
	MUST(p1.r.content_type == p1.content_type && st7_wire_ctype_ok(p1.content_type));
	MUST(p1.r.len <= ST7_FETCH_POST_MAX);
	MUST(p1.r.len ? p1.r.body == p1.body : p1.r.body == NULL);
	MUST(p1.r.abort_flag == NULL);
	out.len = 0;
	MUST(st7_wire_put_post(&out, &p1.r) == ST7_OK);
	reframe(ST7_WIRE_POST, &q, &qlen);
	MUST(qlen == len && memcmp(q, p, len) == 0);
	MUST(st7_wire_get_post(q, qlen, &p2, &d) == ST7_OK);
	MUST(strcmp(p1.url, p2.url) == 0 && strcmp(p1.content_type, p2.content_type) == 0 &&
	     p1.r.len == p2.r.len && (p1.r.len == 0 || memcmp(p1.body, p2.body, p1.r.len) == 0));
}

static void begin(const uint8_t *p, size_t len)
{
	struct st7_diag d = { "" };
	struct st7_fetch_response r1, r2;
	const uint8_t *q;
	size_t qlen;
	int ret = st7_wire_get_begin(p, len, &r1, &d);
	if (ret != ST7_OK) {
		refused(ret, &d);
		return;
	}
	check_resp(&r1);
	MUST(r1.status == 200 || r1.status == 206);
	out.len = 0;
	MUST(st7_wire_put_begin(&out, &r1) == ST7_OK);
	reframe(ST7_WIRE_BEGIN, &q, &qlen);
	MUST(qlen == len && memcmp(q, p, len) == 0);
	MUST(st7_wire_get_begin(q, qlen, &r2, &d) == ST7_OK);
	MUST(same_resp(&r1, &r2));
}

static void progress(const uint8_t *p, size_t len)
{
	struct st7_diag d = { "" };
	uint64_t done, total, done2, total2;
	const uint8_t *q;
	size_t qlen;
	int ret = st7_wire_get_progress(p, len, &done, &total, &d);
	if (ret != ST7_OK) {
		refused(ret, &d);
		return;
	}
	out.len = 0;
	MUST(st7_wire_put_progress(&out, done, total) == ST7_OK);
	reframe(ST7_WIRE_PROGRESS, &q, &qlen);
	MUST(qlen == len && memcmp(q, p, len) == 0);
	MUST(st7_wire_get_progress(q, qlen, &done2, &total2, &d) == ST7_OK);
	MUST(done == done2 && total == total2);
}

static void end(const uint8_t *p, size_t len)
{
	struct st7_diag d = { "" };
	const uint8_t *q;
	size_t qlen;
	int ret = st7_wire_get_end(p, len, &e1, &d);
	if (ret != ST7_OK) {
		refused(ret, &d);
		return;
	}
	check_resp(&e1.resp);
	MUST(e1.result <= 0 && e1.result != ST7_ERR_FORMAT && e1.result != ST7_ERR_SIGNATURE);
	size_t n = strnlen(e1.msg, sizeof(e1.msg));
	MUST(n < sizeof(e1.msg));
	for (size_t i = 0; i < n; i++) /* shown to a user: printable only */
		MUST(e1.msg[i] >= ' ' && e1.msg[i] < 0x7F);
	out.len = 0;
	MUST(st7_wire_put_end(&out, e1.result, &e1.resp, e1.msg) == ST7_OK);
	reframe(ST7_WIRE_END, &q, &qlen);
	/* the same bytes but for the message's unprintable ones, now '?' */
	MUST(qlen == len && memcmp(q, p, len - n) == 0);
	MUST(st7_wire_get_end(q, qlen, &e2, &d) == ST7_OK);
	MUST(e1.result == e2.result && same_resp(&e1.resp, &e2.resp) &&
	     strcmp(e1.msg, e2.msg) == 0);
}

static void data(const uint8_t *p, size_t len)
{
	const uint8_t *q;
	size_t qlen;
	out.len = 0;
	if (len > ST7_WIRE_DATA_MAX) {
		MUST(st7_wire_put_data(&out, p, len) == ST7_ERR_INVALID && out.len == 0);
		return;
	}
	MUST(st7_wire_put_data(&out, p, len) == ST7_OK);
	reframe(ST7_WIRE_DATA, &q, &qlen);
	MUST(qlen == len && (len == 0 || memcmp(q, p, len) == 0));
}

static void every_decoder(const uint8_t *p, size_t len)
{
	setup(p, len);
	get(p, len);
	post(p, len);
	begin(p, len);
	progress(p, len);
	end(p, len);
	data(p, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	/* A copy of exactly `size` bytes, so that ASan sees any read past the input. */
	uint8_t *in = malloc(size ? size : 1);
	MUST(in != NULL);
	if (size)
		memcpy(in, buf, size);
	const uint8_t *at = in, *stop = in + size;
	for (;;) {
		struct st7_diag d = { "" };
		enum st7_wire_type type;
		const uint8_t *payload;
		size_t len, used = 99;
		int ret = st7_wire_frame(at, stop, &type, &payload, &len, &used, &d);
		if (ret != ST7_OK) {
			MUST(ret == ST7_ERR_FORMAT && used == 0 && d.msg[0] != '\0');
			break;
		}
		if (used == 0) {
			MUST(stop - at < ST7_WIRE_HEADER ||
			     (size_t)(stop - at) < ST7_WIRE_HEADER + (size_t)st7_le32(at + 1));
			break;
		}
		MUST(len <= ST7_WIRE_PAYLOAD_MAX && used == ST7_WIRE_HEADER + len);
		MUST(payload == at + ST7_WIRE_HEADER && used <= (size_t)(stop - at));
		MUST(type == (enum st7_wire_type)at[0]);
		every_decoder(payload, len);
		at += used;
	}
	every_decoder(at, (size_t)(stop - at));
	free(in);
	return 0;
}
