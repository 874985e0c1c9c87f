/* SPDX-License-Identifier: MIT */
/* DFU descriptor decoding and mode classification, including hostile descriptors. */
#include "check.h"
#include "dfu_desc.h"

static const uint8_t func10[] = { 7, 0x21, 0x03, 0xE8, 0x03, 0x80, 0x00 };
static const uint8_t func11[] = { 9, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x04, 0x10, 0x01 };

static struct st7_usb_device_desc dev(uint8_t cls, uint8_t sub)
{
	struct st7_usb_device_desc d = { 0 };
	d.device_class = cls;
	d.device_subclass = sub;
	d.id_vendor = 0x0483;
	d.max_packet_size0 = 8;
	return d;
}

static struct st7_usb_altsetting alt(uint8_t num, uint8_t altn, uint8_t cls, uint8_t sub,
                                     uint8_t proto, const uint8_t *extra, size_t len)
{
	struct st7_usb_altsetting a = { num, altn, cls, sub, proto, 4, extra, len };
	return a;
}

static void test_device_desc(void)
{
	uint8_t raw[18] = { 18,   1,    0x10, 0x01, 0,    0, 0, 8, 0x83,
		            0x04, 0x03, 0xFF, 0x02, 0x01, 1, 2, 3, 1 };
	struct st7_usb_device_desc d;
	struct st7_diag dg;
	CHECK_INT(st7_usb_device_desc_parse(raw, 18, &d, &dg), ST7_OK);
	CHECK_INT(d.id_vendor, 0x0483);
	CHECK_INT(d.id_product, 0xFF03);
	CHECK_INT(d.bcd_device, 0x0102);
	CHECK_INT(d.i_serial, 3);
	CHECK_INT(st7_usb_device_desc_parse(raw, 17, &d, &dg), ST7_ERR_FORMAT);
	CHECK_HAS(dg.msg, "17 bytes");
	raw[0] = 9;
	CHECK_INT(st7_usb_device_desc_parse(raw, 18, &d, &dg), ST7_ERR_FORMAT);
	CHECK_HAS(dg.msg, "bLength 9");
}

