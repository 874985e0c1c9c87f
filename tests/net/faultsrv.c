/* SPDX-License-Identifier: MIT */
/*
 * st7dfu-faultsrv: a test-only HTTP/1.1 server (plain or TLS through mbedTLS) that
 * misbehaves on purpose -- truncated and stalled bodies, wrong lengths, bad ranges,
 * endless bodies, slow headers -- so the integration tests can drive the agent's libcurl
 * fetch layer into network faults nginx will not produce; it also takes report uploads
 * (POST /reports, logged to --post-log) and refuses them on purpose (/reports-down). One
 * forked child per connection, one response per connection. The contract is in README.md.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/tcp.h> /* struct tcp_info: glibc hides it under _POSIX_C_SOURCE */
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/version.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>
#endif
/* 3.0 made the certificate's public key a private field; 3.1 made it public again. */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && MBEDTLS_VERSION_NUMBER < 0x03010000
#define CRT_PK(crt) ((crt).MBEDTLS_PRIVATE(pk))
#else
#define CRT_PK(crt) ((crt).pk)
#endif

#define MAX_HEADER 8192           /* request line + headers, else 431 */
#define MAX_CHILDREN 128          /* connections served at once; more wait in the backlog */
#define REQ_TIMEOUT_MS 30000      /* handshake + request must arrive within this */
#define STALL_MS (10 * 60 * 1000) /* /stall keeps the connection this long at most */
#define CHILD_MAX_S (11 * 60)     /* hard cap on any child's life (SIGALRM) */
#define SEND_TIMEOUT_S 60         /* a client that stops reading is dropped after this */
#define TIB 1099511627776ULL
#define BLACKHOLE_MAX 64       /* client sockets tried while filling the blackhole */
#define BLACKHOLE_PROBE_MS 250 /* a loopback connect that has not completed by then won't */
#define POST_MAX (1024 * 1024) /* a POST body's Content-Length at most, else 413 */

static int root_fd = -1, log_fd = -1, state_fd = -1, post_log_fd = -1;
/* --blackhole-port-file: a listener never accept()ed and the clients that filled it. */
static int bh_fds[BLACKHOLE_MAX + 1];
static unsigned bh_count;
static unsigned port;
static bool tls;
static volatile sig_atomic_t stop;

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static mbedtls_x509_crt srv_cert;
static mbedtls_pk_context srv_key;
static mbedtls_ssl_config ssl_conf;

struct conn {
	int fd;
	mbedtls_ssl_context *ssl; /* NULL for plain HTTP */
	int64_t deadline;         /* monotonic ms; reads give up after it */
};

struct req {
	char buf[MAX_HEADER + 1];
	size_t len;
	char *method, *target, *path, *query;
	const char *range, *inm, *ims, *if_range;
	const char *content_length, *transfer_encoding, *expect;
	bool head, post;
	size_t body_at; /* where the bytes after the headers start in buf (up to len) */
};

struct resp {
	char buf[MAX_HEADER + 1024];
	size_t len;
};

enum mode { M_OK, M_NORANGE, M_BADRANGE, M_TRUNCATE, M_STALL, M_DRIP, M_BIGCL, M_WRONGLEN };

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* recv() bounded by the connection's deadline; -1 with errno ETIMEDOUT when it passes. */
static ssize_t raw_recv(const struct conn *c, void *buf, size_t n)
{
	for (;;) {
		int64_t left = c->deadline - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r > 0) {
			ssize_t got = recv(c->fd, buf, n, 0);
			if (got >= 0 || errno != EINTR)
				return got;
		}
	}
}

