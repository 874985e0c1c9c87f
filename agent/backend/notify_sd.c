/* SPDX-License-Identifier: MIT */
/*
 * The systemd notification protocol (sd_notify(3), "Notification socket" in systemd's
 * docs/NOTIFY.md), without libsystemd: one datagram of "KEY=VALUE\n..." text to the
 * AF_UNIX socket named by $NOTIFY_SOCKET, and the watchdog period from $WATCHDOG_USEC
 * and $WATCHDOG_PID. Contracts in iface/backends.h.
 */
#define _GNU_SOURCE /* MSG_NOSIGNAL */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends.h"

/* The whole string is a decimal number without sign or space, at most `max`. */
static int decimal(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!s || !*s)
		return ST7_ERR_FORMAT;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return ST7_ERR_FORMAT;
		unsigned dg = (unsigned)(*s - '0');
		if (v > (max - dg) / 10)
			return ST7_ERR_RANGE;
		v = v * 10 + dg;
	}
	*out = v;
	return ST7_OK;
}

int st7_sd_notify(const char *state, struct st7_diag *d)
{
	const char *e = getenv("NOTIFY_SOCKET");
	if (!e || !*e)
		return ST7_OK;
	if (!state || !*state)
		return st7_diag_set(d, ST7_ERR_INVALID, "sd_notify: empty state");

	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	size_t n = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || n < 2)
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED,
		                    "NOTIFY_SOCKET=%.100s: neither an absolute path nor @abstract",
		                    e);
	/* A path needs its terminating NUL inside sun_path; an abstract name (a leading NUL
	 * byte, then the name, not terminated) fills it at most. */
	if ((e[0] == '/' && n >= sizeof(sa.sun_path)) || (e[0] == '@' && n > sizeof(sa.sun_path)))
		return st7_diag_set(d, ST7_ERR_INVALID,
		                    "NOTIFY_SOCKET=%.100s...: %zu bytes, more than a socket "
		                    "address holds (%zu)",
		                    e, n, sizeof(sa.sun_path) - (e[0] == '/'));
	memcpy(sa.sun_path, e, n);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (e[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++; /* the NUL */

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return st7_diag_set(d, ST7_ERR_IO, "sd_notify: socket: %s", strerror(errno));
	size_t sz = strlen(state);
	ssize_t w;
	/* Never blocks: a service manager that does not keep up loses a status line, the
	 * daemon does not stall. */
	do
		w = sendto(fd, state, sz, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, len);
	while (w < 0 && errno == EINTR);
	int err = errno;
	close(fd);
	if (w < 0)
		return st7_diag_set(d, ST7_ERR_IO, "sd_notify to %s: %s", e, strerror(err));
	if ((size_t)w != sz)
		return st7_diag_set(d, ST7_ERR_IO, "sd_notify to %s: sent %zd of %zu bytes", e, w,
		                    sz);
	return ST7_OK;
}

uint64_t st7_sd_watchdog_usec(void)
{
	uint64_t usec, pid;
	const char *p = getenv("WATCHDOG_PID");
	if (p && (decimal(p, INT32_MAX, &pid) || pid != (uint64_t)getpid()))
		return 0;
	if (decimal(getenv("WATCHDOG_USEC"), UINT64_MAX, &usec))
		return 0;
	return usec;
}
