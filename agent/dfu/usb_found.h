/* SPDX-License-Identifier: MIT */
/*
 * What a USB scan found: plain data describing one device (descriptors, strings, port
 * path, problems met while reading it). Backends fill it; the DFU layer describes it; it
 * owns heap memory only through st7_usb_found_free().
 */
#ifndef ST7_USB_FOUND_H
#define ST7_USB_FOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfu_desc.h"
#include "err.h"

#define ST7_USB_MAX_PORTS 8
#define ST7_USB_STRING_MAX 128

enum st7_usb_speed {
	ST7_USB_SPEED_UNKNOWN,
	ST7_USB_SPEED_LOW,
	ST7_USB_SPEED_FULL,
	ST7_USB_SPEED_HIGH,
	ST7_USB_SPEED_SUPER
};

/* One alternate setting with the string its iInterface names (empty if unread). */
struct st7_usb_found_alt {
	struct st7_usb_altsetting desc; /* desc.extra points into `extra` below */
	uint8_t *extra;
	char name[ST7_USB_STRING_MAX];
};

/* One device as a scan found it. Problems reading it are recorded, not fatal. */
struct st7_usb_found {
	uint8_t bus;
	uint8_t address;
	uint8_t ports[ST7_USB_MAX_PORTS];
	uint8_t n_ports;
	char path[32]; /* "BUS-PORT[.PORT...]", stable across re-enumeration */
	char node[32]; /* "/dev/bus/usb/BBB/DDD" */
	enum st7_usb_speed speed;
	struct st7_usb_device_desc dev;
	bool dev_ok; /* the device descriptor was read and is well-formed */
	struct st7_usb_found_alt *alts;
	size_t n_alts;
	uint8_t *config_extra; /* class descriptors at configuration level */
	size_t config_extra_len;
	int config_err; /* 0, or why the configuration could not be read */
	char manufacturer[ST7_USB_STRING_MAX];
	char product[ST7_USB_STRING_MAX];
	char serial[ST7_USB_STRING_MAX];
	int open_err;       /* 0, or why the device could not be opened to read its strings */
	int raw_config_err; /* 0, or why the raw configuration descriptor is malformed */
	char problem[ST7_DIAG_MAX]; /* first problem met, human-readable ("" if none) */
};

void st7_usb_found_free(struct st7_usb_found *list, size_t n);

#endif
