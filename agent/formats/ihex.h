/* SPDX-License-Identifier: MIT */
/*
 * Intel HEX reader and writer (I8HEX, I16HEX, I32HEX).
 *
 * Reader contract: `text` is the whole file (not NUL-terminated; may contain NULs,
 * which are an error). Records are ':' LL AAAA TT DD.. CC with hex digits in either
 * case; line ends are LF, CRLF or CR; blank lines and trailing whitespace are
 * allowed; anything else is an error naming the 1-based line. Supported types:
 * 00 data, 01 EOF (required, last; nothing but blank lines may follow),
 * 02 extended segment address (base = v << 4), 03 start segment address,
 * 04 extended linear address (base = v << 16), 05 start linear address.
 * Every record's checksum is verified. Data that wraps past 2^32, or past the 1 MiB
 * segment space in I16HEX, or that overlaps earlier data, is an error.
 * Data is added to `out` (which may already hold data: overlaps are refused).
 * On error `out` may hold the records read before the failing line.
 *
 * Addressing choices:
 *  - Without extended records, or after a 04 record, addresses are linear:
 *    base + offset. A data record crossing a 64 KiB boundary continues into the next
 *    64 KiB (no wrap within the segment); only running past 2^32 is refused.
 *  - After a 02 record, address = (v << 4) + offset. The spec wraps an offset that
 *    passes 0xFFFF back to the segment's start; we refuse such a record instead
 *    (ST7_ERR_RANGE), as no sane tool relies on it.
 *  - 02 and 04 records may be mixed; the latest one sets the mode and base.
 *  - The address field must be 0000 in 02..05 records; it is ignored in 01 records
 *    (some tools put the entry point there). Zero-length data records are accepted.
 *  - At most one start record (03 or 05) per file.
 *  - "Whitespace" means spaces and tabs; a line of only those is blank. Leading
 *    whitespace and any other byte (e.g. a DOS ^Z after the EOF record) are errors.
 * Errors: ST7_ERR_FORMAT (syntax, lengths, unknown type, missing EOF, ...),
 * ST7_ERR_CRC (checksum), ST7_ERR_RANGE, ST7_ERR_OVERLAP, ST7_ERR_NOMEM (memimg limit),
 * ST7_ERR_INVALID (NULL out, or NULL text with len > 0). `start` may be NULL; on
 * success it is set (present = false when the file has no start record), on failure
 * it reads as absent.
 */
#ifndef ST7_IHEX_H
#define ST7_IHEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "memimg.h"

struct st7_start_addr {
	bool present;
	bool segment;  /* true: CS:IP from type 03; false: EIP (type 05) or S-record start */
	uint32_t addr; /* EIP, or (CS << 16) | IP when segment */
};

int st7_ihex_parse(const char *text, size_t len, struct st7_memimg *out,
                   struct st7_start_addr *start, struct st7_diag *d);

/*
 * Write `m` as Intel HEX with `bytes_per_record` (1..255; 16 is usual) data bytes per
 * record, type 04 records whenever the upper 16 bits change, an optional type 05
 * start record, and the EOF record. Lines end with "\n".
 * Details: no 04 record precedes data below 64 KiB (base 0 is implied); data records
 * never cross a 64 KiB boundary (readers disagree on wrapping), so a record may be
 * shorter than `bytes_per_record`; a start with `segment` set is written as a type 03
 * record so that it reads back the same. Output is appended to `out`; on failure
 * `out` is restored to its previous length. ST7_ERR_INVALID for a bad
 * `bytes_per_record` or NULL pointers, ST7_ERR_NOMEM when the buffer cannot grow.
 */
int st7_ihex_write(const struct st7_memimg *m, unsigned bytes_per_record,
                   const struct st7_start_addr *start, struct st7_buf *out);

#endif
