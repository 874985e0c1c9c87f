/* SPDX-License-Identifier: MIT */
/*
 * fetch_wire: the frames between st7dfu and its fetch worker. Each process parses what the
 * other sends as hostile input, so beyond round trips every field is attacked on its own:
 * cut at every byte, too long, out of range, NUL inside, bytes left over. The hostile
 * payloads are built here by hand from the format fetch_wire.h describes, not by the
 * encoders, so that the encoders are checked against that description too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fetch_wire.h"
#include "http_meta.h"

/* 'a's ending in a NUL: as(n) is a string of n 'a's, for strings at and over their bounds. */
static char fill[ST7_WIRE_DATA_MAX + 16];

static const char *as(size_t n)
{
	return fill + sizeof(fill) - 1 - n;
}

/* ---- payloads by hand, remembering which field each byte belongs to ---- */

struct raw_str {
	const char *p;
	size_t n; /* the length sent, and the bytes that follow it */
};
#define RS(lit)                      \
	{                            \
		lit, sizeof(lit) - 1 \
	}

/* A payload and its fields' extents: a cut before byte i must be blamed on field_at(i). */
struct pb {
	struct st7_buf b;
	size_t n;
	struct {
		const char *name;
		size_t end;
	} span[16];
};

static void pb_init(struct pb *w)
{
	st7_buf_init(&w->b);
	w->n = 0;
}

static void pb_mark(struct pb *w, const char *name)
{
	if (w->n == 0 || strcmp(w->span[w->n - 1].name, name) != 0) {
		if (w->n == sizeof(w->span) / sizeof(w->span[0]))
			abort();
		w->span[w->n++].name = name;
	}
	w->span[w->n - 1].end = w->b.len;
}

static void pb_le(struct pb *w, const char *name, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		if (st7_buf_append_byte(&w->b, (uint8_t)(v >> (8 * i))) != ST7_OK)
			abort();
	pb_mark(w, name);
}

static void pb_str(struct pb *w, const char *name, struct raw_str s)
{
	pb_le(w, name, s.n, 2);
	if (st7_buf_append(&w->b, s.p, s.n) != ST7_OK)
		abort();
	pb_mark(w, name);
}

static const char *pb_field_at(const struct pb *w, size_t at)
{
	for (size_t i = 0; i < w->n; i++)
		if (at < w->span[i].end)
			return w->span[i].name;
	return "(none)";
}

struct raw_setup {
	uint8_t flags;
	uint32_t timeout[4];
	uint64_t max_size;
	struct raw_str ca_file, client_cert, client_key, user;
};

static void mk_setup(struct pb *w, const struct raw_setup *s)
{
	pb_init(w);
	pb_le(w, "flags", s->flags, 1);
	for (int i = 0; i < 4; i++)
		pb_le(w, "timeouts", s->timeout[i], 4);
	pb_le(w, "max_size", s->max_size, 8);
	pb_str(w, "ca_file", s->ca_file);
	pb_str(w, "client_cert", s->client_cert);
	pb_str(w, "client_key", s->client_key);
	pb_str(w, "user", s->user);
}

struct raw_get {
	struct raw_str url;
	uint64_t max_size, offset;
	struct raw_str if_range;
	int64_t if_range_date;
	struct raw_str if_none_match;
	int64_t if_modified_since;
};

struct raw_post {
	struct raw_str url, content_type;
	uint32_t body_len;   /* the length sent ... */
	struct raw_str body; /* ... and the bytes that follow it */
};

static void mk_post(struct pb *w, const struct raw_post *r)
{
	pb_init(w);
	pb_str(w, "url", r->url);
	pb_str(w, "content_type", r->content_type);
	pb_le(w, "body", r->body_len, 4);
	if (st7_buf_append(&w->b, r->body.p, r->body.n) != ST7_OK)
		abort();
	pb_mark(w, "body");
}

static void mk_get(struct pb *w, const struct raw_get *g)
{
	pb_init(w);
	pb_str(w, "url", g->url);
	pb_le(w, "max_size", g->max_size, 8);
	pb_le(w, "offset", g->offset, 8);
	pb_str(w, "if_range", g->if_range);
	pb_le(w, "if_range_date", (uint64_t)g->if_range_date, 8);
	pb_str(w, "if_none_match", g->if_none_match);
	pb_le(w, "if_modified_since", (uint64_t)g->if_modified_since, 8);
}

struct raw_resp {
	uint32_t status;
	uint64_t body_offset, complete_size, received;
	struct raw_str etag;
	int64_t last_modified, retry_after;
};

static void mk_resp(struct pb *w, const struct raw_resp *r)
{
	pb_le(w, "status", r->status, 4);
	pb_le(w, "sizes", r->body_offset, 8);
	pb_le(w, "sizes", r->complete_size, 8);
	pb_le(w, "sizes", r->received, 8);
	pb_str(w, "etag", r->etag);
	pb_le(w, "last_modified", (uint64_t)r->last_modified, 8);
	pb_le(w, "retry_after", (uint64_t)r->retry_after, 8);
}

static void mk_begin(struct pb *w, const struct raw_resp *r)
{
	pb_init(w);
	mk_resp(w, r);
}

static void mk_end(struct pb *w, int32_t result, const struct raw_resp *r, struct raw_str msg)
{
	pb_init(w);
	pb_le(w, "result", (uint32_t)result, 4);
	mk_resp(w, r);
	pb_str(w, "message", msg);
}

static const struct raw_setup setup0 = {
	1, { 10, 300, 1024, 30 }, 1 << 20, RS("/ca.pem"), RS("/c.pem"), RS("/k.pem"), RS("st7dfu")
};
static const struct raw_get get0 = {
	RS("https://h/f.dfu"), 4096, 100, RS("\"v1\""), 1700000000, RS("W/\"v0\""), 1600000000
};
static const struct raw_post post0 = { RS("https://h/reports"), RS("application/json"), 7,
	                               RS("{\"a\":1}") };
static const struct raw_resp resp0 = { 206, 100, 1000, 900, RS("\"v1\""), 1700000000, -1 };

/* ---- decoding, with the verdict checked ---- */

enum kind { K_SETUP, K_GET, K_BEGIN, K_PROGRESS, K_END, K_POST };
static const char *const kind_name[] = { "SETUP", "GET", "BEGIN", "PROGRESS", "END", "POST" };

static struct st7_wire_setup out_setup;
static struct st7_wire_get out_get;
static struct st7_fetch_response out_begin;
static uint64_t out_done, out_total;
static struct st7_wire_end out_end;
static struct st7_wire_post out_post;

static int decode(enum kind k, const uint8_t *p, size_t len, struct st7_diag *d)
{
	switch (k) {
	case K_SETUP:
		return st7_wire_get_setup(p, len, &out_setup, d);
	case K_GET:
		return st7_wire_get_get(p, len, &out_get, d);
	case K_BEGIN:
		return st7_wire_get_begin(p, len, &out_begin, d);
	case K_PROGRESS:
		return st7_wire_get_progress(p, len, &out_done, &out_total, d);
	case K_END:
		return st7_wire_get_end(p, len, &out_end, d);
	case K_POST:
		return st7_wire_get_post(p, len, &out_post, d);
	}
	return 99;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && strcmp(s + n - t, tail) == 0;
}

/*
 * The decoder must refuse with ST7_ERR_FORMAT and a diag naming the frame and, when
 * `field` is given, ending in "bad <field>" (a mere substring would let "if_range" pass
 * for "if_range_date"); else containing `why`. `what` says which case failed.
 */
static void refused_(enum kind k, const uint8_t *p, size_t len, const char *field, const char *why,
                     const char *what, int line)
{
	struct st7_diag d = { "" };
	char tail[96];
	int ret = decode(k, p, len, &d);
	snprintf(tail, sizeof(tail), "bad %s", field ? field : "");
	if (ret == ST7_ERR_FORMAT && strstr(d.msg, kind_name[k]) &&
	    (field ? ends_with(d.msg, tail) : strstr(d.msg, why) != NULL)) {
		check_passed++;
		return;
	}
	check_failed++;
	fprintf(stderr, "line %d: %s %s (%zu bytes): got %d \"%s\", expected %d with \"%s\"\n",
	        line, kind_name[k], what, len, ret, d.msg, ST7_ERR_FORMAT, field ? tail : why);
}
#define REFUSED(k, p, len, field, what) refused_(k, p, len, field, NULL, what, __LINE__)
#define REFUSED_WHY(k, p, len, why, what) refused_(k, p, len, NULL, why, what, __LINE__)

