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

/*
 * What a scan reads beyond the descriptors the OS keeps for every device. A string is a
 * GET_DESCRIPTOR control transfer to the device (USB 2.0 section 9.6.7), and so is the
 * language ID table before it; what the OS already read at enumeration (Linux sysfs:
 * serial, manufacturer and product strings, the raw descriptors) is taken from there
 * instead when it can be.
 */
#define ST7_USB_READ_OPEN 0x01u    /* open it first: open_err; read nothing if it fails */
#define ST7_USB_READ_CHECK 0x02u   /* the raw configuration descriptor, checked */
#define ST7_USB_READ_SERIAL 0x04u  /* iSerialNumber */
#define ST7_USB_READ_PRODUCT 0x08u /* iManufacturer and iProduct */
#define ST7_USB_READ_NAMES 0x10u   /* iInterface of the DFU interface's alt settings */
#define ST7_USB_READ_ALL 0x1Fu
/* A modifier: read only what the OS has cached; never a control transfer. */
#define ST7_USB_READ_CACHED 0x80u
/* What `st7dfu list` shows. */
#define ST7_USB_READ_LIST                                                                      \
	(ST7_USB_READ_OPEN | ST7_USB_READ_CHECK | ST7_USB_READ_SERIAL | ST7_USB_READ_PRODUCT | \
	 ST7_USB_READ_NAMES)

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
	unsigned read;      /* ST7_USB_READ_* bits done (tried: a failed read leaves "") */
	int open_err;       /* 0, or why the device could not be opened to read its strings */
	int raw_config_err; /* 0, or why the raw configuration descriptor is malformed */
	char problem[ST7_DIAG_MAX]; /* first problem met, human-readable ("" if none) */
};

void st7_usb_found_free(struct st7_usb_found *list, size_t n);

/* Is this alternate setting a DFU interface (class FE, subclass 01)? */
bool st7_usb_alt_is_dfu(const struct st7_usb_found_alt *a);

/*
 * The first language ID of string descriptor 0 (USB 2.0 section 9.6.7), from the `n`
 * bytes that arrived. ST7_ERR_FORMAT when they are not a string descriptor holding one.
 */
int st7_usb_langid_decode(const uint8_t *p, size_t n, uint16_t *langid);

/*
 * A string descriptor (USB 2.0 section 9.6.7: bLength, bDescriptorType 3, UTF-16LE code
 * units) as `n` bytes arrived, to printable ASCII in `out` (cap >= 1), as libusb's ASCII
 * reader and our printable rule give it: a unit outside 0x20-0x7E becomes '?', a NUL
 * unit ends the string, an odd last byte is ignored, at most cap - 1 characters.
 * ST7_ERR_FORMAT with `out` "" when under 2 bytes arrived, bDescriptorType is not 3, or
 * bLength claims more than arrived.
 */
int st7_usb_string_decode(const uint8_t *p, size_t n, char *out, size_t cap);

/*
 * The same string as the OS cached it in UTF-8 (Linux sysfs `serial`, converted from the
 * same descriptor): to the ASCII st7_usb_string_decode gives, one '?' per UTF-16 unit
 * that is not printable ASCII (two for a character beyond U+FFFF), one per byte that is
 * not UTF-8. Stops at `n` bytes or a NUL.
 */
void st7_usb_string_from_utf8(const char *s, size_t n, char *out, size_t cap);

#endif
