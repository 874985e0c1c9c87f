/* SPDX-License-Identifier: MIT */
#include "pack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ihex.h"
#include "srec.h"

enum st7_input_format st7_input_format_from_name(const char *path)
{
	static const struct {
		const char *ext;
		enum st7_input_format fmt;
	} exts[] = {
		{ ".bin", ST7_INPUT_BIN },  { ".hex", ST7_INPUT_IHEX },
		{ ".ihx", ST7_INPUT_IHEX }, { ".ihex", ST7_INPUT_IHEX },
		{ ".s19", ST7_INPUT_SREC }, { ".s28", ST7_INPUT_SREC },
		{ ".s37", ST7_INPUT_SREC }, { ".srec", ST7_INPUT_SREC },
		{ ".mot", ST7_INPUT_SREC },
	};
	const char *dot = strrchr(path, '.');
	if (!dot || strchr(dot, '/'))
		return ST7_INPUT_AUTO;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strcasecmp(dot, exts[i].ext) == 0)
			return exts[i].fmt;
	return ST7_INPUT_AUTO;
}

static enum st7_input_format sniff(const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	if (i < len && p[i] == ':')
		return ST7_INPUT_IHEX;
	if (i + 1 < len && (p[i] == 'S' || p[i] == 's') && p[i + 1] >= '0' && p[i + 1] <= '9')
		return ST7_INPUT_SREC;
	return ST7_INPUT_AUTO;
}

int st7_pack_add_input(struct st7_memimg *image, const struct st7_pack_opts *o,
                       enum st7_input_format fmt, const uint8_t *data, size_t len, bool has_addr,
                       uint32_t addr, struct st7_diag *d)
{
	int ret = ST7_ERR_FORMAT;
	struct st7_memimg one;
	const struct st7_profile *p = o->profile;

	st7_memimg_init(&one);
	if (fmt == ST7_INPUT_AUTO)
		fmt = sniff(data, len);
	switch (fmt) {
	case ST7_INPUT_AUTO:
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "unknown input format: name it .bin (with @ADDR), .hex or .s19");
		goto cleanup;
	case ST7_INPUT_BIN:
		if (!has_addr && !p) {
			ret = st7_diag_set(d, ST7_ERR_INVALID,
			                   "a binary input needs its load address: FILE.bin@ADDR");
			goto cleanup;
		}
		if (len == 0) {
			ret = st7_diag_set(d, ST7_ERR_FORMAT, "empty binary input");
			goto cleanup;
		}
		ret = st7_memimg_add(&one, has_addr ? addr : p->region_base, data, len, d);
		break;
	case ST7_INPUT_IHEX:
	case ST7_INPUT_SREC:
		if (has_addr) {
			ret = st7_diag_set(d, ST7_ERR_INVALID,
			                   "@ADDR applies to binary inputs only; HEX and S-record "
			                   "files carry their addresses");
			goto cleanup;
		}
		if (fmt == ST7_INPUT_IHEX)
			ret = st7_ihex_parse((const char *)data, len, &one, NULL, d);
		else
			ret = st7_srec_parse((const char *)data, len, 0, &one, NULL, NULL, d);
		break;
	}
	if (ret)
		goto cleanup;
	if (one.nsegs == 0) {
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "the input holds no data");
		goto cleanup;
	}
	uint32_t bad = 0;
	if (p && !st7_memimg_within(&one, p->region_base, p->region_end, &bad)) {
		ret = st7_diag_set(d, ST7_ERR_RANGE,
		                   "data at 0x%08X is outside %s's writable region 0x%04X-0x%04X "
		                   "(sector 0, 0xF000-0xFFFF, holds the DFU loader)",
		                   bad, p->name, p->region_base, p->region_end - 1);
		goto cleanup;
	}
	/* Merge segment by segment; an overlap names the clashing address. */
	for (size_t i = 0; i < one.nsegs; i++) {
		ret = st7_memimg_add(image, one.segs[i].addr, one.segs[i].data, one.segs[i].len, d);
		if (ret == ST7_ERR_OVERLAP) {
			char msg[ST7_DIAG_MAX];
			snprintf(msg, sizeof(msg), "%s", d ? d->msg : "");
			ret = st7_diag_set(d, ret, "overlaps an earlier input: %s", msg);
		}
		if (ret)
			goto cleanup;
	}
	ret = ST7_OK;
cleanup:
	st7_memimg_free(&one);
	return ret;
}

/* Overwrite or add `len` bytes at `addr`: the one place an image is patched in place. */
static int memimg_patch(struct st7_memimg *m, uint32_t addr, const uint8_t *v, size_t len,
                        struct st7_diag *d)
{
	for (size_t k = 0; k < len; k++) {
		uint32_t a = addr + (uint32_t)k;
		bool done = false;
		for (size_t i = 0; i < m->nsegs && !done; i++) {
			struct st7_memseg *s = &m->segs[i];
			if (a >= s->addr && a - s->addr < s->len) {
				s->data[a - s->addr] = v[k];
				done = true;
			}
		}
		if (!done) {
			int ret = st7_memimg_add(m, a, &v[k], 1, d);
			if (ret)
				return ret;
		}
	}
	return ST7_OK;
}

int st7_pack_build(struct st7_memimg *image, const struct st7_pack_opts *o, struct st7_buf *out,
                   struct st7_diag *d)
{
	int ret = ST7_ERR_INVALID;
	const struct st7_profile *p = o->profile;
	uint8_t *flat = NULL;
	uint32_t lo = 0;
	uint64_t end = 0;

	if (!st7_memimg_bounds(image, &lo, &end))
		return st7_diag_set(d, ST7_ERR_INVALID, "no input data");
	if (p) {
		uint32_t va = st7_profile_version_addr(p);
		uint8_t word[2] = { (uint8_t)(o->ids.bcd_device >> 8), (uint8_t)o->ids.bcd_device };
		if (o->stamp_version) {
			ret = memimg_patch(image, va, word, 2, d);
			if (ret)
				return ret;
		} else {
			uint8_t have[2];
			st7_memimg_read(image, va, have, 2, 0xFF);
			if (memcmp(have, word, 2) != 0)
				return st7_diag_set(d, ST7_ERR_FORMAT,
				                    "version word at 0x%04X is 0x%02X%02X, but "
				                    "--bcd is 0x%04X: "
				                    "fix the image or pass --stamp-version",
				                    va, have[0], have[1], o->ids.bcd_device);
		}
		lo = p->region_base;
		end = p->region_end;
	}
	if (o->dfuse) {
		struct st7_dfuse_target_spec t = { o->alt, o->target_name, image };
		return st7_dfu_build_dfuse(&t, 1, &o->ids, out, d);
	}
	if (end - lo > ST7_IMAGE_MAX)
		return st7_diag_set(d, ST7_ERR_TOO_LARGE,
		                    "data spans 0x%08X-0x%08llX (%llu bytes): too large for a "
		                    "plain DFU image; use --format dfuse",
		                    lo, (unsigned long long)(end - 1),
		                    (unsigned long long)(end - lo));
	flat = malloc((size_t)(end - lo));
	if (!flat)
		return ST7_ERR_NOMEM;
	st7_memimg_read(image, lo, flat, (size_t)(end - lo), 0xFF);
	ret = st7_dfu_build_plain(flat, (size_t)(end - lo), &o->ids, out, d);
	free(flat);
	return ret;
}