static void accepted_(enum kind k, const uint8_t *p, size_t len, const char *what, int line)
{
	struct st7_diag d = { "" };
	int ret = decode(k, p, len, &d);
	if (ret == ST7_OK) {
		check_passed++;
		return;
	}
	check_failed++;
	fprintf(stderr, "line %d: %s %s: refused (%d \"%s\")\n", line, kind_name[k], what, ret,
	        d.msg);
}
#define ACCEPTED(k, p, len, what) accepted_(k, p, len, what, __LINE__)

/*
 * Every proper prefix of a valid payload is refused, blaming the field the cut falls in;
 * the whole is accepted; one and seven bytes more are refused as bytes too many.
 */
static void cuts_and_extras(enum kind k, struct pb *w)
{
	char what[64];
	for (size_t i = 0; i < w->b.len; i++) {
		snprintf(what, sizeof(what), "cut at %zu", i);
		REFUSED(k, w->b.data, i, pb_field_at(w, i), what);
	}
	ACCEPTED(k, w->b.data, w->b.len, "whole");
	size_t len = w->b.len;
	for (int i = 0; i < 7; i++)
		if (st7_buf_append_byte(&w->b, 0) != ST7_OK)
			abort();
	REFUSED_WHY(k, w->b.data, len + 1, "1 bytes too many", "one byte more");
	REFUSED_WHY(k, w->b.data, len + 7, "7 bytes too many", "seven bytes more");
	w->b.len = len;
}

/* A valid buffer holding exactly one frame of type `t`: its payload. */
static bool one_frame(const struct st7_buf *b, enum st7_wire_type t, const uint8_t **payload,
                      size_t *len)
{
	struct st7_diag d = { "" };
	enum st7_wire_type type = 0;
	size_t used = 0;
	int ret = st7_wire_frame(b->data, b->data + b->len, &type, payload, len, &used, &d);
	CHECK_INT(ret, ST7_OK);
	CHECK_INT(used, b->len);
	CHECK_INT(type, t);
	CHECK_INT(*len + ST7_WIRE_HEADER, b->len);
	return ret == ST7_OK && used == b->len && type == t;
}

static void same_resp(const struct st7_fetch_response *a, const struct st7_fetch_response *b)
{
	CHECK_INT(a->status, b->status);
	CHECK(a->body_offset == b->body_offset);
	CHECK(a->complete_size == b->complete_size);
	CHECK(a->received == b->received);
	CHECK(strcmp(a->etag, b->etag) == 0);
	CHECK_INT(a->last_modified, b->last_modified);
	CHECK_INT(a->retry_after_s, b->retry_after_s);
}

/* ---- round trips through the encoders ---- */

static void setup_round_trip(const struct st7_fetch_opts *o, const char *user)
{
	struct st7_buf b;
	const uint8_t *p;
	size_t len;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	CHECK_INT(st7_wire_put_setup(&b, o, user), ST7_OK);
	if (one_frame(&b, ST7_WIRE_SETUP, &p, &len)) {
		struct st7_wire_setup *s = &out_setup;
		CHECK_INT(st7_wire_get_setup(p, len, s, &d), ST7_OK);
		CHECK(s->o.allow_http == o->allow_http);
		CHECK_INT(s->o.connect_timeout_s, o->connect_timeout_s);
		CHECK_INT(s->o.total_timeout_s, o->total_timeout_s);
		CHECK_INT(s->o.low_speed_bytes, o->low_speed_bytes);
		CHECK_INT(s->o.low_speed_time_s, o->low_speed_time_s);
		CHECK(s->o.max_size == o->max_size);
		/* "" and NULL are both "none", and come back as NULL */
		const char *const sent[] = { o->ca_file, o->client_cert, o->client_key };
		const char *const got[] = { s->o.ca_file, s->o.client_cert, s->o.client_key };
		const char *const held[] = { s->ca_file, s->client_cert, s->client_key };
		for (int i = 0; i < 3; i++) {
			if (sent[i] && sent[i][0])
				CHECK(got[i] == held[i] && strcmp(got[i], sent[i]) == 0);
			else
				CHECK(got[i] == NULL && held[i][0] == '\0');
		}
		CHECK(strcmp(s->user, user ? user : "") == 0);
	}
	st7_buf_free(&b);
}

static void test_setup_round_trip(void)
{
	struct st7_fetch_opts o = { "/etc/st7dfu/ca.pem",
		                    "/etc/st7dfu/client.pem",
		                    "/etc/st7dfu/client.key",
		                    true,
		                    0x01020304,
		                    0xFFFFFFFF,
		                    7,
		                    0x80000000,
		                    0x0102030405060708ull };
	setup_round_trip(&o, "st7fetch");
	struct st7_fetch_opts none = { NULL, NULL, NULL, false, 0, 0, 0, 0, 0 };
	setup_round_trip(&none, NULL);
	struct st7_fetch_opts empty = { "", "", "", false, 1, 2, 3, 4, UINT64_MAX };
	setup_round_trip(&empty, "");
	/* every string at its longest */
	struct st7_fetch_opts full = {
		as(PATH_MAX - 1), as(PATH_MAX - 1), as(PATH_MAX - 1), true, 1, 2, 3, 4, 5
	};
	setup_round_trip(&full, as(ST7_WIRE_USER_MAX - 1));

	/* the bytes are the ones fetch_wire.h describes */
	struct st7_fetch_opts same = { "/ca.pem", "/c.pem", "/k.pem", true,   10,
		                       300,       1024,     30,       1 << 20 };
	struct st7_buf b;
	struct pb w;
	const uint8_t *p;
	size_t len;
	st7_buf_init(&b);
	mk_setup(&w, &setup0);
	CHECK_INT(st7_wire_put_setup(&b, &same, "st7dfu"), ST7_OK);
	if (one_frame(&b, ST7_WIRE_SETUP, &p, &len))
		CHECK(len == w.b.len && memcmp(p, w.b.data, len) == 0);
	CHECK_INT(b.data[0], 'S');
	st7_buf_free(&b);
	st7_buf_free(&w.b);
}

static void get_round_trip(const struct st7_fetch_request *r)
{
	struct st7_buf b;
	const uint8_t *p;
	size_t len;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	CHECK_INT(st7_wire_put_get(&b, r), ST7_OK);
	if (one_frame(&b, ST7_WIRE_GET, &p, &len)) {
		struct st7_wire_get *g = &out_get;
		CHECK_INT(st7_wire_get_get(p, len, g, &d), ST7_OK);
		CHECK(g->r.url == g->url && strcmp(g->url, r->url ? r->url : "") == 0);
		CHECK(g->r.max_size == r->max_size);
		CHECK(g->r.offset == r->offset);
		if (r->if_range && r->if_range[0])
			CHECK(g->r.if_range == g->if_range &&
			      strcmp(g->if_range, r->if_range) == 0);
		else
			CHECK(g->r.if_range == NULL);
		CHECK_INT(g->r.if_range_date, r->if_range_date);
		if (r->if_none_match && r->if_none_match[0])
			CHECK(g->r.if_none_match == g->if_none_match &&
			      strcmp(g->if_none_match, r->if_none_match) == 0);
		else
			CHECK(g->r.if_none_match == NULL);
		CHECK_INT(g->r.if_modified_since, r->if_modified_since);
		/* the live handles are the receiver's own */
		CHECK(g->r.abort_flag == NULL && g->r.progress == NULL &&
		      g->r.progress_arg == NULL);
	}
	st7_buf_free(&b);
}

