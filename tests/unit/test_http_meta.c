/* SPDX-License-Identifier: MIT */
/* http_meta: header lines, ETags, Content-Range and the cache's meta records. */
#include <string.h>

#include "check.h"
#include "http_meta.h"

static void test_header_split(void)
{
	static const struct {
		const char *line, *name, *value; /* name NULL: not a header */
	} cases[] = {
		{ "ETag: \"abc\"\r\n", "ETag", "\"abc\"" },
		{ "content-range:bytes 1-2/3\n", "content-range", "bytes 1-2/3" },
		{ "X:   padded \t \r\n", "X", "padded" },
		{ "Empty:\r\n", "Empty", "" },
		{ "HTTP/1.1 200 OK\r\n", NULL, NULL },
		{ "\r\n", NULL, NULL },
		{ " folded: continuation\r\n", NULL, NULL },
		{ "no colon here\r\n", NULL, NULL },
		{ ": no name\r\n", NULL, NULL },
		{ "Bad Name: x\r\n", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *n, *v;
		size_t nl, vl;
		bool ok = st7_http_header_split(cases[i].line, strlen(cases[i].line), &n, &nl, &v,
		                                &vl);
		CHECK(ok == (cases[i].name != NULL));
		if (ok && cases[i].name) {
			CHECK(nl == strlen(cases[i].name) && memcmp(n, cases[i].name, nl) == 0);
			CHECK(vl == strlen(cases[i].value) && memcmp(v, cases[i].value, vl) == 0);
		}
	}
	CHECK(st7_http_header_is("etag", 4, "ETag"));
	CHECK(!st7_http_header_is("etags", 5, "ETag"));
}

static void test_etag(void)
{
	static const struct {
		const char *v;
		bool ok;
	} cases[] = {
		{ "\"abc\"", true },     { "W/\"weak\"", true },
		{ "\"\"", true },        { "abc", false },
		{ "\"abc", false },      { "W/abc", false },
		{ "\"a\"b\"", false },   { "\"a\r\nX: y\"", false },
		{ "\"sp ace\"", false }, { "\"\x80\"", false },
		{ "W/", false },         { "", false },
	};
	char out[ST7_ETAG_MAX], longv[ST7_ETAG_MAX + 8];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = st7_http_etag_parse(cases[i].v, strlen(cases[i].v), out);
		CHECK(ok == cases[i].ok);
		if (ok)
			CHECK(strcmp(out, cases[i].v) == 0);
	}
	memset(longv, 'a', sizeof(longv));
	longv[0] = '"';
	longv[ST7_ETAG_MAX - 2] = '"';
	CHECK(st7_http_etag_parse(longv, ST7_ETAG_MAX - 1, out)); /* the longest allowed */
	longv[ST7_ETAG_MAX - 2] = 'a';
	longv[ST7_ETAG_MAX - 1] = '"';
	CHECK(!st7_http_etag_parse(longv, ST7_ETAG_MAX, out)); /* one more is refused */
}

static void test_content_range(void)
{
	static const struct {
		const char *v;
		int ret;
		unsigned long long first, last, complete;
	} cases[] = {
		{ "bytes 0-9/10", 0, 0, 9, 10 },
		{ "bytes 100-28687/28688", 0, 100, 28687, 28688 },
		{ "bytes 5-5/*", 0, 5, 5, UINT64_MAX },
		{ "BYTES 1-2/3", 0, 1, 2, 3 },
		{ "bytes 18446744073709551614-18446744073709551614/18446744073709551615", 0,
		  18446744073709551614ull, 18446744073709551614ull, 18446744073709551615ull },
		{ "bytes 0-9/99999999999999999999", ST7_ERR_FORMAT, 0, 0, 0 },
		{ "bytes 9-0/10", ST7_ERR_FORMAT, 0, 0, 0 },
		{ "bytes 0-10/10", ST7_ERR_FORMAT, 0, 0, 0 },
		{ "bytes */10", ST7_ERR_FORMAT, 0, 0, 0 },
		{ "bytes 0-9/10 ", ST7_ERR_FORMAT, 0, 0, 0 },
		{ "bytes -1-9/10", ST7_ERR_FORMAT, 0, 0, 0 },
		{ "bytes 0-9", ST7_ERR_FORMAT, 0, 0, 0 },
		{ "items 0-9/10", ST7_ERR_FORMAT, 0, 0, 0 },
		{ "bytes", ST7_ERR_FORMAT, 0, 0, 0 },
		{ "", ST7_ERR_FORMAT, 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t f = 1, l = 1, c = 1;
		struct st7_diag d = { "" };
		int ret = st7_http_content_range_parse(cases[i].v, strlen(cases[i].v), &f, &l, &c,
		                                       &d);
		CHECK_INT(ret, cases[i].ret);
		if (ret == 0) {
			CHECK(f == cases[i].first && l == cases[i].last && c == cases[i].complete);
		} else {
			CHECK_HAS(d.msg, "Content-Range");
		}
	}
}

static void test_meta(void)
{
	static const char good[] =
	        "url=https://u.example/st7/reader-2.37.dfu\n"
	        "etag=\"5f-1a2b\"\n"
	        "last_modified=1764000000\n"
	        "size=28688\n"
	        "future_key=ignored\n"
	        "sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";
	struct st7_cache_meta m, again;
	struct st7_diag d = { "" };
	struct st7_buf b;
	CHECK_INT(st7_cache_meta_parse(&m, (const uint8_t *)good, strlen(good), &d), 0);
	CHECK(strcmp(m.url, "https://u.example/st7/reader-2.37.dfu") == 0);
	CHECK(strcmp(m.etag, "\"5f-1a2b\"") == 0);
	CHECK(m.last_modified == 1764000000 && m.size == 28688);
	st7_buf_init(&b);
	CHECK_INT(st7_cache_meta_format(&m, &b), 0);
	CHECK_INT(st7_cache_meta_parse(&again, b.data, b.len, &d), 0);
	CHECK(strcmp(again.sha256, m.sha256) == 0 && again.size == m.size);
	st7_buf_free(&b);

	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "url=x", "no line end" },
		{ "etag=\"a\"\n", "no url line" },
		{ "url=x\nsize=12a\n", "line 2: invalid size" },
		{ "url=x\nsize=99999999999999999999\n", "line 2: invalid size" },
		{ "url=x\netag=\"a\r\"\n", "line 2: control character" },
		{ "url=x\netag=unquoted\n", "line 2: invalid etag" },
		{ "url=x\nsha256=ABC\n", "line 2: sha256 is not 64" },
		{ "url=x\nlast_modified=-5\n", "line 2: invalid last_modified" },
		{ "url=x\njunk\n", "line 2: expected key=value" },
		{ "=x\n", "line 1: expected key=value" },
		{ "url=\n", "line 1: url length 0" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d.msg[0] = '\0';
		CHECK(st7_cache_meta_parse(&m, (const uint8_t *)bad[i].text, strlen(bad[i].text),
		                           &d) != 0);
		CHECK_HAS(d.msg, bad[i].why);
	}
	char big[ST7_CACHE_META_MAX + 2];
	memset(big, 'a', sizeof(big));
	CHECK_INT(st7_cache_meta_parse(&m, (const uint8_t *)big, sizeof(big), &d),
	          ST7_ERR_TOO_LARGE);
}

int main(void)
{
	test_header_split();
	test_etag();
	test_content_range();
	test_meta();
	return check_report();
}
