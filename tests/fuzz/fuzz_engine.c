/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the DFU host engine (dfu_engine.h) against a hostile or broken
 * device: an in-process fake transport answers every request from the fuzz input, so
 * scan results (descriptors, layout strings, serials, paths), open/claim/reset
 * results, control transfer errors, GETSTATUS replies and UPLOAD data and lengths are
 * all the fuzzer's. A fake clock never sleeps. When the input runs out the device is
 * gone (errors, NO_DEVICE, empty scans), so every run ends; a run that keeps calling a
 * gone device is reported as a hang.
 *
 * Input layout:
 *   byte 0   options: bits 0-1 retries - 1, bit 2 reenum timeout 120 ms (else 500),
 *            bits 3-4 poll cap (10000, 1, 50, 0 ms)
 *   byte 1   raise the abort flag at this transport call (0: never)
 *   byte 2   selector: bit 0 id 0483:DF11, bit 1 path "1-1", bit 2 serial "A1"
 *   byte 3   number of operations (mod 9), then two bytes per operation: opcode
 *            (see run_op) and parameter
 *   rest     the device's replies, consumed in call order; each reply starts with an
 *            outcome byte: bit 2 set is an error (bits 0-1 pick which), bit 3 a
 *            short reply whose length follows (GETSTATUS: 1 byte, UPLOAD: 2 bytes)
 *   scan     header (bits 0-1: devices, 0xF0 and above: the USB stack fails), then per
 *            device: template (bits 0-2), path (3-4), serial (5-6), bit 7 tweaks
 *            follow; the address; tweaks: a flags byte and the fields it names
 *            (see scan_one)
 * ST7DFU_FUZZ_TRACE=1 in the environment prints every call (for writing seeds).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfu_engine.h"
#include "log.h"

/* Transport calls allowed after the input ran out: every wait is bounded by time and
 * the fake clock moves, so a run that needs more is spinning on a gone device. */
#define MAX_DRY_CALLS 100000

struct fake {
	const uint8_t *p;
	size_t n, pos;
	uint64_t now; /* the fake clock, ms */
	unsigned calls, dry_calls, abort_at;
	volatile sig_atomic_t abort_flag;
	unsigned open_handles;
	uint32_t up_seq; /* byte value of everything UPLOAD returns: a running counter */
	size_t up_total; /* bytes UPLOAD replies returned */
};

struct st7_usb_handle {
	bool claimed;
	uint8_t interface;
};

static bool trace_on;

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
	if (!trace_on)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static bool more(const struct fake *fk)
{
	return fk->pos < fk->n;
}

static uint8_t take(struct fake *fk)
{
	return more(fk) ? fk->p[fk->pos++] : 0;
}

static uint16_t take16(struct fake *fk)
{
	uint8_t lo = take(fk);
	return (uint16_t)(lo | take(fk) << 8);
}

static void tick(struct fake *fk)
{
	fk->calls++;
	if (fk->abort_at && fk->calls >= fk->abort_at)
		fk->abort_flag = 1;
	if (!more(fk) && ++fk->dry_calls > MAX_DRY_CALLS) {
		fprintf(stderr, "fuzz_engine: %u transport calls after the device went away\n",
		        fk->dry_calls);
		abort();
	}
}

/* One reply's outcome byte; an error code from `errs`, or ST7_OK. Past the end of the
 * input the device is gone. */
static int outcome(struct fake *fk, const int errs[4], uint8_t *b)
{
	*b = 0;
	if (!more(fk))
		return ST7_ERR_NO_DEVICE;
	*b = take(fk);
	return *b & 4 ? errs[*b & 3] : ST7_OK;
}

static const int control_errs[4] = { ST7_ERR_STALL, ST7_ERR_TIMEOUT, ST7_ERR_NO_DEVICE,
	                             ST7_ERR_USB };
static const int open_errs[4] = { ST7_ERR_NO_DEVICE, ST7_ERR_ACCESS, ST7_ERR_BUSY, ST7_ERR_USB };
static const int claim_errs[4] = { ST7_ERR_BUSY, ST7_ERR_STALL, ST7_ERR_USB, ST7_ERR_NO_DEVICE };
static const int reset_errs[4] = { ST7_ERR_USB, ST7_ERR_TIMEOUT, ST7_ERR_NO_DEVICE,
	                           ST7_ERR_ACCESS };

