/* SPDX-License-Identifier: MIT */
/* S-record reader and writer: good files, one case per malformed class, round trips. */
#include "srec.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "image_spec.h"

static int parse_str(const char *s, unsigned flags, struct st7_memimg *m, struct st7_start_addr *st,
                     struct st7_srec_info *info, struct st7_diag *d)
{
	return st7_srec_parse(s, strlen(s), flags, m, st, info, d);
}

#define LENIENT ST7_SREC_LENIENT_END

/* Good files of each flavour and line-end style. */
static const struct good_case {
	const char *name;
	const char *text;
	unsigned flags;
	const char *want; /* "ADDR:HEX ..." */
	bool start;
	uint32_t start_addr;
	const char *header;
	unsigned addr_bytes;
	unsigned long records;
} good_cases[] = {
	{ "S1/S5/S9 with header, LF",
	  "S00600004844521B\nS1071000DEADBEEFB0\nS5030001FB\nS9031000EC\n", 0, "1000:DEADBEEF",
	  true, 0x1000, "HDR", 2, 1 },
	{ "CRLF", "S00600004844521B\r\nS1071000DEADBEEFB0\r\nS9031000EC\r\n", 0, "1000:DEADBEEF",
	  true, 0x1000, "HDR", 2, 1 },
	{ "CR", "S1071000DEADBEEFB0\rS9030000FC\r", 0, "1000:DEADBEEF", true, 0, "", 2, 1 },
	{ "lower case, blanks, no final newline", "\n\nS1071000deadbeefb0  \n \t\nS9031000EC\t", 0,
	  "1000:DEADBEEF", true, 0x1000, "", 2, 1 },
	{ "S2/S8", "S2080123450102030484\nS80401234592\n", 0, "12345:01020304", true, 0x12345, "",
	  3, 1 },
	{ "S3/S6/S7", "S30912345678AABBCCDDD4\nS604000001FA\nS70512345678E6\n", 0,
	  "12345678:AABBCCDD", true, 0x12345678, "", 4, 1 },
	{ "mixed S1 then S3, S9 ends", "S1050000AA0050\nS30710000000BB111C\nS9030000FC\n", 0,
	  "0:AA00 10000000:BB11", true, 0, "", 4, 2 },
	{ "several S5 records", "S104000011EA\nS5030001FB\nS104000122D8\nS5030002FA\nS9030000FC\n",
	  0, "0:1122", true, 0, "", 2, 2 },
	{ "zero-length data record counts", "S1031234B6\nS5030001FB\nS9030000FC\n", 0, "", true, 0,
	  "", 2, 1 },
	{ "lenient: no termination", "S1071000DEADBEEFB0\n", LENIENT, "1000:DEADBEEF", false, 0, "",
	  2, 1 },
	{ "lenient: empty input", "", LENIENT, "", false, 0, "", 0, 0 },
	{ "lenient with termination", "S9030000FC\n", LENIENT, "", true, 0, "", 0, 0 },
	{ "S1 data runs linearly past 0xFFFF", "S107FFFE01020304F1\nS9030000FC\n", 0,
	  "FFFE:01020304", true, 0, "", 2, 1 },
	{ "S3 data ending at 4 GiB", "S309FFFFFFFC01020304F3\nS70500000000FA\n", 0,
	  "FFFFFFFC:01020304", true, 0, "", 4, 1 },
	{ "non-printable header bytes", "S00700000A41FF00AE\nS9030000FC\n", 0, "", true, 0, ".A..",
	  0, 0 },
	{ "header over 64 bytes is truncated, not refused",
	  "S049000030313233343536373839303132333435363738393031323334353637383930313233343536373839"
	  "3031323334353637383930313233343536373839303132333435363738395B\nS9030000FC\n",
	  0, "", true, 0, "0123456789012345678901234567890123456789012345678901234567890123", 0,
	  0 },
};

