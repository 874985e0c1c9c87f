/* SPDX-License-Identifier: MIT */
#include "memimg.h"

#include <stdlib.h>
#include <string.h>

#define MEMIMG_DEFAULT_MAX ((size_t)256 << 20)

void st7_memimg_init(struct st7_memimg *m)
{
	memset(m, 0, sizeof(*m));
}

void st7_memimg_free(struct st7_memimg *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nsegs; i++)
		free(m->segs[i].base);
	free(m->segs);
	st7_memimg_init(m);
}

static uint64_t seg_end(const struct st7_memseg *s)
{
	return (uint64_t)s->addr + s->len;
}

/* Index of the first segment whose end is > addr (where addr would go). */
static size_t find_slot(const struct st7_memimg *m, uint32_t addr)
{
	size_t lo = 0, hi = m->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (seg_end(&m->segs[mid]) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Make room for `extra` more bytes at the front (at_front) or the back of a segment.
 * Growth doubles the allocation and, at the front, leaves spare room there too. */
static int seg_grow(struct st7_memseg *s, size_t extra, bool at_front)
{
	size_t tail = s->cap - s->head - s->len;
	if (at_front ? s->head >= extra : tail >= extra)
		return ST7_OK;
	if (s->len > SIZE_MAX / 4 || extra > SIZE_MAX / 4)
		return ST7_ERR_NOMEM;
	size_t want = s->len + extra;
	size_t cap = want < 64 ? 64 : want * 2;
	size_t head = at_front ? cap - want + extra : 0;
	if (!at_front && s->head == 0) {
		uint8_t *p = realloc(s->base, cap);
		if (!p)
			return ST7_ERR_NOMEM;
		s->base = s->data = p;
		s->cap = cap;
		return ST7_OK;
	}
	uint8_t *p = malloc(cap);
	if (!p)
		return ST7_ERR_NOMEM;
	if (s->len)
		memcpy(p + head, s->data, s->len);
	free(s->base);
	s->base = p;
	s->head = head;
	s->data = p + head;
	s->cap = cap;
	return ST7_OK;
}

static void seg_append(struct st7_memseg *s, const uint8_t *data, size_t len)
{
	memcpy(s->data + s->len, data, len);
	s->len += len;
}

static void seg_prepend(struct st7_memseg *s, const uint8_t *data, size_t len)
{
	s->head -= len;
	s->data -= len;
	memcpy(s->data, data, len);
	s->len += len;
	s->addr -= (uint32_t)len;
}

int st7_memimg_add(struct st7_memimg *m, uint32_t addr, const uint8_t *data, size_t len,
                   struct st7_diag *d)
{
	size_t max = m->max_total ? m->max_total : MEMIMG_DEFAULT_MAX;
	if (len == 0)
		return ST7_OK;
	if (len > ((uint64_t)1 << 32) - addr)
		return st7_diag_set(
		        d, ST7_ERR_RANGE,
		        "%zu bytes at 0x%08X run past the end of the 32-bit address space", len,
		        addr);
	if (len > max || m->total > max - len)
		return st7_diag_set(d, ST7_ERR_NOMEM, "image larger than the %zu-byte limit", max);

	uint64_t end = (uint64_t)addr + len;
	/* Fast path: ascending input lands after the last segment. */
	size_t i = (m->nsegs && seg_end(&m->segs[m->nsegs - 1]) <= addr) ? m->nsegs
	                                                                 : find_slot(m, addr);
	/* segs[i] is the first segment ending after addr: it overlaps if it starts before end. */
	if (i < m->nsegs && m->segs[i].addr < end) {
		uint32_t clash = m->segs[i].addr > addr ? m->segs[i].addr : addr;
		return st7_diag_set(d, ST7_ERR_OVERLAP,
		                    "data at 0x%08X overlaps data already present at 0x%08X", addr,
		                    clash);
	}
	bool join_prev = i > 0 && seg_end(&m->segs[i - 1]) == addr;
	bool join_next = i < m->nsegs && m->segs[i].addr == end;

	if (join_prev) {
		struct st7_memseg *p = &m->segs[i - 1];
		size_t next_len = join_next ? m->segs[i].len : 0;
		if (seg_grow(p, len + next_len, false))
			return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory at 0x%08X", addr);
		seg_append(p, data, len);
		if (join_next) {
			seg_append(p, m->segs[i].data, next_len);
			free(m->segs[i].base);
			memmove(&m->segs[i], &m->segs[i + 1],
			        (m->nsegs - i - 1) * sizeof(m->segs[0]));
			m->nsegs--;
		}
		m->total += len;
		return ST7_OK;
	}
	if (join_next) {
		struct st7_memseg *n = &m->segs[i];
		if (seg_grow(n, len, true))
			return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory at 0x%08X", addr);
		seg_prepend(n, data, len);
		m->total += len;
		return ST7_OK;
	}
	if (m->nsegs >= ST7_MEMIMG_MAX_SEGMENTS)
		return st7_diag_set(d, ST7_ERR_NOMEM,
		                    "data at 0x%08X would make more than %d separate runs of data",
		                    addr, ST7_MEMIMG_MAX_SEGMENTS);
	if (m->nsegs == m->segcap) {
		size_t cap = m->segcap ? m->segcap * 2 : 8;
		struct st7_memseg *s = realloc(m->segs, cap * sizeof(*s));
		if (!s)
			return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory at 0x%08X", addr);
		m->segs = s;
		m->segcap = cap;
	}
	struct st7_memseg seg = { .addr = addr };
	if (seg_grow(&seg, len, false))
		return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory at 0x%08X", addr);
	seg_append(&seg, data, len);
	memmove(&m->segs[i + 1], &m->segs[i], (m->nsegs - i) * sizeof(m->segs[0]));
	m->segs[i] = seg;
	m->nsegs++;
	m->total += len;
	return ST7_OK;
}

bool st7_memimg_bounds(const struct st7_memimg *m, uint32_t *lo, uint64_t *end)
{
	if (m->nsegs == 0)
		return false;
	if (lo)
		*lo = m->segs[0].addr;
	if (end)
		*end = seg_end(&m->segs[m->nsegs - 1]);
	return true;
}

void st7_memimg_read(const struct st7_memimg *m, uint32_t addr, uint8_t *out, size_t len,
                     uint8_t fill)
{
	if (len == 0)
		return;
	memset(out, fill, len);
	uint64_t end = (uint64_t)addr + len;
	for (size_t i = find_slot(m, addr); i < m->nsegs && m->segs[i].addr < end; i++) {
		const struct st7_memseg *s = &m->segs[i];
		uint64_t from = s->addr > addr ? s->addr : addr;
		uint64_t to = seg_end(s) < end ? seg_end(s) : end;
		memcpy(out + (from - addr), s->data + (from - s->addr), (size_t)(to - from));
	}
}

bool st7_memimg_within(const struct st7_memimg *m, uint64_t lo, uint64_t end, uint32_t *bad_addr)
{
	for (size_t i = 0; i < m->nsegs; i++) {
		const struct st7_memseg *s = &m->segs[i];
		if (s->addr < lo || seg_end(s) > end) {
			if (bad_addr)
				*bad_addr =
				        (s->addr < lo || s->addr >= end) ? s->addr : (uint32_t)end;
			return false;
		}
	}
	return true;
}

bool st7_memimg_equal(const struct st7_memimg *a, const struct st7_memimg *b)
{
	if (a->nsegs != b->nsegs || a->total != b->total)
		return false;
	for (size_t i = 0; i < a->nsegs; i++) {
		const struct st7_memseg *x = &a->segs[i], *y = &b->segs[i];
		if (x->addr != y->addr || x->len != y->len || memcmp(x->data, y->data, x->len))
			return false;
	}
	return true;
}