static void test_get_round_trip(void)
{
	static const volatile sig_atomic_t flag;
	struct st7_fetch_request all = { .url = "https://fw.example/st72f62.dfu?v=2",
		                         .max_size = 0x0102030405060708ull,
		                         .offset = 0x1122334455667788ull,
		                         .if_range = "\"abc-123\"",
		                         .if_range_date = 1700000000,
		                         .if_none_match = "W/\"weak\"",
		                         .if_modified_since = 1600000001,
		                         .abort_flag = &flag };
	get_round_trip(&all);
	struct st7_fetch_request bare = { .url = "https://h/f",
		                          .if_range_date = -1,
		                          .if_modified_since = -1 };
	get_round_trip(&bare);
	struct st7_fetch_request extremes = { .url = as(ST7_URL_MAX - 1),
		                              .max_size = UINT64_MAX,
		                              .offset = UINT64_MAX,
		                              .if_range = as(ST7_ETAG_MAX - 1),
		                              .if_range_date = INT64_MIN,
		                              .if_none_match = as(ST7_ETAG_MAX - 1),
		                              .if_modified_since = INT64_MAX };
	get_round_trip(&extremes);

	struct st7_fetch_request same = { .url = "https://h/f.dfu",
		                          .max_size = 4096,
		                          .offset = 100,
		                          .if_range = "\"v1\"",
		                          .if_range_date = 1700000000,
		                          .if_none_match = "W/\"v0\"",
		                          .if_modified_since = 1600000000 };
	struct st7_buf b;
	struct pb w;
	const uint8_t *p;
	size_t len;
	st7_buf_init(&b);
	mk_get(&w, &get0);
	CHECK_INT(st7_wire_put_get(&b, &same), ST7_OK);
	if (one_frame(&b, ST7_WIRE_GET, &p, &len))
		CHECK(len == w.b.len && memcmp(p, w.b.data, len) == 0);
	CHECK_INT(b.data[0], 'G');
	st7_buf_free(&b);
	st7_buf_free(&w.b);
}

static void begin_round_trip(const struct st7_fetch_response *r)
{
	struct st7_buf b;
	const uint8_t *p;
	size_t len;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	CHECK_INT(st7_wire_put_begin(&b, r), ST7_OK);
	if (one_frame(&b, ST7_WIRE_BEGIN, &p, &len)) {
		CHECK_INT(st7_wire_get_begin(p, len, &out_begin, &d), ST7_OK);
		same_resp(&out_begin, r);
	}
	st7_buf_free(&b);
}

static void test_begin_round_trip(void)
{
	struct st7_fetch_response r = { 200, 0, UINT64_MAX, 0, "", -1, -1 };
	begin_round_trip(&r);
	r = (struct st7_fetch_response){ 206, 100, 1000, 0, "\"v1\"", 1700000000, 86400 };
	begin_round_trip(&r);
	r = (struct st7_fetch_response){ 200, 0, 10, 10, "W/\"w\"", 0, 1 };
	begin_round_trip(&r);
	r =
	        (struct st7_fetch_response){ 206, 5, UINT64_MAX, UINT64_MAX, "", ST7_HTTP_DATE_LAST,
		                             -1 };
	begin_round_trip(&r);
	/* the longest ETag */
	memset(r.etag, 'x', ST7_ETAG_MAX - 1);
	r.etag[0] = r.etag[ST7_ETAG_MAX - 2] = '"';
	r.etag[ST7_ETAG_MAX - 1] = '\0';
	begin_round_trip(&r);

	struct st7_fetch_response same = { 206, 100, 1000, 900, "\"v1\"", 1700000000, -1 };
	struct st7_buf b;
	struct pb w;
	const uint8_t *p;
	size_t len;
	st7_buf_init(&b);
	mk_begin(&w, &resp0);
	CHECK_INT(st7_wire_put_begin(&b, &same), ST7_OK);
	if (one_frame(&b, ST7_WIRE_BEGIN, &p, &len))
		CHECK(len == w.b.len && memcmp(p, w.b.data, len) == 0);
	CHECK_INT(b.data[0], 'B');
	st7_buf_free(&b);
	st7_buf_free(&w.b);
}

static void test_data_round_trip(void)
{
	static uint8_t bytes[ST7_WIRE_DATA_MAX];
	static const size_t sizes[] = { 0, 1, 2, 4096, ST7_WIRE_DATA_MAX - 1, ST7_WIRE_DATA_MAX };
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 7 + 3 + (i >> 8));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct st7_buf b;
		const uint8_t *p;
		size_t len;
		st7_buf_init(&b);
		CHECK_INT(st7_wire_put_data(&b, bytes, sizes[i]), ST7_OK);
		if (one_frame(&b, ST7_WIRE_DATA, &p, &len))
			CHECK(len == sizes[i] && memcmp(p, bytes, len) == 0);
		CHECK_INT(b.data[0], 'D');
		st7_buf_free(&b);
	}
	struct st7_buf b; /* no bytes at all, and no pointer to them */
	const uint8_t *p;
	size_t len;
	st7_buf_init(&b);
	CHECK_INT(st7_wire_put_data(&b, NULL, 0), ST7_OK);
	if (one_frame(&b, ST7_WIRE_DATA, &p, &len))
		CHECK_INT(len, 0);
	st7_buf_free(&b);
}

static void test_progress_round_trip(void)
{
	static const uint64_t figures[][2] = { { 0, 0 },
		                               { 1, 2 },
		                               { UINT64_MAX, 1 },
		                               { 5, UINT64_MAX },
		                               { 0x0102030405060708ull, 0x8877665544332211ull } };
	for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++) {
		struct st7_buf b;
		const uint8_t *p;
		size_t len;
		struct st7_diag d = { "" };
		st7_buf_init(&b);
		CHECK_INT(st7_wire_put_progress(&b, figures[i][0], figures[i][1]), ST7_OK);
		if (one_frame(&b, ST7_WIRE_PROGRESS, &p, &len)) {
			CHECK_INT(len, 16);
			CHECK_INT(st7_wire_get_progress(p, len, &out_done, &out_total, &d), ST7_OK);
			CHECK(out_done == figures[i][0] && out_total == figures[i][1]);
		}
		CHECK_INT(b.data[0], 'P');
		st7_buf_free(&b);
	}
}

/* What a GET may end with (fetch.h, and ST7_ERR_WORKER for a worker that could not start). */
static const int allowed_results[] = {
	ST7_OK,        ST7_ERR_NETWORK,     ST7_ERR_TLS,   ST7_ERR_TIMEOUT, ST7_ERR_TOO_LARGE,
	ST7_ERR_HTTP,  ST7_ERR_RETRY_LATER, ST7_ERR_RANGE, ST7_ERR_ABORTED, ST7_ERR_INVALID,
	ST7_ERR_NOMEM, ST7_ERR_IO,          ST7_ERR_WORKER
};

static bool is_allowed(int r)
{
	for (size_t i = 0; i < sizeof(allowed_results) / sizeof(allowed_results[0]); i++)
		if (allowed_results[i] == r)
			return true;
	return false;
}

static void end_round_trip(int result, const struct st7_fetch_response *r, const char *msg,
                           const char *want_msg)
{
	struct st7_buf b;
	const uint8_t *p;
	size_t len;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	CHECK_INT(st7_wire_put_end(&b, result, r, msg), ST7_OK);
	if (one_frame(&b, ST7_WIRE_END, &p, &len)) {
		CHECK_INT(st7_wire_get_end(p, len, &out_end, &d), ST7_OK);
		CHECK_INT(out_end.result, result);
		same_resp(&out_end.resp, r);
		CHECK(strcmp(out_end.msg, want_msg) == 0);
	}
	CHECK_INT(b.data[0], 'E');
	st7_buf_free(&b);
}