/* Descriptors of real kinds of devices; the fuzzer picks one and may tweak it. */
static const uint8_t func10_64[] = { 7, 0x21, 0x03, 0xE8, 0x03, 0x40, 0x00 };
static const uint8_t func11_256[] = { 9, 0x21, 0x07, 0xF4, 0x01, 0x00, 0x01, 0x10, 0x01 };
static const uint8_t func11_will_detach[] = { 9, 0x21, 0x0B, 0xF4, 0x01, 0x80, 0x00, 0x10, 0x01 };
static const uint8_t funcse[] = { 9, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x08, 0x1A, 0x01 };
static const uint8_t func_short[] = { 5, 0x21, 0x03, 0xE8, 0x03 };

static const char *const paths[4] = { "1-1", "1-2", "1-1.4", "2-1" };
static const char *const serials[4] = { "", "A1", "B2", "A1" };

static void add_alt(struct st7_usb_found *f, uint8_t num, uint8_t alt, uint8_t cls, uint8_t sub,
                    uint8_t proto, const uint8_t *extra, size_t len, const char *name)
{
	struct st7_usb_found_alt *a = &f->alts[f->n_alts++];
	a->desc = (struct st7_usb_altsetting){ num, alt, cls, sub, proto, 0, NULL, 0 };
	if (len) {
		a->extra = malloc(len);
		if (!a->extra)
			abort();
		memcpy(a->extra, extra, len);
		a->desc.extra = a->extra;
		a->desc.extra_len = len;
	}
	snprintf(a->name, sizeof(a->name), "%s", name);
}

/* The first DFU alternate setting, where the tweaks go. */
static struct st7_usb_found_alt *dfu_alt(struct st7_usb_found *f)
{
	for (size_t i = 0; i < f->n_alts; i++)
		if (f->alts[i].desc.cls == ST7_USB_CLASS_APP_SPECIFIC &&
		    f->alts[i].desc.subclass == ST7_USB_SUBCLASS_DFU)
			return &f->alts[i];
	return NULL;
}

