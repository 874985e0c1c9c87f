/* SPDX-License-Identifier: MIT */
/* DfuSe memory layout strings: the forms real STM32 devices use, and malformed ones. */
#include "check.h"
#include "dfuse_layout.h"

static int parse(const char *s, struct st7_dfuse_layout *l, struct st7_diag *d)
{
	return st7_dfuse_layout_parse(s, strlen(s), l, d);
}

int main(void)
{
	struct st7_dfuse_layout l;
	struct st7_diag d;

	/* STM32F4 internal flash. */
	CHECK_INT(parse("@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg", &l, &d), ST7_OK);
	CHECK(strcmp(l.name, "Internal Flash") == 0);
	CHECK_INT(l.n, 3);
	CHECK_INT(l.seg[0].start, 0x08000000);
	CHECK_INT(l.seg[0].pages, 4);
	CHECK_INT(l.seg[0].page_size, 16384);
	CHECK_INT(l.seg[0].attrs, 7);
	CHECK_INT(l.seg[1].start, 0x08010000);
	CHECK_INT(l.seg[1].page_size, 65536);
	CHECK_INT(l.seg[2].start, 0x08020000);
	CHECK_INT(l.seg[2].pages, 7);
	/* Option bytes with a space unit, several address blocks, MiB and plain bytes. */
	CHECK_INT(parse("@Option Bytes  /0x1FFFC000/01*016 e", &l, &d), ST7_OK);
	CHECK_INT(l.seg[0].page_size, 16);
	CHECK_INT(l.seg[0].attrs, 5);
	CHECK_INT(parse("@X/0x00000000/2*1Mg/0x20000000/4*512Ba,1*8a", &l, &d), ST7_OK);
	CHECK_INT(l.n, 3);
	CHECK_INT(l.seg[0].page_size, 1 << 20);
	CHECK_INT(l.seg[1].start, 0x20000000);
	CHECK_INT(l.seg[1].page_size, 512);
	CHECK_INT(l.seg[2].start, 0x20000800);
	CHECK_INT(l.seg[2].page_size, 8);
	CHECK_INT(l.seg[2].attrs, ST7_DFUSE_READABLE);
	/* Lookup. */
	CHECK_INT(parse("@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg", &l, &d), ST7_OK);
	uint32_t sect = 0;
	CHECK(st7_dfuse_layout_find(&l, 0x08004010, &sect) == &l.seg[0]);
	CHECK_INT(sect, 0x08004000);
	CHECK(st7_dfuse_layout_find(&l, 0x08040001, &sect) == &l.seg[2]);
	CHECK_INT(sect, 0x08020000 + 0x20000);
	CHECK(st7_dfuse_layout_find(&l, 0x08100000, NULL) == NULL);
	CHECK(st7_dfuse_layout_find(&l, 0x07FFFFFF, NULL) == NULL);
	/* A trailing NUL as some devices send. */
	CHECK_INT(st7_dfuse_layout_parse("@F/0x0/1*1Ka\0", 14, &l, &d), ST7_OK);

	/* Malformed, each with the offset. */
	static const struct {
		const char *s;
		const char *msg;
	} bad[] = {
		{ "Internal/0x0/1*1Ka", "offset 0: expected '@'" },
		{ "@F/0800/1*1Ka", "offset 3: expected a 0x address" },
		{ "@F/0x/1*1Ka", "offset 5: expected address" },
		{ "@F/0x100000000/1*1Ka", "address too large" },
		{ "@F/0x0 1*1Ka", "expected '/' after the address" },
		{ "@F/0x0/1x1Ka", "offset 8: expected '*'" },
		{ "@F/0x0/1*Ka", "expected sector size" },
		{ "@F/0x0/1*1Kh", "sector type must be 'a'..'g'" },
		{ "@F/0x0/1*1K", "offset 11: sector type" },
		{ "@F/0x0/1*1", "offset 10: missing unit and type" },
		{ "@F/0x0/0*1Ka", "must both be non-zero" },
		{ "@F/0xFFFFF000/2*4Ka", "run past 4 GiB" },
		{ "@F/0x0/1*4096Ma", "must both be non-zero and fit 32 bits" },
		{ "@F/0x0/1*1Ka;", "unexpected ';'" },
		{ "@F", "names no memory" },
		{ "", "offset 0: expected '@'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(parse(bad[i].s, &l, &d) != ST7_OK);
		CHECK_HAS(d.msg, bad[i].msg);
	}
	/* Too many sector groups. */
	char many[600] = "@F/0x0/";
	for (int i = 0; i < 40; i++)
		strcat(many, i ? ",1*1a" : "1*1a");
	CHECK_INT(parse(many, &l, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "more than 32 sector groups");
	return check_report();
}
