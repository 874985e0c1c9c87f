/* SPDX-License-Identifier: MIT */
#include "progress.h"

#include <string.h>

#include "json_writer.h"

void st7_progress_init(struct st7_progress_view *v, bool tty, bool json)
{
	memset(v, 0, sizeof(*v));
	v->tty = tty && !json;
	v->json = json;
}

static void json_event(const char *phase, size_t done, size_t total, struct st7_buf *out)
{
	struct st7_json j;
	st7_json_init(&j, out);
	st7_json_obj_begin(&j);
	st7_json_key(&j, "event");
	st7_json_str(&j, "progress");
	st7_json_key(&j, "phase");
	st7_json_str(&j, phase);
	st7_json_key(&j, "done");
	st7_json_uint(&j, done);
	st7_json_key(&j, "total");
	st7_json_uint(&j, total);
	st7_json_obj_end(&j);
	st7_buf_printf(out, "\n");
}

static void bar(const struct st7_progress_view *v, uint64_t now_ms, const char *phase, size_t done,
                size_t total, int pct, struct st7_buf *out)
{
	if (total <= 1) { /* a phase without bytes to count: detach, manifest */
		st7_buf_printf(out, "\r%-9s %s", phase, done >= total ? "done" : "...");
		return;
	}
	double secs = (double)(now_ms - v->start_ms) / 1000.0;
	double rate = secs > 0 ? (double)done / secs : 0;
	double eta = rate > 0 && total > done ? (double)(total - done) / rate : 0;
	int filled = pct / 5;
	st7_buf_printf(out, "\r%-9s [%.*s%*s] %3d%% %zu/%zu B %6.1f KiB/s ETA %3.0fs", phase,
	               filled, "####################", 20 - filled, "", pct, done, total,
	               rate / 1024.0, eta);
}

void st7_progress_update(struct st7_progress_view *v, uint64_t now_ms, const char *phase,
                         size_t done, size_t total, struct st7_buf *out)
{
	int pct = total ? (int)(done * 100 / total) : 100;
	bool new_phase = !v->phase || strcmp(v->phase, phase) != 0;
	if (new_phase) {
		if (v->tty && v->phase)
			st7_buf_printf(out, "\n");
		v->phase = phase;
		v->start_ms = now_ms;
		v->last_pct = -1;
	}
	if (v->json) {
		if (new_phase || pct == 100 || now_ms - v->last_ms >= 250) {
			json_event(phase, done, total, out);
			v->last_ms = now_ms;
		}
		return;
	}
	if (!v->tty) {
		if (new_phase)
			st7_buf_printf(out, "st7dfu: %s...\n", phase);
		return;
	}
	if (pct == v->last_pct && now_ms - v->last_ms < 200)
		return;
	bar(v, now_ms, phase, done, total, pct, out);
	v->last_pct = pct;
	v->last_ms = now_ms;
}

void st7_progress_end(struct st7_progress_view *v, struct st7_buf *out)
{
	if (v->tty && v->phase)
		st7_buf_printf(out, "\n");
	v->phase = NULL;
}
