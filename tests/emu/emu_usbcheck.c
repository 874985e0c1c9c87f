/* SPDX-License-Identifier: MIT */
/*
 * A libusb client run under st7dfu-emu by libusb.sh: it checks what dfu-util cannot
 * show about the emulation, through real libusb: a GETSTATUS that never completes (a
 * timeout, then DISCARDURB), bus latency, hotplug across re-enumeration, unplug and
 * replug, a device plugged in after the program started (plug-ms), and how libusb
 * parses the malformed descriptors.
 *
 * Usage: emu_usbcheck timeout|cancel|latency|hotplug|unplug|raw|desc FAULT|plug MS [dfu]
 */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <libusb.h>
#include <linux/usbdevice_fs.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define VID 0x0483
#define PID_RT 0xFF03
#define PID_DFU 0xDF11

static libusb_context *ctx;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static libusb_device_handle *open_claim(uint16_t pid, int iface)
{
	libusb_device_handle *h = libusb_open_device_with_vid_pid(ctx, VID, pid);
	CHECK(h != NULL);
	if (h)
		CHECK_INT(libusb_claim_interface(h, iface), 0);
	return h;
}

static int getstatus(libusb_device_handle *h, int iface, unsigned timeout, uint8_t st[6])
{
	return libusb_control_transfer(h, 0xA1, 3, 0, (uint16_t)iface, st, 6, timeout);
}

/* Events from the hotplug callback. */
static int arrived, left;
static uint8_t arrived_addr;
static uint16_t arrived_pid;
static double arrived_ms, start_ms;

static int LIBUSB_CALL on_hotplug(libusb_context *c, libusb_device *dev, libusb_hotplug_event ev,
                                  void *ud)
{
	struct libusb_device_descriptor dd;
	(void)c;
	(void)ud;
	libusb_get_device_descriptor(dev, &dd);
	if (ev == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED) {
		arrived++;
		arrived_ms = now_ms();
		arrived_addr = libusb_get_device_address(dev);
		arrived_pid = dd.idProduct;
	} else {
		left++;
	}
	return 0;
}

static void wait_events(int want_arrived, int want_left, double max_ms)
{
	double end = now_ms() + max_ms;
	struct timeval tv = { 0, 10000 };
	while ((arrived < want_arrived || left < want_left) && now_ms() < end)
		libusb_handle_events_timeout_completed(ctx, &tv, NULL);
}

/* getstatus-timeout=2: the second GETSTATUS times out (libusb discards the URB), the
 * device is not stuck, the third answers. */
static void check_timeout(void)
{
	uint8_t st[6];
	libusb_device_handle *h = open_claim(PID_DFU, 0);
	if (!h)
		return;
	CHECK_INT(getstatus(h, 0, 1000, st), 6);
	CHECK_INT(st[4], 2);
	double t = now_ms();
	CHECK_INT(getstatus(h, 0, 300, st), LIBUSB_ERROR_TIMEOUT);
	t = now_ms() - t;
	CHECK(t >= 290 && t < 3000);
	CHECK_INT(getstatus(h, 0, 1000, st), 6);
	CHECK_INT(st[4], 2);
	libusb_close(h);
}

static int cancelled_status = -1;
static void LIBUSB_CALL on_done(struct libusb_transfer *x)
{
	cancelled_status = x->status;
}

/* getstatus-timeout=1: an asynchronous GETSTATUS stays pending until cancelled. */
static void check_cancel(void)
{
	libusb_device_handle *h = open_claim(PID_DFU, 0);
	if (!h)
		return;
	struct libusb_transfer *x = libusb_alloc_transfer(0);
	uint8_t buf[LIBUSB_CONTROL_SETUP_SIZE + 6];
	libusb_fill_control_setup(buf, 0xA1, 3, 0, 0, 6);
	libusb_fill_control_transfer(x, h, buf, on_done, NULL, 0);
	CHECK_INT(libusb_submit_transfer(x), 0);
	struct timeval tv = { 0, 100000 };
	libusb_handle_events_timeout_completed(ctx, &tv, NULL);
	CHECK_INT(cancelled_status, -1); /* still pending after 100 ms */
	CHECK_INT(libusb_cancel_transfer(x), 0);
	double end = now_ms() + 2000;
	while (cancelled_status < 0 && now_ms() < end)
		libusb_handle_events_timeout_completed(ctx, &tv, NULL);
	CHECK_INT(cancelled_status, LIBUSB_TRANSFER_CANCELLED);
	libusb_free_transfer(x);
	uint8_t st[6];
	CHECK_INT(getstatus(h, 0, 1000, st), 6);
	libusb_close(h);
}

