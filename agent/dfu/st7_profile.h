/* SPDX-License-Identifier: MIT */
/*
 * The ST7 USB parts st7dfu knows (see shared/design/st7-device-model.md): flash map,
 * the region DFU may write (sectors 1 and 2), and the transfer size.
 * The application's version word is the last two bytes of the writable region,
 * big-endian BCD (01 23 = 1.23); a well-formed image carries the same value as its
 * DFU suffix's bcdDevice.
 */
#ifndef ST7_PROFILE_H
#define ST7_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct st7_profile {
	const char *name;       /* "st72f65": what --profile takes */
	const char *part;       /* "ST72F65x" */
	uint32_t flash_base;    /* first flash address */
	uint32_t flash_end;     /* one past the last flash address (0x10000) */
	uint32_t region_base;   /* first DFU-writable address */
	uint32_t region_end;    /* one past the last writable address (0xF000) */
	uint16_t transfer_size; /* wTransferSize */
	bool full_speed;
};

/* NULL when unknown. */
const struct st7_profile *st7_profile_find(const char *name);

/* The profile whose writable region is exactly `size` bytes, or NULL. */
const struct st7_profile *st7_profile_by_region_size(size_t size);

/* STMicroelectronics' USB vendor ID, which ST7 parts enumerate with. */
#define ST7_ST_VENDOR_ID 0x0483

/*
 * Does a DFU device look like an ST7 at all: ST's vendor ID and a DFU 1.0 functional
 * descriptor (7 bytes)? The one ST7 detection rule: such a device is handled as an ST7
 * (and refused when no part fits), never as a generic DFU device.
 */
bool st7_profile_family(uint16_t id_vendor, uint8_t func_length);

/*
 * Which profiles a DFU device's descriptors fit (bit i = st7_profile_at(i)): ST's
 * vendor ID, a DFU 1.0 functional descriptor (7 bytes), bMaxPacketSize0 8, and the
 * profile's wTransferSize and bus speed. ST72F62 and ST72F63 look alike on the bus
 * (both low speed, 64-byte transfers), so both bits may be set.
 */
unsigned st7_profile_match(uint16_t id_vendor, uint8_t max_packet0, bool full_speed,
                           uint8_t func_length, uint16_t transfer_size);

size_t st7_profile_count(void);
const struct st7_profile *st7_profile_at(size_t i);

static inline uint32_t st7_profile_region_size(const struct st7_profile *p)
{
	return p->region_end - p->region_base;
}

/* Address of the big-endian version word: the region's last two bytes. */
static inline uint32_t st7_profile_version_addr(const struct st7_profile *p)
{
	return p->region_end - 2;
}

#endif
