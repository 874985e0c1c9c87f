/* SPDX-License-Identifier: MIT */
/*
 * DFU file reader and writer. Offsets in messages are file offsets in decimal and hex.
 * Layouts: DFU 1.1 appendix B (suffix); ST UM0391 (DfuSe prefix/target/element).
 */
#include "dfu_file.h"

#include <stdlib.h>
#include <string.h>

#include "crc32.h"

/* A DfuSe file has at most 255 targets (bTargets is a byte); elements are bounded by
 * the file size (8 header bytes each), so no count needs an extra cap beyond that. */

const char *st7_dfu_kind_name(enum st7_dfu_kind k)
{
	switch (k) {
	case ST7_DFU_KIND_RAW:
		return "raw";
	case ST7_DFU_KIND_PLAIN:
		return "dfu";
	case ST7_DFU_KIND_DFUSE:
		return "dfuse";
	}
	return "unknown";
}

void st7_dfu_file_init(struct st7_dfu_file *f)
{
	memset(f, 0, sizeof(*f));
}

void st7_dfu_file_free(struct st7_dfu_file *f)
{
	if (!f)
		return;
	free(f->targets);
	free(f->elements);
	st7_dfu_file_init(f);
}

static void drop_targets(struct st7_dfu_file *f)
{
	free(f->targets);
	free(f->elements);
	f->targets = NULL;
	f->elements = NULL;
	f->n_targets = 0;
	f->n_elements = 0;
}

static bool looks_like_dfuse_prefix(const uint8_t *p, size_t len)
{
	return len >= ST7_DFUSE_PREFIX_LEN && memcmp(p, "DfuSe", 5) == 0;
}

/* Suffix layout from the end of the file: ...| bcdDevice idProduct idVendor bcdDFU
 * 'U' 'F' 'D' bLength dwCRC | (16 bytes, little-endian). */
static int parse_suffix(struct st7_dfu_file *f, unsigned flags, struct st7_diag *d)
{
	const uint8_t *buf = f->data;
	size_t len = f->len;

	if (len < ST7_DFU_SUFFIX_LEN || memcmp(buf + len - 8, "UFD", 3) != 0) {
		if (flags & ST7_DFU_ALLOW_RAW) {
			f->kind = ST7_DFU_KIND_RAW;
			f->payload_len = len;
			return ST7_OK;
		}
		if (len < ST7_DFU_SUFFIX_LEN)
			return st7_diag_set(
			        d, ST7_ERR_NO_SUFFIX,
			        "no DFU suffix: the file is %zu bytes, shorter than the "
			        "16-byte suffix",
			        len);
		const uint8_t *s = buf + len - 8;
		return st7_diag_set(
		        d, ST7_ERR_NO_SUFFIX,
		        "no DFU suffix: ucDfuSignature at offset %zu is %02X %02X %02X, "
		        "expected 55 46 44 (\"UFD\")",
		        len - 8, s[0], s[1], s[2]);
	}
	const uint8_t *s = buf + len - ST7_DFU_SUFFIX_LEN;
	f->has_suffix = true;
	f->suffix.bcd_device = st7_le16(s + 0);
	f->suffix.id_product = st7_le16(s + 2);
	f->suffix.id_vendor = st7_le16(s + 4);
	f->suffix.bcd_dfu = st7_le16(s + 6);
	f->suffix.length = s[11];
	f->suffix.crc_stored = st7_le32(s + 12);
	f->suffix.crc_computed = st7_dfu_crc(buf, len - 4);

	if (f->suffix.length < ST7_DFU_SUFFIX_LEN)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "suffix bLength at offset %zu is %u, expected at least 16",
		                    len - 5, f->suffix.length);
	if (f->suffix.length > len)
		return st7_diag_set(
		        d, ST7_ERR_FORMAT,
		        "suffix bLength at offset %zu is %u, larger than the %zu-byte file",
		        len - 5, f->suffix.length, len);
	if (f->suffix.crc_stored != f->suffix.crc_computed)
		return st7_diag_set(d, ST7_ERR_CRC,
		                    "suffix dwCRC at offset %zu is 0x%08X, computed 0x%08X over "
		                    "bytes 0..%zu",
		                    len - 4, f->suffix.crc_stored, f->suffix.crc_computed, len - 5);
	switch (f->suffix.bcd_dfu) {
	case ST7_BCDDFU_1_0:
	case ST7_BCDDFU_1_1:
		f->kind = ST7_DFU_KIND_PLAIN;
		break;
	case ST7_BCDDFU_DFUSE:
		f->kind = ST7_DFU_KIND_DFUSE;
		break;
	default:
		return st7_diag_set(
		        d, ST7_ERR_UNSUPPORTED,
		        "suffix bcdDFU at offset %zu is 0x%04X, expected 0x0100, 0x0110 "
		        "or 0x011A (DfuSe)",
		        len - 10, f->suffix.bcd_dfu);
	}
	f->payload_len = len - f->suffix.length;
	return ST7_OK;
}

