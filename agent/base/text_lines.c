/* SPDX-License-Identifier: MIT */
#include "text_lines.h"

#include <stdio.h>

int st7_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20; /* fold case; only letters are affected in the range we accept */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

const char *st7_show_char(char buf[16], unsigned char c)
{
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else
		snprintf(buf, 16, "byte 0x%02X", c);
	return buf;
}

const char *st7_next_line(const char *p, const char *end, const char **le)
{
	const char *q = p;
	while (q < end && *q != '\n' && *q != '\r')
		q++;
	const char *e = q;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*le = e;
	if (q < end && *q++ == '\r' && q < end && *q == '\n')
		q++; /* CRLF */
	return q;
}

bool st7_next_content_line(const char **p, const char *end, size_t *line_no, const char **start,
                           const char **le)
{
	while (*p && *p < end) {
		const char *s = *p;
		*p = st7_next_line(s, end, le);
		++*line_no;
		if (*le != s) {
			*start = s;
			return true;
		}
	}
	return false;
}
