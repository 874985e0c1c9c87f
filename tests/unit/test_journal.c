/* SPDX-License-Identifier: MIT */
/*
 * core/journal, core/attempts and report/attempt_report over the real POSIX store in a
 * temp directory: a record round-trips; a record torn at every length, with any byte
 * flipped, of another version, under another device's name, behind a symbolic link or
 * open to others is never trusted and is set aside as KEY.rec.bad-N (the first free N);
 * listing passes only trusted records and counts the rest. The attempts history is
 * written in the form its loader reads back (odd serials and releases too), refuses what
 * the INI format cannot carry and stays within the loader's bounds. The report is one
 * valid JSON line, also for hostile strings.
 */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attempt_report.h"
#include "attempts.h"
#include "check.h"
#include "decide.h"
#include "journal.h"
#include "manifest_source.h"

static char tmp[] = "/tmp/st7-journal.XXXXXX";
static char state[512], jdir[600];
static struct st7_store store;

static void sample(struct st7_journal_rec *r, const char *serial)
{
	memset(r, 0, sizeof(*r));
	r->attempt = 7;
	r->phase = ST7_JPH_DOWNLOADING;
	snprintf(r->serial, sizeof(r->serial), "%s", serial);
	r->vid = 0x0483;
	r->pid = 0xff03;
	st7_journal_key(r->vid, r->pid, r->serial, r->device, sizeof(r->device));
	snprintf(r->port, sizeof(r->port), "1-1.2");
	r->has_from = true;
	r->from_version = 0x0100;
	r->to_version = 0x0101;
	snprintf(r->release, sizeof(r->release), "reader-1.01");
	r->manifest_serial = 42;
	memset(r->image_sha256, 'b', 64);
	snprintf(r->image_url, sizeof(r->image_url), "https://h.example/reader.dfu");
	snprintf(r->backup, sizeof(r->backup), "%s/backups/x/0100.dfu", state);
	r->started_s = 1795000000;
	r->updated_s = 1795000010;
	r->fetch_ms = 10;
	r->flash_ms = 4100;
}

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", jdir, name);
}

static bool exists(const char *name)
{
	char p[4600];
	struct stat st;
	path_of(p, sizeof(p), name);
	return lstat(p, &st) == 0;
}

