/* SPDX-License-Identifier: MIT */
#include "dfu_desc.h"

#include <string.h>

#include "buf.h"

#define USB_DT_DEVICE 0x01
#define USB_DT_INTERFACE 0x04

const char *st7_dfu_mode_name(enum st7_dfu_mode m)
{
	switch (m) {
	case ST7_DFU_MODE_RUNTIME:
		return "runtime";
	case ST7_DFU_MODE_DFU:
		return "dfu";
	case ST7_DFU_MODE_NONE:
		break;
	}
	return "none";
}

int st7_usb_device_desc_parse(const uint8_t *p, size_t len, struct st7_usb_device_desc *out,
                              struct st7_diag *d)
{
	memset(out, 0, sizeof(*out));
	if (len < 18)
		return st7_diag_set(d, ST7_ERR_FORMAT, "device descriptor: %zu bytes, need 18",
		                    len);
	if (p[0] != 18 || p[1] != USB_DT_DEVICE)
		return st7_diag_set(
		        d, ST7_ERR_FORMAT,
		        "device descriptor: bLength %u bDescriptorType 0x%02X, expected "
		        "18 and 0x01",
		        p[0], p[1]);
	out->bcd_usb = st7_le16(p + 2);
	out->device_class = p[4];
	out->device_subclass = p[5];
	out->device_protocol = p[6];
	out->max_packet_size0 = p[7];
	out->id_vendor = st7_le16(p + 8);
	out->id_product = st7_le16(p + 10);
	out->bcd_device = st7_le16(p + 12);
	out->i_manufacturer = p[14];
	out->i_product = p[15];
	out->i_serial = p[16];
	out->num_configurations = p[17];
	return ST7_OK;
}

int st7_usb_config_check(const uint8_t *p, size_t len, struct st7_diag *d)
{
	if (len < 9)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "configuration descriptor: %zu bytes arrived, need 9", len);
	if (p[0] != 9 || p[1] != 0x02)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "configuration descriptor: bLength %u bDescriptorType 0x%02X, "
		                    "expected 9 and 0x02",
		                    p[0], p[1]);
	size_t total = st7_le16(p + 2);
	if (total < 9)
		return st7_diag_set(d, ST7_ERR_FORMAT, "configuration descriptor: wTotalLength %zu",
		                    total);
	if (total > len)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "configuration descriptor: wTotalLength %zu, but the device "
		                    "returned %zu bytes",
		                    total, len);
	for (size_t off = 0; off < total;) {
		size_t left = total - off;
		if (left < 2 || p[off] < 2 || p[off] > left)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "configuration descriptor: descriptor at offset %zu has "
			        "bLength %u where %zu bytes remain",
			        off, p[off], left);
		off += p[off];
	}
	return ST7_OK;
}

int st7_dfu_func_find(const uint8_t *p, size_t len, struct st7_dfu_func *out, struct st7_diag *d)
{
	const uint8_t *end = p + len;
	memset(out, 0, sizeof(*out));
	while (p < end) {
		size_t left = (size_t)(end - p);
		if (left < 2 || p[0] < 2 || p[0] > left)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "class descriptor with bLength %u where %zu bytes remain", p[0],
			        left);
		if (p[1] == ST7_DFU_FUNC_DESC_TYPE) {
			if (p[0] < 7)
				return st7_diag_set(
				        d, ST7_ERR_FORMAT,
				        "DFU functional descriptor: bLength %u, need at "
				        "least 7",
				        p[0]);
			out->present = true;
			out->length = p[0];
			out->attributes = p[2];
			out->detach_timeout_ms = st7_le16(p + 3);
			out->transfer_size = st7_le16(p + 5);
			/* DFU 1.0 ends here; 1.1 adds bcdDFUVersion. */
			out->bcd_dfu = p[0] >= 9 ? st7_le16(p + 7) : 0x0100;
			return ST7_OK;
		}
		p += p[0];
	}
	return ST7_OK;
}

static bool is_dfu_alt(const struct st7_usb_altsetting *a)
{
	return a->cls == ST7_USB_CLASS_APP_SPECIFIC && a->subclass == ST7_USB_SUBCLASS_DFU;
}

int st7_dfu_describe(const struct st7_usb_device_desc *dev, const struct st7_usb_altsetting *alts,
                     size_t n_alts, const uint8_t *config_extra, size_t config_extra_len,
                     struct st7_dfu_summary *out, struct st7_diag *d)
{
	const struct st7_usb_altsetting *first = NULL;
	bool other_interfaces = false;
	int ret;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_alts; i++) {
		const struct st7_usb_altsetting *a = &alts[i];
		if (!is_dfu_alt(a)) {
			other_interfaces = true;
			continue;
		}
		if (!first) {
			first = a;
			out->interface = a->number;
		} else if (a->number != first->number) {
			/* A second DFU interface: dfu-util would pick one; we refuse to guess. */
			out->mode = ST7_DFU_MODE_DFU;
			out->malformed = true;
			st7_diag_set(d, ST7_ERR_UNSUPPORTED,
			             "DFU interfaces on both interface %u and %u", first->number,
			             a->number);
			continue;
		}
		if (out->n_alts < ST7_DFU_MAX_ALTS) {
			out->alts[out->n_alts] = a->alt;
			out->alt_names[out->n_alts] = a->i_interface;
			out->n_alts++;
		}
		if (!out->func.present && a->extra_len) {
			ret = st7_dfu_func_find(a->extra, a->extra_len, &out->func, d);
			if (ret) {
				out->malformed = true;
				out->func.present = false;
			}
		}
	}
	if (!first)
		return ST7_OK;
	if (!out->func.present && !out->malformed && config_extra_len) {
		if (st7_dfu_func_find(config_extra, config_extra_len, &out->func, d))
			out->malformed = true;
	}

	/* Mode: protocol 1/2 decide (DFU 1.1); protocol 0 is DFU 1.0, where the device
	 * class or a lone DFU interface marks the loader. */
	if (first->protocol == 1)
		out->mode = ST7_DFU_MODE_RUNTIME;
	else if (first->protocol == 2)
		out->mode = ST7_DFU_MODE_DFU;
	else if ((dev->device_class == ST7_USB_CLASS_APP_SPECIFIC &&
	          dev->device_subclass == ST7_USB_SUBCLASS_DFU) ||
	         !other_interfaces)
		out->mode = ST7_DFU_MODE_DFU;
	else
		out->mode = ST7_DFU_MODE_RUNTIME;

	if (out->malformed)
		return ST7_OK;
	if (!out->func.present) {
		out->malformed = true;
		st7_diag_set(d, ST7_ERR_FORMAT, "DFU interface %u has no DFU functional descriptor",
		             out->interface);
		return ST7_OK;
	}
	out->dfu_version = out->func.bcd_dfu;
	if (out->func.transfer_size == 0 || out->func.transfer_size > ST7_DFU_MAX_TRANSFER) {
		out->malformed = true;
		st7_diag_set(d, ST7_ERR_FORMAT,
		             "DFU functional descriptor: wTransferSize %u, expected 1..%u",
		             out->func.transfer_size, ST7_DFU_MAX_TRANSFER);
	}
	return ST7_OK;
}
