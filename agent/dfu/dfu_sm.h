/* SPDX-License-Identifier: MIT */
/*
 * The DFU download state machine, without I/O or sleeping (DFU 1.1 section 7, figure
 * A.1; DFU 1.0 the same for download). The engine asks for the next step, performs it
 * over a transport, and feeds the outcome back; the machine decides what follows and
 * how long to wait first. It never sleeps and never calls out, so every path is tested
 * with scripted replies.
 *
 *   DNLOAD block n ─► GETSTATUS ─┬─ dfuDNBUSY: wait bwPollTimeout, GETSTATUS again
 *                                ├─ dfuDNLOAD-IDLE: wait bwPollTimeout, next block
 *                                └─ dfuERROR / other: fail with bStatus
 *   DNLOAD wLength 0 ─► GETSTATUS ─┬─ dfuMANIFEST-SYNC / dfuMANIFEST: wait, poll again
 *                                  ├─ dfuMANIFEST-WAIT-RESET: done, reset needed
 *                                  ├─ dfuIDLE: done (manifestation tolerant)
 *                                  └─ the device left the bus: done, as expected
 *
 * bwPollTimeout is honoured exactly, clamped to [poll_floor_ms, poll_cap_ms]: a device
 * that says 0 is still given the floor, one that says hours is not believed.
 */
#ifndef ST7_DFU_SM_H
#define ST7_DFU_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfu_proto.h"

enum st7_dfu_step_kind {
	ST7_STEP_DNLOAD,    /* DFU_DNLOAD wValue=block with data[offset, offset+len) */
	ST7_STEP_GETSTATUS, /* DFU_GETSTATUS */
	ST7_STEP_DONE,      /* download and manifestation finished */
	ST7_STEP_FAIL       /* see st7_dfu_dl.fail_* */
};

struct st7_dfu_step {
	enum st7_dfu_step_kind kind;
	uint32_t wait_ms; /* wait this long before performing the step */
	uint16_t block;
	size_t offset, len;
};

enum st7_dfu_dl_phase { DL_SEND, DL_POLL_BLOCK, DL_SEND_ZLP, DL_POLL_MANIFEST, DL_DONE, DL_FAIL };

struct st7_dfu_dl {
	size_t total, xfer, sent;
	uint16_t block;
	uint16_t first_block; /* 0 for DFU; 2 for DfuSe data */
	enum st7_dfu_dl_phase phase;
	uint32_t wait_ms;
	uint32_t poll_floor_ms, poll_cap_ms;
	unsigned polls; /* GETSTATUS replies for the current block or manifestation */
	unsigned max_polls;
	/* Outcome */
	bool needs_reset; /* DONE: the device waits for a USB reset */
	bool gone;        /* DONE: the device left the bus during manifestation */
	int fail_err;     /* FAIL: transport error (ST7_ERR_*) or ST7_ERR_FORMAT */
	int fail_state;   /* FAIL: last bState seen (-1 if none) */
	int fail_status;  /* FAIL: last bStatus seen (-1 if none) */
	uint16_t fail_block;
	uint32_t mandated_ms; /* sum of the waits the device asked for (for reports) */
};

void st7_dfu_dl_init(struct st7_dfu_dl *dl, size_t total, size_t xfer, uint32_t poll_floor_ms,
                     uint32_t poll_cap_ms);

/* The next step to perform. Calling it again without a result returns the same step. */
struct st7_dfu_step st7_dfu_dl_next(const struct st7_dfu_dl *dl);

/*
 * Feed the outcome of the step st7_dfu_dl_next() returned: `err` is the transport
 * result (0, or ST7_ERR_STALL / TIMEOUT / NO_DEVICE / USB); `reply` the decoded
 * GETSTATUS reply when the step was GETSTATUS and err is 0.
 */
void st7_dfu_dl_result(struct st7_dfu_dl *dl, int err, const struct st7_dfu_status_reply *reply);

#endif
