/* SPDX-License-Identifier: MIT */
/*
 * The fetch interface: one HTTP(S) GET into a sink, with the limits, validators and
 * ranges the cache needs; and, optionally, one small POST (a report upload). The libcurl
 * backend (fetch_curl.c) is the only file that includes curl; tests may provide their own
 * ops to inject faults.
 *
 * Security defaults, enforced by the backend: https only (http:// and redirects to it
 * only with allow_http, which logs loudly), peer and host name verified, TLS 1.2 or
 * newer, at most 5 redirects for a GET and none for a POST, no content decoding (the bytes
 * are the bytes signed).
 * Proxies come from the usual environment variables (https_proxy, HTTPS_PROXY,
 * no_proxy...), as libcurl reads them.
 */
#ifndef ST7_FETCH_H
#define ST7_FETCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http_meta.h"

/* Settings of a fetcher (what the command line and the policy say); the live handles of
 * one GET (abort flag, progress) come with each request. */
struct st7_fetch_opts {
	const char *ca_file;     /* trust only this CA bundle (pinning); NULL: the system's */
	const char *client_cert; /* PEM client certificate for mTLS, or NULL */
	const char *client_key;  /* its PEM key (may be the same file), or NULL */
	bool allow_http;         /* lab only: accept http:// and redirects to it */
	uint32_t connect_timeout_s;
	uint32_t total_timeout_s;  /* a whole GET, headers to last byte */
	uint32_t low_speed_bytes;  /* below this many bytes/s ... */
	uint32_t low_speed_time_s; /* ... for this long, a transfer is abandoned */
	uint64_t max_size;         /* refused from Content-Length, cut off while streaming */
};

void st7_fetch_opts_default(struct st7_fetch_opts *o);

typedef void (*st7_fetch_progress_fn)(void *arg, const char *phase, size_t done, size_t total);

struct st7_fetch_request {
	const char *url;
	uint64_t max_size;         /* this file's limit (at most the options' max_size); 0: that */
	uint64_t offset;           /* > 0: ask for the rest of the file from here (Range) */
	const char *if_range;      /* with offset: the strong ETag the partial file came with, */
	int64_t if_range_date;     /* ... or else its Last-Modified (-1 for none) */
	const char *if_none_match; /* an ETag: a 304 if the file has not changed */
	int64_t if_modified_since; /* seconds since the epoch, -1 for none; sent as a plain
	                              header, so libcurl never turns a 200 into a 304 itself */
	const volatile sig_atomic_t *abort_flag; /* non-zero: stop at the next callback */
	/* Progress for a display ("fetch"), and (0, 0) while there is nothing to show yet
	 * (connecting, TLS handshake, waiting for headers): a heartbeat, about once a second
	 * even when nothing moves. Throttling is the receiver's. */
	st7_fetch_progress_fn progress;
	void *progress_arg;
};

struct st7_fetch_response {
	long status;             /* the final HTTP status after redirects */
	uint64_t body_offset;    /* where the body starts in the complete file (206), else 0 */
	uint64_t complete_size;  /* the complete file's size, UINT64_MAX unknown */
	uint64_t received;       /* body bytes handed to the sink */
	char etag[ST7_ETAG_MAX]; /* "" when none or invalid */
	int64_t last_modified;   /* -1 unknown */
	int64_t retry_after_s;   /* from a 429/503, -1 none */
};

/*
 * Where the body goes. begin() is called once, after the final response's headers and
 * before its first body byte, for 200 and 206 only; its body_offset says whether the
 * sink must start over (0) or append. Either callback returns ST7_OK or an error that
 * stops the transfer and is returned by get().
 */
struct st7_fetch_sink {
	int (*begin)(void *arg, const struct st7_fetch_response *r);
	int (*write)(void *arg, const uint8_t *p, size_t n);
	void *arg;
};

/* A POST of one small body (a report), at most ST7_FETCH_POST_MAX bytes. */
#define ST7_FETCH_POST_MAX 65536
#define ST7_FETCH_CTYPE_MAX 128 /* a content type, its NUL included */

struct st7_fetch_post {
	const char *url;
	/* Sent as Content-Type: 1..127 printable ASCII characters (no control character),
	 * e.g. "application/json". */
	const char *content_type;
	const uint8_t *body; /* `len` bytes, borrowed; NULL only when len is 0 */
	size_t len;          /* at most ST7_FETCH_POST_MAX */
	const volatile sig_atomic_t *abort_flag; /* non-zero: stop at the next callback */
};

struct st7_fetcher;

