/* SPDX-License-Identifier: MIT */
/*
 * `list` logic on hand-made scan results: which devices are listed, how they are
 * classified, and what a malformed or unopenable device looks like. (The same paths
 * run against emulated devices through real libusb in tests/emu.)
 */
#include <stdlib.h>

#include "check.h"
#include "dfu_list.h"
#include "list_render.h"

static const uint8_t func10_128[] = { 7, 0x21, 0x03, 0xE8, 0x03, 0x80, 0x00 };
static const uint8_t func10_64[] = { 7, 0x21, 0x03, 0xE8, 0x03, 0x40, 0x00 };
static const uint8_t func11[] = { 9, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x04, 0x1A, 0x01 };
static const uint8_t func_bad[] = { 5, 0x21, 0x03, 0xE8, 0x03 };

static void add_alt(struct st7_usb_found *f, uint8_t num, uint8_t alt, uint8_t cls, uint8_t sub,
                    uint8_t proto, const uint8_t *extra, size_t len, const char *name)
{
	struct st7_usb_found_alt *a = &f->alts[f->n_alts++];
	memset(a, 0, sizeof(*a));
	a->desc = (struct st7_usb_altsetting){ num, alt, cls, sub, proto, 0, NULL, 0 };
	if (len) {
		a->extra = malloc(len);
		memcpy(a->extra, extra, len);
		a->desc.extra = a->extra;
		a->desc.extra_len = len;
	}
	snprintf(a->name, sizeof(a->name), "%s", name);
}

static void base(struct st7_usb_found *f, const char *path, uint16_t vid, uint16_t pid,
                 enum st7_usb_speed speed)
{
	memset(f, 0, sizeof(*f));
	f->alts = calloc(8, sizeof(*f->alts));
	f->bus = 1;
	f->address = 2;
	snprintf(f->path, sizeof(f->path), "%s", path);
	snprintf(f->node, sizeof(f->node), "/dev/bus/usb/001/002");
	f->speed = speed;
	f->dev_ok = true;
	f->dev.id_vendor = vid;
	f->dev.id_product = pid;
	f->dev.max_packet_size0 = 8;
	f->dev.bcd_device = 0x0102;
	snprintf(f->serial, sizeof(f->serial), "S-%s", path);
}

/* String descriptors (USB 2.0 section 9.6.7) from a hostile device, and the same
 * strings as Linux caches them in UTF-8: the same ASCII either way, bounded. */