static int add_element(struct st7_dfu_file *f, size_t *cap, const struct st7_dfuse_element *e)
{
	if (f->n_elements == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct st7_dfuse_element *p = realloc(f->elements, ncap * sizeof(*p));
		if (!p)
			return ST7_ERR_NOMEM;
		f->elements = p;
		*cap = ncap;
	}
	f->elements[f->n_elements++] = *e;
	return ST7_OK;
}

/* Sort key for the overlap check: (alt, address). */
struct elem_ref {
	uint8_t alt;
	unsigned target;
	size_t index; /* into f->elements */
	uint32_t address;
	uint32_t size;
};

static int elem_ref_cmp(const void *a, const void *b)
{
	const struct elem_ref *x = a, *y = b;
	if (x->alt != y->alt)
		return x->alt < y->alt ? -1 : 1;
	if (x->address != y->address)
		return x->address < y->address ? -1 : 1;
	return x->index < y->index ? -1 : (x->index > y->index);
}

/* Elements of the same alternate setting must not overlap: they would be written to the
 * same memory and the result would depend on the order. */
static int check_overlaps(const struct st7_dfu_file *f, struct st7_diag *d)
{
	int ret = ST7_OK;
	if (f->n_elements < 2)
		return ST7_OK;
	struct elem_ref *refs = calloc(f->n_elements, sizeof(*refs));
	if (!refs)
		return ST7_ERR_NOMEM;
	for (unsigned t = 0; t < f->n_targets; t++) {
		const struct st7_dfuse_target *tg = &f->targets[t];
		for (uint32_t k = 0; k < tg->n_elements; k++) {
			size_t i = tg->first_element + k;
			refs[i] = (struct elem_ref){ tg->alt, t, i, f->elements[i].address,
				                     f->elements[i].size };
		}
	}
	qsort(refs, f->n_elements, sizeof(*refs), elem_ref_cmp);
	for (size_t i = 1; i < f->n_elements; i++) {
		const struct elem_ref *a = &refs[i - 1], *b = &refs[i];
		if (a->alt != b->alt || a->size == 0 || b->size == 0)
			continue;
		if ((uint64_t)a->address + a->size > b->address) {
			const struct elem_ref *first = a->index < b->index ? a : b;
			const struct elem_ref *second = a->index < b->index ? b : a;
			ret = st7_diag_set(
			        d, ST7_ERR_OVERLAP,
			        "DfuSe alt %u: element at offset %zu (0x%08X, %u bytes) overlaps "
			        "element at offset %zu (0x%08X, %u bytes)",
			        a->alt,
			        f->elements[second->index].offset - ST7_DFUSE_ELEMENT_HDR_LEN,
			        second->address, second->size,
			        f->elements[first->index].offset - ST7_DFUSE_ELEMENT_HDR_LEN,
			        first->address, first->size);
			break;
		}
	}
	free(refs);
	return ret;
}

/* Walk prefix → targets → elements with a cursor over [0, payload_len). Every length read
 * from the file is checked against what remains before it is used. */
