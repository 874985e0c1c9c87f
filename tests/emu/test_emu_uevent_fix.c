/* SPDX-License-Identifier: MIT */
/*
 * The umockdev 0.17.16 workaround: a uevent listener that goes away between connect()
 * and sendmsg() makes sendmsg() fail with ECONNREFUSED (umockdev then aborts). Inside
 * emu_uevent_begin/end the message is dropped instead; outside, nothing changes.
 */
#include "check.h"
#include "emu_uevent_fix.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A socket connected to a listener that then goes away, as umockdev meets it: one
 * connect() and one sendmsg() per event and listener. */
static int orphan(const struct sockaddr_un *sa)
{
	int srv = socket(AF_UNIX, SOCK_RAW, 0); /* what umockdev's listeners use */
	int cli = socket(AF_UNIX, SOCK_RAW | SOCK_NONBLOCK, 0);

	unlink(sa->sun_path);
	CHECK(srv >= 0 && cli >= 0);
	CHECK_INT(bind(srv, (const struct sockaddr *)sa, sizeof(*sa)), 0);
	CHECK_INT(connect(cli, (const struct sockaddr *)sa, sizeof(*sa)), 0);
	close(srv); /* the client exits */
	return cli;
}

int main(void)
{
	char dir[] = "/tmp/st7emu-uevent-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[] = "add@/devices/usb1/1-1";
	struct iovec iov = { msg, sizeof(msg) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	CHECK(mkdtemp(dir) != NULL);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/event", dir);

	int cli = orphan(&sa);
	errno = 0;
	CHECK_INT(sendmsg(cli, &m, 0), -1); /* outside: the plain error */
	CHECK_INT(errno, ECONNREFUSED);
	close(cli);

	cli = orphan(&sa);
	emu_uevent_begin();
	CHECK_INT(sendmsg(cli, &m, 0), (long)sizeof(msg)); /* inside: dropped, no error */
	emu_uevent_end();
	close(cli);

	unlink(sa.sun_path);
	rmdir(dir);
	return check_report();
}