static void test_strings(void)
{
	char out[8];
	uint16_t lang = 1;
	static const uint8_t langs[] = { 6, 3, 0x09, 0x04, 0x07, 0x04 };
	CHECK_INT(st7_usb_langid_decode(langs, sizeof(langs), &lang), ST7_OK);
	CHECK_INT(lang, 0x0409);
	CHECK_INT(st7_usb_langid_decode(langs, 5, &lang), ST7_ERR_FORMAT); /* bLength > n */
	static const uint8_t nolang[] = { 2, 3 }, wrongtype[] = { 4, 2, 9, 4 };
	CHECK_INT(st7_usb_langid_decode(nolang, 2, &lang), ST7_ERR_FORMAT);
	CHECK_INT(st7_usb_langid_decode(wrongtype, 4, &lang), ST7_ERR_FORMAT);
	CHECK_INT(st7_usb_langid_decode(NULL, 0, &lang), ST7_ERR_FORMAT);

	static const uint8_t ab[] = { 6, 3, 'A', 0, 'B', 0 };
	CHECK_INT(st7_usb_string_decode(ab, sizeof(ab), out, sizeof(out)), ST7_OK);
	CHECK(strcmp(out, "AB") == 0);
	/* Odd bLength: the last byte is half a unit, ignored. */
	static const uint8_t odd[] = { 5, 3, 'A', 0, 'B', 0 };
	CHECK_INT(st7_usb_string_decode(odd, sizeof(odd), out, sizeof(out)), ST7_OK);
	CHECK(strcmp(out, "A") == 0);
	/* bLength beyond what arrived, a wrong type, nothing: refused, "" out. */
	CHECK_INT(st7_usb_string_decode(ab, 5, out, sizeof(out)), ST7_ERR_FORMAT);
	CHECK(out[0] == '\0');
	static const uint8_t dev[] = { 6, 1, 'A', 0, 'B', 0 };
	CHECK_INT(st7_usb_string_decode(dev, sizeof(dev), out, sizeof(out)), ST7_ERR_FORMAT);
	CHECK_INT(st7_usb_string_decode(ab, 1, out, sizeof(out)), ST7_ERR_FORMAT);
	/* bLength 0 or 1: an empty string. */
	static const uint8_t zero[] = { 0, 3, 'A', 0 };
	CHECK_INT(st7_usb_string_decode(zero, sizeof(zero), out, sizeof(out)), ST7_OK);
	CHECK(out[0] == '\0');
	/* Non-ASCII, control characters and DEL are '?'; a NUL unit ends it. */
	static const uint8_t mixed[] = {
		14, 3, 0xE9, 0, 'x', 0x04, 0x1F, 0, 0x7F, 0, 'z', 0, 0, 0
	};
	CHECK_INT(st7_usb_string_decode(mixed, sizeof(mixed), out, sizeof(out)), ST7_OK);
	CHECK(strcmp(out, "????z") == 0);
	/* Surrogates: a pair is two '?' (as its UTF-8 form below gives); an unpaired one is
	 * dropped, as the kernel drops it from the sysfs copy, so that both ways of reading
	 * a serial agree ("AB\uD800C" is "ABC" either way). */
	static const uint8_t pair[] = { 10, 3, 'A', 0, 0x3D, 0xD8, 0x00, 0xDE, 'z', 0 };
	CHECK_INT(st7_usb_string_decode(pair, sizeof(pair), out, sizeof(out)), ST7_OK);
	CHECK(strcmp(out, "A??z") == 0);
	static const uint8_t lone_hi[] = { 10, 3, 'A', 0, 'B', 0, 0x00, 0xD8, 'C', 0 };
	CHECK_INT(st7_usb_string_decode(lone_hi, sizeof(lone_hi), out, sizeof(out)), ST7_OK);
	CHECK(strcmp(out, "ABC") == 0);
	static const uint8_t lone_lo[] = { 8, 3, 'A', 0, 0x00, 0xDC, 'C', 0 };
	CHECK_INT(st7_usb_string_decode(lone_lo, sizeof(lone_lo), out, sizeof(out)), ST7_OK);
	CHECK(strcmp(out, "AC") == 0);
	static const uint8_t hi_at_end[] = { 6, 3, 'A', 0, 0x00, 0xD8 };
	CHECK_INT(st7_usb_string_decode(hi_at_end, sizeof(hi_at_end), out, sizeof(out)), ST7_OK);
	CHECK(strcmp(out, "A") == 0);
	st7_usb_string_from_utf8("ABC", 3, out, sizeof(out)); /* the kernel's copy of lone_hi */
	CHECK(strcmp(out, "ABC") == 0);
	/* Bounded by the caller's buffer. */
	uint8_t longs[255] = { 255, 3 };
	for (size_t i = 2; i < sizeof(longs); i++)
		longs[i] = i % 2 ? 0 : 'L';
	CHECK_INT(st7_usb_string_decode(longs, sizeof(longs), out, sizeof(out)), ST7_OK);
	CHECK(strcmp(out, "LLLLLLL") == 0);

	/* UTF-8 as sysfs holds it: the ASCII the descriptor gives. */
	st7_usb_string_from_utf8("AB", 2, out, sizeof(out));
	CHECK(strcmp(out, "AB") == 0);
	st7_usb_string_from_utf8("\xC3\xA9x\xE2\x82\xAC", 6, out, sizeof(out)); /* é x € */
	CHECK(strcmp(out, "?x?") == 0);
	st7_usb_string_from_utf8("\xF0\x9F\x98\x80z", 5, out, sizeof(out)); /* a pair */
	CHECK(strcmp(out, "??z") == 0);
	st7_usb_string_from_utf8("\xC3z\x80\x01", 4, out, sizeof(out)); /* broken, control */
	CHECK(strcmp(out, "?z??") == 0);
	st7_usb_string_from_utf8("ab\0cd", 5, out, sizeof(out));
	CHECK(strcmp(out, "ab") == 0);
	st7_usb_string_from_utf8("0123456789", 10, out, sizeof(out));
	CHECK(strcmp(out, "0123456") == 0);
}

