/* SPDX-License-Identifier: MIT */
/*
 * The DFU host engine (dfu_engine.h, dfuse.h) in-process against the emulated devices
 * (tests/emu/emu_model.h) over the test transport and a fake clock: selection, detach,
 * upload, download with its retries, DfuSe, recovery from whatever state a device is
 * left in, and every emulator fault that the engine itself must absorb or report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "emu_rig.h"
#include "log.h"

static struct rig_images IM;
static char TMP[256];

/* A rig on one device of `kind` holding its old (or new) image, plus `extra` SPEC keys;
 * selected. */
static int open_kind(struct rig *r, enum rig_kind k, int which, const char *extra)
{
	char spec[1024], err[256];
	struct st7_diag d = { "" };
	rig_spec(spec, sizeof(spec), &IM, k, which, extra);
	if (rig_open(r, spec, err, sizeof(err))) {
		fprintf(stderr, "rig: %s: %s\n", spec, err);
		return -1;
	}
	return rig_select(r, &d);
}

static uint64_t reqs(struct rig *r, int req)
{
	return emu_transport_counts(r->t)->requests[req];
}

/* ---- Selection and descriptors --------------------------------------------------------- */

static void test_select(void)
{
	struct rig r;
	struct st7_diag d = { "" };
	CHECK_INT(open_kind(&r, RIG_ST7, 0, NULL), 0);
	CHECK_INT(r.e.dfu.mode, ST7_DFU_MODE_RUNTIME);
	CHECK(strcmp(r.e.path, "1-1") == 0);
	CHECK(strcmp(r.e.serial, "FM") == 0);
	CHECK_INT(r.e.dev->dev.bcd_device, RIG_OLDV);
	CHECK_INT(r.e.dfu.func.length, 7);
	CHECK_INT(r.e.dev->speed, ST7_USB_SPEED_FULL); /* the ST72F65 is full speed */
	/* Selecting an ST7 reads its configuration, its language ID and its serial: no
	 * manufacturer, product or interface names (test_descriptor_reads counts more). */
	CHECK_INT(reqs(&r, EMU_REQ_GET_DESCRIPTOR), 3);
	CHECK_INT(reqs(&r, EMU_REQ_DETACH) + reqs(&r, EMU_REQ_DNLOAD), 0);
	rig_close(&r);

	/* Two devices: ambiguous, until a serial or a path chooses. */
	char err[256];
	CHECK_INT(rig_open(&r, "kind=dfu11", err, sizeof(err)), 0);
	CHECK(emu_transport_add(r.t, "kind=dfu11", err, sizeof(err)) != NULL);
	CHECK_INT(rig_select(&r, &d), ST7_ERR_AMBIGUOUS);
	CHECK_HAS(d.msg, "ST7-0002");
	struct st7_selector by_serial = { .serial = "ST7-0002" };
	CHECK_INT(st7_engine_select(&r.e, &by_serial, &d), ST7_OK);
	CHECK(strcmp(r.e.path, "1-2") == 0);
	struct st7_selector by_path = { .path = "1-1" };
	CHECK_INT(st7_engine_select(&r.e, &by_path, &d), ST7_OK);
	CHECK(strcmp(r.e.serial, "ST7-0001") == 0);
	struct st7_selector none = { .has_id = true, .vid = 0x1234, .pid = 1 };
	CHECK_INT(st7_engine_select(&r.e, &none, &d), ST7_ERR_NO_DEVICE);
	rig_close(&r);
}

/*
 * GET_DESCRIPTOR per upgrade, exactly, with two bystander ST7s (one in runtime, one in
 * DFU mode) beside the target on 1-1: selected by port path they get no request at all;
 * by serial, without the OS's cache, the serial read of the first scan (language ID and
 * string) and nothing while the target re-enumerates. With the cache (Linux sysfs, as
 * under st7dfu-emu) only DfuSe's layouts are read from the device. A scan that finds the
 * node of the scan before (a device not yet gone) reads nothing again.
 */
