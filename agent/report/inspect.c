/* SPDX-License-Identifier: MIT */
#include "inspect.h"

#include <string.h>

void st7_inspect_init(struct st7_inspect_report *r)
{
	memset(r, 0, sizeof(*r));
	st7_dfu_file_init(&r->file);
}

void st7_inspect_free(struct st7_inspect_report *r)
{
	st7_dfu_file_free(&r->file);
	st7_inspect_init(r);
}

/* The version word, read from a DfuSe image's elements (alt 0..255 alike). */
static bool dfuse_version_word(const struct st7_dfu_file *f, uint32_t addr, uint16_t *out)
{
	int hi = -1, lo = -1;
	for (size_t i = 0; i < f->n_elements; i++) {
		const struct st7_dfuse_element *e = &f->elements[i];
		if (addr >= e->address && addr - e->address < e->size)
			hi = f->data[e->offset + (addr - e->address)];
		if (addr + 1 >= e->address && addr + 1 - e->address < e->size)
			lo = f->data[e->offset + (addr + 1 - e->address)];
	}
	if (hi < 0 || lo < 0)
		return false;
	*out = (uint16_t)((hi << 8) | lo);
	return true;
}

static int check_st7(struct st7_inspect_report *r, const struct st7_profile *forced)
{
	const struct st7_dfu_file *f = &r->file;
	const struct st7_profile *p = forced;
	uint32_t size = 0;

	if (!p) {
		if (f->kind != ST7_DFU_KIND_PLAIN)
			return ST7_OK;
		if (f->suffix.id_vendor != ST7_ST_VENDOR_ID &&
		    f->suffix.id_vendor != ST7_DFU_ID_ANY)
			return ST7_OK;
		p = st7_profile_by_region_size(f->payload_len);
		if (!p)
			return ST7_OK;
		r->profile_inferred = true;
	}
	r->profile = p;
	size = st7_profile_region_size(p);
	if (f->kind == ST7_DFU_KIND_DFUSE) {
		for (size_t i = 0; i < f->n_elements; i++) {
			const struct st7_dfuse_element *e = &f->elements[i];
			if (e->size && (e->address < p->region_base ||
			                (uint64_t)e->address + e->size > p->region_end)) {
				r->region_bad_addr = e->address;
				return st7_diag_set(
				        &r->diag, ST7_ERR_RANGE,
				        "DfuSe element at offset %zu (0x%08X, %u bytes) "
				        "is outside %s's writable region 0x%04X-0x%04X",
				        e->offset - ST7_DFUSE_ELEMENT_HDR_LEN, e->address, e->size,
				        p->name, p->region_base, p->region_end - 1);
			}
		}
		r->version_present =
		        dfuse_version_word(f, st7_profile_version_addr(p), &r->version_word);
	} else {
		if (f->payload_len != size)
			return st7_diag_set(&r->diag, ST7_ERR_RANGE,
			                    "payload is %zu bytes, but %s's writable region "
			                    "0x%04X-0x%04X is %u bytes",
			                    f->payload_len, p->name, p->region_base,
			                    p->region_end - 1, size);
		r->version_present = true;
		r->version_word = st7_be16(f->data + size - 2);
	}
	if (!f->has_suffix)
		return ST7_OK;
	r->version_matches = r->version_present && r->version_word == f->suffix.bcd_device;
	if (!r->version_matches && !r->profile_inferred) {
		if (!r->version_present)
			return st7_diag_set(&r->diag, ST7_ERR_FORMAT,
			                    "the image has no data at the version word 0x%04X",
			                    st7_profile_version_addr(p));
		return st7_diag_set(&r->diag, ST7_ERR_FORMAT,
		                    "version word at 0x%04X is 0x%04X, but suffix bcdDevice is "
		                    "0x%04X",
		                    st7_profile_version_addr(p), r->version_word,
		                    f->suffix.bcd_device);
	}
	return ST7_OK;
}

int st7_inspect(struct st7_inspect_report *r, const uint8_t *buf, size_t len,
                const struct st7_profile *profile)
{
	st7_inspect_free(r);
	r->status = st7_dfu_file_parse(&r->file, buf, len, 0, &r->diag);
	if (r->status == ST7_OK)
		r->status = check_st7(r, profile);
	return r->status;
}

