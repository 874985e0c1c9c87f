/* SPDX-License-Identifier: MIT */
/*
 * The fetch interface on libcurl (easy interface, one handle reused so the image and its
 * signature share a connection): GET into a sink, and a small POST (reports). Built against
 * Debian 12's 7.88; older names behind LIBCURL_VERSION_NUM checks.
 */
#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fetch_wire.h" /* st7_wire_ctype_ok: what may go into Content-Type */
#include "log.h"

#define ERROR_BODY_MAX 65536 /* bytes of an error page we read (and discard) */
#define MAX_REDIRECTS 5
#define PEM_MAX (1u << 20) /* a CA bundle, certificate or key read into memory */

/* In-memory PEM (CURLOPT_*_BLOB) from libcurl 7.77 on; older ones read the files. */
#if LIBCURL_VERSION_NUM >= 0x074d00
#define HAVE_BLOBS 1
#else
#define HAVE_BLOBS 0
#endif

struct pem {
	char *data;
	size_t len;
};

struct curl_fetcher {
	CURL *h;
	struct st7_fetch_opts o;
	struct pem ca, cert, key;   /* preloaded (st7_fetch_curl_preload), else empty */
	st7_fetch_progress_fn beat; /* a POST's heartbeat (st7_fetch_curl_set_heartbeat) */
	void *beat_arg;
	char errbuf[CURL_ERROR_SIZE];
};

/* State of one GET, shared by the callbacks. */
struct xfer {
	struct curl_fetcher *cf;
	const struct st7_fetch_request *req;
	const struct st7_fetch_sink *sink;
	struct st7_fetch_response *resp;
	struct st7_diag *d;
	uint64_t max; /* this request's size limit */
	bool begun, discarding, cr_ok, error_body_cut;
	uint64_t cr_first, cr_last, cr_complete;
	uint64_t discarded;
	int err; /* why a callback stopped the transfer */
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	const char *name, *value;
	size_t nlen, vlen;
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or a 100): forget the previous one's. */
		x->resp->etag[0] = '\0';
		x->cr_ok = false;
		return len;
	}
	if (!st7_http_header_split(p, len, &name, &nlen, &value, &vlen))
		return len;
	if (st7_http_header_is(name, nlen, "ETag")) {
		if (!st7_http_etag_parse(value, vlen, x->resp->etag))
			x->resp->etag[0] = '\0'; /* unusable: never echoed back */
	} else if (st7_http_header_is(name, nlen, "Content-Range")) {
		x->cr_ok = st7_http_content_range_parse(value, vlen, &x->cr_first, &x->cr_last,
		                                        &x->cr_complete, NULL) == ST7_OK;
	}
	return len;
}

