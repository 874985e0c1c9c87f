/* SPDX-License-Identifier: MIT */
/*
 * cli/man: the manual pages are rendered from the tables, so what can still go wrong is a
 * key the parsers know and the page has no words for, and roff that is not roff. Every
 * [device] and manifest key has a description; both pages render; every line that starts
 * with a control character is a macro the pages use on purpose (an escaped text line
 * starts with \&); nothing printed a NULL.
 */
#include "check.h"
#include "cli.h"
#include "manifest.h"
#include "policy.h"

static void test_descriptions(void)
{
	size_t n = 0;
	for (size_t i = 0; st7_device_rule_keys[i]; i++, n++) {
		const char *h = st7_man_device_key(st7_device_rule_keys[i]);
		if (!h || !h[0])
			fprintf(stderr, "[device] key %s: no description in man.c\n",
			        st7_device_rule_keys[i]);
		CHECK(h && h[0]);
	}
	CHECK(n >= 7);
	for (int release = 0; release <= 1; release++) {
		const char *const *names = st7_manifest_key_names(release);
		CHECK(names && names[0]);
		for (size_t i = 0; names && names[i]; i++) {
			const char *h = st7_man_manifest_key(release, names[i]);
			if (!h || !h[0])
				fprintf(stderr, "%s key %s: no description in man.c\n",
				        release ? "[release]" : "[manifest]", names[i]);
			CHECK(h && h[0]);
		}
	}
	CHECK(st7_man_device_key("nonsense") == NULL);
	CHECK(st7_man_manifest_key(false, "url") == NULL); /* a [release] key only */
	CHECK(st7_man_manifest_key(true, "url") != NULL);
}

/* The macros the pages may use; anything else at a line's start is text gone wrong. */
static bool known_macro(const char *line, size_t len)
{
	static const char *const ok[] = { "TH", "SH", "SS", "TP", "PP", "B",  "I",  "BR",
		                          "RI", "br", "RS", "RE", "EX", "EE", "sp", "\\\"" };
	size_t n = 1;
	while (n < len && line[n] != ' ')
		n++;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (n - 1 == strlen(ok[i]) && strncmp(line + 1, ok[i], n - 1) == 0)
			return true;
	return false;
}

static void check_page(unsigned section, const char *th)
{
	struct st7_buf b;
	st7_buf_init(&b);
	CHECK_INT(st7_man_render(section, &b), ST7_OK);
	CHECK(st7_buf_append_byte(&b, 0) == ST7_OK);
	const char *page = (const char *)b.data;
	CHECK(page && strstr(page, th) == page + strcspn(page, "\n") + 1);
	CHECK(page && !strstr(page, "(null)"));
	size_t lines = 0, bad = 0;
	for (const char *p = page; p && *p;) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		lines++;
		if ((p[0] == '.' || p[0] == '\'') && !known_macro(p, len)) {
			fprintf(stderr, "man %u: line %zu: %.*s\n", section, lines, (int)len, p);
			bad++;
		}
		/* Blank lines and trailing blanks are breaks roff was not asked for. */
		if (len == 0 || p[len - 1] == ' ') {
			fprintf(stderr, "man %u: line %zu: blank or ends in a blank\n", section,
			        lines);
			bad++;
		}
		p = end ? end + 1 : p + len;
	}
	CHECK_INT(bad, 0);
	CHECK(lines > 100);
	CHECK(b.len >= 2 && b.data[b.len - 2] == '\n'); /* ends with a whole line */
	st7_buf_free(&b);
}

static void test_pages(void)
{
	check_page(8, ".TH ST7DFU 8 ");
	check_page(5, ".TH ST7DFU.INI 5 ");
	struct st7_buf b;
	st7_buf_init(&b);
	CHECK_INT(st7_man_render(7, &b), ST7_ERR_INVALID);
	CHECK_INT(st7_man_render(8, NULL), ST7_ERR_INVALID);
	/* The exit codes and every command are in st7dfu(8). */
	CHECK_INT(st7_man_render(8, &b), ST7_OK);
	CHECK(st7_buf_append_byte(&b, 0) == ST7_OK);
	const char *page = (const char *)b.data;
	const struct st7_command *c;
	for (size_t i = 0; (c = st7_command_at(i)); i++) {
		char want[64];
		snprintf(want, sizeof(want), "\n.SS \"%s\"\n", c->name);
		if (!strstr(page, want))
			fprintf(stderr, "command %s: no section\n", c->name);
		CHECK(strstr(page, want));
	}
	CHECK(st7_command_at(0) && st7_command_find(st7_command_at(0)->name) == st7_command_at(0));
	CHECK(strstr(page, "\n\\fB16\\fR\n"));
	st7_buf_free(&b);
}

int main(void)
{
	test_descriptions();
	test_pages();
	return check_report();
}