static void test_end_round_trip(void)
{
	static const struct st7_fetch_response resps[] = {
		{ 0, 0, UINT64_MAX, 0, "", -1, -1 },                   /* no response at all */
		{ 304, 0, UINT64_MAX, 0, "\"same\"", 1600000000, -1 }, /* not modified */
		{ 503, 0, 100, 0, "", -1, 120 },                       /* retry later */
		{ 206, 100, 1000, 900, "W/\"v\"", 1700000000, -1 },    /* the rest of a file */
		{ 100, 0, 0, 0, "", 0, 86400 },
		{ 599, 0, 0, 0, "", -1, 1 },
	};
	for (size_t i = 0; i < sizeof(allowed_results) / sizeof(allowed_results[0]); i++)
		for (size_t j = 0; j < sizeof(resps) / sizeof(resps[0]); j++) {
			char msg[64];
			snprintf(msg, sizeof(msg), "result %d, response %zu", allowed_results[i],
			         j);
			end_round_trip(allowed_results[i], &resps[j], msg, msg);
		}
	end_round_trip(ST7_OK, &resps[0], NULL, "");
	end_round_trip(ST7_OK, &resps[0], "", "");
	end_round_trip(ST7_ERR_HTTP, &resps[0], as(ST7_DIAG_MAX - 1), as(ST7_DIAG_MAX - 1));
	/* what the other side must not show a user comes back as '?' */
	end_round_trip(ST7_ERR_HTTP, &resps[0], "a\tb\r\nc\x1b[31md\x7f\xc3\xa9!",
	               "a?b??c?[31md??"
	               "?!"); /* split: no trigraph */

	struct st7_fetch_response same = { 206, 100, 1000, 900, "\"v1\"", 1700000000, -1 };
	struct st7_buf b;
	struct pb w;
	const uint8_t *p;
	size_t len;
	st7_buf_init(&b);
	mk_end(&w, ST7_ERR_NETWORK, &resp0, (struct raw_str)RS("broke off"));
	CHECK_INT(st7_wire_put_end(&b, ST7_ERR_NETWORK, &same, "broke off"), ST7_OK);
	if (one_frame(&b, ST7_WIRE_END, &p, &len))
		CHECK(len == w.b.len && memcmp(p, w.b.data, len) == 0);
	st7_buf_free(&b);
	st7_buf_free(&w.b);
}

static void post_round_trip(const struct st7_fetch_post *r)
{
	struct st7_buf b;
	const uint8_t *p;
	size_t len;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	CHECK_INT(st7_wire_put_post(&b, r), ST7_OK);
	if (one_frame(&b, ST7_WIRE_POST, &p, &len)) {
		struct st7_wire_post *o = &out_post;
		CHECK_INT(st7_wire_get_post(p, len, o, &d), ST7_OK);
		CHECK(o->r.url == o->url && strcmp(o->url, r->url) == 0);
		CHECK(o->r.content_type == o->content_type &&
		      strcmp(o->content_type, r->content_type) == 0);
		CHECK(o->r.len == r->len);
		CHECK(r->len ? o->r.body == o->body && memcmp(o->body, r->body, r->len) == 0
		             : o->r.body == NULL);
		CHECK(o->r.abort_flag == NULL);
	}
	st7_buf_free(&b);
}

static void test_post_round_trip(void)
{
	static uint8_t body[ST7_FETCH_POST_MAX];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7); /* NULs and high bytes: the body is bytes */
	struct st7_fetch_post r = { "https://h/reports", "application/json", body, 3, NULL };
	post_round_trip(&r);
	r.len = 0;
	r.body = NULL;
	post_round_trip(&r);
	r.body = body;
	post_round_trip(&r); /* a body pointer with no length: no body */
	r.url = as(ST7_URL_MAX - 1);
	r.content_type = as(ST7_FETCH_CTYPE_MAX - 1);
	r.len = ST7_FETCH_POST_MAX;
	post_round_trip(&r);
	r.url = "";
	r.content_type = " ~";
	r.len = 1;
	post_round_trip(&r);
}

/* ---- st7_wire_frame: splitting a stream ---- */

static void frame_of(struct st7_buf *b, enum st7_wire_type t, uint32_t len)
{
	st7_buf_init(b);
	if (st7_buf_append_byte(b, (uint8_t)t) || st7_buf_append_le32(b, len))
		abort();
}

static void test_frame_split(void)
{
	static uint8_t bytes[ST7_WIRE_DATA_MAX];
	struct st7_fetch_opts o = { "/ca", NULL, NULL, false, 1, 2, 3, 4, 5 };
	struct st7_fetch_request r = { .url = "https://h/f",
		                       .if_range_date = -1,
		                       .if_modified_since = -1 };
	struct st7_fetch_response resp = { 200, 0, 3, 3, "\"e\"", -1, -1 };
	struct st7_buf b;
	struct st7_diag d = { "" };
	enum st7_wire_type type;
	const uint8_t *payload;
	size_t len, used;

	/* all seven kinds back to back, then split again */
	st7_buf_init(&b);
	size_t ends[10];
	int n = 0;
	CHECK_INT(st7_wire_put_setup(&b, &o, "u"), ST7_OK);
	ends[n++] = b.len;
	CHECK_INT(st7_wire_put_get(&b, &r), ST7_OK);
	ends[n++] = b.len;
	struct st7_fetch_post post = { "https://h/r", "application/json", bytes, 100, NULL };
	CHECK_INT(st7_wire_put_post(&b, &post), ST7_OK);
	ends[n++] = b.len;
	CHECK_INT(st7_wire_put_begin(&b, &resp), ST7_OK);
	ends[n++] = b.len;
	CHECK_INT(st7_wire_put_data(&b, (const uint8_t *)"abc", 0), ST7_OK);
	ends[n++] = b.len;
	CHECK_INT(st7_wire_put_data(&b, (const uint8_t *)"abc", 3), ST7_OK);
	ends[n++] = b.len;
	CHECK_INT(st7_wire_put_progress(&b, 3, 3), ST7_OK);
	ends[n++] = b.len;
	CHECK_INT(st7_wire_put_data(&b, bytes, ST7_WIRE_DATA_MAX), ST7_OK);
	ends[n++] = b.len;
	CHECK_INT(st7_wire_put_end(&b, ST7_OK, &resp, "done"), ST7_OK);
	ends[n++] = b.len;
	static const enum st7_wire_type types[] = {
		ST7_WIRE_SETUP, ST7_WIRE_GET,      ST7_WIRE_POST, ST7_WIRE_BEGIN, ST7_WIRE_DATA,
		ST7_WIRE_DATA,  ST7_WIRE_PROGRESS, ST7_WIRE_DATA, ST7_WIRE_END
	};
	const uint8_t *at = b.data, *end = b.data + b.len;
	for (int i = 0; i < n; i++) {
		size_t start = (size_t)(at - b.data);
		CHECK_INT(st7_wire_frame(at, end, &type, &payload, &len, &used, &d), ST7_OK);
		CHECK_INT(type, types[i]);
		CHECK(payload == at + ST7_WIRE_HEADER);
		CHECK_INT(used, ends[i] - start);
		CHECK_INT(len, ends[i] - start - ST7_WIRE_HEADER);
		if (used == 0)
			break;
		/* every proper prefix of this frame asks for more bytes, whatever preceded it */
		size_t bad = 0;
		for (const uint8_t *cut = at; cut < at + used; cut++) {
			size_t u = 99;
			if (st7_wire_frame(at, cut, &type, &payload, &len, &u, &d) != ST7_OK ||
			    u != 0)
				bad++;
		}
		CHECK_INT(bad, 0);
		at += used;
	}
	CHECK(at == end);
	CHECK_INT(st7_wire_frame(at, end, &type, &payload, &len, &used, &d), ST7_OK);
	CHECK_INT(used, 0);
	st7_buf_free(&b);

	/* the longest payload is a frame; one byte more is refused from the header alone */
	frame_of(&b, ST7_WIRE_DATA, ST7_WIRE_PAYLOAD_MAX);
	used = 99;
	CHECK_INT(st7_wire_frame(b.data, b.data + b.len, &type, &payload, &len, &used, &d), ST7_OK);
	CHECK_INT(used, 0);
	CHECK_INT(st7_buf_fill(&b, 0xA5, ST7_WIRE_PAYLOAD_MAX), ST7_OK);
	CHECK_INT(st7_wire_frame(b.data, b.data + b.len, &type, &payload, &len, &used, &d), ST7_OK);
	CHECK_INT(used, ST7_WIRE_HEADER + ST7_WIRE_PAYLOAD_MAX);
	CHECK_INT(len, ST7_WIRE_PAYLOAD_MAX);
	st7_buf_free(&b);
	static const uint32_t too_long[] = { ST7_WIRE_PAYLOAD_MAX + 1, 0x80000000u, 0xFFFFFFFFu };
	for (size_t i = 0; i < sizeof(too_long) / sizeof(too_long[0]); i++) {
		frame_of(&b, ST7_WIRE_DATA, too_long[i]);
		used = 99;
		d.msg[0] = '\0';
		CHECK_INT(st7_wire_frame(b.data, b.data + b.len, &type, &payload, &len, &used, &d),
		          ST7_ERR_FORMAT);
		CHECK_INT(used, 0);
		CHECK_HAS(d.msg, "bytes");
		st7_buf_free(&b);
	}

	/* every other type byte is refused as soon as the header is in */
	int unknown = 0;
	for (int t = 0; t < 256; t++) {
		if (strchr("SGUBDPE", t) && t != 0)
			continue;
		unknown++;
		frame_of(&b, (enum st7_wire_type)t, 0);
		used = 99;
		d.msg[0] = '\0';
		int ret = st7_wire_frame(b.data, b.data + b.len, &type, &payload, &len, &used, &d);
		if (ret != ST7_ERR_FORMAT || used != 0 || !strstr(d.msg, "unknown frame type")) {
			check_failed++;
			fprintf(stderr, "type 0x%02x: got %d, used %zu, \"%s\"\n", t, ret, used,
			        d.msg);
		} else {
			check_passed++;
		}
		st7_buf_free(&b);
	}
	CHECK_INT(unknown, 249);
	/* no diag wanted: still refused */
	frame_of(&b, (enum st7_wire_type)'s', 0);
	CHECK_INT(st7_wire_frame(b.data, b.data + b.len, &type, &payload, &len, &used, NULL),
	          ST7_ERR_FORMAT);
	st7_buf_free(&b);
}

