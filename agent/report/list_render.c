/* SPDX-License-Identifier: MIT */
#include "list_render.h"

#include <stdio.h>
#include <string.h>

#include "st7_profile.h"

static const char *dfu_version_name(uint16_t v)
{
	switch (v) {
	case 0x0100:
		return "DFU 1.0";
	case 0x0110:
		return "DFU 1.1";
	case 0x011A:
		return "DfuSe";
	}
	return "DFU ?";
}

static const char *speed_name(enum st7_usb_speed s)
{
	static const char *const names[] = { "unknown", "low", "full", "high", "super" };
	return names[s <= ST7_USB_SPEED_SUPER ? s : 0];
}

static void profile_names(unsigned mask, char *out, size_t cap)
{
	out[0] = '\0';
	for (size_t i = 0; i < st7_profile_count(); i++)
		if (mask & (1u << i)) {
			size_t w = strlen(out);
			snprintf(out + w, cap - w, "%s%s", w ? "/" : "", st7_profile_at(i)->name);
		}
}

static void size_text(uint32_t bytes, char *out, size_t cap)
{
	if (bytes % (1024 * 1024) == 0)
		snprintf(out, cap, "%u MiB", bytes / (1024 * 1024));
	else if (bytes % 1024 == 0)
		snprintf(out, cap, "%u KiB", bytes / 1024);
	else
		snprintf(out, cap, "%u bytes", bytes);
}

void st7_dfu_list_text(const struct st7_dfu_device *devs, size_t n, struct st7_buf *out)
{
	if (n == 0)
		st7_buf_printf(out, "no DFU devices found\n");
	for (size_t i = 0; i < n; i++) {
		const struct st7_dfu_device *dv = &devs[i];
		const struct st7_usb_found *f = dv->usb;
		const struct st7_dfu_func *fn = &dv->dfu.func;
		st7_buf_printf(out, "%s  %04x:%04x  %s mode  %s  bcdDevice 0x%04X", f->path,
		               f->dev.id_vendor, f->dev.id_product, st7_dfu_mode_name(dv->dfu.mode),
		               fn->present ? dfu_version_name(dv->dfu.dfu_version) : "DFU ?",
		               f->dev.bcd_device);
		if (f->serial[0])
			st7_buf_printf(out, "  serial \"%s\"", f->serial);
		if (f->manufacturer[0] || f->product[0])
			st7_buf_printf(out, "\n    \"%s\" \"%s\", %s speed, %s\n", f->manufacturer,
			               f->product, speed_name(f->speed), f->node);
		else
			st7_buf_printf(out, "\n    %s speed, %s\n", speed_name(f->speed), f->node);
		if (fn->present) {
			st7_buf_printf(out,
			               "    interface %u, attributes 0x%02X (%s%s%s%s), detach "
			               "timeout %u ms, transfer size %u\n",
			               dv->dfu.interface, fn->attributes,
			               fn->attributes & ST7_DFU_ATTR_CAN_DNLOAD ? "download"
			                                                        : "no download",
			               fn->attributes & ST7_DFU_ATTR_CAN_UPLOAD ? ", upload" : "",
			               fn->attributes & ST7_DFU_ATTR_MANIFEST_TOLERANT
			                       ? ", manifestation tolerant"
			                       : "",
			               fn->attributes & ST7_DFU_ATTR_WILL_DETACH ? ", will detach"
			                                                         : "",
			               fn->detach_timeout_ms, fn->transfer_size);
		}
		if (dv->profiles) {
			char names[64];
			profile_names(dv->profiles, names, sizeof(names));
			st7_buf_printf(out, "    ST7 profile %s\n", names);
		}
		for (unsigned a = 0; a < dv->dfu.n_alts; a++) {
			st7_buf_printf(out, "    alt %u \"%s\"\n", dv->dfu.alts[a],
			               dv->alt_name[a]);
			if (!dv->layout_ok[a])
				continue;
			const struct st7_dfuse_layout *l = &dv->layout[a];
			for (unsigned s = 0; s < l->n; s++) {
				char sz[32];
				size_text(l->seg[s].page_size, sz, sizeof(sz));
				st7_buf_printf(out, "      0x%08X  %u x %s  %s%s%s\n",
				               l->seg[s].start, l->seg[s].pages, sz,
				               l->seg[s].attrs & ST7_DFUSE_READABLE ? "r" : "-",
				               l->seg[s].attrs & ST7_DFUSE_ERASABLE ? "e" : "-",
				               l->seg[s].attrs & ST7_DFUSE_WRITABLE ? "w" : "-");
			}
		}
		if (dv->problem[0])
			st7_buf_printf(out, "    PROBLEM: %s\n", dv->problem);
	}
}

static void json_str_or_null(struct st7_json *j, const char *key, const char *s)
{
	st7_json_key(j, key);
	if (s && s[0])
		st7_json_str(j, s);
	else
		st7_json_null(j);
}

