/* SPDX-License-Identifier: MIT */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void st7_buf_init(struct st7_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void st7_buf_free(struct st7_buf *b)
{
	if (!b)
		return;
	free(b->data);
	st7_buf_init(b);
}

int st7_buf_reserve(struct st7_buf *b, size_t extra)
{
	size_t limit = b->limit ? b->limit : SIZE_MAX / 2;
	if (extra > limit || b->len > limit - extra)
		return ST7_ERR_NOMEM;
	size_t need = b->len + extra;
	if (need <= b->cap)
		return ST7_OK;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > limit / 2 ? limit : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return ST7_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return ST7_OK;
}

int st7_buf_append(struct st7_buf *b, const void *p, size_t n)
{
	int ret = st7_buf_reserve(b, n);
	if (ret)
		return ret;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return ST7_OK;
}

int st7_buf_append_byte(struct st7_buf *b, uint8_t v)
{
	return st7_buf_append(b, &v, 1);
}

int st7_buf_fill(struct st7_buf *b, uint8_t v, size_t n)
{
	int ret = st7_buf_reserve(b, n);
	if (ret)
		return ret;
	memset(b->data + b->len, v, n);
	b->len += n;
	return ST7_OK;
}

int st7_buf_append_le16(struct st7_buf *b, uint16_t v)
{
	uint8_t t[2];
	st7_put_le16(t, v);
	return st7_buf_append(b, t, 2);
}

int st7_buf_append_le32(struct st7_buf *b, uint32_t v)
{
	uint8_t t[4];
	st7_put_le32(t, v);
	return st7_buf_append(b, t, 4);
}

int st7_buf_printf(struct st7_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return ST7_ERR_INVALID;
	/* +1 for vsnprintf's NUL, which we then drop from len. */
	int ret = st7_buf_reserve(b, (size_t)n + 1);
	if (ret)
		return ret;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return ST7_OK;
}
