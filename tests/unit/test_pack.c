/* SPDX-License-Identifier: MIT */
/*
 * pack: inputs → memory image → DFU/DfuSe file → memory image, region and version
 * rules, and the ST7 checks `info` applies to what pack wrote.
 */
#include <stdlib.h>

#include "check.h"
#include "dfu_file.h"
#include "ihex.h"
#include "inspect.h"
#include "pack.h"
#include "srec.h"

static const struct st7_profile *f65;

static int add(struct st7_memimg *m, const struct st7_pack_opts *o, enum st7_input_format fmt,
               const char *text, struct st7_diag *d)
{
	return st7_pack_add_input(m, o, fmt, (const uint8_t *)text, strlen(text), false, 0, d);
}

/* A HEX image for the st72f65: code at 0x8000, a table at 0xA000, version 1.02. */
static void make_app(struct st7_memimg *m)
{
	uint8_t code[300], table[40], ver[2] = { 0x01, 0x02 };
	for (size_t i = 0; i < sizeof(code); i++)
		code[i] = (uint8_t)(i * 31 + 7);
	for (size_t i = 0; i < sizeof(table); i++)
		table[i] = (uint8_t)i;
	st7_memimg_init(m);
	st7_memimg_add(m, 0x8000, code, sizeof(code), NULL);
	st7_memimg_add(m, 0xA000, table, sizeof(table), NULL);
	st7_memimg_add(m, 0xEFFE, ver, 2, NULL);
}

/* .hex → .dfu (st72f65) → memory image: same bytes at the same addresses, 0xFF between. */
static void test_hex_to_dfu_roundtrip(void)
{
	struct st7_memimg app, in, back;
	struct st7_buf hex, out;
	struct st7_diag d = { "" };
	struct st7_pack_opts o = { .ids = { 0x0483, 0xFF03, 0x0102, 0 }, .profile = f65 };

	make_app(&app);
	st7_buf_init(&hex);
	CHECK_INT(st7_ihex_write(&app, 16, NULL, &hex), ST7_OK);
	st7_buf_append_byte(&hex, 0);
	st7_memimg_init(&in);
	CHECK_INT(add(&in, &o, ST7_INPUT_AUTO, (const char *)hex.data, &d), ST7_OK);
	st7_buf_init(&out);
	CHECK_INT(st7_pack_build(&in, &o, &out, &d), ST7_OK);
	CHECK_INT(out.len, 0x7000 + 16);

	struct st7_dfu_file f;
	st7_dfu_file_init(&f);
	CHECK_INT(st7_dfu_file_parse(&f, out.data, out.len, 0, &d), ST7_OK);
	st7_memimg_init(&back);
	CHECK_INT(st7_dfu_file_to_memimg(&f, f65->region_base, -1, &back, &d), ST7_OK);
	/* Every byte of the original is there; everything else is erased flash. */
	uint8_t *flat = malloc(0x7000), *want = malloc(0x7000);
	st7_memimg_read(&back, 0x8000, flat, 0x7000, 0x00);
	st7_memimg_read(&app, 0x8000, want, 0x7000, 0xFF);
	CHECK(memcmp(flat, want, 0x7000) == 0);
	free(flat);
	free(want);

	/* info agrees: st72f65 by size, version word equals bcdDevice. */
	struct st7_inspect_report r;
	st7_inspect_init(&r);
	CHECK_INT(st7_inspect(&r, out.data, out.len, NULL), ST7_OK);
	CHECK(r.profile == f65);
	CHECK(r.profile_inferred);
	CHECK(r.version_matches);
	CHECK_INT(r.version_word, 0x0102);
	st7_inspect_free(&r);

	st7_dfu_file_free(&f);
	st7_memimg_free(&back);
	st7_memimg_free(&in);
	st7_memimg_free(&app);
	st7_buf_free(&out);
	st7_buf_free(&hex);
}

/* .s19 → DfuSe → memory image: identical, one element per contiguous run. */
static void test_srec_to_dfuse_roundtrip(void)
{
	struct st7_memimg app, in, back;
	struct st7_buf s19, out;
	struct st7_diag d = { "" };
	struct st7_pack_opts o = { .ids = { 0x0483, 0xDF11, 0x0102, 0 },
		                   .dfuse = true,
		                   .alt = 2,
		                   .target_name = "ST7 Flash" };

	make_app(&app);
	st7_buf_init(&s19);
	CHECK_INT(st7_srec_write(&app, 32, "app", NULL, &s19), ST7_OK);
	st7_buf_append_byte(&s19, 0);
	st7_memimg_init(&in);
	CHECK_INT(add(&in, &o, ST7_INPUT_SREC, (const char *)s19.data, &d), ST7_OK);
	st7_buf_init(&out);
	CHECK_INT(st7_pack_build(&in, &o, &out, &d), ST7_OK);

	struct st7_dfu_file f;
	st7_dfu_file_init(&f);
	CHECK_INT(st7_dfu_file_parse(&f, out.data, out.len, 0, &d), ST7_OK);
	CHECK_INT(f.kind, ST7_DFU_KIND_DFUSE);
	CHECK_INT(f.n_targets, 1);
	CHECK_INT(f.targets[0].alt, 2);
	CHECK(strcmp(f.targets[0].name, "ST7 Flash") == 0);
	CHECK_INT(f.n_elements, 3);
	st7_memimg_init(&back);
	CHECK_INT(st7_dfu_file_to_memimg(&f, 0, 2, &back, &d), ST7_OK);
	CHECK(st7_memimg_equal(&app, &back));
	st7_dfu_file_free(&f);
	st7_memimg_free(&back);
	st7_memimg_free(&in);
	st7_memimg_free(&app);
	st7_buf_free(&out);
	st7_buf_free(&s19);
}