void st7_dfu_list_json(const struct st7_dfu_device *devs, size_t n, struct st7_json *j)
{
	st7_json_obj_begin(j);
	st7_json_key(j, "devices");
	st7_json_arr_begin(j);
	for (size_t i = 0; i < n; i++) {
		const struct st7_dfu_device *dv = &devs[i];
		const struct st7_usb_found *f = dv->usb;
		const struct st7_dfu_func *fn = &dv->dfu.func;
		st7_json_obj_begin(j);
		st7_json_kv_str(j, "path", f->path);
		st7_json_kv_uint(j, "bus", f->bus);
		st7_json_kv_uint(j, "address", f->address);
		st7_json_kv_str(j, "node", f->node);
		st7_json_kv_str(j, "speed", speed_name(f->speed));
		st7_json_kv_uint(j, "vid", f->dev.id_vendor);
		st7_json_kv_uint(j, "pid", f->dev.id_product);
		st7_json_kv_uint(j, "bcdDevice", f->dev.bcd_device);
		json_str_or_null(j, "manufacturer", f->manufacturer);
		json_str_or_null(j, "product", f->product);
		json_str_or_null(j, "serial", f->serial);
		st7_json_kv_str(j, "mode",
		                dv->dfu.mode == ST7_DFU_MODE_NONE
		                        ? "unknown"
		                        : st7_dfu_mode_name(dv->dfu.mode));
		st7_json_key(j, "dfu_version");
		if (fn->present)
			st7_json_uint(j, dv->dfu.dfu_version);
		else
			st7_json_null(j);
		st7_json_kv_uint(j, "interface", dv->dfu.interface);
		st7_json_key(j, "attributes");
		if (fn->present) {
			st7_json_obj_begin(j);
			st7_json_kv_uint(j, "raw", fn->attributes);
			st7_json_kv_bool(j, "download", fn->attributes & ST7_DFU_ATTR_CAN_DNLOAD);
			st7_json_kv_bool(j, "upload", fn->attributes & ST7_DFU_ATTR_CAN_UPLOAD);
			st7_json_kv_bool(j, "manifestation_tolerant",
			                 fn->attributes & ST7_DFU_ATTR_MANIFEST_TOLERANT);
			st7_json_kv_bool(j, "will_detach",
			                 fn->attributes & ST7_DFU_ATTR_WILL_DETACH);
			st7_json_obj_end(j);
		} else {
			st7_json_null(j);
		}
		st7_json_key(j, "detach_timeout_ms");
		if (fn->present)
			st7_json_uint(j, fn->detach_timeout_ms);
		else
			st7_json_null(j);
		st7_json_key(j, "transfer_size");
		if (fn->present)
			st7_json_uint(j, fn->transfer_size);
		else
			st7_json_null(j);
		st7_json_key(j, "alts");
		st7_json_arr_begin(j);
		for (unsigned a = 0; a < dv->dfu.n_alts; a++) {
			st7_json_obj_begin(j);
			st7_json_kv_uint(j, "alt", dv->dfu.alts[a]);
			json_str_or_null(j, "name", dv->alt_name[a]);
			st7_json_key(j, "layout");
			if (dv->layout_ok[a]) {
				const struct st7_dfuse_layout *l = &dv->layout[a];
				st7_json_obj_begin(j);
				st7_json_kv_str(j, "name", l->name);
				st7_json_key(j, "segments");
				st7_json_arr_begin(j);
				for (unsigned s = 0; s < l->n; s++) {
					st7_json_obj_begin(j);
					st7_json_kv_uint(j, "address", l->seg[s].start);
					st7_json_kv_uint(j, "pages", l->seg[s].pages);
					st7_json_kv_uint(j, "page_size", l->seg[s].page_size);
					st7_json_kv_bool(j, "readable",
					                 l->seg[s].attrs & ST7_DFUSE_READABLE);
					st7_json_kv_bool(j, "erasable",
					                 l->seg[s].attrs & ST7_DFUSE_ERASABLE);
					st7_json_kv_bool(j, "writable",
					                 l->seg[s].attrs & ST7_DFUSE_WRITABLE);
					st7_json_obj_end(j);
				}
				st7_json_arr_end(j);
				st7_json_obj_end(j);
			} else {
				st7_json_null(j);
			}
			st7_json_obj_end(j);
		}
		st7_json_arr_end(j);
		st7_json_key(j, "st7_profiles");
		st7_json_arr_begin(j);
		for (size_t p = 0; p < st7_profile_count(); p++)
			if (dv->profiles & (1u << p))
				st7_json_str(j, st7_profile_at(p)->name);
		st7_json_arr_end(j);
		json_str_or_null(j, "problem", dv->problem);
		st7_json_obj_end(j);
	}
	st7_json_arr_end(j);
	st7_json_obj_end(j);
}
