/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "check.h"
#include "crc32.h"

int main(void)
{
	/* The CRC-32 check value of "123456789" is 0xCBF43926 with the final XOR; DFU
	 * omits that XOR. */
	CHECK_INT(st7_dfu_crc("123456789", 9), 0xCBF43926u ^ 0xFFFFFFFFu);
	CHECK_INT(st7_dfu_crc("", 0), 0xFFFFFFFFu);
	CHECK_INT(st7_crc32_update_bytewise(ST7_CRC32_INIT, "123456789", 9), 0x340BC6D9u);

	/* The sliced path equals the bytewise reference for every length and alignment,
	 * and splitting a stream anywhere gives the same result. */
	enum { N = 4096 + 64 };
	unsigned char *buf = malloc(N);
	unsigned seed = 12345;
	for (size_t i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
	int bad = 0;
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len < 300; len++)
			if (st7_crc32_update(ST7_CRC32_INIT, buf + off, len) !=
			    st7_crc32_update_bytewise(ST7_CRC32_INIT, buf + off, len))
				bad++;
	CHECK_INT(bad, 0);
	uint32_t whole = st7_dfu_crc(buf, N);
	for (size_t cut = 0; cut <= N; cut += 97) {
		uint32_t c = st7_crc32_update(ST7_CRC32_INIT, buf, cut);
		c = st7_crc32_update(c, buf + cut, N - cut);
		if (c != whole)
			bad++;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(whole, st7_crc32_update_bytewise(ST7_CRC32_INIT, buf, N));
	free(buf);
	return check_report();
}