/* ---- decoders refusing what the other side must not send ---- */

/* A string field of a hand-built payload replaced, and the payload checked. */
typedef void (*mk_fn)(struct pb *w, const void *base, const char *field, struct raw_str s);

static void setup_with(struct pb *w, const void *base, const char *field, struct raw_str s)
{
	struct raw_setup r = *(const struct raw_setup *)base;
	if (strcmp(field, "ca_file") == 0)
		r.ca_file = s;
	else if (strcmp(field, "client_cert") == 0)
		r.client_cert = s;
	else if (strcmp(field, "client_key") == 0)
		r.client_key = s;
	else
		r.user = s;
	mk_setup(w, &r);
}

static void get_with(struct pb *w, const void *base, const char *field, struct raw_str s)
{
	struct raw_get r = *(const struct raw_get *)base;
	if (strcmp(field, "url") == 0)
		r.url = s;
	else if (strcmp(field, "if_range") == 0)
		r.if_range = s;
	else
		r.if_none_match = s;
	mk_get(w, &r);
}

/*
 * A string field with a NUL inside, at its bound, one over, and with the largest length
 * the wire can say: refused, naming the field. One under the bound is accepted.
 * `valid(n)` makes the content for length n (an ETag needs its quotes).
 */
static void string_bounds(enum kind k, mk_fn mk, const void *base, const char *field, size_t cap,
                          struct raw_str (*valid)(size_t n))
{
	static char nul[] = "a\0b";
	struct pb w;
	char what[80];
	mk(&w, base, field, (struct raw_str){ nul, 3 });
	snprintf(what, sizeof(what), "%s with a NUL", field);
	REFUSED(k, w.b.data, w.b.len, field, what);
	st7_buf_free(&w.b);
	nul[0] = '\0'; /* leading NUL too */
	mk(&w, base, field, (struct raw_str){ nul, 3 });
	REFUSED(k, w.b.data, w.b.len, field, what);
	nul[0] = 'a';
	st7_buf_free(&w.b);

	mk(&w, base, field, valid(cap - 1));
	snprintf(what, sizeof(what), "%s of %zu bytes", field, cap - 1);
	ACCEPTED(k, w.b.data, w.b.len, what);
	st7_buf_free(&w.b);
	const size_t over[] = { cap, cap + 1, UINT16_MAX };
	for (size_t i = 0; i < 3; i++) {
		mk(&w, base, field, valid(over[i]));
		snprintf(what, sizeof(what), "%s of %zu bytes", field, over[i]);
		REFUSED(k, w.b.data, w.b.len, field, what);
		st7_buf_free(&w.b);
	}
}

static struct raw_str plain(size_t n)
{
	return (struct raw_str){ as(n), n };
}

/* A valid ETag of n bytes: "aaa...". */
static struct raw_str etag_of(size_t n)
{
	static char e[UINT16_MAX + 1];
	memset(e, 'a', n);
	e[0] = e[n - 1] = '"';
	return (struct raw_str){ e, n };
}

static void test_setup_refused(void)
{
	struct pb w;
	mk_setup(&w, &setup0);
	cuts_and_extras(K_SETUP, &w);
	st7_buf_free(&w.b);

	/* flags: 0 or 1, nothing else */
	for (int f = 0; f < 256; f++) {
		struct raw_setup s = setup0;
		s.flags = (uint8_t)f;
		mk_setup(&w, &s);
		if (f <= 1) {
			ACCEPTED(K_SETUP, w.b.data, w.b.len, "flags 0 or 1");
			CHECK(out_setup.o.allow_http == (f == 1));
		} else {
			REFUSED(K_SETUP, w.b.data, w.b.len, "flags", "flags over 1");
		}
		st7_buf_free(&w.b);
	}
	string_bounds(K_SETUP, setup_with, &setup0, "ca_file", PATH_MAX, plain);
	string_bounds(K_SETUP, setup_with, &setup0, "client_cert", PATH_MAX, plain);
	string_bounds(K_SETUP, setup_with, &setup0, "client_key", PATH_MAX, plain);
	string_bounds(K_SETUP, setup_with, &setup0, "user", ST7_WIRE_USER_MAX, plain);

	/* a length that runs past the payload */
	struct raw_setup s = setup0;
	mk_setup(&w, &s);
	w.b.data[w.b.len - s.user.n - 2] = (uint8_t)(s.user.n + 1);
	REFUSED(K_SETUP, w.b.data, w.b.len, "user", "user longer than what follows");
	st7_buf_free(&w.b);
}

static void test_get_refused(void)
{
	struct pb w;
	mk_get(&w, &get0);
	cuts_and_extras(K_GET, &w);
	st7_buf_free(&w.b);
	/* and with no validators: empty strings, -1 dates */
	struct raw_get g = { RS("https://h/f"), 0, 0, RS(""), -1, RS(""), -1 };
	mk_get(&w, &g);
	cuts_and_extras(K_GET, &w);
	CHECK(out_get.r.if_range == NULL && out_get.r.if_none_match == NULL);
	CHECK(out_get.r.if_range_date == -1 && out_get.r.if_modified_since == -1);
	st7_buf_free(&w.b);

	string_bounds(K_GET, get_with, &get0, "url", ST7_URL_MAX, plain);
	string_bounds(K_GET, get_with, &get0, "if_range", ST7_ETAG_MAX, etag_of);
	string_bounds(K_GET, get_with, &get0, "if_none_match", ST7_ETAG_MAX, etag_of);
}

static void post_with(struct pb *w, const void *base, const char *field, struct raw_str s)
{
	struct raw_post r = *(const struct raw_post *)base;
	if (strcmp(field, "url") == 0)
		r.url = s;
	else
		r.content_type = s;
	mk_post(w, &r);
}

