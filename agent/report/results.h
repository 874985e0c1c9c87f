/* SPDX-License-Identifier: MIT */
/*
 * The results of the commands, as text or JSON: upgrade, rollback and download outcomes,
 * a device's DFU status, fetch and verify results, and the entry of a file `info` could not
 * read. Plain data in, an st7_buf out (no I/O): the command line prints it. One JSON
 * object per call, on one line, as `--json` promises (README).
 */
#ifndef ST7_RESULTS_H
#define ST7_RESULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "dfu_desc.h"
#include "dfu_proto.h"
#include "image_source.h"
#include "json_writer.h"
#include "upgrade.h"

/* The device a command worked on, as it was last seen. */
struct st7_device_seen {
	const char *path;   /* bus and port path, "1-2" */
	const char *serial; /* "" when it has none */
	bool present;       /* on the bus when the command ended */
	enum st7_dfu_mode mode;
	uint16_t vid, pid, bcd_device;
};

/* `cmd` (upgrade, rollback, download) ended in `r`; `src` is the image's source (NULL
 * for rollback), `exit_code` the process's. */
void st7_result_upgrade_json(const char *cmd, const struct st7_device_seen *dev,
                             const struct st7_upgrade_report *r, int exit_code,
                             const struct st7_source_report *src, struct st7_buf *out);
void st7_result_upgrade_text(const char *cmd, const struct st7_device_seen *dev,
                             const struct st7_upgrade_report *r, struct st7_buf *out);

/* `status`: the device's mode and IDs, and its GETSTATUS reply. */
void st7_result_status_json(const struct st7_device_seen *dev, const struct st7_dfu_status_reply *r,
                            struct st7_buf *out);
void st7_result_status_text(const struct st7_device_seen *dev, const struct st7_dfu_status_reply *r,
                            struct st7_buf *out);

/* `fetch URL`: `exit_code` 0 when the image was obtained (of `size` bytes, copied to
 * `output` if not NULL); `error` the reason otherwise. */
void st7_result_fetch_json(const char *url, const struct st7_source_report *r, int exit_code,
                           const char *output, uint64_t size, const char *error,
                           struct st7_buf *out);
void st7_result_fetch_text(const char *url, const struct st7_source_report *r, uint64_t size,
                           const char *output, struct st7_buf *out);

/* `verify FILE SIG`: `signer` when valid, `sha256` (hex) when the file was hashed. */
void st7_result_verify_json(const char *path, const char *sig_path, bool valid, const char *signer,
                            const char *sha256, uint64_t size, const char *error,
                            struct st7_buf *out);

/* `info --json`: the entry of a file that could not be read (err: an enum st7_err). */
void st7_result_unreadable_json(const char *path, int err, const char *message, struct st7_json *j);

#endif
