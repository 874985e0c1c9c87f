/* SPDX-License-Identifier: MIT */
/*
 * `st7dfu list` rendered: the DFU devices a scan found (dfu_list.h), as text or as the
 * stable JSON document of README "list --json". No I/O: the caller prints the buffer.
 */
#ifndef ST7_LIST_RENDER_H
#define ST7_LIST_RENDER_H

#include <stddef.h>

#include "buf.h"
#include "dfu_list.h"
#include "json_writer.h"

void st7_dfu_list_text(const struct st7_dfu_device *devs, size_t n, struct st7_buf *out);
void st7_dfu_list_json(const struct st7_dfu_device *devs, size_t n, struct st7_json *j);

#endif