static void test_descriptor_reads(void)
{
	/* [kind][cache][by serial]: the target's GET_DESCRIPTORs for a whole upgrade */
	static const uint64_t want[RIG_KINDS][2][2] = {
		{ { 15, 15 }, { 0, 0 } },   /* st7: 5 scans x configuration, language, serial */
		{ { 15, 15 }, { 0, 0 } },   /* dfu11: the same */
		{ { 20, 20 }, { 10, 10 } }, /* dfuse: 5 scans x those + its layout; language
		                             * and layout with the cache */
	};
	for (int k = 0; k < RIG_KINDS; k++)
		for (int cache = 0; cache < 2; cache++)
			for (int by_serial = 0; by_serial < 2; by_serial++) {
				char spec[1024], err[256], state[PATH_MAX];
				struct rig r;
				struct st7_diag d = { "" };
				struct st7_upgrade_opts uo;
				struct st7_upgrade_report rep;
				struct st7_selector sel = { .path = "1-1" };
				if (by_serial)
					sel = (struct st7_selector){ .serial = "FM" };
				rig_spec(spec, sizeof(spec), &IM, (enum rig_kind)k, 0, NULL);
				CHECK_INT(rig_open(&r, spec, err, sizeof(err)), 0);
				CHECK(emu_transport_add(r.t, "kind=st7,serial=B1," RIG_FAST, err,
				                        sizeof(err)) != NULL);
				CHECK(emu_transport_add(r.t,
				                        "kind=st7,mode=dfu,serial=B2," RIG_FAST,
				                        err, sizeof(err)) != NULL);
				emu_transport_set_os_cache(r.t, cache);
				CHECK_INT(rig_select_by(&r, &sel, &d), ST7_OK);
				snprintf(state, sizeof(state), "%s/desc-%d%d%d", TMP, k, cache,
				         by_serial);
				st7_upgrade_opts_default(&uo);
				uo.state_dir = state;
				CHECK_INT(rig_upgrade(&r, &IM.img[k][1].f, &uo, &rep),
				          ST7_UPG_DONE);
				const struct emu_transport_counts *c = emu_transport_counts(r.t);
				uint64_t bystander = by_serial && !cache ? 2 : 0;
				printf("GET_DESCRIPTOR per %s upgrade (%s, by %s): target %llu, "
				       "bystanders %llu and %llu\n",
				       rig_kind_name((enum rig_kind)k),
				       cache ? "sysfs" : "no sysfs", by_serial ? "serial" : "path",
				       (unsigned long long)c->dev_get_descriptor[0],
				       (unsigned long long)c->dev_control[1],
				       (unsigned long long)c->dev_control[2]);
				CHECK_INT(c->dev_get_descriptor[0], want[k][cache][by_serial]);
				CHECK(c->dev_get_descriptor[0] <= 12 || k != RIG_ST7 || !cache);
				for (unsigned b = 1; b <= 2; b++) {
					CHECK_INT(c->dev_control[b], bystander);
					CHECK_INT(c->dev_get_descriptor[b], bystander);
				}
				rig_close(&r);
			}
}

/*
 * A twin with the target's serial (two readers from one batch, a vendor that gives every
 * unit the same serial) is never taken for the target while it re-enumerates, in either
 * mode, whether the target comes back on its own port or on another one; a target that
 * comes back on another port is still followed by its serial. (The previous engine
 * flashed the twin and left the target in DFU mode.)
 */
