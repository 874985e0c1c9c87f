/* SPDX-License-Identifier: MIT */
/*
 * The POSIX store (backend/store_posix.c) against iface/store.h's contract, on real files
 * in a temporary directory: atomic write (and no-replace), bounded and streamed reads,
 * list, stat, remove, rename, mkdir_p, the private checks, symlinks and FIFOs refused, a
 * too-large file refused unread, a lock held by another process.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "store.h"

static char base[] = "/tmp/st7dfu-store-test.XXXXXX";
static struct st7_store S;

static const char *at(const char *name)
{
	static char paths[4][512];
	static int i;
	char *p = paths[i++ % 4];
	snprintf(p, sizeof(paths[0]), "%s/%s", base, name);
	return p;
}

static void put(const char *name, const char *text, mode_t mode)
{
	FILE *f = fopen(at(name), "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(at(name), mode);
}

static bool is(const char *name, const char *text)
{
	char buf[256] = "";
	FILE *f = fopen(at(name), "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return f && strcmp(buf, text) == 0;
}

/* Files named *.tmp.* in `dir`: what a failed atomic write must not leave. */
static int temps(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -c '\\.tmp\\.' >/dev/null", dir);
	return system(cmd) == 0;
}

static void test_write_read(void)
{
	struct st7_buf b;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	CHECK_INT(st7_store_write_atomic(&S, at("a"), "hello", 5, 0600, 0, &d), ST7_OK);
	CHECK(is("a", "hello"));
	struct stat st;
	CHECK(stat(at("a"), &st) == 0 && (st.st_mode & 0777) == 0600);
	/* Replace: exactly the new bytes; no temporary left. */
	CHECK_INT(st7_store_write_atomic(&S, at("a"), "bye", 3, 0644, 0, &d), ST7_OK);
	CHECK(is("a", "bye") && !temps(base));
	/* No-replace: an existing file stays, and says so. */
	CHECK_INT(st7_store_write_atomic(&S, at("a"), "x", 1, 0600, ST7_STORE_NOREPLACE, &d),
	          ST7_ERR_EXISTS);
	CHECK(is("a", "bye") && !temps(base));
	CHECK_INT(st7_store_write_atomic(&S, at("n"), "new", 3, 0600, ST7_STORE_NOREPLACE, &d),
	          ST7_OK);
	CHECK(is("n", "new"));
	/* Into a missing directory: nothing written, the directory named. */
	CHECK_INT(st7_store_write_atomic(&S, at("none/x"), "x", 1, 0600, 0, &d), ST7_ERR_NOT_FOUND);
	CHECK_HAS(d.msg, "cannot create a temporary file in");

	/* The read fills the caller's buffer: what was in it goes, its limit stays. */
	st7_buf_append(&b, "junk", 4);
	b.limit = 1000;
	CHECK_INT(st7_store_read(&S, at("a"), 100, 0, &b, &d), ST7_OK);
	CHECK(b.len == 3 && memcmp(b.data, "bye", 3) == 0 && b.limit == 1000);
	CHECK_INT(st7_store_read(&S, at("a"), 3, 0, &b, &d), ST7_OK); /* exactly the limit */
	/* Larger than the limit: refused from its size, unread. */
	CHECK_INT(st7_store_read(&S, at("a"), 2, 0, &b, &d), ST7_ERR_TOO_LARGE);
	CHECK_HAS(d.msg, "more than the 2-byte limit");
	CHECK_INT(st7_store_read(&S, at("missing"), 10, 0, &b, &d), ST7_ERR_NOT_FOUND);
	CHECK_HAS(d.msg, "missing: cannot open: No such file or directory");
	CHECK_INT(st7_store_read(&S, base, 10, 0, &b, &d), ST7_ERR_IO);
	CHECK_HAS(d.msg, "not a regular file");
	st7_buf_free(&b);
}

static int sum_chunks(void *arg, const uint8_t *p, size_t n)
{
	(void)p;
	*(size_t *)arg += n;
	return 0;
}

static int stop_at_first(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return 42;
}

static void test_read_each(void)
{
	struct st7_diag d = { "" };
	size_t total = 0;
	FILE *f = fopen(at("big"), "w");
	for (int i = 0; f && i < 200000; i++)
		fputc(i & 0xFF, f);
	if (f)
		fclose(f);
	CHECK_INT(st7_store_read_each(&S, at("big"), 0, sum_chunks, &total, &d), ST7_OK);
	CHECK_INT(total, 200000);
	CHECK_INT(st7_store_read_each(&S, at("big"), 0, stop_at_first, NULL, &d), 42);
}

struct names {
	char seen[8][ST7_STORE_NAME_MAX + 2];
	int n;
};

