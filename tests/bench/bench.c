/* SPDX-License-Identifier: MIT */
/*
 * st7dfu-bench: prints throughput figures; it asserts nothing (CI machines are noisy).
 *   CRC-32 (sliced and bytewise), DfuSe parsing of a 1 MiB file, Intel HEX and
 *   S-record parsing, SHA-256 (what every signature check hashes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv)
{
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
