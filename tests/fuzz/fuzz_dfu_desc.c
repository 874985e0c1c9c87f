/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what a hostile USB device can hand us: a device descriptor,
 * interface class descriptors (the DFU functional descriptor) and the DfuSe layout
 * strings it names its alt settings with. Input layout: byte 0 = number of alt
 * settings (mod 8), then per alt 4 header bytes (class, subclass, protocol, extra
 * length) and the extra bytes; the rest is split between a device descriptor and a
 * layout string.
 */
#include <stdlib.h>
#include <string.h>

#include "dfu_desc.h"
#include "dfuse_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct st7_usb_altsetting alts[8];
	size_t n = 0;
	struct st7_diag d;

	if (p < end)
		n = *p++ % 8;
	for (size_t i = 0; i < n; i++) {
		if (end - p < 4) {
			n = i;
			break;
		}
		size_t len = p[3];
		if ((size_t)(end - p - 4) < len)
			len = (size_t)(end - p - 4);
		alts[i] = (struct st7_usb_altsetting){
			(uint8_t)(i / 2), (uint8_t)(i % 2), p[0], p[1], p[2], 0, p + 4, len
		};
		p += 4 + len;
	}
	struct st7_usb_device_desc dev;
	st7_usb_device_desc_parse(p, (size_t)(end - p), &dev, &d);
	struct st7_dfu_summary s;
	size_t half = (size_t)(end - p) / 2;
	if (st7_dfu_describe(&dev, alts, n, p, half, &s, &d) != ST7_OK)
		abort(); /* describe reports problems in the summary, never by failing */
	if (s.n_alts > ST7_DFU_MAX_ALTS)
		abort();
	struct st7_dfu_func f;
	st7_dfu_func_find(p, (size_t)(end - p), &f, &d);

	struct st7_dfuse_layout l;
	if (st7_dfuse_layout_parse((const char *)p + half, (size_t)(end - p) - half, &l, &d) ==
	    ST7_OK) {
		if (l.n == 0 || l.n > ST7_DFUSE_MAX_SEGMENTS ||
		    memchr(l.name, 0, sizeof(l.name)) == NULL)
			abort();
		for (unsigned i = 0; i < l.n; i++) {
			uint64_t e = (uint64_t)l.seg[i].start +
			             (uint64_t)l.seg[i].pages * l.seg[i].page_size;
			if (e > ((uint64_t)1 << 32) || !l.seg[i].pages || !l.seg[i].page_size)
				abort();
			uint32_t sect;
			if (st7_dfuse_layout_find(&l, l.seg[i].start, &sect) == NULL)
				abort();
		}
	}
	return 0;
}