static void put_file(const char *name, const void *data, size_t n, mode_t mode)
{
	char p[4600];
	path_of(p, sizeof(p), name);
	unlink(p);
	FILE *f = fopen(p, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(n == 0 || fwrite(data, 1, n, f) == n);
	fclose(f);
	chmod(p, mode);
}

static void rm(const char *name)
{
	char p[4600];
	path_of(p, sizeof(p), name);
	unlink(p);
}

/* Names in the journal directory other than "." and "..". */
static unsigned count_files(void)
{
	unsigned n = 0;
	DIR *dh = opendir(jdir);
	struct dirent *de;
	if (!dh)
		return 0;
	while ((de = readdir(dh)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(dh);
	return n;
}

static void test_round_trip(void)
{
	struct st7_journal_rec r, back;
	struct st7_diag d = { "" };
	struct stat st;
	char p[4600];
	sample(&r, "SN 0001");
	CHECK_INT(st7_journal_read(&store, state, r.device, &back, &d), ST7_ERR_NOT_FOUND);
	CHECK_INT(st7_journal_write(&store, state, &r, &d), 0);
	CHECK(stat(jdir, &st) == 0 && (st.st_mode & 0777) == 0700);
	path_of(p, sizeof(p), "0483-ff03-SN_0001.rec");
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT(st7_journal_read(&store, state, "0483-ff03-SN_0001", &back, &d), 0);
	CHECK(memcmp(&back, &r, sizeof(r)) == 0);
	/* rewritten at the next phase */
	r.phase = ST7_JPH_DONE;
	snprintf(r.outcome, sizeof(r.outcome), "done");
	CHECK_INT(st7_journal_write(&store, state, &r, &d), 0);
	CHECK_INT(st7_journal_read(&store, state, r.device, &back, &d), 0);
	CHECK_INT(back.phase, ST7_JPH_DONE);
	CHECK_INT(count_files(), 1); /* no temporary left */
	CHECK_INT(st7_journal_read(&store, state, "0483-ff03-other", &back, &d), ST7_ERR_NOT_FOUND);
	/* keys that are no file name of ours */
	CHECK_INT(st7_journal_read(&store, state, "../x", &back, &d), ST7_ERR_INVALID);
	CHECK_INT(st7_journal_read(&store, state, ".hidden", &back, &d), ST7_ERR_INVALID);
	CHECK_INT(st7_journal_read(&store, state, "", &back, &d), ST7_ERR_INVALID);
	/* a record that is not its own key is not written */
	r.device[0] = '9';
	CHECK_INT(st7_journal_write(&store, state, &r, &d), ST7_ERR_INVALID);
	CHECK_HAS(d.msg, "device");
	CHECK_INT(count_files(), 1);
	/* a too open journal directory: refused on read, made private by a write */
	chmod(jdir, 0755);
	CHECK_INT(st7_journal_read(&store, state, "0483-ff03-SN_0001", &back, &d), ST7_ERR_ACCESS);
	CHECK_INT(st7_journal_list(&store, state, NULL, NULL, NULL, &d), ST7_ERR_INVALID);
	sample(&r, "SN 0001");
	CHECK_INT(st7_journal_write(&store, state, &r, &d), 0);
	CHECK(stat(jdir, &st) == 0 && (st.st_mode & 0777) == 0700);
}

/* The bytes of the sample record. */
static size_t encoded(struct st7_journal_rec *r, uint8_t *out, size_t cap)
{
	struct st7_buf b;
	st7_buf_init(&b);
	CHECK_INT(st7_journal_rec_encode(r, &b), 0);
	size_t n = b.len <= cap ? b.len : 0;
	memcpy(out, b.data, n);
	st7_buf_free(&b);
	return n;
}

/* Reading `name`.rec holding these bytes: refused, and set aside as `name`.rec.bad-1. */
static int read_bad(const char *key, const uint8_t *p, size_t n, mode_t mode, struct st7_diag *d)
{
	char rec[300], bad1[300];
	struct st7_journal_rec back;
	snprintf(rec, sizeof(rec), "%s.rec", key);
	snprintf(bad1, sizeof(bad1), "%s.rec.bad-1", key);
	put_file(rec, p, n, mode);
	int ret = st7_journal_read(&store, state, key, &back, d);
	bool moved = !exists(rec) && exists(bad1);
	rm(bad1);
	rm(rec);
	return ret == ST7_ERR_FORMAT && moved ? ST7_ERR_FORMAT : ret ? ret : 1;
}

static void test_untrusted(void)
{
	struct st7_journal_rec r, back;
	struct st7_diag d = { "" };
	static uint8_t good[ST7_JOURNAL_REC_MAX], copy[ST7_JOURNAL_REC_MAX];
	sample(&r, "T1");
	size_t n = encoded(&r, good, sizeof(good));
	CHECK(n > 0);
	/* torn at every length (what a non-atomic writer leaves after a power loss) */
	unsigned caught = 0;
	for (size_t len = 0; len < n; len++)
		caught += read_bad(r.device, good, len, 0600, &d) == ST7_ERR_FORMAT;
	CHECK_INT(caught, n);
	/* every byte flipped */
	caught = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(copy, good, n);
		copy[i] ^= 0x20;
		caught += read_bad(r.device, copy, n, 0600, &d) == ST7_ERR_FORMAT;
	}
	CHECK_INT(caught, n);
	/* the diag names the file, the reason and the new name */
	memcpy(copy, good, n);
	copy[n - 20] ^= 1;
	CHECK_INT(read_bad(r.device, copy, n, 0600, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "/journal/0483-ff03-T1.rec (set aside as 0483-ff03-T1.rec.bad-1): ");
	CHECK_HAS(d.msg, "torn or damaged");
	/* another version */
	memcpy(copy, good, n);
	copy[15] = '2';
	CHECK_INT(read_bad(r.device, copy, n, 0600, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "foreign");
	/* the good record under another device's name */
	CHECK_INT(read_bad("0483-ff03-T2", good, n, 0600, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "foreign: the record is of device '0483-ff03-T1'");
	/* open to others */
	CHECK_INT(read_bad(r.device, good, n, 0620, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "writable by group or others");
	/* too large */
	static uint8_t big[ST7_JOURNAL_REC_MAX + 1];
	CHECK_INT(read_bad(r.device, big, sizeof(big), 0600, &d), ST7_ERR_FORMAT);
	/* the good record itself is trusted */
	CHECK_INT(read_bad(r.device, good, n, 0600, &d), 1);
	/* a symbolic link to a good record: refused and set aside, the target untouched */
	char target[4600], link_path[4600];
	snprintf(target, sizeof(target), "%s/elsewhere.rec", tmp);
	FILE *f = fopen(target, "wb");
	CHECK(f && fwrite(good, 1, n, f) == n);
	if (f)
		fclose(f);
	path_of(link_path, sizeof(link_path), "0483-ff03-T1.rec");
	CHECK(symlink(target, link_path) == 0);
	CHECK_INT(st7_journal_read(&store, state, r.device, &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "symbolic link");
	CHECK(exists("0483-ff03-T1.rec.bad-1") && !exists("0483-ff03-T1.rec"));
	struct stat st;
	CHECK(lstat(target, &st) == 0 && S_ISREG(st.st_mode));
	rm("0483-ff03-T1.rec.bad-1");
	/* set-aside naming: the first free N, never replacing one */
	put_file("0483-ff03-T1.rec.bad-1", "x", 1, 0600);
	put_file("0483-ff03-T1.rec.bad-2", "y", 1, 0600);
	put_file("0483-ff03-T1.rec", good, n - 1, 0600);
	CHECK_INT(st7_journal_read(&store, state, r.device, &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "set aside as 0483-ff03-T1.rec.bad-3)");
	CHECK(exists("0483-ff03-T1.rec.bad-3") && !exists("0483-ff03-T1.rec"));
	CHECK_INT(st7_journal_bad_count(&store, state), 3);
	rm("0483-ff03-T1.rec.bad-1");
	rm("0483-ff03-T1.rec.bad-2");
	rm("0483-ff03-T1.rec.bad-3");
	/* no free name left: refused, left in place, said so */
	char name[64];
	for (unsigned i = 1; i <= ST7_JOURNAL_BAD_MAX; i++) {
		snprintf(name, sizeof(name), "0483-ff03-T1.rec.bad-%u", i);
		put_file(name, "", 0, 0600);
	}
	put_file("0483-ff03-T1.rec", good, n - 1, 0600);
	CHECK_INT(st7_journal_read(&store, state, r.device, &back, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "could not be set aside");
	CHECK(exists("0483-ff03-T1.rec"));
	for (unsigned i = 1; i <= ST7_JOURNAL_BAD_MAX; i++) {
		snprintf(name, sizeof(name), "0483-ff03-T1.rec.bad-%u", i);
		rm(name);
	}
	rm("0483-ff03-T1.rec");
}

struct seen {
	unsigned n;
	char devices[8][ST7_JOURNAL_KEY_MAX];
	unsigned stop_after;
};

static int each(void *arg, const struct st7_journal_rec *r)
{
	struct seen *s = arg;
	if (s->n < 8)
		snprintf(s->devices[s->n], sizeof(s->devices[0]), "%s", r->device);
	s->n++;
	return s->stop_after && s->n >= s->stop_after ? 42 : 0;
}

static bool seen_has(const struct seen *s, const char *dev)
{
	for (unsigned i = 0; i < s->n && i < 8; i++)
		if (strcmp(s->devices[i], dev) == 0)
			return true;
	return false;
}

static void test_list(void)
{
	struct st7_journal_rec r;
	struct st7_diag d = { "" };
	struct seen s = { 0 };
	static uint8_t good[ST7_JOURNAL_REC_MAX];
	unsigned bad = 99;
	char p[4600];
	/* no journal at all */
	char nostate[4300];
	snprintf(nostate, sizeof(nostate), "%s/none", tmp);
	CHECK_INT(st7_journal_list(&store, nostate, each, &s, &bad, &d), 0);
	CHECK_INT(bad, 0);
	CHECK_INT(s.n, 0);
	/* clean the directory of the earlier tests */
	rm("0483-ff03-SN_0001.rec");
	CHECK_INT(count_files(), 0);
	const char *serials[] = { "A", "B", "C" };
	for (int i = 0; i < 3; i++) {
		sample(&r, serials[i]);
		CHECK_INT(st7_journal_write(&store, state, &r, &d), 0);
	}
	sample(&r, "D");
	size_t n = encoded(&r, good, sizeof(good));
	put_file("0483-ff03-D.rec", good, n / 2, 0600);        /* torn */
	put_file("0483-ff03-E.rec", good, n, 0600);            /* D's record under E's name */
	put_file("x y.rec", good, n, 0600);                    /* not a key */
	put_file("0483-ff03-F.rec.tmp.abc123", good, 5, 0600); /* a dead write's temporary */
	put_file("0483-ff03-G.rec.bad-1", good, 5, 0600);      /* set aside before */
	path_of(p, sizeof(p), "dir.rec");
	CHECK(mkdir(p, 0700) == 0);
	CHECK_INT(st7_journal_list(&store, state, each, &s, &bad, &d), 0);
	CHECK_INT(s.n, 3);
	CHECK(seen_has(&s, "0483-ff03-A") && seen_has(&s, "0483-ff03-B") &&
	      seen_has(&s, "0483-ff03-C"));
	CHECK_INT(bad, 4);
	CHECK(exists("0483-ff03-D.rec.bad-1") && !exists("0483-ff03-D.rec"));
	CHECK(exists("0483-ff03-E.rec.bad-1") && !exists("0483-ff03-E.rec"));
	CHECK(exists("x y.rec.bad-1"));
	CHECK(exists("0483-ff03-F.rec.tmp.abc123") && exists("dir.rec"));
	CHECK_INT(st7_journal_bad_count(&store, state), 4);
	/* again: only the good ones are left to read */
	memset(&s, 0, sizeof(s));
	CHECK_INT(st7_journal_list(&store, state, each, &s, &bad, &d), 0);
	CHECK_INT(s.n, 3);
	CHECK_INT(bad, 1); /* the directory */
	/* `each` stops the walk */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	CHECK_INT(st7_journal_list(&store, state, each, &s, NULL, &d), 42);
	CHECK_INT(s.n, 2);
	rmdir(p);
}

/* ---- attempts ------------------------------------------------------------------------ */

static struct st7_plan_attempts *find(struct st7_plan_attempts *v, size_t n, const char *serial,
                                      const char *release)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].serial, serial) == 0 && strcmp(v[i].release, release) == 0)
			return &v[i];
	return NULL;
}

static void test_attempts(void)
{
	struct st7_diag d = { "" };
	struct st7_plan_attempts *v = NULL;
	size_t n = 0;
	uint8_t sha[32], sha2[32];
	char path[4400];
	memset(sha, 0xab, sizeof(sha));
	memset(sha2, 0x01, sizeof(sha2));
	snprintf(path, sizeof(path), "%s/attempts.ini", state);
	CHECK_INT(st7_attempts_load(&store, state, &v, &n, &d), 0);
	CHECK_INT(n, 0);
	free(v);
	static const char *const odd[][2] = {
		{ "SN0001", "reader-1.01" },
		{ "SN 0001", "reader 1.01" },
		{ "  lead and trail  ", " r " },
		{ "\"quoted\"", "\"" },
		{ "\"", "\"\"" },
		{ "a=b;c#d:e", "x;y" },
		{ "[attempt \"2\"]", "# not a comment" },
		{ "tab\there", "\xc3\xa9t\xc3\xa9" },
		{ "", "empty serial" },
		{ ";", "#" },
	};
	size_t nodd = sizeof(odd) / sizeof(odd[0]);
	for (size_t i = 0; i < nodd; i++) {
		int ret =
		        st7_attempts_set(&store, state, odd[i][0], odd[i][1], sha, (unsigned)i, &d);
		if (ret)
			fprintf(stderr, "set %zu: %s\n", i, d.msg);
		CHECK_INT(ret, 0);
	}
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT(st7_attempts_load(&store, state, &v, &n, &d), 0);
	CHECK_INT(n, nodd);
	for (size_t i = 0; i < nodd && i < n; i++) {
		CHECK(strcmp(v[i].serial, odd[i][0]) == 0);
		CHECK(strcmp(v[i].release, odd[i][1]) == 0);
		CHECK(memcmp(v[i].sha256, sha, 32) == 0);
		CHECK_INT(v[i].failures, i);
	}
	free(v);
	/* the same pair with another image: replaced, moved to the end */
	CHECK_INT(st7_attempts_set(&store, state, "SN 0001", "reader 1.01", sha2, 5, &d), 0);
	CHECK_INT(st7_attempts_load(&store, state, &v, &n, &d), 0);
	CHECK_INT(n, nodd);
	if (n == nodd) {
		CHECK(strcmp(v[n - 1].serial, "SN 0001") == 0);
		CHECK(memcmp(v[n - 1].sha256, sha2, 32) == 0);
		CHECK_INT(v[n - 1].failures, 5);
		CHECK(find(v, n, "SN0001", "reader-1.01") != NULL);
	}
	free(v);
	/* what the format cannot carry: refused, the file unchanged */
	static const char *const refused[][2] = {
		{ "a ;b", "r" }, { "r", "a\t;b" },   { "new\nline", "r" },
		{ "r", "cr\r" }, { "del\x7f", "r" }, { "r", "x ;" },
	};
	struct stat before, after;
	CHECK(stat(path, &before) == 0);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		CHECK_INT(st7_attempts_set(&store, state, refused[i][0], refused[i][1], sha, 1, &d),
		          ST7_ERR_INVALID);
	char longs[200];
	memset(longs, 'x', sizeof(longs));
	longs[128] = '\0';
	CHECK_INT(st7_attempts_set(&store, state, longs, "r", sha, 1, &d), ST7_ERR_INVALID);
	longs[127] = '\0';
	CHECK_INT(st7_attempts_set(&store, state, "s", longs, sha, 1, &d), ST7_ERR_INVALID);
	CHECK_HAS(d.msg, "too long");
	CHECK_INT(st7_attempts_set(&store, state, "s", "r", sha, ST7_ATTEMPTS_FAILURES_MAX + 1, &d),
	          ST7_ERR_INVALID);
	CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino);
	/* the longest that fit */
	CHECK_INT(st7_attempts_set(&store, state, longs, "r", sha, ST7_ATTEMPTS_FAILURES_MAX, &d),
	          0);
	longs[63] = '\0';
	CHECK_INT(st7_attempts_set(&store, state, "s", longs, sha, 1, &d), 0);
	CHECK_INT(st7_attempts_load(&store, state, &v, &n, &d), 0);
	CHECK_INT(n, nodd + 2);
	free(v);
	/* a malformed history is an error, and left as it is */
	FILE *f = fopen(path, "wb");
	CHECK(f && fputs("[attempt \"1\"]\nserial = x\n", f) >= 0);
	if (f)
		fclose(f);
	CHECK(st7_attempts_set(&store, state, "s", "r", sha, 1, &d) == ST7_ERR_FORMAT);
	CHECK(stat(path, &st) == 0 && st.st_size == 25);
}

/* Full: the oldest entries go, by count and by bytes; the loader reads the result. */
static void test_attempts_bounds(void)
{
	struct st7_diag d = { "" };
	struct st7_plan_attempts *v = NULL;
	size_t n = 0;
	uint8_t sha[32];
	char path[4400];
	memset(sha, 0xcd, sizeof(sha));
	snprintf(path, sizeof(path), "%s/attempts.ini", state);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	for (unsigned i = 1; i <= ST7_ATTEMPTS_MAX_RECORDS; i++)
		fprintf(f,
		        "[attempt \"%u\"]\nserial = \"S%u\"\nrelease = \"r\"\nsha256 = %064d\n"
		        "failures = 1\n",
		        i, i, 0);
	fclose(f);
	CHECK_INT(st7_attempts_load(&store, state, &v, &n, &d), 0);
	CHECK_INT(n, ST7_ATTEMPTS_MAX_RECORDS);
	free(v);
	CHECK_INT(st7_attempts_set(&store, state, "new", "r", sha, 2, &d), 0);
	CHECK_INT(st7_attempts_load(&store, state, &v, &n, &d), 0);
	CHECK_INT(n, ST7_ATTEMPTS_MAX_RECORDS);
	if (n == ST7_ATTEMPTS_MAX_RECORDS) {
		CHECK(strcmp(v[0].serial, "S2") == 0); /* S1 went */
		CHECK(strcmp(v[n - 1].serial, "new") == 0);
		CHECK(find(v, n, "S1", "r") == NULL);
	}
	free(v);
	/* long serials and releases: the bytes bound */
	char serial[128], release[64];
	memset(release, 'R', 63);
	release[63] = '\0';
	/* straight into the file: ~3300 long entries set one by one would take minutes */
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	unsigned written = 0;
	long size = 0;
	for (unsigned i = 0; i < ST7_ATTEMPTS_MAX_RECORDS; i++) {
		memset(serial, 'S', 127);
		snprintf(serial, 6, "%05u", i);
		serial[5] = 'S';
		serial[127] = '\0';
		char entry[400];
		int k = snprintf(entry, sizeof(entry),
		                 "[attempt \"%u\"]\nserial = \"%s\"\nrelease = \"%s\"\nsha256 = "
		                 "%064d\nfailures = 1\n",
		                 i + 1, serial, release, 0);
		if (size + k > (long)ST7_ATTEMPTS_FILE_MAX - 300)
			break;
		fputs(entry, f);
		size += k;
		written++;
	}
	fclose(f);
	CHECK_INT(st7_attempts_load(&store, state, &v, &n, &d), 0);
	CHECK_INT(n, written);
	free(v);
	for (unsigned i = 0; i < 4; i++) {
		memset(serial, 'T', 127);
		snprintf(serial, 6, "%05u", i);
		serial[5] = 'T';
		serial[127] = '\0';
		CHECK_INT(st7_attempts_set(&store, state, serial, release, sha, 3, &d), 0);
	}
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size <= (off_t)ST7_ATTEMPTS_FILE_MAX);
	CHECK_INT(st7_attempts_load(&store, state, &v, &n, &d), 0);
	CHECK(n > 3000 && n < written + 4);
	if (n > 0) {
		CHECK(strncmp(v[n - 1].serial, "00003T", 6) == 0);
		CHECK(strncmp(v[0].serial, "00000S", 6) != 0); /* the oldest went */
	}
	printf("bytes bound: %u long entries, %zu after 4 more (%lld bytes)\n", written, n,
	       (long long)st.st_size);
	free(v);
	unlink(path);
}

/* ---- the report ------------------------------------------------------------------------ */

static bool valid_json(const struct st7_buf *b)
{
	char path[4400], cmd[4600];
	snprintf(path, sizeof(path), "%s/report.json", tmp);
	FILE *f = fopen(path, "wb");
	if (!f)
		return false;
	fwrite(b->data, 1, b->len, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	         "python3 -c 'import json,sys; l=open(sys.argv[1]).read(); "
	         "assert l.endswith(\"\\n\") and l.count(\"\\n\") == 1; "
	         "json.loads(l)' %s",
	         path);
	return system(cmd) == 0;
}

static void test_report(void)
{
	struct st7_journal_rec r;
	struct st7_buf b;
	st7_buf_init(&b);
	sample(&r, "SN1");
	r.phase = ST7_JPH_ROLLED_BACK;
	snprintf(r.outcome, sizeof(r.outcome), "rolled-back");
	snprintf(r.error, sizeof(r.error), "post-check: version 0x0100, expected 0x0101");
	r.device_rollback = true;
	r.recoveries = 2;
	CHECK_INT(st7_attempt_report_json(&r, "gw-7", &b), 0);
	CHECK(st7_buf_append_byte(&b, 0) == 0);
	b.len--;
	CHECK(strcmp((char *)b.data,
	             "{\"schema\":1,\"gateway\":\"gw-7\",\"device\":{\"serial\":\"SN1\",\"vid\":"
	             "\"0483\",\"pid\":\"ff03\",\"port\":\"1-1.2\"},\"attempt\":7,\"release\":"
	             "\"reader-1.01\",\"manifest_serial\":42,\"from_version\":\"0x0100\","
	             "\"to_version\":\"0x0101\",\"image_sha256\":"
	             "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","
	             "\"result\":\"rolled-back\",\"phase\":\"rolled-back\",\"error\":\"post-check: "
	             "version 0x0100, expected 0x0101\",\"device_rollback\":true,\"recoveries\":2,"
	             "\"started\":\"2026-11-18T11:06:40Z\",\"finished\":\"2026-11-18T11:06:50Z\","
	             "\"durations_ms\":{\"fetch\":10,\"flash\":4100}}\n") == 0);
	if (strstr((char *)b.data, "\"schema\"") == NULL || check_failed)
		fprintf(stderr, "report: %s", (char *)b.data);
	CHECK(valid_json(&b));
	/* unfinished, no from version, no error, no gateway; appended after what was there */
	sample(&r, "SN\"1\\\n\x01\xff</script>");
	r.has_from = false;
	r.phase = ST7_JPH_DETACHING;
	st7_buf_clear(&b);
	CHECK_INT(st7_attempt_report_json(&r, NULL, &b), 0);
	size_t first = b.len;
	CHECK_INT(st7_attempt_report_json(&r, "gw", &b), 0);
	CHECK(b.len > first && memcmp(b.data + first, "{\"schema\":1,\"gateway\":\"gw\"", 26) == 0);
	CHECK(st7_buf_append_byte(&b, 0) == 0);
	b.len--;
	CHECK_HAS((char *)b.data, "\"gateway\":null");
	CHECK_HAS((char *)b.data, "\"from_version\":null");
	CHECK_HAS((char *)b.data,
	          "\"result\":\"detaching\",\"phase\":\"detaching\",\"error\":null");
	CHECK_HAS((char *)b.data, "\"finished\":null");
	CHECK_HAS((char *)b.data, "\"serial\":\"SN\\\"1\\\\\\n\\u0001\\u00ff</script>\"");
	b.len = first;
	CHECK(valid_json(&b));
	/* out of room: the buffer as it was */
	struct st7_buf small;
	st7_buf_init(&small);
	small.limit = 40;
	CHECK(st7_buf_append(&small, "x", 1) == 0);
	CHECK_INT(st7_attempt_report_json(&r, "gw", &small), ST7_ERR_NOMEM);
	CHECK_INT(small.len, 1);
	st7_buf_free(&small);
	st7_buf_free(&b);
}

int main(void)
{
	struct st7_diag d = { "" };
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(jdir, sizeof(jdir), "%s/journal", state);
	mkdir(state, 0700);
	CHECK_INT(st7_store_posix_init(&store, &d), 0);
	test_round_trip();
	test_untrusted();
	test_list();
	test_attempts();
	test_attempts_bounds();
	test_report();
	st7_store_free(&store);
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (!check_failed && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmp);
	return check_report();
}
