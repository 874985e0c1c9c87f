/* SPDX-License-Identifier: MIT */
#include "ihex.h"

#include <stdio.h>
#include <string.h>

#include "text_lines.h"

/* Longest record: 5 header/checksum bytes around 255 data bytes. */
#define IHEX_MAX_REC (5 + 255)

enum ihex_type {
	IHEX_DATA = 0x00,
	IHEX_EOF = 0x01,
	IHEX_EXT_SEG = 0x02,
	IHEX_START_SEG = 0x03,
	IHEX_EXT_LIN = 0x04,
	IHEX_START_LIN = 0x05,
};

static const char *const type_name[] = {
	"data",
	"end-of-file",
	"extended segment address",
	"start segment address",
	"extended linear address",
	"start linear address",
};

/* Payload length each non-data type must have (data records may hold 0..255). */
static const unsigned type_len[] = { 0, 0, 2, 4, 2, 4 };

/*
 * Decode one record line [p, le) (non-blank, trailing blanks removed) into rec.
 * Returns the number of record bytes (>= 5) or a negative error with diag set.
 */
static int decode_record(const char *p, const char *le, size_t line, uint8_t rec[IHEX_MAX_REC],
                         struct st7_diag *d)
{
	char cb[16];
	if (*p != ':')
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: record starts with %s, expected ':'", line,
		                    st7_show_char(cb, (unsigned char)*p));
	p++;
	/* Validate every digit first so the message names the first bad one. */
	for (const char *q = p; q < le; q++)
		if (st7_hexval((unsigned char)*q) < 0)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT, "line %zu: column %zu: %s is not a hex digit",
			        line, (size_t)(q - p) + 2, st7_show_char(cb, (unsigned char)*q));
	size_t ndig = (size_t)(le - p);
	if (ndig % 2)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: odd number of hex digits (%zu) after ':'", line,
		                    ndig);
	if (ndig < 10)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: record of %zu bytes, expected at least 5", line,
		                    ndig / 2);
	unsigned count =
	        (unsigned)(st7_hexval((unsigned char)p[0]) << 4 | st7_hexval((unsigned char)p[1]));
	if (ndig / 2 != (size_t)count + 5)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: byte count 0x%02X needs %u record bytes, found %zu",
		                    line, count, count + 5, ndig / 2);
	unsigned sum = 0;
	for (size_t i = 0; i < (size_t)count + 5; i++) {
		rec[i] = (uint8_t)(st7_hexval((unsigned char)p[2 * i]) << 4 |
		                   st7_hexval((unsigned char)p[2 * i + 1]));
		sum += rec[i];
	}
	/* The checksum makes all bytes sum to 0 mod 256. */
	if (sum & 0xff) {
		uint8_t want = (uint8_t)(0x100 - ((sum - rec[count + 4]) & 0xff));
		return st7_diag_set(d, ST7_ERR_CRC, "line %zu: checksum 0x%02X, computed 0x%02X",
		                    line, rec[count + 4], want);
	}
	return (int)count + 5;
}

struct ihex_state {
	enum { MODE_LINEAR, MODE_SEGMENT } mode;
	uint32_t base;     /* v << 16 (linear) or v << 4 (segment) */
	size_t start_line; /* line of the start record, 0 if none */
	size_t eof_line;   /* line of the EOF record, 0 if none yet */
	struct st7_start_addr start;
};

static int add_data(struct ihex_state *st, struct st7_memimg *out, uint16_t off,
                    const uint8_t *data, unsigned n, size_t line, struct st7_diag *d)
{
	uint64_t addr, end;
	if (n == 0)
		return ST7_OK;
	if (st->mode == MODE_SEGMENT) {
		/* The spec wraps offsets within the segment; a file relying on that is almost
		 * certainly broken, so refuse rather than guess. */
		if ((uint32_t)off + n > 0x10000)
			return st7_diag_set(d, ST7_ERR_RANGE,
			                    "line %zu: %u bytes at offset 0x%04X wrap past the end "
			                    "of segment 0x%04X",
			                    line, n, off, (unsigned)(st->base >> 4));
		addr = (uint64_t)st->base + off;
		end = addr + n;
		if (end > 0x100000)
			return st7_diag_set(d, ST7_ERR_RANGE,
			                    "line %zu: %u bytes at 0x%05llX run past the 1 MiB "
			                    "segment address space",
			                    line, n, (unsigned long long)addr);
	} else {
		/* Linear addressing continues past a 64 KiB boundary (no wrap). */
		addr = (uint64_t)st->base + off;
		end = addr + n;
		if (end > (uint64_t)1 << 32)
			return st7_diag_set(d, ST7_ERR_RANGE,
			                    "line %zu: %u bytes at 0x%08llX run past 4 GiB", line,
			                    n, (unsigned long long)addr);
	}
	struct st7_diag sub = { { 0 } };
	int ret = st7_memimg_add(out, (uint32_t)addr, data, n, &sub);
	if (ret)
		return st7_diag_set(d, ret, "line %zu: %s", line,
		                    sub.msg[0] ? sub.msg : st7_strerror(ret));
	return ST7_OK;
}

