/* SPDX-License-Identifier: MIT */
#include "dfuse_layout.h"

#include <stdbool.h>
#include <string.h>

struct cursor {
	const char *s, *p, *end;
};

static size_t off(const struct cursor *c)
{
	return (size_t)(c->p - c->s);
}

/* Decimal or 0x-hex number into a 64-bit value, refusing more than 32 bits. */
static int number(struct cursor *c, int base, uint32_t *out, const char *what, struct st7_diag *d)
{
	uint64_t v = 0;
	size_t digits = 0;
	size_t at = off(c);
	while (c->p < c->end) {
		char ch = *c->p;
		int dv;
		if (ch >= '0' && ch <= '9')
			dv = ch - '0';
		else if (base == 16 && ch >= 'a' && ch <= 'f')
			dv = ch - 'a' + 10;
		else if (base == 16 && ch >= 'A' && ch <= 'F')
			dv = ch - 'A' + 10;
		else
			break;
		v = v * (unsigned)base + (unsigned)dv;
		if (v > UINT32_MAX)
			return st7_diag_set(d, ST7_ERR_FORMAT, "layout offset %zu: %s too large",
			                    at, what);
		digits++;
		c->p++;
	}
	if (!digits)
		return st7_diag_set(d, ST7_ERR_FORMAT, "layout offset %zu: expected %s", at, what);
	*out = (uint32_t)v;
	return ST7_OK;
}

static bool take(struct cursor *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

int st7_dfuse_layout_parse(const char *s, size_t len, struct st7_dfuse_layout *out,
                           struct st7_diag *d)
{
	struct cursor c = { s, s, s + len };
	int ret = ST7_ERR_FORMAT;

	memset(out, 0, sizeof(*out));
	if (!take(&c, '@'))
		return st7_diag_set(d, ST7_ERR_FORMAT, "layout offset 0: expected '@'");
	const char *name = c.p;
	while (c.p < c.end && *c.p != '/')
		c.p++;
	size_t nlen = (size_t)(c.p - name);
	while (nlen && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
		nlen--;
	if (nlen >= sizeof(out->name))
		nlen = sizeof(out->name) - 1;
	memcpy(out->name, name, nlen);
	for (size_t i = 0; i < nlen; i++)
		if ((unsigned char)out->name[i] < 0x20 || (unsigned char)out->name[i] > 0x7E)
			out->name[i] = '?';

	while (take(&c, '/')) {
		uint32_t addr;
		size_t at = off(&c);
		if (!(take(&c, '0') && (take(&c, 'x') || take(&c, 'X'))))
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "layout offset %zu: expected a 0x address", at);
		if ((ret = number(&c, 16, &addr, "address", d)))
			return ret;
		if (!take(&c, '/'))
			return st7_diag_set(d, ST7_ERR_FORMAT,
			                    "layout offset %zu: expected '/' after the address",
			                    off(&c));
		uint64_t next = addr;
		do {
			struct st7_dfuse_segment seg = { .start = (uint32_t)next };
			uint32_t size;
			size_t sat = off(&c);
			if ((ret = number(&c, 10, &seg.pages, "sector count", d)))
				return ret;
			if (!take(&c, '*'))
				return st7_diag_set(d, ST7_ERR_FORMAT,
				                    "layout offset %zu: expected '*'", off(&c));
			if ((ret = number(&c, 10, &size, "sector size", d)))
				return ret;
			if (c.p >= c.end)
				return st7_diag_set(d, ST7_ERR_FORMAT,
				                    "layout offset %zu: missing unit and type",
				                    off(&c));
			uint64_t mult = 1;
			switch (*c.p) {
			case 'K':
				mult = 1024;
				c.p++;
				break;
			case 'M':
				mult = 1024 * 1024;
				c.p++;
				break;
			case 'B':
			case ' ':
				c.p++;
				break;
			default:
				break; /* some devices omit the unit for bytes */
			}
			if (c.p >= c.end || *c.p < 'a' || *c.p > 'g')
				return st7_diag_set(
				        d, ST7_ERR_FORMAT,
				        "layout offset %zu: sector type must be 'a'..'g'", off(&c));
			seg.attrs = (uint8_t)(*c.p - 'a' + 1);
			c.p++;
			uint64_t bytes = (uint64_t)size * mult;
			if (seg.pages == 0 || bytes == 0 || bytes > UINT32_MAX)
				return st7_diag_set(
				        d, ST7_ERR_FORMAT,
				        "layout offset %zu: sector count %u and size %llu "
				        "must both be non-zero and fit 32 bits",
				        sat, seg.pages, (unsigned long long)bytes);
			seg.page_size = (uint32_t)bytes;
			if (next + (uint64_t)seg.pages * bytes > ((uint64_t)1 << 32))
				return st7_diag_set(d, ST7_ERR_RANGE,
				                    "layout offset %zu: %u sectors of %u bytes at "
				                    "0x%08llX run past 4 GiB",
				                    sat, seg.pages, seg.page_size,
				                    (unsigned long long)next);
			if (out->n == ST7_DFUSE_MAX_SEGMENTS)
				return st7_diag_set(d, ST7_ERR_FORMAT,
				                    "layout offset %zu: more than %d sector groups",
				                    sat, ST7_DFUSE_MAX_SEGMENTS);
			out->seg[out->n++] = seg;
			next += (uint64_t)seg.pages * bytes;
		} while (take(&c, ','));
	}
	/* Trailing blanks or NULs are tolerated; anything else is not. */
	while (c.p < c.end && (*c.p == ' ' || *c.p == '\0'))
		c.p++;
	if (c.p != c.end)
		return st7_diag_set(d, ST7_ERR_FORMAT, "layout offset %zu: unexpected '%c'",
		                    off(&c), (*c.p >= 0x20 && *c.p < 0x7F) ? *c.p : '?');
	if (out->n == 0)
		return st7_diag_set(d, ST7_ERR_FORMAT, "layout names no memory");
	return ST7_OK;
}

const struct st7_dfuse_segment *st7_dfuse_layout_find(const struct st7_dfuse_layout *l,
                                                      uint32_t addr, uint32_t *sector_start)
{
	for (unsigned i = 0; i < l->n; i++) {
		const struct st7_dfuse_segment *s = &l->seg[i];
		uint64_t end = (uint64_t)s->start + (uint64_t)s->pages * s->page_size;
		if (addr >= s->start && addr < end) {
			if (sector_start)
				*sector_start =
				        s->start + (addr - s->start) / s->page_size * s->page_size;
			return s;
		}
	}
	return NULL;
}