static void test_post_refused(void)
{
	static uint8_t big[ST7_FETCH_POST_MAX + 8];
	struct pb w;
	char what[64];
	mk_post(&w, &post0);
	cuts_and_extras(K_POST, &w);
	CHECK(out_post.r.len == 7 && out_post.r.body == out_post.body);
	st7_buf_free(&w.b);
	/* an empty body: accepted, with no body pointer */
	struct raw_post r = post0;
	r.body_len = 0;
	r.body = (struct raw_str)RS("");
	mk_post(&w, &r);
	cuts_and_extras(K_POST, &w);
	CHECK(out_post.r.len == 0 && out_post.r.body == NULL);
	st7_buf_free(&w.b);

	string_bounds(K_POST, post_with, &post0, "url", ST7_URL_MAX, plain);
	string_bounds(K_POST, post_with, &post0, "content_type", ST7_FETCH_CTYPE_MAX, plain);

	/* a content type: printable ASCII only, and not empty (it becomes a header) */
	r = post0;
	r.content_type = (struct raw_str)RS("");
	mk_post(&w, &r);
	REFUSED(K_POST, w.b.data, w.b.len, "content_type", "empty content type");
	st7_buf_free(&w.b);
	size_t bad = 0;
	for (int c = 1; c < 256; c++) {
		char ct[] = "text/plain; x=?";
		ct[sizeof(ct) - 2] = (char)c;
		r.content_type = (struct raw_str){ ct, sizeof(ct) - 1 };
		mk_post(&w, &r);
		struct st7_diag d = { "" };
		int ret = decode(K_POST, w.b.data, w.b.len, &d);
		bool ok = c >= 0x20 && c <= 0x7E;
		if (ok ? ret != ST7_OK
		       : ret != ST7_ERR_FORMAT || !ends_with(d.msg, "bad content_type")) {
			bad++;
			fprintf(stderr, "content type byte 0x%02x: %d \"%s\"\n", c, ret, d.msg);
		}
		st7_buf_free(&w.b);
	}
	CHECK_INT(bad, 0);

	/* the body: at most ST7_FETCH_POST_MAX, and exactly what follows its length */
	r = post0;
	r.body = (struct raw_str){ (const char *)big, ST7_FETCH_POST_MAX };
	r.body_len = ST7_FETCH_POST_MAX;
	r.url = plain(ST7_URL_MAX - 1);
	r.content_type = plain(ST7_FETCH_CTYPE_MAX - 1);
	mk_post(&w, &r);
	ACCEPTED(K_POST, w.b.data, w.b.len, "the largest POST");
	CHECK(w.b.len <= ST7_WIRE_PAYLOAD_MAX);
	CHECK(out_post.r.len == ST7_FETCH_POST_MAX);
	st7_buf_free(&w.b);
	static const uint32_t lens[] = { ST7_FETCH_POST_MAX + 1, ST7_FETCH_POST_MAX + 8,
		                         0x80000000u, 0xFFFFFFFFu };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		r = post0;
		r.body_len = lens[i];
		/* as many bytes as it says, where the test can afford them */
		r.body = (struct raw_str){ (const char *)big,
			                   lens[i] <= sizeof(big) ? lens[i] : sizeof(big) };
		mk_post(&w, &r);
		snprintf(what, sizeof(what), "a body of %lu bytes", (unsigned long)lens[i]);
		REFUSED(K_POST, w.b.data, w.b.len, "body", what);
		st7_buf_free(&w.b);
	}
	r = post0;
	r.body_len = 8; /* one more than follows */
	mk_post(&w, &r);
	REFUSED(K_POST, w.b.data, w.b.len, "body", "body longer than what follows");
	st7_buf_free(&w.b);
}

/* One response sent in a BEGIN and in an END (result ST7_OK): accepted or refused in each. */
static void resp_case_(const struct raw_resp *r, const char *begin_field, const char *end_field,
                       const char *what, int line)
{
	struct pb w;
	mk_begin(&w, r);
	if (begin_field)
		refused_(K_BEGIN, w.b.data, w.b.len, begin_field, NULL, what, line);
	else
		accepted_(K_BEGIN, w.b.data, w.b.len, what, line);
	st7_buf_free(&w.b);
	mk_end(&w, ST7_OK, r, (struct raw_str)RS("m"));
	if (end_field)
		refused_(K_END, w.b.data, w.b.len, end_field, NULL, what, line);
	else
		accepted_(K_END, w.b.data, w.b.len, what, line);
	st7_buf_free(&w.b);
}
#define RESP_OK(r, what) resp_case_(r, NULL, NULL, what, __LINE__)
#define RESP_BAD(r, field, what) resp_case_(r, field, field, what, __LINE__)

static const char begin_status[] = "status (BEGIN is for 200 and 206)";

static void test_response_refused(void)
{
	struct pb w;
	mk_begin(&w, &resp0);
	cuts_and_extras(K_BEGIN, &w);
	st7_buf_free(&w.b);
	struct raw_resp r;

	/* status: BEGIN 200 or 206 only; END 0 (no response) or 100..599 */
	static const uint32_t statuses[] = { 0,   1,    99,          100,         199,
		                             200, 201,  204,         206,         299,
		                             304, 416,  503,         599,         600,
		                             999, 1000, 65536 + 200, 0x80000000u, 0xFFFFFFFFu };
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		uint32_t st = statuses[i];
		bool end_ok = st == 0 || (st >= 100 && st <= 599);
		char what[40];
		snprintf(what, sizeof(what), "status %lu", (unsigned long)st);
		r = resp0;
		r.status = st;
		r.body_offset = st == 206 ? 100 : 0;
		resp_case_(&r,
		           st == 200 || st == 206 ? NULL
		           : end_ok               ? begin_status
		                                  : "status",
		           end_ok ? NULL : "status", what, __LINE__);
		if (end_ok)
			CHECK_INT(out_end.resp.status, st);
	}

	/* sizes: the received bytes fit in the complete size when it is known */
	r = resp0; /* 100 + 900 of 1000 */
	RESP_OK(&r, "exactly complete");
	r.received = 901;
	RESP_BAD(&r, "sizes", "received one byte past the complete size");
	r.received = UINT64_MAX;
	RESP_BAD(&r, "sizes", "received UINT64_MAX");
	r = resp0;
	r.body_offset = 1001;
	r.received = 0;
	RESP_BAD(&r, "sizes", "body_offset past the complete size");
	r.body_offset = UINT64_MAX - 1;
	RESP_BAD(&r, "sizes", "body_offset near UINT64_MAX");
	r.body_offset = 1000;
	RESP_OK(&r, "body_offset at the complete size, nothing received");
	r.complete_size = 0;
	r.body_offset = 0;
	RESP_OK(&r, "an empty file");
	r.complete_size = UINT64_MAX; /* unknown: nothing to hold them to */
	r.body_offset = UINT64_MAX - 1;
	r.received = UINT64_MAX;
	RESP_OK(&r, "unknown complete size");

	/* ETag: empty (none) or valid (st7_http_etag_parse) */
	static const struct raw_str good[] = { RS(""), RS("\"\""), RS("W/\"w\""), RS("\"!#~\"") };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		r = resp0;
		r.etag = good[i];
		RESP_OK(&r, good[i].p);
		CHECK(strcmp(out_end.resp.etag, good[i].p) == 0);
	}
	static const struct raw_str bad[] = {
		RS("abc"),
		RS("\"abc"),
		RS("abc\""),
		RS("W/abc"),
		RS("w/\"a\""),
		RS("\"a\"b\""),
		RS("\"a b\""),
		RS("\"a\x01\""),
		RS("\"a\x7f\""),
		RS("\"\xc3\xa9\""),
		RS("\"a\r\nX-Injected: 1\""),
		RS("\""),
		RS(" \"a\""),
		RS("\"a\" "),
		RS("W/"),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = resp0;
		r.etag = bad[i];
		RESP_BAD(&r, "etag", "an invalid ETag");
	}
	static char nul_etag[] = "\"a\0b\"";
	r = resp0;
	r.etag = (struct raw_str){ nul_etag, 5 };
	RESP_BAD(&r, "etag", "an ETag with a NUL");
	r.etag = etag_of(ST7_ETAG_MAX - 1);
	RESP_OK(&r, "the longest ETag");
	r.etag = etag_of(ST7_ETAG_MAX);
	RESP_BAD(&r, "etag", "an ETag one byte too long");
	r.etag = etag_of(UINT16_MAX);
	RESP_BAD(&r, "etag", "an ETag 64 KiB long");

	/* Last-Modified: -1 (unknown) or a time an HTTP date can name: one beyond could not
	 * be sent back in If-Range, and a resume would go unguarded. */
	static const int64_t lm_ok[] = { -1, 0, 1700000000, ST7_HTTP_DATE_LAST };
	static const int64_t lm_bad[] = { -2, -1700000000, INT64_MIN, ST7_HTTP_DATE_LAST + 1,
		                          INT64_MAX };
	for (size_t i = 0; i < sizeof(lm_ok) / sizeof(lm_ok[0]); i++) {
		r = resp0;
		r.last_modified = lm_ok[i];
		RESP_OK(&r, "last_modified");
		CHECK_INT(out_end.resp.last_modified, lm_ok[i]);
	}
	for (size_t i = 0; i < sizeof(lm_bad) / sizeof(lm_bad[0]); i++) {
		r = resp0;
		r.last_modified = lm_bad[i];
		RESP_BAD(&r, "last_modified", "last_modified below -1");
	}

	/* Retry-After: -1 (none) or 1 s..1 day */
	static const int64_t ra_ok[] = { -1, 1, 2, 3600, 86400 };
	static const int64_t ra_bad[] = { 0, -2, 86401, INT64_MIN, INT64_MAX, (int64_t)1 << 32 };
	for (size_t i = 0; i < sizeof(ra_ok) / sizeof(ra_ok[0]); i++) {
		r = resp0;
		r.retry_after = ra_ok[i];
		RESP_OK(&r, "retry_after");
		CHECK_INT(out_end.resp.retry_after_s, ra_ok[i]);
	}
	for (size_t i = 0; i < sizeof(ra_bad) / sizeof(ra_bad[0]); i++) {
		r = resp0;
		r.retry_after = ra_bad[i];
		RESP_BAD(&r, "retry_after", "retry_after out of range");
	}
}

