/* SPDX-License-Identifier: MIT */
/*
 * A sparse memory image: data at 32-bit addresses, kept as sorted, non-overlapping,
 * maximal contiguous segments (adjacent data is merged). Every file format converts
 * to and from this type: plain .dfu payloads, DfuSe elements, Intel HEX, S-records
 * and raw binaries.
 *
 * Ownership: the image owns its segment array and every segment's bytes.
 * Addresses are 32-bit; the end of a segment (addr + len) may be 2^32 exactly.
 */
#ifndef ST7_MEMIMG_H
#define ST7_MEMIMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct st7_memseg {
	uint32_t addr;
	size_t len;
	uint8_t *data; /* the segment's first byte, inside `base` */
	/* Allocation: `head` spare bytes before data and room for `cap` bytes in all, so
	 * that growing at either end is amortised O(1) (descending HEX files prepend). */
	uint8_t *base;
	size_t head;
	size_t cap;
};

/* Real images have a handful of runs; tens of thousands of disjoint runs is hostile
 * input, and capping them bounds the cost of inserting in the middle. */
#define ST7_MEMIMG_MAX_SEGMENTS 8192

struct st7_memimg {
	struct st7_memseg *segs;
	size_t nsegs;
	size_t segcap;
	size_t total;     /* bytes of data, summed over segments */
	size_t max_total; /* refuse growth beyond this (0 = 256 MiB default) */
};

void st7_memimg_init(struct st7_memimg *m);
void st7_memimg_free(struct st7_memimg *m);

/*
 * Add `len` bytes at `addr`. Fails closed, leaving the image unchanged:
 *   ST7_ERR_RANGE   addr + len beyond 2^32;
 *   ST7_ERR_OVERLAP some byte of [addr, addr+len) already has data
 *                   (the diag names the first clashing address);
 *   ST7_ERR_NOMEM   allocation failed, max_total or ST7_MEMIMG_MAX_SEGMENTS exceeded.
 * Adding in ascending or descending order is O(1) amortised; in random order the cost
 * per add is bounded by the segment cap.
 */
int st7_memimg_add(struct st7_memimg *m, uint32_t addr, const uint8_t *data, size_t len,
                   struct st7_diag *d);

/* Lowest address and one past the highest (as 64-bit); false when empty. */
bool st7_memimg_bounds(const struct st7_memimg *m, uint32_t *lo, uint64_t *end);

/* Copy [addr, addr+len) into out, filling addresses without data with `fill`. */
void st7_memimg_read(const struct st7_memimg *m, uint32_t addr, uint8_t *out, size_t len,
                     uint8_t fill);

/* Whether every byte of [addr, addr+len) is inside [lo, end) (end exclusive, 64-bit). */
bool st7_memimg_within(const struct st7_memimg *m, uint64_t lo, uint64_t end, uint32_t *bad_addr);

/* True when both images hold the same bytes at the same addresses. */
bool st7_memimg_equal(const struct st7_memimg *a, const struct st7_memimg *b);

#endif
