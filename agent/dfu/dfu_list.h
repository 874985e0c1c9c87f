/* SPDX-License-Identifier: MIT */
/*
 * `st7dfu list`: the DFU-capable devices among those a USB scan found, described from
 * their descriptors (mode, DFU version, attributes, alt settings with DfuSe layouts,
 * ST7 profile). No I/O: the caller scans; report/list_render.h renders the result.
 */
#ifndef ST7_DFU_LIST_H
#define ST7_DFU_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "dfu_desc.h"
#include "dfuse_layout.h"
#include "usb_found.h"

struct st7_dfu_device {
	const struct st7_usb_found *usb; /* borrowed from the scan */
	struct st7_dfu_summary dfu;
	unsigned profiles; /* st7_profile_match() bits */
	bool layout_ok[ST7_DFU_MAX_ALTS];
	struct st7_dfuse_layout layout[ST7_DFU_MAX_ALTS];
	const char *alt_name[ST7_DFU_MAX_ALTS]; /* borrowed; "" when unread */
	char problem[ST7_DIAG_MAX];             /* "" when the device is usable as described */
};

/* True when a scanned device has a DFU interface (so its strings are worth reading). */
bool st7_dfu_list_wants(const struct st7_usb_found *f);

/* Describe the DFU devices of a scan into a new array (caller frees with free()).
 * Devices whose descriptors could not be read at all are included too, with mode
 * NONE ("unknown") and their problem, since they may be DFU devices gone bad. */
int st7_dfu_list_build(const struct st7_usb_found *found, size_t n, struct st7_dfu_device **out,
                       size_t *n_out);

#endif