/* bus=low on a low-speed part: each transfer takes its modelled time. */
static void check_latency(void)
{
	uint8_t st[6], buf[64];
	libusb_device_handle *h = open_claim(PID_DFU, 0);
	if (!h)
		return;
	CHECK_INT(libusb_get_device_speed(libusb_get_device(h)), LIBUSB_SPEED_LOW);
	double t = now_ms();
	for (int i = 0; i < 20; i++)
		CHECK_INT(getstatus(h, 0, 1000, st), 6);
	t = now_ms() - t;
	CHECK(t >= 20 * 3); /* setup + one data packet + status, 1 ms each */
	t = now_ms();
	CHECK_INT(libusb_control_transfer(h, 0xA1, 2, 0, 0, buf, 64, 1000), 64);
	t = now_ms() - t;
	CHECK(t >= 10); /* 8 data packets */
	libusb_close(h);
}

/* DETACH + reset: LEFT then ARRIVED, a new address on the same port; the old handle
 * answers NO_DEVICE. */
static void check_hotplug(void)
{
	libusb_hotplug_callback_handle cb;
	uint8_t st[6], ports[8], ports2[8];

	CHECK(libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG));
	CHECK_INT(libusb_hotplug_register_callback(ctx,
	                                           LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED |
	                                                   LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
	                                           0, VID, LIBUSB_HOTPLUG_MATCH_ANY,
	                                           LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug, NULL, &cb),
	          0);
	libusb_device_handle *h = open_claim(PID_RT, 1);
	if (!h)
		return;
	libusb_device *dev = libusb_get_device(h);
	uint8_t addr = libusb_get_device_address(dev);
	int np = libusb_get_port_numbers(dev, ports, sizeof(ports));
	CHECK_INT(np, 1);
	CHECK_INT(getstatus(h, 1, 1000, st), 6);
	CHECK_INT(st[4], 0); /* appIDLE */
	CHECK_INT(libusb_control_transfer(h, 0x21, 0, 1000, 1, NULL, 0, 1000), 0);
	CHECK_INT(getstatus(h, 1, 1000, st), 6);
	CHECK_INT(st[4], 1);                                       /* appDETACH */
	CHECK_INT(libusb_reset_device(h), LIBUSB_ERROR_NOT_FOUND); /* it re-enumerates */
	wait_events(1, 1, 3000);
	CHECK_INT(left, 1);
	CHECK_INT(arrived, 1);
	CHECK_INT(arrived_pid, PID_DFU);
	CHECK(arrived_addr != addr);
	CHECK_INT(getstatus(h, 1, 1000, st), LIBUSB_ERROR_NO_DEVICE);
	libusb_close(h);

	h = open_claim(PID_DFU, 0);
	if (!h)
		return;
	CHECK_INT(libusb_get_port_numbers(libusb_get_device(h), ports2, sizeof(ports2)), np);
	CHECK_INT(ports2[0], ports[0]);
	CHECK_INT(getstatus(h, 0, 1000, st), 6);
	CHECK_INT(st[4], 2); /* dfuIDLE */
	struct libusb_config_descriptor *cfg;
	CHECK_INT(libusb_get_active_config_descriptor(libusb_get_device(h), &cfg), 0);
	CHECK_INT(cfg->interface[0].altsetting[0].bInterfaceProtocol, 2);
	libusb_free_config_descriptor(cfg);
	libusb_close(h);
	libusb_hotplug_deregister_callback(ctx, cb);
}

/* unplug-state=dfuDNBUSY,replug-ms=200: the GETSTATUS that starts the busy period is
 * answered, then the device is gone; it comes back in DFU mode. */
