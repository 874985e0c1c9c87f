/* SPDX-License-Identifier: MIT */
/*
 * st7dfu: the process. Process-wide setup, the command chosen by argv[1], the signals
 * that stop it at a safe point, and the exit: the only exit() and the only signal
 * handlers of st7dfu. The commands (commands.c), their options (settings.c, args.c), the
 * wiring of the backends (wiring.c) and the exit codes (exit_map.c) live beside it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backends.h"
#include "cli.h"
#include "log.h"

/* Set by SIGINT/SIGTERM; the engine and downloads stop at the next safe point. Further
 * signals only set it again: nothing is interrupted half-way. */
static volatile sig_atomic_t stop_requested;
/* The daemon's: SIGHUP reloads the policy, SIGUSR1 asks for a cycle; `wake` ends its
 * wait between cycles for any of its signals. */
static volatile sig_atomic_t reload_requested, cycle_requested, wake_requested;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else if (sig == SIGUSR1)
		cycle_requested = 1;
	else
		stop_requested = 1;
	wake_requested = 1;
}

static void install_signals(bool daemon)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (daemon) {
		sigaction(SIGHUP, &sa, NULL);
		sigaction(SIGUSR1, &sa, NULL);
	}
	/* A parent may have left them blocked (a mask is inherited across exec): a stop
	 * request that never arrives is a service that cannot be stopped. */
	sigset_t handled;
	sigemptyset(&handled);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGTERM);
	if (daemon) {
		sigaddset(&handled, SIGHUP);
		sigaddset(&handled, SIGUSR1);
	}
	sigprocmask(SIG_UNBLOCK, &handled, NULL);
}

static void print_usage(FILE *f)
{
	struct st7_buf b;
	st7_buf_init(&b);
	st7_commands_usage(&b);
	if (b.len)
		fwrite(b.data, 1, b.len, f);
	st7_buf_free(&b);
}

/* Root in the agent's state directory works as the agent's user (backends.h says why):
 * before anything is opened, for every command that has a state directory. */
static int become_state_owner(const struct st7_command *c, struct st7_cli *cli)
{
	struct st7_diag d = { "" };
	char user[64];
	if (!st7_command_takes(c, ST7_OPT_STATE_DIR))
		return ST7_EXIT_OK;
	int ret = st7_become_state_owner(cli->s.state_dir, user, sizeof(user), &d);
	if (ret < 0) {
		st7_err("%s", d.msg);
		return ST7_EXIT_IO;
	}
	if (ret == 1)
		st7_info("working as %s, the owner of %s", user, cli->s.state_dir);
	return ST7_EXIT_OK;
}

/* One command, from its command line to its exit code. */
static int run_command(const struct st7_command *c, int argc, char **argv)
{
	struct st7_cli cli;
	int rc;
	int ret = st7_cli_init(&cli, c, argc, argv, &stop_requested);
	cli.reload = &reload_requested;
	cli.trigger = &cycle_requested;
	cli.wake = &wake_requested;
	if (ret) {
		rc = st7_exit_for(ret, ST7_STEP_ARGUMENT); /* 2, or 1 out of memory */
	} else if (cli.help) {
		struct st7_buf b;
		st7_buf_init(&b);
		st7_command_help(c, false, &b);
		rc = st7_cli_emit(&b);
		st7_buf_free(&b);
	} else if ((rc = become_state_owner(c, &cli)) == ST7_EXIT_OK) {
		if (c->signals)
			install_signals(c->daemon);
		rc = c->run(&cli);
	}
	st7_cli_free(&cli);
	return rc;
}

/* What this run cost, for the benchmark and for troubleshooting (ST7DFU_DEBUG=1). The
 * only children of st7dfu are fetch workers: their peak is the largest child's. */
static void log_resources(void)
{
	struct rusage self, kids;
	if (getrusage(RUSAGE_SELF, &self) != 0 || getrusage(RUSAGE_CHILDREN, &kids) != 0)
		return;
	if (kids.ru_maxrss > 0)
		st7_debug("resources: peak RSS %ld KiB (this process), %ld KiB (fetch worker)",
		          self.ru_maxrss, kids.ru_maxrss);
	else
		st7_debug("resources: peak RSS %ld KiB (this process)", self.ru_maxrss);
}

/* Started with stdin, stdout or stderr closed, the next file opened would take its
 * number and receive what is meant for it (a log line in a download). /dev/null fills
 * the gaps first. */
static void std_fds_open(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			abort();
}

int main(int argc, char **argv)
{
	struct st7_diag d = { "" };
	std_fds_open();
	const char *debug = getenv("ST7DFU_DEBUG");
	st7_log_open(ST7_LOG_STDERR,
	             debug && *debug && strcmp(debug, "0") != 0 ? ST7_LOG_DEBUG : ST7_LOG_INFO,
	             "st7dfu");
	if (argc < 2) {
		print_usage(stderr);
		exit(ST7_EXIT_USAGE);
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("st7dfu %s\n", ST7DFU_VERSION);
		exit(ST7_EXIT_OK);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_usage(stdout);
		exit(ST7_EXIT_OK);
	}
	const struct st7_command *c = st7_command_find(argv[1]);
	if (!c) {
		st7_err("unknown command '%s'", argv[1]);
		print_usage(stderr);
		exit(ST7_EXIT_USAGE);
	}
	/* Process-wide setup of the backends' libraries, once, before any is used. */
	if (st7_backends_global_init(&d) != ST7_OK) {
		st7_err("%s", d.msg);
		exit(ST7_EXIT_FAILURE);
	}
	/* The command reads its options from argv[1] on (argv[0] is its name). */
	int rc = run_command(c, argc - 1, argv + 1);
	st7_backends_global_cleanup();
	log_resources();
	st7_log_close();
	exit(rc);
}
