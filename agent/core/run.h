/* SPDX-License-Identifier: MIT */
/*
 * The run context: the live handles one run of a command (or, later, many cycles of the
 * daemon) works with, created once by cli/ and lent to every decision below it. Option
 * structs (st7_upgrade_opts, st7_engine_opts, st7_source_opts, st7_fetch_opts) hold
 * settings only; what is open, loaded or shared lives here.
 *
 * Ownership: the handles are borrowed (cli/ creates and frees the backends); the keyring
 * is owned by the run context and loaded at most once per keys directory.
 */
#ifndef ST7_RUN_H
#define ST7_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "clock.h"
#include "dfu_engine.h"
#include "err.h"
#include "fetch.h"
#include "store.h"
#include "usb_transport.h"
#include "verify.h"

/*
 * The steps of an update that the journal records (core/journal.h), reported by
 * st7_upgrade() as the update reaches them:
 *   DETACHING    before the device is first touched (detach, or the loader's session);
 *   BACKED_UP    the backup is durable (detail: its path); nothing is erased yet;
 *   DOWNLOADING  before the first DFU_DNLOAD: from here the old firmware is erased;
 *   POSTCHECK    the image is in and manifested: the version is checked next;
 *   RESTORING    the update failed after the erase: the backup goes back (detail: it).
 * A non-zero return from DETACHING, BACKED_UP or DOWNLOADING stops the update before
 * anything is erased (the device is sent back to its application, outcome UNTOUCHED or
 * STORAGE): what cannot be recorded is not done. The others' returns are ignored: the
 * device is mid-flight and finishing beats stopping.
 */
enum st7_phase {
	ST7_PHASE_DETACHING,
	ST7_PHASE_BACKED_UP,
	ST7_PHASE_DOWNLOADING,
	ST7_PHASE_POSTCHECK,
	ST7_PHASE_RESTORING
};
typedef int (*st7_phase_fn)(void *arg, enum st7_phase phase, const char *detail);

struct st7_run {
	struct st7_usb *usb;                     /* NULL for commands that touch no device */
	const struct st7_clock *clock;           /* never NULL once set up */
	struct st7_store *store;                 /* never NULL once set up */
	struct st7_fetcher *fetcher;             /* NULL: only local files are accepted */
	const volatile sig_atomic_t *abort_flag; /* non-zero: stop at the next safe point */
	st7_progress_fn progress; /* phases "download", "upload", "fetch"...; may be NULL */
	void *progress_arg;
	st7_phase_fn phase; /* the journal's hook; NULL: none */
	void *phase_arg;
	/* The trusted keys, loaded on first use by st7_run_keys(). */
	struct st7_keyring keys;
	bool keys_loaded;
	char keys_dir[4096];
};

/* Zero the context and initialise the keyring; st7_run_free() is then always safe. */
void st7_run_init(struct st7_run *r);
/* Frees what the context owns (the keyring), not the borrowed handles. */
void st7_run_free(struct st7_run *r);

/*
 * The trusted keys of `dir` (NULL: ST7_DEFAULT_KEYS_DIR), loaded once through r->store:
 * later calls with the same `dir` return the loaded keyring; another `dir` is refused
 * (ST7_ERR_INVALID): one run trusts one directory. The directory must pass the
 * key-directory rule (trust.h, st7_keys_dir_check); a failed load is not remembered.
 */
int st7_run_keys(struct st7_run *r, const char *dir, const struct st7_keyring **k,
                 struct st7_diag *d);

#endif