static void check_unplug(void)
{
	libusb_hotplug_callback_handle cb;
	uint8_t st[6], blk[128] = { 0 };

	CHECK_INT(libusb_hotplug_register_callback(ctx,
	                                           LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED |
	                                                   LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
	                                           0, VID, LIBUSB_HOTPLUG_MATCH_ANY,
	                                           LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug, NULL, &cb),
	          0);
	libusb_device_handle *h = open_claim(PID_DFU, 0);
	if (!h)
		return;
	CHECK_INT(libusb_control_transfer(h, 0x21, 1, 0, 0, blk, 128, 1000), 128);
	CHECK_INT(getstatus(h, 0, 1000, st), 6);
	CHECK_INT(st[4], 4); /* dfuDNBUSY */
	CHECK_INT(getstatus(h, 0, 1000, st), LIBUSB_ERROR_NO_DEVICE);
	wait_events(1, 1, 3000);
	CHECK_INT(left, 1);
	CHECK_INT(arrived, 1);
	CHECK_INT(arrived_pid, PID_DFU);
	libusb_close(h);
	h = open_claim(PID_DFU, 0);
	if (h) {
		CHECK_INT(getstatus(h, 0, 1000, st), 6);
		CHECK_INT(st[4], 2);
		libusb_close(h);
	}
	libusb_hotplug_deregister_callback(ctx, cb);
}

/* Devices with our VID that libusb lists now. */
static int count_ours(void)
{
	libusb_device **list;
	ssize_t n = libusb_get_device_list(ctx, &list);
	int ours = 0;
	for (ssize_t i = 0; i < n; i++) {
		struct libusb_device_descriptor dd;
		if (!libusb_get_device_descriptor(list[i], &dd) && dd.idVendor == VID)
			ours++;
	}
	if (n >= 0)
		libusb_free_device_list(list, 1);
	return ours;
}

/* plug-ms=MS: the device is not there when this program starts; a hotplug callback
 * registered then sees it arrive about MS after the emulator's first command (this
 * program) started, and it opens and answers like any device, in its power-on mode. */
static void check_plug(long plug_ms, bool dfu)
{
	libusb_hotplug_callback_handle cb;
	uint16_t pid = dfu ? PID_DFU : PID_RT;
	int iface = dfu ? 0 : 1;
	uint8_t st[6], buf[64];
	unsigned char serial[64];

	CHECK(libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG));
	CHECK_INT(libusb_hotplug_register_callback(ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED,
	                                           LIBUSB_HOTPLUG_ENUMERATE, VID,
	                                           LIBUSB_HOTPLUG_MATCH_ANY,
	                                           LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug, NULL, &cb),
	          0);
	double registered = now_ms() - start_ms;
	CHECK_INT(arrived, 0); /* LIBUSB_HOTPLUG_ENUMERATE: nothing there yet */
	CHECK_INT(count_ours(), 0);
	CHECK(libusb_open_device_with_vid_pid(ctx, VID, pid) == NULL);
	printf("plug: registered at +%.0f ms\n", registered);
	wait_events(1, 0, (double)plug_ms + 3000);
	CHECK_INT(arrived, 1);
	double at = arrived_ms - start_ms;
	printf("plug: arrived at +%.0f ms (plug-ms=%ld)\n", at, plug_ms);
	/* This program started a little after the emulator's first command did; the upper
	 * bound is loose for sanitizer builds under load (it catches "never" and "at once"). */
	CHECK(at >= (double)plug_ms - 1000 && at <= (double)plug_ms + 3000);
	CHECK_INT(arrived_pid, pid);
	CHECK_INT(count_ours(), 1);
	libusb_device_handle *h = open_claim(pid, iface);
	if (!h)
		return;
	libusb_device *dev = libusb_get_device(h);
	CHECK_INT(libusb_get_device_address(dev), arrived_addr);
	/* The cached descriptor (sysfs) and the device's own answer agree. */
	struct libusb_device_descriptor dd;
	CHECK_INT(libusb_get_device_descriptor(dev, &dd), 0);
	CHECK_INT(dd.idVendor, VID);
	CHECK_INT(dd.idProduct, pid);
	CHECK_INT(libusb_get_descriptor(h, LIBUSB_DT_DEVICE, 0, buf, 18), 18);
	CHECK_INT(buf[8] | buf[9] << 8, VID);
	CHECK_INT(buf[10] | buf[11] << 8, pid);
	CHECK_INT(buf[12] | buf[13] << 8, dd.bcdDevice);
	CHECK(libusb_get_string_descriptor_ascii(h, dd.iSerialNumber, serial, sizeof(serial)) > 0);
	CHECK(!strcmp((char *)serial, "ST7-0001"));
	struct libusb_config_descriptor *cfg;
	CHECK_INT(libusb_get_active_config_descriptor(dev, &cfg), 0);
	CHECK_INT(cfg->bNumInterfaces, dfu ? 1 : 2);
	libusb_free_config_descriptor(cfg);
	CHECK_INT(getstatus(h, (uint16_t)iface, 1000, st), 6);
	CHECK_INT(st[4], dfu ? 2 : 0); /* dfuIDLE / appIDLE: as at power-on */
	libusb_close(h);
	libusb_hotplug_deregister_callback(ctx, cb);
}

