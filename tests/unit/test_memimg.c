/* SPDX-License-Identifier: MIT */
#include "check.h"
#include "memimg.h"

static const uint8_t bytes[64] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
	                           14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26 };

int main(void)
{
	struct st7_memimg m;
	struct st7_diag d = { "" };
	uint8_t out[16];

	st7_memimg_init(&m);
	/* Ascending appends merge into one segment. */
	CHECK_INT(st7_memimg_add(&m, 0x100, bytes, 4, &d), ST7_OK);
	CHECK_INT(st7_memimg_add(&m, 0x104, bytes + 4, 4, &d), ST7_OK);
	CHECK_INT(m.nsegs, 1);
	/* A gap makes a second segment; filling the gap joins all three. */
	CHECK_INT(st7_memimg_add(&m, 0x10C, bytes + 12, 4, &d), ST7_OK);
	CHECK_INT(m.nsegs, 2);
	CHECK_INT(st7_memimg_add(&m, 0x108, bytes + 8, 4, &d), ST7_OK);
	CHECK_INT(m.nsegs, 1);
	CHECK_INT(m.total, 16);
	st7_memimg_read(&m, 0x100, out, 16, 0xFF);
	CHECK(memcmp(out, bytes, 16) == 0);
	/* Prepending joins the next segment. */
	CHECK_INT(st7_memimg_add(&m, 0xF0, bytes, 16, &d), ST7_OK);
	CHECK_INT(m.nsegs, 1);
	CHECK_INT(m.segs[0].addr, 0xF0);

	/* Overlaps at the start, end, inside and around an existing run fail and leave the
	 * image unchanged. */
	size_t before = m.total;
	CHECK_INT(st7_memimg_add(&m, 0xEE, bytes, 4, &d), ST7_ERR_OVERLAP);
	CHECK_HAS(d.msg, "0x000000F0");
	CHECK_INT(st7_memimg_add(&m, 0x10F, bytes, 4, &d), ST7_ERR_OVERLAP);
	CHECK_INT(st7_memimg_add(&m, 0x100, bytes, 1, &d), ST7_ERR_OVERLAP);
	CHECK_INT(st7_memimg_add(&m, 0xE0, bytes, 64, &d), ST7_ERR_OVERLAP);
	CHECK_INT(m.total, before);
	CHECK_INT(m.nsegs, 1);

	/* Reads fill holes. */
	st7_memimg_read(&m, 0xE8, out, 16, 0xAA);
	CHECK_INT(out[0], 0xAA);
	CHECK_INT(out[7], 0xAA);
	CHECK_INT(out[8], 1);

	/* The top of the address space: exactly 2^32 is fine, one more is not. */
	CHECK_INT(st7_memimg_add(&m, 0xFFFFFFFC, bytes, 4, &d), ST7_OK);
	CHECK_INT(st7_memimg_add(&m, 0xFFFFFFF0, bytes, 13, &d), ST7_ERR_OVERLAP);
	CHECK_INT(st7_memimg_add(&m, 0xFFFFFF00, bytes, 0x101, &d), ST7_ERR_RANGE);
	uint32_t lo;
	uint64_t end;
	CHECK(st7_memimg_bounds(&m, &lo, &end));
	CHECK_INT(lo, 0xF0);
	CHECK_INT(end, 0x100000000ull);
	uint32_t bad = 0;
	CHECK(!st7_memimg_within(&m, 0xF0, 0x110, &bad));
	CHECK_INT(bad, 0xFFFFFFFC);
	CHECK(!st7_memimg_within(&m, 0x100, 0x100000000ull, &bad));
	CHECK_INT(bad, 0xF0);

	/* Descending inserts keep order; equality compares layout and bytes. */
	struct st7_memimg a, b;
	st7_memimg_init(&a);
	st7_memimg_init(&b);
	for (int i = 9; i >= 0; i--)
		CHECK_INT(st7_memimg_add(&a, (uint32_t)(i * 0x10), bytes, 8, &d), ST7_OK);
	for (int i = 0; i < 10; i++)
		CHECK_INT(st7_memimg_add(&b, (uint32_t)(i * 0x10), bytes, 8, &d), ST7_OK);
	CHECK_INT(a.nsegs, 10);
	for (size_t i = 1; i < a.nsegs; i++)
		CHECK(a.segs[i - 1].addr < a.segs[i].addr);
	CHECK(st7_memimg_equal(&a, &b));
	b.segs[3].data[0] ^= 1;
	CHECK(!st7_memimg_equal(&a, &b));

	/* The size limit holds. */
	struct st7_memimg small;
	st7_memimg_init(&small);
	small.max_total = 32;
	CHECK_INT(st7_memimg_add(&small, 0, bytes, 32, &d), ST7_OK);
	CHECK_INT(st7_memimg_add(&small, 100, bytes, 1, &d), ST7_ERR_NOMEM);

	/* Descending adjacent input (HEX written backwards) merges into one run in linear
	 * time; the content comes out in address order. */
	struct st7_memimg desc;
	st7_memimg_init(&desc);
	int errs = 0;
	for (uint32_t k = 300000; k-- > 0;) {
		uint8_t v = (uint8_t)(k * 7);
		errs += st7_memimg_add(&desc, 0x1000 + k, &v, 1, NULL) != ST7_OK;
	}
	CHECK_INT(errs, 0);
	CHECK_INT(desc.nsegs, 1);
	CHECK_INT(desc.segs[0].addr, 0x1000);
	CHECK_INT(desc.total, 300000);
	for (uint32_t k = 0; k < 300000; k++)
		errs += desc.segs[0].data[k] != (uint8_t)(k * 7);
	CHECK_INT(errs, 0);
	/* ... and appending after prepending still works. */
	CHECK_INT(st7_memimg_add(&desc, 0x1000 + 300000, bytes, 64, &d), ST7_OK);
	CHECK_INT(desc.segs[0].data[300000 + 63], 0);
	CHECK_INT(desc.segs[0].data[300000 + 1], 2);
	st7_memimg_free(&desc);

	/* Too many separate runs is refused with a message, not allocated without bound. */
	struct st7_memimg sparse;
	st7_memimg_init(&sparse);
	for (uint32_t k = 0; k < ST7_MEMIMG_MAX_SEGMENTS; k++)
		errs += st7_memimg_add(&sparse, (ST7_MEMIMG_MAX_SEGMENTS - k) * 4u, bytes, 1,
		                       NULL) != ST7_OK;
	CHECK_INT(errs, 0);
	CHECK_INT(sparse.nsegs, ST7_MEMIMG_MAX_SEGMENTS);
	CHECK_INT(st7_memimg_add(&sparse, 0x100000, bytes, 1, &d), ST7_ERR_NOMEM);
	CHECK_HAS(d.msg, "separate runs");
	/* Joining an existing run is still possible at the cap. */
	CHECK_INT(st7_memimg_add(&sparse, 5, bytes, 1, &d), ST7_OK);
	st7_memimg_free(&sparse);
	st7_memimg_read(&sparse, 0, NULL, 0, 0); /* zero-length read of an empty image */

	st7_memimg_free(&small);
	st7_memimg_free(&a);
	st7_memimg_free(&b);
	st7_memimg_free(&m);
	st7_memimg_free(&m); /* free after free (= after init) is safe */
	return check_report();
}
