/* SPDX-License-Identifier: MIT */
/*
 * Logging in the style of OpenWrt's ulog: one call site API, a sink chosen once by
 * main.c (stderr for interactive use, syslog for a service). Engines never print; they
 * log through here or report through callbacks.
 */
#ifndef ST7_LOG_H
#define ST7_LOG_H

#include <stdbool.h>

enum st7_log_level { ST7_LOG_ERR = 3, ST7_LOG_WARN = 4, ST7_LOG_INFO = 6, ST7_LOG_DEBUG = 7 };

enum st7_log_sink { ST7_LOG_STDERR, ST7_LOG_SYSLOG };

/* Configure once, from main.c. Defaults: stderr, ST7_LOG_INFO, ident "st7dfu". */
void st7_log_open(enum st7_log_sink sink, enum st7_log_level threshold, const char *ident);
void st7_log_close(void);

void st7_log(enum st7_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define st7_err(...) st7_log(ST7_LOG_ERR, __VA_ARGS__)
#define st7_warn(...) st7_log(ST7_LOG_WARN, __VA_ARGS__)
#define st7_info(...) st7_log(ST7_LOG_INFO, __VA_ARGS__)
#define st7_debug(...) st7_log(ST7_LOG_DEBUG, __VA_ARGS__)

#endif