static void test_twin_serial(void)
{
	static const struct {
		const char *twin; /* NULL: none */
		uint8_t move_to;  /* 0: the target comes back on its own port */
	} cases[] = {
		{ "kind=st7,mode=dfu,serial=FM," RIG_FAST, 0 },
		{ "kind=st7,serial=FM," RIG_FAST, 0 },
		{ "kind=st7,mode=dfu,serial=FM," RIG_FAST, 4 },
		{ "kind=st7,serial=FM," RIG_FAST, 4 },
		{ NULL, 4 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char spec[1024], err[256], state[PATH_MAX];
		struct rig r;
		struct st7_diag d = { "" };
		struct st7_upgrade_opts uo;
		struct st7_upgrade_report rep;
		struct st7_selector sel = { .path = "1-1" };
		struct emu_info twin0 = { 0 }, twin1 = { 0 };
		rig_spec(spec, sizeof(spec), &IM, RIG_ST7, 0, NULL);
		CHECK_INT(rig_open(&r, spec, err, sizeof(err)), 0);
		if (cases[i].twin)
			CHECK(emu_transport_add(r.t, cases[i].twin, err, sizeof(err)) != NULL);
		emu_transport_set_os_cache(r.t, true);
		if (cases[i].move_to)
			emu_transport_move(r.t, 0, cases[i].move_to);
		if (cases[i].twin)
			emu_dev_info(emu_transport_dev(r.t, 1), &twin0);
		CHECK_INT(rig_select_by(&r, &sel, &d), ST7_OK);
		snprintf(state, sizeof(state), "%s/twin-%zu", TMP, i);
		st7_upgrade_opts_default(&uo);
		uo.state_dir = state;
		enum st7_upgrade_outcome o = rig_upgrade(&r, &IM.img[RIG_ST7][1].f, &uo, &rep);
		const struct emu_transport_counts *c = emu_transport_counts(r.t);
		struct emu_info in = rig_info(&r);
		if (o != ST7_UPG_DONE || c->dev_control[1] != 0)
			fprintf(stderr, "twin case %zu: outcome %d (%s), twin got %llu requests\n",
			        i, (int)o, rep.error, (unsigned long long)c->dev_control[1]);
		CHECK_INT(o, ST7_UPG_DONE);
		CHECK(rig_mem_is(&r, &IM.img[RIG_ST7][1].bin));
		CHECK_INT(in.mode, EMU_MODE_RUNTIME);
		CHECK_INT(in.bcd_device, RIG_NEWV);
		if (cases[i].twin) {
			emu_dev_info(emu_transport_dev(r.t, 1), &twin1);
			CHECK_INT(c->dev_control[1], 0);
			CHECK_INT(twin1.mode, twin0.mode);
			CHECK_INT(twin1.bcd_device, twin0.bcd_device);
		}
		if (cases[i].move_to)
			CHECK(strcmp(r.e.path, "1-4") == 0);
		rig_close(&r);
	}
}

/* Every malformed descriptor the emulator makes leaves a device nobody may touch. */
static void test_desc_faults(void)
{
	static const char *const faults[] = { "xfer0", "trunc-func", "bad-blength", "bad-total",
		                              "no-func" };
	for (int k = 0; k < RIG_KINDS; k++)
		for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
			char extra[64];
			struct rig r;
			snprintf(extra, sizeof(extra), "desc=%s", faults[i]);
			int ret = open_kind(&r, (enum rig_kind)k, 0, extra);
			if (ret != ST7_ERR_NO_DEVICE)
				fprintf(stderr, "desc=%s on %s: %d\n", faults[i],
				        rig_kind_name((enum rig_kind)k), ret);
			CHECK_INT(ret, ST7_ERR_NO_DEVICE);
			CHECK_INT(emu_transport_counts(r.t)->requests[EMU_REQ_DETACH], 0);
			rig_close(&r);
		}
}

/* ---- Detach, re-enumeration, leave ------------------------------------------------------ */

