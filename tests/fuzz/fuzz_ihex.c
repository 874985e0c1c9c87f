/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the Intel HEX reader. Any input must parse or fail cleanly with a
 * message naming a line; whatever parses must survive write -> parse unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "ihex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st7_memimg m, back;
	struct st7_start_addr st, st2;
	struct st7_buf out;
	struct st7_diag d;

	st7_memimg_init(&m);
	st7_memimg_init(&back);
	st7_buf_init(&out);
	/* Every parse error is about a line of the input. */
	if (st7_ihex_parse((const char *)data, size, &m, &st, &d) != ST7_OK) {
		if (strncmp(d.msg, "line ", 5) != 0)
			abort();
		goto done;
	}
	/* Vary the record size with the input so splitting is exercised too. */
	unsigned bpr = 1 + (unsigned)(size % 255);
	if (st7_ihex_write(&m, bpr, &st, &out) != ST7_OK)
		abort();
	if (st7_ihex_parse((const char *)out.data, out.len, &back, &st2, &d) != ST7_OK)
		abort();
	if (!st7_memimg_equal(&m, &back))
		abort();
	if (st.present != st2.present ||
	    (st.present && (st.segment != st2.segment || st.addr != st2.addr)))
		abort();
done:
	st7_buf_free(&out);
	st7_memimg_free(&back);
	st7_memimg_free(&m);
	return 0;
}
