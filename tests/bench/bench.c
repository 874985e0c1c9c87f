/* SPDX-License-Identifier: MIT */
/*
 * st7dfu-bench: prints throughput figures; it asserts nothing (CI machines are noisy).
 *   CRC-32 (sliced and bytewise), DfuSe parsing of a 1 MiB file, Intel HEX and
 *   S-record parsing, SHA-256 (what every signature check hashes).
 *
 * st7dfu-bench wakeup VID:PID [ROUNDS [SLEEP_US]]: run under st7dfu-emu by
 *   upgrade-bench.sh; measures what a control transfer costs right after the host slept
 *   (the emulator's per-wake-up cost) against the same transfer back to back. Prints one
 *   line of medians in microseconds:
 *     xfer X sleep S both B wake W
 *   X: one GETSTATUS back to back; S: one absolute-deadline sleep of SLEEP_US alone;
 *   B: the same sleep followed by one GETSTATUS; W = B - S - X.
 */
#include <errno.h>
#include <libusb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "crc32.h"
#include "dfu_file.h"
#include "ihex.h"
#include "srec.h"
#include "backends.h"
#include "verify.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run `body` repeatedly for at least `min_s` seconds; store bytes per second in `rate`. */
#define MEASURE(rate, min_s, bytes, ...)                    \
	do {                                                \
		double t0_ = now(), t_;                     \
		unsigned long n_ = 0;                       \
		do {                                        \
			__VA_ARGS__;                        \
			n_++;                               \
		} while ((t_ = now() - t0_) < (min_s));     \
		(rate) = (double)(bytes) * (double)n_ / t_; \
	} while (0)

