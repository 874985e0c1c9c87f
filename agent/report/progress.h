/* SPDX-License-Identifier: MIT */
/*
 * The progress display of long phases (fetch, upload, download, manifest...): a bar with
 * percent, bytes, rate and ETA on a terminal, one line per phase otherwise, JSON events
 * with --json. Plain data in, text out: the caller passes the time and prints what it gets
 * (to stdout for JSON events, else to stderr).
 */
#ifndef ST7_PROGRESS_H
#define ST7_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct st7_progress_view {
	bool tty;          /* stderr is a terminal: draw a bar */
	bool json;         /* JSON events on stdout instead */
	const char *phase; /* the phase shown (borrowed), NULL before the first */
	uint64_t start_ms, last_ms;
	int last_pct;
};

void st7_progress_init(struct st7_progress_view *v, bool tty, bool json);

/* One report of `done` of `total` bytes in `phase` at `now_ms`: what to show now, appended
 * to `out` (nothing when the last output is recent enough). */
void st7_progress_update(struct st7_progress_view *v, uint64_t now_ms, const char *phase,
                         size_t done, size_t total, struct st7_buf *out);

/* The display ends (before a result is printed): the bar's line is finished. */
void st7_progress_end(struct st7_progress_view *v, struct st7_buf *out);

#endif
