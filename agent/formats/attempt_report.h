/* SPDX-License-Identifier: MIT */
/*
 * The report of one update attempt, from its journal record (journal_rec.h), as one JSON
 * object on one line (what the agent uploads or appends to a log). No I/O besides the
 * buffer it appends to.
 *
 * {"schema":1,"gateway":ID|null,
 *  "device":{"serial":TEXT,"vid":"0483","pid":"ff03","port":TEXT},
 *  "attempt":N,"release":TEXT,"manifest_serial":N,
 *  "from_version":"0x0100"|null,"to_version":"0x0101","image_sha256":HEX|"",
 *  "result":OUTCOME (the phase's name while outcome is empty),"phase":PHASE,
 *  "error":TEXT|null (null when empty),"device_rollback":BOOL,"recoveries":N,
 *  "started":TIME,"finished":TIME|null (updated_s once the phase is terminal),
 *  "durations_ms":{"fetch":N,"flash":N}}
 * Times are RFC 3339 UTC ("2026-12-01T02:00:00Z"); IDs are 4 lowercase hex digits,
 * versions "0x%04x". Strings are escaped by json_writer.h (bytes >= 0x80 as \u00XX), so
 * the line is valid JSON and ASCII whatever the device's strings hold.
 */
#ifndef ST7_ATTEMPT_REPORT_H
#define ST7_ATTEMPT_REPORT_H

#include "buf.h"
#include "journal_rec.h"

/*
 * Append the object and a "\n" to `out`. `gateway_id` may be NULL (null). ST7_OK, or
 * ST7_ERR_NOMEM with `out` as it was before the call; ST7_ERR_INVALID for NULL r/out.
 */
int st7_attempt_report_json(const struct st7_journal_rec *r, const char *gateway_id,
                            struct st7_buf *out);

#endif
