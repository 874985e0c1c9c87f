/* SPDX-License-Identifier: MIT */
/* Intel HEX reader and writer: good files, one case per malformed class, round trips. */
#include "ihex.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "image_spec.h"

static int parse_str(const char *s, struct st7_memimg *m, struct st7_start_addr *st,
                     struct st7_diag *d)
{
	return st7_ihex_parse(s, strlen(s), m, st, d);
}

/* Good files of each flavour and line-end style. */
static const struct good_case {
	const char *name;
	const char *text;
	const char *want; /* "ADDR:HEX ..." */
	bool start, segment;
	uint32_t start_addr;
} good_cases[] = {
	{ "i8hex LF", ":04000000DEADBEEFC4\n:00000001FF\n", "0:DEADBEEF", false, false, 0 },
	{ "i8hex CRLF", ":04000000DEADBEEFC4\r\n:00000001FF\r\n", "0:DEADBEEF", false, false, 0 },
	{ "i8hex CR", ":04000000DEADBEEFC4\r:00000001FF\r", "0:DEADBEEF", false, false, 0 },
	{ "lower case, blanks, no final newline", "\n:04000000deadbeefC4  \n\n \t\n:00000001ff\t",
	  "0:DEADBEEF", false, false, 0 },
	{ "blank lines after EOF", ":0100100042AD\n:00000001FF\n\n  \r\n\r", "10:42", false, false,
	  0 },
	{ "two records merge", ":020000001122CB\n:02000200334485\n:00000001FF\n", "0:11223344",
	  false, false, 0 },
	{ "i16hex", ":020000021000EC\n:0400100001020304E2\n:00000001FF\n", "10010:01020304", false,
	  false, 0 },
	{ "i32hex with start 05",
	  ":020000040800F2\n:0400000001020304F2\n:0400000508000131BD\n:00000001FF\n",
	  "8000000:01020304", true, false, 0x08000131 },
	{ "start 03", ":0400000312345678E5\n:00000001FF\n", "", true, true, 0x12345678 },
	{ "i32hex record crossing 64 KiB continues linearly",
	  ":020000040001F9\n:10FFF800000102030405060708090A0B0C0D0E0F81\n:00000001FF\n",
	  "1FFF8:000102030405060708090A0B0C0D0E0F", false, false, 0 },
	{ "no extended record: crossing 0xFFFF continues linearly",
	  ":08FFFC000102030405060708D9\n:00000001FF\n", "FFFC:0102030405060708", false, false, 0 },
	{ "segment data ending at 1 MiB",
	  ":02000002F0000C\n:10FFF000000102030405060708090A0B0C0D0E0F89\n:00000001FF\n",
	  "FFFF0:000102030405060708090A0B0C0D0E0F", false, false, 0 },
	{ "linear data ending at 4 GiB",
	  ":02000004FFFFFC\n:10FFF000000102030405060708090A0B0C0D0E0F89\n:00000001FF\n",
	  "FFFFFFF0:000102030405060708090A0B0C0D0E0F", false, false, 0 },
	{ "zero-length data record", ":00123400BA\n:00000001FF\n", "", false, false, 0 },
	{ "EOF address ignored", ":0100000055AA\n:00ABCD0187\n", "0:55", false, false, 0 },
	{ "02 then 04: latest wins",
	  ":020000021000EC\n:0100000011EE\n:020000040002F8\n:0100000022DD\n:00000001FF\n",
	  "10000:11 20000:22", false, false, 0 },
	{ "scattered and out of order",
	  ":020000040001F9\n:020010001122BB\n:020000040000FA\n:02001000334477\n:00000001FF\n",
	  "10:3344 10010:1122", false, false, 0 },
};

