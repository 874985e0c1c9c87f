/* SPDX-License-Identifier: MIT */
/*
 * One cycle of the unattended agent (`st7dfu check`, and each wake-up of `st7dfu run`),
 * in this order:
 *  1. Recover: every unfinished journal record (journal.h) whose device is attached is
 *     settled before anything new is decided. A device back on the release's version is
 *     done; back on its old version, the attempt failed; on a third version, or waiting
 *     in DFU mode, it is brought back: finished with the release's verified cached image
 *     (`recover = finish`, when the cache still holds exactly that image) or given its
 *     backup back, the other way being the fallback. Each try is journalled first
 *     (RECOVERING, counted): after ST7_RECOVERIES_MAX tries the device is left in DFU
 *     mode for service and reported, never flashed in a loop. A record whose device is
 *     absent waits for it.
 *  2. The manifest (manifest_source.h): fetched and believed, or (OFFLINE: hotplug) the
 *     one the agent already holds; without one the cycle ends after step 1.
 *  3. The decision (decide.h) over the devices attached now, the policy's rules and the
 *     attempts history.
 *  4. Each chosen device, one at a time: the attempt is journalled (DECIDED) and counted
 *     in the attempts history before anything else, so that a crash or watchdog loop
 *     cannot try one release more than max_attempts times; the image is obtained (pinned
 *     by the manifest's SHA-256, from the cache when it is there), checked against the
 *     release (st7_release_image_check), then st7_upgrade() runs with the journal's
 *     phase hook. The outcome closes the record, then a success (or an attempt that never
 *     touched the device) gives its count back: a crash in between leaves one failure
 *     too many, never one too few.
 *     A chosen release that waits for the window has its image fetched ahead into the
 *     cache (prefetch), so the window is spent flashing.
 *  5. One report per settled attempt is queued (report_queue.h) and, with a report URL,
 *     the queue is sent.
 * The run's abort flag is looked at between devices and while anything is fetched; a
 * device's update, once started, runs to its verdict (an erase is always followed by a
 * complete image, new or old): a stop comes at a safe point.
 */
#ifndef ST7_CYCLE_H
#define ST7_CYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "decide.h"
#include "dfu_engine.h"
#include "image_source.h"
#include "manifest_source.h"
#include "report_queue.h"
#include "run.h"
#include "schedule.h"
#include "upgrade.h"

#define ST7_RECOVERIES_MAX 3

/* Settings only: the handles are the run's. Strings are borrowed. */
struct st7_cycle_opts {
	const char *state_dir;
	const char *manifest_url; /* NULL: no manifest, recovery only */
	uint64_t manifest_max_size;
	int64_t build_time;
	const char *gateway_id;
	const char *channel;
	const char *timezone; /* "" the system's */
	const struct st7_windows *window;
	const struct st7_device_rules *rules;
	unsigned max_attempts;
	bool finish_interrupted; /* recover = finish */
	bool allow_http;
	struct st7_upgrade_opts upg;
	struct st7_engine_opts eng;
	struct st7_source_opts src; /* keys_dir, cache_dir, conditional */
	const char *report_url;     /* NULL: reports are queued, not sent */
	struct st7_report_queue_limits queue;
};

enum st7_cycle_mode {
	ST7_CYCLE_APPLY,   /* all five steps */
	ST7_CYCLE_DRY_RUN, /* steps 2 and 3: nothing recovered, fetched ahead or flashed */
	ST7_CYCLE_OFFLINE  /* all but the network: the manifest held, cached images only */
};

/* One attached device and what the cycle did with it. */
struct st7_cycle_device {
	bool attempted; /* an update was started (the outcome says how it ended) */
	enum st7_upgrade_outcome outcome;
	char error[ST7_DIAG_MAX];
	bool prefetched; /* its image waits in the cache for the window */
};

struct st7_cycle_result {
	int manifest_ret; /* ST7_OK, or why the cycle had no manifest */
	char manifest_error[ST7_DIAG_MAX];
	struct st7_manifest_report mrep;
	/* The decision, as `plan` shows it: devices[i], rows[i], urls[i], dev[i]. */
	struct st7_plan_input in;
	size_t n;
	struct st7_plan_device *devices;
	struct st7_plan_row *rows;
	char (*urls)[ST7_MANIFEST_URL_MAX];
	struct st7_cycle_device *dev;
	/* Counts. */
	unsigned updated, failed, rolled_back, left_in_dfu, unverified, untouched;
	unsigned storage; /* not updated: the state directory could not hold the backup or
	                   * record the attempt (the device untouched) */
	unsigned recovered, unrecovered, waiting, bad_records;
	bool aborted;
	int worst; /* the error behind the worst failure of a device step (fetch, check), 0 */
	unsigned queued, sent;
	int report_ret; /* the last report send: ST7_OK, or why not */
	int64_t retry_after_s;
	char status[256]; /* one line: the cycle's outcome, for logs and STATUS= */
};

void st7_cycle_result_init(struct st7_cycle_result *r);
void st7_cycle_result_free(struct st7_cycle_result *r);

/* What the agent keeps between cycles: the last believed manifest (dropped when a newer
 * fetch is refused, and not used past its `expires`), and the devices the last cycle saw
 * (port and serial): an OFFLINE cycle (hotplug) updates only devices that were not there,
 * so that the agent's own re-enumerations never start a retry; a device in DFU mode is
 * always recovered. */
struct st7_agent {
	struct st7_run *run;
	const struct st7_cycle_opts *o;
	struct st7_manifest m;
	bool have_manifest;
	struct st7_plan_attempts *attempts;
	size_t n_attempts;
	char (*seen)[192];
	size_t n_seen;
};

void st7_agent_init(struct st7_agent *a, struct st7_run *run, const struct st7_cycle_opts *o);
void st7_agent_free(struct st7_agent *a);

/*
 * One cycle (above) into `res` (initialised by the caller; free it after). Returns ST7_OK
 * when the cycle ran to its end (devices may still have failed: `res` says), or the error
 * that stopped it early: the state directory unusable (ST7_ERR_IO), USB unusable, the
 * manifest's error (network, signature, refused...), ST7_ERR_ABORTED.
 */
int st7_agent_cycle(struct st7_agent *a, enum st7_cycle_mode mode, struct st7_cycle_result *res,
                    struct st7_diag *d);

/*
 * Where a release's image comes from (`manifest_url` resolved against the release's
 * url) into `out`, or ST7_ERR_FORMAT: https always; http only with allow_http; a local
 * path or file:// only when the manifest itself is local (a remote manifest never names
 * files on the gateway).
 */
int st7_release_url(const char *manifest_url, bool allow_http, const struct st7_release *r,
                    char *out, size_t cap, struct st7_diag *d);
/* The same for a decision's row: a chosen row whose image URL is refused is not chosen
 * any more (ST7_PLAN_BAD_URL, the reason in its detail), never planned with no URL. */
void st7_release_url_row(const char *manifest_url, bool allow_http, const struct st7_release *r,
                         struct st7_plan_row *row, char *out, size_t cap);

#endif