static void scan_one(struct fake *fk, struct st7_usb_found *f)
{
	uint8_t t = take(fk);
	f->alts = calloc(4, sizeof(*f->alts));
	if (!f->alts)
		abort();
	f->bus = 1;
	f->address = take(fk);
	snprintf(f->path, sizeof(f->path), "%s", paths[(t >> 3) & 3]);
	snprintf(f->node, sizeof(f->node), "/dev/bus/usb/001/%03u", f->address);
	snprintf(f->serial, sizeof(f->serial), "%s", serials[(t >> 5) & 3]);
	f->speed = ST7_USB_SPEED_FULL;
	f->dev_ok = true;
	f->dev.max_packet_size0 = 8;
	f->dev.bcd_device = 0x0102;
	f->dev.id_vendor = 0x0483;
	f->dev.id_product = 0xDF11;
	switch (t & 7) {
	case 0: /* ST72F65 in runtime mode: HID beside DFU 1.0, the host resets */
		f->dev.id_product = 0xFF03;
		add_alt(f, 0, 0, 3, 0, 0, NULL, 0, "");
		add_alt(f, 1, 0, 0xFE, 1, 0, func10_64, sizeof(func10_64), "");
		break;
	case 1: /* an ST7 loader: device class FE/01, a lone DFU 1.0 interface */
		f->dev.device_class = 0xFE;
		f->dev.device_subclass = 1;
		add_alt(f, 0, 0, 0xFE, 1, 0, func10_64, sizeof(func10_64), "ST7 Flash");
		break;
	case 2: /* DFU 1.1 runtime, manifestation tolerant */
		f->dev.id_vendor = 0x1234;
		f->dev.id_product = 0x0001;
		add_alt(f, 0, 0, 0xFF, 0, 0, NULL, 0, "");
		add_alt(f, 1, 0, 0xFE, 1, 1, func11_256, sizeof(func11_256), "");
		break;
	case 3: /* DFU 1.1 in DFU mode */
		f->dev.id_vendor = 0x1234;
		f->dev.id_product = 0x0002;
		add_alt(f, 0, 0, 0xFE, 1, 2, func11_will_detach, sizeof(func11_will_detach), "");
		break;
	case 4: /* DfuSe in DFU mode: three alt settings with layouts */
		add_alt(f, 0, 0, 0xFE, 1, 2, funcse, sizeof(funcse),
		        "@Internal Flash  /0x08000000/04*016Kg,01*064Kg");
		add_alt(f, 0, 1, 0xFE, 1, 2, NULL, 0, "@Option Bytes  /0x1FFFC000/01*016 e");
		add_alt(f, 0, 2, 0xFE, 1, 2, NULL, 0, "@Data /0x08080000/08*001Kg");
		break;
	case 5: /* DfuSe in runtime mode, detaching by itself */
		f->dev.id_product = 0x5740;
		add_alt(f, 0, 0, 3, 0, 0, NULL, 0, "");
		add_alt(f, 1, 0, 0xFE, 1, 1, funcse, sizeof(funcse), "");
		break;
	case 6: /* a keyboard */
		f->dev.id_vendor = 0x046D;
		add_alt(f, 0, 0, 3, 1, 1, NULL, 0, "");
		break;
	default: /* a truncated functional descriptor */
		add_alt(f, 0, 0, 0xFE, 1, 2, func_short, sizeof(func_short), "");
		break;
	}
	if (!(t & 0x80))
		return;
	uint8_t fl = take(fk);
	struct st7_usb_found_alt *a = dfu_alt(f);
	if ((fl & 0x01) && a) { /* the functional descriptor's bytes */
		size_t len = take(fk) % 16;
		free(a->extra);
		a->extra = malloc(len ? len : 1);
		if (!a->extra)
			abort();
		for (size_t i = 0; i < len; i++)
			a->extra[i] = take(fk);
		a->desc.extra = a->extra;
		a->desc.extra_len = len;
	}
	if ((fl & 0x02) && a) { /* the layout string */
		size_t len = take(fk) % 64;
		for (size_t i = 0; i < len; i++)
			a->name[i] = (char)take(fk);
		a->name[len] = '\0';
	}
	if (fl & 0x04)
		f->raw_config_err = ST7_ERR_FORMAT;
	if ((fl & 0x08) && a)
		a->desc.protocol = take(fk) % 3;
	if (fl & 0x10)
		f->dev.bcd_device = take16(fk);
	if ((fl & 0x20) && a && a->desc.extra_len >= 7) { /* wTransferSize */
		a->extra[5] = take(fk);
		a->extra[6] = take(fk) & 0x1F;
	}
	if ((fl & 0x40) && a && a->extra) { /* the descriptor at configuration level */
		f->config_extra = a->extra;
		f->config_extra_len = a->desc.extra_len;
		a->extra = NULL;
		a->desc.extra = NULL;
		a->desc.extra_len = 0;
	}
	if (fl & 0x80) /* a second DFU interface */
		add_alt(f, 2, 0, 0xFE, 1, 2, func11_256, sizeof(func11_256), "");
}

static int fake_scan(void *impl, bool (*want_strings)(const struct st7_usb_found *f),
                     struct st7_usb_found **out, size_t *n, struct st7_diag *d)
{
	struct fake *fk = impl;
	(void)want_strings;
	tick(fk);
	*out = NULL;
	*n = 0;
	if (!more(fk)) {
		trace("scan: nothing (input ended)");
		*out = calloc(1, sizeof(**out));
		return *out ? ST7_OK : ST7_ERR_NOMEM;
	}
	uint8_t h = take(fk);
	if (h >= 0xF0) {
		trace("scan: USB stack error");
		return st7_diag_set(d, ST7_ERR_USB, "cannot list USB devices (fake)");
	}
	size_t cnt = h & 3;
	*out = calloc(cnt ? cnt : 1, sizeof(**out));
	if (!*out)
		abort();
	for (size_t i = 0; i < cnt; i++) {
		scan_one(fk, &(*out)[i]);
		trace("scan: %s addr %u %04x:%04x serial \"%s\" alts %zu", (*out)[i].path,
		      (*out)[i].address, (*out)[i].dev.id_vendor, (*out)[i].dev.id_product,
		      (*out)[i].serial, (*out)[i].n_alts);
	}
	*n = cnt;
	return ST7_OK;
}

static int fake_open(void *impl, const struct st7_usb_found *f, struct st7_usb_handle **h,
                     struct st7_diag *d)
{
	struct fake *fk = impl;
	uint8_t b;
	tick(fk);
	*h = NULL;
	/* Read what the engine hands over: a stale scan entry shows up under ASan. */
	volatile uint8_t where = (uint8_t)(f->bus ^ f->address ^ (uint8_t)f->path[0]);
	(void)where;
	trace("open %s addr %u", f->path, f->address);
	int ret = outcome(fk, open_errs, &b);
	if (ret)
		return st7_diag_set(d, ret, "cannot open %s (fake): %s", f->node,
		                    st7_strerror(ret));
	*h = calloc(1, sizeof(**h));
	if (!*h)
		abort();
	fk->open_handles++;
	return ST7_OK;
}