/* One element of DfuSe target `t` at *pp (which it advances), bounded by the target's end. */
static int parse_dfuse_element(struct st7_dfu_file *f, size_t *elem_cap, unsigned t, uint32_t e,
                               const uint8_t **pp, const uint8_t *tend, struct st7_diag *d)
{
	const uint8_t *p = *pp;
	size_t eoff = (size_t)(p - f->data);
	if ((size_t)(tend - p) < ST7_DFUSE_ELEMENT_HDR_LEN)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "DfuSe target %u element %u at offset %zu: "
		                    "truncated header, %zu bytes left in the target",
		                    t, e, eoff, (size_t)(tend - p));
	struct st7_dfuse_element el = {
		.address = st7_le32(p),
		.size = st7_le32(p + 4),
		.offset = eoff + ST7_DFUSE_ELEMENT_HDR_LEN,
	};
	p += ST7_DFUSE_ELEMENT_HDR_LEN;
	/* An empty element writes nothing, yet a device must still be asked to erase and
	 * address it: ST's tools never make one, and a backup of it cannot be restored. */
	if (el.size == 0)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "DfuSe target %u element %u at offset %zu: "
		                    "dwElementSize is 0",
		                    t, e, eoff);
	if (el.size > (size_t)(tend - p))
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "DfuSe target %u element %u at offset %zu: "
		                    "dwElementSize is %u, but only %zu bytes remain in "
		                    "the target",
		                    t, e, eoff, el.size, (size_t)(tend - p));
	if ((uint64_t)el.address + el.size > ((uint64_t)1 << 32))
		return st7_diag_set(d, ST7_ERR_RANGE,
		                    "DfuSe target %u element %u at offset %zu: "
		                    "0x%08X + %u bytes runs past the 32-bit address "
		                    "space",
		                    t, e, eoff, el.address, el.size);
	int ret = add_element(f, elem_cap, &el);
	if (ret)
		return ret;
	*pp = p + el.size;
	return ST7_OK;
}

static int parse_dfuse(struct st7_dfu_file *f, struct st7_diag *d)
{
	const uint8_t *base = f->data;
	const uint8_t *p = base, *end = base + f->payload_len;
	size_t elem_cap = 0;
	int ret = ST7_ERR_FORMAT;

	if ((size_t)(end - p) < ST7_DFUSE_PREFIX_LEN)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "DfuSe prefix: truncated, %zu bytes before the suffix, need 11",
		                    (size_t)(end - p));
	if (memcmp(p, "DfuSe", 5) != 0)
		return st7_diag_set(
		        d, ST7_ERR_FORMAT,
		        "DfuSe prefix at offset 0: szSignature is not \"DfuSe\" although "
		        "bcdDFU is 0x011A");
	f->dfuse_version = p[5];
	f->dfuse_image_size = st7_le32(p + 6);
	unsigned n_targets = p[10];
	if (f->dfuse_version != 0x01)
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED,
		                    "DfuSe prefix at offset 5: bVersion is %u, expected 1",
		                    f->dfuse_version);
	if (f->dfuse_image_size != f->payload_len)
		return st7_diag_set(
		        d, ST7_ERR_FORMAT,
		        "DfuSe prefix at offset 6: DFUImageSize is %u, but the file holds "
		        "%zu bytes before its suffix",
		        f->dfuse_image_size, f->payload_len);
	if (n_targets == 0)
		return st7_diag_set(d, ST7_ERR_FORMAT, "DfuSe prefix at offset 10: bTargets is 0");
	p += ST7_DFUSE_PREFIX_LEN;
	if ((size_t)(end - p) / ST7_DFUSE_TARGET_PREFIX_LEN < n_targets)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "DfuSe prefix at offset 10: bTargets is %u, but only %zu bytes "
		                    "follow (a target prefix alone is 274)",
		                    n_targets, (size_t)(end - p));

	f->targets = calloc(n_targets, sizeof(*f->targets));
	if (!f->targets)
		return ST7_ERR_NOMEM;

	for (unsigned t = 0; t < n_targets; t++) {
		struct st7_dfuse_target *tg = &f->targets[t];
		size_t toff = (size_t)(p - base);
		if ((size_t)(end - p) < ST7_DFUSE_TARGET_PREFIX_LEN) {
			ret = st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "DfuSe target %u at offset %zu: truncated, %zu bytes left, "
			        "need 274",
			        t, toff, (size_t)(end - p));
			goto cleanup;
		}
		if (memcmp(p, "Target", 6) != 0) {
			ret = st7_diag_set(d, ST7_ERR_FORMAT,
			                   "DfuSe target %u at offset %zu: szSignature is not "
			                   "\"Target\"",
			                   t, toff);
			goto cleanup;
		}
		tg->offset = toff;
		tg->alt = p[6];
		tg->named = st7_le32(p + 7);
		memcpy(tg->name, p + 11, ST7_DFUSE_NAME_LEN);
		tg->name[ST7_DFUSE_NAME_LEN] = '\0';
		if (!tg->named)
			tg->name[0] = '\0';
		tg->size = st7_le32(p + 266);
		tg->n_elements = st7_le32(p + 270);
		tg->first_element = f->n_elements;
		p += ST7_DFUSE_TARGET_PREFIX_LEN;

		if (tg->size > (size_t)(end - p)) {
			ret = st7_diag_set(d, ST7_ERR_FORMAT,
			                   "DfuSe target %u at offset %zu: dwTargetSize is %u, but "
			                   "only %zu bytes remain in the image",
			                   t, toff, tg->size, (size_t)(end - p));
			goto cleanup;
		}
		if (tg->n_elements > tg->size / ST7_DFUSE_ELEMENT_HDR_LEN) {
			ret = st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "DfuSe target %u at offset %zu: dwNbElements is %u, more "
			        "than its %u bytes can hold",
			        t, toff, tg->n_elements, tg->size);
			goto cleanup;
		}
		const uint8_t *tend = p + tg->size;
		for (uint32_t e = 0; e < tg->n_elements; e++) {
			ret = parse_dfuse_element(f, &elem_cap, t, e, &p, tend, d);
			if (ret)
				goto cleanup;
		}
		if (p != tend) {
			ret = st7_diag_set(d, ST7_ERR_FORMAT,
			                   "DfuSe target %u at offset %zu: dwTargetSize is %u, but "
			                   "its %u elements use %zu bytes",
			                   t, toff, tg->size, tg->n_elements,
			                   (size_t)(p - (tend - tg->size)));
			goto cleanup;
		}
		f->n_targets = t + 1;
	}
	if (p != end) {
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "DfuSe image: %zu unexpected bytes at offset %zu after the last "
		                   "target",
		                   (size_t)(end - p), (size_t)(p - base));
		goto cleanup;
	}
	ret = check_overlaps(f, d);