static int bio_send(void *ctx, const unsigned char *buf, size_t n)
{
	const struct conn *c = ctx;
	ssize_t r;
	do
		r = send(c->fd, buf, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r < 0 ? MBEDTLS_ERR_NET_SEND_FAILED : (int)r;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t n)
{
	ssize_t r = raw_recv(ctx, buf, n);
	return r < 0 ? MBEDTLS_ERR_NET_RECV_FAILED : (int)r;
}

/* >0 bytes read, 0 the peer closed, <0 error or timeout. */
static ssize_t conn_read(struct conn *c, void *buf, size_t n)
{
	if (!c->ssl)
		return raw_recv(c, buf, n);
	int r = mbedtls_ssl_read(c->ssl, buf, n);
	return r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ? 0 : r;
}

static bool conn_write(struct conn *c, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	while (n > 0) {
		ssize_t r = c->ssl ? mbedtls_ssl_write(c->ssl, p, n) : bio_send(c, p, n);
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* Discards what the client sends until it closes (true) or ms pass (false). Raw reads
 * even under TLS: a client waiting for a response sends at most an alert. */
static bool wait_gone(struct conn *c, int64_t ms)
{
	char junk[512];
	c->deadline = now_ms() + ms;
	for (;;) {
		ssize_t r = raw_recv(c, junk, sizeof junk);
		if (r <= 0)
			return !(r < 0 && errno == ETIMEDOUT);
	}
}

/* clean: TLS close_notify first. Without it the close looks like a cut connection. The
 * drain keeps unread client bytes from turning our FIN into a RST. */
static void conn_close(struct conn *c, bool clean)
{
	if (c->ssl && clean)
		mbedtls_ssl_close_notify(c->ssl);
	shutdown(c->fd, SHUT_WR);
	wait_gone(c, 2000);
	close(c->fd);
}

static const char *reason(int status)
{
	static const char t[] = "200 OK|204 No Content|206 Partial Content|301 Moved Permanently|"
	                        "302 Found|304 Not Modified|400 Bad Request|403 Forbidden|"
	                        "404 Not Found|405 Method Not Allowed|408 Request Timeout|"
	                        "411 Length Required|413 Content Too Large|"
	                        "416 Range Not Satisfiable|429 Too Many Requests|"
	                        "431 Request Header Fields Too Large|500 Internal Server Error|"
	                        "502 Bad Gateway|503 Service Unavailable|504 Gateway Timeout|";
	static char out[40];
	char key[8];
	snprintf(key, sizeof key, "%03d ", status % 1000);
	const char *p = strstr(t, key), *e = p ? strchr(p, '|') : NULL;
	snprintf(out, sizeof out, "%.*s", e ? (int)(e - p - 4) : 7, e ? p + 4 : "Unknown");
	return out;
}

static void http_date(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

__attribute__((format(printf, 2, 3))) static void hdr(struct resp *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(r->buf + r->len, sizeof r->buf - r->len, fmt, ap);
	va_end(ap);
	/* Keep room for the final CRLF; inputs are bounded so this never drops a line. */
	if (n > 0 && (size_t)n + 2 < sizeof r->buf - r->len)
		r->len += (size_t)n;
}

static void start_resp(struct resp *r, int status)
{
	char date[32];
	http_date(time(NULL), date);
	r->len = 0;
	hdr(r, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: st7dfu-faultsrv\r\nConnection: close\r\n",
	    status, reason(status), date);
}

static bool send_resp(struct conn *c, struct resp *r)
{
	memcpy(r->buf + r->len, "\r\n", 2);
	return conn_write(c, r->buf, r->len + 2);
}

/* A status with a one-line text body, then a clean close. */
static void simple(struct conn *c, bool head, int status, const char *extra)
{
	struct resp r;
	char body[64];
	int n = snprintf(body, sizeof body, "%d %s\n", status, reason(status));
	start_resp(&r, status);
	hdr(&r, "%sContent-Type: text/plain\r\nContent-Length: %d\r\n", extra, n);
	if (send_resp(c, &r) && !head)
		conn_write(c, body, (size_t)n);
	conn_close(c, true);
}

/* Exactly n decimal digits, no sign, at most max. */
static bool parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* "N/NAME" (N optionally signed when min < 0): sets *n and *name. */
static bool num_name(const char *s, int64_t min, int64_t max, int64_t *n, const char **name)
{
	const char *slash = strchr(s, '/');
	bool neg = min < 0 && *s == '-';
	uint64_t v;
	if (!slash)
		return false;
	if (min < 0 && (*s == '-' || *s == '+'))
		s++;
	if (!parse_u64(s, (size_t)(slash - s), INT64_MAX, &v))
		return false;
	*n = neg ? -(int64_t)v : (int64_t)v;
	*name = slash + 1;
	return *n >= min && *n <= max;
}

/* IMF-fixdate only ("Sun, 06 Nov 1994 08:49:37 GMT"); RFC 9110 says ignore what doesn't
 * parse, and curl sends nothing else. timegm() is not POSIX, hence the day count. */
static bool parse_http_date(const char *s, time_t *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	char wd[4], mon[4];
	int d, y, h, mi, se, end = 0;
	if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &h, &mi,
	           &se, &end) != 7 ||
	    end == 0 || s[end] != '\0')
		return false;
	const char *m = strlen(mon) == 3 ? strstr(months, mon) : NULL;
	if (!m || (m - months) % 3 || y < 1970 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return false;
	int64_t days = d - 1;
	for (int yy = 1970; yy < y; yy++)
		days += (yy % 4 == 0 && (yy % 100 != 0 || yy % 400 == 0)) ? 366 : 365;
	for (int i = 0; i < (m - months) / 3; i++)
		days += mdays[i] + (i == 1 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
	*out = (time_t)(days * 86400 + h * 3600 + mi * 60 + se);
	return true;
}

/* One "bytes=" range against size: 1 satisfiable, 0 not (416), -1 ignore the header
 * (malformed or multi-range: RFC 9110 lets a server answer those with 200). */
static int parse_range(const char *v, uint64_t size, uint64_t *off, uint64_t *len)
{
	uint64_t a, b = UINT64_MAX;
	if (strncasecmp(v, "bytes=", 6) != 0)
		return -1;
	v += 6;
	const char *dash = strchr(v, '-');
	if (!dash || strchr(v, ','))
		return -1;
	if (dash[1] && !parse_u64(dash + 1, strlen(dash + 1), UINT64_MAX, &b))
		return -1;
	if (dash == v) { /* suffix: the last b bytes */
		if (!dash[1])
			return -1;
		if (b == 0 || size == 0)
			return 0;
		*len = b < size ? b : size;
		*off = size - *len;
		return 1;
	}
	if (!parse_u64(v, (size_t)(dash - v), UINT64_MAX, &a) || b < a)
		return -1;
	if (a >= size)
		return 0;
	if (b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 1;
}

static bool send_span(struct conn *c, int fd, uint64_t off, uint64_t len)
{
	static char buf[16384];
	while (len > 0) {
		size_t want = len < sizeof buf ? (size_t)len : sizeof buf;
		ssize_t r = pread(fd, buf, want, (off_t)off);
		if (r <= 0 || !conn_write(c, buf, (size_t)r))
			return false;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return true;
}

static bool drip(struct conn *c, int fd, uint64_t len, int64_t ms)
{
	for (uint64_t off = 0; off < len; off++) {
		char b;
		if (pread(fd, &b, 1, (off_t)off) != 1 || !conn_write(c, &b, 1))
			return false;
		if (off + 1 < len)
			sleep_ms(ms);
	}
	return true;
}

static void serve_file(struct conn *c, const struct req *q, enum mode m, int64_t arg,
                       const char *name)
{
	struct stat st;
	int fd = -1;
	if (*name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
		fd = openat(root_fd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		simple(c, q->head, 404, "");
		return;
	}
	uint64_t size = (uint64_t)st.st_size, off = 0, len = size, announce = size;
	char etag[80], lastmod[32];
	snprintf(etag, sizeof etag, "\"%llx-%llx.%lx\"", (unsigned long long)size,
	         (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
	http_date(st.st_mtim.tv_sec, lastmod);

	/* Only the well-behaved modes look at conditionals and Range; faults always 200.
	 * If-None-Match: our quoted tag anywhere in the list matches (weak comparison). */
	int status = 200;
	time_t since;
	bool plain = m == M_OK || m == M_NORANGE || m == M_BADRANGE;
	if (plain &&
	    (q->inm ? strstr(q->inm, etag) || !strcmp(q->inm, "*")
	            : q->ims && parse_http_date(q->ims, &since) && st.st_mtim.tv_sec <= since)) {
		status = 304;
	} else if (m == M_OK && q->range &&
	           (!q->if_range || !strcmp(q->if_range, etag) || !strcmp(q->if_range, lastmod))) {
		int r = parse_range(q->range, size, &off, &len);
		status = r == 1 ? 206 : r == 0 ? 416 : 200;
	} else if (m == M_BADRANGE && q->range && size > 0) {
		status = 206; /* the body is all of it; the lie is in Content-Range */
	}
	if (m == M_BIGCL)
		announce = TIB;
	if (m == M_WRONGLEN)
		announce = arg < 0 && (uint64_t)-arg > size ? 0 : size + (uint64_t)arg;

	struct resp r;
	start_resp(&r, status);
	hdr(&r, "Content-Type: application/octet-stream\r\nETag: %s\r\nLast-Modified: %s\r\n", etag,
	    lastmod);
	if (m == M_OK || m == M_BADRANGE)
		hdr(&r, "Accept-Ranges: bytes\r\n");
	if (status == 416)
		hdr(&r, "Content-Range: bytes */%llu\r\nContent-Length: 0\r\n",
		    (unsigned long long)size);
	else if (status == 206)
		hdr(&r, "Content-Range: bytes %llu-%llu/%llu\r\n", (unsigned long long)off,
		    (unsigned long long)(off + len - 1), (unsigned long long)size);
	if (status == 200 || status == 206)
		hdr(&r, "Content-Length: %llu\r\n",
		    (unsigned long long)(status == 206 ? len : announce));
	bool ok = send_resp(c, &r);
	if (!ok || q->head || status == 304 || status == 416) {
		conn_close(c, ok);
		return;
	}

	uint64_t part = (uint64_t)arg < size ? (uint64_t)arg : size;
	switch (m) {
	case M_TRUNCATE:
		send_span(c, fd, 0, part);
		conn_close(c, false);
		break;
	case M_STALL:
		if (send_span(c, fd, 0, part))
			wait_gone(c, STALL_MS);
		conn_close(c, false);
		break;
	case M_DRIP:
		conn_close(c, drip(c, fd, size, arg));
		break;
	default:
		conn_close(c, send_span(c, fd, off, len));
		break;
	}
	close(fd);
}

static void serve_endless(struct conn *c, const struct req *q, bool with_length)
{
	static unsigned char ff[16384];
	struct resp r;
	start_resp(&r, 200);
	hdr(&r, "Content-Type: application/octet-stream\r\n");
	if (with_length)
		hdr(&r, "Content-Length: %llu\r\n", TIB);
	bool ok = send_resp(c, &r);
	memset(ff, 0xff, sizeof ff);
	while (ok && !q->head && conn_write(c, ff, sizeof ff))
		;
	conn_close(c, ok && q->head);
}

static int unhex(char ch)
{
	static const char d[] = "0123456789abcdef";
	const char *p = ch ? strchr(d, tolower((unsigned char)ch)) : NULL;
	return p ? (int)(p - d) : -1;
}

/* The URL-decoded value of key in the query into out: 1 found, 0 absent, -1 malformed
 * (bad escape, too long, or a control character that would break the header). */
static int query_param(const char *query, const char *key, char *out, size_t outsz)
{
	size_t kl = strlen(key);
	for (const char *p = query; p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) != 0 || p[kl] != '=')
			continue;
		size_t n = 0;
		for (p += kl + 1; *p && *p != '&'; p++) {
			int ch = (unsigned char)*p;
			if (ch == '+') {
				ch = ' ';
			} else if (ch == '%') {
				int hi = unhex(p[1]), lo = hi < 0 ? -1 : unhex(p[2]);
				if (lo < 0)
					return -1;
				ch = hi * 16 + lo;
				p += 2;
			}
			if (ch < 0x20 || ch == 0x7f || n + 1 >= outsz)
				return -1;
			out[n++] = (char)ch;
		}
		out[n] = '\0';
		return 1;
	}
	return 0;
}

static void serve_status(struct conn *c, const struct req *q, const char *code)
{
	uint64_t st;
	char ra[256], extra[300] = "";
	int has_ra = query_param(q->query, "retry-after", ra, sizeof ra);
	if (!parse_u64(code, strlen(code), 599, &st) || st < 200 || has_ra < 0) {
		simple(c, q->head, 400, "");
		return;
	}
	if (has_ra)
		snprintf(extra, sizeof extra, "Retry-After: %s\r\n", ra);
	if (st == 204 || st == 304) { /* these never carry a body */
		struct resp r;
		start_resp(&r, (int)st);
		hdr(&r, "%s", extra);
		conn_close(c, send_resp(c, &r));
		return;
	}
	simple(c, q->head, (int)st, extra);
}

/* /redirect/SCHEME/REST -> Location: SCHEME://127.0.0.1:PORT/REST[?QUERY] */
static void serve_redirect(struct conn *c, const struct req *q, const char *s)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	bool ok = n > 0 && n <= 16 && s[0] >= 'a' && s[0] <= 'z';
	for (size_t i = 0; ok && i < n; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		     strchr("+.-", s[i]);
	if (!ok) {
		simple(c, q->head, 400, "");
		return;
	}
	char loc[MAX_HEADER + 64];
	snprintf(loc, sizeof loc, "Location: %.*s://127.0.0.1:%u/%s%s%s\r\n", (int)n, s, port,
	         slash ? slash + 1 : "", q->query ? "?" : "", q->query ? q->query : "");
	simple(c, q->head, 302, loc);
}

static const char *after(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Marks path as seen in the state directory; true only for the first caller ever
 * (O_EXCL makes that atomic across the forked children). */
static bool first_time(const char *path)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a: names stay short and safe */
	for (const char *p = path; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	char name[32];
	snprintf(name, sizeof name, "flaky-%016llx", (unsigned long long)h);
	int fd = openat(state_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* A POST's Content-Length body (no chunked encoding), at most POST_MAX bytes, read whole
 * into a malloc()ed *body (one byte spare). False when it was refused (the answer is
 * sent: 411, 413, 400) or the client went away (the connection is closed). */
static bool read_post_body(struct conn *c, const struct req *q, char **body, size_t *len)
{
	uint64_t n;
	if (q->transfer_encoding || !q->content_length) {
		simple(c, false, 411, "");
		return false;
	}
	if (!parse_u64(q->content_length, strlen(q->content_length), UINT64_MAX, &n)) {
		simple(c, false, 400, "");
		return false;
	}
	if (n > POST_MAX) {
		simple(c, false, 413, "");
		return false;
	}
	char *b = malloc((size_t)n + 1);
	if (!b) {
		simple(c, false, 500, "");
		return false;
	}
	size_t have = q->len - q->body_at;
	if (have > n)
		have = (size_t)n; /* a pipelined request after it: not ours to read */
	memcpy(b, q->buf + q->body_at, have);
	/* curl asks before it sends a body over 1 KiB (or 1 MiB in newer versions). */
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	bool ok = !(have < n && q->expect && !strcasecmp(q->expect, "100-continue")) ||
	          conn_write(c, cont, sizeof cont - 1);
	c->deadline = now_ms() + REQ_TIMEOUT_MS;
	while (ok && have < n) {
		ssize_t r = conn_read(c, b + have, (size_t)n - have);
		ok = r > 0; /* gone or too slow: nobody to answer */
		have += ok ? (size_t)r : 0;
	}
	if (!ok) {
		free(b);
		conn_close(c, false);
		return false;
	}
	*body = b;
	*len = (size_t)n;
	return true;
}

/* POST /reports (down: /reports-down), the body read whole first; then /reports appends
 * it and a newline to --post-log in one write() and answers 204, /reports-down answers
 * 503 with Retry-After and logs nothing. */
static void serve_post(struct conn *c, const struct req *q, bool down)
{
	char *body;
	size_t len;
	if (!read_post_body(c, q, &body, &len))
		return;
	if (down) {
		free(body);
		simple(c, false, 503, "Retry-After: 2\r\n");
		return;
	}
	if (post_log_fd >= 0) {
		/* One write() on an O_APPEND fd: bodies from concurrent children never mix. */
		body[len] = '\n';
		ssize_t w = write(post_log_fd, body, len + 1);
		(void)w;
	}
	free(body);
	struct resp r;
	start_resp(&r, 204);
	conn_close(c, send_resp(c, &r));
}

static void route(struct conn *c, struct req *q)
{
	const char *p = q->path, *s, *name;
	int64_t n;
	uint64_t ms;
	bool reports = !strcmp(p, "/reports") || !strcmp(p, "/reports-down");
	bool any_method = after(p, "/status/") || after(p, "/redirect/");
	char *body;
	size_t len;
	if (q->post && reports) {
		serve_post(c, q, !strcmp(p, "/reports-down"));
		return;
	}
	if (q->post && !any_method) {
		simple(c, false, 405, "Allow: GET, HEAD\r\n");
		return;
	}
	if (q->post) { /* /status and /redirect answer a POST as a GET; its body is dropped */
		if (!read_post_body(c, q, &body, &len))
			return;
		free(body);
	}
	if (reports)
		simple(c, q->head, 405, "Allow: POST\r\n");
	else if ((s = after(p, "/ok/")))
		serve_file(c, q, M_OK, 0, s);
	else if ((s = after(p, "/norange/")))
		serve_file(c, q, M_NORANGE, 0, s);
	else if ((s = after(p, "/badrange/")))
		serve_file(c, q, M_BADRANGE, 0, s);
	else if ((s = after(p, "/truncate/")) && num_name(s, 0, INT64_MAX, &n, &name))
		serve_file(c, q, M_TRUNCATE, n, name);
	else if ((s = after(p, "/flaky/")) && num_name(s, 0, INT64_MAX, &n, &name))
		/* HEAD does not use up the fault: it has no body to cut. */
		serve_file(c, q, !q->head && first_time(p) ? M_TRUNCATE : M_OK, n, name);
	else if ((s = after(p, "/stall/")) && num_name(s, 0, INT64_MAX, &n, &name))
		serve_file(c, q, M_STALL, n, name);
	else if ((s = after(p, "/drip/")) && num_name(s, 0, 60000, &n, &name))
		serve_file(c, q, M_DRIP, n, name);
	else if ((s = after(p, "/big-cl/")))
		serve_file(c, q, M_BIGCL, 0, s);
	else if ((s = after(p, "/wrong-length/")) && num_name(s, -(int64_t)TIB, TIB, &n, &name))
		serve_file(c, q, M_WRONGLEN, n, name);
	else if (!strcmp(p, "/endless") || !strcmp(p, "/endless-cl"))
		serve_endless(c, q, !strcmp(p, "/endless-cl"));
	else if ((s = after(p, "/status/")))
		serve_status(c, q, s);
	else if ((s = after(p, "/redirect/")))
		serve_redirect(c, q, s);
	else if ((s = after(p, "/slow-headers/")) && parse_u64(s, strlen(s), STALL_MS, &ms)) {
		if (wait_gone(c, (int64_t)ms))
			close(c->fd); /* nobody left to answer */
		else
			simple(c, q->head, 200, "");
	} else
		simple(c, q->head, 404, "");
}

static void log_request(const struct req *q)
{
	char line[MAX_HEADER + 128];
	if (log_fd < 0)
		return;
	int n = snprintf(line, sizeof line,
	                 "%s %s range=%s if-none-match=%s if-modified-since=%s if-range=%s\n",
	                 q->method, q->target, q->range ? q->range : "-", q->inm ? q->inm : "-",
	                 q->ims ? q->ims : "-", q->if_range ? q->if_range : "-");
	/* One write() on an O_APPEND fd: lines from concurrent children never interleave. */
	if (n > 0 && (size_t)n < sizeof line) {
		ssize_t w = write(log_fd, line, (size_t)n);
		(void)w;
	}
}

static bool is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* 0: a GET, HEAD or POST request parsed into q; >0: the error status to answer; -1: the client
 * went away or timed out, just close. */
static int read_request(struct conn *c, struct req *q)
{
	size_t end = 0;
	while (!end) {
		if (q->len == MAX_HEADER)
			return 431;
		ssize_t r = conn_read(c, q->buf + q->len, MAX_HEADER - q->len);
		if (r <= 0)
			return -1;
		size_t from = q->len > 3 ? q->len - 3 : 0;
		q->len += (size_t)r;
		for (size_t i = from; !end && i + 4 <= q->len; i++)
			if (memcmp(q->buf + i, "\r\n\r\n", 4) == 0)
				end = i + 2; /* keep the last header's CRLF */
	}
	q->body_at = end + 2; /* after the blank line; buf[end] is its CR */
	q->buf[end] = '\0';
	if (strlen(q->buf) != end)
		return 400; /* a NUL byte */

	char *line = q->buf, *eol = strstr(line, "\r\n");
	*eol = '\0';
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp2 || strchr(sp2 + 1, ' '))
		return 400;
	*sp1 = *sp2 = '\0';
	q->method = line;
	q->target = sp1 + 1;
	if (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0)
		return 400;
	for (const char *p = q->method; *p; p++)
		if (!is_tchar(*p))
			return 400;
	if (q->target[0] != '/' || !*q->method)
		return 400;
	for (const char *p = q->target; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 400;

	for (line = eol + 2; *line; line = eol + 2) {
		eol = strstr(line, "\r\n");
		*eol = '\0';
		char *colon = strchr(line, ':');
		if (!colon || colon == line)
			return 400;
		for (const char *p = line; p < colon; p++)
			if (!is_tchar(*p))
				return 400;
		*colon = '\0';
		char *v = colon + 1, *e = eol;
		while (*v == ' ' || *v == '\t')
			v++;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		for (const char *p = v; *p; p++)
			if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
				return 400;
		const char **slot = !strcasecmp(line, "Range")               ? &q->range
		                    : !strcasecmp(line, "If-None-Match")     ? &q->inm
		                    : !strcasecmp(line, "If-Modified-Since") ? &q->ims
		                    : !strcasecmp(line, "If-Range")          ? &q->if_range
		                    : !strcasecmp(line, "Content-Length")    ? &q->content_length
		                    : !strcasecmp(line, "Transfer-Encoding") ? &q->transfer_encoding
		                    : !strcasecmp(line, "Expect")            ? &q->expect
		                                                             : NULL;
		if (slot && !*slot)
			*slot = v;
	}
	q->head = !strcmp(q->method, "HEAD");
	q->post = !strcmp(q->method, "POST");
	return q->head || q->post || !strcmp(q->method, "GET") ? 0 : 405;
}

static void handle(int fd)
{
	static struct req q;
	struct conn c = { .fd = fd, .deadline = now_ms() + REQ_TIMEOUT_MS };
	mbedtls_ssl_context ssl;
	if (tls) {
		mbedtls_ssl_init(&ssl);
		if (mbedtls_ssl_setup(&ssl, &ssl_conf) != 0) {
			close(fd);
			return;
		}
		mbedtls_ssl_set_bio(&ssl, &c, bio_send, bio_recv, NULL);
		if (mbedtls_ssl_handshake(&ssl) != 0) {
			conn_close(&c, false);
			return;
		}
		c.ssl = &ssl;
	}
	int st = read_request(&c, &q);
	if (st < 0) {
		conn_close(&c, false);
		return;
	}
	if (st == 0 || st == 405)
		log_request(&q);
	if (st > 0) {
		simple(&c, q.head, st, st == 405 ? "Allow: GET, HEAD, POST\r\n" : "");
		return;
	}
	q.path = q.target;
	q.query = strchr(q.target, '?');
	if (q.query)
		*q.query++ = '\0';
	route(&c, &q);
}

static bool tls_fail(const char *what, int r)
{
	char msg[160];
	mbedtls_strerror(r, msg, sizeof msg);
	fprintf(stderr, "st7dfu-faultsrv: %s: %s (-0x%04x)\n", what, msg, (unsigned)-r);
	return false;
}

static bool tls_init(const char *cert, const char *key)
{
	static const unsigned char pers[] = "st7dfu-faultsrv";
	int r;
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_x509_crt_init(&srv_cert);
	mbedtls_pk_init(&srv_key);
	mbedtls_ssl_config_init(&ssl_conf);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	if (psa_crypto_init() != PSA_SUCCESS)
		return tls_fail("psa_crypto_init", 0);
#endif
	if ((r = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers,
	                               sizeof pers - 1)) != 0)
		return tls_fail("seeding the RNG", r);
	if ((r = mbedtls_x509_crt_parse_file(&srv_cert, cert)) != 0)
		return tls_fail(cert, r);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	r = mbedtls_pk_parse_keyfile(&srv_key, key, NULL, mbedtls_ctr_drbg_random, &drbg);
	if (r == 0)
		r = mbedtls_pk_check_pair(&CRT_PK(srv_cert), &srv_key, mbedtls_ctr_drbg_random,
		                          &drbg);
#else
	r = mbedtls_pk_parse_keyfile(&srv_key, key, NULL);
	if (r == 0)
		r = mbedtls_pk_check_pair(&srv_cert.pk, &srv_key);
#endif
	if (r != 0)
		return tls_fail(key, r);
	if ((r = mbedtls_ssl_config_defaults(&ssl_conf, MBEDTLS_SSL_IS_SERVER,
	                                     MBEDTLS_SSL_TRANSPORT_STREAM,
	                                     MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		return tls_fail("TLS config", r);
#if MBEDTLS_VERSION_NUMBER < 0x03000000 /* 3.x has no TLS 1.0/1.1 at all */
	mbedtls_ssl_conf_min_version(&ssl_conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	                             MBEDTLS_SSL_MINOR_VERSION_3);
#endif
	mbedtls_ssl_conf_rng(&ssl_conf, mbedtls_ctr_drbg_random, &drbg);
	if ((r = mbedtls_ssl_conf_own_cert(&ssl_conf, &srv_cert, &srv_key)) != 0)
		return tls_fail("server certificate", r);
	return true;
}

static void tls_free(void)
{
	mbedtls_ssl_config_free(&ssl_conf);
	mbedtls_pk_free(&srv_key);
	mbedtls_x509_crt_free(&srv_cert);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
}

static void child(int cfd, int lfd, pid_t parent, const sigset_t *mask)
{
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };
	close(lfd);
	for (unsigned i = 0; i < bh_count; i++)
		close(bh_fds[i]);
	/* Children die with the server, whatever kills it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	alarm(CHILD_MAX_S);
	/* A forked DRBG would hand every child the same "random" bytes. */
	pid_t me = getpid();
	if (tls && mbedtls_ctr_drbg_reseed(&drbg, (const unsigned char *)&me, sizeof me) != 0)
		_exit(1);
	fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	handle(cfd);
	_exit(0); /* no atexit work (or LeakSanitizer) for the parent's heap */
}

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_chld(int sig)
{
	(void)sig; /* only here to interrupt pselect() */
}

static bool write_port_file(const char *path, unsigned value)
{
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp)
		return false;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	bool ok = dprintf(fd, "%u\n", value) > 0;
	ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
	if (!ok)
		unlink(tmp);
	return ok;
}

/* Linux counts a listener's accept queue as full once it holds more than the backlog;
 * then every new SYN is dropped (not answered, not reset), so a client's connect() only
 * ends by its own timeout. */
static bool accept_queue_full(int lfd)
{
	struct tcp_info ti;
	socklen_t n = sizeof ti;
	memset(&ti, 0, sizeof ti);
	/* On a listener tcpi_unacked is the queue length and tcpi_sacked the backlog. */
	return getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &n) == 0 &&
	       ti.tcpi_unacked > ti.tcpi_sacked;
}

/* A listener on 127.0.0.1 with backlog 0 that is never accept()ed, its accept queue filled
 * by our own non-blocking clients (kept open) until a connect no longer completes: from
 * then on a connect() to it times out. Returns its port, or 0 (errno set). */
static unsigned blackhole_open(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sin;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return 0;
	bh_fds[bh_count++] = lfd;
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(lfd, 0) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0)
		return 0;
	for (unsigned tries = 0; tries < BLACKHOLE_MAX; tries++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return 0;
		int r = connect(fd, (struct sockaddr *)&sin, sizeof sin), soerr = 0;
		if (r != 0 && errno == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			socklen_t el = sizeof soerr;
			if (poll(&p, 1, BLACKHOLE_PROBE_MS) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) == 0 && soerr == 0)
				r = 0;
		}
		if (r == 0) { /* completed: it now sits in the accept queue; keep it there */
			bh_fds[bh_count++] = fd;
			continue;
		}
		close(fd); /* its SYN was dropped: it would only retry */
		if (accept_queue_full(lfd))
			return ntohs(sin.sin_port);
	}
	errno = EAGAIN;
	return 0;
}

/* The state directory the server made itself goes away with it. */
static void remove_state_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(state_fd, e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(path);
}

static int die(const char *what, const char *arg)
{
	fprintf(stderr, "st7dfu-faultsrv: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
	        strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	const char *root = NULL, *port_file = NULL, *cert = NULL, *key = NULL, *log_path = NULL;
	const char *state = NULL, *bh_port_file = NULL, *post_log = NULL;
	static char own_state[PATH_MAX];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool more = i + 1 < argc;
		if (!strcmp(a, "--root") && more)
			root = argv[++i];
		else if (!strcmp(a, "--port-file") && more)
			port_file = argv[++i];
		else if (!strcmp(a, "--log") && more)
			log_path = argv[++i];
		else if (!strcmp(a, "--post-log") && more)
			post_log = argv[++i];
		else if (!strcmp(a, "--state") && more)
			state = argv[++i];
		else if (!strcmp(a, "--blackhole-port-file") && more)
			bh_port_file = argv[++i];
		else if (!strcmp(a, "--tls") && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else
			root = port_file = NULL; /* anything unknown: usage */
	}
	if (!root || !port_file) {
		fprintf(stderr, "usage: st7dfu-faultsrv --root DIR --port-file FILE"
		                " [--tls CERT.pem KEY.pem] [--log FILE] [--state DIR]"
		                " [--blackhole-port-file FILE] [--post-log FILE]\n");
		return 2;
	}
	unlink(port_file); /* whoever waits for it must not read a stale port */
	if (bh_port_file)
		unlink(bh_port_file);
	if ((root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return die("--root", root);
	if (log_path &&
	    (log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		return die("--log", log_path);
	if (post_log &&
	    (post_log_fd = open(post_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		return die("--post-log", post_log);
	tls = cert != NULL;
	if (tls && !tls_init(cert, key))
		return 1;

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
		                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sin;
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(lfd, 128) != 0 || getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0)
		return die("listening on 127.0.0.1", NULL);
	port = ntohs(sin.sin_port);
	fcntl(lfd, F_SETFL, O_NONBLOCK); /* a connection reset before accept() must not block */
	if (!state) {
		const char *tmpdir = getenv("TMPDIR");
		snprintf(own_state, sizeof own_state, "%s/st7dfu-faultsrv.XXXXXX",
		         tmpdir && *tmpdir ? tmpdir : "/tmp");
		if (!mkdtemp(own_state))
			return die("mkdtemp", own_state);
	} else if (mkdir(state, 0755) != 0 && errno != EEXIST) {
		return die("--state", state);
	}
	if ((state_fd = open(state ? state : own_state, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return die("--state", state ? state : own_state);

	/* Signals stay blocked except inside pselect(): no stop request is lost. */
	sigset_t block, orig;
	struct sigaction sa;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &orig);
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);

	unsigned bh_port = bh_port_file ? blackhole_open() : 0;
	if (bh_port_file && !bh_port)
		return die("filling the blackhole listener on 127.0.0.1", NULL);
	/* The blackhole's port file first: once the main one appears, both are there. */
	if (bh_port_file && !write_port_file(bh_port_file, bh_port))
		return die("writing", bh_port_file);
	if (!write_port_file(port_file, port)) {
		int e = errno;
		if (bh_port_file)
			unlink(bh_port_file);
		errno = e;
		return die("writing", port_file);
	}
	pid_t self = getpid();
	unsigned children = 0;
	while (!stop) {
		fd_set rd;
		FD_ZERO(&rd);
		if (children < MAX_CHILDREN)
			FD_SET(lfd, &rd);
		int r = pselect(lfd + 1, &rd, NULL, NULL, NULL, &orig);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			children--;
		if (r <= 0 || !FD_ISSET(lfd, &rd))
			continue;
		int cfd = accept(lfd, NULL, NULL);
		if (cfd < 0)
			continue;
		pid_t pid = fork();
		if (pid == 0)
			child(cfd, lfd, self, &orig);
		if (pid > 0)
			children++;
		close(cfd);
	}

	close(lfd);
	for (unsigned i = 0; i < bh_count; i++)
		close(bh_fds[i]);
	unlink(port_file);
	if (bh_port_file)
		unlink(bh_port_file);
	if (!state)
		remove_state_dir(own_state);
	if (tls)
		tls_free();
	return 0;
}
