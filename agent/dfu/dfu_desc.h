/* SPDX-License-Identifier: MIT */
/*
 * DFU descriptors: the functional descriptor (DFU 1.1 section 4.1.3 / 4.2.4; DFU 1.0
 * has no bcdDFUVersion and is 7 bytes), which interfaces are DFU interfaces, and which
 * mode a device is in. Pure: the USB backend hands over what it read; a device is
 * hostile input, so every length is checked and problems are reported, not trusted.
 *
 * Mode (DFU 1.1 section 4.2.1, DFU 1.0 table 4.3): interface protocol 1 is runtime and
 * 2 is DFU mode. DFU 1.0 devices report protocol 0 in both modes; there a device is in
 * DFU mode when its device class is FE/01 or its configuration holds DFU interfaces
 * only (the loader), and in runtime mode when the DFU interface sits beside the
 * application's own interfaces.
 */
#ifndef ST7_DFU_DESC_H
#define ST7_DFU_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ST7_USB_CLASS_APP_SPECIFIC 0xFE
#define ST7_USB_SUBCLASS_DFU 0x01
#define ST7_DFU_FUNC_DESC_TYPE 0x21

/* bmAttributes bits (DFU 1.1 table 4.2) */
#define ST7_DFU_ATTR_CAN_DNLOAD 0x01
#define ST7_DFU_ATTR_CAN_UPLOAD 0x02
#define ST7_DFU_ATTR_MANIFEST_TOLERANT 0x04
#define ST7_DFU_ATTR_WILL_DETACH 0x08

/* Transfer sizes beyond this are not believed (the control pipe limit is 64 KiB - 1;
 * real DFU devices use 8..4096). */
#define ST7_DFU_MAX_TRANSFER 4096

/* The device descriptor fields we use (USB 2.0 table 9-8). */
struct st7_usb_device_desc {
	uint16_t bcd_usb;
	uint8_t device_class, device_subclass, device_protocol;
	uint8_t max_packet_size0;
	uint16_t id_vendor, id_product, bcd_device;
	uint8_t i_manufacturer, i_product, i_serial;
	uint8_t num_configurations;
};

/* Decode an 18-byte device descriptor; checks bLength and bDescriptorType. */
int st7_usb_device_desc_parse(const uint8_t *p, size_t len, struct st7_usb_device_desc *out,
                              struct st7_diag *d);

/* One interface alternate setting as the backend found it; `extra` holds the class
 * descriptors that follow it (where the DFU functional descriptor lives). Borrowed. */
struct st7_usb_altsetting {
	uint8_t number, alt;
	uint8_t cls, subclass, protocol;
	uint8_t i_interface;
	const uint8_t *extra;
	size_t extra_len;
};

/*
 * Check a raw configuration descriptor as the device returned it (USB 2.0 section
 * 9.6.3): the 9-byte header, wTotalLength against what arrived, and every contained
 * descriptor's bLength. libusb's parser quietly truncates or skips what does not fit;
 * this names it.
 */
int st7_usb_config_check(const uint8_t *p, size_t len, struct st7_diag *d);

struct st7_dfu_func {
	bool present;
	uint8_t length; /* bLength as found: 7 (DFU 1.0) or 9 */
	uint8_t attributes;
	uint16_t detach_timeout_ms;
	uint16_t transfer_size;
	uint16_t bcd_dfu; /* bcdDFUVersion; 0x0100 for a 7-byte descriptor */
};

/*
 * Find and decode the DFU functional descriptor in a run of class descriptors.
 * ST7_OK with present=false when there is none; ST7_ERR_FORMAT when a descriptor's
 * bLength is 0/1 or runs past the buffer, or the functional descriptor is shorter
 * than 7 bytes.
 */
int st7_dfu_func_find(const uint8_t *p, size_t len, struct st7_dfu_func *out, struct st7_diag *d);

enum st7_dfu_mode { ST7_DFU_MODE_NONE, ST7_DFU_MODE_RUNTIME, ST7_DFU_MODE_DFU };

#define ST7_DFU_MAX_ALTS 32

struct st7_dfu_summary {
	enum st7_dfu_mode mode;
	uint8_t interface; /* the DFU interface number */
	unsigned n_alts;
	uint8_t alts[ST7_DFU_MAX_ALTS];      /* alternate setting numbers, in order found */
	uint8_t alt_names[ST7_DFU_MAX_ALTS]; /* their iInterface string indexes */
	struct st7_dfu_func func;
	uint16_t dfu_version; /* 0x0100, 0x0110 or 0x011A */
	/* Set when the device is DFU-capable but unusable as described (message in diag). */
	bool malformed;
};

/*
 * Classify a device from its descriptors. `config_extra` is class-specific data found
 * at configuration level (some devices put the functional descriptor there).
 * Returns ST7_OK with mode NONE for a device without a DFU interface. For a DFU device
 * whose descriptors are unusable (no or truncated functional descriptor, wTransferSize
 * 0 or absurd, DFU interfaces on several interface numbers) it returns ST7_OK with
 * `malformed` set and the reason in diag, so a listing can show the device.
 */
int st7_dfu_describe(const struct st7_usb_device_desc *dev, const struct st7_usb_altsetting *alts,
                     size_t n_alts, const uint8_t *config_extra, size_t config_extra_len,
                     struct st7_dfu_summary *out, struct st7_diag *d);

const char *st7_dfu_mode_name(enum st7_dfu_mode m);

#endif