static int note(void *arg, const struct st7_store_entry *e)
{
	struct names *nm = arg;
	if (nm->n < 8)
		snprintf(nm->seen[nm->n++], sizeof(nm->seen[0]), "%s%s", e->name,
		         e->regular ? ""
		         : e->dir   ? "/"
		                    : "@");
	return 0;
}

static bool listed(const struct names *nm, const char *s)
{
	for (int i = 0; i < nm->n; i++)
		if (strcmp(nm->seen[i], s) == 0)
			return true;
	return false;
}

static void test_list_stat_remove_rename(void)
{
	struct st7_diag d = { "" };
	struct names nm = { .n = 0 };
	struct st7_store_entry e;
	CHECK_INT(st7_store_mkdir_p(&S, at("l/sub"), 0700, 0, &d), ST7_OK);
	put("l/f1", "1", 0600);
	CHECK(symlink("f1", at("l/link")) == 0);
	CHECK_INT(st7_store_list(&S, at("l"), note, &nm, &d), ST7_OK);
	CHECK_INT(nm.n, 3); /* no "." or ".." */
	CHECK(listed(&nm, "f1") && listed(&nm, "sub/") && listed(&nm, "link@"));
	CHECK_INT(st7_store_list(&S, at("nowhere"), note, &nm, &d), ST7_ERR_NOT_FOUND);
	/* stat is lstat: a link is neither regular nor a directory. */
	CHECK_INT(st7_store_stat(&S, at("l/link"), &e, &d), ST7_OK);
	CHECK(!e.regular && !e.dir && strcmp(e.name, "link") == 0);
	CHECK_INT(st7_store_stat(&S, at("l/f1"), &e, &d), ST7_OK);
	CHECK(e.regular && e.size == 1 && e.mtime_s > 0);
	CHECK_INT(st7_store_stat(&S, at("l/nope"), &e, &d), ST7_ERR_NOT_FOUND);
	/* Rename, and no-replace. */
	put("l/f2", "2", 0600);
	CHECK_INT(st7_store_rename(&S, at("l/f1"), at("l/f2"), ST7_STORE_NOREPLACE, &d),
	          ST7_ERR_EXISTS);
	CHECK(is("l/f1", "1") && is("l/f2", "2"));
	CHECK_INT(st7_store_rename(&S, at("l/f1"), at("l/f3"), ST7_STORE_NOREPLACE, &d), ST7_OK);
	CHECK(is("l/f3", "1") && access(at("l/f1"), F_OK) != 0);
	CHECK_INT(st7_store_rename(&S, at("l/f3"), at("l/f2"), 0, &d), ST7_OK);
	CHECK(is("l/f2", "1"));
	CHECK_INT(st7_store_rename(&S, at("l/gone"), at("l/f9"), 0, &d), ST7_ERR_NOT_FOUND);
	/* Remove; a missing file is fine. */
	CHECK_INT(st7_store_remove(&S, at("l/f2"), &d), ST7_OK);
	CHECK(access(at("l/f2"), F_OK) != 0);
	CHECK_INT(st7_store_remove(&S, at("l/f2"), &d), ST7_OK);
	/* Touch moves the mtime forward. */
	put("l/t", "t", 0600);
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	utimensat(AT_FDCWD, at("l/t"), old, 0);
	CHECK_INT(st7_store_touch(&S, at("l/t"), &d), ST7_OK);
	CHECK_INT(st7_store_stat(&S, at("l/t"), &e, &d), ST7_OK);
	CHECK(e.mtime_s > 1000);
	char real[4096];
	CHECK_INT(st7_store_canonical(&S, at("l/link"), real, sizeof(real), &d), ST7_ERR_NOT_FOUND);
	CHECK_INT(st7_store_canonical(&S, at("l/sub/.."), real, sizeof(real), &d), ST7_OK);
	CHECK(strstr(real, "/l") && !strstr(real, ".."));
}

