/* SPDX-License-Identifier: MIT */
/*
 * backend/notify_sd: sd_notify without libsystemd, against real AF_UNIX datagram sockets
 * (a path in a mkdtemp directory and an abstract name): the datagram arrives whole, from
 * us; unset is a no-op; bad addresses and a missing listener are errors, not crashes; the
 * environment is left alone. Then WATCHDOG_USEC / WATCHDOG_PID, strictly.
 */
#define _GNU_SOURCE /* SO_PASSCRED, struct ucred, mkdtemp */
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends.h"

/* A bound datagram socket; name starting with '@' is abstract. */
static int listener(const char *name)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	size_t n = strlen(name);
	memcpy(sa.sun_path, name, n);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) != 0) {
		fprintf(stderr, "cannot bind %s: %s\n", name, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	return fd;
}

/* The next datagram within 1 s, its sender's pid in *pid; -1 when none came. */
static ssize_t receive(int fd, char *buf, size_t cap, pid_t *pid)
{
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, 1000) != 1)
		return -1;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = { buf, cap };
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl.b;
	m.msg_controllen = sizeof(ctl.b);
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
	*pid = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred u;
			memcpy(&u, CMSG_DATA(c), sizeof(u));
			*pid = u.pid;
		}
	return n;
}

static bool nothing_pending(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, 50) == 0;
}

static void send_and_compare(int fd, const char *sockname)
{
	struct st7_diag d = { "" };
	char buf[4096];
	pid_t pid;
	setenv("NOTIFY_SOCKET", sockname, 1);
	const char *msgs[] = { "READY=1\nSTATUS=idle, next poll in 3599 s", "WATCHDOG=1",
		               "STOPPING=1\nSTATUS=stopping" };
	for (size_t i = 0; i < 3; i++) {
		CHECK_INT(st7_sd_notify(msgs[i], &d), ST7_OK);
		ssize_t n = receive(fd, buf, sizeof(buf), &pid);
		CHECK_INT(n, (ssize_t)strlen(msgs[i]));
		CHECK(n >= 0 && memcmp(buf, msgs[i], strlen(msgs[i])) == 0);
		CHECK_INT(pid, getpid());
	}
	/* One datagram per call, even a long one; nothing else sent. */
	char big[2048];
	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "STATUS=", 7);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(st7_sd_notify(big, &d), ST7_OK);
	CHECK_INT(receive(fd, buf, sizeof(buf), &pid), (ssize_t)strlen(big));
	CHECK(nothing_pending(fd));
	/* The environment is left as it was. */
	CHECK(getenv("NOTIFY_SOCKET") && strcmp(getenv("NOTIFY_SOCKET"), sockname) == 0);
}

