/* SPDX-License-Identifier: MIT */
/*
 * The manual pages st7dfu(8) and st7dfu.ini(5), rendered from the tables the command
 * line and the parsers work from (commands, settings, the exit status text, the [device]
 * keys, the manifest's keys): a page cannot describe an option, a key or an exit code
 * that the binary does not have, nor miss one it has. The rendered pages are committed
 * (packaging/man/), so that cross builds need not run the binary; tests/docs/man.sh
 * holds them equal to what this file renders.
 *
 * Text from the tables is escaped on the way out: a backslash becomes \e, a line that
 * would start with '.' or '\'' gets \& in front, and the dashes of an option (a word
 * that starts with '-') are \-, so that they print, search and copy as ASCII.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "journal.h"
#include "manifest.h"
#include "policy.h"
#include "report_queue.h"
#include "state_dir.h"
#include "trust.h"

#ifndef ST7DFU_VERSION
#error "ST7DFU_VERSION is the version on the pages' .TH line (CMakeLists.txt)"
#endif
#ifndef ST7DFU_DATE
#error "ST7DFU_DATE is the date on the pages' .TH line (CMakeLists.txt), never the build's"
#endif

/* cmd_run.c's names in the state directory. */
#define LOCK_FILE "st7dfu.lock"
#define STATUS_FILE "agent.status"

/* ---- the descriptions the tables lack --------------------------------------------------
 * The [device] and manifest parsers know their keys' names only; what each means is said
 * here, keyed by name, and a key without a line here stops the rendering. */

struct key_doc {
	const char *key, *arg, *help;
};

static const struct key_doc device_docs[] = {
	{ "match", "VID:PID",
	  "the device's runtime USB IDs, hex (0483:ff03). A device in DFU mode (its loader's "
	  "IDs) is matched by serial and port only, and this key then tells its runtime IDs" },
	{ "serial", "GLOB", "its serial number, a glob as fnmatch(3) takes it (ST7-00*)" },
	{ "port", "PATH", "its USB port path, as 'st7dfu list' shows it (1-1.2)" },
	{ "profile", "NAME",
	  "the ST7 part (st72f62, st72f63, st72f65), when the descriptors cannot tell" },
	{ "min_version", "VERSION", "a floor: never install a version below it (0x0120 or 1.20)" },
	{ "hold", "yes|no", "yes: never update this device (default no)" },
	{ "channel", "NAME",
	  "releases of this channel apply to it (default: the channel of [agent])" },
};

static const struct key_doc manifest_docs[] = {
	{ "serial", "N",
	  "1 to 2^53, required; it must grow with each publication: a serial lower than one "
	  "already accepted from that URL is a replay, and the same serial with other content "
	  "is refused too" },
	{ "issued", "TIME",
	  "when it was signed, RFC 3339 UTC (2026-11-26T00:00:00Z), required; more than 5 "
	  "minutes ahead of the clock is refused" },
	{ "expires", "TIME",
	  "after this time the manifest is stale and refused (a freeze attack), required; it "
	  "must be after issued" },
};

static const struct key_doc release_docs[] = {
	{ "match", "VID:PID", "the runtime USB IDs of the devices it is for, hex (required)" },
	{ "profile", "NAME", "the ST7 part (default: any)" },
	{ "serial", "GLOB", "a serial number glob, fnmatch(3) without flags (default: any)" },
	{ "version", "VERSION",
	  "what the image makes the device report: its suffix bcdDevice and, for ST7 parts, "
	  "its version word (0x0237 or 2.37; required)" },
	{ "from", "LOW-HIGH",
	  "the installed versions it applies to, inclusive (0x0100-0x0236; one version alone "
	  "is a range of one; default: any)" },
	{ "url", "URL",
	  "the image: relative to the manifest's URL, or absolute (required); '..' segments "
	  "are refused" },
	{ "sha256", "HEX", "the image file's SHA-256, 64 hex digits (required)" },
	{ "size", "N",
	  "the image file's size in bytes, 1 to 1G (required): the download is capped there" },
	{ "rollout", "PERCENT",
	  "the share of the fleet, 0 to 100 (default 100): a gateway's cohort, from its "
	  "device_id and the release name, must be below it; raising it only adds gateways" },
	{ "not_before", "TIME", "not installed before this time, RFC 3339 UTC (optional)" },
	{ "paused", "yes|no", "yes: no gateway starts it (default no)" },
	{ "channel", "NAME",
	  "only for gateways, or [device] sections, of this channel: 1 to 31 of a-z, 0-9, _ and - "
	  "(default: every channel)" },
	{ "downgrade", "yes|no",
	  "yes: an explicitly allowed rollback release, installed over a higher version "
	  "(default no)" },
};