static void test_good(void)
{
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		const struct good_case *c = &good_cases[i];
		struct st7_memimg m, want;
		struct st7_start_addr st;
		struct st7_diag d;
		st7_memimg_init(&m);
		build_spec(&want, c->want);
		int ret = parse_str(c->text, &m, &st, &d);
		if (ret != ST7_OK)
			fprintf(stderr, "good case '%s': %s\n", c->name, d.msg);
		CHECK_INT(ret, ST7_OK);
		CHECK(st7_memimg_equal(&m, &want));
		CHECK_INT(st.present, c->start);
		if (c->start) {
			CHECK_INT(st.segment, c->segment);
			CHECK_INT(st.addr, c->start_addr);
		}
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
	{ "bad start char", ":0100000055AA\n;00000001FF\n", 0, ST7_ERR_FORMAT, "line 2",
	  "expected ':'" },
	{ "leading blank", "\n :00000001FF\n", 0, ST7_ERR_FORMAT, "line 2", "byte 0x20" },
	{ "odd digit count", ":0100000055AA\n\n:0100000055A\n", 0, ST7_ERR_FORMAT, "line 3",
	  "odd number of hex digits (11)" },
	{ "non-hex digit", ":0100000055AA\n:01000G0055AA\n", 0, ST7_ERR_FORMAT, "line 2",
	  "column 7: 'G'" },
	{ "inner space", ":01000000 55AA\n", 0, ST7_ERR_FORMAT, "line 1", "column 10" },
	{ "NUL byte", ":01000\0000055AA\n", 14, ST7_ERR_FORMAT, "line 1", "byte 0x00" },
	{ "control-Z at end", ":00000001FF\n\x1a", 0, ST7_ERR_FORMAT, "line 2",
	  "after the end-of-file" },
	{ "record too short", ":000001\n", 0, ST7_ERR_FORMAT, "line 1", "at least 5" },
	{ "byte count too big", ":0100000055AA\n:05000000DEADBEEF00\n", 0, ST7_ERR_FORMAT, "line 2",
	  "byte count 0x05 needs 10 record bytes, found 9" },
	{ "byte count too small", ":03000000DEADBEEF00\n", 0, ST7_ERR_FORMAT, "line 1",
	  "byte count 0x03" },
	{ "bad checksum", ":0100000055AA\n:010001006698\n:0100020077A5\n:00000001FF\n", 0,
	  ST7_ERR_CRC, "line 3", "checksum 0xA5, computed 0x86" },
	{ "bad EOF checksum", ":00000001FE\n", 0, ST7_ERR_CRC, "line 1", "computed 0xFF" },
	{ "unknown type", ":0100000055AA\n:00000006FA\n", 0, ST7_ERR_FORMAT, "line 2",
	  "record type 0x06" },
	{ "missing EOF", ":0100000055AA\n:010001006698\n", 0, ST7_ERR_FORMAT, "line 2",
	  "end-of-file" },
	{ "missing EOF, no final newline", ":0100000055AA", 0, ST7_ERR_FORMAT, "line 1",
	  "end-of-file" },
	{ "empty input", "", 0, ST7_ERR_FORMAT, "line 1", "end-of-file" },
	{ "only blank lines", "\n\r\n", 0, ST7_ERR_FORMAT, "line 2", "end-of-file" },
	{ "data after EOF", ":00000001FF\n\n:0100000055AA\n", 0, ST7_ERR_FORMAT, "line 3",
	  "after the end-of-file record on line 1" },
	{ "second EOF", ":00000001FF\n:00000001FF\n", 0, ST7_ERR_FORMAT, "line 2",
	  "after the end-of-file" },
	{ "EOF with data", ":0100000155A9\n", 0, ST7_ERR_FORMAT, "line 1",
	  "end-of-file record byte count 0x01, expected 0x00" },
	{ "04 with 1 byte", ":0100000055AA\n:0100000401FA\n", 0, ST7_ERR_FORMAT, "line 2",
	  "extended linear address record byte count 0x01, expected 0x02" },
	{ "04 with 3 bytes", ":03000004000100F8\n", 0, ST7_ERR_FORMAT, "line 1",
	  "byte count 0x03, expected 0x02" },
	{ "02 with 1 byte", ":0100000210ED\n", 0, ST7_ERR_FORMAT, "line 1",
	  "extended segment address record byte count 0x01" },
	{ "05 with 2 bytes", ":020000050800F1\n", 0, ST7_ERR_FORMAT, "line 1",
	  "start linear address record byte count 0x02, expected 0x04" },
	{ "03 with 5 bytes", ":050000030000000000F8\n", 0, ST7_ERR_FORMAT, "line 1",
	  "start segment address record byte count 0x05" },
	{ "04 non-zero address", ":0100000055AA\n\n:020010040001E9\n", 0, ST7_ERR_FORMAT, "line 3",
	  "address field 0x0010, expected 0x0000" },
	{ "02 non-zero address", ":020001021000EB\n", 0, ST7_ERR_FORMAT, "line 1",
	  "extended segment address record address field 0x0001" },
	{ "05 non-zero address", ":0400FF0500000000F8\n", 0, ST7_ERR_FORMAT, "line 1",
	  "start linear address record address field 0x00FF" },
	{ "03 non-zero address", ":048000030000000079\n", 0, ST7_ERR_FORMAT, "line 1",
	  "address field 0x8000" },
	{ "address past 4 GiB", ":02000004FFFFFC\n:10FFF800000102030405060708090A0B0C0D0E0F81\n", 0,
	  ST7_ERR_RANGE, "line 2", "16 bytes at 0xFFFFFFF8 run past 4 GiB" },
	{ "segment offset wrap refused",
	  ":020000021000EC\n:10FFF800000102030405060708090A0B0C0D0E0F81\n", 0, ST7_ERR_RANGE,
	  "line 2", "wrap past the end of segment 0x1000" },
	{ "segment past 1 MiB", ":02000002FFFFFE\n:01001000559A\n", 0, ST7_ERR_RANGE, "line 2",
	  "1 MiB" },
	{ "overlap with earlier data",
	  ":0400000001020304F2\n:01001000559A\n:0200020066771F\n:00000001FF\n", 0, ST7_ERR_OVERLAP,
	  "line 3", "0x00000002" },
	{ "second start record", ":0400000500000000F7\n\n:0400000300000000F9\n", 0, ST7_ERR_FORMAT,
	  "line 3", "second start address record (first on line 1)" },
	{ "line numbers across CR, CRLF, LF", ":0100000055AA\r\n\r:010001006698\n\rX\n", 0,
	  ST7_ERR_FORMAT, "line 5", "'X'" },
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct st7_memimg m;
		struct st7_start_addr st = { .present = true };
		struct st7_diag d;
		st7_memimg_init(&m);
		int ret = st7_ihex_parse(c->text, c->len ? c->len : strlen(c->text), &m, &st, &d);
		if (ret != c->err)
			fprintf(stderr, "bad case '%s': %d (%s)\n", c->name, ret, d.msg);
		CHECK_INT(ret, c->err);
		if (c->err != ST7_OK) {
			CHECK_HAS(d.msg, c->line);
			CHECK_HAS(d.msg, c->what);
			CHECK(!st.present);
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

	/* NULL start and NULL diag are fine. */
	CHECK_INT(parse_str(":0100000055AA\n:00000001FF\n", &m, NULL, NULL), ST7_OK);
	/* `out` may already hold data: a clash with it is an overlap on that line. */
	CHECK_INT(parse_str("\n:0100200011CE\n:010000006699\n:00000001FF\n", &m, &st, &d),
	          ST7_ERR_OVERLAP);
	CHECK_HAS(d.msg, "line 3");
	CHECK_HAS(d.msg, "overlaps");
	/* Records before the failing line stay in the image. */
	uint8_t b = 0;
	st7_memimg_read(&m, 0x20, &b, 1, 0xFF);
	CHECK_INT(b, 0x11);
	st7_memimg_free(&m);

	CHECK_INT(parse_str(":0100000055AA\n", &m, NULL, NULL), ST7_ERR_FORMAT);
	CHECK_INT(st7_ihex_parse(NULL, 1, &m, &st, &d), ST7_ERR_INVALID);
	CHECK_INT(st7_ihex_parse(":00000001FF", 11, NULL, &st, &d), ST7_ERR_INVALID);
	CHECK_INT(st7_ihex_parse(NULL, 0, &m, &st, &d), ST7_ERR_FORMAT);
	st7_memimg_free(&m);

	/* The image size limit surfaces with the line number. */
	st7_memimg_init(&m);
	m.max_total = 4;
	CHECK_INT(parse_str(":0400000001020304F2\n:01001000559A\n:00000001FF\n", &m, &st, &d),
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
	s[0] = ':';
	CHECK_INT(st7_ihex_parse(s, n, &m, NULL, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "line 1: odd number");
	CHECK_INT(st7_ihex_parse(s, n - 1, &m, NULL, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "line 1: byte count 0x00");

	memset(s, '\n', n);
	CHECK_INT(st7_ihex_parse(s, n, &m, NULL, &d), ST7_ERR_FORMAT);
	char want[64];
	snprintf(want, sizeof(want), "line %zu: input ends", n);
	CHECK_HAS(d.msg, want);

	/* Many small records in descending order (each one a new segment). */
	size_t k = 0;
	for (unsigned a = 5000; a-- > 0 && k + 32 < n;) {
		unsigned off = a * 2;
		unsigned sum = 1 + (off >> 8) + (off & 0xff) + 0x5A;
		k += (size_t)snprintf(s + k, n - k, ":01%04X005A%02X\n", off, (0x100 - sum) & 0xff);
	}
	k += (size_t)snprintf(s + k, n - k, ":00000001FF\n");
	CHECK_INT(st7_ihex_parse(s, k, &m, NULL, &d), ST7_OK);
	CHECK_INT(m.nsegs, 5000);
	st7_memimg_free(&m);
	free(s);
}

static void check_golden(const struct piece *p, size_t n, unsigned bpr,
                         const struct st7_start_addr *st, const char *want)
{
	struct st7_memimg m;
	struct st7_buf out;
	build(&m, p, n);
	st7_buf_init(&out);
	CHECK_INT(st7_ihex_write(&m, bpr, st, &out), ST7_OK);
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
	struct piece one[] = { { 0, "DEADBEEF" } };
	check_golden(one, 1, 16, NULL, ":04000000DEADBEEFC4\n:00000001FF\n");
	check_golden(one, 1, 3, NULL, ":03000000DEADBEB4\n:01000300EF0D\n:00000001FF\n");

	/* Data across a 64 KiB boundary is split there, with a 04 record between. */
	struct piece cross[] = { { 0xFFFE, "01020304" } };
	check_golden(cross, 1, 16, NULL,
	             ":02FFFE000102FE\n:020000040001F9\n:020000000304F7\n:00000001FF\n");

	struct st7_start_addr lin = { .present = true, .addr = 0x08000131 };
	struct st7_start_addr seg = { .present = true, .segment = true, .addr = 0x12345678 };
	struct piece high[] = { { 0x08000000, "AA" } };
	check_golden(high, 1, 16, &lin,
	             ":020000040800F2\n:01000000AA55\n:0400000508000131BD\n:00000001FF\n");
	check_golden(NULL, 0, 16, &seg, ":0400000312345678E5\n:00000001FF\n");
	check_golden(NULL, 0, 16, NULL, ":00000001FF\n");

	/* Bad arguments leave the buffer untouched. */
	struct st7_memimg m;
	struct st7_buf out;
	st7_memimg_init(&m);
	st7_buf_init(&out);
	CHECK_INT(st7_buf_append(&out, "x", 1), ST7_OK);
	CHECK_INT(st7_ihex_write(&m, 0, NULL, &out), ST7_ERR_INVALID);
	CHECK_INT(st7_ihex_write(&m, 256, NULL, &out), ST7_ERR_INVALID);
	CHECK_INT(st7_ihex_write(NULL, 16, NULL, &out), ST7_ERR_INVALID);
	CHECK_INT(st7_ihex_write(&m, 16, NULL, NULL), ST7_ERR_INVALID);
	CHECK_INT(out.len, 1);
	/* A full buffer fails closed. */
	out.limit = 8;
	CHECK_INT(st7_ihex_write(&m, 16, NULL, &out), ST7_ERR_NOMEM);
	CHECK_INT(out.len, 1);
	st7_buf_free(&out);
}

/* Every data record in `text` stays within its 64 KiB page. */
static bool no_record_crosses_64k(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		unsigned count, off, type;
		/* A bounded copy of the record's head: sscanf() on `p` would strlen() the whole
		 * rest of the text for every line (minutes under qemu-user). */
		char head[10] = "";
		memcpy(head, p, (size_t)(end - p) < 9 ? (size_t)(end - p) : 9);
		if (sscanf(head, ":%2x%4x%2x", &count, &off, &type) != 3)
			return false;
		if (type == 0 && off + count > 0x10000)
			return false;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return false;
		p = nl + 1;
	}
	return true;
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
	CHECK_INT(st7_ihex_write(&m, 16, &st, &out), ST7_OK);
	size_t full = out.len;
	st7_buf_free(&out);
	for (size_t lim = 1; lim <= full + 1; lim++) {
		st7_buf_init(&out);
		out.limit = lim;
		CHECK_INT(st7_buf_append(&out, "x", 1), ST7_OK);
		CHECK_INT(st7_ihex_write(&m, 16, &st, &out), lim > full ? ST7_OK : ST7_ERR_NOMEM);
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
	static const unsigned bprs[] = { 1, 7, 16, 32, 255 };
	const struct st7_start_addr starts[] = {
		{ 0 },
		{ .present = true, .addr = 0xFFFFFFFF },
		{ .present = true, .segment = true, .addr = 0x12345678 },
		{ .present = true, .addr = 0 },
	};
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
				struct st7_buf out;
				struct st7_memimg back;
				struct st7_start_addr st;
				struct st7_diag d;
				st7_buf_init(&out);
				st7_memimg_init(&back);
				CHECK_INT(st7_ihex_write(&m, bprs[b], &starts[s], &out), ST7_OK);
				CHECK(no_record_crosses_64k((const char *)out.data, out.len));
				int ret = st7_ihex_parse((const char *)out.data, out.len, &back,
				                         &st, &d);
				if (ret)
					fprintf(stderr, "round trip %zu/%zu/%zu: %s\n", l, b, s,
					        d.msg);
				CHECK_INT(ret, ST7_OK);
				CHECK(st7_memimg_equal(&m, &back));
				CHECK_INT(st.present, starts[s].present);
				CHECK_INT(st.segment, starts[s].segment);
				CHECK_INT(st.addr, starts[s].addr);
				st7_memimg_free(&back);
				st7_buf_free(&out);
			}
		}
		st7_memimg_free(&m);
	}
}

/* The shipped example: ST72F65 application, data in 0x8000..0xEFFF, version 1.02. */
static void test_data_file(void)
{
	const char *dir = getenv("ST7_TESTS");
	char path[4096];
	size_t len = 0;
	if (!dir) {
		printf("ST7_TESTS not set: skipping tests/data\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/data/st72f65-app.hex", dir);
	char *s = slurp(path, &len);
	CHECK(s != NULL);
	if (!s)
		return;
	struct st7_memimg m;
	struct st7_diag d;
	struct st7_start_addr st;
	st7_memimg_init(&m);
	CHECK_INT(st7_ihex_parse(s, len, &m, &st, &d), ST7_OK);
	CHECK(st7_memimg_within(&m, 0x8000, 0xF000, NULL));
	uint8_t v[2];
	st7_memimg_read(&m, 0xEFFE, v, 2, 0xFF);
	CHECK_INT(v[0], 0x01);
	CHECK_INT(v[1], 0x02);
	CHECK(m.total > 3072);
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
	test_data_file();
	return check_report();
}
