/* SPDX-License-Identifier: MIT */
/*
 * formats/ini_doc: what a document may hold and what is refused (with NAME:LINE), the
 * callbacks' order and line numbers, section splitting and the nearest-key suggestion.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ini_doc.h"

/* Every callback as one line of text: "S<line>[sec]" or "E<line>[sec]key=<value>". */
struct trace {
	char text[2048];
	const char *fail_key; /* on_entry fails on this key */
};

static void add(struct trace *t, const char *s)
{
	strncat(t->text, s, sizeof(t->text) - strlen(t->text) - 1);
}

static int on_section(void *arg, const char *section, unsigned line, struct st7_diag *d)
{
	char b[512];
	(void)d;
	snprintf(b, sizeof(b), "S%u[%s]", line, section);
	add(arg, b);
	return ST7_OK;
}

static int on_entry(void *arg, const char *section, const char *key, const char *value,
                    unsigned line, struct st7_diag *d)
{
	struct trace *t = arg;
	char b[512];
	if (t->fail_key && strcmp(key, t->fail_key) == 0)
		return st7_diag_set(d, ST7_ERR_RANGE, "callback refused '%s'", key);
	snprintf(b, sizeof(b), "E%u[%s]%s=<%.200s>", line, section, key, value);
	add(t, b);
	return ST7_OK;
}