static void test_private(void)
{
	struct st7_buf b;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	CHECK_INT(st7_store_mkdir_p(&S, at("p/q"), 0700, 0, &d), ST7_OK);
	CHECK_INT(st7_store_check_private(&S, at("p/q"), true, &d), ST7_OK);
	chmod(at("p/q"), 0755);
	CHECK_INT(st7_store_check_private(&S, at("p/q"), false, &d), ST7_OK);
	CHECK_INT(st7_store_check_private(&S, at("p/q"), true, &d), ST7_ERR_ACCESS);
	CHECK_HAS(d.msg, "too open");
	chmod(at("p/q"), 0777);
	CHECK_INT(st7_store_check_private(&S, at("p/q"), false, &d), ST7_ERR_ACCESS);
	CHECK_HAS(d.msg, "writable by group or others");
	/* mkdir_p with PRIVATE makes an existing directory of ours private. */
	CHECK_INT(st7_store_mkdir_p(&S, at("p/q"), 0700, ST7_STORE_PRIVATE, &d), ST7_OK);
	struct stat st;
	CHECK(stat(at("p/q"), &st) == 0 && (st.st_mode & 0777) == 0700);
	/* A symbolic link is never a private directory. */
	CHECK(symlink("q", at("p/ql")) == 0);
	CHECK_INT(st7_store_check_private(&S, at("p/ql"), false, &d), ST7_ERR_ACCESS);
	CHECK_HAS(d.msg, "not a directory");
	CHECK_INT(st7_store_mkdir_p(&S, at("p/ql"), 0700, ST7_STORE_PRIVATE, &d), ST7_ERR_ACCESS);
	/* Private files: loose modes refused. */
	put("p/q/k", "key", 0666);
	CHECK_INT(st7_store_read(&S, at("p/q/k"), 100, ST7_STORE_PRIVATE, &b, &d), ST7_ERR_IO);
	CHECK_HAS(d.msg, "writable by group or others");
	chmod(at("p/q/k"), 0644);
	CHECK_INT(st7_store_read(&S, at("p/q/k"), 100, ST7_STORE_PRIVATE, &b, &d), ST7_OK);
	/* Symbolic links refused with NOFOLLOW, followed without. */
	CHECK(symlink("k", at("p/q/kl")) == 0);
	CHECK_INT(st7_store_read(&S, at("p/q/kl"), 100, ST7_STORE_NOFOLLOW, &b, &d), ST7_ERR_IO);
	CHECK_HAS(d.msg, "symbolic link");
	CHECK_INT(st7_store_read(&S, at("p/q/kl"), 100, 0, &b, &d), ST7_OK);
	/* A FIFO never hangs a read. */
	CHECK(mkfifo(at("p/q/fifo"), 0600) == 0);
	CHECK_INT(st7_store_read(&S, at("p/q/fifo"), 100, 0, &b, &d), ST7_ERR_IO);
	/* An append stream refuses a planted link and writes nowhere through it. */
	struct st7_store_file *f = NULL;
	uint64_t size = 0;
	CHECK_INT(st7_store_append_open(&S, at("p/q/kl"), false, &size, &f, &d), ST7_ERR_IO);
	CHECK(f == NULL && is("p/q/k", "key"));
	CHECK_INT(st7_store_append_open(&S, at("p/q/part"), false, &size, &f, &d), ST7_OK);
	CHECK_INT(st7_store_append(&S, f, "abc", 3, &d), ST7_OK);
	CHECK_INT(st7_store_append_close(&S, f, true, &d), ST7_OK);
	CHECK_INT(st7_store_append_open(&S, at("p/q/part"), false, &size, &f, &d), ST7_OK);
	CHECK_INT(size, 3);
	CHECK_INT(st7_store_append(&S, f, "de", 2, &d), ST7_OK);
	CHECK_INT(st7_store_append_close(&S, f, false, &d), ST7_OK);
	CHECK(is("p/q/part", "abcde"));
	CHECK_INT(st7_store_append_open(&S, at("p/q/part"), true, &size, &f, &d), ST7_OK);
	CHECK_INT(size, 0);
	CHECK_INT(st7_store_append_close(&S, f, false, &d), ST7_OK);
	CHECK_INT(st7_store_check_room(&S, at("p/q"), 1, &d), ST7_OK);
	CHECK_INT(st7_store_check_room(&S, at("p/q"), UINT64_MAX / 2, &d), ST7_ERR_IO);
	CHECK_HAS(d.msg, "free some room");
	st7_buf_free(&b);
}

static void test_lock(void)
{
	struct st7_diag d = { "" };
	struct st7_store_lock *l = NULL;
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t child = fork();
	if (child == 0) { /* another process holds the lock until it is killed */
		struct st7_store_lock *cl = NULL;
		char c = st7_store_lock(&S, at("lk"), 0, &cl, NULL) == ST7_OK ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char c = 0;
	CHECK(read(ready[0], &c, 1) == 1 && c == 'y');
	CHECK_INT(st7_store_lock(&S, at("lk"), 0, &l, &d), ST7_ERR_BUSY);
	CHECK(l == NULL);
	CHECK_HAS(d.msg, "held by another process");
	kill(child, SIGKILL); /* its death releases the lock */
	waitpid(child, NULL, 0);
	CHECK_INT(st7_store_lock(&S, at("lk"), 1, &l, &d), ST7_OK);
	st7_store_unlock(&S, l);
	close(ready[0]);
	close(ready[1]);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	struct st7_diag d = { "" };
	if (!mkdtemp(base) || st7_store_posix_init(&S, &d) != ST7_OK)
		return 1;
	test_write_read();
	test_read_each();
	test_list_stat_remove_rename();
	test_private();
	test_lock();
	st7_store_free(&S);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_report();
}
