/* SPDX-License-Identifier: MIT */
#include "srec.h"

#include <stdio.h>
#include <string.h>

#include "text_lines.h"

/* Longest record after "Sn": the count byte and up to 255 counted bytes. */
#define SREC_MAX_REC (1 + 255)
#define SREC_HEADER_MAX 64

/* Address field width per type; S4 is reserved (0). */
static const unsigned addr_len[10] = { 2, 2, 3, 4, 0, 2, 3, 4, 3, 2 };

/*
 * Decode one record line [p, le) (non-blank, trailing blanks removed): sets *type and
 * fills rec with the count byte and the counted bytes (address, data, checksum).
 * Returns the number of bytes in rec or a negative error with diag set.
 */
static int decode_record(const char *p, const char *le, size_t line, unsigned *type,
                         uint8_t rec[SREC_MAX_REC], struct st7_diag *d)
{
	char cb[16];
	if (*p != 'S')
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: record starts with %s, expected 'S'", line,
		                    st7_show_char(cb, (unsigned char)*p));
	if (le - p < 2)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: record ends after 'S', expected a type digit", line);
	unsigned char t = (unsigned char)p[1];
	if (t < '0' || t > '9')
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: record type %s, expected a digit 0..9", line,
		                    st7_show_char(cb, t));
	if (t == '4')
		return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: record type S4 is reserved",
		                    line);
	*type = t - '0';
	p += 2;
	/* Validate every digit first so the message names the first bad one. */
	for (const char *q = p; q < le; q++)
		if (st7_hexval((unsigned char)*q) < 0)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT, "line %zu: column %zu: %s is not a hex digit",
			        line, (size_t)(q - p) + 3, st7_show_char(cb, (unsigned char)*q));
	size_t ndig = (size_t)(le - p);
	if (ndig % 2)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: odd number of hex digits (%zu) after 'S%c'", line,
		                    ndig, t);
	if (ndig == 0)
		return st7_diag_set(d, ST7_ERR_FORMAT, "line %zu: record has no byte count", line);
	unsigned count =
	        (unsigned)(st7_hexval((unsigned char)p[0]) << 4 | st7_hexval((unsigned char)p[1]));
	if (ndig / 2 != (size_t)count + 1)
		return st7_diag_set(
		        d, ST7_ERR_FORMAT,
		        "line %zu: byte count 0x%02X needs %u bytes after it, found %zu", line,
		        count, count, ndig / 2 - 1);
	unsigned sum = 0;
	for (size_t i = 0; i <= count; i++) {
		rec[i] = (uint8_t)(st7_hexval((unsigned char)p[2 * i]) << 4 |
		                   st7_hexval((unsigned char)p[2 * i + 1]));
		sum += rec[i];
	}
	if (count == 0)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: byte count 0x00, expected at least 0x%02X", line,
		                    addr_len[*type] + 1);
	/* The checksum is the ones' complement of the sum of the bytes before it. */
	uint8_t want = (uint8_t) ~(sum - rec[count]);
	if (rec[count] != want)
		return st7_diag_set(d, ST7_ERR_CRC, "line %zu: checksum 0x%02X, computed 0x%02X",
		                    line, rec[count], want);
	if (count < addr_len[*type] + 1)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: S%u byte count 0x%02X, expected at least 0x%02X",
		                    line, *type, count, addr_len[*type] + 1);
	return (int)count + 1;
}

struct srec_state {
	size_t records_line;        /* line of the first record, for the S0 rule */
	size_t end_line;            /* line of the termination record, 0 if none */
	unsigned long data_records; /* S1/S2/S3 records so far */
	struct st7_srec_info info;
	struct st7_start_addr start;
};

static int handle_record(struct srec_state *st, struct st7_memimg *out, unsigned type,
                         const uint8_t *rec, size_t line, struct st7_diag *d)
{
	unsigned alen = addr_len[type];
	unsigned n = rec[0] - alen - 1; /* data bytes; decode_record checked rec[0] > alen */
	const uint8_t *data = rec + 1 + alen;
	uint32_t addr = 0;
	for (unsigned i = 0; i < alen; i++)
		addr = addr << 8 | rec[1 + i];

	switch (type) {
	case 0:
		if (st->records_line != line)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "line %zu: S0 header must come first; the first record is "
			        "on line %zu",
			        line, st->records_line);
		/* Longer headers are accepted; only the first 64 bytes are kept. */
		for (unsigned i = 0; i < n && i < SREC_HEADER_MAX; i++)
			st->info.header[i] =
			        data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '.';
		st->info.header[n < SREC_HEADER_MAX ? n : SREC_HEADER_MAX] = '\0';
		return ST7_OK;
	case 1:
	case 2:
	case 3: {
		st->data_records++;
		if (alen > st->info.addr_bytes)
			st->info.addr_bytes = alen;
		if (n == 0)
			return ST7_OK;
		/* The address field only limits where a record starts; its data runs on
		 * linearly, up to the end of the 32-bit space. */
		if ((uint64_t)addr + n > (uint64_t)1 << 32)
			return st7_diag_set(d, ST7_ERR_RANGE,
			                    "line %zu: %u bytes at 0x%08X run past 4 GiB", line, n,
			                    (unsigned)addr);
		struct st7_diag sub = { { 0 } };
		int ret = st7_memimg_add(out, addr, data, n, &sub);
		if (ret)
			return st7_diag_set(d, ret, "line %zu: %s", line,
			                    sub.msg[0] ? sub.msg : st7_strerror(ret));
		return ST7_OK;
	}
	case 5:
	case 6:
		if (n)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "line %zu: S%u count record carries %u data bytes, "
			                    "expected none",
			                    line, type, n);
		if (addr != st->data_records)
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "line %zu: S%u record count %u, found %lu data records",
			                    line, type, (unsigned)addr, st->data_records);
		return ST7_OK;
	default: /* 7, 8, 9 */
		if (n)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "line %zu: S%u termination record carries %u data bytes, "
			        "expected none",
			        line, type, n);
		st->start.present = true;
		st->start.segment = false;
		st->start.addr = addr;
		st->end_line = line;
		return ST7_OK;
	}
}

