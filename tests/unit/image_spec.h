/* SPDX-License-Identifier: MIT */
/*
 * Test helpers shared by the record-format tests: build an expected memory image from
 * hex text ("ADDR:HEX ADDR:HEX", addresses in hex), and read a test data file.
 */
#ifndef ST7_TEST_IMAGE_SPEC_H
#define ST7_TEST_IMAGE_SPEC_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "memimg.h"

/* A piece of expected data: `hex` is its bytes as hex digits. */
struct piece {
	uint32_t addr;
	const char *hex;
};

/* Decode hex digit pairs up to the first non-hex character. */
static inline size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (; isxdigit((unsigned char)hex[0]) && isxdigit((unsigned char)hex[1]) && n < cap;
	     hex += 2) {
		unsigned v;
		sscanf(hex, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static inline void build(struct st7_memimg *m, const struct piece *p, size_t n)
{
	uint8_t b[512];
	st7_memimg_init(m);
	for (size_t i = 0; i < n && p[i].hex; i++) {
		size_t len = unhex(p[i].hex, b, sizeof(b));
		CHECK_INT(st7_memimg_add(m, p[i].addr, b, len, NULL), ST7_OK);
	}
}

/* Build an image from a spec of "ADDR:HEX" pieces separated by blanks (hex addresses). */
static inline void build_spec(struct st7_memimg *m, const char *spec)
{
	uint8_t b[512];
	st7_memimg_init(m);
	while (*spec) {
		char *colon;
		uint32_t addr = (uint32_t)strtoul(spec, &colon, 16);
		size_t len = unhex(colon + 1, b, sizeof(b));
		CHECK_INT(st7_memimg_add(m, addr, b, len, NULL), ST7_OK);
		spec = colon + 1 + 2 * len;
		while (*spec == ' ')
			spec++;
	}
}

/* Deterministic pseudo-random bytes. */
static inline void fill_pattern(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
}

/* A whole file into a malloc()ed buffer (caller frees), or NULL. */
static inline char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1)) != NULL)
			*len = fread(s, 1, (size_t)n, f);
	}
	fclose(f);
	return s;
}

#endif
