/* SPDX-License-Identifier: MIT */
/*
 * An in-process USB transport for tests: struct st7_usb_ops (usb_transport.h) over
 * emulated devices (tests/emu/emu_model.h) and a fake clock (fake_clock.h), so the engine
 * and the decisions above it run as plain unit tests in milliseconds.
 *
 * It behaves as the libusb backend does on Linux (and as st7dfu-emu makes the same model
 * look through real libusb):
 * - Device i sits on bus 1, port i+1 (path "1-(i+1)"; emu_transport_move() puts it
 *   elsewhere when it next reappears); each time it (re)appears on the
 *   bus it gets the next free device number, so a re-enumeration (detach, manifestation,
 *   a reset that changes the mode, a power cycle) makes every open handle and every scan
 *   record of it stale: they answer ST7_ERR_NO_DEVICE.
 * - scan: the device and configuration descriptors parsed like libusb 1.0.26 (class
 *   descriptors after an interface are its `extra`, a descriptor whose bLength runs past
 *   the configuration is dropped); then what the caller asks (scan_for's ST7_USB_READ_*),
 *   as usb_libusb.c reads it: strings and the raw configuration check with
 *   GET_DESCRIPTOR control transfers, the language ID once per device and scan (libusb
 *   without sysfs); with emu_transport_set_os_cache() the serial and the raw
 *   configuration come from the OS's copy instead (Linux sysfs, as under st7dfu-emu).
 * - claim: SET_INTERFACE only for an alt other than 0 or on an interface with several.
 * - control: the model answers; a stall is ST7_ERR_STALL, a request the device never
 *   answers costs its timeout on the fake clock and is ST7_ERR_TIMEOUT, a device off the
 *   bus is ST7_ERR_NO_DEVICE.
 * - reset: ST7_ERR_NO_DEVICE when the device left to re-enumerate (a change of mode).
 * - wait_change: advances the fake clock to the next thing a device does by itself (the
 *   end of a busy period, a reappearance), at most `timeout_ms`.
 *
 * Time: the fake clock is the only clock. Before every call the devices catch up with it.
 *
 * For tests: a hook sees every control transfer before the device does and may stall it,
 * drop it (no answer), or act on the device (pull the plug); counters per request type;
 * and "stop the run" (emu_transport_fail): every later call fails, as if the process
 * died, while the devices stay as they are.
 */
#ifndef ST7_EMU_TRANSPORT_H
#define ST7_EMU_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu_model.h"
#include "fake_clock.h"
#include "usb_transport.h"

#define EMU_TRANSPORT_MAX_DEVS 4

/* What the hook decides for one control transfer. */
enum emu_hook_verdict {
	EMU_HOOK_PASS,   /* to the device, as usual */
	EMU_HOOK_STALL,  /* stalled on the way (the device never sees it) */
	EMU_HOOK_SILENT, /* never answered: the host times out (the device never sees it) */
};

/* Called before device `dev` sees a control transfer: setup packet and, for OUT
 * transfers, the data. It may change the device (emu_transport_dev) before answering. */
typedef enum emu_hook_verdict (*emu_transport_hook)(void *arg, unsigned dev, const uint8_t setup[8],
                                                    const uint8_t *data, uint16_t len);

struct emu_transport_counts {
	uint64_t scans, opens, claims, resets, waits;
	uint64_t control;                 /* control transfers that reached a device */
	uint64_t requests[EMU_REQ_COUNT]; /* of those, per type (emu_model.h's order) */
	uint64_t set_interface;           /* SET_INTERFACE among EMU_REQ_OTHER */
	uint64_t failed_calls;            /* calls refused after emu_transport_fail() */
	/* per device (its index): control transfers, and GET_DESCRIPTOR among them */
	uint64_t dev_control[EMU_TRANSPORT_MAX_DEVS];
	uint64_t dev_get_descriptor[EMU_TRANSPORT_MAX_DEVS];
};

struct emu_transport;

/*
 * A transport with no devices on `clock` (borrowed; it must outlive the transport).
 * `u` gets the ops; st7_usb_free(u) releases the transport and the devices it owns.
 * The transport is also returned in *t for the calls below. ST7_ERR_NOMEM.
 */
int emu_transport_init(struct st7_usb *u, struct fake_clock *clock, struct emu_transport **t);

/*
 * Add a device from a SPEC (tests/emu/README.md), powered on now on the next port.
 * The transport owns it. NULL with the model's message in err.
 */
struct emu_dev *emu_transport_add(struct emu_transport *t, const char *spec, char *err,
                                  size_t errlen);

/* The next time device i (re)appears on the bus, it is on port `port` (a hub that
 * re-enumerates it elsewhere): its path becomes "1-PORT". */
void emu_transport_move(struct emu_transport *t, unsigned i, uint8_t port);

struct emu_dev *emu_transport_dev(struct emu_transport *t, unsigned i);
unsigned emu_transport_n_devs(const struct emu_transport *t);
uint64_t emu_transport_now_us(const struct emu_transport *t);

void emu_transport_set_hook(struct emu_transport *t, emu_transport_hook fn, void *arg);

/* On: the serial and the raw descriptors come from the OS's copy, as from Linux sysfs;
 * off (the default): from the device, as where libusb has no sysfs. */
void emu_transport_set_os_cache(struct emu_transport *t, bool on);

/* Stop the run: from now on every op fails with `err` (scan, open, claim, control,
 * reset; wait_change only lets time pass). 0 makes the transport usable again (a new
 * process on the same bus). */
void emu_transport_fail(struct emu_transport *t, int err);

/* Let time pass (the devices finish busy periods, come back from resets) for `ms`. */
void emu_transport_run_for(struct emu_transport *t, uint32_t ms);

const struct emu_transport_counts *emu_transport_counts(const struct emu_transport *t);
void emu_transport_reset_counts(struct emu_transport *t);

#endif
