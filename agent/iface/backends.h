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

#include <stddef.h>
#include <stdint.h>

#include "err.h"

int st7_backends_global_init(struct st7_diag *d);
void st7_backends_global_cleanup(void);

/*
 * Root working in another user's state directory (the agent's own user, on a packaged
 * gateway) becomes that user for the whole command (backend/process_init.c), so that
 * nothing root writes there (a lock, a cache, a manifest's record, a backup) is root's
 * and unreadable to the agent afterwards. `dir` is followed through links. Returns 0
 * when nothing changed (not root, no such directory, root's own), 1 when the process now
 * runs as the owner (its name in `user`, its groups from the group database; root cannot
 * be regained), or an ST7_ERR_* with a diag (an owner without a user entry, a failed
 * switch): the command must not go on.
 */
int st7_become_state_owner(const char *dir, char *user, size_t cap, struct st7_diag *d);

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

/*
 * The systemd notification protocol for the daemon (backend/notify_sd.c, no libsystemd;
 * sd_notify(3)). Both read the environment and never change it (no unsetenv: a child
 * that should not notify is given its own environment).
 *
 * st7_sd_notify: with $NOTIFY_SOCKET set to an absolute path ("/run/systemd/notify") or
 * an abstract name ("@name"), sends `state` ("READY=1\nSTATUS=idle", newline-separated
 * KEY=VALUE lines) as one datagram on an AF_UNIX SOCK_DGRAM|SOCK_CLOEXEC socket opened
 * and closed for the call; it never blocks (a full queue is an error). Unset or empty:
 * nothing, ST7_OK. Errors are for the log, never a reason to stop: ST7_ERR_INVALID for
 * an empty `state` or a name longer than a socket address holds (107 bytes for a path,
 * 108 for an abstract name with its "@"), ST7_ERR_UNSUPPORTED for any other form (a
 * relative path, "vsock:..."), ST7_ERR_IO when the socket or the send failed (no
 * listener, queue full).
 *
 * st7_sd_watchdog_usec: the watchdog period the service manager asks for, from
 * $WATCHDOG_USEC (decimal digits only, no sign or space, fits 64 bits), or 0 (no
 * watchdog) when it is unset, empty, malformed or 0, or when $WATCHDOG_PID is set and is
 * not exactly this process's pid in decimal. The daemon sends "WATCHDOG=1" at half that.
 */
int st7_sd_notify(const char *state, struct st7_diag *d);
uint64_t st7_sd_watchdog_usec(void);

#endif
