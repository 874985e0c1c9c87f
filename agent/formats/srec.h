/* SPDX-License-Identifier: MIT */
/*
 * Motorola S-record reader and writer.
 *
 * Reader contract: `text` is the whole file (not NUL-terminated). Records are
 * 'S' T CC AAAA.. DD.. SS with hex digits in either case; CC counts address, data
 * and checksum bytes; line ends LF, CRLF or CR; blank lines allowed; any other
 * content is an error naming the 1-based line. Types: S0 header (kept, at most
 * 64 bytes, else ignored beyond), S1/S2/S3 data with 16/24/32-bit addresses,
 * S5/S6 record count (checked against the number of S1/S2/S3 records seen),
 * S7/S8/S9 start address (terminates; only blank lines may follow). A missing
 * termination record is accepted only if ST7_SREC_LENIENT_END is given.
 * Checksums are verified. Overlaps with earlier data are errors.
 *
 * Choices:
 *  - Data widths may be mixed, and the termination record need not match them (S9
 *    after S3 data is accepted): it only carries the start address, whose width is
 *    independent of where the data lies.
 *  - The address field limits where a data record starts; its data runs on linearly
 *    (an S1 record at 0xFFF0 with 32 bytes fills 0xFFF0..0x1000F). Only data past
 *    2^32 is refused (ST7_ERR_RANGE).
 *  - S0 must be the first record (so at most one); its address field is ignored; data
 *    beyond 64 bytes is accepted and dropped.
 *  - S5/S6 and S7/S8/S9 carry no data bytes. An S5/S6 value must equal the number of
 *    S1/S2/S3 records before it exactly (no modulo 2^16); several are allowed.
 *  - A byte count too small for the type's address field is a format error.
 *  - Trailing spaces and tabs are allowed, leading ones are not; 's' must be upper case.
 * Errors: ST7_ERR_FORMAT (syntax, lengths, S4, unknown type, count mismatch, missing
 * termination, ...), ST7_ERR_CRC (checksum), ST7_ERR_RANGE, ST7_ERR_OVERLAP,
 * ST7_ERR_NOMEM, ST7_ERR_INVALID (NULL out, NULL text with len > 0, unknown flags).
 * `start` and `info` may be NULL; they are set on success and zeroed on failure.
 * The start address always has segment = false.
 */
#ifndef ST7_SREC_H
#define ST7_SREC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "ihex.h" /* struct st7_start_addr */
#include "memimg.h"

#define ST7_SREC_LENIENT_END 0x1u

struct st7_srec_info {
	char header[65];       /* S0 data as text (non-printables as '.'), NUL-terminated */
	unsigned addr_bytes;   /* widest data record seen: 2, 3 or 4 (0 if none) */
	unsigned long records; /* data records read */
};

int st7_srec_parse(const char *text, size_t len, unsigned flags, struct st7_memimg *out,
                   struct st7_start_addr *start, struct st7_srec_info *info, struct st7_diag *d);

/*
 * Write `m` as S-records with the narrowest address width that covers every address
 * (S1/S9, S2/S8 or S3/S7), `bytes_per_record` data bytes (1..250), an S0 header
 * from `header` (may be NULL), an S5/S6 count record and the termination record
 * carrying `start` (0 when NULL or absent).
 * Details: the width also covers the start address; the header is written up to its
 * first 64 bytes (what the reader keeps), and no S0 is written when it is NULL; the
 * count record is S5 up to 0xFFFF records, S6 up to 0xFFFFFF, and omitted beyond;
 * a segment start is written as its raw (CS << 16) | IP value. Output is appended to
 * `out`; on failure `out` is restored to its previous length. ST7_ERR_INVALID for a
 * bad `bytes_per_record` or NULL pointers, ST7_ERR_NOMEM when the buffer cannot grow.
 */
int st7_srec_write(const struct st7_memimg *m, unsigned bytes_per_record, const char *header,
                   const struct st7_start_addr *start, struct st7_buf *out);

#endif