static const char *bcd_dfu_name(uint16_t v)
{
	switch (v) {
	case ST7_BCDDFU_1_0:
		return "DFU 1.0";
	case ST7_BCDDFU_1_1:
		return "DFU 1.1";
	case ST7_BCDDFU_DFUSE:
		return "DfuSe";
	}
	return "unknown";
}

/* Target names are file content: print only printable ASCII. */
static void print_name(struct st7_buf *out, const char *s)
{
	for (; *s; s++)
		st7_buf_printf(out, "%c", (*s >= 0x20 && *s < 0x7F) ? *s : '?');
}

int st7_inspect_text(const struct st7_inspect_report *r, const char *path, struct st7_buf *out)
{
	const struct st7_dfu_file *f = &r->file;
	const struct st7_dfu_suffix *s = &f->suffix;

	if (r->status == ST7_OK)
		st7_buf_printf(out, "%s: valid %s file\n", path, bcd_dfu_name(s->bcd_dfu));
	else
		st7_buf_printf(out, "%s: INVALID: %s\n", path,
		               r->diag.msg[0] ? r->diag.msg : st7_strerror(r->status));
	st7_buf_printf(out, "  size        %zu bytes", f->len);
	if (f->has_suffix && s->length >= ST7_DFU_SUFFIX_LEN && s->length <= f->len)
		st7_buf_printf(out, ", payload %zu bytes", f->payload_len);
	st7_buf_printf(out, "\n");
	if (f->has_suffix) {
		st7_buf_printf(out,
		               "  suffix      idVendor 0x%04X  idProduct 0x%04X  bcdDevice 0x%04X  "
		               "bcdDFU 0x%04X  bLength %u\n",
		               s->id_vendor, s->id_product, s->bcd_device, s->bcd_dfu, s->length);
		st7_buf_printf(out, "  crc         stored 0x%08X  computed 0x%08X  %s\n",
		               s->crc_stored, s->crc_computed,
		               s->crc_stored == s->crc_computed ? "ok" : "MISMATCH");
	}
	if (f->kind == ST7_DFU_KIND_DFUSE && f->targets) {
		st7_buf_printf(out, "  dfuse       version %u, image %u bytes, %u target%s\n",
		               f->dfuse_version, f->dfuse_image_size, f->n_targets,
		               f->n_targets == 1 ? "" : "s");
		for (unsigned t = 0; t < f->n_targets; t++) {
			const struct st7_dfuse_target *tg = &f->targets[t];
			st7_buf_printf(out, "  target %-4u alt %u", t, tg->alt);
			if (tg->named) {
				st7_buf_printf(out, " \"");
				print_name(out, tg->name);
				st7_buf_printf(out, "\"");
			}
			st7_buf_printf(out, ", %u bytes, %u element%s\n", tg->size, tg->n_elements,
			               tg->n_elements == 1 ? "" : "s");
			for (uint32_t k = 0; k < tg->n_elements; k++) {
				const struct st7_dfuse_element *e =
				        &f->elements[tg->first_element + k];
				st7_buf_printf(out, "    element %-3u 0x%08X-0x%08X  %u bytes\n", k,
				               e->address,
				               e->size ? e->address + (e->size - 1) : e->address,
				               e->size);
			}
		}
	}
	if (r->profile) {
		const struct st7_profile *p = r->profile;
		st7_buf_printf(out, "  st7         %s (%s%s), writable region 0x%04X-0x%04X\n",
		               p->name, p->part, r->profile_inferred ? ", by payload size" : "",
		               p->region_base, p->region_end - 1);
		if (r->version_present)
			st7_buf_printf(out, "  version     word 0x%04X at 0x%04X: %s\n",
			               r->version_word, st7_profile_version_addr(p),
			               !f->has_suffix       ? "no suffix to compare"
			               : r->version_matches ? "equals bcdDevice"
			                                    : "DIFFERS from bcdDevice");
		else if (r->status == ST7_OK || r->status == ST7_ERR_FORMAT)
			st7_buf_printf(out, "  version     no data at 0x%04X\n",
			               st7_profile_version_addr(p));
	}
	return ST7_OK;
}

