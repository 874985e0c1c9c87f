/* SPDX-License-Identifier: MIT */
#include "dfu_sm.h"

#include <string.h>

/* A device that stays dfuDNBUSY or dfuMANIFEST for this many polls is stuck. */
#define DEFAULT_MAX_POLLS 10000

void st7_dfu_dl_init(struct st7_dfu_dl *dl, size_t total, size_t xfer, uint32_t poll_floor_ms,
                     uint32_t poll_cap_ms)
{
	memset(dl, 0, sizeof(*dl));
	dl->total = total;
	dl->xfer = xfer ? xfer : 1;
	dl->poll_floor_ms = poll_floor_ms;
	dl->poll_cap_ms = poll_cap_ms < poll_floor_ms ? poll_floor_ms : poll_cap_ms;
	dl->max_polls = DEFAULT_MAX_POLLS;
	dl->fail_state = -1;
	dl->fail_status = -1;
	dl->phase = total ? DL_SEND : DL_SEND_ZLP;
}

struct st7_dfu_step st7_dfu_dl_next(const struct st7_dfu_dl *dl)
{
	struct st7_dfu_step s = { ST7_STEP_FAIL, dl->wait_ms, dl->block, dl->sent, 0 };
	switch (dl->phase) {
	case DL_SEND:
		s.kind = ST7_STEP_DNLOAD;
		s.len = dl->total - dl->sent < dl->xfer ? dl->total - dl->sent : dl->xfer;
		break;
	case DL_SEND_ZLP:
		/* DFU 1.1 section 7.1.2: a zero-length DNLOAD ends the transfer. */
		s.kind = ST7_STEP_DNLOAD;
		s.len = 0;
		break;
	case DL_POLL_BLOCK:
	case DL_POLL_MANIFEST:
		s.kind = ST7_STEP_GETSTATUS;
		break;
	case DL_DONE:
		s.kind = ST7_STEP_DONE;
		break;
	case DL_FAIL:
		s.kind = ST7_STEP_FAIL;
		break;
	}
	return s;
}

static void fail(struct st7_dfu_dl *dl, int err)
{
	dl->phase = DL_FAIL;
	dl->fail_err = err;
	dl->fail_block = dl->block;
}

/* The wait the device asked for, clamped to what we believe. */
static uint32_t clamp_poll(const struct st7_dfu_dl *dl, uint32_t poll)
{
	if (poll < dl->poll_floor_ms)
		return dl->poll_floor_ms;
	if (poll > dl->poll_cap_ms)
		return dl->poll_cap_ms;
	return poll;
}

void st7_dfu_dl_result(struct st7_dfu_dl *dl, int err, const struct st7_dfu_status_reply *reply)
{
	dl->wait_ms = 0;
	switch (dl->phase) {
	case DL_SEND:
	case DL_SEND_ZLP:
		if (err) {
			fail(dl, err);
			return;
		}
		dl->polls = 0;
		dl->phase = dl->phase == DL_SEND ? DL_POLL_BLOCK : DL_POLL_MANIFEST;
		return;
	case DL_POLL_BLOCK:
	case DL_POLL_MANIFEST:
		break;
	case DL_DONE:
	case DL_FAIL:
		return;
	}

	if (err) {
		/* DFU 1.1 section 7.2: a device that is not manifestation tolerant may reset
		 * itself, and a DFU 1.0 one may leave the bus: expected, not an error. */
		if (dl->phase == DL_POLL_MANIFEST && err == ST7_ERR_NO_DEVICE) {
			dl->gone = true;
			dl->phase = DL_DONE;
			return;
		}
		fail(dl, err);
		return;
	}
	dl->fail_state = reply->state;
	dl->fail_status = reply->status;
	if (reply->status != ST7_DFU_OK || reply->state == ST7_DFU_ERROR) {
		fail(dl, ST7_ERR_USB);
		return;
	}
	uint32_t wait = clamp_poll(dl, reply->poll_timeout_ms);
	if (++dl->polls > dl->max_polls) {
		fail(dl, ST7_ERR_TIMEOUT);
		return;
	}
	if (dl->phase == DL_POLL_BLOCK) {
		switch (reply->state) {
		case ST7_DFU_DNBUSY:
		case ST7_DFU_DNLOAD_SYNC:
			dl->wait_ms = wait; /* still programming: ask again */
			dl->mandated_ms += reply->poll_timeout_ms;
			return;
		case ST7_DFU_DNLOAD_IDLE: {
			size_t n =
			        dl->total - dl->sent < dl->xfer ? dl->total - dl->sent : dl->xfer;
			dl->sent += n;
			dl->block++;
			/* bwPollTimeout also spaces the next request (section 6.1.2). */
			dl->wait_ms = reply->poll_timeout_ms ? wait : 0;
			dl->mandated_ms += reply->poll_timeout_ms;
			dl->phase = dl->sent < dl->total ? DL_SEND : DL_SEND_ZLP;
			return;
		}
		default:
			fail(dl, ST7_ERR_FORMAT);
			return;
		}
	}
	switch (reply->state) {
	case ST7_DFU_MANIFEST_SYNC:
	case ST7_DFU_MANIFEST:
		dl->wait_ms = wait;
		dl->mandated_ms += reply->poll_timeout_ms;
		return;
	case ST7_DFU_MANIFEST_WAIT_RESET:
		dl->needs_reset = true;
		dl->phase = DL_DONE;
		return;
	case ST7_DFU_IDLE:
		dl->phase = DL_DONE;
		return;
	default:
		fail(dl, ST7_ERR_FORMAT);
		return;
	}
}