static void test_rules(void)
{
	struct st7_memimg m;
	struct st7_buf out;
	struct st7_diag d = { "" };
	struct st7_pack_opts o = { .ids = { 0x0483, 0xFF03, 0x0103, 0 }, .profile = f65 };
	static const uint8_t bin[4] = { 1, 2, 3, 4 };

	/* Data in sector 0 (the loader) is refused, naming the address. */
	st7_memimg_init(&m);
	CHECK_INT(st7_pack_add_input(&m, &o, ST7_INPUT_BIN, bin, 4, true, 0xF000, &d),
	          ST7_ERR_RANGE);
	CHECK_HAS(d.msg, "0x0000F000");
	CHECK_HAS(d.msg, "writable region 0x8000-0xEFFF");
	/* ... and below the flash base, and straddling the region's end. */
	CHECK_INT(st7_pack_add_input(&m, &o, ST7_INPUT_BIN, bin, 4, true, 0x7FFE, &d),
	          ST7_ERR_RANGE);
	CHECK_INT(st7_pack_add_input(&m, &o, ST7_INPUT_BIN, bin, 4, true, 0xEFFE, &d),
	          ST7_ERR_RANGE);
	CHECK_INT(m.nsegs, 0);

	/* Overlapping inputs. */
	CHECK_INT(st7_pack_add_input(&m, &o, ST7_INPUT_BIN, bin, 4, true, 0x9000, &d), ST7_OK);
	CHECK_INT(st7_pack_add_input(&m, &o, ST7_INPUT_BIN, bin, 4, true, 0x9002, &d),
	          ST7_ERR_OVERLAP);
	CHECK_HAS(d.msg, "overlaps an earlier input");

	/* HEX refuses @ADDR; a binary without an address or profile is refused. */
	CHECK_INT(st7_pack_add_input(&m, &o, ST7_INPUT_IHEX, (const uint8_t *)":00000001FF\n", 12,
	                             true, 0x9000, &d),
	          ST7_ERR_INVALID);
	struct st7_pack_opts noprof = { .ids = o.ids };
	CHECK_INT(st7_pack_add_input(&m, &noprof, ST7_INPUT_BIN, bin, 4, false, 0, &d),
	          ST7_ERR_INVALID);
	CHECK_HAS(d.msg, "@ADDR");
	/* Unknown content. */
	CHECK_INT(add(&m, &o, ST7_INPUT_AUTO, "hello", &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "unknown input format");

	/* The version word must equal --bcd (0x0103) unless stamped. */
	st7_buf_init(&out);
	CHECK_INT(st7_pack_build(&m, &o, &out, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "version word at 0xEFFE is 0xFFFF, but --bcd is 0x0103");
	CHECK_INT(out.len, 0);
	o.stamp_version = true;
	CHECK_INT(st7_pack_build(&m, &o, &out, &d), ST7_OK);
	CHECK_INT(out.data[0xEFFE - 0x8000], 0x01);
	CHECK_INT(out.data[0xEFFF - 0x8000], 0x03);
	CHECK_INT(out.data[0x1000], 1); /* the input at 0x9000 */
	CHECK_INT(out.data[0x1004], 0xFF);
	st7_buf_free(&out);
	st7_memimg_free(&m);

	/* Stamping overwrites a version word already in the data. */
	struct st7_memimg app;
	make_app(&app);
	st7_buf_init(&out);
	CHECK_INT(st7_pack_build(&app, &o, &out, &d), ST7_OK);
	CHECK_INT(out.data[0xEFFF - 0x8000], 0x03);
	st7_buf_free(&out);
	st7_memimg_free(&app);

	/* Without a profile a plain payload spans lowest..highest address. */
	st7_memimg_init(&m);
	CHECK_INT(st7_pack_add_input(&m, &noprof, ST7_INPUT_BIN, bin, 4, true, 0x100, &d), ST7_OK);
	CHECK_INT(st7_pack_add_input(&m, &noprof, ST7_INPUT_BIN, bin, 4, true, 0x110, &d), ST7_OK);
	st7_buf_init(&out);
	CHECK_INT(st7_pack_build(&m, &noprof, &out, &d), ST7_OK);
	CHECK_INT(out.len, 0x14 + 16);
	CHECK_INT(out.data[4], 0xFF);
	CHECK_INT(out.data[0x10], 1);
	st7_buf_free(&out);
	/* ... and refuses a span too large for one plain image. */
	CHECK_INT(st7_pack_add_input(&m, &noprof, ST7_INPUT_BIN, bin, 4, true, 0x08000000, &d),
	          ST7_OK);
	st7_buf_init(&out);
	CHECK_INT(st7_pack_build(&m, &noprof, &out, &d), ST7_ERR_TOO_LARGE);
	CHECK_HAS(d.msg, "use --format dfuse");
	st7_buf_free(&out);
	st7_memimg_free(&m);

	CHECK_INT(st7_input_format_from_name("a/b.HEX"), ST7_INPUT_IHEX);
	CHECK_INT(st7_input_format_from_name("fw.s19"), ST7_INPUT_SREC);
	CHECK_INT(st7_input_format_from_name("fw.bin"), ST7_INPUT_BIN);
	CHECK_INT(st7_input_format_from_name("dir.x/fw"), ST7_INPUT_AUTO);
}

int main(void)
{
	f65 = st7_profile_find("st72f65");
	CHECK(f65 != NULL);
	test_hex_to_dfu_roundtrip();
	test_srec_to_dfuse_roundtrip();
	test_rules();
	return check_report();
}