struct st7_fetch_ops {
	/*
	 * Called by the cache, once per GET. Returns ST7_OK for a complete 200 or 206 body
	 * and for a 304 (resp->status tells); otherwise ST7_ERR_NETWORK, _TLS, _TIMEOUT,
	 * _TOO_LARGE, _HTTP, _RETRY_LATER (resp->retry_after_s set when the server said),
	 * _RANGE (416, or a 206 for another range), _ABORTED, _INVALID (refused URL) or a
	 * sink's error. `resp` is filled as far as the exchange got.
	 */
	int (*get)(struct st7_fetcher *f, const struct st7_fetch_request *req,
	           const struct st7_fetch_sink *sink, struct st7_fetch_response *resp,
	           struct st7_diag *d);
	/* Called by st7_fetch_free(): releases `impl`. */
	void (*destroy)(struct st7_fetcher *f);
	/*
	 * Optional (NULL: the fetcher cannot POST; st7_fetch_post() says
	 * ST7_ERR_UNSUPPORTED). One POST of req->body, under the GET's security rules (https
	 * only unless allow_http, peer verified, TLS 1.2 or newer, the same CA, client
	 * certificate and timeouts) but following no redirect: a 3xx is ST7_ERR_HTTP. The
	 * response body is read and discarded (at most 64 KiB of it; the status is what
	 * counts). Returns ST7_OK for a 2xx; ST7_ERR_RETRY_LATER for a 429 or 503
	 * (resp->retry_after_s set when the server said, within 1 s..1 day); ST7_ERR_HTTP
	 * for any other status; ST7_ERR_NETWORK, _TLS, _TIMEOUT, _ABORTED, _NOMEM, or
	 * _INVALID (refused URL, content type or a body over ST7_FETCH_POST_MAX); a worker
	 * may also say ST7_ERR_WORKER. resp->status and retry_after_s are filled as far as
	 * the exchange got (status 0: no response); received is 0, the body is nobody's.
	 */
	int (*post)(struct st7_fetcher *f, const struct st7_fetch_post *req,
	            struct st7_fetch_response *resp, struct st7_diag *d);
};

struct st7_fetcher {
	const struct st7_fetch_ops *ops;
	void *impl;
};

/*
 * The libcurl backend (backend/fetch_curl.c), linked into the fetch worker only; `o` is
 * copied (its strings are borrowed and must outlive f). Its process-wide setup is
 * st7_fetch_curl_global_init(), once, before the first init.
 */
int st7_fetch_curl_global_init(struct st7_diag *d);
void st7_fetch_curl_global_cleanup(void);
int st7_fetch_curl_init(struct st7_fetcher *f, const struct st7_fetch_opts *o, struct st7_diag *d);
/* Read the CA bundle, client certificate and key the options name into memory now, so
 * that no later GET opens them: the worker does this before it drops its privileges.
 * ST7_ERR_IO (_TOO_LARGE past 1 MiB) with a diag naming the file. */
int st7_fetch_curl_preload(struct st7_fetcher *f, struct st7_diag *d);
/* A POST has nothing to show, but its worker must still say it is alive: `fn` (NULL:
 * none) is called with (0, 0) about once a second while a POST runs. */
void st7_fetch_curl_set_heartbeat(struct st7_fetcher *f, st7_fetch_progress_fn fn, void *arg);

/*
 * The fetcher of st7dfu itself (backend/fetch_worker.c): every GET and POST is carried
 * out by a fetch worker process (st7dfu-fetch, fetch_wire.h) started at the first request
 * and kept for the next ones until st7_fetch_free(). The worker runs as `user` (NULL: "st7dfu",
 * or "nobody" when there is no such user) when started by root, cannot write files,
 * and holds no USB device; libcurl is never mapped in this process. What the worker says
 * is checked like network input. A worker that cannot start, crashes, is killed, hangs
 * past the fetch's own timeouts or breaks the wire fails that GET with ST7_ERR_WORKER
 * (the next GET starts a new one); the abort flag kills it (ST7_ERR_ABORTED). The
 * worker is found in $ST7DFU_FETCH_WORKER, else beside this executable, else in the
 * installed libexec directory. `o` is copied; its strings are borrowed.
 */
int st7_fetch_worker_init(struct st7_fetcher *f, const struct st7_fetch_opts *o, const char *user,
                          struct st7_diag *d);
/* `fn` (NULL: none) is called with (0, 0) whenever the worker says anything during a GET
 * or a POST, heartbeats included (about once a second, also while connecting or waiting
 * for a slow server): what keeps a daemon's watchdog fed through any exchange. `f` must
 * come from st7_fetch_worker_init(). */
void st7_fetch_worker_set_alive(struct st7_fetcher *f, st7_fetch_progress_fn fn, void *arg);
void st7_fetch_free(struct st7_fetcher *f);

/* f->ops->post, or ST7_ERR_UNSUPPORTED (resp filled as "no response") when the fetcher
 * has none. */
static inline int st7_fetch_post(struct st7_fetcher *f, const struct st7_fetch_post *req,
                                 struct st7_fetch_response *resp, struct st7_diag *d)
{
	if (!f->ops || !f->ops->post) {
		resp->status = 0;
		resp->body_offset = 0;
		resp->complete_size = UINT64_MAX;
		resp->received = 0;
		resp->etag[0] = '\0';
		resp->last_modified = -1;
		resp->retry_after_s = -1;
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED, "%s: this fetcher cannot POST",
		                    req->url ? req->url : "(no URL)");
	}
	return f->ops->post(f, req, resp, d);
}

/* Does `url` have a scheme we fetch (https, or http when allowed)? Pure check. */
bool st7_url_is_remote(const char *url);

#endif