static void test_detach(void)
{
	for (int k = 0; k < RIG_KINDS; k++) {
		struct rig r;
		struct st7_diag d = { "" };
		CHECK_INT(open_kind(&r, (enum rig_kind)k, 0, NULL), 0);
		uint8_t before = r.e.dev->address;
		CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
		CHECK_INT(r.e.dfu.mode, ST7_DFU_MODE_DFU);
		CHECK(r.e.dev->address != before);
		CHECK_INT(rig_info(&r).mode, EMU_MODE_DFU);
		CHECK_INT(reqs(&r, EMU_REQ_DETACH), 1);
		/* bitWillDetach (DfuSe) needs no reset; the others get one. */
		CHECK_INT(emu_transport_counts(r.t)->resets, k == RIG_DFUSE ? 0 : 1);
		/* Already there: nothing is sent. */
		CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
		CHECK_INT(reqs(&r, EMU_REQ_DETACH), 1);
		/* A valid application runs again after a reset. */
		bool runtime = false;
		CHECK_INT(st7_engine_leave_dfu(&r.e, &runtime, &d), ST7_OK);
		CHECK(runtime);
		CHECK_INT(r.e.dfu.mode, ST7_DFU_MODE_RUNTIME);
		CHECK_INT(r.e.dev->dev.bcd_device, RIG_OLDV);
		rig_close(&r);
	}
	/* A loader without a valid application stays one. */
	struct rig r;
	struct st7_diag d = { "" };
	bool runtime = true;
	CHECK_INT(open_kind(&r, RIG_DFU11, 0, "mode=dfu,app=invalid"), 0);
	CHECK_INT(st7_engine_leave_dfu(&r.e, &runtime, &d), ST7_OK);
	CHECK(!runtime);
	CHECK_INT(r.e.dfu.mode, ST7_DFU_MODE_DFU);
	rig_close(&r);
	/* A device that never re-enumerates: the wait is bounded, in virtual time. */
	CHECK_INT(open_kind(&r, RIG_ST7, 0, "no-reenum=1"), 0);
	uint64_t t0 = fake_clock_us(&r.clk);
	CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_ERR_TIMEOUT);
	CHECK(fake_clock_us(&r.clk) - t0 >= 3000000);
	CHECK(fake_clock_us(&r.clk) - t0 < 4000000);
	rig_close(&r);
	/* Power lost at detach and never back. */
	CHECK_INT(open_kind(&r, RIG_DFU11, 0, "unplug-state=appDETACH,replug-ms=never"), 0);
	CHECK(st7_engine_enter_dfu(&r.e, &d) != ST7_OK);
	CHECK(!rig_info(&r).present);
	rig_close(&r);
}

/* ---- Upload ---------------------------------------------------------------------------- */

static void test_upload(void)
{
	for (int k = 0; k < RIG_DFUSE; k++) {
		struct rig r;
		struct st7_diag d = { "" };
		struct st7_buf out;
		st7_buf_init(&out);
		CHECK_INT(open_kind(&r, (enum rig_kind)k, 0, NULL), 0);
		CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
		CHECK_INT(st7_engine_upload(&r.e, 1 << 20, &out, &d), ST7_OK);
		CHECK_INT(out.len, IM.img[k][0].bin.len);
		CHECK(rig_mem_is(&r, &out));
		/* More than the caller allows: refused, the device back in dfuIDLE. */
		out.len = 0;
		CHECK_INT(st7_engine_upload(&r.e, 1000, &out, &d), ST7_ERR_TOO_LARGE);
		CHECK_INT(rig_info(&r).state, EMU_DFU_IDLE);
		st7_buf_free(&out);
		rig_close(&r);
	}
	/* DfuSe: by address, from any alt, up to the end of readable memory. */
	struct rig r;
	struct st7_diag d = { "" };
	struct st7_buf out;
	st7_buf_init(&out);
	CHECK_INT(open_kind(&r, RIG_DFUSE, 0, NULL), 0);
	CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
	CHECK_INT(st7_engine_dfuse_upload(&r.e, 0, RIG_DFUSE_BASE + 100, 5000, &out, &d), ST7_OK);
	CHECK_INT(out.len, 5000);
	CHECK(out.len == 5000 && memcmp(out.data, IM.img[RIG_DFUSE][0].bin.data + 100, 5000) == 0);
	uint8_t alt;
	struct st7_dfuse_layout l;
	CHECK_INT(st7_engine_dfuse_alt(&r.e, 0, &alt, &l, &d), ST7_OK);
	CHECK_INT(alt, 0);
	CHECK_INT(l.n, 1);
	CHECK_INT(st7_engine_dfuse_alt(&r.e, 1, &alt, &l, &d), ST7_ERR_RANGE);
	st7_buf_free(&out);
	rig_close(&r);
}

