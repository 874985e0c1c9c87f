/* SPDX-License-Identifier: MIT */
/*
 * The libusb backend's wait_event (iface/usb_transport.h), through real libusb under
 * st7dfu-emu: a timeout returns 0 after about the timeout and sleeps meanwhile (no
 * periodic wake-ups); a re-enumeration (DFU_DETACH + USB reset) returns 1 when the device
 * leaves and again when it comes back; a signal whose handler sets *wake returns
 * ST7_ERR_ABORTED at once whether it arrives before the call, during the sleep, or at a
 * random instant around the call (a stress loop for the check-then-sleep race); a signal
 * that does not set *wake (SIGCHLD) does not end the wait early; libusb's own threads
 * have the wake signals blocked; wait_change and wait_event do not eat each other's
 * events.
 *
 * Run by CTest as `st7dfu-emu --device kind=st7,reenum-ms=700 -- test_usb_wait`, and
 * `test_usb_wait plug` with a second device that plugs in later (plug-ms=).
 * `test_usb_wait nohotplug` checks the fallback where libusb has no hotplug (refused by
 * an interposer). `test_usb_wait idle MS` just waits MS on an idle bus, for `strace -c -f`.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD, RTLD_NEXT */
#include "check.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <libusb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "usb_transport.h"

#define VID 0x0483
#define PID_RT 0xFF03
#define PID_DFU 0xDF11
#define REENUM_MS 700
/* Upper bounds on how late a wait ends: loose, for sanitizer builds on a loaded machine.
 * The lower bounds (never early) and the contrast with the timeout are what is tested. */
#define LATE_MS 1000

static volatile sig_atomic_t wake;
static volatile sig_atomic_t chld_seen;

static void on_wake(int sig)
{
	(void)sig;
	wake = 1;
}

static void on_chld(int sig)
{
	(void)sig;
	chld_seen = 1;
}

/*
 * The instant between wait_event's check of *wake and its sleep, made deterministic:
 * libusb_get_pollfds (which the backend calls there, to learn what to sleep on) is
 * interposed, and when armed it raises the signal itself, once. A backend that checks
 * with the signal deliverable would run the handler here and then sleep the whole
 * timeout; one that blocks it gets it delivered inside ppoll and returns at once.
 */
static volatile sig_atomic_t raise_in_pollfds;

const struct libusb_pollfd **libusb_get_pollfds(libusb_context *ctx)
{
	static const struct libusb_pollfd **(*real)(libusb_context *);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "libusb_get_pollfds");
	if (raise_in_pollfds) {
		int sig = raise_in_pollfds;
		raise_in_pollfds = 0;
		raise(sig);
	}
	return real(ctx);
}

/* `test_usb_wait nohotplug`: libusb refuses the hotplug registration, as where it has no
 * hotplug support, to check wait_event's fallback. */
static bool refuse_hotplug;

int libusb_hotplug_register_callback(libusb_context *ctx, int events, int flags, int vendor_id,
                                     int product_id, int dev_class,
                                     libusb_hotplug_callback_fn cb_fn, void *user_data,
                                     libusb_hotplug_callback_handle *handle)
{
	static int (*real)(libusb_context *, int, int, int, int, int, libusb_hotplug_callback_fn,
	                   void *, libusb_hotplug_callback_handle *);
	if (refuse_hotplug)
		return LIBUSB_ERROR_NOT_SUPPORTED;
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "libusb_hotplug_register_callback");
	return real(ctx, events, flags, vendor_id, product_id, dev_class, cb_fn, user_data, handle);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* How many devices with this VID:PID are on the bus. */
static int count(struct st7_usb *u, uint16_t pid)
{
	struct st7_usb_found *f = NULL;
	size_t n = 0;
	struct st7_diag d = { "" };
	int c = 0;
	if (st7_usb_scan(u, NULL, &f, &n, &d) != ST7_OK)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (f[i].dev.id_vendor == VID && f[i].dev.id_product == pid)
			c++;
	st7_usb_found_free(f, n);
	return c;
}

/* Open the first VID:PID device, claim `iface`; NULL when there is none. */
static struct st7_usb_handle *open_dev(struct st7_usb *u, uint16_t pid, uint8_t iface)
{
	struct st7_usb_found *f = NULL;
	size_t n = 0;
	struct st7_diag d = { "" };
	struct st7_usb_handle *h = NULL;
	if (st7_usb_scan(u, NULL, &f, &n, &d) != ST7_OK)
		return NULL;
	for (size_t i = 0; i < n && !h; i++)
		if (f[i].dev.id_vendor == VID && f[i].dev.id_product == pid &&
		    u->ops->open(u->impl, &f[i], &h, &d) == ST7_OK &&
		    u->ops->claim(u->impl, h, iface, 0, &d) != ST7_OK) {
			u->ops->close(u->impl, h);
			h = NULL;
		}
	st7_usb_found_free(f, n);
	if (!h)
		fprintf(stderr, "cannot open %04x:%04x: %s\n", VID, pid, d.msg);
	return h;
}

