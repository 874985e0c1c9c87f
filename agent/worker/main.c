/* SPDX-License-Identifier: MIT */
/*
 * st7dfu-fetch: the fetch worker (fetch_wire.h). Started by st7dfu with a socket as its
 * stdin and stdout: reads SETUP, starts libcurl, reads the PEM files SETUP names, drops
 * its privileges (backends.h), and only then serves GETs and POSTs one at a time,
 * streaming each GET's response back (a POST's answer is its END alone, with heartbeats
 * before it). Exits 0 on EOF, 1 when its parent went away or broke the wire, 2 when
 * started by hand. Its errors go back in END frames; stderr is for crashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "fetch_wire.h"
#include "log.h"

#define PROGRESS_EVERY_MS 100   /* at most ten PROGRESS frames a second */
#define HEARTBEAT_EVERY_MS 1000 /* "still here" while nothing can be shown */
#define READ_CHUNK 16384

struct worker {
	struct st7_buf in; /* bytes read, not yet consumed */
	struct st7_buf out;
	uint64_t last_progress_ms;
};

static int write_all(const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ST7_ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return ST7_OK;
}

/* Send what `out` holds; the parent gone is the end of this process. */
static void flush_out(struct worker *w)
{
	if (write_all(w->out.data, w->out.len) != ST7_OK)
		exit(1);
	st7_buf_clear(&w->out);
}

