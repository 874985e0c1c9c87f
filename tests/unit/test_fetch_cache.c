/* SPDX-License-Identifier: MIT */
/*
 * fetch_cache with an in-process fake fetcher, for the faults a real server cannot be
 * made to produce on cue: a transfer breaking off after an exact byte, a server that
 * ignores Range, a 206 for the wrong offset, a cached copy damaged on disk, a body past
 * the limit. Real files in a temporary directory; the real servers are in cli.net.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fetch_cache.h"
#include "log.h"
#include "store.h"
#include "backends.h"
#include "verify.h"

#define SIZE 10000

enum behaviour { FULL, BREAK_AT, IGNORE_RANGE, WRONG_RANGE, NOT_MODIFIED, ENDLESS };

struct fake {
	uint8_t content[SIZE];
	enum behaviour next;
	size_t break_at;
	/* what the last request carried */
	uint64_t offset;
	char if_range[ST7_ETAG_MAX], if_none_match[ST7_ETAG_MAX];
	int calls;
};

static int fake_get(struct st7_fetcher *f, const struct st7_fetch_request *req,
                    const struct st7_fetch_sink *sink, struct st7_fetch_response *r,
                    struct st7_diag *d)
{
	struct fake *fk = f->impl;
	enum behaviour b = fk->next;
	fk->next = FULL; /* faults happen once */
	fk->calls++;
	fk->offset = req->offset;
	snprintf(fk->if_range, sizeof(fk->if_range), "%s", req->if_range ? req->if_range : "");
	snprintf(fk->if_none_match, sizeof(fk->if_none_match), "%s",
	         req->if_none_match ? req->if_none_match : "");
	memset(r, 0, sizeof(*r));
	r->last_modified = 1700000000;
	r->retry_after_s = -1;
	r->complete_size = SIZE;
	strcpy(r->etag, "\"v1\"");
	if (b == NOT_MODIFIED ||
	    (req->if_none_match && strcmp(req->if_none_match, "\"v1\"") == 0)) {
		r->status = 304;
		return ST7_OK;
	}
	size_t from = 0;
	if (req->offset && b != IGNORE_RANGE) {
		from = b == WRONG_RANGE ? 0 : (size_t)req->offset;
		if (b == WRONG_RANGE) /* what the real backend does with such a 206 */
			return st7_diag_set(d, ST7_ERR_RANGE, "206 for another range");
		r->status = 206;
	} else {
		r->status = 200;
	}
	r->body_offset = from;
	int ret = sink->begin(sink->arg, r);
	if (ret)
		return ret;
	size_t end = b == BREAK_AT ? fk->break_at : SIZE;
	for (size_t i = from; i < end; i += 700) {
		size_t n = end - i < 700 ? end - i : 700;
		if ((ret = sink->write(sink->arg, fk->content + i, n)) != ST7_OK)
			return ret;
		r->received += n;
	}
	if (b == BREAK_AT)
		return st7_diag_set(d, ST7_ERR_NETWORK, "connection reset");
	if (b == ENDLESS)
		return st7_diag_set(d, ST7_ERR_TOO_LARGE, "past the limit");
	return ST7_OK;
}

static const struct st7_fetch_ops fake_ops = { .get = fake_get };
static const char *url = "https://fw.example/st7/reader.dfu";

/* The cache fills `out` (buf.h): no emptying here, so a stale byte would show. */
static int get(const struct st7_cache *c, struct st7_buf *out, struct st7_cache_got *got)
{
	struct st7_diag d = { "" };
	return st7_cache_get(c, url, SIZE, true, out, got, &d);
}

static bool same(const struct st7_buf *b, const struct fake *fk)
{
	return b->len == SIZE && memcmp(b->data, fk->content, SIZE) == 0;
}

static char path_buf[512];
static const char *entry(const char *dir, const char *suffix)
{
	uint8_t h[ST7_SHA256_LEN];
	char hex[65];
	st7_sha256(url, strlen(url), h);
	st7_sha256_hex(h, hex);
	hex[32] = '\0';
	snprintf(path_buf, sizeof(path_buf), "%s/%s%s", dir, hex, suffix);
	return path_buf;
}