cleanup:
	if (ret)
		drop_targets(f);
	return ret;
}

int st7_dfu_file_parse(struct st7_dfu_file *f, const uint8_t *buf, size_t len, unsigned flags,
                       struct st7_diag *d)
{
	int ret = ST7_ERR_FORMAT;

	st7_dfu_file_free(f);
	f->data = buf;
	f->len = len;
	ret = parse_suffix(f, flags, d);
	if (ret)
		return ret;
	if (f->kind == ST7_DFU_KIND_DFUSE)
		return parse_dfuse(f, d);
	if (f->payload_len == 0)
		return st7_diag_set(d, ST7_ERR_FORMAT, "the file holds no firmware payload");
	if (f->kind == ST7_DFU_KIND_PLAIN && looks_like_dfuse_prefix(buf, f->payload_len))
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "the payload starts with a DfuSe prefix but suffix bcdDFU is "
		                    "0x%04X, not 0x011A",
		                    f->suffix.bcd_dfu);
	return ST7_OK;
}

int st7_dfu_file_to_memimg(const struct st7_dfu_file *f, uint32_t base, int alt,
                           struct st7_memimg *out, struct st7_diag *d)
{
	if (f->kind != ST7_DFU_KIND_DFUSE)
		return st7_memimg_add(out, base, f->data, f->payload_len, d);
	for (unsigned t = 0; t < f->n_targets; t++) {
		const struct st7_dfuse_target *tg = &f->targets[t];
		if (alt >= 0 && tg->alt != alt)
			continue;
		for (uint32_t k = 0; k < tg->n_elements; k++) {
			const struct st7_dfuse_element *e = &f->elements[tg->first_element + k];
			int ret = st7_memimg_add(out, e->address, f->data + e->offset, e->size, d);
			if (ret)
				return ret;
		}
	}
	return ST7_OK;
}

