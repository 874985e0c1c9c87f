/* SPDX-License-Identifier: MIT */
/*
 * DFU / DfuSe file reader and writer: good files, round trips, and one case per
 * malformed-input class, each checking the error code and that the message names
 * the offset or field.
 */
#include <stdlib.h>

#include "check.h"
#include "crc32.h"
#include "dfu_file.h"

static const struct st7_dfu_ids ids = { 0x0483, 0xDF11, 0x0102, 0 };

/* Recompute a file's suffix CRC after a test edits it, so that the check under test
 * is the one that fires. */
static void fix_crc(struct st7_buf *b)
{
	st7_put_le32(b->data + b->len - 4, st7_dfu_crc(b->data, b->len - 4));
}

static void make_plain(struct st7_buf *b, size_t n)
{
	uint8_t *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	st7_buf_init(b);
	CHECK_INT(st7_dfu_build_plain(p, n, &ids, b, NULL), ST7_OK);
	free(p);
}

/* Two targets (alt 0 with two runs, alt 1 with one run at the same addresses). */
static void make_dfuse(struct st7_buf *b)
{
	static uint8_t data[300];
	struct st7_memimg m0, m1;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 0x5A);
	st7_memimg_init(&m0);
	st7_memimg_init(&m1);
	CHECK_INT(st7_memimg_add(&m0, 0x08000000, data, 100, NULL), ST7_OK);
	CHECK_INT(st7_memimg_add(&m0, 0x08004000, data + 100, 50, NULL), ST7_OK);
	CHECK_INT(st7_memimg_add(&m1, 0x08000000, data, 64, NULL), ST7_OK);
	struct st7_dfuse_target_spec t[2] = { { 0, "Internal Flash", &m0 }, { 1, NULL, &m1 } };
	st7_buf_init(b);
	CHECK_INT(st7_dfu_build_dfuse(t, 2, &ids, b, NULL), ST7_OK);
	st7_memimg_free(&m0);
	st7_memimg_free(&m1);
}

/* Offsets in make_dfuse()'s layout. */
enum {
	T0 = ST7_DFUSE_PREFIX_LEN,             /* target 0 prefix */
	E0 = T0 + ST7_DFUSE_TARGET_PREFIX_LEN, /* element 0 header */
	E1 = E0 + 8 + 100,
	T1 = E1 + 8 + 50,
	E2 = T1 + ST7_DFUSE_TARGET_PREFIX_LEN,
	DFUSE_PAYLOAD = E2 + 8 + 64
};

static int parse(const struct st7_buf *b, struct st7_diag *d)
{
	struct st7_dfu_file f;
	st7_dfu_file_init(&f);
	st7_diag_clear(d);
	int ret = st7_dfu_file_parse(&f, b->data, b->len, 0, d);
	st7_dfu_file_free(&f);
	return ret;
}

static void test_plain_good(void)
{
	struct st7_buf b;
	struct st7_dfu_file f;
	make_plain(&b, 1000);
	st7_dfu_file_init(&f);
	CHECK_INT(st7_dfu_file_parse(&f, b.data, b.len, 0, NULL), ST7_OK);
	CHECK_INT(f.kind, ST7_DFU_KIND_PLAIN);
	CHECK_INT(f.payload_len, 1000);
	CHECK_INT(f.suffix.id_vendor, 0x0483);
	CHECK_INT(f.suffix.id_product, 0xDF11);
	CHECK_INT(f.suffix.bcd_device, 0x0102);
	CHECK_INT(f.suffix.bcd_dfu, 0x0100);
	CHECK_INT(f.suffix.length, 16);
	CHECK_INT(f.suffix.crc_stored, f.suffix.crc_computed);
	/* Byte-exact layout of the suffix (DFU 1.1 appendix B). */
	const uint8_t *s = b.data + b.len - 16;
	static const uint8_t want[12] = { 0x02, 0x01, 0x11, 0xDF, 0x83, 0x04,
		                          0x00, 0x01, 'U',  'F',  'D',  16 };
	CHECK(memcmp(s, want, 12) == 0);
	struct st7_memimg m;
	st7_memimg_init(&m);
	CHECK_INT(st7_dfu_file_to_memimg(&f, 0x8000, -1, &m, NULL), ST7_OK);
	CHECK_INT(m.nsegs, 1);
	CHECK_INT(m.segs[0].addr, 0x8000);
	CHECK(memcmp(m.segs[0].data, b.data, 1000) == 0);
	st7_memimg_free(&m);
	st7_dfu_file_free(&f);

	/* A longer suffix (bLength > 16) is allowed: the payload ends before it. */
	struct st7_buf x;
	st7_buf_init(&x);
	st7_buf_append(&x, b.data, 1000 - 4); /* payload minus 4 bytes of "extension" */
	st7_buf_append(&x, b.data + 996, 4);
	st7_buf_append(&x, b.data + 1000, 16);
	x.data[x.len - 5] = 20;
	fix_crc(&x);
	st7_dfu_file_init(&f);
	CHECK_INT(st7_dfu_file_parse(&f, x.data, x.len, 0, NULL), ST7_OK);
	CHECK_INT(f.payload_len, 996);
	st7_dfu_file_free(&f);
	st7_buf_free(&x);
	st7_buf_free(&b);
}