/* The final response's headers are in: decide what its body is. */
static int begin_body(struct xfer *x)
{
	struct st7_fetch_response *r = x->resp;
	curl_off_t cl = -1;
	long status = 0;
	curl_easy_getinfo(x->cf->h, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	x->begun = true;
	if (status != 200 && status != 206) {
		x->discarding = true;
		return ST7_OK;
	}
	if (status == 206) {
		if (!x->cr_ok)
			return st7_diag_set(x->d, ST7_ERR_RANGE,
			                    "206 without a valid Content-Range");
		if (x->cr_first != x->req->offset)
			return st7_diag_set(
			        x->d, ST7_ERR_RANGE,
			        "asked for bytes from %llu, the server sent them from %llu",
			        (unsigned long long)x->req->offset,
			        (unsigned long long)x->cr_first);
		r->body_offset = x->cr_first;
		r->complete_size = x->cr_complete;
	} else {
		r->body_offset = 0;
		curl_easy_getinfo(x->cf->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		r->complete_size = cl >= 0 ? (uint64_t)cl : UINT64_MAX;
	}
	if (r->complete_size != UINT64_MAX && r->complete_size > x->max)
		return st7_diag_set(x->d, ST7_ERR_TOO_LARGE,
		                    "the server announces %llu bytes; the limit is %llu",
		                    (unsigned long long)r->complete_size,
		                    (unsigned long long)x->max);
	curl_easy_getinfo(x->cf->h, CURLINFO_FILETIME_T, &cl);
	r->last_modified = cl >= 0 ? (int64_t)cl : -1;
	return x->sink->begin ? x->sink->begin(x->sink->arg, r) : ST7_OK;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (!x->begun && (x->err = begin_body(x)) != ST7_OK)
		return 0;
	if (x->discarding) {
		/* An error page is read only so far: its status is what counts. */
		x->discarded += len;
		x->error_body_cut = x->discarded > ERROR_BODY_MAX;
		return x->error_body_cut ? 0 : len;
	}
	struct st7_fetch_response *r = x->resp;
	/* The cap holds whatever the headers said: an endless body stops here. */
	if (r->body_offset + r->received + len > x->max) {
		x->err = st7_diag_set(x->d, ST7_ERR_TOO_LARGE,
		                      "the body goes past the limit of %llu bytes; cut off",
		                      (unsigned long long)x->max);
		return 0;
	}
	x->err = x->sink->write(x->sink->arg, (const uint8_t *)p, len);
	if (x->err)
		return 0;
	r->received += len;
	return len;
}

static int on_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	struct xfer *x = arg;
	(void)ultotal;
	(void)ulnow;
	if (x->req->abort_flag && *x->req->abort_flag)
		return 1;
	if (!x->req->progress)
		return 0;
	if (x->begun && !x->discarding && dltotal > 0)
		x->req->progress(x->req->progress_arg, "fetch",
		                 (size_t)(x->resp->body_offset + (uint64_t)dlnow),
		                 (size_t)(x->resp->body_offset + (uint64_t)dltotal));
	else /* connecting, in the handshake, waiting for headers: alive */
		x->req->progress(x->req->progress_arg, "fetch", 0, 0);
	return 0;
}

/* curl's own words say most; we add which class of failure it is. `cb_err` is why one of
 * our callbacks stopped the transfer (0: none did), `max` the size limit that applied. */
static int map_curl_error(struct curl_fetcher *cf, const char *url, int cb_err, uint64_t max,
                          CURLcode c, struct st7_diag *d)
{
	const char *msg = cf->errbuf[0] ? cf->errbuf : curl_easy_strerror(c);
	switch (c) {
	case CURLE_WRITE_ERROR:
		if (cb_err)
			return cb_err;
		return st7_diag_set(d, ST7_ERR_IO, "%s: writing the download failed", url);
	case CURLE_ABORTED_BY_CALLBACK:
		return st7_diag_set(d, ST7_ERR_ABORTED, "%s: download stopped by a signal", url);
	case CURLE_OPERATION_TIMEDOUT:
		return st7_diag_set(d, ST7_ERR_TIMEOUT, "%s: %s", url, msg);
	case CURLE_FILESIZE_EXCEEDED:
		return st7_diag_set(d, ST7_ERR_TOO_LARGE,
		                    "%s: the server announces more than the limit of %llu bytes",
		                    url, (unsigned long long)max);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_TOO_MANY_REDIRECTS:
		return st7_diag_set(d, ST7_ERR_NETWORK, "%s: %s (only https is followed%s)", url,
		                    msg, cf->o.allow_http ? ", and http in the lab" : "");
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
		return st7_diag_set(d, ST7_ERR_TLS, "%s: %s", url, msg);
	case CURLE_OUT_OF_MEMORY:
		return st7_diag_set(d, ST7_ERR_NOMEM, "%s: out of memory", url);
	default:
		return st7_diag_set(d, ST7_ERR_NETWORK, "%s: %s", url, msg);
	}
}

/* Options are set in a row; the first failure is kept (`c`, on the handle `h`). */
#define SET(opt, val)                                      \
	do {                                               \
		if (c == CURLE_OK)                         \
			c = curl_easy_setopt(h, opt, val); \
	} while (0)

/* What every request shares: the URL, the protocols, the timeouts and the TLS rules (peer
 * and host verified, TLS 1.2 or newer, the pinned CA, the client certificate). */
static CURLcode set_transport(struct curl_fetcher *cf, const char *url)
{
	CURL *h = cf->h;
	const char *protos = cf->o.allow_http ? "https,http" : "https";
	CURLcode c = CURLE_OK;

	curl_easy_reset(h);
	SET(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, protos);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
#else
	(void)protos;
	long mask = CURLPROTO_HTTPS | (cf->o.allow_http ? CURLPROTO_HTTP : 0);
	SET(CURLOPT_PROTOCOLS, mask);
	SET(CURLOPT_REDIR_PROTOCOLS, mask);
#endif
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, cf->errbuf);
	SET(CURLOPT_USERAGENT, "st7dfu/" ST7DFU_VERSION);
	SET(CURLOPT_CONNECTTIMEOUT, (long)cf->o.connect_timeout_s);
	SET(CURLOPT_TIMEOUT, (long)cf->o.total_timeout_s);
	SET(CURLOPT_LOW_SPEED_LIMIT, (long)cf->o.low_speed_bytes);
	SET(CURLOPT_LOW_SPEED_TIME, (long)cf->o.low_speed_time_s);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cf->o.ca_file) {
		/* A pinned CA replaces the system's trust store entirely. */
		SET(CURLOPT_CAPATH, (char *)NULL);
#if HAVE_BLOBS
		struct curl_blob ca = { cf->ca.data, cf->ca.len, CURL_BLOB_NOCOPY };
		if (cf->ca.data)
			SET(CURLOPT_CAINFO_BLOB, &ca);
		else
#endif
			SET(CURLOPT_CAINFO, cf->o.ca_file);
	}
