/* SPDX-License-Identifier: MIT */
/*
 * The command line, read through the settings table: the getopt_long array and the help
 * text are made from the table and the command's groups, and an option of another command
 * is refused by name.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"

/* getopt_long's value for a row: past every character, so short options stay apart. */
#define OPT_VAL(id) (256 + (int)(id))

bool st7_command_takes(const struct st7_command *c, enum st7_opt id)
{
	const struct st7_setting *row = st7_setting(id);
	if (!row)
		return false;
	if (row->group & (c->groups | ST7_GROUP_ALL))
		return true;
	for (const struct st7_cmd_opt *o = c->opts; o && o->id; o++)
		if (o->id == id)
			return true;
	return false;
}

static const struct st7_cmd_opt *command_opt(const struct st7_command *c, enum st7_opt id)
{
	for (const struct st7_cmd_opt *o = c->opts; o && o->id; o++)
		if (o->id == id)
			return o;
	return NULL;
}

static void vusage(const struct st7_cli *cli, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

static void vusage(const struct st7_cli *cli, const char *fmt, va_list ap)
{
	struct st7_diag d = { "" };
	st7_diag_vset(&d, ST7_ERR_INVALID, fmt, ap); /* a cut is marked, never silent */
	st7_diag_prefix(&d, ST7_ERR_INVALID, "%s", cli->cmd->name);
	st7_err("%s", d.msg);
	fprintf(stderr, "Try 'st7dfu help %s'.\n", cli->cmd->name);
}

int st7_cli_usage(const struct st7_cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vusage(cli, fmt, ap);
	va_end(ap);
	return ST7_EXIT_USAGE;
}

/* A bad command line, said on stderr: ST7_ERR_INVALID. */
static int bad(const struct st7_cli *cli, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static int bad(const struct st7_cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vusage(cli, fmt, ap);
	va_end(ap);
	return ST7_ERR_INVALID;
}

int st7_cli_emit(const struct st7_buf *b)
{
	if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
		return ST7_EXIT_IO;
	if (fflush(stdout) != 0)
		return ST7_EXIT_IO;
	return ST7_EXIT_OK;
}

/*
 * Every row's name and alias, the command's own and all others (so that an option of
 * another command is met by name, and refused as such rather than read as an abbreviation
 * of one of this command's), and the short options. `lo` has 2 * ST7_OPT_COUNT + 1 entries.
 */
static void getopt_tables(bool permute, struct option *lo, char *shorts, size_t cap)
{
	size_t n = 0, k = 0;
	if (!permute)
		shorts[k++] = '+'; /* options end at the first operand */
	shorts[k++] = ':';         /* a missing argument is ':', not '?' */
	for (int id = 1; id < ST7_OPT_COUNT; id++) {
		const struct st7_setting *row = st7_setting((enum st7_opt)id);
		int has_arg = row->arg ? required_argument : no_argument;
		lo[n++] = (struct option){ row->name, has_arg, NULL, OPT_VAL(id) };
		if (row->alias)
			lo[n++] = (struct option){ row->alias, has_arg, NULL, OPT_VAL(id) };
		if (row->short_name && k + 3 < cap) {
			shorts[k++] = row->short_name;
			if (row->arg)
				shorts[k++] = ':';
		}
	}
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	shorts[k] = '\0';
}

static enum st7_opt short_option(int c)
{
	for (int id = 1; id < ST7_OPT_COUNT; id++)
		if (st7_setting((enum st7_opt)id)->short_name == c)
			return (enum st7_opt)id;
	return ST7_OPT_NONE;
}

/* getopt_long answered '?' or ':' for the word before argv[optind]. */
static int getopt_failed(const struct st7_cli *cli, int c, char **argv)
{
	const char *word = argv[optind - 1];
	if (c == ':') {
		enum st7_opt id =
		        optopt >= 256 ? (enum st7_opt)(optopt - 256) : short_option(optopt);
		const struct st7_setting *row = st7_setting(id);
		if (row && !st7_command_takes(cli->cmd, id))
			return bad(cli, "%s is not an option of this command", word);
		if (row)
			return bad(cli, "%s needs an argument (%s)", word, row->arg);
		return bad(cli, "%s needs an argument", word);
	}
	if (optopt && optopt < 256)
		return bad(cli, "unknown option '-%c'", optopt);
	return bad(cli, "unknown option '%s'", word);
}

static int read_options(struct st7_cli *cli, int argc, char **argv)
{
	struct option lo[2 * ST7_OPT_COUNT + 1];
	char shorts[2 * ST7_OPT_COUNT + 3];
	int c, idx = 0;
	getopt_tables(cli->cmd->permute, lo, shorts, sizeof(shorts));
	optind = 1; /* argv[0] is the command's name */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, lo, &idx)) != -1) {
		if (c == '?' || c == ':')
			return getopt_failed(cli, c, argv);
		enum st7_opt id = c >= 256 ? (enum st7_opt)(c - 256) : short_option(c);
		const struct st7_setting *row = st7_setting(id);
		char spelled[sizeof(cli->given[0])];
		if (c >= 256)
			snprintf(spelled, sizeof(spelled), "--%s", lo[idx].name);
		else
			snprintf(spelled, sizeof(spelled), "-%c", c);
		if (!st7_command_takes(cli->cmd, id))
			return bad(cli, "%s is not an option of this command", spelled);
		if (id == ST7_OPT_HELP) {
			cli->help = true;
			return ST7_OK;
		}
		const char *value = row->arg ? optarg : row->flag_value;
		struct st7_diag d = { "" };
		int ret = st7_setting_set(&cli->s, id, value, &d);
		if (ret == ST7_ERR_NOMEM) {
			st7_err("%s", d.msg);
			return ret;
		}
		if (ret) { /* the setting's message, after the option and its value */
			st7_diag_prefix(&d, ret, "%s '%s'", spelled, value);
			return bad(cli, "%s", d.msg);
		}
		memcpy(cli->given[id], spelled, sizeof(spelled));
	}
	cli->argc = argc - optind;
	cli->argv = argv + optind;
	return ST7_OK;
}