/* A thread that sends `sig` to the process after `delay_us`, with every signal blocked
 * itself (as the daemon's other threads must). */
struct shot {
	pthread_t t;
	long delay_us;
	int sig;
};

static void *shoot(void *arg)
{
	struct shot *s = arg;
	struct timespec ts = { s->delay_us / 1000000, s->delay_us % 1000000 * 1000 };
	if (s->delay_us)
		nanosleep(&ts, NULL);
	kill(getpid(), s->sig);
	return NULL;
}

static void fire(struct shot *s, long delay_us, int sig)
{
	sigset_t all, old;
	s->delay_us = delay_us;
	s->sig = sig;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&s->t, NULL, shoot, s) != 0) {
		perror("pthread_create");
		exit(1);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static long vcsw(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

/* Every thread but this one (libusb's hotplug thread) has the wake signals blocked. */
static void test_threads_block(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *e;
	int others = 0;
	const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD };
	CHECK(dir != NULL);
	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.' || atol(e->d_name) == (long)getpid())
			continue;
		char p[300], line[256];
		snprintf(p, sizeof(p), "/proc/self/task/%s/status", e->d_name);
		FILE *f = fopen(p, "r");
		unsigned long long blk = 0;
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "SigBlk:", 7))
				blk = strtoull(line + 7, NULL, 16);
		if (f)
			fclose(f);
		others++;
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			if (!(blk & (1ULL << (sigs[i] - 1)))) {
				check_failed++;
				fprintf(stderr,
				        "thread %s does not block signal %d (SigBlk %llx)\n",
				        e->d_name, sigs[i], blk);
			} else {
				check_passed++;
			}
	}
	if (dir)
		closedir(dir);
	CHECK(others >= 1); /* libusb's hotplug thread */
}

static void test_timeout(struct st7_usb *u)
{
	CHECK_INT(st7_usb_wait_event(u, 0, &wake), 0);
	double t = now_ms();
	long cs = vcsw();
	CHECK_INT(st7_usb_wait_event(u, 1000, &wake), 0);
	t = now_ms() - t;
	cs = vcsw() - cs;
	CHECK(t >= 999 && t < 1000 + LATE_MS);
	/* One sleep, not a poll loop: a few switches at most (a 20 ms tick would be 50). */
	if (cs > 4)
		fprintf(stderr, "%ld context switches in a 1 s idle wait\n", cs);
	CHECK(cs <= 4);
	t = now_ms();
	CHECK_INT(st7_usb_wait_event(u, 150, NULL), 0);
	t = now_ms() - t;
	CHECK(t >= 149 && t < 150 + LATE_MS);
}