/* ---- Download: plain DFU, with the faults the engine retries --------------------------- */

struct dl_case {
	const char *name;
	const char *spec; /* @B@: a data block in the middle */
	enum rig_kind kind;
	int ret;           /* what st7_engine_download (+ finish) returns */
	unsigned attempts; /* 0: any */
	int mode;          /* the device afterwards: EMU_MODE_*, or -1 off the bus */
	int mem;           /* 1 new image, 0 neither checked, -1 not the new image */
};

static const struct dl_case dl_cases[] = {
	{ "clean", "", RIG_ST7, ST7_OK, 1, EMU_MODE_RUNTIME, 1 },
	{ "clean", "", RIG_DFU11, ST7_OK, 1, EMU_MODE_RUNTIME, 1 },
	{ "stall once", "stall-block=@B@", RIG_ST7, ST7_OK, 2, EMU_MODE_RUNTIME, 1 },
	{ "stall once", "stall-block=@B@", RIG_DFU11, ST7_OK, 2, EMU_MODE_RUNTIME, 1 },
	{ "stall x3", "stall-block=@B@,fault-times=3", RIG_ST7, ST7_ERR_STALL, 3, EMU_MODE_DFU,
	  -1 },
	{ "stall always", "stall-block=@B@,fault-times=0", RIG_DFU11, ST7_ERR_STALL, 3,
	  EMU_MODE_DFU, -1 },
	{ "errWRITE once", "error-block=@B@", RIG_ST7, ST7_OK, 2, EMU_MODE_RUNTIME, 1 },
	{ "errVERIFY x3", "error-block=@B@,error-status=errVERIFY,fault-times=3", RIG_DFU11,
	  ST7_ERR_DEVICE, 3, EMU_MODE_DFU, -1 },
	{ "getstatus timeout", "getstatus-timeout=5", RIG_ST7, ST7_OK, 2, EMU_MODE_RUNTIME, 1 },
	{ "getstatus timeout", "getstatus-timeout=3", RIG_DFU11, ST7_OK, 2, EMU_MODE_RUNTIME, 1 },
	{ "poll-ms=0", "poll-ms=0", RIG_ST7, ST7_OK, 1, EMU_MODE_RUNTIME, 1 },
	{ "poll-ms=max", "poll-ms=16777215", RIG_DFU11, ST7_OK, 1, EMU_MODE_RUNTIME, 1 },
	{ "unplug DNBUSY replug", "unplug-state=dfuDNBUSY,replug-ms=100", RIG_ST7, ST7_OK, 2,
	  EMU_MODE_RUNTIME, 1 },
	{ "unplug-block replug", "unplug-block=@B@,replug-ms=100", RIG_DFU11, ST7_OK, 2,
	  EMU_MODE_RUNTIME, 1 },
	{ "unplug-block never", "unplug-block=@B@,replug-ms=never", RIG_ST7, ST7_ERR_TIMEOUT, 0, -1,
	  0 },
	/* Manifested, but the reset brings the loader back on the same node: the engine
	 * waits out reenum_timeout_ms for a mode change that never comes (a device may still
	 * reboot into its application after a reset that kept its node). */
	{ "reject-image", "reject-image=1", RIG_DFU11, ST7_ERR_TIMEOUT, 1, EMU_MODE_DFU, 1 },
	{ "manifest tolerant", "manifest-tolerant=1", RIG_DFU11, ST7_OK, 1, EMU_MODE_RUNTIME, 1 },
};

static void spec_subst(char *out, size_t cap, const char *spec, enum rig_kind k)
{
	const char *at = strstr(spec, "@B@");
	if (!at) {
		snprintf(out, cap, "%s", spec);
		return;
	}
	snprintf(out, cap, "%.*s%d%s", (int)(at - spec), spec, k == RIG_ST7 ? 20 : 3, at + 3);
}

