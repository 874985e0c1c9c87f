/* SPDX-License-Identifier: MIT */
/* The report queue (report_queue.h): records as files under STATE/reports/, through the store. */
#include "report_queue.h"

#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "state_dir.h"

#define SEQ_DIGITS 16
#define SEQ_LAST 9999999999999999ull  /* the largest sequence 16 digits hold */
#define NAME_LEN (1 + SEQ_DIGITS + 5) /* "R" + digits + ".json" */
#define BAD_PREFIX "bad-"
#define WRITE_TRIES 16 /* names taken under us (ST7_ERR_EXISTS) before giving up */

struct record {
	uint64_t seq;
	uint64_t size;
};

/* What the directory holds: its records, and the highest sequence any name uses. */
struct scan {
	struct record *v;
	size_t n, cap;
	uint64_t bytes;   /* the records' sizes summed */
	uint64_t max_seq; /* records and bad copies alike; 0 when there is none */
};

void st7_report_queue_limits_default(struct st7_report_queue_limits *lim)
{
	lim->max_records = ST7_REPORT_QUEUE_MAX_RECORDS;
	lim->max_bytes = ST7_REPORT_QUEUE_MAX_BYTES;
}

/* "R" + 16 digits + ".json", and nothing else. */
static bool parse_name(const char *name, uint64_t *seq)
{
	uint64_t v = 0;
	if (strlen(name) != NAME_LEN || name[0] != 'R' || strcmp(name + 1 + SEQ_DIGITS, ".json"))
		return false;
	for (int i = 1; i <= SEQ_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*seq = v;
	return true;
}

static void record_name(char out[NAME_LEN + 1], uint64_t seq)
{
	/* seq <= SEQ_LAST: exactly 16 digits */
	snprintf(out, NAME_LEN + 1, "R%016" PRIu64 ".json", seq);
}

static int on_entry(void *arg, const struct st7_store_entry *e)
{
	struct scan *sc = arg;
	uint64_t seq;
	bool bad = strncmp(e->name, BAD_PREFIX, strlen(BAD_PREFIX)) == 0;
	if (!parse_name(bad ? e->name + strlen(BAD_PREFIX) : e->name, &seq))
		return 0; /* not ours: ignored, never touched */
	if (seq > sc->max_seq)
		sc->max_seq = seq;
	if (bad || !e->regular)
		return 0;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		struct record *v = realloc(sc->v, cap * sizeof(*v));
		if (!v)
			return ST7_ERR_NOMEM;
		sc->v = v;
		sc->cap = cap;
	}
	sc->v[sc->n].seq = seq;
	sc->v[sc->n].size = e->size;
	sc->n++;
	sc->bytes += e->size;
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct record *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The records of `dir`, oldest first. ST7_ERR_NOT_FOUND when there is no such directory. */
static int scan_dir(struct st7_store *s, const char *dir, struct scan *sc, struct st7_diag *d)
{
	int ret = st7_store_list(s, dir, on_entry, sc, d);
	if (ret == ST7_ERR_NOMEM)
		return st7_diag_set(d, ret, "%s: out of memory", dir);
	if (ret)
		return ret;
	if (sc->n > 1)
		qsort(sc->v, sc->n, sizeof(sc->v[0]), by_seq);
	return ST7_OK;
}

static void effective_limits(const struct st7_report_queue_limits *lim,
                             struct st7_report_queue_limits *out)
{
	st7_report_queue_limits_default(out);
	if (lim && lim->max_records)
		out->max_records = lim->max_records;
	if (lim && lim->max_bytes)
		out->max_bytes = lim->max_bytes;
}

int st7_report_queue_add(struct st7_store *s, const char *state_dir,
                         const struct st7_report_queue_limits *lim, const char *json, size_t len,
                         struct st7_diag *d)
{
	struct st7_report_queue_limits l;
	struct scan sc = { NULL, 0, 0, 0, 0 };
	char dir[PATH_MAX], path[PATH_MAX], name[NAME_LEN + 1];
	int ret = ST7_ERR_INVALID;

	effective_limits(lim, &l);
	if (len > ST7_REPORT_RECORD_MAX || len > l.max_bytes)
		return st7_diag_set(d, ST7_ERR_TOO_LARGE,
		                    "report queue: a record of %zu bytes (at most %d, and %" PRIu64
		                    " for the whole queue)",
		                    len, ST7_REPORT_RECORD_MAX, l.max_bytes);
	if (!json || len == 0 || json[0] != '{')
		return st7_diag_set(d, ST7_ERR_INVALID,
		                    "report queue: a record is a JSON object ('{' first)");
	if (st7_state_path(dir, sizeof(dir), state_dir, ST7_REPORT_QUEUE_DIR) != ST7_OK) {
		ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", state_dir);
		goto cleanup;
	}
	ret = st7_store_mkdir_p(s, dir, 0700, ST7_STORE_PRIVATE, d);
	if (ret == ST7_OK)
		ret = scan_dir(s, dir, &sc, d);
	if (ret)
		goto cleanup;

	/* The newest record first: durable before anything old goes. */
	uint64_t seq = sc.max_seq + 1;
	ret = ST7_ERR_EXISTS;
	for (int tries = 0; ret == ST7_ERR_EXISTS && tries < WRITE_TRIES; tries++, seq++) {
		if (seq > SEQ_LAST) {
			ret = st7_diag_set(d, ST7_ERR_RANGE, "%s: no sequence number left", dir);
			goto cleanup;
		}
		record_name(name, seq);
		if (st7_store_join(path, sizeof(path), dir, name) != ST7_OK) {
			ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", dir);
			goto cleanup;
		}
		ret = st7_store_write_atomic(s, path, json, len, 0600, ST7_STORE_NOREPLACE, d);
	}
	if (ret)
		goto cleanup;

	/* Then the oldest go, as many as the bounds need. */
	unsigned count = (unsigned)sc.n + 1, dropped = 0;
	uint64_t bytes = sc.bytes + len;
	for (size_t i = 0; i < sc.n && (count > l.max_records || bytes > l.max_bytes); i++) {
		struct st7_diag rd = { "" };
		record_name(name, sc.v[i].seq);
		if (st7_store_join(path, sizeof(path), dir, name) != ST7_OK ||
		    st7_store_remove(s, path, &rd) != ST7_OK) {
			st7_warn("report queue: cannot drop %s: %s", name,
			         rd.msg[0] ? rd.msg : "path too long");
			break;
		}
		count--;
		bytes -= sc.v[i].size;
		dropped++;
	}
	if (dropped)
		st7_warn("report queue: full (at most %u records, %" PRIu64 " bytes): dropped the "
		         "%u oldest record%s",
		         l.max_records, l.max_bytes, dropped, dropped == 1 ? "" : "s");
	ret = ST7_OK;
cleanup:
	free(sc.v);
	return ret == ST7_OK ? ST7_OK : st7_diag_prefix(d, ret, "report queue");
}

int st7_report_queue_stat(struct st7_store *s, const char *state_dir, unsigned *records,
                          uint64_t *bytes, struct st7_diag *d)
{
	struct scan sc = { NULL, 0, 0, 0, 0 };
	char dir[PATH_MAX];
	int ret = ST7_ERR_INVALID;
	*records = 0;
	*bytes = 0;
	if (st7_state_path(dir, sizeof(dir), state_dir, ST7_REPORT_QUEUE_DIR) != ST7_OK) {
		ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", state_dir);
		goto cleanup;
	}
	ret = scan_dir(s, dir, &sc, d);
	if (ret == ST7_ERR_NOT_FOUND)
		ret = ST7_OK; /* nothing queued yet */
	else if (ret == ST7_OK) {
		*records = sc.n > UINT_MAX ? UINT_MAX : (unsigned)sc.n;
		*bytes = sc.bytes;
	}
cleanup:
	free(sc.v);
	return ret == ST7_OK ? ST7_OK : st7_diag_prefix(d, ret, "report queue");
}

/* What a record file must be before it is sent. */
static const char *record_problem(const struct st7_buf *b)
{
	if (b->len == 0)
		return "empty";
	if (b->len > ST7_REPORT_RECORD_MAX)
		return "larger than 16 KiB";
	if (b->data[0] != '{')
		return "not a JSON object";
	return NULL;
}

/* A record that can never be sent goes aside, so that the ones after it can. `why` names
 * the file and what is wrong with it. */
static int move_aside(struct st7_store *s, const char *dir, const char *name, const char *path,
                      const char *why, struct st7_diag *d)
{
	char bad_name[sizeof(BAD_PREFIX) + NAME_LEN], bad[PATH_MAX];
	snprintf(bad_name, sizeof(bad_name), BAD_PREFIX "%s", name);
	if (st7_store_join(bad, sizeof(bad), dir, bad_name) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", dir);
	int ret = st7_store_rename(s, path, bad, 0, d);
	if (ret)
		return ret;
	st7_warn("report queue: %s; moved aside as %s", why, bad_name);
	return ST7_OK;
}

int st7_report_queue_flush(struct st7_store *s, const char *state_dir, struct st7_fetcher *f,
                           const char *url, const volatile sig_atomic_t *abort_flag, unsigned *sent,
                           int64_t *retry_after_s, struct st7_diag *d)
{
	struct scan sc = { NULL, 0, 0, 0, 0 };
	struct st7_buf body;
	char dir[PATH_MAX], path[PATH_MAX], name[NAME_LEN + 1];
	int ret = ST7_ERR_INVALID;

	*sent = 0;
	*retry_after_s = -1;
	st7_buf_init(&body);
	if (st7_state_path(dir, sizeof(dir), state_dir, ST7_REPORT_QUEUE_DIR) != ST7_OK) {
		ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", state_dir);
		goto cleanup;
	}
	ret = scan_dir(s, dir, &sc, d);
	if (ret == ST7_ERR_NOT_FOUND) {
		ret = ST7_OK; /* nothing was ever queued */
		goto cleanup;
	}
	if (ret)
		goto cleanup;

	for (size_t i = 0; i < sc.n; i++) {
		struct st7_diag rd = { "" };
		struct st7_fetch_response resp;
		if (abort_flag && *abort_flag) {
			ret = st7_diag_set(d, ST7_ERR_ABORTED, "stopped by a signal");
			goto cleanup;
		}
		record_name(name, sc.v[i].seq);
		if (st7_store_join(path, sizeof(path), dir, name) != ST7_OK) {
			ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", dir);
			goto cleanup;
		}
		/* Ours, 0600, in a 0700 directory: anything else is not a record to send. */
		ret = st7_store_read(s, path, ST7_REPORT_RECORD_MAX,
		                     ST7_STORE_NOFOLLOW | ST7_STORE_PRIVATE, &body, &rd);
		if (ret == ST7_ERR_NOT_FOUND)
			continue; /* gone since the listing */
		const char *problem = ret ? "unreadable" : record_problem(&body);
		if (problem) {
			/* The store's message names the path already. */
			if (!ret || !rd.msg[0])
				st7_diag_set(&rd, ST7_ERR_FORMAT, "%s: %s", path, problem);
			ret = move_aside(s, dir, name, path, rd.msg, d);
			if (ret)
				goto cleanup;
			continue;
		}
		struct st7_fetch_post req = { url, ST7_REPORT_CONTENT_TYPE, body.data, body.len,
			                      abort_flag };
		ret = st7_fetch_post(f, &req, &resp, d);
		if (ret == ST7_OK && (resp.status < 200 || resp.status > 299))
			ret = st7_diag_set(d, ST7_ERR_HTTP, "%s: HTTP %ld for a success", url,
			                   resp.status);
		if (ret) {
			if (ret == ST7_ERR_RETRY_LATER)
				*retry_after_s = resp.retry_after_s;
			st7_diag_prefix(d, ret, "%s", name);
			goto cleanup;
		}
		/* Acknowledged: only now does it go. */
		ret = st7_store_remove(s, path, d);
		if (ret)
			goto cleanup;
		(*sent)++;
	}
	ret = ST7_OK;
cleanup:
	st7_buf_free(&body);
	free(sc.v);
	return ret == ST7_OK ? ST7_OK : st7_diag_prefix(d, ret, "report queue");
}