static void test_signals(struct st7_usb *u)
{
	struct shot s;
	double t;

	/* Already set: at once, even with no timeout. */
	wake = 1;
	t = now_ms();
	CHECK_INT(st7_usb_wait_event(u, -1, &wake), ST7_ERR_ABORTED);
	CHECK(now_ms() - t < LATE_MS / 2);
	/* The signal arrives before the call (between the caller's own check and it). */
	wake = 0;
	kill(getpid(), SIGUSR1);
	t = now_ms();
	CHECK_INT(st7_usb_wait_event(u, -1, &wake), ST7_ERR_ABORTED);
	CHECK(now_ms() - t < LATE_MS / 2);
	/* During the sleep, from another thread, as SIGUSR1 and as SIGTERM. */
	const int sigs[] = { SIGUSR1, SIGTERM };
	for (int i = 0; i < 2; i++) {
		wake = 0;
		fire(&s, 300000, sigs[i]);
		t = now_ms();
		CHECK_INT(st7_usb_wait_event(u, 5000, &wake), ST7_ERR_ABORTED);
		t = now_ms() - t;
		CHECK(t >= 250 && t < 300 + LATE_MS);
		pthread_join(s.t, NULL);
	}
	/* No timeout at all: only the signal ends it. */
	wake = 0;
	fire(&s, 200000, SIGUSR1);
	CHECK_INT(st7_usb_wait_event(u, -1, &wake), ST7_ERR_ABORTED);
	pthread_join(s.t, NULL);

	/* A signal whose handler leaves *wake alone interrupts the sleep, which goes on to
	 * the full timeout. */
	wake = 0;
	chld_seen = 0;
	pid_t c = fork();
	if (c == 0) {
		usleep(200000);
		_exit(0);
	}
	t = now_ms();
	CHECK_INT(st7_usb_wait_event(u, 600, &wake), 0);
	t = now_ms() - t;
	CHECK(chld_seen);
	CHECK(t >= 599 && t < 600 + LATE_MS);
	waitpid(c, NULL, 0);

	/* Between the check and the sleep, exactly (see libusb_get_pollfds above). */
	wake = 0;
	raise_in_pollfds = SIGUSR1;
	t = now_ms();
	CHECK_INT(st7_usb_wait_event(u, 2000, &wake), ST7_ERR_ABORTED);
	t = now_ms() - t;
	CHECK(t < LATE_MS);
	CHECK_INT(raise_in_pollfds, 0); /* it did fire */
	CHECK(wake);

	/* The race: a signal at a random instant around the call (before it, during the
	 * check, in the sleep). Each must end the wait at once; one that slips in between
	 * the check and the sleep would sit out the timeout. */
	uint64_t seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL;
	int slow = 0, wrong = 0, runs = 0;
	for (; runs < 1500 && slow < 3; runs++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		wake = 0;
		fire(&s, (long)(seed >> 33) % 400, SIGUSR1);
		t = now_ms();
		int r = st7_usb_wait_event(u, 1000, &wake);
		t = now_ms() - t;
		pthread_join(s.t, NULL);
		if (r != ST7_ERR_ABORTED)
			wrong++;
		if (t > 900) /* a signal missed sits out the 1000 ms timeout */
			slow++;
	}
	if (slow || wrong)
		fprintf(stderr, "race: %d slow, %d wrong of %d\n", slow, wrong, runs);
	CHECK_INT(slow, 0);
	CHECK_INT(wrong, 0);
	wake = 0;
}

/* DFU_DETACH + USB reset: the device leaves (remove) and comes back in DFU mode after
 * reenum-ms (add). Each shows as a 1; nothing else afterwards. */
static void test_reenumeration(struct st7_usb *u)
{
	CHECK_INT(count(u, PID_RT), 1);
	struct st7_usb_handle *h = open_dev(u, PID_RT, 1);
	CHECK(h != NULL);
	if (!h)
		return;
	/* Nothing pending before the device moves. */
	CHECK_INT(st7_usb_wait_event(u, 0, &wake), 0);
	size_t actual;
	CHECK_INT(u->ops->control(u->impl, h, 0x21, 0 /* DFU_DETACH */, 1000, 1, NULL, 0, 1000,
	                          &actual),
	          ST7_OK);
	double t0 = now_ms();
	CHECK_INT(u->ops->reset(u->impl, h), ST7_ERR_NO_DEVICE);
	u->ops->close(u->impl, h);
	/* The remove is in libusb's queue, not handled yet: a timeout of 0 still sees it. */
	usleep(200000);
	CHECK_INT(st7_usb_wait_event(u, 0, &wake), 1);
	int ones = 1;
	double back = -1, last_call = 0;
	while (now_ms() - t0 < 5000) {
		double t = now_ms();
		int r = st7_usb_wait_event(u, 3000, &wake);
		last_call = now_ms() - t;
		CHECK_INT(r, 1);
		if (r != 1)
			break;
		ones++;
		if (count(u, PID_DFU) == 1) {
			back = now_ms() - t0;
			break;
		}
	}
	/* The remove, then the add, which the wait slept for. */
	CHECK(ones >= 2);
	CHECK(back >= REENUM_MS - 50 && back < REENUM_MS + 2 * LATE_MS);
	CHECK(last_call >= REENUM_MS / 2);
	CHECK_INT(count(u, PID_RT), 0);
	double t = now_ms();
	CHECK_INT(st7_usb_wait_event(u, 300, &wake), 0);
	CHECK(now_ms() - t >= 299);
}

/* The engine's wait_change consumes its own flag, not wait_event's, and the other way
 * round: a USB reset in DFU mode runs the (valid) application, a mode change, so the
 * device re-enumerates once more. */