static void test_end_refused(void)
{
	struct pb w;
	mk_end(&w, ST7_ERR_RETRY_LATER, &resp0, (struct raw_str)RS("try later"));
	cuts_and_extras(K_END, &w);
	st7_buf_free(&w.b);

	/* result: the listed codes only; every other code and a few that are no codes at all */
	for (int32_t res = -64; res <= 64; res++) {
		char what[32];
		snprintf(what, sizeof(what), "result %d", (int)res);
		mk_end(&w, res, &resp0, (struct raw_str)RS("m"));
		if (is_allowed(res)) {
			ACCEPTED(K_END, w.b.data, w.b.len, what);
			CHECK_INT(out_end.result, res);
		} else {
			REFUSED(K_END, w.b.data, w.b.len, "result", what);
		}
		st7_buf_free(&w.b);
	}
	static const int32_t odd[] = { INT32_MIN, INT32_MIN + 1, INT32_MAX, 256, -256 };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		mk_end(&w, odd[i], &resp0, (struct raw_str)RS("m"));
		REFUSED(K_END, w.b.data, w.b.len, "result", "result far out");
		st7_buf_free(&w.b);
	}
	/* a bad result is named before anything wrong later in the frame */
	struct raw_resp r = resp0;
	r.status = 42;
	mk_end(&w, ST7_ERR_SIGNATURE, &r, (struct raw_str)RS("m"));
	REFUSED(K_END, w.b.data, w.b.len, "result", "bad result and bad status");
	st7_buf_free(&w.b);

	/* the message: bounded, no NUL; every other byte arrives printable */
	static char nul[] = "a\0b";
	mk_end(&w, ST7_ERR_IO, &resp0, (struct raw_str){ nul, 3 });
	REFUSED(K_END, w.b.data, w.b.len, "message", "message with a NUL");
	st7_buf_free(&w.b);
	mk_end(&w, ST7_ERR_IO, &resp0, plain(ST7_DIAG_MAX - 1));
	ACCEPTED(K_END, w.b.data, w.b.len, "the longest message");
	CHECK(strcmp(out_end.msg, as(ST7_DIAG_MAX - 1)) == 0);
	st7_buf_free(&w.b);
	static const size_t over[] = { ST7_DIAG_MAX, ST7_DIAG_MAX + 1, UINT16_MAX };
	for (size_t i = 0; i < 3; i++) {
		mk_end(&w, ST7_ERR_IO, &resp0, plain(over[i]));
		REFUSED(K_END, w.b.data, w.b.len, "message", "message too long");
		st7_buf_free(&w.b);
	}
	char all[255], want[256];
	for (int i = 0; i < 255; i++) {
		all[i] = (char)(i + 1);
		want[i] = i + 1 >= 0x20 && i + 1 < 0x7F ? (char)(i + 1) : '?';
	}
	want[255] = '\0';
	mk_end(&w, ST7_ERR_IO, &resp0, (struct raw_str){ all, sizeof(all) });
	ACCEPTED(K_END, w.b.data, w.b.len, "every byte but NUL in the message");
	CHECK(strcmp(out_end.msg, want) == 0);
	st7_buf_free(&w.b);
}

static void test_progress_refused(void)
{
	struct pb w;
	pb_init(&w);
	pb_le(&w, "figures", 1, 8);
	pb_le(&w, "figures", 2, 8);
	cuts_and_extras(K_PROGRESS, &w);
	CHECK(out_done == 1 && out_total == 2);
	st7_buf_free(&w.b);
}

/* Decoders must not trust the receiving struct: stale content never leaks through. */
static void test_decoders_clear(void)
{
	struct pb w;
	memset(&out_get, 'x', sizeof(out_get));
	struct raw_get g = { RS("https://h/f"), 0, 0, RS(""), -1, RS(""), -1 };
	mk_get(&w, &g);
	ACCEPTED(K_GET, w.b.data, w.b.len, "over a dirty struct");
	CHECK(out_get.if_range[0] == '\0' && out_get.r.if_range == NULL);
	CHECK(out_get.r.abort_flag == NULL && out_get.r.progress == NULL);
	st7_buf_free(&w.b);
	memset(&out_end, 'x', sizeof(out_end));
	mk_end(&w, ST7_OK, &resp0, (struct raw_str)RS(""));
	ACCEPTED(K_END, w.b.data, w.b.len, "over a dirty struct");
	CHECK(out_end.msg[0] == '\0');
	st7_buf_free(&w.b);
	memset(&out_post, 'x', sizeof(out_post));
	struct raw_post po = { RS("https://h/r"), RS("a/b"), 0, RS("") };
	mk_post(&w, &po);
	ACCEPTED(K_POST, w.b.data, w.b.len, "over a dirty struct");
	CHECK(out_post.r.body == NULL && out_post.r.len == 0 && out_post.r.abort_flag == NULL);
	CHECK(strcmp(out_post.r.url, "https://h/r") == 0 &&
	      strcmp(out_post.r.content_type, "a/b") == 0);
	st7_buf_free(&w.b);
	memset(&out_setup, 'x', sizeof(out_setup));
	struct raw_setup s = { 0, { 0, 0, 0, 0 }, 0, RS(""), RS(""), RS(""), RS("") };
	mk_setup(&w, &s);
	ACCEPTED(K_SETUP, w.b.data, w.b.len, "over a dirty struct");
	CHECK(out_setup.o.ca_file == NULL && out_setup.user[0] == '\0');
	st7_buf_free(&w.b);
}

/* ---- encoders: refuse what does not fit, and never leave half a frame ---- */

struct snap {
	size_t len;
	uint8_t bytes[64];
};

/* The buffer as a caller left it: a PROGRESS frame already queued. */
static void queued(struct st7_buf *b, struct snap *s)
{
	st7_buf_init(b);
	if (st7_wire_put_progress(b, 1, 2) != ST7_OK || b->len > sizeof(s->bytes))
		abort();
	s->len = b->len;
	memcpy(s->bytes, b->data, b->len);
}

static bool unchanged(const struct st7_buf *b, const struct snap *s)
{
	return b->len == s->len && memcmp(b->data, s->bytes, s->len) == 0;
}

