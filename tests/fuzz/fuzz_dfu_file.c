/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the DFU suffix / DfuSe reader, and for the info renderer that
 * prints whatever it decoded. When a DfuSe file parses, it is rebuilt from its
 * elements and parsed again: the data per target must survive the round trip.
 *
 * Input: byte 0 is a mode, the rest is the file. Mode bit 0 set: the suffix dwCRC (the
 * last 4 bytes, little-endian) is first recomputed over everything before it, since a
 * mutated file almost never keeps a valid CRC and everything past the CRC check (the
 * DfuSe prefix, target and element parsers) would only ever see the seeds. Bit 0
 * clear: the file as given, so the CRC check itself is fuzzed too. Bit 1 picks the
 * profile the info renderer checks against.
 */
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "dfu_file.h"
#include "inspect.h"

static void roundtrip_dfuse(const struct st7_dfu_file *f)
{
	for (unsigned t = 0; t < f->n_targets; t++) {
		const struct st7_dfuse_target *tg = &f->targets[t];
		struct st7_memimg m, back;
		struct st7_buf out;
		struct st7_dfu_file g;
		st7_memimg_init(&m);
		st7_memimg_init(&back);
		st7_buf_init(&out);
		st7_dfu_file_init(&g);
		for (uint32_t k = 0; k < tg->n_elements; k++) {
			const struct st7_dfuse_element *e = &f->elements[tg->first_element + k];
			/* Targets of one alt were checked for overlaps, so within one target
			 * an add can only fail on memory limits. */
			if (st7_memimg_add(&m, e->address, f->data + e->offset, e->size, NULL))
				abort();
		}
		struct st7_dfuse_target_spec spec = { tg->alt, tg->named ? tg->name : NULL, &m };
		struct st7_dfu_ids ids = { f->suffix.id_vendor, f->suffix.id_product,
			                   f->suffix.bcd_device, 0 };
		int ret = st7_dfu_build_dfuse(&spec, 1, &ids, &out, NULL);
		if (ret == ST7_OK) {
			if (st7_dfu_file_parse(&g, out.data, out.len, 0, NULL) != ST7_OK)
				abort();
			if (st7_dfu_file_to_memimg(&g, 0, -1, &back, NULL) != ST7_OK)
				abort();
			if (!st7_memimg_equal(&m, &back))
				abort();
			if (g.suffix.bcd_device != f->suffix.bcd_device)
				abort();
		} else if (ret != ST7_ERR_INVALID) { /* a 255-byte name does not fit back */
			abort();
		}
		st7_dfu_file_free(&g);
		st7_buf_free(&out);
		st7_memimg_free(&back);
		st7_memimg_free(&m);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t in_size)
{
	if (in_size == 0)
		return 0;
	uint8_t mode = in[0];
	size_t size = in_size - 1;
	/* An exact-size copy: the parser may keep pointers into it, and ASan sees any
	 * read past its end. */
	uint8_t *data = malloc(size ? size : 1);
	if (!data)
		return 0;
	memcpy(data, in + 1, size);
	if ((mode & 1) && size >= 4)
		st7_put_le32(data + size - 4, st7_dfu_crc(data, size - 4));

	struct st7_dfu_file f;
	st7_dfu_file_init(&f);
	if (st7_dfu_file_parse(&f, data, size, 0, NULL) == ST7_OK) {
		if (f.payload_len > size)
			abort();
		if (f.kind == ST7_DFU_KIND_DFUSE)
			roundtrip_dfuse(&f);
	}
	st7_dfu_file_free(&f);
	st7_dfu_file_parse(&f, data, size, ST7_DFU_ALLOW_RAW, NULL);
	st7_dfu_file_free(&f);

	/* The renderers must cope with whatever a failed or partial parse left. */
	struct st7_inspect_report r;
	struct st7_buf out;
	struct st7_json j;
	st7_inspect_init(&r);
	st7_buf_init(&out);
	st7_json_init(&j, &out);
	st7_inspect(&r, data, size, mode & 2 ? st7_profile_find("st72f62") : NULL);
	st7_inspect_text(&r, "fuzz", &out);
	st7_inspect_json(&r, "fuzz", &j);
	if (st7_json_finish(&j) != ST7_OK)
		abort();
	st7_buf_free(&out);
	st7_inspect_free(&r);
	free(data);
	return 0;
}