int st7_dfu_append_suffix(struct st7_buf *out, const struct st7_dfu_ids *ids)
{
	uint8_t s[ST7_DFU_SUFFIX_LEN];
	uint16_t bcd_dfu = ids->bcd_dfu ? ids->bcd_dfu : ST7_BCDDFU_1_0;
	int ret = st7_buf_reserve(out, sizeof(s));
	if (ret)
		return ret;
	st7_put_le16(s + 0, ids->bcd_device);
	st7_put_le16(s + 2, ids->id_product);
	st7_put_le16(s + 4, ids->id_vendor);
	st7_put_le16(s + 6, bcd_dfu);
	memcpy(s + 8, "UFD", 3);
	s[11] = ST7_DFU_SUFFIX_LEN;
	/* The CRC covers the payload and the first 12 suffix bytes. */
	uint32_t crc = st7_dfu_crc(out->data, out->len);
	crc = st7_crc32_update(crc, s, 12);
	st7_put_le32(s + 12, crc);
	return st7_buf_append(out, s, sizeof(s));
}

int st7_dfu_build_plain(const uint8_t *payload, size_t len, const struct st7_dfu_ids *ids,
                        struct st7_buf *out, struct st7_diag *d)
{
	int ret = ST7_ERR_INVALID;
	if (len == 0)
		return st7_diag_set(d, ST7_ERR_INVALID, "empty payload");
	if (ids->bcd_dfu == ST7_BCDDFU_DFUSE)
		return st7_diag_set(d, ST7_ERR_INVALID, "bcdDFU 0x011A is for DfuSe files");
	ret = st7_buf_append(out, payload, len);
	if (!ret)
		ret = st7_dfu_append_suffix(out, ids);
	return ret;
}

int st7_dfu_build_dfuse(const struct st7_dfuse_target_spec *targets, unsigned n_targets,
                        const struct st7_dfu_ids *ids, struct st7_buf *out, struct st7_diag *d)
{
	int ret = ST7_ERR_INVALID;
	size_t start = out->len;

	if (n_targets == 0 || n_targets > 255)
		return st7_diag_set(d, ST7_ERR_INVALID, "a DfuSe file needs 1 to 255 targets");
	ret = st7_buf_append(out, "DfuSe\x01", 6);
	if (!ret)
		ret = st7_buf_append_le32(out, 0); /* DFUImageSize, patched below */
	if (!ret)
		ret = st7_buf_append_byte(out, (uint8_t)n_targets);
	for (unsigned t = 0; !ret && t < n_targets; t++) {
		const struct st7_memimg *m = targets[t].image;
		uint64_t tsize = 0;
		for (size_t i = 0; i < m->nsegs; i++)
			tsize += ST7_DFUSE_ELEMENT_HDR_LEN + (uint64_t)m->segs[i].len;
		if (tsize > UINT32_MAX) {
			ret = st7_diag_set(d, ST7_ERR_TOO_LARGE,
			                   "DfuSe target %u would exceed 4 GiB", t);
			break;
		}
		uint8_t hdr[ST7_DFUSE_TARGET_PREFIX_LEN] = { 0 };
		const char *name = targets[t].name;
		size_t nlen = name ? strlen(name) : 0;
		if (nlen > ST7_DFUSE_NAME_LEN - 1) {
			ret = st7_diag_set(d, ST7_ERR_INVALID,
			                   "target name is %zu bytes, at most 254 fit", nlen);
			break;
		}
		memcpy(hdr, "Target", 6);
		hdr[6] = targets[t].alt;
		st7_put_le32(hdr + 7, nlen ? 1u : 0u);
		if (nlen)
			memcpy(hdr + 11, name, nlen);
		st7_put_le32(hdr + 266, (uint32_t)tsize);
		st7_put_le32(hdr + 270, (uint32_t)m->nsegs);
		ret = st7_buf_append(out, hdr, sizeof(hdr));
		for (size_t i = 0; !ret && i < m->nsegs; i++) {
			ret = st7_buf_append_le32(out, m->segs[i].addr);
			if (!ret)
				ret = st7_buf_append_le32(out, (uint32_t)m->segs[i].len);
			if (!ret)
				ret = st7_buf_append(out, m->segs[i].data, m->segs[i].len);
		}
	}
	if (!ret && out->len - start > UINT32_MAX)
		ret = st7_diag_set(d, ST7_ERR_TOO_LARGE, "DfuSe image would exceed 4 GiB");
	if (!ret) {
		st7_put_le32(out->data + start + 6, (uint32_t)(out->len - start));
		struct st7_dfu_ids s = *ids;
		s.bcd_dfu = ST7_BCDDFU_DFUSE;
		ret = st7_dfu_append_suffix(out, &s);
	}
	if (ret)
		out->len = start;
	return ret;
}