static void fake_close(void *impl, struct st7_usb_handle *h)
{
	struct fake *fk = impl;
	if (!h)
		return;
	trace("close");
	fk->open_handles--;
	free(h);
}

static int fake_claim(void *impl, struct st7_usb_handle *h, uint8_t interface, uint8_t alt,
                      struct st7_diag *d)
{
	struct fake *fk = impl;
	uint8_t b;
	tick(fk);
	if (!h || h->claimed) /* claimed once per open */
		abort();
	int ret = outcome(fk, claim_errs, &b);
	trace("claim interface %u alt %u: %d", interface, alt, ret);
	if (ret)
		return st7_diag_set(d, ret, "cannot claim interface %u (fake)", interface);
	h->claimed = true;
	h->interface = interface;
	return ST7_OK;
}

static int fake_control(void *impl, struct st7_usb_handle *h, uint8_t request_type, uint8_t request,
                        uint16_t value, uint16_t index, uint8_t *data, uint16_t len,
                        unsigned timeout_ms, size_t *actual)
{
	struct fake *fk = impl;
	uint8_t b;
	(void)timeout_ms;
	tick(fk);
	/* A transfer only on an open, claimed handle, to the claimed interface. */
	if (!h || !h->claimed || index != h->interface || (len && !data))
		abort();
	if (request_type == ST7_DFU_REQTYPE_OUT) {
		/* Touch every byte the engine claims to send: ASan sees an overread. */
		volatile uint8_t sum = 0;
		for (uint16_t i = 0; i < len; i++)
			sum += data[i];
		(void)sum;
		int ret = outcome(fk, control_errs, &b);
		trace("%s value %u len %u: %d", st7_dfu_request_name(request), value, len, ret);
		return ret;
	}
	if (request_type != ST7_DFU_REQTYPE_IN || !actual)
		abort();
	/* A USB stack may write up to `len`: the buffer must hold it (ASan checks). */
	memset(data, 0xEE, len);
	*actual = 0;
	int ret = outcome(fk, control_errs, &b);
	if (ret) {
		trace("%s value %u len %u: %d", st7_dfu_request_name(request), value, len, ret);
		return ret;
	}
	size_t n = len;
	if (request == ST7_DFU_UPLOAD) {
		if (b & 8)
			n = take16(fk) % ((size_t)len + 1);
		for (size_t i = 0; i < n; i++)
			data[i] = (uint8_t)fk->up_seq++;
		fk->up_total += n;
	} else {
		if (b & 8)
			n = take(fk) % ((size_t)len + 1);
		for (size_t i = 0; i < n; i++)
			data[i] = take(fk);
	}
	*actual = n;
	trace("%s value %u len %u: %zu bytes %s", st7_dfu_request_name(request), value, len, n,
	      request == ST7_DFU_GETSTATUS && n == 6 ? st7_dfu_state_name(data[4]) : "");
	return ST7_OK;
}

static int fake_reset(void *impl, struct st7_usb_handle *h)
{
	struct fake *fk = impl;
	uint8_t b;
	tick(fk);
	if (!h)
		abort();
	int ret = outcome(fk, reset_errs, &b);
	trace("reset: %d", ret);
	return ret;
}

static void fake_wait_change(void *impl, unsigned timeout_ms)
{
	struct fake *fk = impl;
	tick(fk);
	fk->now += timeout_ms;
}

static void fake_destroy(void *impl)
{
	(void)impl;
}

static const struct st7_usb_ops fake_ops = {
	.name = "fuzz",
	.scan = fake_scan,
	.open = fake_open,
	.close = fake_close,
	.claim = fake_claim,
	.control = fake_control,
	.reset = fake_reset,
	.wait_change = fake_wait_change,
	.destroy = fake_destroy,
};

static uint64_t fake_now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static uint64_t fake_now_us(void *ctx)
{
	return ((struct fake *)ctx)->now * 1000;
}

static bool fake_sleep_until_us(void *ctx, uint64_t deadline_us)
{
	struct fake *fk = ctx;
	uint64_t ms = (deadline_us + 999) / 1000; /* the clock ticks in ms: round up */
	if (ms > fk->now)
		fk->now = ms;
	return true;
}