/* What the options and operands must be together, beyond each one's own value. */
static int check_command_line(const struct st7_cli *cli)
{
	const struct st7_command *c = cli->cmd;
	/* Two options setting one field two ways: --verify and --no-verify. */
	for (int i = 1; i < ST7_OPT_COUNT; i++)
		for (int j = i + 1; j < ST7_OPT_COUNT; j++) {
			const struct st7_setting *a = st7_setting((enum st7_opt)i);
			const struct st7_setting *b = st7_setting((enum st7_opt)j);
			if (cli->given[i][0] && cli->given[j][0] && a->offset == b->offset &&
			    a->set == b->set)
				return bad(cli, "%s and %s contradict each other", cli->given[i],
				           cli->given[j]);
		}
	for (const struct st7_cmd_opt *o = c->opts; o && o->id; o++) {
		const struct st7_setting *row = st7_setting(o->id);
		if (!o->required || cli->given[o->id][0])
			continue;
		if (row->short_name)
			return bad(cli, "-%c %s is required", row->short_name, row->arg);
		return bad(cli, "--%s %s is required", row->name, row->arg);
	}
	if (cli->argc < c->min_operands)
		return bad(cli, "expected %s", c->operands);
	if (c->max_operands >= 0 && cli->argc > c->max_operands)
		return bad(cli, "unexpected argument '%s'", cli->argv[c->max_operands]);
	return ST7_OK;
}

int st7_cli_init(struct st7_cli *cli, const struct st7_command *c, int argc, char **argv,
                 volatile sig_atomic_t *stop)
{
	struct st7_diag d = { "" };
	memset(cli, 0, sizeof(*cli));
	cli->cmd = c;
	cli->stop = stop;
	int ret = st7_settings_init(&cli->s, &d);
	if (ret) {
		st7_err("%s", d.msg);
		return ret;
	}
	ret = read_options(cli, argc, argv);
	if (ret || cli->help)
		return ret;
	ret = check_command_line(cli);
	if (ret)
		return ret;
	ret = st7_cli_run_open(cli, &d);
	if (ret) {
		st7_err("%s", d.msg);
		return ret;
	}
	/* `config --check` reports the policy's problems itself, as its result. */
	if (st7_command_takes(c, ST7_OPT_CONFIG) && !(c->run == st7_cmd_config && cli->s.check)) {
		ret = st7_policy_file_load(cli, &d);
		if (ret) {
			st7_err("%s", d.msg);
			return ret;
		}
		/* The run context took the network settings before the file was read. */
		st7_settings_fetch(&cli->s, &cli->net);
	}
	return ST7_OK;
}