static volatile uint32_t sink;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void sleep_until(double t)
{
	struct timespec ts = { (time_t)t, (long)((t - (double)(time_t)t) * 1e9) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* GETSTATUS to DFU interface 0 (a device in DFU mode, dfuIDLE: the state stays). */
static int getstatus(libusb_device_handle *h)
{
	uint8_t st[6];
	return libusb_control_transfer(h, 0xA1, 3, 0, 0, st, 6, 5000) == 6 ? 0 : -1;
}

static int wakeup(int argc, char **argv)
{
	unsigned vid, pid;
	if (argc < 3 || sscanf(argv[2], "%x:%x", &vid, &pid) != 2) {
		fprintf(stderr, "usage: st7dfu-bench wakeup VID:PID [ROUNDS [SLEEP_US]]\n");
		return 2;
	}
	int n = argc > 3 ? atoi(argv[3]) : 100;
	double slp = (argc > 4 ? atof(argv[4]) : 5000) / 1e6;
	if (n < 1 || n > 100000 || slp <= 0) {
		fprintf(stderr, "st7dfu-bench wakeup: bad ROUNDS or SLEEP_US\n");
		return 2;
	}
	/* As the engine sleeps while a transfer runs (issue 11): 1 ns timer slack. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	libusb_context *ctx = NULL;
	libusb_device_handle *h = NULL;
	double *x = calloc((size_t)n * 3, sizeof *x), *s = x + n, *b = x + 2 * n;
	int rc = 1;
	if (!x || libusb_init(&ctx) != 0)
		goto out;
	h = libusb_open_device_with_vid_pid(ctx, (uint16_t)vid, (uint16_t)pid);
	if (!h || libusb_claim_interface(h, 0) != 0) {
		fprintf(stderr, "st7dfu-bench wakeup: cannot open and claim %04x:%04x\n", vid, pid);
		goto out;
	}
	for (int i = 0; i < 5; i++) /* warm up */
		if (getstatus(h))
			goto xfer_failed;
	/* Interleaved, so that a slow moment of the machine hits all three alike. */
	for (int i = 0; i < n; i++) {
		double t0 = now();
		if (getstatus(h))
			goto xfer_failed;
		double t1 = now();
		sleep_until(t1 + slp);
		double t2 = now();
		sleep_until(t2 + slp);
		if (getstatus(h))
			goto xfer_failed;
		double t3 = now();
		x[i] = t1 - t0;
		s[i] = t2 - t1;
		b[i] = t3 - t2;
	}
	double mx = median(x, n) * 1e6, ms = median(s, n) * 1e6, mb = median(b, n) * 1e6;
	printf("xfer %.0f sleep %.0f both %.0f wake %.0f\n", mx, ms, mb, mb - ms - mx);
	rc = 0;
	goto out;
xfer_failed:
	fprintf(stderr, "st7dfu-bench wakeup: GETSTATUS failed\n");
out:
	if (h)
		libusb_close(h);
	if (ctx)
		libusb_exit(ctx);
	free(x);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "wakeup") == 0)
		return wakeup(argc, argv);
	double min_s = argc > 1 ? atof(argv[1]) : 1.0;
	struct st7_diag init_d;
	if (st7_backends_global_init(&init_d) != ST7_OK) { /* PSA crypto on mbedTLS 3.x */
		fprintf(stderr, "%s\n", init_d.msg);
		return 1;
	}
	size_t n = 16u << 20;
	uint8_t *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 24);

	double crc, crc1, parse, ihex, srec;
	MEASURE(crc, min_s, n, sink = st7_crc32_update(ST7_CRC32_INIT, buf, n));
	MEASURE(crc1, min_s, n / 16, sink = st7_crc32_update_bytewise(ST7_CRC32_INIT, buf, n / 16));
	printf("crc32 slice-by-16       %8.0f MB/s\n", crc / 1e6);
	printf("crc32 bytewise          %8.0f MB/s\n", crc1 / 1e6);

	/* A 1 MiB DfuSe file: 4 targets, 16 elements each. */
	struct st7_dfuse_target_spec t[4];
	struct st7_memimg m[4];
	size_t per = (1u << 20) / 64;
	for (int k = 0; k < 4; k++) {
		st7_memimg_init(&m[k]);
		for (int e = 0; e < 16; e++)
			st7_memimg_add(&m[k], 0x08000000u + (uint32_t)e * 0x20000u,
			               buf + per * (size_t)(k * 16 + e), per, NULL);
		t[k] = (struct st7_dfuse_target_spec){ (uint8_t)k, "Internal Flash", &m[k] };
	}
	struct st7_buf file;
	st7_buf_init(&file);
	struct st7_dfu_ids ids = { 0x0483, 0xDF11, 0x0200, 0 };
	if (st7_dfu_build_dfuse(t, 4, &ids, &file, NULL) != ST7_OK)
		return 1;
	struct st7_dfu_file f;
	st7_dfu_file_init(&f);
	MEASURE(parse, min_s, file.len, {
		st7_dfu_file_parse(&f, file.data, file.len, 0, NULL);
		st7_dfu_file_free(&f);
	});
	double t0 = now();
	st7_dfu_file_parse(&f, file.data, file.len, 0, NULL);
	double one = now() - t0;
	st7_dfu_file_free(&f);
	printf("dfuse parse (%zu KiB)  %8.0f MB/s  (%.2f ms per file)\n", file.len >> 10,
	       parse / 1e6, one * 1e3);

	/* Record formats, 1 MiB of data each. */
	struct st7_memimg one_mib, back;
	struct st7_buf text;
	st7_memimg_init(&one_mib);
	st7_memimg_add(&one_mib, 0x00010000, buf, 1u << 20, NULL);
	st7_buf_init(&text);
	st7_ihex_write(&one_mib, 16, NULL, &text);
	MEASURE(ihex, min_s, text.len, {
		st7_memimg_init(&back);
		st7_ihex_parse((const char *)text.data, text.len, &back, NULL, NULL);
		st7_memimg_free(&back);
	});
	printf("ihex parse (%zu KiB)  %8.0f MB/s of text\n", text.len >> 10, ihex / 1e6);
	text.len = 0;
	st7_srec_write(&one_mib, 16, "bench", NULL, &text);
	MEASURE(srec, min_s, text.len, {
		st7_memimg_init(&back);
		st7_srec_parse((const char *)text.data, text.len, 0, &back, NULL, NULL, NULL);
		st7_memimg_free(&back);
	});
	printf("srec parse (%zu KiB)  %8.0f MB/s of text\n", text.len >> 10, srec / 1e6);

	double sha;
	uint8_t digest[ST7_SHA256_LEN];
	MEASURE(sha, min_s, n, st7_sha256(buf, n, digest));
	printf("sha256 (mbedTLS)        %8.0f MB/s  (%.2f ms for a 1 MiB image)\n", sha / 1e6,
	       1048576.0 / sha * 1e3);

	st7_buf_free(&text);
	st7_memimg_free(&one_mib);
	for (int k = 0; k < 4; k++)
		st7_memimg_free(&m[k]);
	st7_buf_free(&file);
	free(buf);
	return 0;
}
