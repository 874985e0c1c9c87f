/* SPDX-License-Identifier: MIT */
/*
 * DfuSe memory layout strings (ST UM0424 "STM32 USB-FS-Device development kit",
 * section on the DFU interface string), as a DfuSe device names each alternate setting:
 *
 *     @Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg
 *
 * '@', a name up to '/', then one or more blocks "/0xADDRESS/SECTORS" where SECTORS is
 * a comma-separated list of COUNT*SIZE followed by a unit (' ' or 'B' bytes, 'K' KiB,
 * 'M' MiB) and a type letter 'a'..'g' = 1..7: bit 0 readable, bit 1 erasable, bit 2
 * writable. Sectors of one block follow each other in memory.
 *
 * Contract: `s` need not be NUL-terminated; at most ST7_DFUSE_MAX_SEGMENTS segments;
 * segments that would run past 4 GiB, zero counts or sizes, and any syntax error are
 * refused with the byte offset in the diag.
 */
#ifndef ST7_DFUSE_LAYOUT_H
#define ST7_DFUSE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ST7_DFUSE_MAX_SEGMENTS 32
#define ST7_DFUSE_LAYOUT_NAME 64

#define ST7_DFUSE_READABLE 0x1
#define ST7_DFUSE_ERASABLE 0x2
#define ST7_DFUSE_WRITABLE 0x4

struct st7_dfuse_segment {
	uint32_t start;     /* address of the first sector */
	uint32_t pages;     /* sector count */
	uint32_t page_size; /* bytes per sector */
	uint8_t attrs;      /* ST7_DFUSE_READABLE | ERASABLE | WRITABLE */
};

struct st7_dfuse_layout {
	char name[ST7_DFUSE_LAYOUT_NAME]; /* trailing blanks removed; truncated if longer */
	unsigned n;
	struct st7_dfuse_segment seg[ST7_DFUSE_MAX_SEGMENTS];
};

int st7_dfuse_layout_parse(const char *s, size_t len, struct st7_dfuse_layout *out,
                           struct st7_diag *d);

/* The segment holding `addr` (and the start of its sector), or NULL. */
const struct st7_dfuse_segment *st7_dfuse_layout_find(const struct st7_dfuse_layout *l,
                                                      uint32_t addr, uint32_t *sector_start);

#endif