void st7_cli_free(struct st7_cli *cli)
{
	st7_cli_run_close(cli);
	st7_settings_free(&cli->s);
}

/* ---- help ------------------------------------------------------------------------------ */

#define HELP_COLUMN 26 /* where descriptions start */
#define HELP_WIDTH 90  /* where they wrap */

/* Append `text` at column *col, wrapping at word boundaries onto HELP_COLUMN. */
static void help_words(const char *text, size_t *col, struct st7_buf *out)
{
	while (*text) {
		size_t n = strcspn(text, " ");
		if (*col > HELP_COLUMN && *col + 1 + n > HELP_WIDTH) {
			st7_buf_printf(out, "\n%*s", HELP_COLUMN, "");
			*col = HELP_COLUMN;
		} else if (*col > HELP_COLUMN) {
			st7_buf_printf(out, " ");
			(*col)++;
		}
		st7_buf_printf(out, "%.*s", (int)n, text);
		*col += n;
		text += n;
		text += strspn(text, " ");
	}
}

static void option_line(const struct st7_command *c, enum st7_opt id, struct st7_buf *out)
{
	const struct st7_setting *row = st7_setting(id);
	const struct st7_cmd_opt *own = command_opt(c, id);
	char head[64], shrt[8] = "", more[96] = "";
	size_t col = HELP_COLUMN;
	if (row->short_name)
		snprintf(shrt, sizeof(shrt), "-%c, ", row->short_name);
	int n = snprintf(head, sizeof(head), "  %s--%s%s%s", shrt, row->name, row->arg ? " " : "",
	                 row->arg ? row->arg : "");
	if (n >= HELP_COLUMN - 1) /* the description on a line of its own */
		st7_buf_printf(out, "%s\n%*s", head, HELP_COLUMN, "");
	else
		st7_buf_printf(out, "%-*s", HELP_COLUMN, head);
	help_words(own && own->help ? own->help : row->help, &col, out);
	if (row->arg && row->def && row->alias)
		snprintf(more, sizeof(more), "(default %s; also --%s)", row->def, row->alias);
	else if (row->arg && row->def)
		snprintf(more, sizeof(more), "(default %s)", row->def);
	else if (row->alias)
		snprintf(more, sizeof(more), "(also --%s)", row->alias);
	if (more[0])
		help_words(more, &col, out);
	st7_buf_printf(out, "\n");
}

void st7_command_help(const struct st7_command *c, bool exit_codes, struct st7_buf *out)
{
	st7_buf_printf(out, "Usage: st7dfu %s %s\n\n%s\nOptions:\n", c->name, c->synopsis,
	               c->about);
	/* The command's own options first, in its order, then each group it takes. */
	for (const struct st7_cmd_opt *o = c->opts; o && o->id; o++)
		if (!(st7_setting(o->id)->group & c->groups))
			option_line(c, o->id, out);
	st7_buf_printf(out, "%-*sshow this help\n", HELP_COLUMN, "  -h, --help");
	for (unsigned g = 1; g < ST7_GROUP_SINGLE; g <<= 1) {
		if (!(c->groups & g))
			continue;
		st7_buf_printf(out, "\n%s:\n", st7_group_title(g));
		for (int id = 1; id < ST7_OPT_COUNT; id++)
			if (st7_setting((enum st7_opt)id)->group == g)
				option_line(c, (enum st7_opt)id, out);
	}
	if (exit_codes)
		st7_buf_printf(out, "\n%s", st7_exit_status_help);
}
