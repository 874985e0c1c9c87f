/* SPDX-License-Identifier: MIT */
/*
 * The fetch worker's confinement (st7_drop_privileges, backends.h), checked from inside
 * a confined process: a child drops its privileges as the worker does and then tries
 * what a worker taken over by a hostile server would try. Two children: one started as
 * root (when the test runs as root), one as an ordinary user with a device group, as a
 * non-root st7dfu's worker would be. Each reports its failures in its exit status.
 * Where the kernel has no Landlock, the checks that need it are skipped, loudly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends.h"
#include "check.h"

static char dir[64];     /* world-writable: only Landlock keeps a worker out */
static char planted[96]; /* a file in it the worker must not remove */

static bool have_landlock(void)
{
	return syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) >= 1;
}

/* In the child, after the drop: what must and must not work. */
static void probe(bool was_root)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2];
	struct rlimit rl;
	char path[128];
	if (was_root) {
		CHECK(getuid() != 0 && geteuid() != 0);
		CHECK(getgid() != 0 && getegid() != 0);
		CHECK_INT(getgroups(0, NULL), 0);
		CHECK(setuid(0) != 0); /* no way back */
	}
	CHECK_INT((int)syscall(SYS_capget, &h, caps), 0);
	CHECK_INT((int)(caps[0].effective | caps[0].permitted | caps[0].inheritable), 0);
	CHECK_INT((int)(caps[1].effective | caps[1].permitted | caps[1].inheritable), 0);
	CHECK_INT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
	CHECK_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur == 0 && rl.rlim_max == 0);
	CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0);
	CHECK(getcwd(path, sizeof(path)) && strcmp(path, "/") == 0);
	/* What libcurl needs still works. */
	int fd = open("/etc/hosts", O_RDONLY);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	fd = open("/dev/urandom", O_RDONLY);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	if (!have_landlock()) {
		fprintf(stderr, "SKIP: this kernel has no Landlock: writes, removals and device "
		                "opens outside the rlimit are not checked\n");
		return;
	}
	/* Nothing written, created, removed or renamed, even where the mode allows it. */
	snprintf(path, sizeof(path), "%s/new", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0666);
	CHECK(fd < 0 && errno == EACCES);
	if (fd >= 0)
		close(fd);
	CHECK(unlink(planted) != 0 && errno == EACCES);
	CHECK(rename(planted, path) != 0);
	CHECK(mkdir(path, 0777) != 0 && errno == EACCES);
	fd = open(planted, O_RDONLY);
	CHECK(fd < 0 && errno == EACCES); /* not even read outside the system trees */
	if (fd >= 0)
		close(fd);
	/* No device but the random one (a USB node would be the same). */
	fd = open("/dev/zero", O_RDONLY);
	CHECK(fd < 0 && errno == EACCES);
	if (fd >= 0)
		close(fd);
	CHECK(mknod(path, S_IFIFO | 0666, 0) != 0);
}

/* Fork a child that becomes `uid` (unless -1) with supplementary group `group`, drops
 * its privileges and probes; the number of failed checks is its exit status. */
static void run_child(const char *what, int uid, gid_t group)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct st7_diag d = { "" };
		bool was_root = geteuid() == 0 && uid < 0;
		if (uid >= 0 && (setgroups(1, &group) != 0 || setresgid(65534, 65534, 65534) != 0 ||
		                 setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)) {
			perror("becoming the test user");
			_exit(100);
		}
		int ret = st7_drop_privileges(NULL, &d);
		if (ret != ST7_OK) {
			fprintf(stderr, "%s: st7_drop_privileges: %s\n", what, d.msg);
			_exit(101);
		}
		probe(was_root);
		int failed = check_report();
		fflush(NULL);
		_exit(failed == 0 ? 0 : 102);
	}
	int st = 0;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "%s: the confined child failed (status 0x%x)\n", what, st);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/st7-privdrop.XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 0777) != 0) {
		perror(dir);
		return 1;
	}
	snprintf(planted, sizeof(planted), "%s/planted", dir);
	int fd = open(planted, O_WRONLY | O_CREAT, 0666);
	if (fd < 0 || fchmod(fd, 0666) != 0) {
		perror(planted);
		return 1;
	}
	close(fd);
	if (geteuid() == 0) {
		run_child("root", -1, 0);
		/* A non-root st7dfu's worker: same user, a device group, no way to drop it. */
		run_child("user 65534 in group 46", 65534, 46);
	} else {
		fprintf(stderr, "SKIP (not root): the drop from root is not checked\n");
		run_child("this user", -1, 0);
	}
	unlink(planted);
	rmdir(dir);
	return check_report();
}
