/* SPDX-License-Identifier: MIT */
/*
 * The report queue (core/report_queue.h) on the real POSIX store in a temporary directory,
 * uploading through an in-process fake fetcher (only a post op) that injects the server's
 * answers: success, 503 with Retry-After, other statuses, a network error after N records,
 * no POST at all. Checked: names and modes on disk, oldest first, a record removed only
 * once acknowledged, bad files moved aside, other names left alone, the bounds dropping
 * the oldest, and the sequence carrying on across a restart.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "report_queue.h"
#include "store.h"

static char base[] = "/tmp/st7dfu-report-queue-test.XXXXXX";
static char state[600], qdir[700];
static struct st7_store S;

/* ---- the fake fetcher ---- */

#define FAKE_KEEP 64

struct fake {
	unsigned calls;
	int fail_at;              /* the call (from 0) from which every POST fails; -1: none */
	int fail_with;            /* that failure's error ... */
	long status;              /* ... its status ... */
	int64_t retry_after_s;    /* ... and its Retry-After */
	char body[FAKE_KEEP][64]; /* what each call sent (cut to 63 bytes) */
	char ctype[64], url[128];
};

static int fake_post(struct st7_fetcher *f, const struct st7_fetch_post *req,
                     struct st7_fetch_response *resp, struct st7_diag *d)
{
	struct fake *k = f->impl;
	unsigned n = k->calls++;
	memset(resp, 0, sizeof(*resp));
	resp->complete_size = UINT64_MAX;
	resp->last_modified = -1;
	resp->retry_after_s = -1;
	if (n < FAKE_KEEP)
		snprintf(k->body[n], sizeof(k->body[n]), "%.*s", (int)req->len,
		         (const char *)req->body);
	snprintf(k->ctype, sizeof(k->ctype), "%s", req->content_type);
	snprintf(k->url, sizeof(k->url), "%s", req->url);
	if (k->fail_at >= 0 && n >= (unsigned)k->fail_at) {
		resp->status = k->status;
		resp->retry_after_s = k->retry_after_s;
		return st7_diag_set(d, k->fail_with, "fake: failure %d", k->fail_with);
	}
	resp->status = 204;
	return ST7_OK;
}

static const struct st7_fetch_ops fake_ops = { .post = fake_post };
static const struct st7_fetch_ops no_post_ops = { .get = NULL };

static void fake_init(struct st7_fetcher *f, struct fake *k)
{
	memset(k, 0, sizeof(*k));
	k->fail_at = -1;
	k->retry_after_s = -1;
	f->ops = &fake_ops;
	f->impl = k;
}

/* ---- files ---- */

static const char *qpath(const char *name)
{
	static char p[4][900];
	static int i;
	char *o = p[i++ % 4];
	snprintf(o, sizeof(p[0]), "%s/%s", qdir, name);
	return o;
}

static const char *rec(unsigned seq)
{
	static char n[4][32];
	static int i;
	char *o = n[i++ % 4];
	snprintf(o, sizeof(n[0]), "R%016u.json", seq);
	return o;
}

static bool exists(const char *name)
{
	struct stat st;
	return lstat(qpath(name), &st) == 0;
}

