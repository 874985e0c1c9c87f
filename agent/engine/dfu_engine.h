/* SPDX-License-Identifier: MIT */
/*
 * The DFU host engine: finds one device and follows it across re-enumerations, moves it
 * between runtime and DFU mode, uploads and downloads with the pure state machine
 * (dfu_sm.h) over the transport interface, with bounded retries. It prints nothing:
 * progress goes to a callback, problems to the log and the diag.
 *
 * A device is followed by its USB port path, and by its serial number (when it has one)
 * if it comes back on another port: its address and, for the ST7, its PID change when it
 * re-enumerates. While waiting for it, only the device on its port is read; a device on
 * another port is matched by the serial the kernel read (sysfs) and is never opened, so
 * bystanders see no request at all. Without sysfs, only the port is followed.
 *
 * Ownership: the engine borrows the transport and the clock; st7_engine_free() closes
 * what it opened. Every wait is bounded by the options; nothing sleeps a fixed time.
 */
#ifndef ST7_DFU_ENGINE_H
#define ST7_DFU_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "clock.h"
#include "dfu_desc.h"
#include "dfu_file.h"
#include "memimg.h"
#include "dfu_proto.h"
#include "dfuse_layout.h"
#include "usb_transport.h"

struct st7_engine_opts {
	uint32_t poll_floor_ms;       /* wait at least this when a device says 0 */
	uint32_t poll_cap_ms;         /* never believe a bwPollTimeout above this */
	uint32_t transfer_timeout_ms; /* per control transfer */
	uint32_t reenum_timeout_ms;   /* for a device to come back after detach or reset */
	unsigned retries;             /* download attempts in all (at least 1) */
	uint32_t backoff_ms;          /* before the 2nd attempt; doubles after each */
};

void st7_engine_opts_default(struct st7_engine_opts *o);

/* Which device: any field left empty (0 / NULL) matches everything. */
struct st7_selector {
	bool has_id;
	uint16_t vid, pid;
	const char *path;
	const char *serial;
};

typedef void (*st7_progress_fn)(void *arg, const char *phase, size_t done, size_t total);

struct st7_engine {
	struct st7_usb *usb;
	const struct st7_clock *clock;
	struct st7_engine_opts o;
	st7_progress_fn progress;
	void *progress_arg;
	const volatile sig_atomic_t *abort_flag; /* non-zero: stop at the next safe point */
	/* The device followed, and where it was last seen. */
	char serial[ST7_USB_STRING_MAX];
	char path[32];
	struct st7_usb_found *scan;
	size_t n_scan;
	const struct st7_usb_found *dev; /* into scan; NULL when not present */
	struct st7_dfu_summary dfu;
	struct st7_usb_handle *h;
	uint8_t alt; /* the alternate setting st7_engine_open() selects */
	/* The address the device had before we made it re-enumerate: coming back with
	 * another address in the wrong mode is an answer, not something to wait for. */
	int left_address;
	/* Nodes (bus << 8 | address) present while the device itself was: a node on
	 * another port with the device's serial is followed only if it is not one of
	 * these, so that a twin with the same serial (or a lying bystander) is never taken
	 * for it. Full: no node on another port is followed (fail closed). */
	uint16_t bystanders[64];
	size_t n_bystanders;
	bool bystanders_full;
	/* Statistics for reports. */
	unsigned attempts;
	/* DFU_DNLOAD requests sent (DfuSe commands included), whatever their fate: until
	 * the first, the device's memory cannot have changed. */
	unsigned dnloads;
};

void st7_engine_init(struct st7_engine *e, struct st7_usb *usb, const struct st7_clock *clock,
                     const struct st7_engine_opts *o);
void st7_engine_free(struct st7_engine *e);

/*
 * Choose the device: exactly one usable DFU-capable device must match `sel`.
 * ST7_ERR_NO_DEVICE when none does; ST7_ERR_AMBIGUOUS when several do, with their
 * paths, IDs and serials in the diag.
 */
int st7_engine_select(struct st7_engine *e, const struct st7_selector *sel, struct st7_diag *d);

/* Rescan and find the followed device (e->dev NULL and ST7_ERR_NO_DEVICE if absent). */
int st7_engine_refresh(struct st7_engine *e, struct st7_diag *d);

/* Wait, event-driven and bounded by reenum_timeout_ms, for the device in `mode`
 * (ST7_DFU_MODE_NONE: in whichever mode it comes back). */
int st7_engine_wait_mode(struct st7_engine *e, enum st7_dfu_mode mode, struct st7_diag *d);

/* Runtime → DFU mode: DFU_DETACH, a USB reset unless bitWillDetach, then wait
 * (DFU 1.1 section 5.1). A device already in DFU mode is left as it is; one already in
 * appDETACH (an earlier run stopped before its reset) just gets the reset. */
int st7_engine_enter_dfu(struct st7_engine *e, struct st7_diag *d);

/* Open the device (in DFU mode) and claim its DFU interface, if not done yet. */
int st7_engine_open(struct st7_engine *e, struct st7_diag *d);
void st7_engine_close(struct st7_engine *e);

int st7_engine_get_status(struct st7_engine *e, struct st7_dfu_status_reply *r, struct st7_diag *d);

/* From whatever an earlier run left: dfuERROR → CLRSTATUS, the idle states of a
 * transfer → ABORT, until GETSTATUS says dfuIDLE (DFU 1.1 section 6.1.4, 6.1.5). */
int st7_engine_to_idle(struct st7_engine *e, struct st7_diag *d);

/*
 * Read the device's memory (DFU 1.1 section 6.2) until a short block. More than
 * `max_len` bytes is an error (a device that never ends its upload).
 */
int st7_engine_upload(struct st7_engine *e, size_t max_len, struct st7_buf *out,
                      struct st7_diag *d);

/*
 * Download `len` bytes and manifest, with up to o.retries attempts: after a failed
 * block the device is brought back to dfuIDLE (CLRSTATUS/ABORT, waiting for it if it
 * left the bus) and the download restarts from block 0, as DFU 1.0 requires.
 * *needs_reset tells whether the device now waits for a USB reset.
 */
int st7_engine_download(struct st7_engine *e, const uint8_t *data, size_t len, bool *needs_reset,
                        struct st7_diag *d);

/* After a download: reset if needed and wait for the device to come back in `mode`. */
int st7_engine_finish(struct st7_engine *e, bool needs_reset, enum st7_dfu_mode mode,
                      struct st7_diag *d);

/* USB reset of the device (re-enumeration is expected). */
int st7_engine_reset(struct st7_engine *e, struct st7_diag *d);

/*
 * A device found in DFU mode: does it hold a valid application? A USB reset in DFU
 * mode runs valid firmware (DFU 1.1 section 6.1, dfuIDLE on bus reset), so ask the
 * device itself: *runtime is true when it came back running its application (its
 * runtime descriptors now say who it is), false when it stayed a loader. A device
 * already in runtime mode is left alone (*runtime true). Nothing is erased.
 */
int st7_engine_leave_dfu(struct st7_engine *e, bool *runtime, struct st7_diag *d);

/* The DfuSe part of the engine (dfuse.c): its API and what it borrows from here. */
#include "dfuse.h"

#endif
