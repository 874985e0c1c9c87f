/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics: st7_diag_prefix adds context in place, and a message that does not fit is
 * cut visibly ("..." at its end), never silently; every error code has a name and a text.
 */
#include <string.h>

#include "check.h"
#include "err.h"

static void fill(char *s, size_t n, char c)
{
	memset(s, c, n);
	s[n] = '\0';
}

int main(void)
{
	struct st7_diag d = { "" };
	char big[ST7_DIAG_MAX * 2];

	/* Short messages: joined with ": ", nothing added. */
	CHECK_INT(st7_diag_set(&d, ST7_ERR_FORMAT, "line %d: bad", 3), ST7_ERR_FORMAT);
	CHECK_INT(st7_diag_prefix(&d, ST7_ERR_IO, "%s", "file.dfu"), ST7_ERR_IO);
	CHECK(strcmp(d.msg, "file.dfu: line 3: bad") == 0);
	st7_diag_prefix(&d, 0, "alt %u", 2u);
	CHECK(strcmp(d.msg, "alt 2: file.dfu: line 3: bad") == 0);

	/* An empty message gets the prefix alone. */
	st7_diag_clear(&d);
	st7_diag_prefix(&d, 0, "only");
	CHECK(strcmp(d.msg, "only") == 0);

	/* Exactly full: no cut mark. */
	fill(big, ST7_DIAG_MAX - 1 - 4, 'm');
	st7_diag_set(&d, 0, "%s", big);
	st7_diag_prefix(&d, 0, "%s", "ab");
	CHECK_INT(strlen(d.msg), ST7_DIAG_MAX - 1);
	CHECK(strncmp(d.msg, "ab: m", 5) == 0);
	CHECK(d.msg[ST7_DIAG_MAX - 2] == 'm');

	/* One byte too many: the message keeps its beginning and ends with "...". */
	fill(big, ST7_DIAG_MAX - 1 - 3, 'm');
	st7_diag_set(&d, 0, "%s", big);
	st7_diag_prefix(&d, 0, "%s", "ab");
	CHECK_INT(strlen(d.msg), ST7_DIAG_MAX - 1);
	CHECK(strncmp(d.msg, "ab: m", 5) == 0);
	CHECK(strcmp(d.msg + ST7_DIAG_MAX - 4, "...") == 0);

	/* A prefix longer than the whole message: cut and marked, no overflow (ASan). */
	fill(big, sizeof(big) - 1, 'p');
	st7_diag_set(&d, 0, "tail");
	st7_diag_prefix(&d, 0, "%s", big);
	CHECK_INT(strlen(d.msg), ST7_DIAG_MAX - 1);
	CHECK(d.msg[0] == 'p');
	CHECK(strcmp(d.msg + ST7_DIAG_MAX - 4, "...") == 0);

	/* st7_diag_set marks its own cut too. */
	st7_diag_set(&d, 0, "%s", big);
	CHECK(strcmp(d.msg + ST7_DIAG_MAX - 4, "...") == 0);
	fill(big, ST7_DIAG_MAX - 1, 'x');
	st7_diag_set(&d, 0, "%s", big);
	CHECK(strchr(d.msg, '.') == NULL);

	/* NULL diag is allowed everywhere. */
	CHECK_INT(st7_diag_set(NULL, ST7_ERR_IO, "x"), ST7_ERR_IO);
	CHECK_INT(st7_diag_prefix(NULL, ST7_ERR_IO, "x"), ST7_ERR_IO);

	/* Every code has a name and a text, and names are unique. */
	const char *names[40] = { 0 };
	for (int e = 0; e >= ST7_ERR_REFUSED; e--) {
		CHECK(strcmp(st7_err_name(e), "unknown") != 0);
		CHECK(strcmp(st7_strerror(e), "unknown error") != 0);
		names[-e] = st7_err_name(e);
		for (int k = 0; k < -e; k++)
			CHECK(strcmp(names[k], names[-e]) != 0);
	}
	CHECK(strcmp(st7_err_name(ST7_ERR_REFUSED - 1), "unknown") == 0);
	return check_report();
}