static void test_notify(void)
{
	struct st7_diag d = { "" };
	char tmpl[] = "/tmp/st7-notify.XXXXXX";
	char path[256];
	CHECK(mkdtemp(tmpl) != NULL);
	snprintf(path, sizeof(path), "%s/notify", tmpl);

	int fd = listener(path);
	CHECK(fd >= 0);
	if (fd >= 0) {
		send_and_compare(fd, path);
		close(fd);
	}
	unlink(path);

	char abs[64];
	snprintf(abs, sizeof(abs), "@st7dfu-test-notify-%ld", (long)getpid());
	fd = listener(abs);
	CHECK(fd >= 0);
	if (fd >= 0) {
		send_and_compare(fd, abs);
		/* The abstract name is the exact bytes: a longer or shorter one is another
		 * socket (nobody listens there). */
		char other[80];
		snprintf(other, sizeof(other), "%sx", abs);
		setenv("NOTIFY_SOCKET", other, 1);
		CHECK_INT(st7_sd_notify("READY=1", &d), ST7_ERR_IO);
		CHECK(nothing_pending(fd));
		/* Unset, and empty: no-ops. */
		unsetenv("NOTIFY_SOCKET");
		CHECK_INT(st7_sd_notify("READY=1", &d), ST7_OK);
		setenv("NOTIFY_SOCKET", "", 1);
		CHECK_INT(st7_sd_notify("READY=1", &d), ST7_OK);
		CHECK(nothing_pending(fd));
		/* An empty state is the caller's mistake. */
		setenv("NOTIFY_SOCKET", abs, 1);
		CHECK_INT(st7_sd_notify("", &d), ST7_ERR_INVALID);
		CHECK_INT(st7_sd_notify(NULL, &d), ST7_ERR_INVALID);
		CHECK(nothing_pending(fd));
		close(fd);
	}

	/* No listener: reported with the address, never fatal. */
	setenv("NOTIFY_SOCKET", path, 1); /* unlinked above */
	d.msg[0] = '\0';
	CHECK_INT(st7_sd_notify("READY=1", &d), ST7_ERR_IO);
	CHECK_HAS(d.msg, path);
	rmdir(tmpl);

	/* Forms that are not addresses. */
	const char *bad[] = { "relative/notify", "@", "/", "vsock:2:1234", "x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("NOTIFY_SOCKET", bad[i], 1);
		d.msg[0] = '\0';
		CHECK_INT(st7_sd_notify("READY=1", &d), ST7_ERR_UNSUPPORTED);
		CHECK_HAS(d.msg, "NOTIFY_SOCKET");
	}
	/* Lengths: sun_path is 108 bytes. A path of 107 fits with its NUL (nobody there: an
	 * I/O error, not a length error); 108 does not. An abstract name fills all 108
	 * ("@" + 107); 109 does not. */
	char longname[200];
	memset(longname, 'a', sizeof(longname));
	longname[0] = '/';
	longname[107] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);
	CHECK_INT(st7_sd_notify("READY=1", &d), ST7_ERR_IO);
	longname[107] = 'a';
	longname[108] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);
	d.msg[0] = '\0';
	CHECK_INT(st7_sd_notify("READY=1", &d), ST7_ERR_INVALID);
	CHECK_HAS(d.msg, "more than a socket address holds");
	longname[0] = '@';
	fd = listener(longname); /* 108 bytes, abstract: the longest there is */
	CHECK(fd >= 0);
	setenv("NOTIFY_SOCKET", longname, 1);
	CHECK_INT(st7_sd_notify("READY=1", &d), ST7_OK);
	char buf[16];
	pid_t pid;
	CHECK_INT(receive(fd, buf, sizeof(buf), &pid), 7);
	if (fd >= 0)
		close(fd);
	longname[108] = 'a';
	longname[109] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);
	CHECK_INT(st7_sd_notify("READY=1", &d), ST7_ERR_INVALID);
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void)
{
	char me[32], other[32];
	snprintf(me, sizeof(me), "%ld", (long)getpid());
	snprintf(other, sizeof(other), "%ld", (long)getpid() + 1);

	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	CHECK(st7_sd_watchdog_usec() == 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	CHECK(st7_sd_watchdog_usec() == 30000000);
	setenv("WATCHDOG_USEC", "18446744073709551615", 1); /* UINT64_MAX */
	CHECK(st7_sd_watchdog_usec() == UINT64_MAX);
	const char *bad[] = { "",
		              "0",
		              " 30",
		              "30 ",
		              "+30",
		              "-30",
		              "0x10",
		              "3e7",
		              "30s",
		              "1.5",
		              "18446744073709551616",
		              "99999999999999999999999",
		              "\t1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("WATCHDOG_USEC", bad[i], 1);
		if (st7_sd_watchdog_usec() != 0) {
			check_failed++;
			fprintf(stderr, "WATCHDOG_USEC=\"%s\" accepted\n", bad[i]);
		} else {
			check_passed++;
		}
	}
	setenv("WATCHDOG_USEC", "007", 1); /* leading zeros are still digits */
	CHECK(st7_sd_watchdog_usec() == 7);

	setenv("WATCHDOG_USEC", "5000000", 1);
	setenv("WATCHDOG_PID", me, 1);
	CHECK(st7_sd_watchdog_usec() == 5000000);
	setenv("WATCHDOG_PID", other, 1); /* meant for another process (our parent, say) */
	CHECK(st7_sd_watchdog_usec() == 0);
	const char *badpid[] = { "", "0", "-1", " 1", "abc", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(badpid) / sizeof(badpid[0]); i++) {
		setenv("WATCHDOG_PID", badpid[i], 1);
		if (st7_sd_watchdog_usec() != 0) {
			check_failed++;
			fprintf(stderr, "WATCHDOG_PID=\"%s\" accepted\n", badpid[i]);
		} else {
			check_passed++;
		}
	}
	char spaced[40];
	snprintf(spaced, sizeof(spaced), "%s ", me);
	setenv("WATCHDOG_PID", spaced, 1);
	CHECK(st7_sd_watchdog_usec() == 0);
	/* Nothing was unset. */
	CHECK(getenv("WATCHDOG_PID") && getenv("WATCHDOG_USEC"));
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	test_notify();
	test_watchdog();
	return check_report();
}