static uint64_t fake_set_slack_ns(void *ctx, uint64_t ns)
{
	(void)ctx;
	(void)ns;
	return 0;
}

static void on_progress(void *arg, const char *phase, size_t done, size_t total)
{
	(void)arg;
	if (!phase || (strcmp(phase, "download") == 0 && done > total))
		abort();
}

/* Two DfuSe files the engine downloads: two targets on alt 0 and 2 that fit the
 * template's layout, and one whose alt 1 is read-only option bytes. */
static struct st7_buf dfuse_buf[2];
static struct st7_dfu_file dfuse_file[2];
static uint8_t pattern[4096];

static void build_dfuse(int k)
{
	struct st7_memimg m[2];
	struct st7_dfuse_target_spec spec[2];
	struct st7_dfu_ids ids = { 0x0483, 0xDF11, 0x0200, 0 };
	unsigned n = k == 0 ? 2 : 1;
	for (unsigned t = 0; t < 2; t++)
		st7_memimg_init(&m[t]);
	if (k == 0) {
		st7_memimg_add(&m[0], 0x08000000, pattern, 100, NULL);
		st7_memimg_add(&m[0], 0x08004000, pattern, 3000, NULL);
		st7_memimg_add(&m[1], 0x08080000, pattern, 1500, NULL);
		spec[0] = (struct st7_dfuse_target_spec){ 0, "Internal Flash", &m[0] };
		spec[1] = (struct st7_dfuse_target_spec){ 2, "Data", &m[1] };
	} else {
		st7_memimg_add(&m[0], 0x1FFFC000, pattern, 16, NULL);
		spec[0] = (struct st7_dfuse_target_spec){ 1, NULL, &m[0] };
	}
	st7_buf_init(&dfuse_buf[k]);
	st7_dfu_file_init(&dfuse_file[k]);
	if (st7_dfu_build_dfuse(spec, n, &ids, &dfuse_buf[k], NULL) != ST7_OK ||
	    st7_dfu_file_parse(&dfuse_file[k], dfuse_buf[k].data, dfuse_buf[k].len, 0, NULL) !=
	            ST7_OK)
		abort();
	for (unsigned t = 0; t < 2; t++)
		st7_memimg_free(&m[t]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *t = getenv("ST7DFU_FUZZ_TRACE");
	trace_on = t && *t && strcmp(t, "0") != 0;
	/* Warnings about failed attempts are the expected outcome here. */
	st7_log_open(ST7_LOG_STDERR, trace_on ? ST7_LOG_DEBUG : ST7_LOG_ERR, "fuzz_engine");
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 1);
	build_dfuse(0);
	build_dfuse(1);
	return 0;
}

static const size_t upload_max[4] = { 64, 1000, 4096, 65536 };
static const size_t download_len[8] = { 1, 64, 100, 300, 1000, 2049, 7, 128 };
static const uint32_t dfuse_addr[4] = { 0x08000000, 0x1FFFC000, 0x08080000, 0xFFFFFFC0 };
static const size_t dfuse_len[4] = { 16, 100, 3000, 1 };

/* An upload that succeeded returned exactly what the device sent, in order. */
static void check_upload(const struct fake *fk, const struct st7_buf *out, uint32_t seq0,
                         size_t total0)
{
	if (out->len != fk->up_total - total0)
		abort();
	for (size_t i = 0; i < out->len; i++)
		if (out->data[i] != (uint8_t)(seq0 + i))
			abort();
}

