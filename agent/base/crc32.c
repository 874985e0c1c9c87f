/* SPDX-License-Identifier: MIT */
/*
 * Table-driven slice-by-16 CRC-32: sixteen 256-entry tables let the loop fold 16 input
 * bytes per iteration with independent lookups, which is what lifts it from ~400 MB/s
 * (byte at a time) to several GB/s on current CPUs, with 16 KiB of tables.
 */
#include "crc32.h"

#include <pthread.h>
#include <string.h>

#define CRC32_POLY 0xEDB88320u
#define SLICES 16

static uint32_t crc_tables[SLICES][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_build_tables(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32_POLY & (0u - (c & 1u)));
		crc_tables[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int s = 1; s < SLICES; s++)
			crc_tables[s][i] = (crc_tables[s - 1][i] >> 8) ^
			                   crc_tables[0][crc_tables[s - 1][i] & 0xFFu];
}

uint32_t st7_crc32_update_bytewise(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	pthread_once(&crc_once, crc_build_tables);
	while (len--)
		crc = (crc >> 8) ^ crc_tables[0][(crc ^ *p++) & 0xFFu];
	return crc;
}

/* Little-endian 32-bit load without alignment assumptions (memcpy compiles to a mov). */
static inline uint32_t load_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

uint32_t st7_crc32_update(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	const uint32_t(*t)[256] = (const uint32_t(*)[256])crc_tables;
	pthread_once(&crc_once, crc_build_tables);
	while (len >= 16) {
		uint32_t a = load_le32(p) ^ crc;
		uint32_t b = load_le32(p + 4);
		uint32_t c = load_le32(p + 8);
		uint32_t d = load_le32(p + 12);
		crc = t[15][a & 0xFF] ^ t[14][(a >> 8) & 0xFF] ^ t[13][(a >> 16) & 0xFF] ^
		      t[12][a >> 24] ^ t[11][b & 0xFF] ^ t[10][(b >> 8) & 0xFF] ^
		      t[9][(b >> 16) & 0xFF] ^ t[8][b >> 24] ^ t[7][c & 0xFF] ^
		      t[6][(c >> 8) & 0xFF] ^ t[5][(c >> 16) & 0xFF] ^ t[4][c >> 24] ^
		      t[3][d & 0xFF] ^ t[2][(d >> 8) & 0xFF] ^ t[1][(d >> 16) & 0xFF] ^
		      t[0][d >> 24];
		p += 16;
		len -= 16;
	}
	while (len--)
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFFu];
	return crc;
}