/* The "dfuse" member of info's JSON: the prefix, targets and elements, or null. */
static void json_dfuse(const struct st7_dfu_file *f, struct st7_json *j)
{
	if (f->kind == ST7_DFU_KIND_DFUSE && f->targets) {
		st7_json_obj_begin(j);
		st7_json_kv_uint(j, "version", f->dfuse_version);
		st7_json_kv_uint(j, "image_size", f->dfuse_image_size);
		st7_json_key(j, "targets");
		st7_json_arr_begin(j);
		for (unsigned t = 0; t < f->n_targets; t++) {
			const struct st7_dfuse_target *tg = &f->targets[t];
			st7_json_obj_begin(j);
			st7_json_kv_uint(j, "alt", tg->alt);
			st7_json_key(j, "name");
			if (tg->named)
				st7_json_str(j, tg->name);
			else
				st7_json_null(j);
			st7_json_kv_uint(j, "size", tg->size);
			st7_json_kv_uint(j, "offset", tg->offset);
			st7_json_key(j, "elements");
			st7_json_arr_begin(j);
			for (uint32_t k = 0; k < tg->n_elements; k++) {
				const struct st7_dfuse_element *e =
				        &f->elements[tg->first_element + k];
				st7_json_obj_begin(j);
				st7_json_kv_uint(j, "address", e->address);
				st7_json_kv_uint(j, "size", e->size);
				st7_json_kv_uint(j, "offset", e->offset);
				st7_json_obj_end(j);
			}
			st7_json_arr_end(j);
			st7_json_obj_end(j);
		}
		st7_json_arr_end(j);
		st7_json_obj_end(j);
	} else {
		st7_json_null(j);
	}
}

void st7_inspect_json(const struct st7_inspect_report *r, const char *path, struct st7_json *j)
{
	const struct st7_dfu_file *f = &r->file;
	const struct st7_dfu_suffix *s = &f->suffix;
	bool payload_known = f->has_suffix
	                             ? (s->length >= ST7_DFU_SUFFIX_LEN && s->length <= f->len)
	                             : r->status == ST7_OK;

	st7_json_obj_begin(j);
	st7_json_kv_str(j, "path", path);
	st7_json_kv_bool(j, "valid", r->status == ST7_OK);
	st7_json_key(j, "error");
	if (r->status == ST7_OK) {
		st7_json_null(j);
	} else {
		st7_json_obj_begin(j);
		st7_json_kv_str(j, "code", st7_err_name(r->status));
		st7_json_kv_str(j, "message",
		                r->diag.msg[0] ? r->diag.msg : st7_strerror(r->status));
		st7_json_obj_end(j);
	}
	st7_json_key(j, "kind");
	if (r->status == ST7_OK || f->kind != ST7_DFU_KIND_RAW)
		st7_json_str(j, st7_dfu_kind_name(f->kind));
	else
		st7_json_null(j);
	st7_json_kv_uint(j, "size", f->len);
	st7_json_key(j, "payload_size");
	if (payload_known)
		st7_json_uint(j, f->payload_len);
	else
		st7_json_null(j);
	st7_json_key(j, "suffix");
	if (f->has_suffix) {
		st7_json_obj_begin(j);
		st7_json_kv_uint(j, "idVendor", s->id_vendor);
		st7_json_kv_uint(j, "idProduct", s->id_product);
		st7_json_kv_uint(j, "bcdDevice", s->bcd_device);
		st7_json_kv_uint(j, "bcdDFU", s->bcd_dfu);
		st7_json_kv_uint(j, "bLength", s->length);
		st7_json_kv_uint(j, "crc_stored", s->crc_stored);
		st7_json_kv_uint(j, "crc_computed", s->crc_computed);
		st7_json_kv_bool(j, "crc_ok", s->crc_stored == s->crc_computed);
		st7_json_obj_end(j);
	} else {
		st7_json_null(j);
	}
	st7_json_key(j, "dfuse");
	json_dfuse(f, j);
	st7_json_key(j, "st7");
	if (r->profile) {
		const struct st7_profile *p = r->profile;
		st7_json_obj_begin(j);
		st7_json_kv_str(j, "profile", p->name);
		st7_json_kv_bool(j, "inferred", r->profile_inferred);
		st7_json_kv_uint(j, "region_start", p->region_base);
		st7_json_kv_uint(j, "region_end", p->region_end - 1);
		st7_json_kv_uint(j, "version_address", st7_profile_version_addr(p));
		st7_json_key(j, "version_word");
		if (r->version_present)
			st7_json_uint(j, r->version_word);
		else
			st7_json_null(j);
		st7_json_kv_bool(j, "version_matches_bcdDevice", r->version_matches);
		st7_json_obj_end(j);
	} else {
		st7_json_null(j);
	}
	st7_json_obj_end(j);
}
