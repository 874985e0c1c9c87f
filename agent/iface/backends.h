/* SPDX-License-Identifier: MIT */
/*
 * The backends' process-wide setup (implemented by backend/process_init.c; declared here
 * like every backend's entry point, so that cli/ needs no backend header). Done once by
 * cli/main.c before any backend is used and undone once before it exits: libcurl's
 * global state (curl_global_init is not thread-safe and must precede every handle) and
 * mbedTLS 3.x's PSA crypto (every PSA-backed key operation fails before it). Tests and
 * tools that sign, verify or fetch call it too; calling it twice is harmless.
 */
#ifndef ST7_BACKENDS_H
#define ST7_BACKENDS_H

#include "err.h"

int st7_backends_global_init(struct st7_diag *d);
void st7_backends_global_cleanup(void);

#endif
