/* SPDX-License-Identifier: MIT */
/*
 * CRC-32 as the DFU suffix uses it (DFU 1.1 spec, appendix B): reflected polynomial
 * 0xEDB88320, register preset to 0xFFFFFFFF and no final XOR. In zlib terms the DFU
 * value is crc32(data) ^ 0xFFFFFFFF.
 *
 * st7_crc32_update() works on the raw register, so a stream is checked in pieces:
 *     uint32_t c = ST7_CRC32_INIT;
 *     c = st7_crc32_update(c, a, alen);
 *     c = st7_crc32_update(c, b, blen);   // c is now the DFU dwCRC of a||b
 * Thread-safe; the tables are built once on first use.
 */
#ifndef ST7_CRC32_H
#define ST7_CRC32_H

#include <stddef.h>
#include <stdint.h>

#define ST7_CRC32_INIT 0xFFFFFFFFu

uint32_t st7_crc32_update(uint32_t crc, const void *data, size_t len);

/* The DFU suffix CRC of a whole buffer (init 0xFFFFFFFF, no final XOR). */
static inline uint32_t st7_dfu_crc(const void *data, size_t len)
{
	return st7_crc32_update(ST7_CRC32_INIT, data, len);
}

/* The same update, one byte at a time: the reference the fast path is tested against. */
uint32_t st7_crc32_update_bytewise(uint32_t crc, const void *data, size_t len);

#endif
