/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the journal record: any bytes either decode, or fail with the
 * record zeroed and a message. Whatever decodes re-encodes to exactly the same bytes (the
 * format is canonical) and decodes again to the same struct. Each input is also tried
 * sealed, with a matching crc32 line appended, so that the fuzzer reaches the line
 * parser behind the CRC (a mutation almost never keeps a CRC right).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "journal_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void one(const uint8_t *data, size_t size)
{
	static struct st7_journal_rec r, again;
	struct st7_diag d = { "" };
	struct st7_buf b;
	int ret = st7_journal_rec_decode(data, size, &r, &d);
	if (ret != 0) {
		if (ret > 0 || d.msg[0] == '\0' || !all_zero(&r, sizeof(r)))
			abort();
		return;
	}
	if (st7_journal_rec_check(&r, NULL) != 0)
		abort();
	st7_buf_init(&b);
	if (st7_journal_rec_encode(&r, &b) != 0 || b.len != size || memcmp(b.data, data, size) != 0)
		abort();
	if (st7_journal_rec_decode(b.data, b.len, &again, &d) != 0 ||
	    memcmp(&again, &r, sizeof(r)) != 0)
		abort();
	st7_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sealed[ST7_JOURNAL_REC_MAX + 16];
	one(data, size);
	if (size <= ST7_JOURNAL_REC_MAX) {
		memcpy(sealed, data, size);
		snprintf((char *)sealed + size, 16, "crc32=%08" PRIx32 "\n",
		         st7_dfu_crc(data, size) ^ 0xFFFFFFFFu);
		one(sealed, size + 15);
	}
	return 0;
}
