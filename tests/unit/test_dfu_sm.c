/* SPDX-License-Identifier: MIT */
/* The download state machine, driven by scripted device replies. */
#include "check.h"
#include "dfu_sm.h"

static struct st7_dfu_status_reply st(uint8_t state, uint32_t poll, uint8_t status)
{
	struct st7_dfu_status_reply r = { status, poll, state, 0 };
	return r;
}

/* A well-behaved ST7: each block busy for `busy` ms, manifestation 50 ms, then
 * dfuMANIFEST-WAIT-RESET. Checks the exact sequence of steps and waits. */
static void test_happy_path(void)
{
	struct st7_dfu_dl dl;
	st7_dfu_dl_init(&dl, 300, 128, 1, 10000);
	struct st7_dfu_status_reply r;
	size_t expect_off[] = { 0, 128, 256 };
	size_t expect_len[] = { 128, 128, 44 };
	for (int b = 0; b < 3; b++) {
		struct st7_dfu_step s = st7_dfu_dl_next(&dl);
		CHECK_INT(s.kind, ST7_STEP_DNLOAD);
		CHECK_INT(s.block, b);
		CHECK_INT(s.offset, expect_off[b]);
		CHECK_INT(s.len, expect_len[b]);
		CHECK_INT(s.wait_ms, 0);
		st7_dfu_dl_result(&dl, 0, NULL);
		s = st7_dfu_dl_next(&dl);
		CHECK_INT(s.kind, ST7_STEP_GETSTATUS);
		CHECK_INT(s.wait_ms, 0);
		r = st(ST7_DFU_DNBUSY, b == 0 ? 90 : 10, 0);
		st7_dfu_dl_result(&dl, 0, &r);
		s = st7_dfu_dl_next(&dl);
		CHECK_INT(s.kind, ST7_STEP_GETSTATUS);
		CHECK_INT(s.wait_ms, b == 0 ? 90 : 10); /* exactly what the device asked */
		r = st(ST7_DFU_DNLOAD_IDLE, 0, 0);
		st7_dfu_dl_result(&dl, 0, &r);
	}
	struct st7_dfu_step s = st7_dfu_dl_next(&dl);
	CHECK_INT(s.kind, ST7_STEP_DNLOAD);
	CHECK_INT(s.len, 0); /* the zero-length DNLOAD */
	CHECK_INT(s.block, 3);
	st7_dfu_dl_result(&dl, 0, NULL);
	r = st(ST7_DFU_MANIFEST, 50, 0);
	st7_dfu_dl_result(&dl, 0, &r);
	s = st7_dfu_dl_next(&dl);
	CHECK_INT(s.kind, ST7_STEP_GETSTATUS);
	CHECK_INT(s.wait_ms, 50);
	r = st(ST7_DFU_MANIFEST_WAIT_RESET, 0, 0);
	st7_dfu_dl_result(&dl, 0, &r);
	s = st7_dfu_dl_next(&dl);
	CHECK_INT(s.kind, ST7_STEP_DONE);
	CHECK(dl.needs_reset);
	CHECK(!dl.gone);
	CHECK_INT(dl.mandated_ms, 90 + 10 + 10 + 50);
}

static void test_polls_clamped(void)
{
	struct st7_dfu_dl dl;
	struct st7_dfu_status_reply r;
	st7_dfu_dl_init(&dl, 10, 64, 2, 1000);
	st7_dfu_dl_result(&dl, 0, NULL);
	r = st(ST7_DFU_DNBUSY, 0, 0); /* bogus zero: the floor applies */
	st7_dfu_dl_result(&dl, 0, &r);
	CHECK_INT(st7_dfu_dl_next(&dl).wait_ms, 2);
	r = st(ST7_DFU_DNBUSY, 0xFFFFFF, 0); /* hours: the cap applies */
	st7_dfu_dl_result(&dl, 0, &r);
	CHECK_INT(st7_dfu_dl_next(&dl).wait_ms, 1000);
	/* A device that never stops being busy is given up on. */
	dl.max_polls = 5;
	for (int i = 0; i < 10; i++)
		st7_dfu_dl_result(&dl, 0, &r);
	CHECK_INT(st7_dfu_dl_next(&dl).kind, ST7_STEP_FAIL);
	CHECK_INT(dl.fail_err, ST7_ERR_TIMEOUT);
}

