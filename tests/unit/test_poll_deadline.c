/* SPDX-License-Identifier: MIT */
/*
 * Polls to the deadline (issue 11, part 3): after a status reply that asks for a wait
 * (bwPollTimeout, clamped to the engine's floor and cap), the engine's next request goes
 * out exactly that long after the reply arrived. The fake clock models the kernel's
 * default timer slack (every sleep wakes 50 us late unless the engine asked for 1 ns)
 * and the engine's own work (each clock reading costs 3 us), so a sleep without the
 * precise slack, or one counted from after the engine's processing rather than from
 * the reply, shows up as a late request. The slack is back to what it was once the
 * transfer is over, aborted or not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "emu_rig.h"
#include "log.h"

static struct rig_images IM;
static char TMP[256];

/* ---- Every control transfer, timed on the fake clock ------------------------------ */

#define MAX_REC 8192

struct rec {
	uint8_t request;
	int ret;
	uint64_t sent_us, done_us;
	uint64_t slack_ns; /* the clock's timer slack when it went out */
	bool status;       /* a GETSTATUS reply: */
	uint8_t state;
	uint32_t poll_ms;
};

/* The test's wrapper around the emulated transport's control op: only `ops` is swapped,
 * the transport's own impl stays, so every other op is the transport's. */
static struct {
	const struct st7_usb_ops *inner;
	struct st7_usb_ops ops;
	struct fake_clock *clk;
	struct rec rec[MAX_REC];
	size_t n;
	/* Raise *stop on this dfuDNBUSY reply (0: never). */
	unsigned abort_at_busy, busy_seen;
	volatile sig_atomic_t *stop;
} W;

static int timed_control(void *impl, struct st7_usb_handle *h, uint8_t request_type,
                         uint8_t request, uint16_t value, uint16_t index, uint8_t *data,
                         uint16_t len, unsigned timeout_ms, size_t *actual)
{
	struct rec x = { .request = request,
		         .sent_us = fake_clock_us(W.clk),
		         .slack_ns = W.clk->slack_ns };
	size_t got = 0;
	x.ret = W.inner->control(impl, h, request_type, request, value, index, data, len,
	                         timeout_ms, &got);
	x.done_us = fake_clock_us(W.clk);
	if (actual)
		*actual = got;
	if (request_type == ST7_DFU_REQTYPE_IN && request == ST7_DFU_GETSTATUS && x.ret == ST7_OK &&
	    got >= 6) {
		x.status = true;
		x.poll_ms = data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16;
		x.state = data[4];
		if (x.state == ST7_DFU_DNBUSY && ++W.busy_seen == W.abort_at_busy)
			*W.stop = 1;
	}
	if (W.n < MAX_REC)
		W.rec[W.n++] = x;
	return x.ret;
}

static void wrap(struct rig *r, unsigned abort_at_busy)
{
	memset(&W, 0, sizeof(W));
	W.inner = r->usb.ops;
	W.ops = *r->usb.ops;
	W.ops.control = timed_control;
	W.clk = &r->clk;
	W.stop = &r->stop;
	W.abort_at_busy = abort_at_busy;
	r->usb.ops = &W.ops;
}

static void unwrap(struct rig *r)
{
	r->usb.ops = W.inner;
}

/* What the engine must wait after reply `p` (dfu_sm.h: bwPollTimeout clamped to
 * [floor, cap]; after dfuDNLOAD-IDLE only when the device asked), or -1 for a reply
 * that asks for no wait. */
static int64_t wait_after(const struct rec *p, const struct st7_engine_opts *o)
{
	uint32_t w = p->poll_ms < o->poll_floor_ms ? o->poll_floor_ms
	             : p->poll_ms > o->poll_cap_ms ? o->poll_cap_ms
	                                           : p->poll_ms;
	switch (p->state) {
	case ST7_DFU_DNBUSY:
	case ST7_DFU_DNLOAD_SYNC:
	case ST7_DFU_MANIFEST_SYNC:
	case ST7_DFU_MANIFEST:
		return w;
	case ST7_DFU_DNLOAD_IDLE:
		return p->poll_ms ? (int64_t)w : -1;
	default:
		return -1;
	}
}

struct verdict {
	unsigned checked, late, imprecise;
	int64_t first_late_us; /* sent - (reply + wait) of the first late one */
};

/* Every request that follows a reply asking for a wait: sent at reply + wait, exactly,
 * with the precise slack in force. */
static struct verdict judge(const struct st7_engine_opts *o)
{
	struct verdict v = { 0 };
	for (size_t i = 1; i < W.n; i++) {
		const struct rec *p = &W.rec[i - 1], *x = &W.rec[i];
		int64_t w = p->status ? wait_after(p, o) : -1;
		if (w < 0)
			continue;
		v.checked++;
		int64_t off = (int64_t)(x->sent_us - p->done_us) - w * 1000;
		if (off != 0 && v.late++ == 0)
			v.first_late_us = off;
		if (x->slack_ns != 1)
			v.imprecise++;
	}
	return v;
}

/* ---- Cases ----------------------------------------------------------------------------- */

struct poll_case {
	const char *name;
	enum rig_kind kind;
	const char *extra;      /* SPEC keys after RIG_FAST (later keys win) */
	uint32_t poll_cap_ms;   /* 0: the default */
	unsigned abort_at_busy; /* 0: never */
	int ret;
	unsigned min_checked;
};