#if HAVE_BLOBS
	struct curl_blob cert = { cf->cert.data, cf->cert.len, CURL_BLOB_NOCOPY };
	struct curl_blob key = { cf->key.data, cf->key.len, CURL_BLOB_NOCOPY };
	if (cf->cert.data) {
		SET(CURLOPT_SSLCERT_BLOB, &cert);
		SET(CURLOPT_SSLKEY_BLOB, cf->key.data ? &key : &cert);
	} else
#endif
	{
		if (cf->o.client_cert)
			SET(CURLOPT_SSLCERT, cf->o.client_cert);
		if (cf->o.client_key)
			SET(CURLOPT_SSLKEY, cf->o.client_key);
	}
	return c;
}

static int set_options(struct curl_fetcher *cf, struct xfer *x, struct curl_slist **hdrs)
{
	CURL *h = cf->h;
	const struct st7_fetch_request *req = x->req;
	char line[ST7_ETAG_MAX + 32], range[32], date[40];
	CURLcode c = set_transport(cf, req->url);

	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
	SET(CURLOPT_FILETIME, 1L);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_XFERINFOFUNCTION, on_xferinfo);
	SET(CURLOPT_XFERINFODATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	bool oom = false;
#define HEADER(...)                                                       \
	do {                                                              \
		snprintf(line, sizeof(line), __VA_ARGS__);                \
		struct curl_slist *more = curl_slist_append(*hdrs, line); \
		if (more)                                                 \
			*hdrs = more;                                     \
		else                                                      \
			oom = true;                                       \
	} while (0)
	if (req->offset > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)req->offset);
		SET(CURLOPT_RANGE, range);
		if (req->if_range)
			HEADER("If-Range: %s", req->if_range);
		else if (req->if_range_date >= 0 && st7_http_date_format(req->if_range_date, date))
			HEADER("If-Range: %s", date);
	}
	if (req->if_none_match)
		HEADER("If-None-Match: %s", req->if_none_match);
	if (req->if_modified_since >= 0 && st7_http_date_format(req->if_modified_since, date))
		HEADER("If-Modified-Since: %s", date);
	if (*hdrs)
		SET(CURLOPT_HTTPHEADER, *hdrs);
#undef HEADER
	if (oom)
		return st7_diag_set(x->d, ST7_ERR_NOMEM, "out of memory");
	return c == CURLE_OK
	               ? ST7_OK
	               : st7_diag_set(x->d, ST7_ERR_INVALID, "libcurl: %s", curl_easy_strerror(c));
}

/* Only validated tokens go into headers we send. */
static bool header_safe(const char *v)
{
	char tmp[ST7_ETAG_MAX];
	return !v || st7_http_etag_parse(v, strlen(v), tmp);
}