static void test_plain_bad(void)
{
	struct st7_buf b;
	struct st7_diag d;

	/* Missing suffix: the signature bytes are not "UFD". */
	make_plain(&b, 100);
	b.data[b.len - 8] = 'X';
	CHECK_INT(parse(&b, &d), ST7_ERR_NO_SUFFIX);
	CHECK_HAS(d.msg, "offset 108");
	CHECK_HAS(d.msg, "\"UFD\"");
	/* ... accepted as raw only when asked. */
	struct st7_dfu_file f;
	st7_dfu_file_init(&f);
	CHECK_INT(st7_dfu_file_parse(&f, b.data, b.len, ST7_DFU_ALLOW_RAW, NULL), ST7_OK);
	CHECK_INT(f.kind, ST7_DFU_KIND_RAW);
	CHECK_INT(f.payload_len, 116);
	st7_dfu_file_free(&f);
	st7_buf_free(&b);

	/* Shorter than a suffix. */
	st7_buf_init(&b);
	st7_buf_append(&b, "UFD", 3);
	CHECK_INT(parse(&b, &d), ST7_ERR_NO_SUFFIX);
	CHECK_HAS(d.msg, "3 bytes");
	st7_buf_free(&b);

	/* Bad CRC: one flipped payload byte. The stored and computed values are kept. */
	make_plain(&b, 100);
	b.data[10] ^= 0x01;
	CHECK_INT(parse(&b, &d), ST7_ERR_CRC);
	CHECK_HAS(d.msg, "dwCRC at offset 112");
	CHECK_HAS(d.msg, "computed 0x");
	st7_dfu_file_init(&f);
	CHECK_INT(st7_dfu_file_parse(&f, b.data, b.len, 0, NULL), ST7_ERR_CRC);
	CHECK(f.has_suffix);
	CHECK(f.suffix.crc_stored != f.suffix.crc_computed);
	CHECK_INT(f.suffix.id_vendor, 0x0483);
	st7_dfu_file_free(&f);
	st7_buf_free(&b);

	/* bLength below 16, and beyond the file. */
	make_plain(&b, 100);
	b.data[b.len - 5] = 15;
	fix_crc(&b);
	CHECK_INT(parse(&b, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "bLength at offset 111 is 15");
	b.data[b.len - 5] = 200;
	fix_crc(&b);
	CHECK_INT(parse(&b, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "larger than the 116-byte file");
	st7_buf_free(&b);

	/* Unknown bcdDFU. */
	make_plain(&b, 100);
	st7_put_le16(b.data + b.len - 10, 0x0200);
	fix_crc(&b);
	CHECK_INT(parse(&b, &d), ST7_ERR_UNSUPPORTED);
	CHECK_HAS(d.msg, "bcdDFU at offset 106 is 0x0200");
	st7_buf_free(&b);

	/* A suffix and nothing else: no payload. */
	make_plain(&b, 1);
	memmove(b.data, b.data + 1, 16);
	b.len = 16;
	fix_crc(&b);
	CHECK_INT(parse(&b, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "no firmware payload");
	st7_buf_free(&b);

	/* A DfuSe prefix under a DFU 1.0 suffix: a mislabelled file. */
	struct st7_buf ds;
	make_dfuse(&ds);
	st7_put_le16(ds.data + ds.len - 10, 0x0100);
	fix_crc(&ds);
	CHECK_INT(parse(&ds, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "DfuSe prefix but suffix bcdDFU is 0x0100");
	st7_buf_free(&ds);
}

static void test_dfuse_good(void)
{
	struct st7_buf b;
	struct st7_dfu_file f;
	make_dfuse(&b);
	CHECK_INT(b.len, DFUSE_PAYLOAD + 16);
	st7_dfu_file_init(&f);
	CHECK_INT(st7_dfu_file_parse(&f, b.data, b.len, 0, NULL), ST7_OK);
	CHECK_INT(f.kind, ST7_DFU_KIND_DFUSE);
	CHECK_INT(f.suffix.bcd_dfu, 0x011A);
	CHECK_INT(f.dfuse_version, 1);
	CHECK_INT(f.dfuse_image_size, DFUSE_PAYLOAD);
	CHECK_INT(f.n_targets, 2);
	CHECK_INT(f.targets[0].alt, 0);
	CHECK(f.targets[0].named);
	CHECK(strcmp(f.targets[0].name, "Internal Flash") == 0);
	CHECK_INT(f.targets[0].n_elements, 2);
	CHECK_INT(f.targets[0].size, 8 + 100 + 8 + 50);
	CHECK_INT(f.targets[1].alt, 1);
	CHECK(!f.targets[1].named);
	CHECK_INT(f.n_elements, 3);
	CHECK_INT(f.elements[0].address, 0x08000000);
	CHECK_INT(f.elements[0].size, 100);
	CHECK_INT(f.elements[0].offset, E0 + 8);
	CHECK_INT(f.elements[1].address, 0x08004000);
	CHECK_INT(f.elements[1].size, 50);
	CHECK_INT(f.elements[2].address, 0x08000000);

	/* Round trip: the alt 0 elements give back the image they were built from. */
	struct st7_memimg m;
	st7_memimg_init(&m);
	CHECK_INT(st7_dfu_file_to_memimg(&f, 0, 0, &m, NULL), ST7_OK);
	CHECK_INT(m.nsegs, 2);
	CHECK_INT(m.total, 150);
	CHECK_INT(m.segs[0].data[5], 5 ^ 0x5A);
	st7_memimg_free(&m);
	/* All alts at once overlap (alt 1 reuses alt 0's addresses). */
	st7_memimg_init(&m);
	CHECK_INT(st7_dfu_file_to_memimg(&f, 0, -1, &m, NULL), ST7_ERR_OVERLAP);
	st7_memimg_free(&m);
	st7_dfu_file_free(&f);
	st7_buf_free(&b);
}

/* Each case edits a fresh good DfuSe file, fixes the CRC and expects an error. */
struct dfuse_case {
	const char *what;
	size_t off;   /* where to write */
	int width;    /* 1, 4, or 0 to truncate/extend instead */
	uint32_t val; /* value, or new payload length delta for width 0 */
	int err;
	const char *msg;
};

static void test_dfuse_bad(void)
{
	static const struct dfuse_case cases[] = {
		{ "prefix signature", 0, 1, 'd', ST7_ERR_FORMAT, "szSignature is not \"DfuSe\"" },
		{ "prefix version", 5, 1, 2, ST7_ERR_UNSUPPORTED, "bVersion is 2" },
		{ "image size too small", 6, 4, DFUSE_PAYLOAD - 1, ST7_ERR_FORMAT,
		  "DFUImageSize is" },
		{ "image size huge", 6, 4, 0xFFFFFFFF, ST7_ERR_FORMAT,
		  "DFUImageSize is 4294967295" },
		{ "no targets", 10, 1, 0, ST7_ERR_FORMAT, "bTargets is 0" },
		{ "absurd target count", 10, 1, 255, ST7_ERR_FORMAT, "bTargets is 255" },
		{ "target signature", T1, 1, 't', ST7_ERR_FORMAT, "target 1 at offset 451" },
		{ "target size beyond image", T0 + 266, 4, 0x7FFFFFFF, ST7_ERR_FORMAT,
		  "dwTargetSize is 2147483647" },
		{ "target size short of elements", T0 + 266, 4, 8 + 100 + 8 + 49, ST7_ERR_FORMAT,
		  "dwElementSize is 50" },
		{ "target size beyond elements", T0 + 266, 4, 8 + 100 + 8 + 50 + 4, ST7_ERR_FORMAT,
		  "target 0" },
		{ "absurd element count", T0 + 270, 4, 0xFFFFFFFF, ST7_ERR_FORMAT,
		  "dwNbElements is 4294967295" },
		{ "too few elements", T0 + 270, 4, 1, ST7_ERR_FORMAT, "its 1 elements use 108" },
		{ "element size beyond target", E0 + 4, 4, 0xFFFFFFF0, ST7_ERR_FORMAT,
		  "dwElementSize is 4294967280" },
		{ "element address overflow", E1, 4, 0xFFFFFFF0, ST7_ERR_RANGE,
		  "past the 32-bit address space" },
		{ "elements overlap in a target", E1, 4, 0x08000010, ST7_ERR_OVERLAP,
		  "overlaps element at offset 285" },
		{ "targets of one alt overlap", T1 + 6, 1, 0, ST7_ERR_OVERLAP, "alt 0" },
		{ "truncated", 0, 0, (uint32_t)-10, ST7_ERR_FORMAT, "DFUImageSize" },
		{ "trailing bytes", 0, 0, 7, ST7_ERR_FORMAT, "DFUImageSize" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dfuse_case *c = &cases[i];
		struct st7_buf b;
		struct st7_diag d;
		make_dfuse(&b);
		if (c->width == 1) {
			b.data[c->off] = (uint8_t)c->val;
		} else if (c->width == 4) {
			st7_put_le32(b.data + c->off, c->val);
		} else {
			/* Change the payload length, keeping the suffix at the end. */
			uint8_t suffix[16];
			memcpy(suffix, b.data + b.len - 16, 16);
			size_t payload = (size_t)((long)DFUSE_PAYLOAD + (int32_t)c->val);
			b.len = payload;
			st7_buf_fill(&b, 0xEE, 0);
			if (payload > DFUSE_PAYLOAD) {
				b.len = DFUSE_PAYLOAD;
				st7_buf_fill(&b, 0xEE, payload - DFUSE_PAYLOAD);
			}
			st7_buf_append(&b, suffix, 16);
		}
		fix_crc(&b);
		int ret = parse(&b, &d);
		if (ret != c->err || !strstr(d.msg, c->msg))
			fprintf(stderr, "case '%s': got %d \"%s\"\n", c->what, ret, d.msg);
		CHECK_INT(ret, c->err);
		CHECK_HAS(d.msg, c->msg);
		st7_buf_free(&b);
	}

	/* The "absurd target count" case also proves no 255-target allocation happens
	 * before the size check; a target prefix cut short is named as truncated. */
	struct st7_buf b;
	struct st7_diag d;
	make_dfuse(&b);
	b.data[10] = 3; /* claims a third target that is not there */
	fix_crc(&b);
	CHECK_INT(parse(&b, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "bTargets is 3");
	st7_buf_free(&b);
}

static void test_writer_limits(void)
{
	struct st7_buf b;
	struct st7_memimg m;
	st7_buf_init(&b);
	st7_memimg_init(&m);
	CHECK_INT(st7_dfu_build_plain((const uint8_t *)"", 0, &ids, &b, NULL), ST7_ERR_INVALID);
	CHECK_INT(st7_dfu_build_dfuse(NULL, 0, &ids, &b, NULL), ST7_ERR_INVALID);
	char name[300];
	memset(name, 'n', sizeof(name));
	name[299] = '\0';
	struct st7_dfuse_target_spec t = { 0, name, &m };
	CHECK_INT(st7_dfu_build_dfuse(&t, 1, &ids, &b, NULL), ST7_ERR_INVALID);
	CHECK_INT(b.len, 0); /* nothing half-written */
	/* An empty target is legal and parses back. */
	t.name = NULL;
	CHECK_INT(st7_dfu_build_dfuse(&t, 1, &ids, &b, NULL), ST7_OK);
	struct st7_diag d;
	CHECK_INT(parse(&b, &d), ST7_OK);
	st7_buf_free(&b);
	st7_memimg_free(&m);
}

int main(void)
{
	test_plain_good();
	test_plain_bad();
	test_dfuse_good();
	test_dfuse_bad();
	test_writer_limits();
	return check_report();
}
