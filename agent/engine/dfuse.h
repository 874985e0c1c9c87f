/* SPDX-License-Identifier: MIT */
/*
 * The DfuSe part of the DFU host engine (dfuse.c): ST's extension of DFU 1.1
 * (bcdDFUVersion 0x011A; ST UM0424 for the file format, ST AN3156 for the protocol).
 * Memory is addressed, not streamed: DNLOAD block 0 carries a command (set address
 * pointer, erase, read unprotect: dfu_proto.h), data blocks start at wBlockNum 2 and land
 * at the address pointer, and a zero-length DNLOAD "leaves" to the application. The
 * alternate settings' interface strings describe the memory (dfuse_layout.h).
 *
 * Included by dfu_engine.h: callers include that one.
 */
#ifndef ST7_DFUSE_H
#define ST7_DFUSE_H

#include "dfu_engine.h"

/*
 * DfuSe (ST UM0424): for each target of `f` whose alternate setting the device has,
 * erase every page its elements touch (from the alt's memory layout), set the address
 * pointer and write the data in blocks from wBlockNum 2, then "leave" (set address +
 * zero-length DNLOAD). Refuses elements outside writable memory before erasing anything.
 * A failed attempt starts over (erase included), up to o.retries attempts.
 */
int st7_engine_dfuse_download(struct st7_engine *e, const struct st7_dfu_file *f,
                              struct st7_diag *d);

/*
 * DfuSe: read `len` bytes at `addr` from alternate setting `alt` (set the address
 * pointer, then UPLOAD from wBlockNum 2; UM0424). Appends to `out`.
 */
int st7_engine_dfuse_upload(struct st7_engine *e, uint8_t alt, uint32_t addr, size_t len,
                            struct st7_buf *out, struct st7_diag *d);

/* DfuSe: the alternate setting number and memory layout of the i-th alternate setting
 * of the DFU interface; ST7_ERR_RANGE past the last. */
int st7_engine_dfuse_alt(struct st7_engine *e, size_t i, uint8_t *alt, struct st7_dfuse_layout *l,
                         struct st7_diag *d);

/* DfuSe: the pages that `f`'s elements of target `t` touch (start and size), each
 * once, from the device's layout for the target's alt. At most `cap`. */
int st7_engine_dfuse_pages(struct st7_engine *e, const struct st7_dfu_file *f, unsigned t,
                           uint32_t *start, uint32_t *size, size_t cap, size_t *n,
                           struct st7_diag *d);

/* ---- Engine internals: what dfu_engine.c lends dfuse.c. Not for other callers. ------ */

/* One class request OUT to the DFU interface (no data stage when len is 0). */
int st7_engine_ctl_out(struct st7_engine *e, uint8_t req, uint16_t value, const uint8_t *data,
                       uint16_t len);
/* The abort flag is raised: stop at the next safe point. */
bool st7_engine_aborted(const struct st7_engine *e);
/* Progress to the caller's callback, if any. */
void st7_engine_report(struct st7_engine *e, const char *phase, size_t done, size_t total);
/* Sleep on the engine's clock (0: not at all), counted from now or from `since_us` (a
 * reading of st7_engine_now_us: when a status reply arrived). */
void st7_engine_sleep(const struct st7_engine *e, uint32_t ms);
uint64_t st7_engine_now_us(const struct st7_engine *e);
void st7_engine_sleep_from(const struct st7_engine *e, uint64_t since_us, uint32_t ms);

/* One attempt of a whole download, from a device in DFU mode. */
typedef int (*st7_engine_attempt_fn)(struct st7_engine *e, void *ctx, struct st7_diag *d);
/* Up to o.retries attempts of `fn`, each from a device back in DFU mode, with a doubling
 * backoff; refusals (the file does not fit) and aborts end it at once. */
int st7_engine_retry(struct st7_engine *e, st7_engine_attempt_fn fn, void *ctx, const char *what,
                     struct st7_diag *d);

#endif
