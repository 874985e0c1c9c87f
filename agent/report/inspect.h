/* SPDX-License-Identifier: MIT */
/*
 * `st7dfu info`: decode one DFU file into a report and render it as text or JSON.
 * No I/O: the caller reads the file and writes the rendered output.
 *
 * ST7 check: a plain image is an ST7 image when a profile is given, or when its
 * payload is exactly a profile's writable region and its suffix idVendor is ST's
 * (0x0483) or the wildcard 0xFFFF. Its version word (the region's last two bytes,
 * big-endian BCD) must then equal the suffix's bcdDevice. With an explicit profile a
 * mismatch, a wrong payload size or data outside the region makes the file invalid;
 * with an inferred one it is reported but does not.
 */
#ifndef ST7_INSPECT_H
#define ST7_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfu_file.h"
#include "json_writer.h"
#include "st7_profile.h"

struct st7_inspect_report {
	int status; /* ST7_OK when the file is valid */
	struct st7_diag diag;
	struct st7_dfu_file file; /* borrows the caller's buffer */
	const struct st7_profile *profile;
	bool profile_inferred;
	bool version_present; /* the version word is inside the image data */
	uint16_t version_word;
	bool version_matches;
	uint32_t region_bad_addr; /* with status ST7_ERR_RANGE from the profile check */
};

void st7_inspect_init(struct st7_inspect_report *r);
void st7_inspect_free(struct st7_inspect_report *r);

/* Fills `r`; returns r->status. `profile` may be NULL (infer). */
int st7_inspect(struct st7_inspect_report *r, const uint8_t *buf, size_t len,
                const struct st7_profile *profile);

int st7_inspect_text(const struct st7_inspect_report *r, const char *path, struct st7_buf *out);

/* One JSON object for this file (the caller wraps them in {"files":[...]}). */
void st7_inspect_json(const struct st7_inspect_report *r, const char *path, struct st7_json *j);

#endif