static bool holds(const char *name, const char *text)
{
	char buf[256] = "";
	FILE *f = fopen(qpath(name), "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return f && strcmp(buf, text) == 0;
}

static void put_raw(const char *name, const void *p, size_t n)
{
	FILE *f = fopen(qpath(name), "w");
	if (!f || fwrite(p, 1, n, f) != n)
		abort();
	fclose(f);
	chmod(qpath(name), 0600);
}

static unsigned entries(void)
{
	unsigned n = 0;
	DIR *dir = opendir(qdir);
	struct dirent *e;
	while (dir && (e = readdir(dir)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (dir)
		closedir(dir);
	return n;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh state directory for each case. */
static void fresh(const char *name)
{
	snprintf(state, sizeof(state), "%s/%s", base, name);
	snprintf(qdir, sizeof(qdir), "%s/reports", state);
	if (mkdir(state, 0700) != 0)
		abort();
}

static int add(const char *json)
{
	struct st7_diag d = { "" };
	return st7_report_queue_add(&S, state, NULL, json, strlen(json), &d);
}

static int flush(struct st7_fetcher *f, unsigned *sent, int64_t *ra, struct st7_diag *d)
{
	return st7_report_queue_flush(&S, state, f, "https://h/reports", NULL, sent, ra, d);
}

/* ---- cases ---- */

static void test_empty(void)
{
	struct st7_fetcher f;
	struct fake k;
	struct st7_diag d = { "" };
	unsigned n = 99, sent = 99;
	uint64_t bytes = 99;
	int64_t ra = 99;
	fresh("empty");
	fake_init(&f, &k);
	CHECK_INT(st7_report_queue_stat(&S, state, &n, &bytes, &d), ST7_OK);
	CHECK(n == 0 && bytes == 0);
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_OK);
	CHECK(sent == 0 && ra == -1 && k.calls == 0);
	CHECK(!exists("")); /* nothing created by looking */
}

static void test_add(void)
{
	static char big[ST7_REPORT_RECORD_MAX + 2];
	struct st7_diag d = { "" };
	struct stat st;
	unsigned n = 0;
	uint64_t bytes = 0;
	fresh("add");
	CHECK_INT(add("{\"n\":1}"), ST7_OK);
	CHECK_INT(add("{\"n\":2}"), ST7_OK);
	CHECK_INT(add("{\"n\":3}"), ST7_OK);
	CHECK(holds(rec(1), "{\"n\":1}") && holds(rec(2), "{\"n\":2}") &&
	      holds(rec(3), "{\"n\":3}"));
	CHECK(lstat(qdir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(lstat(qpath(rec(1)), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT(entries(), 3); /* no temporary left behind */
	CHECK_INT(st7_report_queue_stat(&S, state, &n, &bytes, &d), ST7_OK);
	CHECK(n == 3 && bytes == 21);

	/* refused: empty, not an object, over 16 KiB; the largest is taken */
	CHECK_INT(st7_report_queue_add(&S, state, NULL, "", 0, &d), ST7_ERR_INVALID);
	CHECK_INT(add("[1]"), ST7_ERR_INVALID);
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	d.msg[0] = '\0';
	CHECK_INT(st7_report_queue_add(&S, state, NULL, big, ST7_REPORT_RECORD_MAX + 1, &d),
	          ST7_ERR_TOO_LARGE);
	CHECK_HAS(d.msg, "report queue");
	CHECK_INT(entries(), 3);
	CHECK_INT(st7_report_queue_add(&S, state, NULL, big, ST7_REPORT_RECORD_MAX, &d), ST7_OK);
	CHECK(lstat(qpath(rec(4)), &st) == 0 && st.st_size == ST7_REPORT_RECORD_MAX);

	/* a queue directory open to others is made private again */
	chmod(qdir, 0755);
	CHECK_INT(add("{}"), ST7_OK);
	CHECK(lstat(qdir, &st) == 0 && (st.st_mode & 0777) == 0700);
}

static void test_flush_all(void)
{
	struct st7_fetcher f;
	struct fake k;
	struct st7_diag d = { "" };
	unsigned sent = 0, n = 9;
	uint64_t bytes = 9;
	int64_t ra = 0;
	fresh("flush");
	fake_init(&f, &k);
	/* sequence order is upload order, whatever order the directory lists them in */
	CHECK_INT(add("{\"n\":1}"), ST7_OK); /* (the directory exists from here) */
	put_raw(rec(10), "{\"n\":10}", 8);
	put_raw(rec(9), "{\"n\":9}", 7);
	CHECK_INT(add("{\"n\":11}"), ST7_OK); /* max + 1 */
	CHECK(holds(rec(11), "{\"n\":11}"));
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_OK);
	CHECK_INT(sent, 4);
	CHECK_INT(k.calls, 4);
	CHECK(strcmp(k.body[0], "{\"n\":1}") == 0 && strcmp(k.body[1], "{\"n\":9}") == 0 &&
	      strcmp(k.body[2], "{\"n\":10}") == 0 && strcmp(k.body[3], "{\"n\":11}") == 0);
	CHECK(strcmp(k.ctype, "application/json") == 0);
	CHECK(strcmp(k.url, "https://h/reports") == 0);
	CHECK_INT(ra, -1);
	CHECK_INT(entries(), 0);
	CHECK_INT(st7_report_queue_stat(&S, state, &n, &bytes, &d), ST7_OK);
	CHECK(n == 0 && bytes == 0);
	/* nothing left: a flush sends nothing */
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_OK);
	CHECK(sent == 0 && k.calls == 4);
}

/* The directory needs to exist before raw files are put in it. */
static void make_qdir(void)
{
	if (mkdir(qdir, 0700) != 0)
		abort();
}

static void test_retry_later(void)
{
	struct st7_fetcher f;
	struct fake k;
	struct st7_diag d = { "" };
	unsigned sent = 9;
	int64_t ra = 0;
	fresh("retry");
	fake_init(&f, &k);
	CHECK_INT(add("{\"n\":1}"), ST7_OK);
	CHECK_INT(add("{\"n\":2}"), ST7_OK);
	k.fail_at = 0;
	k.fail_with = ST7_ERR_RETRY_LATER;
	k.status = 503;
	k.retry_after_s = 2;
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_ERR_RETRY_LATER);
	CHECK_INT(sent, 0);
	CHECK_INT(ra, 2);
	CHECK_INT(k.calls, 1); /* it stopped at the first failure */
	CHECK_HAS(d.msg, "report queue");
	CHECK_HAS(d.msg, rec(1));
	/* the record survives until acknowledged */
	CHECK(holds(rec(1), "{\"n\":1}") && holds(rec(2), "{\"n\":2}"));
	/* no Retry-After: -1 */
	k.retry_after_s = -1;
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_ERR_RETRY_LATER);
	CHECK_INT(ra, -1);
	/* another status: ST7_ERR_HTTP, kept too */
	k.fail_with = ST7_ERR_HTTP;
	k.status = 400;
	k.retry_after_s = 5; /* not a retry-later: not reported */
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_ERR_HTTP);
	CHECK_INT(ra, -1);
	CHECK(exists(rec(1)) && exists(rec(2)));
	/* the server is back: both go, oldest first */
	k.fail_at = -1;
	k.calls = 0;
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_OK);
	CHECK_INT(sent, 2);
	CHECK(strcmp(k.body[0], "{\"n\":1}") == 0 && strcmp(k.body[1], "{\"n\":2}") == 0);
	CHECK_INT(entries(), 0);
}

static void test_network_after_n(void)
{
	struct st7_fetcher f;
	struct fake k;
	struct st7_diag d = { "" };
	unsigned sent = 0, n = 0;
	uint64_t bytes = 0;
	int64_t ra = 0;
	char json[32];
	fresh("network");
	fake_init(&f, &k);
	for (int i = 1; i <= 5; i++) {
		snprintf(json, sizeof(json), "{\"n\":%d}", i);
		CHECK_INT(add(json), ST7_OK);
	}
	k.fail_at = 2;
	k.fail_with = ST7_ERR_NETWORK;
	k.status = 0;
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_ERR_NETWORK);
	CHECK_INT(sent, 2);
	CHECK_INT(ra, -1);
	CHECK_INT(k.calls, 3);
	CHECK(!exists(rec(1)) && !exists(rec(2)));
	CHECK(exists(rec(3)) && exists(rec(4)) && exists(rec(5)));
	CHECK_INT(st7_report_queue_stat(&S, state, &n, &bytes, &d), ST7_OK);
	CHECK_INT(n, 3);
	/* the next flush starts where this one stopped */
	k.fail_at = -1;
	k.calls = 0;
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_OK);
	CHECK_INT(sent, 3);
	CHECK(strcmp(k.body[0], "{\"n\":3}") == 0);
	/* a stop between records: ST7_ERR_ABORTED, nothing sent */
	volatile sig_atomic_t stop = 1;
	CHECK_INT(add("{}"), ST7_OK);
	k.calls = 0;
	CHECK_INT(st7_report_queue_flush(&S, state, &f, "https://h/r", &stop, &sent, &ra, &d),
	          ST7_ERR_ABORTED);
	CHECK(sent == 0 && k.calls == 0 && entries() == 1);
	/* a fetcher that cannot POST: ST7_ERR_UNSUPPORTED, the record stays */
	struct st7_fetcher none = { &no_post_ops, NULL };
	CHECK_INT(flush(&none, &sent, &ra, &d), ST7_ERR_UNSUPPORTED);
	CHECK(sent == 0 && entries() == 1);
}