/* The usbdevfs ioctls libusb does not use, straight on the node: synchronous CONTROL
 * (answered after the bus time, or ETIMEDOUT when never answered), blocking REAPURB,
 * GET_SPEED, CONNECTINFO, claiming a missing interface. Device: st72f62 in DFU mode,
 * bus=low, getstatus-timeout=2. */
static void check_raw(void)
{
	int fd = open("/dev/bus/usb/001/002", O_RDWR);
	uint8_t buf[64];

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	struct usbdevfs_ctrltransfer ct = { .bRequestType = 0x80,
		                            .bRequest = 6,
		                            .wValue = 0x0100,
		                            .wLength = 18,
		                            .timeout = 1000,
		                            .data = buf };
	double t = now_ms();
	CHECK_INT(ioctl(fd, USBDEVFS_CONTROL, &ct), 18);
	CHECK(now_ms() - t >= 5); /* low speed: setup, 3 data packets, status */
	CHECK_INT(buf[8] | buf[9] << 8, VID);
	struct usbdevfs_ctrltransfer gs = {
		.bRequestType = 0xA1, .bRequest = 3, .wLength = 6, .timeout = 200, .data = buf
	};
	CHECK_INT(ioctl(fd, USBDEVFS_CONTROL, &gs), 6);
	t = now_ms();
	errno = 0;
	CHECK_INT(ioctl(fd, USBDEVFS_CONTROL, &gs), -1); /* the 2nd GETSTATUS: no answer */
	CHECK_INT(errno, ETIMEDOUT);
	CHECK(now_ms() - t >= 190);
	/* SUBMITURB, then a blocking REAPURB waits out the bus time. */
	uint8_t ubuf[8 + 6] = { 0xA1, 3, 0, 0, 0, 0, 6, 0 };
	struct usbdevfs_urb urb = { .type = USBDEVFS_URB_TYPE_CONTROL,
		                    .buffer = ubuf,
		                    .buffer_length = sizeof(ubuf) };
	struct usbdevfs_urb *got = NULL;
	CHECK_INT(ioctl(fd, USBDEVFS_SUBMITURB, &urb), 0);
	CHECK_INT(ioctl(fd, USBDEVFS_REAPURB, &got), 0);
	CHECK(got == &urb);
	CHECK_INT(urb.status, 0);
	CHECK_INT(urb.actual_length, 6);
	CHECK_INT(ubuf[8 + 4], 2); /* dfuIDLE */
	errno = 0;
	CHECK_INT(ioctl(fd, USBDEVFS_REAPURBNDELAY, &got), -1);
	CHECK_INT(errno, EAGAIN);
	/* DISCARDURB of a completed URB: EINVAL, like the kernel. */
	CHECK_INT(ioctl(fd, USBDEVFS_SUBMITURB, &urb), 0);
	CHECK_INT(ioctl(fd, USBDEVFS_REAPURB, &got), 0);
	CHECK_INT(ioctl(fd, USBDEVFS_DISCARDURB, &urb), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(ioctl(fd, USBDEVFS_GET_SPEED, NULL), 1); /* USB_SPEED_LOW */
	struct usbdevfs_connectinfo ci = { 0 };
	CHECK_INT(ioctl(fd, USBDEVFS_CONNECTINFO, &ci), 0);
	CHECK_INT(ci.devnum, 2);
	CHECK_INT(ci.slow, 1);
	unsigned iface = 1;
	CHECK_INT(ioctl(fd, USBDEVFS_CLAIMINTERFACE, &iface), -1); /* DFU mode has one */
	CHECK_INT(errno, ENOENT);
	iface = 0;
	CHECK_INT(ioctl(fd, USBDEVFS_CLAIMINTERFACE, &iface), 0);
	close(fd);
}

/* How libusb sees each descriptor fault on a DFU 1.1 device in DFU mode. */
static void check_desc(const char *fault)
{
	libusb_device_handle *h = libusb_open_device_with_vid_pid(ctx, VID, PID_DFU);
	struct libusb_config_descriptor *cfg = NULL;
	uint8_t buf[64];

	CHECK(h != NULL);
	if (!h)
		return;
	int r = libusb_get_config_descriptor(libusb_get_device(h), 0, &cfg);
	CHECK_INT(r, 0);
	if (r)
		return;
	const struct libusb_interface_descriptor *ifd = &cfg->interface[0].altsetting[0];
	int func = libusb_get_descriptor(h, 0x21, 0, buf, sizeof(buf));
	printf("desc=%s: wTotalLength %u, extra %d bytes, GET_DESCRIPTOR(0x21) -> %d\n", fault,
	       cfg->wTotalLength, ifd->extra_length, func);
	if (!strcmp(fault, "ok")) {
		CHECK_INT(ifd->extra_length, 9);
		CHECK_INT(func, 9);
		CHECK_INT(ifd->extra[5] | ifd->extra[6] << 8, 1024);
	} else if (!strcmp(fault, "xfer0")) {
		CHECK_INT(ifd->extra_length, 9);
		CHECK_INT(ifd->extra[5] | ifd->extra[6] << 8, 0);
	} else if (!strcmp(fault, "no-func")) {
		CHECK_INT(ifd->extra_length, 0);
		CHECK_INT(func, LIBUSB_ERROR_PIPE);
	} else if (!strcmp(fault, "trunc-func")) {
		CHECK_INT(ifd->extra_length, 5);
		CHECK_INT(func, 5);
	} else if (!strcmp(fault, "bad-total")) {
		CHECK_INT(cfg->wTotalLength, 27 + 16);
		CHECK_INT(ifd->extra_length, 9);
		int n = libusb_get_descriptor(h, 2, 0, buf, sizeof(buf));
		CHECK_INT(n, 27); /* the device has no more */
	} else if (!strcmp(fault, "bad-blength")) {
		/* libusb 1.0.26 drops a descriptor that runs past the configuration. */
		CHECK_INT(ifd->extra_length, 0);
		CHECK_INT(func, 9);
		CHECK_INT(buf[0], 12);
	} else {
		CHECK(0);
	}
	libusb_free_config_descriptor(cfg);
	libusb_close(h);
}

int main(int argc, char **argv)
{
	start_ms = now_ms();
	if (argc < 2) {
		fprintf(stderr,
		        "usage: emu_usbcheck timeout|cancel|latency|hotplug|unplug|raw|desc F|"
		        "plug MS [dfu]\n");
		return 2;
	}
	if (libusb_init(&ctx)) {
		fprintf(stderr, "libusb_init failed\n");
		return 1;
	}
	if (!strcmp(argv[1], "timeout"))
		check_timeout();
	else if (!strcmp(argv[1], "cancel"))
		check_cancel();
	else if (!strcmp(argv[1], "latency"))
		check_latency();
	else if (!strcmp(argv[1], "hotplug"))
		check_hotplug();
	else if (!strcmp(argv[1], "unplug"))
		check_unplug();
	else if (!strcmp(argv[1], "raw"))
		check_raw();
	else if (!strcmp(argv[1], "desc") && argc > 2)
		check_desc(argv[2]);
	else if (!strcmp(argv[1], "plug") && argc > 2)
		check_plug(strtol(argv[2], NULL, 10), argc > 3 && !strcmp(argv[3], "dfu"));
	else {
		fprintf(stderr, "unknown check %s\n", argv[1]);
		return 2;
	}
	libusb_exit(ctx);
	return check_report();
}
