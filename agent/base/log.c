/* SPDX-License-Identifier: MIT */
/*
 * The log sink is process state by nature (like syslog's own openlog); it is set once
 * from main.c before any other thread exists and only read afterwards.
 */
#define _DEFAULT_SOURCE /* vsyslog */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <unistd.h>

static struct {
	enum st7_log_sink sink;
	enum st7_log_level threshold;
	const char *ident;
	bool tty; /* stderr is a terminal: a progress bar may own the current line */
} log_cfg = { ST7_LOG_STDERR, ST7_LOG_INFO, "st7dfu", false };

void st7_log_open(enum st7_log_sink sink, enum st7_log_level threshold, const char *ident)
{
	log_cfg.sink = sink;
	log_cfg.threshold = threshold;
	log_cfg.ident = ident ? ident : "st7dfu";
	log_cfg.tty = isatty(STDERR_FILENO);
	if (sink == ST7_LOG_SYSLOG)
		openlog(log_cfg.ident, LOG_PID, LOG_DAEMON);
}

void st7_log_close(void)
{
	if (log_cfg.sink == ST7_LOG_SYSLOG)
		closelog();
	log_cfg.sink = ST7_LOG_STDERR;
}

void st7_log(enum st7_log_level level, const char *fmt, ...)
{
	static const char *const names[8] = { "", "", "", "error", "warning", "", "info", "debug" };
	va_list ap;

	if (level > log_cfg.threshold)
		return;
	va_start(ap, fmt);
	if (log_cfg.sink == ST7_LOG_SYSLOG) {
		vsyslog((int)level, fmt, ap);
	} else {
		char line[1024];
		vsnprintf(line, sizeof(line), fmt, ap);
		/* Clear a progress bar's line first; the bar redraws on its next update. */
		fprintf(stderr, "%s%s: %s: %s\n", log_cfg.tty ? "\r\033[K" : "", log_cfg.ident,
		        names[level & 7], line);
	}
	va_end(ap);
}
