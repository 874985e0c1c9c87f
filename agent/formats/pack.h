/* SPDX-License-Identifier: MIT */
/*
 * `st7dfu pack`: build a DFU or DfuSe file from .bin/.hex/.s19 inputs. No I/O: the
 * caller reads inputs and writes the result atomically.
 *
 * Rules:
 *  - Each input is parsed into its own memory image first, so a bad input or one
 *    outside the profile's writable region is named; inputs are then merged and any
 *    overlap between them is an error naming both.
 *  - Plain DFU with a profile: the payload is the whole writable region, gaps 0xFF.
 *    Without a profile: the payload spans the lowest to the highest address, gaps 0xFF.
 *  - DfuSe: one target (alt, optional name), one element per contiguous run.
 *  - With a profile, the version word (last two bytes of the region, big-endian) must
 *    equal bcdDevice; stamp_version writes it there instead.
 */
#ifndef ST7_PACK_H
#define ST7_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfu_file.h"
#include "memimg.h"
#include "st7_profile.h"

enum st7_input_format { ST7_INPUT_AUTO, ST7_INPUT_BIN, ST7_INPUT_IHEX, ST7_INPUT_SREC };

struct st7_pack_opts {
	struct st7_dfu_ids ids;
	bool dfuse;
	const struct st7_profile *profile; /* NULL: none */
	bool stamp_version;
	uint8_t alt;             /* DfuSe target alt setting */
	const char *target_name; /* DfuSe target name, or NULL */
};

/* The format named by a file name's extension (.bin, .hex/.ihx/.ihex, .s19/.s28/.s37/
 * .srec/.mot), else ST7_INPUT_AUTO. */
enum st7_input_format st7_input_format_from_name(const char *path);

/*
 * Parse one input and merge it into `image`. `fmt` AUTO sniffs the content (':' for
 * Intel HEX, 'S0'..'S9' for S-records). A binary needs `has_addr` (or a profile,
 * whose region base it then defaults to); HEX and S-records carry their addresses and
 * refuse `has_addr`. Errors name the input's role in the diag; the caller prefixes
 * the file name.
 */
int st7_pack_add_input(struct st7_memimg *image, const struct st7_pack_opts *o,
                       enum st7_input_format fmt, const uint8_t *data, size_t len, bool has_addr,
                       uint32_t addr, struct st7_diag *d);

/* Build the output file into `out` (which should be empty). May stamp `image`. */
int st7_pack_build(struct st7_memimg *image, const struct st7_pack_opts *o, struct st7_buf *out,
                   struct st7_diag *d);

#endif
