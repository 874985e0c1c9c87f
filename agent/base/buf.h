/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer (caller-owned context, init/free).
 * Growth is bounded by `limit` (0 = no limit beyond SIZE_MAX / 2) so that a
 * hostile input can never make us allocate without bound.
 *
 * Ownership, for every function that takes a caller's st7_buf (here and in every layer):
 * the caller initialises it (st7_buf_init) and frees it (st7_buf_free, also after an
 * error). A callee never initialises, frees or replaces a caller's buffer, nor leaves its
 * `limit` changed: it appends to it, or, where its contract says it *fills* the buffer,
 * empties it first (len = 0, the memory kept) and then appends.
 */
#ifndef ST7_BUF_H
#define ST7_BUF_H

#include <stddef.h>
#include <stdint.h>

/* The ceiling of every firmware image st7dfu holds whole (images, stored backups, pack
 * inputs and outputs): tens of KiB for these parts, a few MiB for DfuSe images; far above
 * any of them, low enough for a small gateway's memory. */
#define ST7_IMAGE_MAX ((size_t)64 << 20)

struct st7_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t limit;
};

void st7_buf_init(struct st7_buf *b);
void st7_buf_free(struct st7_buf *b);
/* Forget the content (len = 0), keep the memory: what a callee that fills does first. */
static inline void st7_buf_clear(struct st7_buf *b)
{
	b->len = 0;
}

/* Make room for `extra` more bytes. ST7_ERR_NOMEM on failure or past the limit. */
int st7_buf_reserve(struct st7_buf *b, size_t extra);
int st7_buf_append(struct st7_buf *b, const void *p, size_t n);
int st7_buf_append_byte(struct st7_buf *b, uint8_t v);
int st7_buf_fill(struct st7_buf *b, uint8_t v, size_t n);
int st7_buf_append_le16(struct st7_buf *b, uint16_t v);
int st7_buf_append_le32(struct st7_buf *b, uint32_t v);
/* printf-style text append (no NUL stored in len). */
int st7_buf_printf(struct st7_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Little/big-endian loads from a byte pointer the caller has bounds-checked. */
static inline uint16_t st7_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t st7_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}
static inline uint16_t st7_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline void st7_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void st7_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

#endif
