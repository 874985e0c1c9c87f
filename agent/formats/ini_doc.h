/* SPDX-License-Identifier: MIT */
/*
 * The INI core that the policy file and the fleet manifest share: inih (the library,
 * Debian's libinih) reading a document that is already in memory, through a reader
 * callback, so that a file, a downloaded manifest and a fuzzer's bytes take one path.
 * Pure: no I/O, no clock; inih's own buffers are its business.
 *
 * What a document may hold (the README's "INI syntax" says the same for users):
 * - `[section]` headers; `[kind "NAME"]` is handed over as it is written, and
 *   st7_ini_section_split() takes it apart;
 * - `key = value` (or `key: value`), whitespace around both trimmed by inih;
 * - comments: a line starting with ';' or '#', and " ;" after a value (inih's inline
 *   comments: a ';' preceded by whitespace ends the value);
 * - a value in double quotes ("...") is taken without them, so that it can keep
 *   leading or trailing spaces; there are no escapes, and a value that opens a quote
 *   must close it at its end (ST7_ERR_FORMAT "missing closing quote" otherwise);
 * - a UTF-8 byte-order mark at the very start.
 * Refused, each with ST7_ERR_FORMAT and "NAME:LINE: ..." in the diag:
 * - a NUL byte or another control character than tab, CR and LF anywhere (a CR only
 *   as part of a line end: a lone CR inside a line is refused too);
 * - a line longer than ST7_INI_MAX_LINE bytes (URLs up to that fit: inih's line buffer
 *   is raised to it where the library lets us, and where it does not, a longer line
 *   than it reads is an error, never a truncated value);
 * - an indented line that inih would take as the continuation of the previous value
 *   (no multi-line values: an indented key must not silently become a value);
 * - a line inih cannot read (no '=' / ':', no closing ']'), an empty key, and text
 *   after a header's ']' other than blanks and a comment;
 * - a section header's text longer than 255 bytes (inih keeps only 50 bytes of one, so
 *   the reader passes the whole text to on_section itself).
 *
 * Callbacks: on_section once per header line, in order (also for a section that holds
 * no key, so that an empty or unknown section is seen); on_entry once per key. Both
 * get the 1-based line number. A callback that fails returns a negative st7_err with a
 * message in `d` WITHOUT the "NAME:LINE: " prefix: the parser adds it. The first error
 * stops nothing inside inih (it reads on) but is the one returned; later callbacks are
 * not called after an error.
 */
#ifndef ST7_INI_DOC_H
#define ST7_INI_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ST7_INI_MAX_LINE 4096 /* bytes, without the line end */

typedef int (*st7_ini_section_fn)(void *arg, const char *section, unsigned line,
                                  struct st7_diag *d);
typedef int (*st7_ini_entry_fn)(void *arg, const char *section, const char *key, const char *value,
                                unsigned line, struct st7_diag *d);

/*
 * Parse `len` bytes at `data` (not NUL-terminated; may be NULL when len is 0). `name`
 * names the document in messages (a file name or URL). ST7_OK, the first callback
 * error, ST7_ERR_FORMAT for the syntax above, ST7_ERR_NOMEM.
 */
int st7_ini_parse(const char *name, const uint8_t *data, size_t len, st7_ini_section_fn on_section,
                  st7_ini_entry_fn on_entry, void *arg, struct st7_diag *d);

/*
 * Split a section header's text: `agent` -> kind "agent", name "" (*has_name false);
 * `device "card reader"` -> kind "device", name "card reader" (*has_name true). The kind
 * is [a-z0-9_]+; the name is in double quotes, 1..cap-1 bytes, printable, without '"'.
 * ST7_ERR_FORMAT with a message saying what is wrong.
 */
int st7_ini_section_split(const char *section, char *kind, size_t kind_cap, char *name,
                          size_t name_cap, int *has_name, struct st7_diag *d);

/* The nearest of `words` (NULL-terminated) to `word` by edit distance, when close enough
 * to be a likely misspelling (distance <= 2, or <= 1 for words of 4 letters or fewer);
 * NULL otherwise. For "unknown key 'polll_interval' (did you mean 'poll_interval'?)". */
const char *st7_ini_nearest(const char *word, const char *const *words);

#endif
