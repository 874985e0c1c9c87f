/* SPDX-License-Identifier: MIT */
/*
 * The fetch interface through the fetch worker (fetch.h, fetch_wire.h): this process
 * starts st7dfu-fetch on a socket pair, sends it GETs and POSTs and checks every frame it
 * sends back as it would check network input. Whatever goes wrong with the worker is an
 * error of that request (ST7_ERR_WORKER), and the worker is killed and reaped before
 * get() or post() returns: no zombie, no second worker, nothing left half-read on the
 * socket.
 */
#define _GNU_SOURCE /* close_range, MSG_NOSIGNAL */
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fetch_wire.h"
#include "log.h"

#ifndef ST7_FETCH_WORKER_INSTALLED
#define ST7_FETCH_WORKER_INSTALLED "/usr/libexec/st7dfu/st7dfu-fetch"
#endif
#define WORKER_NAME "st7dfu-fetch"
#define TICK_MS 100       /* how often the abort flag is looked at while waiting */
#define GRACE_S 5         /* beyond the download's own total timeout, before "hung" */
#define SILENCE_S 10      /* without a frame (heartbeats come every second): "hung" */
#define EXIT_WAIT_MS 1000 /* for a worker told to finish, before it is killed */

struct worker_fetcher {
	struct st7_fetch_opts o;
	const char *user;
	pid_t pid; /* 0: none running */
	int fd;    /* our end of the socket pair, -1 when none */
	struct st7_buf in;
	char path[PATH_MAX];
	st7_fetch_progress_fn alive; /* every frame of progress, heartbeats included */
	void *alive_arg;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The worker's executable: the environment's; beside ours (the build tree); where an
 * installation relative to ours puts it (BIN/../libexec/st7dfu/, a relocated prefix);
 * or where this build installs it. */
static int find_worker(struct worker_fetcher *w, struct st7_diag *d)
{
	static const char *const relative[] = { WORKER_NAME, "../libexec/st7dfu/" WORKER_NAME };
	const char *env = getenv("ST7DFU_FETCH_WORKER");
	char self[PATH_MAX];
	if (env && *env) {
		if ((size_t)snprintf(w->path, sizeof(w->path), "%s", env) >= sizeof(w->path))
			return st7_diag_set(d, ST7_ERR_WORKER, "ST7DFU_FETCH_WORKER: too long");
		return ST7_OK;
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash = n > 0 ? (self[n] = '\0', strrchr(self, '/')) : NULL;
	if (slash)
		slash[1] = '\0';
	for (size_t i = 0; slash && i < sizeof(relative) / sizeof(relative[0]); i++)
		if ((size_t)snprintf(w->path, sizeof(w->path), "%s%s", self, relative[i]) <
		            sizeof(w->path) &&
		    access(w->path, X_OK) == 0)
			return ST7_OK;
	snprintf(w->path, sizeof(w->path), "%s", ST7_FETCH_WORKER_INSTALLED);
	return ST7_OK;
}

/* Reap the worker, killing it unless it exits within `grace_ms` by itself; describe how
 * it ended into `how`. A worker that closed its socket but lives on is not waited for. */
static void reap(struct worker_fetcher *w, unsigned grace_ms, char *how, size_t cap)
{
	int st = 0;
	if (!w->pid)
		return;
	pid_t got = 0;
	for (unsigned waited = 0; (got = waitpid(w->pid, &st, WNOHANG)) == 0 && waited < grace_ms;
	     waited += 5) {
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	if (got == 0) {
		kill(w->pid, SIGKILL);
		while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	if (how) {
		if (WIFSIGNALED(st))
			snprintf(how, cap, "was killed by signal %d", WTERMSIG(st));
		else
			snprintf(how, cap, "exited with status %d", WEXITSTATUS(st));
	}
	w->pid = 0;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	st7_buf_clear(&w->in);
}

/* The worker broke the wire or stopped answering: it is killed, and this GET fails. */
static int worker_failed(struct worker_fetcher *w, const char *url, const char *what,
                         struct st7_diag *d)
{
	reap(w, 0, NULL, 0);
	return st7_diag_set(d, ST7_ERR_WORKER, "%s: the fetch worker %s", url, what);
}

/* The worker's socket closed: say how it ended (a crash, an exit status). A signal to
 * the whole process group (Ctrl-C, a service stop) may reach the worker first: with the
 * abort flag up, that is the stop it is, not a failed download. */
static int worker_gone(struct worker_fetcher *w, const char *url,
                       const volatile sig_atomic_t *abort_flag, const char *what,
                       struct st7_diag *d)
{
	char how[64] = "ended";
	reap(w, 200, how, sizeof(how));
	if (abort_flag && *abort_flag)
		return st7_diag_set(d, ST7_ERR_ABORTED, "%s: download stopped by a signal", url);
	return st7_diag_set(d, ST7_ERR_WORKER, "%s: the fetch worker %s; it %s",
	                    url ? url : w->path, what, how);
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t s = send(fd, p, n, MSG_NOSIGNAL); /* a dead worker is no SIGPIPE here */
		if (s < 0 && errno == EINTR)
			continue;
		if (s <= 0)
			return ST7_ERR_IO;
		p += s;
		n -= (size_t)s;
	}
	return ST7_OK;
}

static int spawn(struct worker_fetcher *w, struct st7_diag *d)
{
	int sv[2];
	struct st7_buf setup;
	int ret = find_worker(w, d);
	if (ret)
		return ret;
	if (access(w->path, X_OK) != 0)
		return st7_diag_set(d, ST7_ERR_WORKER, "the fetch worker %s: %s", w->path,
		                    strerror(errno));
	/* Not root, the worker keeps our uid: it must not be able to ptrace us (patch out
	 * a signature check, borrow our devices). Not dumpable means exactly that. */
	if (geteuid() != 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return st7_diag_set(d, ST7_ERR_WORKER, "prctl: %s", strerror(errno));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return st7_diag_set(d, ST7_ERR_WORKER, "socketpair: %s", strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return st7_diag_set(d, ST7_ERR_WORKER, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. The worker gets the
		 * socket as stdin and stdout, our stderr, and no other descriptor (not a USB
		 * device, not a lock, not a backup). */
		/* A stop of the process group is ours to handle, and the worker ends with us:
		 * both hold from before exec (an ignored signal and PDEATHSIG survive it), not
		 * from when the worker's main() gets to say so itself. */
		struct sigaction ign = { .sa_handler = SIG_IGN };
		sigaction(SIGINT, &ign, NULL);
		sigaction(SIGTERM, &ign, NULL);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Started with stdin or stdout closed, the socket may itself be fd 0 or 1:
		 * move it out of the way first (dup2 onto itself would keep CLOEXEC). */
		int sock = sv[1] > STDERR_FILENO ? sv[1] : fcntl(sv[1], F_DUPFD, 3);
		if (sock < 0 || dup2(sock, STDIN_FILENO) < 0 || dup2(sock, STDOUT_FILENO) < 0)
			_exit(127);
#ifdef SYS_close_range
		if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
#endif
			for (int fd = 3; fd < 1024; fd++)
				close(fd);
		char *const argv[] = { (char *)WORKER_NAME, NULL };
		execv(w->path, argv);
		_exit(127);
	}
	close(sv[1]);
	w->pid = pid;
	w->fd = sv[0];
	st7_buf_init(&setup);
	ret = st7_wire_put_setup(&setup, &w->o, w->user);
	if (ret == ST7_OK && send_all(w->fd, setup.data, setup.len) != ST7_OK)
		ret = ST7_ERR_IO;
	st7_buf_free(&setup);
	if (ret == ST7_ERR_INVALID)
		ret = st7_diag_set(d, ST7_ERR_INVALID, "a fetch option is too long");
	else if (ret)
		ret = worker_gone(w, NULL, NULL, "did not start", d);
	if (ret)
		reap(w, 0, NULL, 0);
	else
		st7_debug("fetch worker %s started (pid %ld)", w->path, (long)pid);
	return ret;
}

/* One request's frames, as they come: a GET's (req, sink) or a POST's (post). */
struct exchange {
	const struct st7_fetch_request *req;
	const struct st7_fetch_sink *sink;
	const struct st7_fetch_post *post;
	struct st7_fetch_response *resp;
	uint64_t max, received;
	bool begun, ended;
	int result;
	st7_fetch_progress_fn alive;
	void *alive_arg;
};

/* An END that agrees with the request and with what the worker sent before it. A worker
 * decides nothing by its word alone: a success is a complete body (or a 304 to a
 * conditional request), and a stop is ours to announce, never the worker's. */
static int check_end(const struct exchange *x, const struct st7_wire_end *e, struct st7_diag *d)
{
	const struct st7_fetch_response *b = x->resp, *r = &e->resp;
	if (r->received != x->received)
		return st7_diag_set(d, ST7_ERR_FORMAT, "END counts %llu bytes, DATA had %llu",
		                    (unsigned long long)r->received,
		                    (unsigned long long)x->received);
	if (e->result == ST7_ERR_ABORTED)
		return st7_diag_set(d, ST7_ERR_FORMAT, "a stop nobody asked for");
	if (x->post) {
		/* A POST's answer has a status and maybe a Retry-After, nothing of a body. */
		if (r->body_offset != 0 || r->etag[0])
			return st7_diag_set(d, ST7_ERR_FORMAT, "a POST's END with a body's fields");
		if (e->result == ST7_OK && (r->status < 200 || r->status > 299))
			return st7_diag_set(d, ST7_ERR_FORMAT, "a POST's success with HTTP %ld",
			                    r->status);
		if (e->result == ST7_ERR_RANGE || e->result == ST7_ERR_TOO_LARGE)
			return st7_diag_set(d, ST7_ERR_FORMAT, "a POST cannot end so (%d)",
			                    e->result);
		return ST7_OK;
	}
	if (e->result != ST7_OK)
		return ST7_OK;
	if (!x->begun) {
		bool conditional = x->req->if_none_match || x->req->if_modified_since >= 0;
		if (r->status != 304 || !conditional)
			return st7_diag_set(d, ST7_ERR_FORMAT, "success without a response");
		return ST7_OK;
	}
	if (r->status != b->status || r->body_offset != b->body_offset ||
	    r->complete_size != b->complete_size || strcmp(r->etag, b->etag) != 0)
		return st7_diag_set(d, ST7_ERR_FORMAT, "an END for another response than BEGIN's");
	if (r->complete_size != UINT64_MAX && r->body_offset + r->received != r->complete_size)
		return st7_diag_set(d, ST7_ERR_FORMAT, "success with %llu of %llu bytes",
		                    (unsigned long long)(r->body_offset + r->received),
		                    (unsigned long long)r->complete_size);
	return ST7_OK;
}

/* One frame; ST7_OK, a sink's error, or ST7_ERR_FORMAT (the worker broke the wire). */
static int on_frame(struct exchange *x, enum st7_wire_type type, const uint8_t *p, size_t len,
                    struct st7_diag *d)
{
	int ret;
	if (x->post && (type == ST7_WIRE_BEGIN || type == ST7_WIRE_DATA))
		return st7_diag_set(d, ST7_ERR_FORMAT, "a body for a POST");
	switch (type) {
	case ST7_WIRE_BEGIN:
		if (x->begun)
			return st7_diag_set(d, ST7_ERR_FORMAT, "a second BEGIN");
		if ((ret = st7_wire_get_begin(p, len, x->resp, d)) != ST7_OK)
			return ret;
		if (x->resp->received != 0 ||
		    (x->resp->status == 206 && x->resp->body_offset != x->req->offset) ||
		    (x->resp->status == 200 && x->resp->body_offset != 0))
			return st7_diag_set(d, ST7_ERR_FORMAT, "a BEGIN for another range");
		x->begun = true;
		return x->sink->begin ? x->sink->begin(x->sink->arg, x->resp) : ST7_OK;
	case ST7_WIRE_DATA:
		if (!x->begun)
			return st7_diag_set(d, ST7_ERR_FORMAT, "DATA before BEGIN");
		/* The limits hold whatever the worker says. */
		if (x->resp->body_offset + x->received + len > x->max ||
		    (x->resp->complete_size != UINT64_MAX &&
		     x->resp->body_offset + x->received + len > x->resp->complete_size))
			return st7_diag_set(d, ST7_ERR_FORMAT, "DATA past the limit");
		if ((ret = x->sink->write(x->sink->arg, p, len)) != ST7_OK)
			return ret;
		x->received += len;
		x->resp->received = x->received;
		return ST7_OK;
	case ST7_WIRE_PROGRESS: {
		uint64_t done, total;
		if ((ret = st7_wire_get_progress(p, len, &done, &total, d)) != ST7_OK)
			return ret;
		/* (0, 0) is a heartbeat: the worker is alive, nothing to show yet. A POST
		 * has nothing to show at all; both tell `alive` (a daemon's watchdog) that
		 * the exchange goes on, however slow the server. */
		if (x->alive)
			x->alive(x->alive_arg, "alive", 0, 0);
		if (x->req && x->req->progress && total > 0 && done <= total && total <= x->max)
			x->req->progress(x->req->progress_arg, "fetch", (size_t)done,
			                 (size_t)total);
		return ST7_OK;
	}
	case ST7_WIRE_END: {
		struct st7_wire_end *e = malloc(sizeof(*e));
		if (!e)
			return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
		ret = st7_wire_get_end(p, len, e, d);
		if (ret == ST7_OK)
			ret = check_end(x, e, d);
		if (ret == ST7_OK) {
			*x->resp = e->resp;
			x->result = e->result;
			x->ended = true;
			if (e->result != ST7_OK)
				st7_diag_set(d, e->result, "%s",
				             e->msg[0] ? e->msg
				                       : "the fetch failed (no reason given)");
		}
		free(e);
		return ret;
	}
	default:
		return st7_diag_set(d, ST7_ERR_FORMAT, "a frame for the worker");
	}
}

/* Send one request frame (built in `frame`) and run its exchange to END: the worker's
 * result, a sink's error, ST7_ERR_WORKER, _ABORTED or _NOMEM. */
static int run_exchange(struct worker_fetcher *w, struct exchange *x, const struct st7_buf *frame,
                        const char *url, const volatile sig_atomic_t *abort_flag,
                        struct st7_diag *d)
{
	int ret;
	if (send_all(w->fd, frame->data, frame->len) != ST7_OK)
		return worker_gone(w, url, abort_flag, "is gone", d);

	/* Backstops only: libcurl in the worker enforces the real timeouts. The worker
	 * speaks at least once a second (heartbeats while connecting or waiting for headers),
	 * so a silence of SILENCE_S is a hung worker whatever the transfer is doing. */
	uint64_t start = now_ms(), last = start;
	uint64_t total_limit = ((uint64_t)w->o.total_timeout_s + GRACE_S) * 1000u;
	uint64_t idle_limit = (uint64_t)SILENCE_S * 1000u;
	for (;;) {
		enum st7_wire_type type;
		const uint8_t *p;
		size_t len, used;
		struct st7_diag fd_diag = { "" };
		/* (An empty buffer may have no storage yet: no arithmetic on NULL.) */
		const uint8_t *in_end = w->in.len ? w->in.data + w->in.len : w->in.data;
		ret = st7_wire_frame(w->in.data, in_end, &type, &p, &len, &used, &fd_diag);
		if (ret == ST7_OK && used) {
			ret = on_frame(x, type, p, len, &fd_diag);
			memmove(w->in.data, w->in.data + used, w->in.len - used);
			w->in.len -= used;
			if (ret == ST7_OK && x->ended) {
				if (x->result)
					*d = fd_diag;
				return x->result;
			}
			if (ret == ST7_OK)
				continue;
		}
		if (ret == ST7_ERR_FORMAT) {
			reap(w, 0, NULL, 0);
			return st7_diag_set(d, ST7_ERR_WORKER,
			                    "%s: the fetch worker broke the wire (%s)", url,
			                    fd_diag.msg);
		}
		if (ret) {
			/* The sink refused (disk full, ...): stop the transfer there. The sink
			 * speaks for itself, as with any fetcher. */
			reap(w, 0, NULL, 0);
			return ret;
		}
		if (abort_flag && *abort_flag) {
			reap(w, 0, NULL, 0);
			return st7_diag_set(d, ST7_ERR_ABORTED, "%s: download stopped by a signal",
			                    url);
		}
		uint64_t t = now_ms();
		if (t - start > total_limit || t - last > idle_limit)
			return worker_failed(w, url, "stopped answering", d);
		struct pollfd pfd = { w->fd, POLLIN, 0 };
		int n = poll(&pfd, 1, TICK_MS);
		if (n < 0 && errno != EINTR)
			return worker_failed(w, url, "cannot be waited for", d);
		if (n <= 0)
			continue;
		if (st7_buf_reserve(&w->in, 65536) != ST7_OK) {
			reap(w, 0, NULL, 0);
			return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
		}
		ssize_t r = read(w->fd, w->in.data + w->in.len, 65536);
		if (r < 0 && errno == EINTR)
			continue;
		/* A worker that exits with our request unread resets the socket. */
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return worker_gone(w, url, abort_flag, "ended mid-answer", d);
		if (r < 0)
			return worker_gone(w, url, abort_flag, "is unreadable", d);
		w->in.len += (size_t)r;
		last = t;
	}
}

static void resp_reset(struct st7_fetch_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->complete_size = UINT64_MAX;
	resp->last_modified = -1;
	resp->retry_after_s = -1;
}

static int worker_get(struct st7_fetcher *f, const struct st7_fetch_request *req,
                      const struct st7_fetch_sink *sink, struct st7_fetch_response *resp,
                      struct st7_diag *d)
{
	struct worker_fetcher *w = f->impl;
	struct exchange x = { req,   sink,  NULL,           resp,     0,           0,
		              false, false, ST7_ERR_WORKER, w->alive, w->alive_arg };
	struct st7_buf frame;
	int ret;
	x.max = req->max_size && req->max_size < w->o.max_size ? req->max_size : w->o.max_size;
	resp_reset(resp);

	if (!w->pid && (ret = spawn(w, d)) != ST7_OK)
		return ret;
	st7_buf_init(&frame);
	ret = st7_wire_put_get(&frame, req);
	if (ret == ST7_OK)
		ret = run_exchange(w, &x, &frame, req->url, req->abort_flag, d);
	else
		ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: too long for a request", req->url);
	st7_buf_free(&frame);
	return ret;
}

static int worker_post(struct st7_fetcher *f, const struct st7_fetch_post *req,
                       struct st7_fetch_response *resp, struct st7_diag *d)
{
	struct worker_fetcher *w = f->impl;
	struct exchange x = { NULL,  NULL,           req,      resp,        0, 0, false,
		              false, ST7_ERR_WORKER, w->alive, w->alive_arg };
	struct st7_buf frame;
	int ret;
	resp_reset(resp);

	/* Refused here, before a worker is started for it. */
	st7_buf_init(&frame);
	ret = st7_wire_put_post(&frame, req);
	if (ret == ST7_ERR_INVALID) {
		ret = st7_diag_set(d, ST7_ERR_INVALID,
		                   "%s: not a request that can be sent (URL, content type, or a "
		                   "body over %d bytes)",
		                   req->url ? req->url : "(no URL)", ST7_FETCH_POST_MAX);
		goto cleanup;
	}
	if (ret) {
		ret = st7_diag_set(d, ret, "out of memory");
		goto cleanup;
	}
	if (!w->pid && (ret = spawn(w, d)) != ST7_OK)
		goto cleanup;
	ret = run_exchange(w, &x, &frame, req->url, req->abort_flag, d);
cleanup:
	st7_buf_free(&frame);
	return ret;
}

static void worker_destroy(struct st7_fetcher *f)
{
	struct worker_fetcher *w = f->impl;
	if (!w)
		return;
	if (w->pid) {
		/* EOF tells it to finish; one that does not is killed. */
		shutdown(w->fd, SHUT_WR);
		reap(w, EXIT_WAIT_MS, NULL, 0);
	}
	st7_buf_free(&w->in);
	free(w);
	f->impl = NULL;
}

static const struct st7_fetch_ops worker_ops = {
	.get = worker_get,
	.destroy = worker_destroy,
	.post = worker_post,
};

void st7_fetch_worker_set_alive(struct st7_fetcher *f, st7_fetch_progress_fn fn, void *arg)
{
	struct worker_fetcher *w = f->impl;
	if (!w)
		return;
	w->alive = fn;
	w->alive_arg = arg;
}

int st7_fetch_worker_init(struct st7_fetcher *f, const struct st7_fetch_opts *o, const char *user,
                          struct st7_diag *d)
{
	f->ops = NULL;
	f->impl = NULL;
	struct worker_fetcher *w = calloc(1, sizeof(*w));
	if (!w)
		return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
	w->o = *o;
	w->user = user;
	w->fd = -1;
	st7_buf_init(&w->in);
	f->ops = &worker_ops;
	f->impl = w;
	if (o->allow_http)
		st7_warn("INSECURE: --allow-http accepts plain http:// and redirects to it; "
		         "for a lab only, never in the field");
	return ST7_OK;
}