static void test_documents(void)
{
	static const struct {
		const char *doc;
		int ret;
		const char *expect; /* the trace, or a substring of the diag on error */
	} cases[] = {
		{ "", ST7_OK, "" },
		{ "[a]\nk = v\n", ST7_OK, "S1[a]E2[a]k=<v>" },
		{ "[a]\r\nk: v\r\n[b]\r\n", ST7_OK, "S1[a]E2[a]k=<v>S3[b]" },
		{ "\xEF\xBB\xBF[a]\nk=v", ST7_OK, "S1[a]E2[a]k=<v>" },
		{ "; c\n# c\n\n[s]\nk = v ; comment\n", ST7_OK, "S4[s]E5[s]k=<v>" },
		{ "[s]\nk = a;b\n", ST7_OK, "S1[s]E2[s]k=<a;b>" },
		{ "[s]\nk = \"  sp  \"\n", ST7_OK, "S1[s]E2[s]k=<  sp  >" },
		{ "[s]\nk = \"\"\n", ST7_OK, "S1[s]E2[s]k=<>" },
		{ "[release \"r 1\"] ; c\n  [x]\n", ST7_OK, "S1[release \"r 1\"]S2[x]" },
		{ "  k = v\n", ST7_OK, "E1[]k=<v>" },
		{ "[s]\n\tk = v\n", ST7_OK, "S1[s]E2[s]k=<v>" },
		{ "[s]\nk = v\n  ; indented comment\n", ST7_OK, "S1[s]E2[s]k=<v>" },
		/* refused */
		{ "[s]\nk = v\n  more\n", ST7_ERR_FORMAT, "t.ini:3: unexpected indented line" },
		{ "[s]\nk = v\n  j = w\n", ST7_ERR_FORMAT, "t.ini:3: unexpected indented line" },
		{ "[s]\nk = v\n\t[t]\n", ST7_ERR_FORMAT, "t.ini:3: unexpected indented line" },
		{ "[s]\nk = \"abc\n", ST7_ERR_FORMAT, "t.ini:2: missing closing quote" },
		{ "[s]\nk = \"\n", ST7_ERR_FORMAT, "t.ini:2: missing closing quote" },
		{ "[s]\nk = \"a ; b\"\n", ST7_ERR_FORMAT, "t.ini:2: missing closing quote" },
		{ "[s]\nno equals\n", ST7_ERR_FORMAT, "t.ini:2: expected 'key = value'" },
		{ "[s]\nk ; = v\n", ST7_ERR_FORMAT, "t.ini:2: expected 'key = value'" },
		{ "[s\n", ST7_ERR_FORMAT, "t.ini:1: missing ']'" },
		{ "[s ;c]\n", ST7_ERR_FORMAT, "t.ini:1: missing ']'" },
		{ "[s] x\n", ST7_ERR_FORMAT, "t.ini:1: text after ']'" },
		{ "[s]\n= v\n", ST7_ERR_FORMAT, "t.ini:2: empty key" },
		{ "[s]\nk = a\x01\n", ST7_ERR_FORMAT, "t.ini:2: control character 0x01" },
		{ "[s]\nk = a\rb\n", ST7_ERR_FORMAT, "t.ini:2: control character 0x0d" },
		{ "[s]\nk = \x7f\n", ST7_ERR_FORMAT, "t.ini:2: control character 0x7f" },
		{ "[s]\nbad = 1\nk = v\n", ST7_ERR_RANGE, "t.ini:2: callback refused 'bad'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct trace t = { .fail_key = "bad" };
		struct st7_diag d = { "" };
		int ret = st7_ini_parse("t.ini", (const uint8_t *)cases[i].doc,
		                        strlen(cases[i].doc), on_section, on_entry, &t, &d);
		CHECK_INT(ret, cases[i].ret);
		if (ret != cases[i].ret)
			fprintf(stderr, "  case %zu: %s\n", i, d.msg);
		if (cases[i].ret == ST7_OK)
			CHECK(strcmp(t.text, cases[i].expect) == 0 ||
			      (fprintf(stderr, "  case %zu trace %s\n", i, t.text), 0));
		else
			CHECK_HAS(d.msg, cases[i].expect);
	}
	/* A NUL byte, which a C string cannot hold. */
	struct trace t = { 0 };
	struct st7_diag d = { "" };
	const uint8_t nul[] = "[s]\nk = a\0b\n";
	CHECK_INT(st7_ini_parse("t.ini", nul, sizeof(nul) - 1, on_section, on_entry, &t, &d),
	          ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "t.ini:2: control character 0x00");
	/* Nothing after the first error is called. */
	CHECK(strcmp(t.text, "S1[s]") == 0);
	CHECK_INT(st7_ini_parse("t.ini", NULL, 0, on_section, on_entry, &t, &d), ST7_OK);
}

static void test_long_lines(void)
{
	size_t n = ST7_INI_MAX_LINE + 16;
	char *doc = malloc(n + 16);
	struct trace t = { 0 };
	struct st7_diag d = { "" };
	CHECK(doc != NULL);
	if (!doc)
		return;
	/* Exactly ST7_INI_MAX_LINE bytes: read whole, with CRLF too. */
	memcpy(doc, "[s]\nk=", 6);
	memset(doc + 6, 'x', ST7_INI_MAX_LINE - 2);
	memcpy(doc + 6 + ST7_INI_MAX_LINE - 2, "\r\nj=1\n", 6);
	size_t len = 6 + ST7_INI_MAX_LINE - 2 + 6;
	int ret = st7_ini_parse("t.ini", (const uint8_t *)doc, len, on_section, NULL, &t, &d);

	/* Where inih's buffer cannot be raised, the line is refused rather than cut. */
	CHECK(ret == ST7_OK || (ret == ST7_ERR_FORMAT && strstr(d.msg, "t.ini:2: line longer")));
	if (ret != ST7_OK)
		fprintf(stderr, "note: this inih refuses a %d-byte line: %s\n", ST7_INI_MAX_LINE,
		        d.msg);
	/* One byte more: refused, never truncated. */
	memcpy(doc, "[s]\nk=", 6);
	memset(doc + 6, 'x', ST7_INI_MAX_LINE - 1);
	memcpy(doc + 6 + ST7_INI_MAX_LINE - 1, "\n", 1);
	ret = st7_ini_parse("t.ini", (const uint8_t *)doc, 6 + ST7_INI_MAX_LINE, on_section, NULL,
	                    &t, &d);
	CHECK_INT(ret, ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "t.ini:2: line longer than");
	free(doc);
}

/* The value of a 3000-byte line arrives whole (the runtime-limit build). */
static int long_entry(void *arg, const char *section, const char *key, const char *value,
                      unsigned line, struct st7_diag *d)
{
	(void)section;
	(void)key;
	(void)line;
	(void)d;
	*(size_t *)arg = strlen(value);
	return ST7_OK;
}

static void test_long_value(void)
{
	char doc[3100];
	size_t got = 0;
	struct st7_diag d = { "" };
	memcpy(doc, "[s]\nk=", 6);
	memset(doc + 6, 'y', 3000);
	int ret = st7_ini_parse("t.ini", (const uint8_t *)doc, 3006, NULL, long_entry, &got, &d);
	/* Whole, or refused where inih's line buffer is fixed: never cut. */
	CHECK(ret == ST7_OK ? got == 3000 : ret == ST7_ERR_FORMAT);
	if (ret != ST7_OK)
		fprintf(stderr, "note: this inih refuses a 3000-byte line: %s\n", d.msg);
}

static void test_section_split(void)
{
	static const struct {
		const char *s;
		int ret;
		const char *kind, *name;
		int has_name;
	} cases[] = {
		{ "agent", ST7_OK, "agent", "", 0 },
		{ "device \"card reader\"", ST7_OK, "device", "card reader", 1 },
		{ "release\t \"r_1\"", ST7_OK, "release", "r_1", 1 },
		{ "a_1", ST7_OK, "a_1", "", 0 },
		{ "", ST7_ERR_FORMAT, NULL, NULL, 0 },
		{ "Agent", ST7_ERR_FORMAT, NULL, NULL, 0 },
		{ " agent", ST7_ERR_FORMAT, NULL, NULL, 0 },
		{ "agent ", ST7_ERR_FORMAT, NULL, NULL, 0 },
		{ "device card", ST7_ERR_FORMAT, NULL, NULL, 0 },
		{ "device \"\"", ST7_ERR_FORMAT, NULL, NULL, 0 },
		{ "device \"a", ST7_ERR_FORMAT, NULL, NULL, 0 },
		{ "device \"a\" x", ST7_ERR_FORMAT, NULL, NULL, 0 },
		{ "device \"a\tb\"", ST7_ERR_FORMAT, NULL, NULL, 0 },
		{ "device \"0123456789abcdef\"", ST7_ERR_FORMAT, NULL, NULL, 0 }, /* name_cap 16 */
		{ "device \"0123456789abcde\"", ST7_OK, "device", "0123456789abcde", 1 },
		{ "averyveryverylongkind", ST7_ERR_FORMAT, NULL, NULL, 0 }, /* kind_cap 16 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char kind[16] = "?", name[16] = "?";
		int has = -1;
		struct st7_diag d = { "" };
		int ret = st7_ini_section_split(cases[i].s, kind, sizeof(kind), name, sizeof(name),
		                                &has, &d);
		CHECK_INT(ret, cases[i].ret);
		if (ret == ST7_OK && cases[i].ret == ST7_OK) {
			CHECK(strcmp(kind, cases[i].kind) == 0);
			CHECK(strcmp(name, cases[i].name) == 0);
			CHECK_INT(has, cases[i].has_name);
		} else if (ret != ST7_OK) {
			CHECK(d.msg[0] != '\0');
		}
	}
}

static void test_nearest(void)
{
	static const char *const words[] = { "poll_interval", "url",     "size",
		                             "serial",        "channel", NULL };
	static const struct {
		const char *w, *near;
	} cases[] = {
		{ "polll_interval", "poll_interval" },
		{ "pol_intervall", "poll_interval" },
		{ "serail", "serial" }, /* a swap is two edits */
		{ "chanel", "channel" },
		{ "ur", "url" },
		{ "sise", "size" },
		{ "siz", "size" },
		{ "sz", NULL }, /* two edits from a four-letter word */
		{ "urlll", NULL },
		{ "completely_different", NULL },
		{ "", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *n = st7_ini_nearest(cases[i].w, words);
		CHECK(cases[i].near ? n && strcmp(n, cases[i].near) == 0 : n == NULL);
	}
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(st7_ini_nearest(big, words) == NULL);
}

int main(void)
{
	test_documents();
	test_long_lines();
	test_long_value();
	test_section_split();
	test_nearest();
	return check_report();
}
