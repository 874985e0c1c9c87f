/* SPDX-License-Identifier: MIT */
/*
 * The USB transport interface: what the agent needs from a USB stack, as one table of
 * operations (after libusb's usbi_os_backend). The libusb backend implements it for
 * real devices (and for umockdev-emulated ones, which real libusb cannot tell apart);
 * tests may implement it to inject faults.
 *
 * Ownership: a backend context is created by the backend's own init function and
 * released with st7_usb_free(). Scan results belong to the caller and are released
 * with st7_usb_found_free().
 */
#ifndef ST7_USB_TRANSPORT_H
#define ST7_USB_TRANSPORT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "usb_found.h"

/* An open device; what it holds is the backend's business. */
struct st7_usb_handle;

struct st7_usb_ops {
	const char *name;
	/* Called by `list` to find devices. Reads every device's descriptors; devices for
	 * which `want_strings` (may be NULL: none) returns true are also opened to read
	 * what `list` shows (ST7_USB_READ_LIST), so that unrelated devices on a gateway
	 * (modems, storage) are never touched. Returns 0 with a caller-owned array
	 * (possibly empty), or a negative st7_err when the USB stack itself is unusable. */
	int (*scan)(void *impl, bool (*want_strings)(const struct st7_usb_found *f),
	            struct st7_usb_found **out, size_t *n, struct st7_diag *d);
	/* Called by the engine (optional: NULL makes it use scan): like scan, reading for
	 * each device what `want` asks, ST7_USB_READ_* bits (usb_found.h). `want` sees the
	 * device's descriptors, port path and IDs, which cost no control transfer; after
	 * each read it is asked again with f->read and the fields read so far (the serial,
	 * say), until it asks for nothing new. A device it asks nothing of is not opened.
	 * Each device is opened at most once per scan and its language ID read at most
	 * once, when a string needs a control transfer. */
	int (*scan_for)(void *impl, unsigned (*want)(void *arg, const struct st7_usb_found *f),
	                void *arg, struct st7_usb_found **out, size_t *n, struct st7_diag *d);
	/* Called by the engine: open the device found at `f` (by bus and address, which
	 * change on re-enumeration, so a stale `f` gives ST7_ERR_NO_DEVICE). */
	int (*open)(void *impl, const struct st7_usb_found *f, struct st7_usb_handle **h,
	            struct st7_diag *d);
	/* Called by the engine: release interfaces and close. NULL is ignored. */
	void (*close)(void *impl, struct st7_usb_handle *h);
	/* Called by the engine: claim `interface` (detaching a kernel driver if one is
	 * bound) and select `alt`. */
	int (*claim)(void *impl, struct st7_usb_handle *h, uint8_t interface, uint8_t alt,
	             struct st7_diag *d);
	/* Called by the engine: one control transfer. IN transfers fill `data` and set
	 * *actual; OUT transfers send `len` bytes. Returns 0 or ST7_ERR_STALL,
	 * ST7_ERR_TIMEOUT, ST7_ERR_NO_DEVICE, ST7_ERR_USB. */
	int (*control)(void *impl, struct st7_usb_handle *h, uint8_t request_type, uint8_t request,
	               uint16_t value, uint16_t index, uint8_t *data, uint16_t len,
	               unsigned timeout_ms, size_t *actual);
	/* Called by the engine: USB port reset. 0 when the device kept its node (same
	 * descriptors, same mode); ST7_ERR_NO_DEVICE when it left to re-enumerate (new
	 * descriptors: a change of mode), which the engine expects and waits for; other
	 * errors when the reset itself failed. */
	int (*reset)(void *impl, struct st7_usb_handle *h);
	/* Called by the engine while it waits for a device to come back: return after a
	 * device was attached or detached (hotplug), or after at most `timeout_ms`,
	 * whichever is first. Backends without hotplug just sleep briefly. */
	void (*wait_change)(void *impl, unsigned timeout_ms);
	/* Called by the daemon (`st7dfu run`) between cycles, with no device open, to sleep
	 * until there is something to do (optional: NULL makes st7_usb_wait_event return
	 * ST7_ERR_UNSUPPORTED). Returns
	 *  - 1 when a device was attached or detached (hotplug) since the previous call
	 *    returned 1, or since the backend was created: events during the caller's own
	 *    cycle (an upgrade's re-enumeration) count, so the caller rescans once more.
	 *    Every event already pending is consumed with it (a replug's remove and add
	 *    that arrive together give one 1, not two);
	 *  - 0 when `timeout_ms` passed (timeout_ms < 0: no timeout; 0: just a check);
	 *  - ST7_ERR_ABORTED when *wake is non-zero (`wake` may be NULL: never; checked
	 *    first, so it wins over a pending event, which the next call reports). A signal
	 *    handler sets it; the check is atomic with the sleep, so a signal that arrives
	 *    at any instant, before the call included, ends the wait at once. The backend
	 *    blocks SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGCHLD while it checks and sleeps
	 *    with the caller's own mask (ppoll), so those must be unblocked in the calling
	 *    thread and blocked in every other thread of the process (the libusb backend
	 *    blocks them in libusb's own event thread);
	 *  - another negative st7_err when the wait itself failed (ST7_ERR_NOMEM, ST7_ERR_USB).
	 * It sleeps until something happens: no periodic wake-ups. Without hotplug
	 * support it returns 1 every 2 s of waiting instead (0 when timeout_ms, at most
	 * 2000, passes first), so the caller rescans. Independent of wait_change: either may
	 * be called any number of times, neither consumes the other's events (the libusb
	 * backend registers one hotplug callback, at init, that flags both). */
	int (*wait_event)(void *impl, int timeout_ms, const volatile sig_atomic_t *wake);
	/* Releases the backend context; called once by st7_usb_free(). */
	void (*destroy)(void *impl);
};

struct st7_usb {
	const struct st7_usb_ops *ops;
	void *impl;
};

static inline int st7_usb_scan(struct st7_usb *u,
                               bool (*want_strings)(const struct st7_usb_found *),
                               struct st7_usb_found **out, size_t *n, struct st7_diag *d)
{
	return u->ops->scan(u->impl, want_strings, out, n, d);
}

/* The daemon's wait between cycles: ops->wait_event, or ST7_ERR_UNSUPPORTED without it. */
static inline int st7_usb_wait_event(struct st7_usb *u, int timeout_ms,
                                     const volatile sig_atomic_t *wake)
{
	if (!u->ops->wait_event)
		return ST7_ERR_UNSUPPORTED;
	return u->ops->wait_event(u->impl, timeout_ms, wake);
}

void st7_usb_free(struct st7_usb *u);

/* The libusb-1.0 backend. */
int st7_usb_libusb_init(struct st7_usb *u, struct st7_diag *d);

#endif