/* The next frame from stdin into `payload`; exits on EOF or a broken wire. */
static void read_frame(struct worker *w, enum st7_wire_type *type, struct st7_buf *payload)
{
	for (;;) {
		struct st7_diag d = { "" };
		const uint8_t *p;
		size_t len, used;
		/* (An empty buffer may have no storage yet: no arithmetic on NULL.) */
		const uint8_t *in_end = w->in.len ? w->in.data + w->in.len : w->in.data;
		if (st7_wire_frame(w->in.data, in_end, type, &p, &len, &used, &d))
			exit(1);
		if (used) {
			st7_buf_clear(payload);
			if (st7_buf_append(payload, p, len) != ST7_OK)
				exit(1);
			memmove(w->in.data, w->in.data + used, w->in.len - used);
			w->in.len -= used;
			return;
		}
		if (st7_buf_reserve(&w->in, READ_CHUNK) != ST7_OK)
			exit(1);
		ssize_t r = read(STDIN_FILENO, w->in.data + w->in.len, READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && w->in.len == 0)
			exit(0);
		if (r <= 0)
			exit(1);
		w->in.len += (size_t)r;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int sink_begin(void *arg, const struct st7_fetch_response *r)
{
	struct worker *w = arg;
	if (st7_wire_put_begin(&w->out, r) != ST7_OK)
		return ST7_ERR_NOMEM;
	flush_out(w);
	return ST7_OK;
}

static int sink_write(void *arg, const uint8_t *p, size_t n)
{
	struct worker *w = arg;
	while (n) {
		size_t chunk = n < ST7_WIRE_DATA_MAX ? n : ST7_WIRE_DATA_MAX;
		if (st7_wire_put_data(&w->out, p, chunk) != ST7_OK)
			return ST7_ERR_NOMEM;
		flush_out(w);
		p += chunk;
		n -= chunk;
	}
	return ST7_OK;
}

/* Figures for st7dfu's display, and (0, 0) heartbeats while connecting, in the TLS
 * handshake or waiting for headers: st7dfu's backstop watches for silence, and libcurl
 * calls this about once a second even when nothing moves. */
static void on_progress(void *arg, const char *phase, size_t done, size_t total)
{
	struct worker *w = arg;
	uint64_t t = now_ms();
	(void)phase;
	if (total == 0 ? t - w->last_progress_ms < HEARTBEAT_EVERY_MS
	               : t - w->last_progress_ms < PROGRESS_EVERY_MS && done != total)
		return;
	w->last_progress_ms = t;
	if (st7_wire_put_progress(&w->out, done, total) == ST7_OK)
		flush_out(w);
}

static void send_end(struct worker *w, int result, const struct st7_fetch_response *resp,
                     const char *msg)
{
	struct st7_fetch_response r = *resp;
	/* libcurl passes any three digits on; the wire carries real statuses only (the
	 * message still names what the server said). */
	if (r.status < 100 || r.status > 599)
		r.status = 0;
	if (st7_wire_put_end(&w->out, result, &r, msg) != ST7_OK)
		exit(1);
	flush_out(w);
}

/* SETUP: libcurl's global setup and the files first (they may be root's), then the
 * privileges go. Nothing from the network is parsed before the drop. */
static int set_up(const struct st7_wire_setup *setup, struct st7_fetcher *f, struct st7_diag *d)
{
	int ret = st7_fetch_curl_global_init(d);
	if (ret == ST7_OK)
		ret = st7_fetch_curl_init(f, &setup->o, d);
	/* A CA or client file that cannot be used is a TLS failure, as libcurl would have
	 * said (exit 11); nothing that could touch the cache's partial files. */
	if (ret == ST7_OK && st7_fetch_curl_preload(f, d) != ST7_OK)
		ret = ST7_ERR_TLS;
	if (ret == ST7_OK && st7_drop_privileges(setup->user, d) != ST7_OK)
		ret = ST7_ERR_WORKER;
	if (ret != ST7_OK && ret != ST7_ERR_TLS)
		ret = ST7_ERR_WORKER;
	/* Never fetch unconfined or half set up: every GET gets this error. */
	if (ret != ST7_OK)
		st7_fetch_free(f);
	return ret;
}

/* Started with stdin, stdout or stderr closed, the next file opened would take its
 * number and receive what is meant for it (a log line in a download). /dev/null fills
 * the gaps first. */
static void std_fds_open(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			abort();
}

int main(int argc, char **argv)
{
	struct worker w = { .last_progress_ms = 0 };
	struct st7_wire_setup *setup = calloc(1, sizeof(*setup));
	struct st7_wire_get *get = calloc(1, sizeof(*get));
	struct st7_wire_post *post = calloc(1, sizeof(*post));
	struct st7_fetcher f = { NULL, NULL };
	struct st7_diag setup_err = { "" };
	struct st7_buf payload;
	enum st7_wire_type type;
	(void)argv;

	std_fds_open();
	/* st7dfu says what matters (END frames carry the messages): only errors here. */
	st7_log_open(ST7_LOG_STDERR, ST7_LOG_ERR, "st7dfu-fetch");
	if (argc != 1 || isatty(STDIN_FILENO) || isatty(STDOUT_FILENO)) {
		fprintf(stderr,
		        "st7dfu-fetch: the fetch worker of st7dfu; it is not run by hand\n");
		return 2;
	}
	/* Tied to st7dfu from the start: nothing below (a PEM file that is a FIFO, a slow
	 * DNS) outlives it. Set again after the privilege drop, which clears it. */
	pid_t parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent)
		return 1;
	/* Ctrl-C on the terminal or a service stop reaches the whole process group: those
	 * are st7dfu's to handle, and it ends us when it wants to. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	st7_buf_init(&w.in);
	st7_buf_init(&w.out);
	st7_buf_init(&payload);
	if (!setup || !get || !post)
		return 1;

	read_frame(&w, &type, &payload);
	if (type != ST7_WIRE_SETUP ||
	    st7_wire_get_setup(payload.data, payload.len, setup, &setup_err) != ST7_OK)
		return 1;
	int setup_ret = set_up(setup, &f, &setup_err);

	for (;;) {
		struct st7_fetch_response resp;
		struct st7_diag d = { "" };
		read_frame(&w, &type, &payload);
		/* Requests only, each checked whole before anything is done with it. */
		if (type == ST7_WIRE_GET) {
			if (st7_wire_get_get(payload.data, payload.len, get, &d))
				return 1;
		} else if (type == ST7_WIRE_POST) {
			if (st7_wire_get_post(payload.data, payload.len, post, &d))
				return 1;
		} else {
			return 1;
		}
		memset(&resp, 0, sizeof(resp));
		resp.complete_size = UINT64_MAX;
		resp.last_modified = -1;
		resp.retry_after_s = -1;
		if (setup_ret != ST7_OK) {
			send_end(&w, setup_ret, &resp, setup_err.msg);
			continue;
		}
		w.last_progress_ms = 0;
		int ret;
		if (type == ST7_WIRE_POST) {
			post->r.abort_flag = NULL; /* st7dfu stops us by killing us */
			st7_fetch_curl_set_heartbeat(&f, on_progress, &w);
			ret = st7_fetch_post(&f, &post->r, &resp, &d);
			/* No body goes back: the status and Retry-After are the answer. */
			resp.body_offset = 0;
			resp.complete_size = UINT64_MAX;
			resp.received = 0;
			resp.etag[0] = '\0';
			resp.last_modified = -1;
		} else {
			struct st7_fetch_sink sink = { sink_begin, sink_write, &w };
			get->r.progress = on_progress;
			get->r.progress_arg = &w;
			get->r.abort_flag = NULL; /* st7dfu stops us by killing us */
			ret = f.ops->get(&f, &get->r, &sink, &resp, &d);
		}
		send_end(&w, ret, &resp, d.msg);
	}
}