int main(void)
{
	test_strings();
	struct st7_usb_found *f = calloc(7, sizeof(*f));
	/* 0: ST72F65 in runtime mode (HID + DFU 1.0). */
	base(&f[0], "1-1", 0x0483, 0xFF03, ST7_USB_SPEED_FULL);
	add_alt(&f[0], 0, 0, 3, 0, 0, NULL, 0, "");
	add_alt(&f[0], 1, 0, 0xFE, 1, 0, func10_128, sizeof(func10_128), "");
	/* 1: an ST72F62/63 in DFU mode (device class FE/01, lone interface). */
	base(&f[1], "1-2", 0x0483, 0xDF11, ST7_USB_SPEED_LOW);
	f[1].dev.device_class = 0xFE;
	f[1].dev.device_subclass = 1;
	add_alt(&f[1], 0, 0, 0xFE, 1, 0, func10_64, sizeof(func10_64), "ST7 Flash");
	/* 2: a keyboard: not listed. */
	base(&f[2], "1-3", 0x046D, 0xC31C, ST7_USB_SPEED_LOW);
	add_alt(&f[2], 0, 0, 3, 1, 1, NULL, 0, "");
	/* 3: a DfuSe device with a layout. */
	base(&f[3], "1-4.2", 0x0483, 0xDF11, ST7_USB_SPEED_FULL);
	add_alt(&f[3], 0, 0, 0xFE, 1, 2, func11, sizeof(func11),
	        "@Internal Flash  /0x08000000/04*016Kg");
	add_alt(&f[3], 0, 1, 0xFE, 1, 2, NULL, 0, "@Broken /0x1FFF0000/oops");
	/* 4: a truncated functional descriptor, and a device that could not be opened. */
	base(&f[4], "2-1", 0x1234, 0x5678, ST7_USB_SPEED_HIGH);
	add_alt(&f[4], 0, 0, 0xFE, 1, 2, func_bad, sizeof(func_bad), "");
	base(&f[5], "2-2", 0x0483, 0xFF03, ST7_USB_SPEED_FULL);
	add_alt(&f[5], 0, 0, 0xFE, 1, 1, func11, sizeof(func11), "");
	f[5].serial[0] = '\0';
	f[5].open_err = ST7_ERR_ACCESS;
	snprintf(f[5].problem, sizeof(f[5].problem),
	         "cannot open /dev/bus/usb/002/003: permission "
	         "denied");

	/* 6: a device whose configuration libusb could not parse. */
	base(&f[6], "2-3", 0x0483, 0xFF03, ST7_USB_SPEED_FULL);
	f[6].config_err = ST7_ERR_USB;
	snprintf(f[6].problem, sizeof(f[6].problem), "cannot parse the configuration descriptor");

	CHECK(st7_dfu_list_wants(&f[0]));
	CHECK(!st7_dfu_list_wants(&f[2]));

	struct st7_dfu_device *devs;
	size_t n;
	CHECK_INT(st7_dfu_list_build(f, 7, &devs, &n), ST7_OK);
	CHECK_INT(n, 6);
	CHECK(devs[0].usb == &f[0]);
	CHECK_INT(devs[0].dfu.mode, ST7_DFU_MODE_RUNTIME);
	CHECK_INT(devs[0].profiles, 1u << 2); /* st72f65 */
	CHECK_INT(devs[1].dfu.mode, ST7_DFU_MODE_DFU);
	CHECK_INT(devs[1].profiles, 3u); /* st72f62 or st72f63 */
	CHECK_INT(devs[2].dfu.dfu_version, 0x011A);
	CHECK(devs[2].layout_ok[0]);
	CHECK(!devs[2].layout_ok[1]);
	CHECK_HAS(devs[2].problem, "alt 1: layout offset");
	CHECK(devs[3].dfu.malformed);
	CHECK_HAS(devs[3].problem, "bLength 5");
	CHECK_HAS(devs[4].problem, "permission denied");
	CHECK_INT(devs[5].dfu.mode, ST7_DFU_MODE_NONE);
	CHECK_HAS(devs[5].problem, "cannot parse the configuration");

	struct st7_buf out;
	struct st7_json j;
	st7_buf_init(&out);
	st7_json_init(&j, &out);
	st7_dfu_list_json(devs, n, &j);
	CHECK_INT(st7_json_finish(&j), ST7_OK);
	st7_buf_append_byte(&out, 0);
	const char *js = (const char *)out.data;
	CHECK_HAS(js, "{\"devices\":[{\"path\":\"1-1\",\"bus\":1,\"address\":2");
	CHECK_HAS(js, "\"mode\":\"runtime\",\"dfu_version\":256,\"interface\":1");
	CHECK_HAS(js, "\"st7_profiles\":[\"st72f62\",\"st72f63\"]");
	CHECK_HAS(js, "\"segments\":[{\"address\":134217728,\"pages\":4,\"page_size\":16384,"
	              "\"readable\":true,\"erasable\":true,\"writable\":true}]");
	CHECK_HAS(js, "\"name\":\"@Broken /0x1FFF0000/oops\",\"layout\":null");
	CHECK_HAS(js, "\"attributes\":null,\"detach_timeout_ms\":null,\"transfer_size\":null");
	CHECK_HAS(js, "\"serial\":null");
	CHECK_HAS(js, "\"path\":\"2-3\"");
	CHECK_HAS(js, "\"mode\":\"unknown\"");
	st7_buf_free(&out);

	st7_buf_init(&out);
	st7_dfu_list_text(devs, n, &out);
	st7_buf_append_byte(&out, 0);
	const char *tx = (const char *)out.data;
	CHECK_HAS(tx, "1-1  0483:ff03  runtime mode  DFU 1.0  bcdDevice 0x0102");
	CHECK_HAS(tx, "ST7 profile st72f65");
	CHECK_HAS(tx, "ST7 profile st72f62/st72f63");
	CHECK_HAS(tx, "alt 0 \"ST7 Flash\"");
	CHECK_HAS(tx, "0x08000000  4 x 16 KiB  rew");
	CHECK_HAS(tx, "PROBLEM: DFU functional descriptor: bLength 5");
	st7_buf_free(&out);

	st7_buf_init(&out);
	st7_dfu_list_text(devs, 0, &out);
	CHECK(out.len > 0 && memcmp(out.data, "no DFU devices found", 20) == 0);
	st7_buf_free(&out);

	free(devs);
	st7_usb_found_free(f, 7);
	return check_report();
}