static void test_download_cases(void)
{
	for (size_t i = 0; i < sizeof(dl_cases) / sizeof(dl_cases[0]); i++) {
		const struct dl_case *c = &dl_cases[i];
		const struct rig_image *img = &IM.img[c->kind][1];
		char spec[256];
		struct rig r;
		struct st7_diag d = { "" };
		bool needs_reset = false;
		spec_subst(spec, sizeof(spec), c->spec, c->kind);
		if (open_kind(&r, c->kind, 0, spec)) {
			CHECK(!"rig");
			continue;
		}
		r.eo.backoff_ms = 100;
		int ret = st7_engine_enter_dfu(&r.e, &d);
		if (ret == ST7_OK)
			ret = st7_engine_download(&r.e, img->bin.data, img->bin.len, &needs_reset,
			                          &d);
		if (ret == ST7_OK)
			ret = st7_engine_finish(&r.e, true, ST7_DFU_MODE_RUNTIME, &d);
		struct emu_info in = rig_info(&r);
		int mode = in.present ? (int)in.mode : -1;
		bool is_new = rig_mem_is(&r, &img->bin);
		bool ok = ret == c->ret && (!c->attempts || r.e.attempts == c->attempts) &&
		          mode == c->mode && (c->mem == 0 || is_new == (c->mem > 0));
		if (!ok)
			fprintf(stderr,
			        "download %s / %s: ret %d (%s) attempts %u mode %d new %d; "
			        "expected "
			        "%d, %u, %d, %d\n",
			        c->name, rig_kind_name(c->kind), ret, d.msg, r.e.attempts, mode,
			        is_new, c->ret, c->attempts, c->mode, c->mem);
		CHECK(ok);
		if (ret == ST7_OK && c->mode == EMU_MODE_RUNTIME)
			CHECK_INT(in.bcd_device, RIG_NEWV);
		rig_close(&r);
	}
}

/* The abort flag stops a download at a safe point: the device waits in dfuIDLE. */
static void test_abort(void)
{
	struct rig r;
	struct st7_diag d = { "" };
	bool needs_reset;
	const struct rig_image *img = &IM.img[RIG_ST7][1];
	CHECK_INT(open_kind(&r, RIG_ST7, 0, NULL), 0);
	CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
	r.stop = 1;
	CHECK_INT(st7_engine_download(&r.e, img->bin.data, img->bin.len, &needs_reset, &d),
	          ST7_ERR_ABORTED);
	CHECK_INT(rig_info(&r).state, EMU_DFU_IDLE);
	CHECK_INT(r.e.attempts, 1);
	rig_close(&r);
}

/* Whatever state an earlier run left the device in, to_idle brings it back. */
static void test_to_idle(void)
{
	struct rig r;
	struct st7_diag d = { "" };
	const struct rig_image *img = &IM.img[RIG_DFU11][1];
	bool needs_reset = false;
	CHECK_INT(open_kind(&r, RIG_DFU11, 0, "stall-block=1,fault-times=0"), 0);
	r.eo.retries = 1;
	CHECK_INT(rig_select(&r, &d), ST7_OK);
	CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
	CHECK_INT(st7_engine_download(&r.e, img->bin.data, img->bin.len, &needs_reset, &d),
	          ST7_ERR_STALL);
	CHECK_INT(rig_info(&r).state, EMU_DFU_ERROR);
	CHECK_INT(st7_engine_to_idle(&r.e, &d), ST7_OK);
	CHECK_INT(rig_info(&r).state, EMU_DFU_IDLE);
	CHECK(reqs(&r, EMU_REQ_CLRSTATUS) >= 1);
	rig_close(&r);

	/* Manifested but never reset (a run killed there): reset, and it runs. */
	CHECK_INT(open_kind(&r, RIG_ST7, 0, NULL), 0);
	img = &IM.img[RIG_ST7][1];
	CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
	CHECK_INT(st7_engine_download(&r.e, img->bin.data, img->bin.len, &needs_reset, &d), ST7_OK);
	CHECK(needs_reset);
	emu_transport_run_for(r.t, 100);
	CHECK_INT(rig_info(&r).state, EMU_MANIFEST_WAIT_RESET);
	CHECK_INT(rig_select(&r, &d), ST7_OK); /* a new run finds it so */
	CHECK_INT(st7_engine_to_idle(&r.e, &d), ST7_OK);
	CHECK_INT(rig_info(&r).mode, EMU_MODE_DFU);
	CHECK_INT(rig_info(&r).state, EMU_DFU_IDLE);
	CHECK(rig_mem_is(&r, &img->bin));
	rig_close(&r);
}