static void test_func(void)
{
	struct st7_dfu_func f;
	struct st7_diag d;
	CHECK_INT(st7_dfu_func_find(func10, sizeof(func10), &f, &d), ST7_OK);
	CHECK(f.present);
	CHECK_INT(f.length, 7);
	CHECK_INT(f.attributes, 3);
	CHECK_INT(f.detach_timeout_ms, 1000);
	CHECK_INT(f.transfer_size, 128);
	CHECK_INT(f.bcd_dfu, 0x0100);
	CHECK_INT(st7_dfu_func_find(func11, sizeof(func11), &f, &d), ST7_OK);
	CHECK_INT(f.bcd_dfu, 0x0110);
	CHECK_INT(f.transfer_size, 1024);
	CHECK_INT(f.attributes, 0x0B);

	/* Found after another class descriptor. */
	uint8_t two[] = { 4, 0x24, 1, 2, 7, 0x21, 0x01, 0x10, 0x00, 0x40, 0x00 };
	CHECK_INT(st7_dfu_func_find(two, sizeof(two), &f, &d), ST7_OK);
	CHECK(f.present);
	CHECK_INT(f.transfer_size, 64);
	/* None at all. */
	CHECK_INT(st7_dfu_func_find(two, 4, &f, &d), ST7_OK);
	CHECK(!f.present);
	/* bLength 0 would loop forever in a naive walker. */
	uint8_t zero[] = { 0, 0x21, 0, 0 };
	CHECK_INT(st7_dfu_func_find(zero, sizeof(zero), &f, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "bLength 0");
	/* bLength past the buffer; a truncated functional descriptor. */
	uint8_t over[] = { 9, 0x21, 0x03, 0xE8, 0x03, 0x80, 0x00 };
	CHECK_INT(st7_dfu_func_find(over, sizeof(over), &f, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "bLength 9 where 7 bytes remain");
	uint8_t shortf[] = { 5, 0x21, 0x03, 0xE8, 0x03 };
	CHECK_INT(st7_dfu_func_find(shortf, sizeof(shortf), &f, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "bLength 5, need at least 7");
	CHECK(!f.present);
}

static void test_classify(void)
{
	struct st7_dfu_summary s;
	struct st7_diag d;
	struct st7_usb_device_desc plain = dev(0, 0), dfuclass = dev(0xFE, 0x01);

	/* ST7 runtime: a HID interface beside a DFU 1.0 interface (protocol 0). */
	struct st7_usb_altsetting rt[] = { alt(0, 0, 3, 0, 0, NULL, 0),
		                           alt(1, 0, 0xFE, 1, 0, func10, sizeof(func10)) };
	CHECK_INT(st7_dfu_describe(&plain, rt, 2, NULL, 0, &s, &d), ST7_OK);
	CHECK_INT(s.mode, ST7_DFU_MODE_RUNTIME);
	CHECK_INT(s.interface, 1);
	CHECK_INT(s.dfu_version, 0x0100);
	CHECK(!s.malformed);
	/* ST7 DFU mode: device class FE/01 and a lone DFU interface, protocol still 0. */
	struct st7_usb_altsetting dm[] = { alt(0, 0, 0xFE, 1, 0, func10, sizeof(func10)) };
	CHECK_INT(st7_dfu_describe(&dfuclass, dm, 1, NULL, 0, &s, &d), ST7_OK);
	CHECK_INT(s.mode, ST7_DFU_MODE_DFU);
	/* A lone DFU 1.0 interface is the loader even without the device class. */
	CHECK_INT(st7_dfu_describe(&plain, dm, 1, NULL, 0, &s, &d), ST7_OK);
	CHECK_INT(s.mode, ST7_DFU_MODE_DFU);
	/* DFU 1.1: the protocol decides, whatever else is there. */
	struct st7_usb_altsetting r11[] = { alt(0, 0, 0xFF, 0, 0, NULL, 0),
		                            alt(1, 0, 0xFE, 1, 1, func11, sizeof(func11)) };
	CHECK_INT(st7_dfu_describe(&plain, r11, 2, NULL, 0, &s, &d), ST7_OK);
	CHECK_INT(s.mode, ST7_DFU_MODE_RUNTIME);
	CHECK_INT(s.dfu_version, 0x0110);
	struct st7_usb_altsetting d11[] = { alt(0, 0, 0xFE, 1, 2, func11, sizeof(func11)),
		                            alt(0, 1, 0xFE, 1, 2, NULL, 0),
		                            alt(0, 2, 0xFE, 1, 2, NULL, 0) };
	CHECK_INT(st7_dfu_describe(&plain, d11, 3, NULL, 0, &s, &d), ST7_OK);
	CHECK_INT(s.mode, ST7_DFU_MODE_DFU);
	CHECK_INT(s.n_alts, 3);
	CHECK_INT(s.alts[2], 2);
	CHECK_INT(s.alt_names[1], 4);
	/* No DFU interface. */
	CHECK_INT(st7_dfu_describe(&plain, rt, 1, NULL, 0, &s, &d), ST7_OK);
	CHECK_INT(s.mode, ST7_DFU_MODE_NONE);
	/* The functional descriptor at configuration level. */
	struct st7_usb_altsetting bare[] = { alt(0, 0, 0xFE, 1, 2, NULL, 0) };
	CHECK_INT(st7_dfu_describe(&plain, bare, 1, func11, sizeof(func11), &s, &d), ST7_OK);
	CHECK(!s.malformed);
	CHECK_INT(s.func.transfer_size, 1024);
	/* Malformed: no functional descriptor, truncated one, wTransferSize 0 or absurd,
	 * two DFU interfaces. Each is reported, not fatal. */
	CHECK_INT(st7_dfu_describe(&plain, bare, 1, NULL, 0, &s, &d), ST7_OK);
	CHECK(s.malformed);
	CHECK_HAS(d.msg, "no DFU functional descriptor");
	uint8_t trunc[] = { 5, 0x21, 3, 0, 0 };
	struct st7_usb_altsetting tr[] = { alt(0, 0, 0xFE, 1, 2, trunc, sizeof(trunc)) };
	CHECK_INT(st7_dfu_describe(&plain, tr, 1, NULL, 0, &s, &d), ST7_OK);
	CHECK(s.malformed);
	CHECK_INT(s.mode, ST7_DFU_MODE_DFU);
	CHECK_HAS(d.msg, "bLength 5");
	uint8_t x0[] = { 7, 0x21, 3, 0xE8, 3, 0, 0 };
	struct st7_usb_altsetting z[] = { alt(0, 0, 0xFE, 1, 0, x0, sizeof(x0)) };
	CHECK_INT(st7_dfu_describe(&dfuclass, z, 1, NULL, 0, &s, &d), ST7_OK);
	CHECK(s.malformed);
	CHECK_HAS(d.msg, "wTransferSize 0");
	x0[6] = 0x80; /* 32768 */
	CHECK_INT(st7_dfu_describe(&dfuclass, z, 1, NULL, 0, &s, &d), ST7_OK);
	CHECK(s.malformed);
	CHECK_HAS(d.msg, "wTransferSize 32768");
	struct st7_usb_altsetting twice[] = { alt(0, 0, 0xFE, 1, 2, func11, sizeof(func11)),
		                              alt(1, 0, 0xFE, 1, 2, func11, sizeof(func11)) };
	CHECK_INT(st7_dfu_describe(&plain, twice, 2, NULL, 0, &s, &d), ST7_OK);
	CHECK(s.malformed);
	CHECK_HAS(d.msg, "interface 0 and 1");
}

static void test_config_check(void)
{
	/* config(9) + interface(9) + functional(7) */
	uint8_t c[25] = { 9, 2, 25, 0, 1, 1, 0, 0x80, 50, 9, 4, 0, 0, 0, 0xFE, 1, 0, 0 };
	memcpy(c + 18, func10, 7);
	struct st7_diag d;
	CHECK_INT(st7_usb_config_check(c, sizeof(c), &d), ST7_OK);
	CHECK_INT(st7_usb_config_check(c, 8, &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "8 bytes arrived");
	c[2] = 41; /* wTotalLength beyond what arrived */
	CHECK_INT(st7_usb_config_check(c, sizeof(c), &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "wTotalLength 41, but the device returned 25 bytes");
	c[2] = 25;
	c[18] = 10; /* the functional descriptor claims more than is there */
	CHECK_INT(st7_usb_config_check(c, sizeof(c), &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "offset 18 has bLength 10 where 7 bytes remain");
	c[18] = 0; /* a zero bLength would never advance */
	CHECK_INT(st7_usb_config_check(c, sizeof(c), &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "bLength 0");
	c[1] = 4;
	CHECK_INT(st7_usb_config_check(c, sizeof(c), &d), ST7_ERR_FORMAT);
	CHECK_HAS(d.msg, "bDescriptorType 0x04");
}

int main(void)
{
	test_config_check();
	test_device_desc();
	test_func();
	test_classify();
	return check_report();
}