/* A URL we send a request to: printable, bounded, https (or http when allowed). */
static int check_url(const struct curl_fetcher *cf, const char *url, struct st7_diag *d)
{
	if (!url)
		return st7_diag_set(d, ST7_ERR_INVALID, "no URL");
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7F)
			return st7_diag_set(d, ST7_ERR_INVALID,
			                    "URL with a space or control character refused");
	if (strlen(url) >= ST7_URL_MAX)
		return st7_diag_set(d, ST7_ERR_INVALID, "URL longer than %d bytes", ST7_URL_MAX);
	if (strncasecmp(url, "https://", 8) != 0 &&
	    !(cf->o.allow_http && strncasecmp(url, "http://", 7) == 0))
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: only https:// URLs are fetched%s", url,
		                    cf->o.allow_http ? " (or http://)" : "");
	return ST7_OK;
}

/* A final status that is neither a success nor anything else the caller handles:
 * ST7_ERR_RETRY_LATER (429, 503) or ST7_ERR_HTTP. */
static int status_error(struct curl_fetcher *cf, const char *url, struct st7_fetch_response *resp,
                        struct st7_diag *d)
{
	switch (resp->status) {
	case 429:
	case 503: {
		curl_off_t ra = -1;
#if LIBCURL_VERSION_NUM >= 0x074200
		curl_easy_getinfo(cf->h, CURLINFO_RETRY_AFTER, &ra);
#endif
		/* Bounded both ways: a server must not make a gateway hammer it, nor go
		 * silent for years. */
		resp->retry_after_s = ra < 0 ? -1 : ra < 1 ? 1 : ra > 86400 ? 86400 : (int64_t)ra;
		if (resp->retry_after_s >= 0)
			return st7_diag_set(d, ST7_ERR_RETRY_LATER,
			                    "%s: HTTP %ld; the server asks to retry after %lld s",
			                    url, resp->status, (long long)resp->retry_after_s);
		return st7_diag_set(d, ST7_ERR_RETRY_LATER,
		                    "%s: HTTP %ld; the server asks to retry later", url,
		                    resp->status);
	}
	case 401:
	case 403:
		return st7_diag_set(d, ST7_ERR_HTTP,
		                    "%s: HTTP %ld (%s); the server may want a client certificate "
		                    "(--client-cert)",
		                    url, resp->status,
		                    cf->o.client_cert ? "the one given was not accepted"
		                                      : "none was given");
	default:
		return st7_diag_set(d, ST7_ERR_HTTP, "%s: HTTP %ld", url, resp->status);
	}
}

static void resp_reset(struct st7_fetch_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->complete_size = UINT64_MAX;
	resp->last_modified = -1;
	resp->retry_after_s = -1;
}

static int curl_get(struct st7_fetcher *f, const struct st7_fetch_request *req,
                    const struct st7_fetch_sink *sink, struct st7_fetch_response *resp,
                    struct st7_diag *d)
{
	struct curl_fetcher *cf = f->impl;
	struct curl_slist *hdrs = NULL;
	struct xfer x = { .cf = cf, .req = req, .sink = sink, .resp = resp, .d = d };
	x.max = req->max_size && req->max_size < cf->o.max_size ? req->max_size : cf->o.max_size;
	int ret = ST7_ERR_INVALID;

	resp_reset(resp);
	cf->errbuf[0] = '\0';
	if ((ret = check_url(cf, req->url, d)) != ST7_OK)
		return ret;
	if (!header_safe(req->if_none_match) || !header_safe(req->if_range))
		return st7_diag_set(d, ST7_ERR_RANGE, "refusing to send an invalid validator");

	ret = set_options(cf, &x, &hdrs);
	if (ret)
		goto cleanup;
	CURLcode c = curl_easy_perform(cf->h);
	if (c == CURLE_OK && !x.begun)
		x.err = begin_body(&x); /* an empty body: no write callback came */
	if (c == CURLE_OK && x.err)
		c = CURLE_WRITE_ERROR;
	if (c == CURLE_WRITE_ERROR && x.error_body_cut)
		c = CURLE_OK; /* we stopped reading an error page: go by its status */
	if (c != CURLE_OK) {
		ret = map_curl_error(cf, req->url, x.err, x.max, c, d);
		goto cleanup;
	}
	curl_easy_getinfo(cf->h, CURLINFO_RESPONSE_CODE, &resp->status);
	switch (resp->status) {
	case 200:
	case 206:
		if (resp->complete_size != UINT64_MAX &&
		    resp->body_offset + resp->received != resp->complete_size) {
			ret = st7_diag_set(d, ST7_ERR_NETWORK,
			                   "%s: the body stopped at %llu of %llu bytes", req->url,
			                   (unsigned long long)(resp->body_offset + resp->received),
			                   (unsigned long long)resp->complete_size);
			goto cleanup;
		}
		ret = ST7_OK;
		break;
	case 304:
		ret = ST7_OK;
		break;
	case 416:
		ret = st7_diag_set(d, ST7_ERR_RANGE, "%s: 416, the range asked for is not there",
		                   req->url);
		break;
	default:
		ret = status_error(cf, req->url, resp, d);
		break;
	}
cleanup:
	curl_slist_free_all(hdrs);
	return ret;
}