static void test_bad_files(void)
{
	static char big[ST7_REPORT_RECORD_MAX + 1];
	struct st7_fetcher f;
	struct fake k;
	struct st7_diag d = { "" };
	unsigned sent = 0, n = 0;
	uint64_t bytes = 0;
	int64_t ra = 0;
	fresh("bad");
	fake_init(&f, &k);
	make_qdir();
	memset(big, ' ', sizeof(big));
	big[0] = '{';
	put_raw(rec(1), "{\"n\":1}", 7);
	put_raw(rec(2), "", 0);            /* empty */
	put_raw(rec(3), "not json", 8);    /* not an object */
	put_raw(rec(4), big, sizeof(big)); /* over 16 KiB */
	put_raw(rec(5), "{\"n\":5}", 7);
	chmod(qpath(rec(5)), 0666); /* writable by others: not trusted */
	put_raw(rec(6), "{\"n\":6}", 7);
	put_raw("notes.txt", "{}", 2); /* other names: ignored, kept */
	put_raw("R123.json", "{}", 2);
	put_raw("R00000000000000007.json", "{}", 2);
	put_raw("r0000000000000008.json", "{}", 2);
	put_raw("R000000000000000x.json", "{}", 2);
	if (mkdir(qpath(rec(9)), 0700) != 0) /* a directory with a record's name */
		abort();
	CHECK_INT(st7_report_queue_stat(&S, state, &n, &bytes, &d), ST7_OK);
	CHECK_INT(n, 6);
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_OK);
	CHECK_INT(sent, 2);
	CHECK_INT(k.calls, 2);
	CHECK(strcmp(k.body[0], "{\"n\":1}") == 0 && strcmp(k.body[1], "{\"n\":6}") == 0);
	CHECK(exists("bad-R0000000000000002.json") && exists("bad-R0000000000000003.json"));
	CHECK(exists("bad-R0000000000000004.json") && exists("bad-R0000000000000005.json"));
	CHECK(!exists(rec(1)) && !exists(rec(2)) && !exists(rec(6)));
	CHECK(exists("notes.txt") && exists("R123.json") && exists("R00000000000000007.json"));
	CHECK(exists("r0000000000000008.json") && exists("R000000000000000x.json"));
	CHECK(exists(rec(9)));
	CHECK_INT(st7_report_queue_stat(&S, state, &n, &bytes, &d), ST7_OK);
	CHECK_INT(n, 0);
	/* the next record's number passes the bad ones' and the directory's */
	CHECK_INT(add("{\"n\":10}"), ST7_OK);
	CHECK(holds(rec(10), "{\"n\":10}"));
	/* a bad copy's number is never handed out again */
	put_raw("bad-R0000000000000020.json", "x", 1);
	CHECK_INT(add("{\"n\":21}"), ST7_OK);
	CHECK(holds(rec(21), "{\"n\":21}"));
}

