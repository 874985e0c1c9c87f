/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the HTTP details we parse ourselves (header lines, ETags,
 * Content-Range) and for the cache's meta records, which must also survive a format /
 * parse round trip unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "http_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st7_diag d;
	if (size < 1)
		return 0;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	if (data[0] & 1) {
		struct st7_cache_meta m, again;
		struct st7_buf b;
		if (st7_cache_meta_parse(&m, data + 1, len, &d) != 0)
			return 0;
		st7_buf_init(&b);
		if (st7_cache_meta_format(&m, &b) != 0 ||
		    st7_cache_meta_parse(&again, b.data, b.len, &d) != 0 ||
		    strcmp(m.url, again.url) != 0 || strcmp(m.etag, again.etag) != 0 ||
		    m.last_modified != again.last_modified || m.size != again.size ||
		    strcmp(m.sha256, again.sha256) != 0)
			abort();
		st7_buf_free(&b);
		return 0;
	}
	const char *name, *value;
	size_t nlen, vlen;
	char etag[ST7_ETAG_MAX];
	uint64_t first, last, complete;
	if (st7_http_header_split(s, len, &name, &nlen, &value, &vlen)) {
		if (name < s || value < s || name + nlen > s + len || value + vlen > s + len)
			abort();
		if (st7_http_etag_parse(value, vlen, etag) && strlen(etag) != vlen)
			abort();
		if (st7_http_content_range_parse(value, vlen, &first, &last, &complete, &d) == 0 &&
		    (first > last || (complete != UINT64_MAX && last >= complete)))
			abort();
	}
	return 0;
}