#define REFUSES(call, b, s, err)                                                 \
	do {                                                                     \
		int ret_ = (call);                                               \
		CHECK_INT(ret_, err);                                            \
		CHECK(unchanged(b, s));                                          \
		(b)->len = (s)->len; /* on to the next case whatever happened */ \
	} while (0)

static void test_encoders_refuse(void)
{
	struct st7_buf b;
	struct snap s;
	queued(&b, &s);

	const char *longest = as(PATH_MAX - 1), *over = as(PATH_MAX);
	struct st7_fetch_opts o = { longest, longest, longest, true, 1, 2, 3, 4, 5 };
	CHECK_INT(st7_wire_put_setup(&b, &o, as(ST7_WIRE_USER_MAX - 1)), ST7_OK);
	b.len = s.len;
	o.ca_file = over;
	REFUSES(st7_wire_put_setup(&b, &o, "u"), &b, &s, ST7_ERR_INVALID);
	o.ca_file = longest;
	o.client_cert = over;
	REFUSES(st7_wire_put_setup(&b, &o, "u"), &b, &s, ST7_ERR_INVALID);
	o.client_cert = longest;
	o.client_key = as(PATH_MAX + 100);
	REFUSES(st7_wire_put_setup(&b, &o, "u"), &b, &s, ST7_ERR_INVALID);
	o.client_key = longest;
	REFUSES(st7_wire_put_setup(&b, &o, as(ST7_WIRE_USER_MAX)), &b, &s, ST7_ERR_INVALID);

	struct st7_fetch_request r = { .url = as(ST7_URL_MAX - 1),
		                       .if_range = as(ST7_ETAG_MAX - 1),
		                       .if_none_match = as(ST7_ETAG_MAX - 1) };
	CHECK_INT(st7_wire_put_get(&b, &r), ST7_OK);
	b.len = s.len;
	r.url = as(ST7_URL_MAX);
	REFUSES(st7_wire_put_get(&b, &r), &b, &s, ST7_ERR_INVALID);
	r.url = "https://h/f";
	r.if_range = as(ST7_ETAG_MAX);
	REFUSES(st7_wire_put_get(&b, &r), &b, &s, ST7_ERR_INVALID);
	r.if_range = NULL;
	r.if_none_match = as(ST7_ETAG_MAX);
	REFUSES(st7_wire_put_get(&b, &r), &b, &s, ST7_ERR_INVALID);

	static uint8_t bytes[ST7_WIRE_DATA_MAX + 1];
	struct st7_fetch_post po = { as(ST7_URL_MAX - 1), as(ST7_FETCH_CTYPE_MAX - 1), bytes,
		                     ST7_FETCH_POST_MAX, NULL };
	CHECK_INT(st7_wire_put_post(&b, &po), ST7_OK);
	b.len = s.len;
	po.url = as(ST7_URL_MAX);
	REFUSES(st7_wire_put_post(&b, &po), &b, &s, ST7_ERR_INVALID);
	po.url = "https://h/r";
	po.len = ST7_FETCH_POST_MAX + 1;
	REFUSES(st7_wire_put_post(&b, &po), &b, &s, ST7_ERR_INVALID);
	po.len = SIZE_MAX;
	REFUSES(st7_wire_put_post(&b, &po), &b, &s, ST7_ERR_INVALID);
	po.len = 1;
	po.body = NULL;
	REFUSES(st7_wire_put_post(&b, &po), &b, &s, ST7_ERR_INVALID);
	po.body = bytes;
	static const char *const bad_ctype[] = {
		NULL, "", "a\r\nX-Injected: 1", "a\tb", "caf\xc3\xa9", "a\x7f"
	};
	for (size_t i = 0; i < sizeof(bad_ctype) / sizeof(bad_ctype[0]); i++) {
		po.content_type = bad_ctype[i];
		REFUSES(st7_wire_put_post(&b, &po), &b, &s, ST7_ERR_INVALID);
	}
	po.content_type = as(ST7_FETCH_CTYPE_MAX);
	REFUSES(st7_wire_put_post(&b, &po), &b, &s, ST7_ERR_INVALID);
	CHECK(st7_wire_ctype_ok("application/json; charset=utf-8"));
	CHECK(!st7_wire_ctype_ok(NULL) && !st7_wire_ctype_ok(""));

	REFUSES(st7_wire_put_data(&b, bytes, ST7_WIRE_DATA_MAX + 1), &b, &s, ST7_ERR_INVALID);
	REFUSES(st7_wire_put_data(&b, bytes, SIZE_MAX), &b, &s, ST7_ERR_INVALID);

	/* a message too long is cut to the longest one, not refused */
	struct st7_fetch_response resp = { 0, 0, UINT64_MAX, 0, "", -1, -1 };
	const uint8_t *p;
	size_t len;
	struct st7_diag d = { "" };
	static const size_t msg_len[] = { ST7_DIAG_MAX, ST7_DIAG_MAX + 1, 5000 };
	for (size_t i = 0; i < sizeof(msg_len) / sizeof(msg_len[0]); i++) {
		struct st7_buf e;
		st7_buf_init(&e);
		CHECK_INT(st7_wire_put_end(&e, ST7_ERR_NETWORK, &resp, as(msg_len[i])), ST7_OK);
		if (one_frame(&e, ST7_WIRE_END, &p, &len)) {
			CHECK_INT(st7_wire_get_end(p, len, &out_end, &d), ST7_OK);
			CHECK(strcmp(out_end.msg, as(ST7_DIAG_MAX - 1)) == 0);
		}
		st7_buf_free(&e);
	}
	st7_buf_free(&b);
}

/* Out of memory at any byte of a frame: ST7_ERR_NOMEM, and the buffer as it was. */
static void test_encoders_nomem(void)
{
	struct st7_fetch_opts o = { "/ca", "/c", "/k", true, 1, 2, 3, 4, 5 };
	struct st7_fetch_request r = { .url = "https://h/f",
		                       .if_range = "\"a\"",
		                       .if_none_match = "\"b\"" };
	struct st7_fetch_response resp = { 206, 1, 10, 9, "\"e\"", 5, 6 };
	struct st7_fetch_post po = { "https://h/r", "application/json", (const uint8_t *)"{}", 2,
		                     NULL };
	for (int which = 0; which < 7; which++) {
		struct st7_buf b;
		struct snap s;
		queued(&b, &s);
		size_t full = 0, fails = 0, bad = 0;
		for (size_t limit = s.len;; limit++) {
			int ret;
			b.limit = limit;
			switch (which) {
			case 0:
				ret = st7_wire_put_setup(&b, &o, "user");
				break;
			case 1:
				ret = st7_wire_put_get(&b, &r);
				break;
			case 2:
				ret = st7_wire_put_begin(&b, &resp);
				break;
			case 3:
				ret = st7_wire_put_data(&b, (const uint8_t *)"abcdef", 6);
				break;
			case 4:
				ret = st7_wire_put_progress(&b, 7, 8);
				break;
			case 5:
				ret = st7_wire_put_post(&b, &po);
				break;
			default:
				ret = st7_wire_put_end(&b, ST7_ERR_HTTP, &resp, "HTTP 500");
				break;
			}
			if (ret == ST7_OK) {
				full = b.len - s.len;
				break;
			}
			fails++;
			if (ret != ST7_ERR_NOMEM || !unchanged(&b, &s))
				bad++;
			if (limit > s.len + 4096)
				break;
		}
		CHECK_INT(bad, 0);
		/* it failed at every byte short of the whole frame */
		CHECK(full > ST7_WIRE_HEADER);
		CHECK_INT(fails, full);
		st7_buf_free(&b);
	}
}

int main(void)
{
	memset(fill, 'a', sizeof(fill) - 1);
	fill[sizeof(fill) - 1] = '\0';
	test_setup_round_trip();
	test_get_round_trip();
	test_begin_round_trip();
	test_data_round_trip();
	test_progress_round_trip();
	test_end_round_trip();
	test_post_round_trip();
	test_frame_split();
	test_setup_refused();
	test_get_refused();
	test_post_refused();
	test_response_refused();
	test_end_refused();
	test_progress_refused();
	test_decoders_clear();
	test_encoders_refuse();
	test_encoders_nomem();
	return check_report();
}