static void test_limits(void)
{
	struct st7_fetcher f;
	struct fake k;
	struct st7_diag d = { "" };
	struct st7_report_queue_limits lim = { 3, 0 };
	unsigned sent = 0, n = 0;
	uint64_t bytes = 0;
	int64_t ra = 0;
	char json[128];
	fresh("limits");
	fake_init(&f, &k);
	for (int i = 1; i <= 5; i++) {
		snprintf(json, sizeof(json), "{\"n\":%d}", i);
		CHECK_INT(st7_report_queue_add(&S, state, &lim, json, strlen(json), &d), ST7_OK);
	}
	/* the newest three stay */
	CHECK(!exists(rec(1)) && !exists(rec(2)));
	CHECK(exists(rec(3)) && exists(rec(4)) && exists(rec(5)));
	CHECK_INT(st7_report_queue_stat(&S, state, &n, &bytes, &d), ST7_OK);
	CHECK_INT(n, 3);
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_OK);
	CHECK(strcmp(k.body[0], "{\"n\":3}") == 0);

	/* bytes: 100-byte records under a 250-byte bound keep two (an empty queue numbers
	 * from 1 again) */
	struct st7_report_queue_limits by_bytes = { 0, 250 };
	memset(json, ' ', 100);
	json[0] = '{';
	json[99] = '}';
	for (int i = 0; i < 4; i++)
		CHECK_INT(st7_report_queue_add(&S, state, &by_bytes, json, 100, &d), ST7_OK);
	CHECK_INT(st7_report_queue_stat(&S, state, &n, &bytes, &d), ST7_OK);
	CHECK(n == 2 && bytes == 200);
	CHECK(!exists(rec(1)) && !exists(rec(2)) && exists(rec(3)) && exists(rec(4)));
	/* a record over the whole bound is refused, and nothing is dropped for it */
	struct st7_report_queue_limits tiny = { 0, 50 };
	CHECK_INT(st7_report_queue_add(&S, state, &tiny, json, 100, &d), ST7_ERR_TOO_LARGE);
	CHECK_INT(st7_report_queue_stat(&S, state, &n, &bytes, &d), ST7_OK);
	CHECK_INT(n, 2);
	/* the defaults */
	struct st7_report_queue_limits def;
	st7_report_queue_limits_default(&def);
	CHECK(def.max_records == 1000 && def.max_bytes == 1048576);
}

