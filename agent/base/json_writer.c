/* SPDX-License-Identifier: MIT */
#include "json_writer.h"

#include <inttypes.h>
#include <string.h>

#include "err.h"

void st7_json_init(struct st7_json *j, struct st7_buf *out)
{
	j->out = out;
	j->depth = 0;
	j->has_items[0] = false;
	j->after_key = false;
	j->err = 0;
}

static void put(struct st7_json *j, const char *s, size_t n)
{
	if (!j->err)
		j->err = st7_buf_append(j->out, s, n);
}

/* Before any value or key: a comma if the container already has an item. */
static void sep(struct st7_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->has_items[j->depth])
		put(j, ",", 1);
	j->has_items[j->depth] = true;
}

static void open_c(struct st7_json *j, char c)
{
	sep(j);
	put(j, &c, 1);
	if (j->depth + 1 >= ST7_JSON_MAX_DEPTH) {
		j->err = ST7_ERR_INVALID;
		return;
	}
	j->has_items[++j->depth] = false;
}

static void close_c(struct st7_json *j, char c)
{
	if (j->depth == 0) {
		j->err = ST7_ERR_INVALID;
		return;
	}
	j->depth--;
	put(j, &c, 1);
}

void st7_json_obj_begin(struct st7_json *j)
{
	open_c(j, '{');
}
void st7_json_obj_end(struct st7_json *j)
{
	close_c(j, '}');
}
void st7_json_arr_begin(struct st7_json *j)
{
	open_c(j, '[');
}
void st7_json_arr_end(struct st7_json *j)
{
	close_c(j, ']');
}

static void put_escaped(struct st7_json *j, const char *s, size_t n)
{
	put(j, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		switch (c) {
		case '"':
			put(j, "\\\"", 2);
			break;
		case '\\':
			put(j, "\\\\", 2);
			break;
		case '\n':
			put(j, "\\n", 2);
			break;
		case '\t':
			put(j, "\\t", 2);
			break;
		case '\r':
			put(j, "\\r", 2);
			break;
		default:
			if (c < 0x20 || c >= 0x7F) {
				static const char hex[] = "0123456789abcdef";
				tmp[0] = '\\';
				tmp[1] = 'u';
				tmp[2] = '0';
				tmp[3] = '0';
				tmp[4] = hex[c >> 4];
				tmp[5] = hex[c & 15];
				put(j, tmp, 6);
			} else {
				put(j, (const char *)&s[i], 1);
			}
		}
	}
	put(j, "\"", 1);
}

void st7_json_key(struct st7_json *j, const char *key)
{
	sep(j);
	put_escaped(j, key, strlen(key));
	put(j, ":", 1);
	j->after_key = true;
}

void st7_json_strn(struct st7_json *j, const char *s, size_t n)
{
	sep(j);
	put_escaped(j, s, n);
}

void st7_json_str(struct st7_json *j, const char *s)
{
	if (!s) {
		st7_json_null(j);
		return;
	}
	st7_json_strn(j, s, strlen(s));
}

void st7_json_uint(struct st7_json *j, uint64_t v)
{
	sep(j);
	if (!j->err)
		j->err = st7_buf_printf(j->out, "%" PRIu64, v);
}

void st7_json_bool(struct st7_json *j, bool v)
{
	sep(j);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void st7_json_null(struct st7_json *j)
{
	sep(j);
	put(j, "null", 4);
}

int st7_json_finish(struct st7_json *j)
{
	if (!j->err && j->depth != 0)
		j->err = ST7_ERR_INVALID;
	return j->err;
}

void st7_json_kv_str(struct st7_json *j, const char *key, const char *s)
{
	st7_json_key(j, key);
	st7_json_str(j, s);
}

void st7_json_kv_uint(struct st7_json *j, const char *key, uint64_t v)
{
	st7_json_key(j, key);
	st7_json_uint(j, v);
}

void st7_json_kv_bool(struct st7_json *j, const char *key, bool v)
{
	st7_json_key(j, key);
	st7_json_bool(j, v);
}
