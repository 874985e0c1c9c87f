/* SPDX-License-Identifier: MIT */
/*
 * The report queue: outcomes (JSON records, one per file) kept on disk until a server has
 * acknowledged them, uploaded oldest first through a fetcher's POST (fetch.h; in st7dfu,
 * the fetch worker). Every file goes through the store interface (store.h); nothing here
 * does file I/O of its own.
 *
 * Contract:
 * - The queue is the directory STATE/reports/ (ST7_REPORT_QUEUE_DIR), created private
 *   (0700, st7_store_mkdir_p with ST7_STORE_PRIVATE) by the first add.
 * - One record per file, named "R" + 16 decimal digits (its sequence, zero-padded) +
 *   ".json"; a new record takes the highest sequence in the directory plus one (the
 *   sequences of records moved aside as "bad-R....json" count too, so a name is never
 *   reused while its bad copy is there; an empty queue numbers from 1 again). Files are
 *   written with write_atomic (durable), mode 0600, NOREPLACE. A file of any other name
 *   is ignored and never deleted.
 * - A record is 1..ST7_REPORT_RECORD_MAX (16 KiB) bytes starting with '{'. The queue is
 *   bounded by st7_report_queue_limits (a zero field, or a NULL `lim`: its default, 1000
 *   records, 1 MiB): adding past a bound drops the OLDEST records (st7_warn names how
 *   many), the newest outcomes matter most. The new record is written first, then the
 *   oldest dropped: a crash in between leaves one record too many, never one too few.
 * - Flush POSTs the records oldest first (Content-Type: application/json) and removes a
 *   record only after a 2xx for it; it stops at the first failure. A record file that
 *   cannot be read (the store's PRIVATE read: writable by others, another owner's, ...)
 *   or is not a record (empty, over 16 KiB, not starting with '{') is renamed
 *   "bad-<name>" in the same directory (logged) so that it never blocks the queue.
 * - One process at a time: the caller holds the agent's lock; the queue takes none.
 * - Errors: ST7_OK or a negative st7_err with `d` (may be NULL) saying why, prefixed
 *   "report queue".
 */
#ifndef ST7_REPORT_QUEUE_H
#define ST7_REPORT_QUEUE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "fetch.h"
#include "store.h"

#define ST7_REPORT_QUEUE_DIR "reports"
#define ST7_REPORT_RECORD_MAX 16384
#define ST7_REPORT_QUEUE_MAX_RECORDS 1000u
#define ST7_REPORT_QUEUE_MAX_BYTES ((uint64_t)1 << 20)
#define ST7_REPORT_CONTENT_TYPE "application/json"

struct st7_report_queue_limits {
	unsigned max_records; /* 0: ST7_REPORT_QUEUE_MAX_RECORDS */
	uint64_t max_bytes;   /* the records' sizes summed; 0: ST7_REPORT_QUEUE_MAX_BYTES */
};

void st7_report_queue_limits_default(struct st7_report_queue_limits *lim);

/*
 * Queue one record (`json`, `len` bytes, borrowed). ST7_ERR_TOO_LARGE for a record over
 * ST7_REPORT_RECORD_MAX or over the byte bound itself (nothing is dropped then);
 * ST7_ERR_INVALID for an empty one or one not starting with '{'; the store's errors
 * otherwise (a failed drop after the record was written is logged, not returned: the
 * record is queued).
 */
int st7_report_queue_add(struct st7_store *s, const char *state_dir,
                         const struct st7_report_queue_limits *lim, const char *json, size_t len,
                         struct st7_diag *d);

/* How many records the queue holds and their bytes summed (a missing directory: 0, 0). */
int st7_report_queue_stat(struct st7_store *s, const char *state_dir, unsigned *records,
                          uint64_t *bytes, struct st7_diag *d);

/*
 * Upload the queue to `url`, oldest record first, through st7_fetch_post(f, ...) with
 * `abort_flag`. *sent counts the records acknowledged (2xx) and removed. Returns ST7_OK
 * when the queue is empty afterwards (a missing directory is an empty queue); else the
 * first failure: the POST's error (ST7_ERR_RETRY_LATER, _HTTP, _NETWORK, ...; the record
 * stays queued), ST7_ERR_ABORTED when the flag went up between records, or the store's.
 * *retry_after_s is what the server asked for with a 429/503, else -1.
 */
int st7_report_queue_flush(struct st7_store *s, const char *state_dir, struct st7_fetcher *f,
                           const char *url, const volatile sig_atomic_t *abort_flag, unsigned *sent,
                           int64_t *retry_after_s, struct st7_diag *d);

#endif
