/* SPDX-License-Identifier: MIT */
/*
 * The state directory: where the agent keeps what outlives a run. Its layout is
 *   STATE/backups/VID-PID-SERIAL/VERSION.dfu   backups (backups.c)
 *   STATE/cache/                               the download cache (fetch_cache.h)
 * and the journal of the coming daemon. Every part of st7dfu names it through here.
 */
#ifndef ST7_STATE_DIR_H
#define ST7_STATE_DIR_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

#define ST7_DEFAULT_STATE_DIR "/var/lib/st7dfu"
#define ST7_STATE_BACKUPS "backups"
#define ST7_STATE_CACHE "cache"

/* STATE/SUB into out; ST7_ERR_INVALID when it does not fit. */
static inline int st7_state_path(char *out, size_t size, const char *state_dir, const char *sub)
{
	int n = snprintf(out, size, "%s/%s", state_dir, sub);
	return n < 0 || (size_t)n >= size ? ST7_ERR_INVALID : ST7_OK;
}

#endif