static void test_restart(void)
{
	struct st7_fetcher f;
	struct fake k;
	struct st7_diag d = { "" };
	unsigned sent = 0;
	int64_t ra = 0;
	fresh("restart");
	fake_init(&f, &k);
	CHECK_INT(add("{\"n\":1}"), ST7_OK);
	CHECK_INT(add("{\"n\":2}"), ST7_OK);
	/* a new process: a new store, the queue read back from the directory */
	st7_store_free(&S);
	CHECK_INT(st7_store_posix_init(&S, &d), ST7_OK);
	CHECK_INT(add("{\"n\":3}"), ST7_OK);
	CHECK(holds(rec(3), "{\"n\":3}"));
	/* one acknowledged, one refused, a restart: the unacknowledged ones are still
	 * there, in order, and new ones come after them */
	k.fail_at = 1;
	k.fail_with = ST7_ERR_TIMEOUT;
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_ERR_TIMEOUT);
	CHECK_INT(sent, 1);
	st7_store_free(&S);
	CHECK_INT(st7_store_posix_init(&S, &d), ST7_OK);
	CHECK_INT(add("{\"n\":4}"), ST7_OK);
	CHECK(!exists(rec(1)) && exists(rec(2)) && exists(rec(3)) && holds(rec(4), "{\"n\":4}"));
	k.fail_at = -1;
	k.calls = 0;
	CHECK_INT(flush(&f, &sent, &ra, &d), ST7_OK);
	CHECK_INT(sent, 3);
	CHECK(strcmp(k.body[0], "{\"n\":2}") == 0 && strcmp(k.body[2], "{\"n\":4}") == 0);
}

int main(void)
{
	struct st7_diag d = { "" };
	if (!mkdtemp(base) || st7_store_posix_init(&S, &d) != ST7_OK)
		return 1;
	test_empty();
	test_add();
	test_flush_all();
	test_retry_later();
	test_network_after_n();
	test_bad_files();
	test_limits();
	test_restart();
	st7_store_free(&S);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_report();
}