static void test_failures(void)
{
	struct st7_dfu_dl dl;
	struct st7_dfu_status_reply r;

	/* A stalled block. */
	st7_dfu_dl_init(&dl, 256, 128, 1, 100);
	st7_dfu_dl_result(&dl, 0, NULL);
	r = st(ST7_DFU_DNLOAD_IDLE, 0, 0);
	st7_dfu_dl_result(&dl, 0, &r);
	st7_dfu_dl_result(&dl, ST7_ERR_STALL, NULL);
	CHECK_INT(st7_dfu_dl_next(&dl).kind, ST7_STEP_FAIL);
	CHECK_INT(dl.fail_err, ST7_ERR_STALL);
	CHECK_INT(dl.fail_block, 1);

	/* An error status after a block. */
	st7_dfu_dl_init(&dl, 256, 128, 1, 100);
	st7_dfu_dl_result(&dl, 0, NULL);
	r = st(ST7_DFU_ERROR, 0, ST7_DFU_ERR_WRITE);
	st7_dfu_dl_result(&dl, 0, &r);
	CHECK_INT(st7_dfu_dl_next(&dl).kind, ST7_STEP_FAIL);
	CHECK_INT(dl.fail_status, ST7_DFU_ERR_WRITE);
	CHECK_INT(dl.fail_state, ST7_DFU_ERROR);

	/* A GETSTATUS that times out. */
	st7_dfu_dl_init(&dl, 256, 128, 1, 100);
	st7_dfu_dl_result(&dl, 0, NULL);
	st7_dfu_dl_result(&dl, ST7_ERR_TIMEOUT, NULL);
	CHECK_INT(dl.fail_err, ST7_ERR_TIMEOUT);

	/* An impossible state after a block (dfuMANIFEST). */
	st7_dfu_dl_init(&dl, 256, 128, 1, 100);
	st7_dfu_dl_result(&dl, 0, NULL);
	r = st(ST7_DFU_MANIFEST, 0, 0);
	st7_dfu_dl_result(&dl, 0, &r);
	CHECK_INT(dl.fail_err, ST7_ERR_FORMAT);

	/* The device vanishes mid-download: a failure (it must come back for a retry). */
	st7_dfu_dl_init(&dl, 256, 128, 1, 100);
	st7_dfu_dl_result(&dl, ST7_ERR_NO_DEVICE, NULL);
	CHECK_INT(dl.fail_err, ST7_ERR_NO_DEVICE);

	/* ... but vanishing during manifestation is expected (DFU 1.1 section 7.2). */
	st7_dfu_dl_init(&dl, 64, 64, 1, 100);
	st7_dfu_dl_result(&dl, 0, NULL);
	r = st(ST7_DFU_DNLOAD_IDLE, 0, 0);
	st7_dfu_dl_result(&dl, 0, &r);
	CHECK_INT(st7_dfu_dl_next(&dl).len, 0);
	st7_dfu_dl_result(&dl, 0, NULL);
	st7_dfu_dl_result(&dl, ST7_ERR_NO_DEVICE, NULL);
	CHECK_INT(st7_dfu_dl_next(&dl).kind, ST7_STEP_DONE);
	CHECK(dl.gone);

	/* A manifestation-tolerant device returns to dfuIDLE: done, no reset needed. */
	st7_dfu_dl_init(&dl, 64, 64, 1, 100);
	st7_dfu_dl_result(&dl, 0, NULL);
	r = st(ST7_DFU_DNLOAD_IDLE, 0, 0);
	st7_dfu_dl_result(&dl, 0, &r);
	st7_dfu_dl_result(&dl, 0, NULL);
	r = st(ST7_DFU_MANIFEST_SYNC, 5, 0);
	st7_dfu_dl_result(&dl, 0, &r);
	r = st(ST7_DFU_IDLE, 0, 0);
	st7_dfu_dl_result(&dl, 0, &r);
	CHECK_INT(st7_dfu_dl_next(&dl).kind, ST7_STEP_DONE);
	CHECK(!dl.needs_reset);

	/* errNOTDONE at manifestation. */
	st7_dfu_dl_init(&dl, 0, 64, 1, 100);
	CHECK_INT(st7_dfu_dl_next(&dl).len, 0);
	st7_dfu_dl_result(&dl, 0, NULL);
	r = st(ST7_DFU_ERROR, 0, ST7_DFU_ERR_NOTDONE);
	st7_dfu_dl_result(&dl, 0, &r);
	CHECK_INT(st7_dfu_dl_next(&dl).kind, ST7_STEP_FAIL);
	CHECK_INT(dl.fail_status, ST7_DFU_ERR_NOTDONE);
}

static void test_proto(void)
{
	uint8_t raw[6] = { 0x03, 0x10, 0x27, 0x00, 10, 0 };
	struct st7_dfu_status_reply r;
	struct st7_diag d;
	CHECK_INT(st7_dfu_status_parse(raw, 6, &r, &d), ST7_OK);
	CHECK_INT(r.poll_timeout_ms, 10000);
	CHECK(strcmp(st7_dfu_status_name(r.status), "errWRITE") == 0);
	CHECK(strcmp(st7_dfu_state_name(r.state), "dfuERROR") == 0);
	CHECK_INT(st7_dfu_status_parse(raw, 5, &r, &d), ST7_ERR_FORMAT);
	raw[4] = 11;
	CHECK_INT(st7_dfu_status_parse(raw, 6, &r, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "bState 11");
	raw[4] = 2;
	raw[0] = 0x10;
	CHECK_INT(st7_dfu_status_parse(raw, 6, &r, &d), ST7_ERR_FORMAT);
	CHECK(strcmp(st7_dfu_state_name(99), "unknown") == 0);
}

int main(void)
{
	test_happy_path();
	test_polls_clamped();
	test_failures();
	test_proto();
	return check_report();
}