static void test_good(void)
{
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		const struct good_case *c = &good_cases[i];
		struct st7_memimg m, want;
		struct st7_start_addr st;
		struct st7_srec_info info;
		struct st7_diag d;
		st7_memimg_init(&m);
		build_spec(&want, c->want);
		int ret = parse_str(c->text, c->flags, &m, &st, &info, &d);
		if (ret != ST7_OK)
			fprintf(stderr, "good case '%s': %s\n", c->name, d.msg);
		CHECK_INT(ret, ST7_OK);
		CHECK(st7_memimg_equal(&m, &want));
		CHECK_INT(st.present, c->start);
		CHECK_INT(st.segment, false);
		CHECK_INT(st.addr, c->start_addr);
		CHECK(strcmp(info.header, c->header) == 0);
		CHECK_INT(info.addr_bytes, c->addr_bytes);
		CHECK_INT(info.records, c->records);
		st7_memimg_free(&m);
		st7_memimg_free(&want);
	}
}

/* One case per malformed class: error code, line, and a word about the field. */
static const struct bad_case {
	const char *name;
	const char *text;
	size_t len; /* 0: strlen */
	int err;
	const char *line;
	const char *what;
} bad_cases[] = {
	{ "bad start char", "S104000011EA\n:9030000FC\n", 0, ST7_ERR_FORMAT, "line 2",
	  "record starts with ':', expected 'S'" },
	{ "lower-case s", "s9030000FC\n", 0, ST7_ERR_FORMAT, "line 1", "'s'" },
	{ "leading blank", "\n S9030000FC\n", 0, ST7_ERR_FORMAT, "line 2", "byte 0x20" },
	{ "S alone", "S104000011EA\n\nS\n", 0, ST7_ERR_FORMAT, "line 3", "expected a type digit" },
	{ "unknown type", "S104000011EA\nSA030000FC\n", 0, ST7_ERR_FORMAT, "line 2",
	  "record type 'A'" },
	{ "S4 reserved", "S104000011EA\nS4030000FC\n", 0, ST7_ERR_FORMAT, "line 2",
	  "S4 is reserved" },
	{ "odd digit count", "S104000011EA\nS9030000F\n", 0, ST7_ERR_FORMAT, "line 2",
	  "odd number of hex digits (7)" },
	{ "non-hex digit", "S10400G011EA\n", 0, ST7_ERR_FORMAT, "line 1", "column 7: 'G'" },
	{ "NUL byte", "S104000\00011EA\n", 13, ST7_ERR_FORMAT, "line 1", "byte 0x00" },
	{ "no byte count", "S104000011EA\nS1\n", 0, ST7_ERR_FORMAT, "line 2", "no byte count" },
	{ "byte count too big", "S104000011EA\nS1050000AAFF\n", 0, ST7_ERR_FORMAT, "line 2",
	  "byte count 0x05 needs 5 bytes after it, found 4" },
	{ "byte count too small", "S1030000AAFF\n", 0, ST7_ERR_FORMAT, "line 1",
	  "byte count 0x03" },
	{ "byte count zero", "S100\n", 0, ST7_ERR_FORMAT, "line 1", "byte count 0x00" },
	{ "count below address width", "S3041234565F\n", 0, ST7_ERR_FORMAT, "line 1",
	  "S3 byte count 0x04, expected at least 0x05" },
	{ "bad checksum", "S104000011EA\nS104000122D8\nS104000233CA\nS9030000FC\n", 0, ST7_ERR_CRC,
	  "line 3", "checksum 0xCA, computed 0xC6" },
	{ "missing termination", "S104000011EA\nS104000122D8\n", 0, ST7_ERR_FORMAT, "line 2",
	  "termination record" },
	{ "empty input", "", 0, ST7_ERR_FORMAT, "line 1", "termination record" },
	{ "data after termination", "S9030000FC\n\nS104000011EA\n", 0, ST7_ERR_FORMAT, "line 3",
	  "after the termination record on line 1" },
	{ "data after termination, lenient", "S9030000FC\nS9030000FC\n", 0, ST7_ERR_FORMAT,
	  "line 2", "after the termination record" },
	{ "S5 count mismatch", "S104000011EA\nS104000122D8\nS5030003F9\nS9030000FC\n", 0,
	  ST7_ERR_FORMAT, "line 3", "S5 record count 3, found 2 data records" },
	{ "S6 count mismatch", "S104000011EA\nS604000000FB\n", 0, ST7_ERR_FORMAT, "line 2",
	  "S6 record count 0, found 1" },
	{ "S5 with data", "S104000011EA\nS504000100FA\n", 0, ST7_ERR_FORMAT, "line 2",
	  "S5 count record carries 1 data bytes" },
	{ "S9 with data", "S104000011EA\nS904000000FB\n", 0, ST7_ERR_FORMAT, "line 2",
	  "S9 termination record carries 1 data bytes" },
	{ "address past 4 GiB", "S104000011EA\nS309FFFFFFFE01020304F1\n", 0, ST7_ERR_RANGE,
	  "line 2", "4 bytes at 0xFFFFFFFE run past 4 GiB" },
	{ "overlap with earlier data", "S1071000DEADBEEFB0\nS10400AA1140\nS1051002AABB83\n", 0,
	  ST7_ERR_OVERLAP, "line 3", "0x00001002" },
	{ "S0 after data", "S104000011EA\nS0030000FC\n", 0, ST7_ERR_FORMAT, "line 2",
	  "S0 header must come first" },
	{ "second S0", "\nS0030000FC\nS0030000FC\n", 0, ST7_ERR_FORMAT, "line 3",
	  "the first record is on line 2" },
	{ "line numbers across CR, CRLF, LF", "S104000011EA\r\n\rS104000122D8\n\rX\n", 0,
	  ST7_ERR_FORMAT, "line 5", "'X'" },
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct st7_memimg m;
		struct st7_start_addr st = { .present = true };
		struct st7_srec_info info = { .records = 99 };
		struct st7_diag d;
		st7_memimg_init(&m);
		unsigned flags = strstr(c->name, "lenient") ? LENIENT : 0;
		int ret = st7_srec_parse(c->text, c->len ? c->len : strlen(c->text), flags, &m, &st,
		                         &info, &d);
		if (ret != c->err)
			fprintf(stderr, "bad case '%s': %d (%s)\n", c->name, ret, d.msg);
		CHECK_INT(ret, c->err);
		CHECK_HAS(d.msg, c->line);
		CHECK_HAS(d.msg, c->what);
		if (c->err != ST7_OK) {
			CHECK(!st.present);
			CHECK_INT(info.records, 0);
		}
		st7_memimg_free(&m);
	}
}

