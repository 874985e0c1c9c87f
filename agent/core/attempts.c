/* SPDX-License-Identifier: MIT */
#include "attempts.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "manifest_source.h"
#include "state_dir.h"

#define HEADER "# st7dfu attempts history: written by the agent (failures per device and release)\n"

/* Can the INI reader give back `s` unchanged from `key = "s"`? The reason when not. */
static const char *ini_unsafe(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		return "too long";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return "a control character";
		if (c == ';' && i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
			return "a ';' after a blank (an INI comment)";
	}
	return NULL;
}

static int put_entry(struct st7_buf *b, size_t no, const struct st7_plan_attempts *a)
{
	int ret = st7_buf_printf(
	        b, "\n[attempt \"%zu\"]\nserial = \"%s\"\nrelease = \"%s\"\nsha256 = ", no,
	        a->serial, a->release);
	for (size_t i = 0; ret == ST7_OK && i < sizeof(a->sha256); i++)
		ret = st7_buf_printf(b, "%02x", a->sha256[i]);
	return ret ? ret : st7_buf_printf(b, "\nfailures = %u\n", a->failures);
}

/* Bytes put_entry() writes for `a` numbered `no`. */
static size_t entry_size(size_t no, const struct st7_plan_attempts *a)
{
	char num[24];
	int k = snprintf(num, sizeof(num), "%zu", no);
	char fl[16];
	int f = snprintf(fl, sizeof(fl), "%u", a->failures);
	return sizeof("\n[attempt \"\"]\nserial = \"\"\nrelease = \"\"\nsha256 = ") - 1 +
	       (size_t)k + strlen(a->serial) + strlen(a->release) + 64 + sizeof("\nfailures = \n") -
	       1 + (size_t)f;
}

int st7_attempts_set(struct st7_store *s, const char *state_dir, const char *serial,
                     const char *release, const uint8_t sha256[32], unsigned failures,
                     struct st7_diag *d)
{
	int ret = ST7_ERR_INVALID;
	struct st7_plan_attempts *v = NULL, *grown;
	size_t n = 0, first, total, kept;
	char path[PATH_MAX];
	const char *why;
	struct st7_buf b;
	st7_buf_init(&b);
	if (!s || !state_dir || !serial || !release || !sha256) {
		st7_diag_set(d, ret, "attempts history: bad arguments");
		goto cleanup;
	}
	if ((why = ini_unsafe(serial, sizeof(v->serial) - 1)) != NULL) {
		st7_diag_set(d, ret, "attempts history: serial \"%.64s\" cannot be recorded: %s",
		             serial, why);
		goto cleanup;
	}
	if ((why = ini_unsafe(release, sizeof(v->release) - 1)) != NULL) {
		st7_diag_set(d, ret, "attempts history: release \"%.64s\" cannot be recorded: %s",
		             release, why);
		goto cleanup;
	}
	if (failures > ST7_ATTEMPTS_FAILURES_MAX) {
		st7_diag_set(d, ret, "attempts history: %u failures, more than %u", failures,
		             ST7_ATTEMPTS_FAILURES_MAX);
		goto cleanup;
	}
	if (st7_state_path(path, sizeof(path), state_dir, ST7_ATTEMPTS_FILE) != ST7_OK) {
		st7_diag_set(d, ret, "--state-dir: path too long");
		goto cleanup;
	}
	if ((ret = st7_attempts_load(s, state_dir, &v, &n, d)) != ST7_OK)
		goto cleanup;
	/* Take the pair out (whatever its sha256), then add it at the end. */
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].serial, serial) != 0 || strcmp(v[i].release, release) != 0)
			v[w++] = v[i];
	n = w;
	grown = realloc(v, (n + 1) * sizeof(*v));
	if (!grown) {
		ret = st7_diag_set(d, ST7_ERR_NOMEM, "attempts history: out of memory");
		goto cleanup;
	}
	v = grown;
	memset(&v[n], 0, sizeof(v[n]));
	snprintf(v[n].serial, sizeof(v[n].serial), "%s", serial);
	snprintf(v[n].release, sizeof(v[n].release), "%s", release);
	memcpy(v[n].sha256, sha256, sizeof(v[n].sha256));
	v[n].failures = failures;
	n++;
	/* The newest entries that fit both bounds (numbers counted at their widest). */
	total = sizeof(HEADER) - 1;
	kept = 0;
	for (first = n; first > 0 && kept < ST7_ATTEMPTS_MAX_RECORDS; first--, kept++) {
		size_t sz = entry_size(ST7_ATTEMPTS_MAX_RECORDS, &v[first - 1]);
		if (total + sz > ST7_ATTEMPTS_FILE_MAX)
			break;
		total += sz;
	}
	ret = st7_buf_printf(&b, "%s", HEADER);
	for (size_t i = first; ret == ST7_OK && i < n; i++)
		ret = put_entry(&b, i - first + 1, &v[i]);
	if (ret) {
		st7_diag_set(d, ret, "attempts history: out of memory");
		goto cleanup;
	}
	ret = st7_store_write_atomic(s, path, b.data, b.len, 0600, 0, d);
cleanup:
	free(v);
	st7_buf_free(&b);
	return ret;
}
