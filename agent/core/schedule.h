/* SPDX-License-Identifier: MIT */
/*
 * When the agent may act: maintenance windows in the policy's time zone, and rollout
 * cohorts. Pure: local time comes from a callback (the clock backend converts with the
 * system's time zone database), so tests give any zone, any instant.
 *
 * Windows ("window = Mon-Fri 02:00-05:00, Sat/Sun 00:00-06:00"): a comma-separated
 * list of at most ST7_MAX_WINDOWS entries, each "[DAYS] HH:MM-HH:MM". DAYS is one day
 * ("Sat"), a range ("Mon-Fri"; "Fri-Mon" wraps), or several of those joined by '/'
 * ("Sat/Sun", "Mon-Wed/Fri"); absent means every day. Day names are Mon Tue Wed Thu
 * Fri Sat Sun (any case). A window whose end is not after its start crosses midnight
 * and belongs to the day it starts on ("Fri 22:00-02:00" is Friday 22:00 to Saturday
 * 02:00). Start equal to end is refused. "always" (or an empty list, or only blanks)
 * means any time. Blanks around entries are ignored.
 *
 * DST: a window is a set of local wall-clock minutes, so on the day clocks go forward a
 * window inside the skipped hour does not open at all, and on the day they go back a
 * window covering the repeated hour lasts an hour longer. An instant is in a window
 * when its local wall time (as the callback gives it) is.
 */
#ifndef ST7_SCHEDULE_H
#define ST7_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "err.h"

#define ST7_MAX_WINDOWS 8

struct st7_window {
	uint8_t days;       /* bit d = weekday d (0 Sunday .. 6 Saturday), the start day */
	uint16_t start_min; /* minutes since local midnight, 0..1439 */
	uint16_t end_min;   /* likewise; <= start_min: ends the next day */
};

struct st7_windows {
	struct st7_window w[ST7_MAX_WINDOWS];
	size_t n; /* 0: any time */
};

/* Parse a window list (above) into `out`; ST7_ERR_FORMAT with a message naming the
 * offending entry, `out` unchanged. */
int st7_windows_parse(const char *s, struct st7_windows *out, struct st7_diag *d);
/* The canonical text ("Mon-Fri 02:00-05:00, Sat/Sun 00:00-06:00", "always"): parses back
 * to the same windows. */
void st7_windows_format(const struct st7_windows *w, char *out, size_t cap);

/* Convert `t` (seconds since the epoch) in time zone `tz` (struct st7_local_time is the
 * clock interface's: clock.h); ST7_OK or a negative error. */
typedef int (*st7_local_time_fn)(void *arg, const char *tz, int64_t t, struct st7_local_time *out);

struct st7_window_state {
	bool open;         /* `now` is inside a window (always true with no windows) */
	bool opens;        /* when closed: a window opens within the next 8 days */
	int64_t next_open; /* when closed and `opens`: the first minute >= now that is in one */
	int64_t closes;    /* when open (and some window is set): the first minute it is not */
};

/* Where `now` stands, looking at most 8 days ahead. DST-exact (every zone changes offset
 * on a whole minute) but cheap: it jumps from window edge to window edge in wall time,
 * checks that the zone's offset is the same at both ends of each jump (jumps are at most
 * a day long, so at most one change can hide inside one) and, when it is not, bisects to
 * the minute the offset changed and goes on from there. A few conversions per edge. A
 * window set open for all 8 days reports `closes` = the 8-day horizon. ST7_OK, or the
 * callback's error (with a message naming the zone). */
int st7_window_state(const struct st7_windows *w, const char *tz, int64_t now,
                     st7_local_time_fn local, void *arg, struct st7_window_state *out,
                     struct st7_diag *d);

/*
 * The rollout cohort of a gateway for a release: 0..99, stable forever for the same
 * (gateway id, release name). The gateway is in a release's rollout when cohort <
 * rollout percent, so raising the percentage only adds gateways. The hash is FNV-1a 64
 * over gateway_id, one NUL byte and release_name, then the MurmurHash3 64-bit finaliser
 * (fmix64), modulo 100: written down so that a fleet owner can compute it.
 */
unsigned st7_cohort(const char *gateway_id, const char *release_name);

#endif