/* ---- POST ---- */

/* State of one POST, shared by the callbacks. */
struct post_xfer {
	struct curl_fetcher *cf;
	const struct st7_fetch_post *req;
	uint64_t discarded;
	bool cut; /* we stopped reading the response body */
};

/* The response body is nobody's: read so far, then the status is what counts. */
static size_t on_post_body(char *p, size_t size, size_t n, void *arg)
{
	struct post_xfer *x = arg;
	(void)p;
	x->discarded += size * n;
	x->cut = x->discarded > ERROR_BODY_MAX;
	return x->cut ? 0 : size * n;
}

static int on_post_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
	struct post_xfer *x = arg;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (x->req->abort_flag && *x->req->abort_flag)
		return 1;
	if (x->cf->beat)
		x->cf->beat(x->cf->beat_arg, "post", 0, 0); /* alive; the receiver throttles */
	return 0;
}

static int curl_post(struct st7_fetcher *f, const struct st7_fetch_post *req,
                     struct st7_fetch_response *resp, struct st7_diag *d)
{
	struct curl_fetcher *cf = f->impl;
	CURL *h = cf->h;
	struct curl_slist *hdrs = NULL, *more;
	struct post_xfer x = { .cf = cf, .req = req };
	char line[ST7_FETCH_CTYPE_MAX + 16];
	CURLcode c = CURLE_OK;
	int ret = ST7_ERR_INVALID;

	resp_reset(resp);
	cf->errbuf[0] = '\0';
	if ((ret = check_url(cf, req->url, d)) != ST7_OK)
		return ret;
	if (!st7_wire_ctype_ok(req->content_type))
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: an invalid content type", req->url);
	if (req->len > ST7_FETCH_POST_MAX || (!req->body && req->len))
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: a body of %zu bytes (at most %d)",
		                    req->url, req->len, ST7_FETCH_POST_MAX);

	snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
	/* No "Expect: 100-continue": the body is small, and a server that never answers
	 * the expectation would cost a second per report. */
	static const char no_expect[] = "Expect:";
	ret = ST7_ERR_NOMEM;
	if (!(hdrs = curl_slist_append(NULL, line)))
		goto nomem;
	if (!(more = curl_slist_append(hdrs, no_expect)))
		goto nomem;
	hdrs = more;

	c = set_transport(cf, req->url);
	SET(CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is an answer, never followed */
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
	SET(CURLOPT_POSTFIELDS, req->len ? (const char *)req->body : "");
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, on_post_body);
	SET(CURLOPT_WRITEDATA, &x);
	SET(CURLOPT_XFERINFOFUNCTION, on_post_xferinfo);
	SET(CURLOPT_XFERINFODATA, &x);
	SET(CURLOPT_NOPROGRESS, 0L);
	if (c != CURLE_OK) {
		ret = st7_diag_set(d, ST7_ERR_INVALID, "libcurl: %s", curl_easy_strerror(c));
		goto cleanup;
	}
	c = curl_easy_perform(h);
	if (c == CURLE_WRITE_ERROR && x.cut)
		c = CURLE_OK; /* we stopped reading the answer's body: go by its status */
	if (c != CURLE_OK) {
		ret = map_curl_error(cf, req->url, 0, ERROR_BODY_MAX, c, d);
		goto cleanup;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (resp->status >= 200 && resp->status <= 299)
		ret = ST7_OK;
	else if (resp->status >= 300 && resp->status <= 399)
		ret = st7_diag_set(d, ST7_ERR_HTTP, "%s: HTTP %ld, a redirect; a POST follows none",
		                   req->url, resp->status);
	else
		ret = status_error(cf, req->url, resp, d);
	goto cleanup;
nomem:
	ret = st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
cleanup:
	curl_slist_free_all(hdrs);
	return ret;
}
#undef SET