static int handle_record(struct ihex_state *st, struct st7_memimg *out, const uint8_t *rec,
                         size_t line, struct st7_diag *d)
{
	unsigned count = rec[0];
	uint16_t off = (uint16_t)(rec[1] << 8 | rec[2]);
	unsigned type = rec[3];
	const uint8_t *data = rec + 4;

	if (type > IHEX_START_LIN)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: record type 0x%02X, expected 0x00..0x05", line,
		                    type);
	if (type != IHEX_DATA && count != type_len[type])
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: %s record byte count 0x%02X, expected 0x%02X", line,
		                    type_name[type], count, type_len[type]);
	/* The EOF record's address is ignored: some tools put the entry point there. */
	if (type >= IHEX_EXT_SEG && off != 0)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: %s record address field 0x%04X, expected 0x0000",
		                    line, type_name[type], off);

	switch (type) {
	case IHEX_DATA:
		return add_data(st, out, off, data, count, line, d);
	case IHEX_EOF:
		st->eof_line = line;
		return ST7_OK;
	case IHEX_EXT_SEG:
		st->mode = MODE_SEGMENT;
		st->base = (uint32_t)st7_be16(data) << 4;
		return ST7_OK;
	case IHEX_EXT_LIN:
		st->mode = MODE_LINEAR;
		st->base = (uint32_t)st7_be16(data) << 16;
		return ST7_OK;
	default: /* IHEX_START_SEG, IHEX_START_LIN */
		if (st->start_line)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "line %zu: second start address record (first on "
			                    "line %zu)",
			                    line, st->start_line);
		st->start_line = line;
		st->start.present = true;
		st->start.segment = type == IHEX_START_SEG;
		st->start.addr = (uint32_t)st7_be16(data) << 16 | st7_be16(data + 2);
		return ST7_OK;
	}
}

int st7_ihex_parse(const char *text, size_t len, struct st7_memimg *out,
                   struct st7_start_addr *start, struct st7_diag *d)
{
	struct ihex_state st = { .mode = MODE_LINEAR };
	uint8_t rec[IHEX_MAX_REC];
	size_t line = 0;
	int ret = ST7_ERR_FORMAT;

	st7_diag_clear(d);
	if (!out || (!text && len))
		return st7_diag_set(d, ST7_ERR_INVALID, "no input or output");
	if (start)
		*start = (struct st7_start_addr){ 0 };

	const char *p = text, *end = text ? text + len : NULL, *lp, *le;
	while (st7_next_content_line(&p, end, &line, &lp, &le)) {
		if (st.eof_line)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "line %zu: content after the end-of-file record on line "
			        "%zu",
			        line, st.eof_line);
		ret = decode_record(lp, le, line, rec, d);
		if (ret < 0)
			return ret;
		if ((ret = handle_record(&st, out, rec, line, d)) != ST7_OK)
			return ret;
	}
	if (!st.eof_line)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: input ends without an end-of-file record (type 01)",
		                    line ? line : 1);
	if (start)
		*start = st.start;
	return ST7_OK;
}

static int put_record(struct st7_buf *out, unsigned type, uint16_t off, const uint8_t *data,
                      size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char line[1 + 2 * IHEX_MAX_REC + 1];
	uint8_t head[4] = { (uint8_t)n, (uint8_t)(off >> 8), (uint8_t)off, (uint8_t)type };
	unsigned sum = 0;
	size_t k = 0;

	line[k++] = ':';
	for (size_t i = 0; i < 4 + n; i++) {
		uint8_t b = i < 4 ? head[i] : data[i - 4];
		sum += b;
		line[k++] = hex[b >> 4];
		line[k++] = hex[b & 15];
	}
	uint8_t cks = (uint8_t)(0x100 - (sum & 0xff));
	line[k++] = hex[cks >> 4];
	line[k++] = hex[cks & 15];
	line[k++] = '\n';
	return st7_buf_append(out, line, k);
}

int st7_ihex_write(const struct st7_memimg *m, unsigned bytes_per_record,
                   const struct st7_start_addr *start, struct st7_buf *out)
{
	int ret = ST7_ERR_INVALID;
	if (!m || !out || bytes_per_record < 1 || bytes_per_record > 255)
		return ret;
	size_t old_len = out->len;
	uint32_t upper = 0; /* the implicit base before any 04 record */

	for (size_t i = 0; i < m->nsegs; i++) {
		const struct st7_memseg *s = &m->segs[i];
		for (size_t pos = 0; pos < s->len;) {
			uint32_t a = s->addr + (uint32_t)pos; /* addr + len <= 2^32 */
			if (a >> 16 != upper) {
				uint8_t v[2] = { (uint8_t)(a >> 24), (uint8_t)(a >> 16) };
				upper = a >> 16;
				if ((ret = put_record(out, IHEX_EXT_LIN, 0, v, 2)) != ST7_OK)
					goto fail;
			}
			/* Never cross a 64 KiB boundary: readers differ on whether to wrap. */
			size_t n = s->len - pos;
			if (n > bytes_per_record)
				n = bytes_per_record;
			if (n > 0x10000 - (a & 0xffff))
				n = 0x10000 - (a & 0xffff);
			if ((ret = put_record(out, IHEX_DATA, (uint16_t)a, s->data + pos, n)) !=
			    ST7_OK)
				goto fail;
			pos += n;
		}
	}
	if (start && start->present) {
		uint8_t v[4];
		v[0] = (uint8_t)(start->addr >> 24);
		v[1] = (uint8_t)(start->addr >> 16);
		v[2] = (uint8_t)(start->addr >> 8);
		v[3] = (uint8_t)start->addr;
		ret = put_record(out, start->segment ? IHEX_START_SEG : IHEX_START_LIN, 0, v, 4);
		if (ret)
			goto fail;
	}
	if ((ret = put_record(out, IHEX_EOF, 0, NULL, 0)) != ST7_OK)
		goto fail;
	return ST7_OK;
fail:
	out->len = old_len; /* fail closed: leave no partial file behind */
	return ret;
}