static void test_api(void)
{
	struct st7_memimg m;
	struct st7_start_addr st;
	struct st7_diag d;
	st7_memimg_init(&m);

	/* NULL start, info and diag are fine. */
	CHECK_INT(parse_str("S104000055A6\nS9030000FC\n", 0, &m, NULL, NULL, NULL), ST7_OK);
	/* `out` may already hold data: a clash with it is an overlap on that line. */
	CHECK_INT(parse_str("\nS104002011CA\nS10400006695\nS9030000FC\n", 0, &m, &st, NULL, &d),
	          ST7_ERR_OVERLAP);
	CHECK_HAS(d.msg, "line 3");
	/* Records before the failing line stay in the image. */
	uint8_t b = 0;
	st7_memimg_read(&m, 0x20, &b, 1, 0xFF);
	CHECK_INT(b, 0x11);
	st7_memimg_free(&m);

	CHECK_INT(st7_srec_parse(NULL, 1, 0, &m, &st, NULL, &d), ST7_ERR_INVALID);
	CHECK_INT(st7_srec_parse("S9030000FC", 10, 0, NULL, &st, NULL, &d), ST7_ERR_INVALID);
	CHECK_INT(st7_srec_parse("S9030000FC", 10, 0x80, &m, &st, NULL, &d), ST7_ERR_INVALID);
	CHECK_INT(st7_srec_parse(NULL, 0, 0, &m, &st, NULL, &d), ST7_ERR_FORMAT);
	CHECK_INT(st7_srec_parse(NULL, 0, LENIENT, &m, &st, NULL, &d), ST7_OK);

	/* The image size limit surfaces with the line number. */
	st7_memimg_init(&m);
	m.max_total = 4;
	CHECK_INT(parse_str("S1071000DEADBEEFB0\nS104000055A6\n", 0, &m, &st, NULL, &d),
	          ST7_ERR_NOMEM);
	CHECK_HAS(d.msg, "line 2");
	st7_memimg_free(&m);
}