int main(void)
{
	char dir[] = "/tmp/st7dfu-cache-test.XXXXXX";
	struct st7_diag init_d;
	if (st7_backends_global_init(&init_d) != ST7_OK) { /* PSA crypto on mbedTLS 3.x */
		fprintf(stderr, "%s\n", init_d.msg);
		return 1;
	}
	struct fake fk = { .next = FULL };
	struct st7_fetcher f = { &fake_ops, &fk };
	struct st7_cache_got got;
	struct st7_buf out;
	struct st7_diag d = { "" };
	struct st7_store store;

	st7_log_open(ST7_LOG_STDERR, ST7_LOG_ERR, "test");
	if (!mkdtemp(dir) || st7_store_posix_init(&store, &d) != ST7_OK)
		return 1;
	struct st7_cache c = { dir, &store, &f, NULL, NULL, NULL };
	for (size_t i = 0; i < SIZE; i++)
		fk.content[i] = (uint8_t)(i * 7 + 3);
	st7_buf_init(&out);

	/* A transfer that breaks off keeps its partial file and nothing else. */
	fk.next = BREAK_AT;
	fk.break_at = 4200;
	CHECK_INT(get(&c, &out, &got), ST7_ERR_NETWORK);
	CHECK(access(entry(dir, ".part"), F_OK) == 0);
	CHECK(access(entry(dir, ".part.meta"), F_OK) == 0);
	CHECK(access(entry(dir, ""), F_OK) != 0);
	/* The next get continues it with Range and If-Range. */
	CHECK_INT(get(&c, &out, &got), ST7_OK);
	CHECK(fk.offset == 4200);
	CHECK(strcmp(fk.if_range, "\"v1\"") == 0);
	CHECK(got.resumed && got.resumed_from == 4200 && !got.restarted);
	CHECK(same(&out, &fk));
	/* Not usable until committed. */
	CHECK(access(entry(dir, ""), F_OK) != 0);
	CHECK_INT(st7_cache_commit(&c, url, &got, out.data, out.len, &d), ST7_OK);
	CHECK(access(entry(dir, ""), F_OK) == 0 && access(entry(dir, ".part"), F_OK) != 0);

	/* Conditional: the verified copy's ETag goes out, a 304 hands the copy back. */
	CHECK_INT(get(&c, &out, &got), ST7_OK);
	CHECK(strcmp(fk.if_none_match, "\"v1\"") == 0);
	CHECK(got.not_modified && same(&out, &fk));

	/* A damaged cached copy is not used: no validators are sent, the file comes again. */
	FILE *fp = fopen(entry(dir, ""), "r+b");
	CHECK(fp != NULL);
	if (fp) {
		fseek(fp, 100, SEEK_SET);
		fputc(0xEE, fp);
		fclose(fp);
	}
	CHECK_INT(get(&c, &out, &got), ST7_OK);
	CHECK(fk.if_none_match[0] == '\0' && !got.not_modified && same(&out, &fk));
	st7_cache_discard(&c, url);

	/* A server that ignores Range: the partial file starts over. */
	fk.next = BREAK_AT;
	fk.break_at = 3000;
	get(&c, &out, &got);
	fk.next = IGNORE_RANGE;
	CHECK_INT(get(&c, &out, &got), ST7_OK);
	CHECK(got.restarted && !got.resumed && same(&out, &fk));
	st7_cache_discard(&c, url);

	/* A 206 for another offset: the partial file is dropped, the whole file fetched. */
	fk.next = BREAK_AT;
	fk.break_at = 5000;
	get(&c, &out, &got);
	fk.next = WRONG_RANGE;
	CHECK_INT(get(&c, &out, &got), ST7_OK);
	CHECK(fk.offset == 0 && got.restarted && same(&out, &fk));
	st7_cache_discard(&c, url);

	/* Past the limit: nothing is kept to grow further. */
	fk.next = ENDLESS;
	CHECK_INT(get(&c, &out, &got), ST7_ERR_TOO_LARGE);
	CHECK(access(entry(dir, ".part"), F_OK) != 0 &&
	      access(entry(dir, ".part.meta"), F_OK) != 0);

	/* A 304 with nothing cached is a server error, not a success. */
	fk.next = NOT_MODIFIED;
	CHECK_INT(get(&c, &out, &got), ST7_ERR_HTTP);

	/* A garbage meta file is ignored (the partial restarts), never trusted. */
	fk.next = BREAK_AT;
	fk.break_at = 2000;
	get(&c, &out, &got);
	fp = fopen(entry(dir, ".part.meta"), "w");
	if (fp) {
		fputs("url=https://elsewhere.example/x\nsize=12\n", fp);
		fclose(fp);
	}
	CHECK_INT(get(&c, &out, &got), ST7_OK);
	CHECK(fk.offset == 0 && same(&out, &fk));

	/* The cache's lock (a held lock is test_store_posix's). */
	struct st7_store_lock *l1 = NULL;
	CHECK_INT(st7_cache_lock(&c, 0, &l1, &d), ST7_OK);
	CHECK(l1 != NULL);
	st7_cache_unlock(&c, l1);

	st7_buf_free(&out);
	st7_cache_discard(&c, url);
	char lock[600];
	snprintf(lock, sizeof(lock), "%s/.lock", dir);
	unlink(lock);
	rmdir(dir);
	st7_store_free(&store);
	return check_report();
}