/* A run that died between its DFU_DETACH and the reset left the device in appDETACH,
 * where a second DETACH stalls: the next run resets it (found by the stop-anywhere
 * campaign, test_crash_emu.c). */
static void test_detach_leftover(void)
{
	for (int k = 0; k < RIG_DFUSE; k++) {
		struct rig r;
		struct st7_diag d = { "" };
		CHECK_INT(open_kind(&r, (enum rig_kind)k, 0, NULL), 0);
		CHECK_INT(st7_engine_open(&r.e, &d), ST7_OK);
		CHECK_INT(st7_engine_ctl_out(&r.e, ST7_DFU_DETACH, 1000, NULL, 0), ST7_OK);
		CHECK_INT(rig_info(&r).state, EMU_APP_DETACH);
		CHECK_INT(rig_select(&r, &d), ST7_OK); /* the next run */
		CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
		CHECK_INT(rig_info(&r).mode, EMU_MODE_DFU);
		CHECK_INT(reqs(&r, EMU_REQ_DETACH), 2);
		CHECK_INT(reqs(&r, EMU_REQ_GETSTATE), 1);
		rig_close(&r);
	}
}

/* ---- DfuSe ------------------------------------------------------------------------------ */

static void test_dfuse_download(void)
{
	static const struct {
		const char *spec;
		int ret, mode, is_new;
	} cases[] = {
		{ "", ST7_OK, EMU_MODE_RUNTIME, 1 },
		{ "stall-block=3", ST7_OK, EMU_MODE_RUNTIME, 1 },
		{ "error-block=3,error-status=errPROG,fault-times=0", ST7_ERR_DEVICE, EMU_MODE_DFU,
		  0 },
		{ "unplug-state=dfuDNBUSY,replug-ms=100", ST7_OK, EMU_MODE_RUNTIME, 1 },
		{ "getstatus-timeout=20", ST7_OK, EMU_MODE_RUNTIME, 1 },
	};
	const struct rig_image *img = &IM.img[RIG_DFUSE][1];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rig r;
		struct st7_diag d = { "" };
		CHECK_INT(open_kind(&r, RIG_DFUSE, 0, cases[i].spec), 0);
		int ret = st7_engine_enter_dfu(&r.e, &d);
		if (ret == ST7_OK)
			ret = st7_engine_dfuse_download(&r.e, &img->f, &d);
		if (ret == ST7_OK)
			ret = st7_engine_wait_mode(&r.e, ST7_DFU_MODE_RUNTIME, &d);
		struct emu_info in = rig_info(&r);
		if (ret != cases[i].ret || (int)in.mode != cases[i].mode)
			fprintf(stderr, "dfuse download %s: ret %d (%s), mode %d\n", cases[i].spec,
			        ret, d.msg, in.mode);
		CHECK_INT(ret, cases[i].ret);
		CHECK_INT(in.mode, cases[i].mode);
		CHECK_INT(rig_mem_is(&r, &img->bin), cases[i].is_new);
		if (ret == ST7_OK)
			CHECK_INT(in.bcd_device, RIG_NEWV);
		/* Every page erased, address pointer set per element and for the leave, all
		 * through named commands (dfu_proto.h). */
		if (i == 0)
			CHECK_INT(reqs(&r, EMU_REQ_DNLOAD),
			          8 /* 1 KiB pages */ + 1 + RIG_GEN_SIZE / 2048 + 1 + 1);
		rig_close(&r);
	}
	/* A run that died right after its leave (zero-length DNLOAD, no GETSTATUS yet): the
	 * next run's first GETSTATUS starts the manifestation, the device leaves the bus and
	 * comes back running its application; the retry detaches it again (found by the
	 * stop-anywhere campaign). */
	{
		struct rig r;
		struct st7_diag d = { "" };
		const struct rig_image *old = &IM.img[RIG_DFUSE][0];
		CHECK_INT(open_kind(&r, RIG_DFUSE, 1, NULL), 0);
		CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
		CHECK_INT(st7_engine_to_idle(&r.e, &d), ST7_OK);
		uint8_t set[5] = { ST7_DFUSE_SET_ADDRESS };
		st7_put_le32(set + 1, RIG_DFUSE_BASE);
		CHECK_INT(st7_engine_ctl_out(&r.e, ST7_DFU_DNLOAD, 0, set, sizeof(set)), ST7_OK);
		struct st7_dfu_status_reply st;
		CHECK_INT(st7_engine_get_status(&r.e, &st, &d), ST7_OK);
		emu_transport_run_for(r.t, 10);
		CHECK_INT(st7_engine_get_status(&r.e, &st, &d), ST7_OK);
		CHECK_INT(st7_engine_ctl_out(&r.e, ST7_DFU_DNLOAD, 0, NULL, 0), ST7_OK);
		CHECK_INT(rig_info(&r).state, EMU_MANIFEST_SYNC);
		CHECK_INT(rig_select(&r, &d), ST7_OK); /* the next run */
		int ret = st7_engine_dfuse_download(&r.e, &old->f, &d);
		if (ret == ST7_OK)
			ret = st7_engine_wait_mode(&r.e, ST7_DFU_MODE_RUNTIME, &d);
		if (ret)
			fprintf(stderr, "dfuse after a leave: %s\n", d.msg);
		CHECK_INT(ret, ST7_OK);
		CHECK_INT(r.e.attempts, 2);
		CHECK(rig_mem_is(&r, &old->bin));
		CHECK_INT(rig_info(&r).bcd_device, RIG_OLDV);
		rig_close(&r);
	}
	/* An element outside writable memory is refused before any erase. */
	struct rig r;
	struct st7_diag d = { "" };
	CHECK_INT(open_kind(&r, RIG_DFUSE, 0, "layout=@Internal Flash  /0x08000000/02*004Ka"), 0);
	CHECK_INT(st7_engine_enter_dfu(&r.e, &d), ST7_OK);
	CHECK_INT(st7_engine_dfuse_download(&r.e, &img->f, &d), ST7_ERR_RANGE);
	CHECK_INT(reqs(&r, EMU_REQ_DNLOAD), 0);
	rig_close(&r);
	/* A DfuSe file needs a DfuSe device. */
	CHECK_INT(open_kind(&r, RIG_DFU11, 0, NULL), 0);
	CHECK_INT(st7_engine_dfuse_download(&r.e, &img->f, &d), ST7_ERR_UNSUPPORTED);
	rig_close(&r);
}

int main(void)
{
	st7_log_open(ST7_LOG_STDERR,
	             getenv("ST7_TEST_VERBOSE") ? ST7_LOG_DEBUG : (enum st7_log_level)0,
	             "test_engine_emu");
	if (rig_tmpdir(TMP, sizeof(TMP)) || rig_images_make(&IM, TMP)) {
		fprintf(stderr, "cannot make the images in %s\n", TMP);
		return 1;
	}
	test_select();
	test_descriptor_reads();
	test_twin_serial();
	test_desc_faults();
	test_detach();
	test_upload();
	test_download_cases();
	test_abort();
	test_to_idle();
	test_detach_leftover();
	test_dfuse_download();
	rig_images_free(&IM);
	rig_rmtree(TMP);
	return check_report();
}
