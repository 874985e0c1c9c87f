/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the S-record reader. Any input must parse or fail cleanly with a
 * message naming a line; whatever parses must survive write -> parse unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "srec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st7_memimg m, back;
	struct st7_start_addr st, st2;
	struct st7_srec_info info, info2;
	struct st7_buf out;
	struct st7_diag d;
	/* Odd sizes also accept a missing termination record. */
	unsigned flags = size & 1 ? ST7_SREC_LENIENT_END : 0;

	st7_memimg_init(&m);
	st7_memimg_init(&back);
	st7_buf_init(&out);
	/* Every parse error is about a line of the input. */
	if (st7_srec_parse((const char *)data, size, flags, &m, &st, &info, &d) != ST7_OK) {
		if (strncmp(d.msg, "line ", 5) != 0)
			abort();
		goto done;
	}
	if (st.segment || info.records < (m.nsegs ? 1u : 0u))
		abort();
	/* Vary the record size with the input so splitting is exercised too. */
	unsigned bpr = 1 + (unsigned)(size % 250);
	const char *hdr = info.header[0] ? info.header : NULL;
	if (st7_srec_write(&m, bpr, hdr, &st, &out) != ST7_OK)
		abort();
	if (st7_srec_parse((const char *)out.data, out.len, 0, &back, &st2, &info2, &d) != ST7_OK)
		abort();
	if (!st7_memimg_equal(&m, &back))
		abort();
	/* The writer always terminates, with 0 when there was no start address. */
	if (!st2.present || st2.addr != (st.present ? st.addr : 0))
		abort();
	if (strcmp(info.header, info2.header) != 0)
		abort();
done:
	st7_buf_free(&out);
	st7_memimg_free(&back);
	st7_memimg_free(&m);
	return 0;
}
