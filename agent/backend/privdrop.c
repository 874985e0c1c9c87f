/* SPDX-License-Identifier: MIT */
/*
 * The fetch worker's confinement (backends.h): what a hostile server or a TLS bug gets if
 * it takes over the worker is an unprivileged process that can write no file and hold no
 * device. Linux-specific (prctl); the order matters: groups, gid, then uid.
 */
#define _GNU_SOURCE /* setresuid, setgroups */
#include "backends.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define DEFAULT_USER "st7dfu"
#define FALLBACK_USER "nobody"

static int become(const char *user, struct st7_diag *d)
{
	const char *name = user && *user ? user : DEFAULT_USER;
	struct passwd *pw = getpwnam(name);
	/* The packages create "st7dfu"; a hand install without it still never fetches as
	 * root. Any other user named must exist. */
	if (!pw && strcmp(name, DEFAULT_USER) == 0)
		pw = getpwnam(name = FALLBACK_USER);
	if (!pw)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: no user '%s' to run as",
		                    name);
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (uid == 0)
		return st7_diag_set(d, ST7_ERR_ACCESS,
		                    "fetch worker: user '%s' is root; refusing to fetch as root",
		                    name);
	if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: cannot become '%s': %s", name,
		                    strerror(errno));
	/* Irreversible, or we do not go on. */
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: root could be regained");
	return ST7_OK;
}

int st7_drop_privileges(const char *user, struct st7_diag *d)
{
	pid_t parent = getppid();
	struct rlimit zero = { 0, 0 };
	int ret;
	if (geteuid() == 0 && (ret = become(user, d)) != ST7_OK)
		return ret;
	if (chdir("/") != 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: chdir /: %s",
		                    strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: prctl: %s", strerror(errno));
	/* A regular file written by mistake fails with EFBIG rather than killing us. */
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_CORE, &zero) != 0 || setrlimit(RLIMIT_FSIZE, &zero) != 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: setrlimit: %s",
		                    strerror(errno));
	/* Set after the uid change, which clears it; then make sure the parent is still
	 * the one that started us. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: the parent is gone");
	return ST7_OK;
}
