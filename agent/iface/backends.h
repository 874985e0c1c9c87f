/* SPDX-License-Identifier: MIT */
/*
 * The backends' process-wide setup (implemented by backend/process_init.c; declared here
 * like every backend's entry point, so that cli/ needs no backend header). Done once by
 * cli/main.c before any backend is used and undone once before it exits: mbedTLS 3.x's
 * PSA crypto (every PSA-backed key operation fails before it). Tests and tools that sign
 * or verify call it too; calling it twice is harmless. libcurl lives in the fetch worker
 * only, which has its own (st7_fetch_curl_global_init, fetch.h).
 */
#ifndef ST7_BACKENDS_H
#define ST7_BACKENDS_H

#include "err.h"

int st7_backends_global_init(struct st7_diag *d);
void st7_backends_global_cleanup(void);

/*
 * The fetch worker's confinement (backend/privdrop.c), called by it once it holds what
 * it needs (its options, the PEM files it was told to read) and before it reads any
 * network input. When started as root: no supplementary groups, then the uid and gid of
 * `user` (NULL or "": "st7dfu", which falls back to "nobody" when there is no such user;
 * any other user must exist), checked to be irreversible; root itself is refused.
 * Always: no new privileges (setuid binaries do not elevate), not dumpable, no core
 * files, no file written (RLIMIT_FSIZE 0), the working directory /, and killed when its
 * parent dies. ST7_OK or ST7_ERR_ACCESS naming the step that failed: the worker must
 * then exit rather than fetch.
 */
int st7_drop_privileges(const char *user, struct st7_diag *d);

#endif
