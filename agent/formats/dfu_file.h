/* SPDX-License-Identifier: MIT */
/*
 * DFU firmware files: plain images (payload + suffix, DFU 1.0 appendix B / DFU 1.1
 * appendix B) and ST's DfuSe container (UM0391: prefix, targets, elements, suffix
 * with bcdDFU 0x011A). Reader and writer; no I/O.
 *
 * Reader contract (st7_dfu_file_parse):
 *  - `buf`/`len` is the whole file; it is borrowed and must outlive `f` (element data
 *    and the payload point into it).
 *  - Strict by default: a missing suffix (no "UFD"), bLength < 16 or larger than the
 *    file, a CRC mismatch, an unknown bcdDFU, a DfuSe prefix in a non-DfuSe file (or
 *    none in a DfuSe file), any truncation, sizes that disagree with the file or
 *    overflow, absurd counts, overlapping elements and trailing bytes are errors.
 *    ST7_DFU_ALLOW_RAW accepts a file without a suffix as a raw payload instead.
 *  - On failure the diag names the offset, field and expected vs found, and `f`
 *    keeps what was decoded before the failure (has_suffix and the suffix fields,
 *    including both CRCs) so that callers can still report them; targets are kept
 *    only on success.
 */
#ifndef ST7_DFU_FILE_H
#define ST7_DFU_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "memimg.h"

#define ST7_DFU_SUFFIX_LEN 16
#define ST7_BCDDFU_1_0 0x0100
#define ST7_BCDDFU_1_1 0x0110
#define ST7_BCDDFU_DFUSE 0x011A
#define ST7_DFU_ID_ANY 0xFFFF

#define ST7_DFUSE_PREFIX_LEN 11
#define ST7_DFUSE_TARGET_PREFIX_LEN 274
#define ST7_DFUSE_ELEMENT_HDR_LEN 8
#define ST7_DFUSE_NAME_LEN 255

/* Parse flags. */
#define ST7_DFU_ALLOW_RAW 0x1u /* no suffix: treat the whole file as a raw payload */

enum st7_dfu_kind {
	ST7_DFU_KIND_RAW,   /* no suffix (only with ST7_DFU_ALLOW_RAW) */
	ST7_DFU_KIND_PLAIN, /* payload + suffix */
	ST7_DFU_KIND_DFUSE  /* DfuSe prefix, targets, elements + suffix */
};

struct st7_dfu_suffix {
	uint16_t bcd_device;
	uint16_t id_product;
	uint16_t id_vendor;
	uint16_t bcd_dfu;
	uint8_t length; /* bLength */
	uint32_t crc_stored;
	uint32_t crc_computed;
};

struct st7_dfuse_element {
	uint32_t address;
	uint32_t size;
	size_t offset; /* file offset of the element's data */
};

struct st7_dfuse_target {
	uint8_t alt;
	uint32_t named; /* bTargetNamed (non-zero: szTargetName is meaningful) */
	char name[ST7_DFUSE_NAME_LEN + 1];
	uint32_t size; /* dwTargetSize */
	size_t offset; /* file offset of the "Target" prefix */
	size_t first_element;
	uint32_t n_elements;
};

struct st7_dfu_file {
	const uint8_t *data; /* borrowed: the whole file */
	size_t len;
	enum st7_dfu_kind kind;
	bool has_suffix;
	struct st7_dfu_suffix suffix;
	size_t payload_len; /* the payload is data[0 .. payload_len) */
	/* DfuSe only */
	uint8_t dfuse_version;
	uint32_t dfuse_image_size;
	unsigned n_targets;
	struct st7_dfuse_target *targets;
	size_t n_elements;
	struct st7_dfuse_element *elements; /* all targets' elements, in file order */
};

void st7_dfu_file_init(struct st7_dfu_file *f);
void st7_dfu_file_free(struct st7_dfu_file *f);

int st7_dfu_file_parse(struct st7_dfu_file *f, const uint8_t *buf, size_t len, unsigned flags,
                       struct st7_diag *d);

/*
 * Add a parsed file's data to `out`: a plain or raw payload at `base`; for DfuSe,
 * the elements of every target whose alt setting equals `alt`, or of all targets
 * when `alt` < 0 (overlaps between alt settings are then errors).
 */
int st7_dfu_file_to_memimg(const struct st7_dfu_file *f, uint32_t base, int alt,
                           struct st7_memimg *out, struct st7_diag *d);

/* What goes into a suffix we write. */
struct st7_dfu_ids {
	uint16_t id_vendor;
	uint16_t id_product;
	uint16_t bcd_device;
	uint16_t bcd_dfu; /* 0 means 0x0100 for plain files; DfuSe always uses 0x011A */
};

/* Append a 16-byte suffix whose CRC covers everything already in `out`. */
int st7_dfu_append_suffix(struct st7_buf *out, const struct st7_dfu_ids *ids);

/* `out` receives payload + suffix. */
int st7_dfu_build_plain(const uint8_t *payload, size_t len, const struct st7_dfu_ids *ids,
                        struct st7_buf *out, struct st7_diag *d);

/* One DfuSe target: one element per contiguous segment of `image`. */
struct st7_dfuse_target_spec {
	uint8_t alt;
	const char *name; /* NULL or "": unnamed */
	const struct st7_memimg *image;
};

/* `out` receives prefix, targets and suffix (bcdDFU 0x011A). */
int st7_dfu_build_dfuse(const struct st7_dfuse_target_spec *targets, unsigned n_targets,
                        const struct st7_dfu_ids *ids, struct st7_buf *out, struct st7_diag *d);

const char *st7_dfu_kind_name(enum st7_dfu_kind k);

#endif