static void test_no_fight(struct st7_usb *u)
{
	struct st7_usb_handle *h = open_dev(u, PID_DFU, 0);
	CHECK(h != NULL);
	if (!h)
		return;
	/* wait_change's flag still holds the events wait_event reported above: clear it. */
	u->ops->wait_change(u->impl, 0);
	CHECK_INT(u->ops->reset(u->impl, h), ST7_ERR_NO_DEVICE);
	u->ops->close(u->impl, h);
	/* wait_change wakes up on the remove and handles it (on_hotplug sets both flags). */
	double t0 = now_ms();
	u->ops->wait_change(u->impl, 3000);
	CHECK(now_ms() - t0 < REENUM_MS / 2);
	/* The add comes meanwhile: queued in libusb, not handled; a scan already lists it. */
	usleep((REENUM_MS + 300) * 1000);
	CHECK_INT(count(u, PID_RT), 1);
	/* wait_event still reports what wait_change saw, and folds the queued add into the
	 * same 1: nothing is left for the next call. */
	CHECK_INT(st7_usb_wait_event(u, 0, &wake), 1);
	CHECK_INT(st7_usb_wait_event(u, 200, &wake), 0);
	/* The other way round: events that wait_event handled and reported still count
	 * for wait_change, whose flag is its own. */
	h = open_dev(u, PID_RT, 1);
	CHECK(h != NULL);
	if (!h)
		return;
	size_t actual;
	CHECK_INT(u->ops->control(u->impl, h, 0x21, 0, 1000, 1, NULL, 0, 1000, &actual), ST7_OK);
	CHECK_INT(u->ops->reset(u->impl, h), ST7_ERR_NO_DEVICE);
	u->ops->close(u->impl, h);
	t0 = now_ms();
	while (count(u, PID_DFU) != 1 && now_ms() - t0 < 5000)
		CHECK_INT(st7_usb_wait_event(u, 3000, &wake), 1);
	double t = now_ms();
	u->ops->wait_change(u->impl, 2000); /* at once */
	CHECK(now_ms() - t < LATE_MS);
}

/* plug-ms=1500: a second device that appears 1.5 s after the emulator started; the wait
 * sleeps until then and returns 1 with it on the bus. */
static void test_plug(struct st7_usb *u)
{
	int before = count(u, PID_RT) + count(u, PID_DFU);
	double t0 = now_ms(), last = 0;
	int r = 1;
	while (r == 1 && count(u, PID_RT) + count(u, PID_DFU) == before && now_ms() - t0 < 5000) {
		double t = now_ms();
		r = st7_usb_wait_event(u, 4000, &wake);
		last = now_ms() - t;
	}
	CHECK_INT(r, 1);
	CHECK_INT(before, 1);
	CHECK_INT(count(u, PID_RT) + count(u, PID_DFU), before + 1);
	CHECK(last > 500 && last < 1500 + LATE_MS);
}

/* Without hotplug: a 1 every 2 s of waiting, so the caller rescans; 0 for a shorter
 * timeout; signals as ever. */
static void test_nohotplug(struct st7_usb *u)
{
	struct shot s;
	double t = now_ms();
	CHECK_INT(st7_usb_wait_event(u, -1, &wake), 1);
	t = now_ms() - t;
	CHECK(t >= 1999 && t < 2000 + LATE_MS);
	t = now_ms();
	CHECK_INT(st7_usb_wait_event(u, 5000, &wake), 1);
	t = now_ms() - t;
	CHECK(t >= 1999 && t < 2000 + LATE_MS);
	t = now_ms();
	CHECK_INT(st7_usb_wait_event(u, 700, &wake), 0);
	t = now_ms() - t;
	CHECK(t >= 699 && t < 700 + LATE_MS);
	CHECK_INT(st7_usb_wait_event(u, 0, &wake), 0);
	wake = 0;
	fire(&s, 300000, SIGUSR1);
	t = now_ms();
	CHECK_INT(st7_usb_wait_event(u, -1, &wake), ST7_ERR_ABORTED);
	t = now_ms() - t;
	CHECK(t >= 250 && t < 300 + LATE_MS);
	pthread_join(s.t, NULL);
	wake = 0;
	raise_in_pollfds = SIGUSR1;
	CHECK_INT(st7_usb_wait_event(u, 1000, &wake), ST7_ERR_ABORTED);
	wake = 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);

	struct st7_usb u;
	struct st7_diag d = { "" };
	refuse_hotplug = argc > 1 && !strcmp(argv[1], "nohotplug");
	if (st7_usb_libusb_init(&u, &d) != ST7_OK) {
		fprintf(stderr, "libusb: %s\n", d.msg);
		return 1;
	}
	if (argc > 2 && !strcmp(argv[1], "idle")) {
		/* For `strace -c -f`: one wait of that many ms on an idle bus. */
		CHECK_INT(st7_usb_wait_event(&u, atoi(argv[2]), &wake), 0);
	} else if (refuse_hotplug) {
		test_nohotplug(&u);
	} else if (argc > 1 && !strcmp(argv[1], "plug")) {
		test_plug(&u);
	} else {
		test_threads_block();
		test_timeout(&u);
		test_signals(&u);
		test_reenumeration(&u);
		test_no_fight(&u);
	}
	st7_usb_free(&u);
	return check_report();
}