/* Hostile sizes: long lines and many lines fail cleanly and name the line. */
static void test_huge(void)
{
	size_t n = (size_t)4 << 20;
	char *s = malloc(n);
	struct st7_memimg m;
	struct st7_diag d;
	CHECK(s != NULL);
	if (!s)
		return;
	st7_memimg_init(&m);

	memset(s, '0', n);
	s[0] = 'S';
	s[1] = '1';
	CHECK_INT(st7_srec_parse(s, n, 0, &m, NULL, NULL, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "line 1: byte count 0x00");
	CHECK_INT(st7_srec_parse(s, n - 1, 0, &m, NULL, NULL, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "line 1: odd number");

	memset(s, '\r', n);
	CHECK_INT(st7_srec_parse(s, n, 0, &m, NULL, NULL, &d), ST7_ERR_FORMAT);
	char want[64];
	snprintf(want, sizeof(want), "line %zu: input ends", n);
	CHECK_HAS(d.msg, want);
	st7_memimg_free(&m);
	free(s);
}

static void check_golden(const struct piece *p, size_t n, unsigned bpr, const char *header,
                         const struct st7_start_addr *st, const char *want)
{
	struct st7_memimg m;
	struct st7_buf out;
	build(&m, p, n);
	st7_buf_init(&out);
	CHECK_INT(st7_srec_write(&m, bpr, header, st, &out), ST7_OK);
	CHECK_INT(out.len, strlen(want));
	CHECK(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0);
	if (out.len != strlen(want) || memcmp(out.data, want, out.len))
		fprintf(stderr, "got:\n%.*s\nwant:\n%s\n", (int)out.len, (const char *)out.data,
		        want);
	st7_buf_free(&out);
	st7_memimg_free(&m);
}

static void test_writer_golden(void)
{
	struct st7_start_addr at1000 = { .present = true, .addr = 0x1000 };
	struct piece one[] = { { 0x1000, "010203" } };
	check_golden(one, 1, 16, "HDR", &at1000,
	             "S00600004844521B\nS1061000010203E3\nS5030001FB\nS9031000EC\n");
	check_golden(one, 1, 2, NULL, NULL,
	             "S10510000102E7\nS104100203E6\nS5030002FA\nS9030000FC\n");
	check_golden(NULL, 0, 16, NULL, NULL, "S5030000FC\nS9030000FC\n");
	check_golden(NULL, 0, 16, "", NULL, "S0030000FC\nS5030000FC\nS9030000FC\n");

	/* Width: the last data byte and the start address decide. */
	struct piece top16[] = { { 0xFFFF, "AA" } };
	check_golden(top16, 1, 16, NULL, NULL, "S104FFFFAA53\nS5030001FB\nS9030000FC\n");
	struct piece low24[] = { { 0x10000, "AA" } };
	check_golden(low24, 1, 16, NULL, NULL, "S205010000AA4F\nS5030001FB\nS804000000FB\n");
	struct piece top24[] = { { 0xFFFFFE, "AABB" } };
	check_golden(top24, 1, 16, NULL, NULL, "S206FFFFFEAABB98\nS5030001FB\nS804000000FB\n");
	struct piece low32[] = { { 0xFFFFFF, "AABB" } };
	check_golden(low32, 1, 16, NULL, NULL, "S30700FFFFFFAABB96\nS5030001FB\nS70500000000FA\n");
	struct st7_start_addr far = { .present = true, .addr = 0x123456 };
	check_golden(one, 1, 16, NULL, &far, "S207001000010203E2\nS5030001FB\nS8041234565F\n");

	/* Bad arguments leave the buffer untouched. */
	struct st7_memimg m;
	struct st7_buf out;
	st7_memimg_init(&m);
	st7_buf_init(&out);
	CHECK_INT(st7_buf_append(&out, "x", 1), ST7_OK);
	CHECK_INT(st7_srec_write(&m, 0, NULL, NULL, &out), ST7_ERR_INVALID);
	CHECK_INT(st7_srec_write(&m, 251, NULL, NULL, &out), ST7_ERR_INVALID);
	CHECK_INT(st7_srec_write(NULL, 16, NULL, NULL, &out), ST7_ERR_INVALID);
	CHECK_INT(st7_srec_write(&m, 16, NULL, NULL, NULL), ST7_ERR_INVALID);
	CHECK_INT(out.len, 1);
	/* A full buffer fails closed. */
	out.limit = 16;
	CHECK_INT(st7_srec_write(&m, 16, "HEADER", NULL, &out), ST7_ERR_NOMEM);
	CHECK_INT(out.len, 1);
	st7_buf_free(&out);
}

/* The writer fails closed at every point where the output buffer can run out. */
static void test_writer_limits(void)
{
	static const uint8_t bytes[40] = { 1, 2, 3 };
	struct st7_start_addr st = { .present = true, .addr = 0x10000 };
	struct st7_memimg m;
	struct st7_buf out;
	st7_memimg_init(&m);
	CHECK_INT(st7_memimg_add(&m, 0xFFF0, bytes, sizeof(bytes), NULL), ST7_OK);
	st7_buf_init(&out);
	CHECK_INT(st7_srec_write(&m, 16, "HDR", &st, &out), ST7_OK);
	size_t full = out.len;
	st7_buf_free(&out);
	for (size_t lim = 1; lim <= full + 1; lim++) {
		st7_buf_init(&out);
		out.limit = lim;
		CHECK_INT(st7_buf_append(&out, "x", 1), ST7_OK);
		CHECK_INT(st7_srec_write(&m, 16, "HDR", &st, &out),
		          lim > full ? ST7_OK : ST7_ERR_NOMEM);
		CHECK_INT(out.len, lim > full ? full + 1 : 1);
		st7_buf_free(&out);
	}
	st7_memimg_free(&m);
}

static void test_round_trip(void)
{
	static const struct {
		uint32_t addr;
		size_t len;
	} layouts[][4] = {
		{ { 0, 0 } },
		{ { 0, 1 } },
		{ { 0xFFF0, 0x20 } },
		{ { 0xFFFFFFF0, 0x10 } },
		{ { 0xFFFFFFFF, 1 } },
		{ { 0x0000FFFF, 1 }, { 0x00010001, 3 }, { 0xFFFEFFF0, 0x20 } },
		{ { 0x8000, 3072 }, { 0xA000, 64 }, { 0xEFFE, 2 }, { 0x12345678, 100 } },
		{ { 0x1FF00, 0x10200 } },
	};
	static const unsigned bprs[] = { 1, 7, 16, 32, 250 };
	const struct st7_start_addr starts[] = {
		{ .present = false },
		{ .present = true, .addr = 0xFFFFFFFF },
		{ .present = true, .addr = 0 },
	};
	static const char *const headers[] = { NULL, "", "st72f63-app v1.05" };
	static uint8_t data[0x10200];

	for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]); l++) {
		struct st7_memimg m;
		st7_memimg_init(&m);
		for (size_t k = 0; k < 4 && layouts[l][k].len; k++) {
			fill_pattern(data, layouts[l][k].len, (unsigned)(l * 4 + k));
			CHECK_INT(st7_memimg_add(&m, layouts[l][k].addr, data, layouts[l][k].len,
			                         NULL),
			          ST7_OK);
		}
		for (size_t b = 0; b < sizeof(bprs) / sizeof(bprs[0]); b++) {
			for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
				const char *hdr = headers[(b + s) % 3];
				struct st7_buf out;
				struct st7_memimg back;
				struct st7_start_addr st;
				struct st7_srec_info info;
				struct st7_diag d;
				st7_buf_init(&out);
				st7_memimg_init(&back);
				CHECK_INT(st7_srec_write(&m, bprs[b], hdr, &starts[s], &out),
				          ST7_OK);
				int ret = st7_srec_parse((const char *)out.data, out.len, 0, &back,
				                         &st, &info, &d);
				if (ret)
					fprintf(stderr, "round trip %zu/%zu/%zu: %s\n", l, b, s,
					        d.msg);
				CHECK_INT(ret, ST7_OK);
				CHECK(st7_memimg_equal(&m, &back));
				CHECK_INT(st.present, true);
				CHECK_INT(st.addr, starts[s].addr);
				CHECK(strcmp(info.header, hdr ? hdr : "") == 0);
				st7_memimg_free(&back);
				st7_buf_free(&out);
			}
		}
		st7_memimg_free(&m);
	}
}

