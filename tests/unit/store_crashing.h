/* SPDX-License-Identifier: MIT */
/*
 * A store (iface/store.h) for tests that "crashes" a run: it passes every op to another
 * store (the POSIX one) and counts the modifying ones (write_atomic, remove, rename,
 * mkdir_p, touch, append_open, append, append_close, lock). After the Nth modifying op the run
 * is stopped as if the process died there: every later store op fails with ST7_ERR_IO,
 * the emulated transport fails every USB call (emu_transport_fail), and the abort flag
 * is raised. What the files and the device hold at that moment is what a restart finds.
 *
 * `torn`: the Nth op does not complete but dies half-way, where a kill would leave
 * traces: a write_atomic leaves its temporary file (half the data, the name the POSIX
 * store gives its temporaries) and does not rename it; a rename or remove is not done.
 * Other ops die before they start.
 */
#ifndef ST7_STORE_CRASHING_H
#define ST7_STORE_CRASHING_H

#include <signal.h>
#include <stdbool.h>

#include "emu_transport.h"
#include "store.h"

#define STORE_CRASHING_LOG 64

struct store_crashing {
	struct st7_store *inner;           /* borrowed */
	unsigned long crash_at;            /* 0: never */
	bool torn;                         /* the crash op dies half-way */
	struct emu_transport *usb;         /* failed at the crash (may be NULL) */
	volatile sig_atomic_t *abort_flag; /* raised at the crash (may be NULL) */
	unsigned long mods;                /* modifying ops attempted so far */
	unsigned long refused;             /* ops refused after the crash */
	bool crashed;
	char crash_op[320];                /* "write_atomic /path" */
	char ops[STORE_CRASHING_LOG][320]; /* the first modifying ops, for messages */
};

/* `s` becomes the crashing store over `c` (c->inner and the rest set by the caller).
 * st7_store_free(s) releases nothing of the inner store. */
void store_crashing_init(struct st7_store *s, struct store_crashing *c);

/* Stop the run now (another stop point, say a USB transfer, killed the process). */
void store_crashing_stop(struct store_crashing *c);

/* Did the stopped run complete an op `op` ("remove") on a path containing `path_part`?
 * The op that crashed torn does not count. */
bool store_crashing_done(const struct store_crashing *c, const char *op, const char *path_part);

#endif