static const struct poll_case cases[] = {
	/* The reference timings: 40 ms erase, 10 ms per 128-byte block, 50 ms manifest;
	 * each transfer costs bus time, so a reply comes well after its request. */
	{ "st7 full speed", RIG_ST7, "erase-ms=40,prog-ms=5,manifest-ms=50,bus=full", 0, 0, ST7_OK,
	  200 },
	{ "st7 low speed", RIG_ST7, "erase-ms=40,prog-ms=5,manifest-ms=50,bus=low", 0, 0, ST7_OK,
	  200 },
	/* A device that asks for less than it needs: early polls answer dfuDNBUSY with
	 * the time that remains, each again to its own deadline. */
	{ "dfu11 short polls", RIG_DFU11, "erase-ms=40,prog-ms=5,manifest-ms=50,poll-ms=3", 0, 0,
	  ST7_OK, 60 },
	/* One that asks for more than the engine believes: the cap is the wait. */
	{ "dfu11 capped", RIG_DFU11, "erase-ms=40,prog-ms=5,manifest-ms=50,poll-ms=20", 7, 0,
	  ST7_OK, 30 },
	/* DfuSe: erase and write commands, each polled from its own reply (dfuse.c). */
	{ "dfuse", RIG_DFUSE, "erase-ms=40,prog-ms=5,manifest-ms=50", 0, 0, ST7_OK, 10 },
	/* Aborted while busy: the engine keeps polling to the device's deadlines (the
	 * flag cuts a sleep short only when a signal wakes it) and stops at the next
	 * block. */
	{ "st7 aborted while busy", RIG_ST7, "erase-ms=40,prog-ms=5,manifest-ms=50,bus=full", 0, 5,
	  ST7_ERR_ABORTED, 4 },
};

static void run_case(const struct poll_case *c)
{
	const struct rig_image *img = &IM.img[c->kind][1];
	char spec[1024], err[256];
	struct rig r;
	struct st7_diag d = { "" };
	bool needs_reset = false;
	rig_spec(spec, sizeof(spec), &IM, c->kind, 0, c->extra);
	if (rig_open(&r, spec, err, sizeof(err))) {
		fprintf(stderr, "%s: rig: %s\n", c->name, err);
		CHECK(!"rig");
		return;
	}
	r.clk.late_us = 50;     /* Linux's default timer slack */
	r.clk.read_cost_us = 3; /* the engine's own work after a reply */
	if (c->poll_cap_ms)
		r.eo.poll_cap_ms = c->poll_cap_ms;
	CHECK_INT(rig_select(&r, &d), ST7_OK);
	CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
	uint64_t slack_before = r.clk.slack_ns = 20000; /* a process that set its own */
	wrap(&r, c->abort_at_busy);
	int ret = c->kind == RIG_DFUSE ? st7_engine_dfuse_download(&r.e, &img->f, &d)
	                               : st7_engine_download(&r.e, img->bin.data, img->bin.len,
	                                                     &needs_reset, &d);
	unwrap(&r);
	if (ret != c->ret)
		fprintf(stderr, "%s: download: %d (%s)\n", c->name, ret, d.msg);
	CHECK_INT(ret, c->ret);

	struct verdict v = judge(&r.e.o);
	if (v.late || v.imprecise || v.checked < c->min_checked)
		fprintf(stderr,
		        "%s: %u requests after a wait, %u late (the first by %lld us), %u "
		        "without the 1 ns slack\n",
		        c->name, v.checked, v.late, (long long)v.first_late_us, v.imprecise);
	CHECK(v.checked >= c->min_checked);
	CHECK_INT(v.first_late_us, 0);
	CHECK_INT(v.late, 0);
	CHECK_INT(v.imprecise, 0);
	/* The process's own slack is back, and nothing else was left set. */
	CHECK_INT(r.clk.slack_ns, slack_before);
	CHECK(r.clk.slack_sets >= 2 && r.clk.slack_sets % 2 == 0);
	rig_close(&r);
}

/*
 * A signal during a long bwPollTimeout (a device that asks for 10 s): the wait ends when
 * the signal comes, not at the deadline, and the download stops there (ST7_ERR_ABORTED).
 */
static void test_signal_cuts_wait(void)
{
	const struct rig_image *img = &IM.img[RIG_DFU11][1];
	char spec[1024], err[256];
	struct rig r;
	struct st7_diag d = { "" };
	bool needs_reset = false;
	rig_spec(spec, sizeof(spec), &IM, RIG_DFU11, 0,
	         "erase-ms=40,prog-ms=5,manifest-ms=50,poll-ms=10000");
	if (rig_open(&r, spec, err, sizeof(err))) {
		fprintf(stderr, "signal: rig: %s\n", err);
		CHECK(!"rig");
		return;
	}
	CHECK_INT(rig_select(&r, &d), ST7_OK);
	CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
	uint64_t start = fake_clock_us(&r.clk);
	r.clk.signal_at_us = start + 1500000;
	r.clk.signal_flag = &r.stop;
	int ret = st7_engine_download(&r.e, img->bin.data, img->bin.len, &needs_reset, &d);
	uint64_t took_ms = (fake_clock_us(&r.clk) - start) / 1000;
	if (ret != ST7_ERR_ABORTED || took_ms > 2000)
		fprintf(stderr, "signal at 1500 ms: download %d (%s) after %llu ms\n", ret, d.msg,
		        (unsigned long long)took_ms);
	CHECK_INT(ret, ST7_ERR_ABORTED);
	CHECK(took_ms >= 1500 && took_ms <= 2000);
	rig_close(&r);
}

int main(void)
{
	st7_log_open(ST7_LOG_STDERR,
	             getenv("ST7_TEST_VERBOSE") ? ST7_LOG_DEBUG : (enum st7_log_level)0,
	             "test_poll_deadline");
	if (rig_tmpdir(TMP, sizeof(TMP)) || rig_images_make(&IM, TMP)) {
		fprintf(stderr, "cannot make the images in %s\n", TMP);
		return 1;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	test_signal_cuts_wait();
	rig_images_free(&IM);
	rig_rmtree(TMP);
	return check_report();
}
