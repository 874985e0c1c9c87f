/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the INI core: callbacks see bounded, control-free text with
 * rising line numbers; an error carries a message; the first byte's low bit makes a
 * callback refuse one key, to exercise the error path after a callback fails.
 */
#include <stdlib.h>
#include <string.h>

#include "ini_doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	unsigned line;
	int refuse;
	int after_error;
};

static void check_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			abort();
}

static int on_section(void *arg, const char *section, unsigned line, struct st7_diag *d)
{
	struct seen *s = arg;
	(void)d;
	if (s->after_error || line <= s->line || strlen(section) > ST7_INI_MAX_LINE)
		abort();
	s->line = line;
	check_text(section);
	char kind[16], name[64];
	int has;
	if (st7_ini_section_split(section, kind, sizeof(kind), name, sizeof(name), &has, d) == 0 &&
	    (!kind[0] || (has && !name[0])))
		abort();
	return 0;
}

static int on_entry(void *arg, const char *section, const char *key, const char *value,
                    unsigned line, struct st7_diag *d)
{
	static const char *const words[] = { "serial", "url", "poll_interval", "size", NULL };
	struct seen *s = arg;
	if (s->after_error || line < s->line || !key[0] || strlen(value) > ST7_INI_MAX_LINE)
		abort();
	s->line = line;
	check_text(section);
	check_text(key);
	check_text(value);
	(void)st7_ini_nearest(key, words);
	if (s->refuse && key[0] == 'x') {
		s->after_error = 1;
		return st7_diag_set(d, ST7_ERR_RANGE, "refused");
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s = { 0, 0, 0 };
	struct st7_diag d = { "" };
	if (size < 1)
		return 0;
	s.refuse = data[0] & 1;
	int ret = st7_ini_parse("fuzz.ini", data + 1, size - 1, on_section, on_entry, &s, &d);
	if (ret > 0 || (ret < 0 && d.msg[0] == '\0') || (s.after_error && ret != ST7_ERR_RANGE))
		abort();
	return 0;
}