/* More than 0xFFFF records: the count goes into an S6 record. */
static void test_s6(void)
{
	static uint8_t data[70000];
	struct st7_memimg m, back;
	struct st7_buf out;
	struct st7_srec_info info;
	struct st7_diag d;
	st7_memimg_init(&m);
	st7_memimg_init(&back);
	st7_buf_init(&out);
	fill_pattern(data, sizeof(data), 7);
	CHECK_INT(st7_memimg_add(&m, 0x20000, data, sizeof(data), NULL), ST7_OK);
	CHECK_INT(st7_srec_write(&m, 1, NULL, NULL, &out), ST7_OK);
	const char *tail = "S60401117079\nS804000000FB\n";
	CHECK(out.len > strlen(tail) &&
	      memcmp(out.data + out.len - strlen(tail), tail, strlen(tail)) == 0);
	CHECK_INT(st7_srec_parse((const char *)out.data, out.len, 0, &back, NULL, &info, &d),
	          ST7_OK);
	CHECK_INT(info.records, 70000);
	CHECK_INT(info.addr_bytes, 3);
	CHECK(st7_memimg_equal(&m, &back));
	st7_memimg_free(&m);
	st7_memimg_free(&back);
	st7_buf_free(&out);
}

/* The shipped example: ST72F63 application, data in 0xC000..0xEFFF, version 1.05. */
static void test_data_file(void)
{
	const char *dir = getenv("ST7_TESTS");
	char path[4096];
	size_t len = 0;
	if (!dir) {
		printf("ST7_TESTS not set: skipping tests/data\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/data/st72f63-app.s19", dir);
	char *s = slurp(path, &len);
	CHECK(s != NULL);
	if (!s)
		return;
	struct st7_memimg m;
	struct st7_diag d;
	struct st7_start_addr st;
	struct st7_srec_info info;
	st7_memimg_init(&m);
	CHECK_INT(st7_srec_parse(s, len, 0, &m, &st, &info, &d), ST7_OK);
	CHECK(st7_memimg_within(&m, 0xC000, 0xF000, NULL));
	CHECK_INT(info.addr_bytes, 2);
	uint8_t v[2];
	st7_memimg_read(&m, 0xEFFE, v, 2, 0xFF);
	CHECK_INT(v[0], 0x01);
	CHECK_INT(v[1], 0x05);
	st7_memimg_free(&m);
	free(s);
}

int main(void)
{
	test_good();
	test_bad();
	test_api();
	test_huge();
	test_writer_golden();
	test_writer_limits();
	test_round_trip();
	test_s6();
	test_data_file();
	return check_report();
}
