/* SPDX-License-Identifier: MIT */
/*
 * The fetch worker's confinement (backends.h): what a hostile server or a TLS bug gets if
 * it takes over the worker is an unprivileged process that can write no file and hold no
 * device. Linux-specific (prctl); the order matters: groups, gid, then uid.
 */
#define _GNU_SOURCE /* setresuid, setgroups */
#include "backends.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Landlock rights newer than some kernel headers (the kernel's ABI numbers). */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

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

/* No capabilities left: a non-root st7dfu may have been given some (a service's
 * AmbientCapabilities=); a worker needs none. Dropping is always allowed. */
static int drop_capabilities(struct st7_diag *d)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct none[2];
	memset(none, 0, sizeof(none));
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); /* EINVAL before 4.3 */
	if (syscall(SYS_capset, &h, none) != 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: capset: %s", strerror(errno));
	return ST7_OK;
}

/* Read-only, beneath what libcurl, the TLS library and the resolver read after the drop:
 * shared libraries (NSS modules, OpenSSL engines), /etc (resolv.conf, hosts, the system's
 * CA store), /run (resolv.conf is often a link into it), and the random device. */
static const char *const readable_trees[] = { "/etc", "/usr", "/lib", "/lib32", "/lib64", "/run" };
static const char *const readable_files[] = { "/dev/urandom", "/dev/null" };
/* What the resolver and TLS read may be links out of those trees (buildroot's
 * /etc/resolv.conf -> ../tmp/resolv.conf, a CA bundle on a data partition): the files they
 * point to are readable too, and nothing else there. */
static const char *const linked_files[] = { "/etc/resolv.conf",
	                                    "/etc/hosts",
	                                    "/etc/nsswitch.conf",
	                                    "/etc/gai.conf",
	                                    "/etc/host.conf",
	                                    "/etc/localtime",
	                                    "/etc/ssl/certs/ca-certificates.crt" };

static void allow_read(int ruleset, const char *path, uint64_t access)
{
	struct landlock_path_beneath_attr rule = { .allowed_access = access };
	rule.parent_fd = open(path, O_PATH | O_CLOEXEC);
	if (rule.parent_fd < 0)
		return; /* not on this system */
	syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
	close(rule.parent_fd);
}

/*
 * Where the kernel has Landlock (Linux 5.13 on; enabled in Debian 12's): no file or
 * directory may be written, created, removed, renamed or truncated anywhere, no device
 * opened but the random one, and only the system trees above read. This is what holds
 * when st7dfu is not root and the worker keeps its user and groups (plugdev, dialout):
 * it still cannot open a USB device node or touch the state directory. Without Landlock
 * the other measures stand alone. Returns the ABI version used, 0 for none.
 */
static int landlock_confine(struct st7_diag *d)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return 0;
	uint64_t handled = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
	                   LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
	                   LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
	                   LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
	                   LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
	                   LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
	                   LANDLOCK_ACCESS_FS_MAKE_SYM;
	if (abi >= 2)
		handled |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		handled |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	struct landlock_ruleset_attr attr = { .handled_access_fs = handled };
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rs < 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: landlock: %s",
		                    strerror(errno));
	uint64_t read_tree = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
	                     LANDLOCK_ACCESS_FS_EXECUTE;
	for (size_t i = 0; i < sizeof(readable_trees) / sizeof(readable_trees[0]); i++)
		allow_read(rs, readable_trees[i], read_tree);
	for (size_t i = 0; i < sizeof(readable_files) / sizeof(readable_files[0]); i++)
		allow_read(rs, readable_files[i], LANDLOCK_ACCESS_FS_READ_FILE);
	for (size_t i = 0; i < sizeof(linked_files) / sizeof(linked_files[0]); i++) {
		char real[PATH_MAX];
		if (realpath(linked_files[i], real) && strcmp(real, linked_files[i]) != 0)
			allow_read(rs, real, LANDLOCK_ACCESS_FS_READ_FILE);
	}
	long r = syscall(SYS_landlock_restrict_self, rs, 0);
	close(rs);
	if (r != 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: landlock: %s",
		                    strerror(errno));
	return (int)abi;
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
	if ((ret = drop_capabilities(d)) != ST7_OK)
		return ret;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "fetch worker: prctl: %s", strerror(errno));
	if ((ret = landlock_confine(d)) < 0)
		return ret;
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