int st7_srec_parse(const char *text, size_t len, unsigned flags, struct st7_memimg *out,
                   struct st7_start_addr *start, struct st7_srec_info *info, struct st7_diag *d)
{
	struct srec_state st = { 0 };
	uint8_t rec[SREC_MAX_REC];
	size_t line = 0;
	unsigned type = 0;
	int ret = ST7_ERR_FORMAT;

	st7_diag_clear(d);
	if (start)
		*start = (struct st7_start_addr){ 0 };
	if (info)
		memset(info, 0, sizeof(*info));
	if (!out || (!text && len) || (flags & ~ST7_SREC_LENIENT_END))
		return st7_diag_set(d, ST7_ERR_INVALID, "bad arguments");

	const char *p = text, *end = text ? text + len : NULL, *lp, *le;
	while (st7_next_content_line(&p, end, &line, &lp, &le)) {
		if (st.end_line)
			return st7_diag_set(
			        d, ST7_ERR_FORMAT,
			        "line %zu: content after the termination record on line "
			        "%zu",
			        line, st.end_line);
		if (!st.records_line)
			st.records_line = line;
		ret = decode_record(lp, le, line, &type, rec, d);
		if (ret < 0)
			return ret;
		if ((ret = handle_record(&st, out, type, rec, line, d)) != ST7_OK)
			return ret;
	}
	if (!st.end_line && !(flags & ST7_SREC_LENIENT_END))
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "line %zu: input ends without a termination record (S7, S8 or "
		                    "S9)",
		                    line ? line : 1);
	st.info.records = st.data_records;
	if (start)
		*start = st.start;
	if (info)
		*info = st.info;
	return ST7_OK;
}

static int put_record(struct st7_buf *out, unsigned type, unsigned alen, uint32_t addr,
                      const uint8_t *data, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char line[2 + 2 * SREC_MAX_REC + 1];
	uint8_t head[5];
	unsigned sum = 0;
	size_t k = 0;

	head[0] = (uint8_t)(alen + n + 1);
	for (unsigned i = 0; i < alen; i++)
		head[1 + i] = (uint8_t)(addr >> (8 * (alen - 1 - i)));
	line[k++] = 'S';
	line[k++] = (char)('0' + type);
	for (size_t i = 0; i < 1 + alen + n; i++) {
		uint8_t b = i < 1 + alen ? head[i] : data[i - 1 - alen];
		sum += b;
		line[k++] = hex[b >> 4];
		line[k++] = hex[b & 15];
	}
	uint8_t cks = (uint8_t)~sum;
	line[k++] = hex[cks >> 4];
	line[k++] = hex[cks & 15];
	line[k++] = '\n';
	return st7_buf_append(out, line, k);
}

int st7_srec_write(const struct st7_memimg *m, unsigned bytes_per_record, const char *header,
                   const struct st7_start_addr *start, struct st7_buf *out)
{
	int ret = ST7_ERR_INVALID;
	if (!m || !out || bytes_per_record < 1 || bytes_per_record > 250)
		return ret;
	size_t old_len = out->len;
	uint32_t lo;
	uint64_t hi = 0, end;
	uint32_t entry = start && start->present ? start->addr : 0;

	/* The narrowest width that holds every data address and the start address. */
	if (st7_memimg_bounds(m, &lo, &end))
		hi = end - 1;
	if (entry > hi)
		hi = entry;
	unsigned alen = hi <= 0xffff ? 2 : hi <= 0xffffff ? 3 : 4;

	if (header) {
		size_t n = 0;
		while (n < SREC_HEADER_MAX && header[n])
			n++;
		if ((ret = put_record(out, 0, 2, 0, (const uint8_t *)header, n)) != ST7_OK)
			goto fail;
	}
	unsigned long records = 0;
	for (size_t i = 0; i < m->nsegs; i++) {
		const struct st7_memseg *s = &m->segs[i];
		for (size_t pos = 0; pos < s->len; records++) {
			size_t n =
			        s->len - pos < bytes_per_record ? s->len - pos : bytes_per_record;
			ret = put_record(out, alen - 1, alen, s->addr + (uint32_t)pos,
			                 s->data + pos, n);
			if (ret)
				goto fail;
			pos += n;
		}
	}
	/* S5 and S6 hold 16 and 24 bits; a larger count cannot be written at all. */
	ret = ST7_OK;
	if (records <= 0xffff)
		ret = put_record(out, 5, 2, (uint32_t)records, NULL, 0);
	else if (records <= 0xffffff)
		ret = put_record(out, 6, 3, (uint32_t)records, NULL, 0);
	if (ret)
		goto fail;
	if ((ret = put_record(out, 11 - alen, alen, entry, NULL, 0)) != ST7_OK)
		goto fail;
	return ST7_OK;
fail:
	out->len = old_len; /* fail closed: leave no partial file behind */
	return ret;
}
