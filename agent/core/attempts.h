/* SPDX-License-Identifier: MIT */
/*
 * The writer of the attempts history, beside its reader st7_attempts_load()
 * (manifest_source.h): STATE/attempts.ini, what the decision (decide.h) counts failures
 * from. Written in exactly the form the loader reads:
 *
 *     # st7dfu attempts history: written by the agent (failures per device and release)
 *     [attempt "1"]
 *     serial = "SN 0001"
 *     release = "reader-2.37"
 *     sha256 = 6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b
 *     failures = 2
 *
 * Sections are numbered 1..n in file order; serial and release are always written in
 * double quotes, which the INI reader (formats/ini_doc.h) strips, so leading and trailing
 * spaces, '"', '=', '#' and ';' inside survive unchanged. What the INI format cannot
 * carry is refused (ST7_ERR_INVALID), never written to be misread: a control character
 * (other than tab) or DEL, a ';' after a space or tab (inih would take the rest for a
 * comment), a serial of more than 127 bytes or a release of more than
 * ST7_MANIFEST_NAME_MAX - 1.
 *
 * Bounds: the loader reads at most ST7_ATTEMPTS_MAX_RECORDS records and
 * ST7_ATTEMPTS_FILE_MAX bytes (its ATTEMPTS_MAX_RECORDS and ATTEMPTS_MAX; they must stay
 * equal). The entry set last is written last; when the history would exceed either
 * bound, the entries set longest ago (the first in the file) are dropped. Dropping
 * forgets their failures, so the bounds are far above what a gateway's devices and
 * releases need.
 */
#ifndef ST7_ATTEMPTS_H
#define ST7_ATTEMPTS_H

#include <stdint.h>

#include "err.h"
#include "store.h"

#define ST7_ATTEMPTS_FILE "attempts.ini"
#define ST7_ATTEMPTS_MAX_RECORDS 4096u
#define ST7_ATTEMPTS_FILE_MAX (1024u * 1024u)
#define ST7_ATTEMPTS_FAILURES_MAX 1000000u /* the loader's bound */

/*
 * Set the failure count of (serial, release) to `failures` with image `sha256`: load the
 * whole history (st7_attempts_load: a missing file is empty, a malformed one is an error
 * and is left as it is), replace that pair's entry (whatever its sha256) or add it, move
 * it to the end, and write the history back atomically and durably (0600). Errors:
 * ST7_ERR_INVALID (a serial or release the format cannot carry, failures above
 * ST7_ATTEMPTS_FAILURES_MAX, NULL arguments), the loader's, the store's, ST7_ERR_NOMEM.
 */
int st7_attempts_set(struct st7_store *s, const char *state_dir, const char *serial,
                     const char *release, const uint8_t sha256[32], unsigned failures,
                     struct st7_diag *d);

#endif