static void pem_free(struct pem *p)
{
	if (p->data)
		memset(p->data, 0, p->len); /* a client key does not linger */
	free(p->data);
	p->data = NULL;
	p->len = 0;
}

static void curl_destroy(struct st7_fetcher *f)
{
	struct curl_fetcher *cf = f->impl;
	if (cf) {
		curl_easy_cleanup(cf->h);
		pem_free(&cf->ca);
		pem_free(&cf->cert);
		pem_free(&cf->key);
		free(cf);
	}
	f->impl = NULL;
}

static const struct st7_fetch_ops curl_ops = {
	.get = curl_get,
	.destroy = curl_destroy,
	.post = curl_post,
};

int st7_fetch_curl_init(struct st7_fetcher *f, const struct st7_fetch_opts *o, struct st7_diag *d)
{
	f->ops = NULL;
	f->impl = NULL;
	struct curl_fetcher *cf = calloc(1, sizeof(*cf));
	if (!cf || !(cf->h = curl_easy_init())) {
		free(cf);
		return st7_diag_set(d, ST7_ERR_NOMEM, "libcurl could not start");
	}
	cf->o = *o;
	f->ops = &curl_ops;
	f->impl = cf;
	if (o->allow_http)
		st7_warn("INSECURE: --allow-http accepts plain http:// and redirects to it; "
		         "for a lab only, never in the field");
	return ST7_OK;
}

void st7_fetch_curl_set_heartbeat(struct st7_fetcher *f, st7_fetch_progress_fn fn, void *arg)
{
	struct curl_fetcher *cf = f->impl;
	if (cf) {
		cf->beat = fn;
		cf->beat_arg = arg;
	}
}

int st7_fetch_curl_global_init(struct st7_diag *d)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return st7_diag_set(d, ST7_ERR_NOMEM, "libcurl could not start");
	return ST7_OK;
}

void st7_fetch_curl_global_cleanup(void)
{
	curl_global_cleanup();
}

/* A whole PEM file, at most PEM_MAX bytes. */
static int pem_read(const char *path, const char *what, struct pem *p, struct st7_diag *d)
{
	int ret = ST7_ERR_IO;
	struct stat st;
	/* Regular files only, opened without blocking: a FIFO or a device named by mistake
	 * must not hang or feed the worker forever. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return st7_diag_set(d, ST7_ERR_IO, "%s %s: cannot open it", what, path);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return st7_diag_set(d, ST7_ERR_IO, "%s %s: not a regular file", what, path);
	}
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
	}
	p->data = malloc(PEM_MAX + 1);
	if (!p->data) {
		ret = st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	p->len = fread(p->data, 1, PEM_MAX + 1, f);
	if (ferror(f))
		ret = st7_diag_set(d, ST7_ERR_IO, "%s %s: read failed", what, path);
	else if (p->len > PEM_MAX)
		ret = st7_diag_set(d, ST7_ERR_TOO_LARGE, "%s %s: larger than %u bytes", what, path,
		                   PEM_MAX);
	else if (p->len == 0)
		ret = st7_diag_set(d, ST7_ERR_IO, "%s %s: empty", what, path);
	else
		ret = ST7_OK;
cleanup:
	fclose(f);
	if (ret)
		pem_free(p);
	return ret;
}

int st7_fetch_curl_preload(struct st7_fetcher *f, struct st7_diag *d)
{
	struct curl_fetcher *cf = f->impl;
	int ret = ST7_OK;
	if (cf->o.ca_file)
		ret = pem_read(cf->o.ca_file, "--ca-file", &cf->ca, d);
	if (ret == ST7_OK && cf->o.client_cert)
		ret = pem_read(cf->o.client_cert, "--client-cert", &cf->cert, d);
	if (ret == ST7_OK && cf->o.client_key)
		ret = pem_read(cf->o.client_key, "--client-key", &cf->key, d);
#if !HAVE_BLOBS
	/* This libcurl reads the files itself, later: they were only checked here. */
	pem_free(&cf->ca);
	pem_free(&cf->cert);
	pem_free(&cf->key);
#endif
	return ret;
}
