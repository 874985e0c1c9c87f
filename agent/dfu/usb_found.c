/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "usb_found.h"

#define DT_STRING 0x03 /* USB 2.0 table 9-5 */

void st7_usb_found_free(struct st7_usb_found *list, size_t n)
{
	if (!list)
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < list[i].n_alts; k++)
			free(list[i].alts[k].extra);
		free(list[i].alts);
		free(list[i].config_extra);
	}
	free(list);
}

bool st7_usb_alt_is_dfu(const struct st7_usb_found_alt *a)
{
	return a->desc.cls == ST7_USB_CLASS_APP_SPECIFIC &&
	       a->desc.subclass == ST7_USB_SUBCLASS_DFU;
}

/* The header of a string descriptor: the bytes its code units may use, or 0 when it is
 * not one. A bLength beyond what arrived is refused (as libusb does), not trusted. */
static size_t string_span(const uint8_t *p, size_t n)
{
	if (!p || n < 2 || p[1] != DT_STRING || p[0] > n)
		return 0;
	return p[0] < 2 ? 2 : p[0];
}

int st7_usb_langid_decode(const uint8_t *p, size_t n, uint16_t *langid)
{
	size_t span = string_span(p, n);
	*langid = 0;
	if (span < 4)
		return ST7_ERR_FORMAT;
	*langid = (uint16_t)(p[2] | p[3] << 8);
	return ST7_OK;
}

int st7_usb_string_decode(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t span = string_span(p, n), k = 0;
	if (!cap)
		return ST7_ERR_INVALID;
	out[0] = '\0';
	if (!span)
		return ST7_ERR_FORMAT;
	for (size_t i = 2; i + 1 < span && k + 1 < cap; i += 2) {
		unsigned u = (unsigned)p[i] | (unsigned)p[i + 1] << 8;
		if (!u)
			break;
		/* An unpaired surrogate is dropped, as the kernel's sysfs copy drops it, so
		 * that both ways of reading a serial give the same text. A pair is two units
		 * and two '?', as the UTF-8 decoder below gives for it. */
		if (u >= 0xD800 && u <= 0xDFFF) {
			unsigned lo =
			        i + 3 < span ? (unsigned)p[i + 2] | (unsigned)p[i + 3] << 8 : 0;
			if (u >= 0xDC00 || lo < 0xDC00 || lo > 0xDFFF)
				continue;
			out[k++] = '?';
			if (k + 1 < cap)
				out[k++] = '?';
			i += 2;
			continue;
		}
		out[k++] = u >= 0x20 && u <= 0x7E ? (char)u : '?';
	}
	out[k] = '\0';
	return ST7_OK;
}

void st7_usb_string_from_utf8(const char *s, size_t n, char *out, size_t cap)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k = 0;
	if (!cap)
		return;
	for (size_t i = 0; i < n && u[i] && k + 1 < cap;) {
		unsigned c = u[i], more = c >= 0xF0 && c <= 0xF4   ? 3
		                          : c >= 0xE0 && c <= 0xEF ? 2
		                          : c >= 0xC2 && c <= 0xDF ? 1
		                                                   : 0;
		size_t j = 1;
		while (j <= more && i + j < n && (u[i + j] & 0xC0) == 0x80)
			j++;
		if (c < 0x80 || j <= more) { /* ASCII, or a byte that starts nothing complete */
			out[k++] = c >= 0x20 && c <= 0x7E ? (char)c : '?';
			i++;
			continue;
		}
		out[k++] = '?'; /* one UTF-16 unit, or a surrogate pair: two */
		if (more == 3 && k + 1 < cap)
			out[k++] = '?';
		i += j;
	}
	out[k] = '\0';
}