static int run_op(struct st7_engine *e, struct fake *fk, uint8_t op, uint8_t param)
{
	struct st7_diag d = { "" };
	struct st7_buf out;
	uint32_t seq0 = fk->up_seq;
	size_t total0 = fk->up_total;
	int ret = ST7_OK;

	st7_buf_init(&out);
	switch (op % 12) {
	case 0:
		ret = st7_engine_enter_dfu(e, &d);
		break;
	case 1:
		ret = st7_engine_upload(e, upload_max[param & 3], &out, &d);
		if (ret == ST7_OK && out.len > upload_max[param & 3])
			abort();
		if (ret == ST7_OK)
			check_upload(fk, &out, seq0, total0);
		break;
	case 2: {
		/* An exact-size copy, so that ASan sees a read past the image. */
		size_t len = download_len[param & 7];
		uint8_t *img = malloc(len);
		bool needs_reset = true;
		if (!img)
			abort();
		memcpy(img, pattern, len);
		ret = st7_engine_download(e, img, len, &needs_reset, &d);
		free(img);
		break;
	}
	case 3:
		ret = st7_engine_finish(e, param & 1,
		                        param & 2 ? ST7_DFU_MODE_DFU : ST7_DFU_MODE_RUNTIME, &d);
		break;
	case 4:
		ret = st7_engine_to_idle(e, &d);
		break;
	case 5: { /* what `st7dfu status` does */
		struct st7_dfu_status_reply r;
		ret = st7_engine_open(e, &d);
		if (ret == ST7_OK)
			ret = st7_engine_get_status(e, &r, &d);
		break;
	}
	case 6:
		ret = st7_engine_dfuse_download(e, &dfuse_file[param & 1], &d);
		break;
	case 7: {
		size_t len = dfuse_len[(param >> 3) & 3];
		ret = st7_engine_dfuse_upload(e, param & 3, dfuse_addr[(param >> 5) & 3], len, &out,
		                              &d);
		if (ret == ST7_OK && out.len != len)
			abort();
		if (ret == ST7_OK)
			check_upload(fk, &out, seq0, total0);
		break;
	}
	case 8: { /* the backup planning of a DfuSe upgrade, done once in DFU mode */
		const struct st7_dfu_file *f = &dfuse_file[param & 1];
		uint32_t start[64], size[64];
		size_t n;
		if (!e->dev)
			break;
		for (unsigned t = 0; t < f->n_targets && ret == ST7_OK; t++)
			ret = st7_engine_dfuse_pages(e, f, t, start, size, 64, &n, &d);
		break;
	}
	case 9:
		ret = st7_engine_reset(e, &d);
		break;
	case 10:
		ret = st7_engine_wait_mode(e, param & 1 ? ST7_DFU_MODE_DFU : ST7_DFU_MODE_RUNTIME,
		                           &d);
		break;
	default:
		if (param & 1) { /* a device found in DFU mode: does it hold an application? */
			bool running;
			ret = st7_engine_leave_dfu(e, &running, &d);
		} else {
			ret = st7_engine_refresh(e, &d);
		}
		break;
	}
	st7_buf_free(&out);
	/* Every failure says why (err.h). */
	if (ret != ST7_OK && !d.msg[0] && ret != ST7_ERR_NOMEM)
		abort();
	trace("op %u param 0x%02x: %d %s", op % 12, param, ret, d.msg);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t poll_caps[4] = { 10000, 1, 50, 0 };
	struct fake fk = { .p = data, .n = size };
	struct st7_usb usb = { &fake_ops, &fk };
	struct st7_clock clock = { .now_ms = fake_now,
		                   .now_us = fake_now_us,
		                   .sleep_until_us = fake_sleep_until_us,
		                   .set_slack_ns = fake_set_slack_ns,
		                   .ctx = &fk };
	struct st7_engine_opts o;
	struct st7_engine e;
	struct st7_diag d = { "" };

	uint8_t opt = take(&fk);
	fk.abort_at = take(&fk);
	uint8_t sel_bits = take(&fk);
	unsigned n_ops = take(&fk) % 9;
	uint8_t ops[16];
	for (unsigned i = 0; i < 2 * n_ops; i++)
		ops[i] = take(&fk);

	st7_engine_opts_default(&o);
	o.retries = 1 + (opt & 3);
	/* Far below the real 15 s: a wait for a gone device rescans every 50 ms, and
	 * hundreds of empty rescans per wait would only make each run slower. */
	o.reenum_timeout_ms = opt & 4 ? 120 : 500;
	o.poll_cap_ms = poll_caps[(opt >> 3) & 3];
	st7_engine_init(&e, &usb, &clock, &o);
	e.progress = on_progress;
	e.abort_flag = &fk.abort_flag;

	struct st7_selector sel = { 0 };
	if (sel_bits & 1) {
		sel.has_id = true;
		sel.vid = 0x0483;
		sel.pid = 0xDF11;
	}
	if (sel_bits & 2)
		sel.path = "1-1";
	if (sel_bits & 4)
		sel.serial = "A1";
	int ret = st7_engine_select(&e, &sel, &d);
	trace("select: %d %s", ret, d.msg);
	if (ret == ST7_OK)
		for (unsigned i = 0; i < n_ops; i++)
			run_op(&e, &fk, ops[2 * i], ops[2 * i + 1]);
	st7_engine_free(&e);
	/* Every handle opened was closed. */
	if (fk.open_handles != 0)
		abort();
	return 0;
}