static const struct key_doc *find_doc(const struct key_doc *docs, size_t n, const char *key)
{
	for (size_t i = 0; key && i < n; i++)
		if (strcmp(docs[i].key, key) == 0)
			return &docs[i];
	return NULL;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct key_doc *device_doc(const char *key)
{
	return find_doc(device_docs, COUNT(device_docs), key);
}

static const struct key_doc *manifest_doc(bool release, const char *key)
{
	return release ? find_doc(release_docs, COUNT(release_docs), key)
	               : find_doc(manifest_docs, COUNT(manifest_docs), key);
}

const char *st7_man_device_key(const char *key)
{
	const struct key_doc *k = device_doc(key);
	return k ? k->help : NULL;
}

const char *st7_man_manifest_key(bool release, const char *key)
{
	const struct key_doc *k = manifest_doc(release, key);
	return k ? k->help : NULL;
}

/* ---- writing roff ---------------------------------------------------------------------- */

struct man {
	struct st7_buf *out;
	int err;      /* the first error; every later write is skipped */
	bool bol;     /* at the beginning of an output line */
	bool opt;     /* inside a word that started with '-' */
	char prev;    /* the last character of text written */
	size_t space; /* spaces held back: dropped at the end of a line */
};

static void put(struct man *m, const char *s, size_t n)
{
	if (m->err || n == 0)
		return;
	m->err = st7_buf_append(m->out, s, n);
	m->bol = s[n - 1] == '\n';
}

/* Roff as it is (macros, font changes): the caller's text holds nothing to escape. */
static void raw(struct man *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void raw(struct man *m, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		if (!m->err)
			m->err = ST7_ERR_INVALID; /* never a cut line in a page */
		return;
	}
	/* Spaces held back by text are the text's, unless the line ends here. */
	for (; m->space && line[0] != '\n'; m->space--)
		put(m, " ", 1);
	m->space = 0;
	put(m, line, (size_t)n);
	m->prev = ' ';
	m->opt = false;
}

/* Characters after which a '-' starts an option ("--json", "(-d", "[-c"). */
static bool before_option(char c)
{
	return c == ' ' || c == '(' || c == '[' || c == '|' || c == '\'' || c == '"' || c == ',' ||
	       c == '/' || c == '=';
}

static bool in_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* Text, escaped. Newlines stay line breaks of the source (filled when rendered); a blank
 * line, leading and trailing spaces, which roff would take as breaks, are dropped. In a
 * macro argument (`quoted`), '"' is \(dq and a newline a space. */
static void esc(struct man *m, const char *s, bool quoted)
{
	for (; *s && !m->err; s++) {
		char c = *s;
		if (c == '\n' && quoted)
			c = ' ';
		if (c == '\n') {
			m->space = 0;
			if (!m->bol)
				put(m, "\n", 1);
			m->prev = ' ';
			m->opt = false;
			continue;
		}
		if (c == ' ') {
			if (!m->bol)
				m->space++;
			continue;
		}
		for (; m->space; m->space--)
			put(m, " ", 1);
		if (m->opt && !in_word(c))
			m->opt = false;
		if (m->bol && (c == '.' || c == '\''))
			put(m, "\\&", 2);
		if (c == '\\')
			put(m, "\\e", 2);
		else if (c == '"' && quoted)
			put(m, "\\(dq", 4);
		else if (c == '-' && (m->opt || before_option(m->prev) || m->bol)) {
			/* \% first: an option is never hyphenated at a line's end */
			put(m, m->opt ? "\\-" : "\\%\\-", m->opt ? 2 : 4);
			m->opt = true;
		} else
			put(m, &c, 1);
		m->prev = c;
	}
}

static void text(struct man *m, const char *s)
{
	esc(m, s, false);
}

/* Ends the current line, if one is open. */
static void eol(struct man *m)
{
	m->space = 0;
	if (!m->bol)
		put(m, "\n", 1);
	m->prev = ' ';
	m->opt = false;
}

/* A macro line: `.NAME` and, when `arg` is given, one quoted escaped argument. */
static void macro(struct man *m, const char *name, const char *arg)
{
	eol(m);
	raw(m, ".%s", name);
	if (arg) {
		raw(m, " \"");
		esc(m, arg, true);
		m->space = 0; /* no trailing blank inside the quotes */
		raw(m, "\"");
	}
	raw(m, "\n");
}

/* `s` in a font (B or I), then back to roman, within the current line. */
static void font(struct man *m, char f, const char *s)
{
	raw(m, "\\f%c", f);
	text(m, s);
	raw(m, "\\fR");
	m->prev = 'x'; /* what follows is not a word start: "\fB--x\fR," */
}

/* ---- the parts both pages use ---------------------------------------------------------- */

static void title(struct man *m, const char *name, unsigned section, const char *volume)
{
	raw(m,
	    ".\\\" Made by 'st7dfu help --man %u' from the tables of agent/cli/ (man.c); do not "
	    "edit.\n",
	    section);
	raw(m, ".TH %s %u %s \"st7dfu %s\" \"%s\"\n", name, section, ST7DFU_DATE, ST7DFU_VERSION,
	    volume);
}

/* A group's short name: its help title up to the parenthesis. */
static void group_name(unsigned g, char *out, size_t cap)
{
	const char *t = st7_group_title(g);
	snprintf(out, cap, "%.*s", (int)strcspn(t, "("), t);
	size_t n = strlen(out);
	while (n && out[n - 1] == ' ')
		out[--n] = '\0';
}

/* What a value of the row looks like: its argument, a choice's words, or yes|no. */
static void value_kind(const struct st7_setting *row, char *out, size_t cap)
{
	if (row->arg) {
		snprintf(out, cap, "%s", row->arg);
		return;
	}
	if (!row->choices) {
		snprintf(out, cap, "yes|no");
		return;
	}
	out[0] = '\0';
	for (size_t i = 0, w = 0; row->choices[i] && w < cap; i++) {
		int k = snprintf(out + w, cap - w, "%s%s", i ? "|" : "", row->choices[i]);
		w += k > 0 ? (size_t)k : 0;
	}
}

/* "-c, --config FILE" as the tag of a .TP. */
static void option_tag(struct man *m, const struct st7_setting *row)
{
	char s[4] = { '-', row->short_name, '\0', '\0' };
	char l[64];
	macro(m, "TP", NULL);
	if (row->short_name) {
		font(m, 'B', s);
		raw(m, ", ");
	}
	snprintf(l, sizeof(l), "--%s", row->name);
	font(m, 'B', l);
	if (row->arg) {
		raw(m, " ");
		font(m, 'I', row->arg);
	}
	eol(m);
}

/* ---- st7dfu(8) --------------------------------------------------------------------------- */

/* The groups in the order of the OPTIONS section; headings of their own for the rows
 * that are in no group. */
static const unsigned group_order[] = {
	ST7_GROUP_DEVICE, ST7_GROUP_TIMING,  ST7_GROUP_STATE, ST7_GROUP_UPGRADE,
	ST7_GROUP_SOURCE, ST7_GROUP_NETWORK, ST7_GROUP_AGENT, ST7_GROUP_POLICY,
	ST7_GROUP_OUTPUT, ST7_GROUP_SINGLE,  ST7_GROUP_ALL,
};

static const char *group_heading(unsigned g)
{
	if (g == ST7_GROUP_SINGLE)
		return "Options of single commands";
	if (g == ST7_GROUP_ALL)
		return "Every command";
	return st7_group_title(g);
}

/* The commands that take option `id`, as "a, b and c". */
static void takers(struct man *m, enum st7_opt id)
{
	size_t n = 0, k = 0;
	const struct st7_command *c;
	for (size_t i = 0; (c = st7_command_at(i)); i++)
		n += st7_command_takes(c, id);
	if (n == 0) {
		if (!m->err)
			m->err = ST7_ERR_INVALID; /* an option no command takes is a table error */
		return;
	}
	for (size_t i = 0; (c = st7_command_at(i)); i++) {
		if (!st7_command_takes(c, id))
			continue;
		k++;
		raw(m, "%s", k == 1 ? "" : k == n ? " and " : ", ");
		font(m, 'B', c->name);
	}
}

static void option_entry(struct man *m, enum st7_opt id)
{
	const struct st7_setting *row = st7_setting(id);
	option_tag(m, row);
	text(m, row->help);
	eol(m);
	macro(m, "br", NULL);
	if (row->arg && row->def) {
		raw(m, "Default ");
		font(m, 'B', row->def);
		raw(m, ". ");
	}
	if (row->alias) {
		char a[64];
		snprintf(a, sizeof(a), "--%s", row->alias);
		raw(m, "Also ");
		font(m, 'B', a);
		raw(m, ". ");
	}
	if (row->key) {
		char sect[32];
		snprintf(sect, sizeof(sect), "[%s]", st7_group_section(row->group));
		raw(m, "Policy key ");
		font(m, 'B', row->key);
		raw(m, " in ");
		font(m, 'B', sect);
		raw(m, ". ");
	}
	raw(m, "Taken by ");
	takers(m, id);
	raw(m, ".");
	eol(m);
}

static void command_entry(struct man *m, const struct st7_command *c)
{
	char name[64];
	snprintf(name, sizeof(name), "st7dfu %s", c->name);
	macro(m, "SS", c->name);
	macro(m, "B", name);
	text(m, c->synopsis);
	eol(m);
	macro(m, "PP", NULL);
	text(m, c->about);
	if (c->opts && c->opts->id) {
		macro(m, "PP", NULL);
		raw(m, "Options of %s:", c->name);
		for (const struct st7_cmd_opt *o = c->opts; o->id; o++) {
			option_tag(m, st7_setting(o->id));
			text(m, o->help ? o->help : st7_setting(o->id)->help);
			if (o->required)
				raw(m, " (required)");
			eol(m);
		}
	}
	macro(m, "PP", NULL);
	raw(m, "It takes ");
	font(m, 'B', "-h");
	raw(m, ", ");
	font(m, 'B', "--help");
	unsigned groups = c->groups & ~(unsigned)(ST7_GROUP_SINGLE | ST7_GROUP_ALL);
	if (groups) {
		raw(m, " and the options of");
		size_t k = 0, n = 0;
		for (size_t i = 0; i < COUNT(group_order); i++)
			n += (groups & group_order[i]) != 0;
		for (size_t i = 0; i < COUNT(group_order); i++) {
			char g[96];
			if (!(groups & group_order[i]))
				continue;
			group_name(group_order[i], g, sizeof(g));
			k++;
			raw(m, "%s", k == 1 ? " " : k == n ? " and " : ", ");
			font(m, 'I', g);
		}
		raw(m, " (see OPTIONS)");
	}
	raw(m, ".");
	eol(m);
}

/* "Exit status:" then "  N  text" items, continued on lines that start with blanks and no
 * number; anything else is a format this reader does not know, and stops the page. */
static void exit_status(struct man *m)
{
	const char *p = st7_exit_status_help;
	size_t items = 0;
	macro(m, "SH", "EXIT STATUS");
	p = strchr(p, '\n');
	while (p && *++p && !m->err) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char line[256];
		if (len >= sizeof(line)) {
			m->err = ST7_ERR_INVALID;
			return;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		const char *t = line + strspn(line, " ");
		size_t digits = strspn(t, "0123456789");
		if (t == line) {
			m->err = ST7_ERR_INVALID; /* neither an item nor its continuation */
			return;
		}
		if (digits && strncmp(t + digits, "  ", 2) == 0) {
			char code[8];
			snprintf(code, sizeof(code), "%.*s", (int)digits, t);
			macro(m, "TP", NULL);
			font(m, 'B', code);
			eol(m);
			text(m, t + digits + 2);
			items++;
		} else if (items) {
			eol(m);
			text(m, t);
		} else {
			m->err = ST7_ERR_INVALID;
			return;
		}
		eol(m);
		p = end;
	}
	if (!items && !m->err)
		m->err = ST7_ERR_INVALID;
}

/* The commands with a flag set, as "a, b and c" in bold. */
static void commands_where(struct man *m, bool (*pick)(const struct st7_command *c), bool want)
{
	size_t n = 0, k = 0;
	const struct st7_command *c;
	for (size_t i = 0; (c = st7_command_at(i)); i++)
		n += pick(c) == want;
	for (size_t i = 0; (c = st7_command_at(i)); i++) {
		if (pick(c) != want)
			continue;
		k++;
		raw(m, "%s", k == 1 ? "" : k == n ? " and " : ", ");
		font(m, 'B', c->name);
	}
}

static bool stops_safely(const struct st7_command *c)
{
	return c->signals;
}

static bool is_daemon(const struct st7_command *c)
{
	return c->daemon;
}

static void page_8(struct man *m)
{
	const struct st7_command *c;
	title(m, "ST7DFU", 8, "System Manager's Manual");
	macro(m, "SH", "NAME");
	raw(m, "st7dfu \\- firmware upgrade agent for ST7 USB DFU devices\n");
	macro(m, "SH", "SYNOPSIS");
	raw(m, ".B st7dfu\n.I command\n.RI [ options ]\n.RI [ operands ]\n.br\n");
	raw(m, ".B st7dfu help\n.RI [ command ]\n.br\n");
	raw(m, ".B st7dfu help \\-\\-man\n.I section\n.br\n.B st7dfu \\-\\-version\n");
	macro(m, "SH", "DESCRIPTION");
	text(m, "st7dfu updates the firmware of USB peripherals built on STMicroelectronics ST7 "
	        "USB microcontrollers (ST72F62, ST72F63, ST72F65x) through the USB Device "
	        "Firmware Upgrade class (DFU 1.0; DFU 1.1 and ST's DfuSe are served too), "
	        "unattended: images carry a signature from a trusted key, a proven backup is "
	        "stored before anything is erased, and a failed update is rolled back. As an "
	        "agent (check, run) it follows a signed fleet manifest, within maintenance "
	        "windows and rollout cohorts, journalling every step so that a power loss is "
	        "recovered.\n");
	macro(m, "PP", NULL);
	text(m, "Logs and errors go to standard error, data to standard output. The options "
	        "come from one table: a command takes exactly the options its help lists (any "
	        "other is refused, exit 2), and an option that makes sense unattended has a key "
	        "of the same name in the policy file, st7dfu.ini(5) (--max-poll-timeout is "
	        "max_poll_timeout); an option given on the command line overrides the file. "
	        "Durations are 500ms, 15s, 2m, 6h, 1h30m, or a bare number in the unit the "
	        "option names; sizes are N, NK, NM, NG.\n");
	macro(m, "PP", NULL);
	raw(m, "The commands:");
	eol(m);
	for (size_t i = 0; (c = st7_command_at(i)); i++) {
		macro(m, "TP", NULL);
		font(m, 'B', c->name);
		eol(m);
		text(m, c->summary);
		eol(m);
	}
	macro(m, "SH", "COMMANDS");
	for (size_t i = 0; (c = st7_command_at(i)); i++)
		command_entry(m, c);
	macro(m, "SH", "OPTIONS");
	text(m, "Every option, by group; each command's section above says which it takes.\n");
	for (size_t i = 0; i < COUNT(group_order); i++) {
		macro(m, "SS", group_heading(group_order[i]));
		for (int id = 1; id < ST7_OPT_COUNT; id++)
			if (st7_setting((enum st7_opt)id)->group == group_order[i])
				option_entry(m, (enum st7_opt)id);
	}
	/* A row in no group of the list would be missing from the page. */
	for (int id = 1; id < ST7_OPT_COUNT && !m->err; id++) {
		bool listed = false;
		for (size_t i = 0; i < COUNT(group_order); i++)
			listed |= st7_setting((enum st7_opt)id)->group == group_order[i];
		if (!listed)
			m->err = ST7_ERR_INVALID;
	}
	exit_status(m);
	macro(m, "SH", "SIGNALS");
	macro(m, "TP", NULL);
	raw(m, ".BR SIGTERM \", \" SIGINT\n");
	commands_where(m, stops_safely, true);
	text(m, " stop at the next safe point: between devices and while anything is fetched. "
	        "A device's update, once started, runs to its verdict, so a stop never lands "
	        "between an erase and a complete image (an ST7 update takes seconds: give a "
	        "service a stop timeout of a minute or more). They exit with status 10, the "
	        "daemon with 0. The other commands (");
	commands_where(m, stops_safely, false);
	text(m, ") change no device and keep the default action.\n");
	macro(m, "TP", NULL);
	raw(m, ".B SIGHUP\n");
	commands_where(m, is_daemon, true);
	text(m, ": reload the policy file, checked whole; a bad one is refused with FILE:LINE, "
	        "logged, and the old one kept.\n");
	macro(m, "TP", NULL);
	raw(m, ".B SIGUSR1\n");
	commands_where(m, is_daemon, true);
	text(m, ": start a cycle now.\n");
	macro(m, "SH", "ENVIRONMENT");
	static const struct key_doc env[] = {
		{ "NOTIFY_SOCKET", NULL,
		  "set by systemd for Type=notify: run sends READY=1 once set up, STATUS= with "
		  "each cycle's outcome, and STOPPING=1 (no libsystemd needed)" },
		{ "WATCHDOG_USEC", NULL,
		  "with WATCHDOG_PID (systemd's WatchdogSec=): run sends WATCHDOG=1 at half this "
		  "interval, also during long updates" },
		{ "ST7DFU_DEBUG", NULL,
		  "1 (anything but empty or 0) adds debug messages, among them, at exit, the peak "
		  "memory of st7dfu and of its fetch worker" },
		{ "ST7DFU_FETCH_WORKER", NULL,
		  "the fetch worker's executable, instead of st7dfu-fetch beside st7dfu or where "
		  "it is installed (LIBEXECDIR/st7dfu/)" },
		{ "https_proxy, HTTPS_PROXY, no_proxy", NULL,
		  "proxies for downloads and reports, as libcurl reads them in the fetch worker" },
		{ "TZ, TZDIR", NULL,
		  "the system's time zone, for maintenance windows when timezone is not set; "
		  "where named zones are looked up (default /usr/share/zoneinfo)" },
	};
	for (size_t i = 0; i < COUNT(env); i++) {
		macro(m, "TP", NULL);
		font(m, 'B', env[i].key);
		eol(m);
		text(m, env[i].help);
		eol(m);
	}
	macro(m, "SH", "FILES");
	static const struct key_doc files[] = {
		{ ST7_DEFAULT_CONFIG, NULL,
		  "the policy file, st7dfu.ini(5) (-c FILE names another); without it the "
		  "built-in defaults apply" },
		{ ST7_DEFAULT_KEYS_DIR, NULL,
		  "the trusted public keys (keys_dir), one PEM file *.pem each; deleting a file "
		  "revokes its key" },
		{ ST7_DEFAULT_STATE_DIR, NULL,
		  "the state directory (state_dir, --state-dir), holding:" },
	};
	for (size_t i = 0; i < COUNT(files); i++) {
		macro(m, "TP", NULL);
		font(m, 'I', files[i].key);
		eol(m);
		text(m, files[i].help);
		eol(m);
	}
	static const struct key_doc state[] = {
		{ ST7_STATE_BACKUPS "/", NULL,
		  "the backups, VID-PID-SERIAL/VERSION.dfu, the newest keep_backups per device" },
		{ ST7_STATE_CACHE "/", NULL,
		  "the verified download cache: images, manifests and their signatures" },
		{ ST7_STATE_JOURNAL "/", NULL,
		  "the journal, one record per device (VVVV-PPPP-SERIAL.rec), rewritten "
		  "durably at each step of an update; a damaged one is renamed .rec.bad-N" },
		{ ST7_REPORT_QUEUE_DIR "/", NULL, "reports waiting to be POSTed to report_url" },
		{ "attempts.ini", NULL,
		  "failed attempts per device and release, for max_attempts" },
		{ "manifest-HASH.state", NULL,
		  "the highest manifest serial believed for each manifest URL (anti-rollback)" },
		{ STATUS_FILE, NULL, "the agent's last cycle and next poll, for 'st7dfu status'" },
		{ LOCK_FILE, NULL,
		  "the lock every command that changes a device holds (--lock-wait)" },
	};
	macro(m, "RS", NULL);
	for (size_t i = 0; i < COUNT(state); i++) {
		macro(m, "TP", NULL);
		font(m, 'I', state[i].key);
		eol(m);
		text(m, state[i].help);
		eol(m);
	}
	macro(m, "RE", NULL);
	macro(m, "SH", "SEE ALSO");
	raw(m, ".BR st7dfu.ini (5),\n.BR dfu\\-util (1),\n.BR openssl (1)\n");
}

/* ---- st7dfu.ini(5) ----------------------------------------------------------------------- */

static void key_entry(struct man *m, const char *key, const char *arg, const char *help)
{
	macro(m, "TP", NULL);
	font(m, 'B', key);
	raw(m, " = ");
	font(m, 'I', arg);
	eol(m);
	text(m, help);
	eol(m);
}

static void policy_section(struct man *m, const char *section)
{
	char head[32];
	snprintf(head, sizeof(head), "SECTION [%s]", section);
	macro(m, "SH", head);
	for (size_t i = 0; i < COUNT(group_order); i++) {
		unsigned g = group_order[i];
		bool any = false;
		for (int id = 1; id < ST7_OPT_COUNT; id++) {
			const struct st7_setting *row = st7_setting((enum st7_opt)id);
			any |= row->key && row->group == g &&
			       strcmp(st7_group_section(g), section) == 0;
		}
		if (!any)
			continue;
		macro(m, "SS", st7_group_title(g));
		for (int id = 1; id < ST7_OPT_COUNT; id++) {
			const struct st7_setting *row = st7_setting((enum st7_opt)id);
			char kind[64], opt[64];
			if (!row->key || row->group != g)
				continue;
			value_kind(row, kind, sizeof(kind));
			key_entry(m, row->key, kind, row->help);
			macro(m, "br", NULL);
			if (row->def) {
				raw(m, "Default ");
				font(m, 'B', row->def);
				raw(m, ". ");
			}
			snprintf(opt, sizeof(opt), "--%s", row->name);
			raw(m, "On the command line ");
			font(m, 'B', opt);
			raw(m, ".");
			eol(m);
		}
	}
}

/* Every key of a parser's list, with its description here (none: the page stops). */
static void keys_of(struct man *m, const char *const *names, bool device, bool release)
{
	for (size_t i = 0; names[i]; i++) {
		const struct key_doc *k =
		        device ? device_doc(names[i]) : manifest_doc(release, names[i]);
		if (!k) {
			if (!m->err)
				m->err = ST7_ERR_INVALID;
			return;
		}
		key_entry(m, k->key, k->arg, k->help);
	}
}

static void page_5(struct man *m)
{
	title(m, "ST7DFU.INI", 5, "File Formats Manual");
	macro(m, "SH", "NAME");
	raw(m, "st7dfu.ini \\- policy file of the st7dfu firmware upgrade agent\n");
	macro(m, "SH", "SYNOPSIS");
	font(m, 'I', ST7_DEFAULT_CONFIG);
	eol(m);
	macro(m, "SH", "DESCRIPTION");
	text(m, "Every st7dfu(8) command that works with devices, keys or downloads reads the "
	        "policy file first: the one -c FILE names, else " ST7_DEFAULT_CONFIG
	        " when it exists (without it the built-in defaults apply). It is read through "
	        "the same table as the command line: each key is named like its option "
	        "(max_poll_timeout is --max-poll-timeout), and an option given on the command "
	        "line overrides the file. 'st7dfu config --check' checks a file, 'st7dfu config "
	        "--print' shows every key's effective value and where it came from.\n");
	macro(m, "SH", "FORMAT");
	text(m, "An INI file, read with inih: [section] headers, then key = value (or key: "
	        "value) lines. Comments are lines starting with ';' or '#', and ' ;' after a "
	        "value. A value in double quotes keeps leading or trailing spaces (there are no "
	        "escapes). Lines are at most 4096 bytes, values never span lines, and the file "
	        "is read whole, at most 256 KiB. Sections: [agent] (where things are, the "
	        "network, the fleet), [update] (what an update may do), and zero or more "
	        "[device \"NAME\"].\n");
	macro(m, "PP", NULL);
	text(m, "The file is all or nothing: an unknown section or key (the nearest valid one "
	        "is suggested), a key in the wrong section, a duplicate key, a bad value, a "
	        "missing closing quote, a control character, an unknown time zone or a [device] "
	        "section without match, serial or port is refused with FILE:LINE, and nothing "
	        "of the file applies. allow_http and allow_unsigned are refused unless the file "
	        "also says lab = yes in [agent], and are logged whenever they are on.\n");
	policy_section(m, "agent");
	policy_section(m, "update");
	macro(m, "SH", "SECTIONS [device \"NAME\"]");
	text(m, "Rules for single devices. A section needs at least one of match, serial and "
	        "port; a device matches it when every criterion given matches. Two sections "
	        "matching one device are a policy error for that device, which is then left "
	        "alone.\n");
	keys_of(m, st7_device_rule_keys, true, false);
	macro(m, "SH", "THE MANIFEST");
	text(m, "What the fleet should run is one signed INI file the vendor publishes "
	        "(manifest_url), with its signature beside it (URL.sig) from a key of keys_dir; "
	        "the signature is checked before a byte of the manifest is parsed. Its syntax "
	        "is the policy file's. An unknown key, a duplicate, a missing required key or a "
	        "bad value is refused with URL:LINE (exit 3); a replayed, expired manifest, or "
	        "one met by a clock that cannot be trusted, is refused with exit 15.\n");
	macro(m, "SS", "[manifest]");
	keys_of(m, st7_manifest_key_names(false), false, false);
	macro(m, "SS", "[release \"NAME\"]");
	text(m, "Zero or more. Before a release's image is used it must be exactly size bytes, "
	        "have the SHA-256 given, and carry the release's VID:PID and version in its DFU "
	        "suffix (and, for ST7 parts, in its version word).\n");
	keys_of(m, st7_manifest_key_names(true), false, true);
	macro(m, "SH", "EXAMPLE");
	text(m, "The installed " ST7_DEFAULT_CONFIG " (conf/st7dfu.ini in the sources) is a "
	        "commented example of every section. In short:\n");
	macro(m, "PP", NULL);
	macro(m, "EX", NULL);
	text(m, "[agent]\n"
	        "manifest_url = https://updates.example.com/st7/stable/manifest.ini\n"
	        "ca_file      = /etc/st7dfu/ca.pem\n"
	        "window       = Mon-Fri 02:00-05:00, Sat/Sun 00:00-06:00\n"
	        "timezone     = Europe/Paris\n");
	macro(m, "sp", NULL); /* text() drops blank lines: fill mode would warn */
	text(m, "[update]\n"
	        "max_attempts = 2\n");
	macro(m, "sp", NULL);
	text(m, "[device \"card-reader\"]\n"
	        "match        = 0483:ff03\n"
	        "min_version  = 0x0120\n");
	macro(m, "EE", NULL);
	macro(m, "SH", "FILES");
	macro(m, "TP", NULL);
	font(m, 'I', ST7_DEFAULT_CONFIG);
	eol(m);
	text(m, "the policy file\n");
	macro(m, "SH", "SEE ALSO");
	raw(m, ".BR st7dfu (8)\n");
}

int st7_man_render(unsigned section, struct st7_buf *out)
{
	struct man m = { out, ST7_OK, true, false, ' ', 0 };
	if (!out || (section != 8 && section != 5))
		return ST7_ERR_INVALID;
	if (section == 8)
		page_8(&m);
	else
		page_5(&m);
	eol(&m);
	return m.err;
}
