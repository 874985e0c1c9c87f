/* SPDX-License-Identifier: MIT */
/*
 * A small streaming JSON writer into a st7_buf. Commas are placed automatically;
 * the first allocation failure is remembered and reported by st7_json_finish(), so
 * callers write a whole document without checking every call.
 * Strings are escaped; bytes >= 0x80 are written as \u00XX (Latin-1), so the output
 * is valid JSON (and ASCII) whatever bytes a file's name fields hold.
 */
#ifndef ST7_JSON_WRITER_H
#define ST7_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define ST7_JSON_MAX_DEPTH 32

struct st7_json {
	struct st7_buf *out;
	int depth;
	bool has_items[ST7_JSON_MAX_DEPTH];
	bool after_key;
	int err;
};

void st7_json_init(struct st7_json *j, struct st7_buf *out);
void st7_json_obj_begin(struct st7_json *j);
void st7_json_obj_end(struct st7_json *j);
void st7_json_arr_begin(struct st7_json *j);
void st7_json_arr_end(struct st7_json *j);
void st7_json_key(struct st7_json *j, const char *key);
void st7_json_str(struct st7_json *j, const char *s);
void st7_json_strn(struct st7_json *j, const char *s, size_t n);
void st7_json_uint(struct st7_json *j, uint64_t v);
void st7_json_bool(struct st7_json *j, bool v);
void st7_json_null(struct st7_json *j);

/* A member of the current object in one call: key, then value. */
void st7_json_kv_str(struct st7_json *j, const char *key, const char *s);
void st7_json_kv_uint(struct st7_json *j, const char *key, uint64_t v);
void st7_json_kv_bool(struct st7_json *j, const char *key, bool v);
/* 0, or the first error; also fails if objects/arrays were left open. */
int st7_json_finish(struct st7_json *j);

#endif
