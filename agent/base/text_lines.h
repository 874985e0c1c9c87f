/* SPDX-License-Identifier: MIT */
/*
 * Line and hex-digit helpers shared by the text record readers (Intel HEX, S-records).
 * Input is a bounded (p, end) range, never NUL-terminated.
 */
#ifndef ST7_TEXT_LINES_H
#define ST7_TEXT_LINES_H

#include <stdbool.h>
#include <stddef.h>

/* Value of a hex digit in either case, or -1. */
int st7_hexval(unsigned char c);

/* A character for a diagnostic ("'x'" or "byte 0x0D"), never a raw control byte. */
const char *st7_show_char(char buf[16], unsigned char c);

/*
 * The line starting at p: sets *le to one past its last content byte (before the
 * terminator and trailing blanks) and returns where the next line starts. LF, CRLF and
 * a lone CR each end a line.
 */
const char *st7_next_line(const char *p, const char *end, const char **le);

/*
 * The next line that is not blank, for record readers: from *p (advanced past it) up to
 * `end`, every line read (blank ones included) counted in *line_no. True with the line in
 * [*start, *le) (no terminator); false at the end of the input.
 */
bool st7_next_content_line(const char **p, const char *end, size_t *line_no, const char **start,
                           const char **le);

#endif
