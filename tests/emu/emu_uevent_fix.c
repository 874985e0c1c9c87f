/* SPDX-License-Identifier: MIT */
/*
 * Work around a race in umockdev 0.17.16 (fixed upstream after that release, commits
 * 6b45ca7 and d4d8366): when it sends a uevent and a client closes its udev monitor
 * between connect() and sendmsg() — dfu-util exiting right after its final reset — the
 * sendmsg() fails with ECONNREFUSED and umockdev calls abort(); a full client buffer
 * (EAGAIN) aborts too. While the emulator itself emits a uevent, this sendmsg() does
 * what upstream does now: drop the message for a vanished listener, retry EAGAIN a
 * little. At all other times it is the plain sendmsg().
 */
#define _GNU_SOURCE
#include "emu_uevent_fix.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>
#include <time.h>

static _Thread_local int sending;

void emu_uevent_begin(void)
{
	sending++;
}

void emu_uevent_end(void)
{
	sending--;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static ssize_t (*next)(int, const struct msghdr *, int);

	if (!next)
		next = (ssize_t(*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
	if (!next) {
		errno = ENOSYS;
		return -1;
	}
	ssize_t r = next(fd, msg, flags);
	if (!sending || r >= 0)
		return r;
	for (int tries = 0; r < 0 && errno == EAGAIN && tries < 100; tries++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
		r = next(fd, msg, flags);
	}
	if (r < 0 && (errno == ECONNREFUSED || errno == EAGAIN)) {
		/* The listener is gone (or stuck): it will not see this event. */
		size_t n = 0;
		for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++)
			n += msg->msg_iov[i].iov_len;
		return (ssize_t)n;
	}
	return r;
}
