/* SPDX-License-Identifier: MIT */
/*
 * The device model in-process, with injected time: SPEC parsing, descriptors byte for
 * byte, the DFU 1.0 state machine of the reference ST7 device, busy periods and poll
 * timeouts, erase, addressing errors, manifestation and re-enumeration, DFU 1.1 and
 * DfuSe specifics, every fault, and the mandated-time accounting.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */

#include "check.h"
#include "emu_model.h"
#include "st7_profile.h"

#include <stdlib.h>
#include <unistd.h>

static uint64_t T = 1000000; /* now, in microseconds */

#define MS 1000u
#define OUT 0x21
#define IN 0xA1

enum { DETACH, DNLOAD, UPLOAD, GETSTATUS, CLRSTATUS, GETSTATE, ABORT };

static struct emu_dev *mk(const char *spec)
{
	struct emu_config c;
	char err[256];

	emu_config_default(&c, 0);
	if (emu_config_parse(&c, spec, err, sizeof(err))) {
		fprintf(stderr, "parse '%s': %s\n", spec, err);
		exit(1);
	}
	struct emu_dev *d = emu_dev_new(&c, T, err, sizeof(err));
	if (!d) {
		fprintf(stderr, "new '%s': %s\n", spec, err);
		exit(1);
	}
	return d;
}

/* The error message for a SPEC that must fail (parse or construction), or "". */
static const char *spec_error(const char *spec)
{
	static char err[256];
	struct emu_config c;

	err[0] = 0;
	emu_config_default(&c, 0);
	if (emu_config_parse(&c, spec, err, sizeof(err)))
		return err;
	struct emu_dev *d = emu_dev_new(&c, T, err, sizeof(err));
	if (d) {
		emu_dev_free(d);
		return "";
	}
	return err;
}

/* A control transfer at time T; T then moves on by the bus time. */
static int ctl(struct emu_dev *d, uint8_t rt, uint8_t req, uint16_t val, uint16_t idx,
               uint8_t *data, uint16_t len, size_t *actual)
{
	uint8_t s[8] = { rt,           req,
		         (uint8_t)val, (uint8_t)(val >> 8),
		         (uint8_t)idx, (uint8_t)(idx >> 8),
		         (uint8_t)len, (uint8_t)(len >> 8) };
	struct emu_xfer x;

	emu_dev_control(d, T, s, data, len, &x);
	if (actual)
		*actual = x.actual;
	T += x.bus_us;
	return x.status;
}

static uint8_t st[6];

/* GETSTATUS; returns the state (or -1 when not answered) and keeps the reply in st. */
static int gs(struct emu_dev *d, uint16_t iface)
{
	memset(st, 0xEE, sizeof(st));
	return ctl(d, IN, GETSTATUS, 0, iface, st, 6, NULL) == EMU_XFER_OK ? st[4] : -1;
}

static uint32_t poll_ms(void)
{
	return (uint32_t)st[1] | (uint32_t)st[2] << 8 | (uint32_t)st[3] << 16;
}

static int state_of(struct emu_dev *d)
{
	struct emu_info in;
	emu_dev_info(d, &in);
	return in.state;
}

static int status_of(struct emu_dev *d)
{
	struct emu_info in;
	emu_dev_info(d, &in);
	return in.status;
}

static int dn(struct emu_dev *d, uint16_t block, const uint8_t *data, uint16_t len)
{
	return ctl(d, OUT, DNLOAD, block, 0, (uint8_t *)data, len, NULL);
}

/* Download one block and wait out its busy period; returns the final state. */
static int dn_block(struct emu_dev *d, uint16_t block, const uint8_t *data, uint16_t len)
{
	if (dn(d, block, data, len) != EMU_XFER_OK)
		return -1;
	int s = gs(d, 0);
	while (s == EMU_DNBUSY) {
		T += poll_ms() * MS;
		s = gs(d, 0);
	}
	return s;
}

static const uint8_t *desc(struct emu_dev *d, size_t *len)
{
	return emu_dev_descriptors(d, len);
}

static void check_bytes(const uint8_t *got, size_t glen, const uint8_t *want, size_t wlen,
                        const char *what)
{
	CHECK_INT(glen, wlen);
	size_t n = glen < wlen ? glen : wlen;
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i]) {
			fprintf(stderr, "%s: byte %zu is %02x, expected %02x\n", what, i, got[i],
			        want[i]);
			CHECK(got[i] == want[i]);
			return;
		}
	CHECK(1);
}

/* ------------------------------------------------------------------------------------- */

static void test_spec(void)
{
	struct emu_config c;
	char err[256];

	emu_config_default(&c, 2);
	CHECK(!strcmp(c.serial, "ST7-0003"));
	CHECK_INT(c.kind, EMU_KIND_ST7);
	CHECK_INT(c.vid, 0x0483);
	CHECK_INT(c.pid, 0xFF03);
	CHECK_INT(c.dfu_pid, 0xDF11);

	/* Layout commas survive; pieces without '=' continue the previous value. */
	emu_config_default(&c, 0);
	CHECK_INT(emu_config_parse(&c,
	                           "kind=dfuse,layout=@Internal Flash  /0x08000000/04*016Kg,"
	                           "01*064Kg,07*128Kg,mode=dfu,layout=@Option Bytes  "
	                           "/0x1FFFC000/01*016 e,serial=A,B",
	                           err, sizeof(err)),
	          0);
	CHECK_INT(c.n_layouts, 2);
	CHECK(!strcmp(c.layout[0], "@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg"));
	CHECK(!strcmp(c.layout[1], "@Option Bytes  /0x1FFFC000/01*016 e"));
	CHECK_INT(c.mode, EMU_MODE_DFU);
	CHECK(!strcmp(c.serial, "A,B"));

	emu_config_default(&c, 0);
	CHECK_INT(emu_config_parse(&c,
	                           "version=1.02,vid=1234,pid=0xabcd,error-block=3,"
	                           "error-status=errVERIFY,unplug-state=dfuMANIFEST-WAIT-RESET,"
	                           "replug-ms=never,poll-ms=16777215,mem-size=128K,"
	                           "wrong-version=0x0999,desc=bad-total,bus=low",
	                           err, sizeof(err)),
	          0);
	CHECK_INT(c.version, 0x0102);
	CHECK_INT(c.vid, 0x1234);
	CHECK_INT(c.pid, 0xABCD);
	CHECK_INT(c.error_status, EMU_ERR_VERIFY);
	CHECK_INT(c.unplug_state, EMU_MANIFEST_WAIT_RESET);
	CHECK_INT(c.replug_ms, -1);
	CHECK_INT(c.poll_ms, 0xFFFFFF);
	CHECK_INT(c.mem_size, 128 * 1024);
	CHECK_INT(c.desc, EMU_DESC_BAD_TOTAL);
	CHECK_INT(c.bus, EMU_BUS_LOW);
	CHECK_INT(emu_status_from_name("ERASE"), EMU_ERR_ERASE);
	CHECK_INT(emu_status_from_name("6"), EMU_ERR_PROG);
	CHECK_INT(emu_status_from_name("0"), -1);
	CHECK_INT(emu_state_from_name("dfudnbusy"), EMU_DNBUSY);
	CHECK_INT(emu_state_from_name("11"), -1);

	/* Errors name the key. */
	CHECK_HAS(spec_error("kind=st8"), "kind: bad value 'st8'");
	CHECK_HAS(spec_error("colour=red"), "colour: unknown key");
	CHECK_HAS(spec_error("profile"), "expected key=value");
	CHECK_HAS(spec_error("kind=st7,"), "kind: bad value");
	CHECK_HAS(spec_error("transfer-size=0"), "transfer-size");
	CHECK_HAS(spec_error("poll-ms=16777216"), "poll-ms");
	CHECK_HAS(spec_error("error-status=errNOPE,error-block=1"), "error-status");
	CHECK_HAS(spec_error("unplug-state=dfuSLEEPING"), "unplug-state");
	CHECK_HAS(spec_error("vid=0x12345"), "vid");
	CHECK_HAS(spec_error("will-detach=yes"), "will-detach");
	CHECK_HAS(spec_error("desc=weird"), "desc");
	CHECK_HAS(spec_error("plug-ms=soon"), "plug-ms");
	CHECK_HAS(spec_error("plug-ms=3600001"), "plug-ms");
	CHECK_HAS(spec_error("plug-ms=signals"), "plug-ms");
	CHECK_HAS(spec_error("kind=dfu11,profile=st72f62"), "profile: not for kind=dfu11");
	CHECK_HAS(spec_error("kind=st7,layout=@X/0x0/01*001Kg"), "layout: not for kind=st7");
	CHECK_HAS(spec_error("mem-size=64K"), "mem-size: not for kind=st7");
	CHECK_HAS(spec_error("app=invalid"), "app:");
	CHECK_HAS(spec_error("error-status=errWRITE"), "error-status: needs error-block");
	CHECK_HAS(spec_error("kind=dfuse,layout=@Flash/0x08000000/4*16Kq"), "layout:");
	CHECK_HAS(spec_error("kind=dfuse,mem-size=1000"), "mem-size");
	CHECK_HAS(spec_error("flash-in=/nonexistent/x.bin"), "flash-in");
	CHECK(!strcmp(spec_error("kind=dfuse,mode=dfu,layout=@F/0x08000000/02*001Kg"), ""));
	/* version-addr: dfu11/dfuse only, and both bytes of the word in (alt 0's) memory. */
	CHECK_HAS(spec_error("version-addr=0x100"), "version-addr: not for kind=st7");
	CHECK_HAS(spec_error("kind=dfu11,mem-size=4K,version-addr=4095"), "version-addr:");
	CHECK(!strcmp(spec_error("kind=dfu11,mem-size=4K,version-addr=4094"), ""));
	CHECK_HAS(spec_error("kind=dfuse,version-addr=0x0800FFFF"), "version-addr:");
	CHECK_HAS(spec_error("kind=dfuse,version-addr=0x07FFFFFF"), "version-addr:");
	CHECK_HAS(spec_error("kind=dfuse,version-addr=0x1FFF0000,layout=@A/0x08000000/01*001Kg,"
	                     "layout=@B/0x1FFF0000/01*001Kg"),
	          "version-addr:"); /* alt 1's memory does not count */
	CHECK(!strcmp(spec_error("kind=dfuse,version-addr=0x0800FFFE"), ""));
	CHECK_HAS(spec_error("kind=dfuse,version-addr=0x100000000"), "version-addr: bad value");
	CHECK_HAS(spec_error("kind=dfu11,version-addr=-1"), "version-addr: bad value");

	/* The help names every key. */
	static const char keys[] =
	        "kind profile mode serial version version-addr vid pid dfu-pid flash-in flash-out "
	        "app mem-size "
	        "transfer-size detach-timeout will-detach manifest-tolerant layout bus erase-ms "
	        "prog-ms manifest-ms reenum-ms plug-ms stall-block error-block error-status "
	        "fault-times "
	        "poll-ms getstatus-timeout unplug-state unplug-block replug-ms no-reenum "
	        "wrong-version reject-image upload-corrupt upload-short upload-long desc ";
	unsigned nkeys = 0;
	for (const char *k = keys, *sp; (sp = strchr(k, ' ')); k = sp + 1, nkeys++) {
		char key[32];
		snprintf(key, sizeof(key), "  %.*s=", (int)(sp - k), k);
		CHECK_HAS(emu_config_keys_help(), key);
	}
	CHECK_INT(nkeys, 40);
}

/* The model's part table is the agent's (agent/st7_profile.c). */
static void test_profiles(void)
{
	unsigned n = 0;
	for (const struct emu_profile *p; (p = emu_profile_at(n)); n++) {
		const struct st7_profile *q = st7_profile_find(p->name);
		CHECK(q != NULL);
		if (!q)
			continue;
		CHECK_INT(p->flash_base, q->flash_base);
		CHECK_INT(p->region_base, q->region_base);
		CHECK_INT(p->region_end, q->region_end);
		CHECK_INT(p->transfer_size, q->transfer_size);
		CHECK_INT(p->full_speed, q->full_speed);
	}
	CHECK_INT(n, st7_profile_count());
}

static void test_descriptors(void)
{
	size_t n;
	uint8_t buf[256];
	size_t act;

	/* ST7 runtime: HID interface (with its class descriptor and endpoint) + DFU runtime
	 * interface FE/01/00 with the 7-byte DFU 1.0 functional descriptor. */
	struct emu_dev *d = mk("kind=st7");
	static const uint8_t st7_rt[] = {
		0x12, 0x01, 0x10, 0x01, 0x00, 0x00, 0x00, 0x08, 0x83,
		0x04, 0x03, 0xFF, 0x00, 0x01, 0x01, 0x02, 0x03, 0x01, /* device */
		0x09, 0x02, 0x32, 0x00, 0x02, 0x01, 0x00, 0x80, 0x32, /* config */
		0x09, 0x04, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00, 0x05, /* HID interface */
		0x09, 0x21, 0x11, 0x01, 0x00, 0x01, 0x22, 0x15, 0x00, /* HID */
		0x07, 0x05, 0x81, 0x03, 0x08, 0x00, 0x0A,             /* endpoint */
		0x09, 0x04, 0x01, 0x00, 0x00, 0xFE, 0x01, 0x00, 0x04, /* DFU runtime interface */
		0x07, 0x21, 0x03, 0xE8, 0x03, 0x80, 0x00,             /* DFU functional */
	};
	const uint8_t *p = desc(d, &n);
	check_bytes(p, n, st7_rt, sizeof(st7_rt), "st7 runtime");
	/* Through GET_DESCRIPTOR too, cut to wLength. */
	CHECK_INT(ctl(d, 0x80, 6, 0x0100, 0, buf, 64, &act), EMU_XFER_OK);
	check_bytes(buf, act, st7_rt, 18, "GET_DESCRIPTOR device");
	CHECK_INT(ctl(d, 0x80, 6, 0x0200, 0, buf, 9, &act), EMU_XFER_OK);
	check_bytes(buf, act, st7_rt + 18, 9, "GET_DESCRIPTOR config (9)");
	CHECK_INT(ctl(d, 0x80, 6, 0x0200, 0, buf, 255, &act), EMU_XFER_OK);
	check_bytes(buf, act, st7_rt + 18, sizeof(st7_rt) - 18, "GET_DESCRIPTOR config");
	CHECK_INT(ctl(d, 0x80, 6, 0x2100, 0, buf, 255, &act), EMU_XFER_OK);
	check_bytes(buf, act, st7_rt + sizeof(st7_rt) - 7, 7, "GET_DESCRIPTOR DFU functional");
	static const uint8_t langid[] = { 4, 3, 0x09, 0x04 };
	CHECK_INT(ctl(d, 0x80, 6, 0x0300, 0, buf, 255, &act), EMU_XFER_OK);
	check_bytes(buf, act, langid, 4, "langid");
	static const uint8_t serial[] = { 18, 3,   'S', 0,   'T', 0,   '7', 0,   '-',
		                          0,  '0', 0,   '0', 0,   '0', 0,   '1', 0 };
	CHECK_INT(ctl(d, 0x80, 6, 0x0303, 0x0409, buf, 255, &act), EMU_XFER_OK);
	check_bytes(buf, act, serial, sizeof(serial), "serial string");
	CHECK_INT(ctl(d, 0x80, 6, 0x0303, 0x0409, buf, 2, &act), EMU_XFER_OK);
	CHECK_INT(act, 2);
	CHECK_INT(ctl(d, 0x80, 6, 0x0309, 0x0409, buf, 255, &act), EMU_XFER_STALL);
	CHECK_INT(ctl(d, 0x81, 6, 0x2200, 0, buf, 255, &act), EMU_XFER_OK); /* HID report */
	CHECK_INT(act, 21);
	CHECK_INT(ctl(d, 0x80, 8, 0, 0, buf, 1, &act), EMU_XFER_OK);
	CHECK_INT(buf[0], 1);
	CHECK_INT(ctl(d, 0x80, 0, 0, 0, buf, 2, &act), EMU_XFER_OK);
	CHECK_INT(act, 2);
	CHECK_INT(ctl(d, 0x81, 10, 0, 1, buf, 1, &act), EMU_XFER_OK);
	CHECK_INT(buf[0], 0);
	CHECK_INT(ctl(d, 0x01, 11, 1, 1, NULL, 0, NULL), EMU_XFER_STALL); /* no alt 1 */
	CHECK_INT(ctl(d, 0x01, 11, 0, 1, NULL, 0, NULL), EMU_XFER_OK);
	/* A host buffer smaller than wLength is refused before anything happens. */
	uint8_t s8[8] = { 0x80, 6, 0, 1, 0, 0, 64, 0 };
	struct emu_xfer x;
	emu_dev_control(d, T, s8, buf, 10, &x);
	CHECK_INT(x.status, EMU_XFER_INVALID);
	emu_dev_free(d);

	/* ST7 DFU mode: device class FE/01/00, one interface alt 0 "ST7 Flash". */
	d = mk("kind=st7,mode=dfu");
	static const uint8_t st7_dfu[] = {
		0x12, 0x01, 0x10, 0x01, 0xFE, 0x01, 0x00, 0x08, 0x83, 0x04, 0x11,
		0xDF, 0x00, 0x01, 0x01, 0x02, 0x03, 0x01, 0x09, 0x02, 0x19, 0x00,
		0x01, 0x01, 0x00, 0x80, 0x32, 0x09, 0x04, 0x00, 0x00, 0x00, 0xFE,
		0x01, 0x00, 0x04, 0x07, 0x21, 0x03, 0xE8, 0x03, 0x80, 0x00,
	};
	p = desc(d, &n);
	check_bytes(p, n, st7_dfu, sizeof(st7_dfu), "st7 dfu");
	static const uint8_t flash_name[] = { 20,  3, 'S', 0, 'T', 0, '7', 0, ' ', 0,
		                              'F', 0, 'l', 0, 'a', 0, 's', 0, 'h', 0 };
	CHECK_INT(ctl(d, 0x80, 6, 0x0304, 0x0409, buf, 255, &act), EMU_XFER_OK);
	check_bytes(buf, act, flash_name, sizeof(flash_name), "ST7 Flash");
	emu_dev_free(d);

	/* st72f62: low speed part, 64-byte transfers. */
	d = mk("kind=st7,profile=st72f62,mode=dfu,detach-timeout=500");
	p = desc(d, &n);
	static const uint8_t f62_func[] = { 0x07, 0x21, 0x03, 0xF4, 0x01, 0x40, 0x00 };
	check_bytes(p + n - 7, 7, f62_func, 7, "st72f62 functional");
	struct emu_info in;
	emu_dev_info(d, &in);
	CHECK(!in.full_speed);
	CHECK_INT(in.max_packet0, 8);
	emu_dev_free(d);

	/* DFU 1.1: protocol 1 in runtime, 2 in DFU mode; 9-byte descriptor, bcdDFU 1.1. */
	d = mk("kind=dfu11,will-detach=1,manifest-tolerant=1");
	p = desc(d, &n);
	static const uint8_t d11_rt_tail[] = {
		0x09, 0x04, 0x01, 0x00, 0x00, 0xFE, 0x01, 0x01, 0x04,
		0x09, 0x21, 0x0F, 0xE8, 0x03, 0x00, 0x04, 0x10, 0x01
	};
	check_bytes(p + n - 18, 18, d11_rt_tail, 18, "dfu11 runtime");
	CHECK_INT(p[2], 0x00);
	CHECK_INT(p[3], 0x02); /* bcdUSB 2.00 */
	CHECK_INT(p[7], 64);
	emu_dev_free(d);
	d = mk("kind=dfu11,mode=dfu,transfer-size=256");
	static const uint8_t d11_dfu[] = {
		0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, 0x83, 0x04, 0x11, 0xDF,
		0x00, 0x01, 0x01, 0x02, 0x03, 0x01, 0x09, 0x02, 0x1B, 0x00, 0x01, 0x01,
		0x00, 0x80, 0x32, 0x09, 0x04, 0x00, 0x00, 0x00, 0xFE, 0x01, 0x02, 0x04,
		0x09, 0x21, 0x03, 0xE8, 0x03, 0x00, 0x01, 0x10, 0x01,
	};
	p = desc(d, &n);
	check_bytes(p, n, d11_dfu, sizeof(d11_dfu), "dfu11 dfu");
	emu_dev_free(d);

	/* DfuSe: one interface per layout (alt settings), bcdDFU 0x011A, bcdDevice 0x2200. */
	d = mk("kind=dfuse,mode=dfu,layout=@Internal Flash  /0x08000000/04*016Kg,"
	       "layout=@Option Bytes  /0x1FFFC000/01*016 e");
	static const uint8_t dfuse_dfu[] = {
		0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, 0x83, 0x04, 0x11, 0xDF, 0x00, 0x22,
		0x01, 0x02, 0x03, 0x01, 0x09, 0x02, 0x24, 0x00, 0x01, 0x01, 0x00, 0x80, 0x32, 0x09,
		0x04, 0x00, 0x00, 0x00, 0xFE, 0x01, 0x02, 0x04, 0x09, 0x04, 0x00, 0x01, 0x00, 0xFE,
		0x01, 0x02, 0x05, 0x09, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x08, 0x1A, 0x01,
	};
	p = desc(d, &n);
	check_bytes(p, n, dfuse_dfu, sizeof(dfuse_dfu), "dfuse dfu");
	CHECK_INT(ctl(d, 0x80, 6, 0x0305, 0x0409, buf, 255, &act), EMU_XFER_OK);
	CHECK_INT(act, 2 + 2 * strlen("@Option Bytes  /0x1FFFC000/01*016 e"));
	CHECK_INT(buf[2], '@');
	CHECK_INT(ctl(d, 0x01, 11, 1, 0, NULL, 0, NULL), EMU_XFER_OK); /* alt 1 exists */
	CHECK_INT(ctl(d, 0x81, 10, 0, 0, buf, 1, &act), EMU_XFER_OK);
	CHECK_INT(buf[0], 1);
	CHECK_INT(ctl(d, 0x01, 11, 2, 0, NULL, 0, NULL), EMU_XFER_STALL);
	emu_dev_free(d);
	/* Default layout follows mem-size. */
	d = mk("kind=dfuse,mode=dfu,mem-size=128K");
	CHECK_INT(ctl(d, 0x80, 6, 0x0304, 0x0409, buf, 255, &act), EMU_XFER_OK);
	CHECK_INT(act, 2 + 2 * strlen("@Internal Flash  /0x08000000/08*016Kg"));
	CHECK_INT(buf[2 + 2 * 29], '0');
	CHECK_INT(buf[2 + 2 * 30], '8');
	emu_dev_free(d);

	/* Malformed descriptors. */
	d = mk("kind=dfu11,mode=dfu,desc=xfer0");
	p = desc(d, &n);
	CHECK_INT(p[n - 4] | p[n - 3] << 8, 0);
	/* The device still addresses with its real transfer size. */
	CHECK_INT(dn(d, 0, buf, 64), EMU_XFER_OK);
	emu_dev_free(d);
	d = mk("kind=dfu11,mode=dfu,desc=trunc-func");
	p = desc(d, &n);
	CHECK_INT(n, 18 + 9 + 9 + 5);
	CHECK_INT(p[n - 5], 5);
	CHECK_INT(p[18 + 2], 9 + 9 + 5);
	CHECK_INT(ctl(d, 0x80, 6, 0x2100, 0, buf, 255, &act), EMU_XFER_OK);
	CHECK_INT(act, 5);
	emu_dev_free(d);
	d = mk("kind=st7,mode=dfu,desc=bad-blength");
	p = desc(d, &n);
	CHECK_INT(n, 18 + 9 + 9 + 7);
	CHECK_INT(p[n - 7], 10); /* claims 10 bytes, 7 are there */
	CHECK_INT(p[18 + 2], 25);
	emu_dev_free(d);
	d = mk("kind=st7,mode=dfu,desc=bad-total");
	p = desc(d, &n);
	CHECK_INT(n, 18 + 25);
	CHECK_INT(p[18 + 2], 25 + 16);
	CHECK_INT(ctl(d, 0x80, 6, 0x0200, 0, buf, 255, &act), EMU_XFER_OK);
	CHECK_INT(act, 25); /* short: the device has no more */
	emu_dev_free(d);
	d = mk("kind=st7,desc=no-func");
	p = desc(d, &n);
	CHECK_INT(n, 18 + 50 - 7);
	for (size_t i = 18; i < n; i += p[i])
		CHECK(!(p[i + 1] == 0x21 && i > 18 + 9 + 9 + 9 + 7));
	CHECK_INT(ctl(d, 0x80, 6, 0x2100, 0, buf, 255, &act), EMU_XFER_STALL);
	emu_dev_free(d);
}

/* The DFU 1.0 state machine of the ST7 loader (requests without downloads). */
static void test_st7_states(void)
{
	struct emu_dev *d = mk("kind=st7,mode=dfu");
	uint8_t buf[256];
	size_t act;

	CHECK_INT(gs(d, 0), EMU_DFU_IDLE);
	CHECK_INT(st[0], EMU_OK);
	CHECK_INT(poll_ms(), 0);
	CHECK_INT(st[5], 0);
	CHECK_INT(ctl(d, IN, GETSTATE, 0, 0, buf, 1, &act), EMU_XFER_OK);
	CHECK_INT(buf[0], EMU_DFU_IDLE);
	CHECK_INT(ctl(d, OUT, ABORT, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(state_of(d), EMU_DFU_IDLE);

	/* Not allowed: stall and dfuERROR/errSTALLEDPKT; CLRSTATUS recovers. */
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_STALL);
	CHECK_INT(gs(d, 0), EMU_DFU_ERROR);
	CHECK_INT(st[0], EMU_ERR_STALLEDPKT);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DFU_IDLE);
	CHECK_INT(st[0], EMU_OK);
	const struct {
		uint8_t rt, req;
		uint16_t len;
	} bad[] = {
		{ OUT, DNLOAD, 0 },    /* zero-length download from dfuIDLE */
		{ OUT, DETACH, 0 },    /* DETACH in DFU mode */
		{ OUT, GETSTATUS, 6 }, /* wrong direction */
		{ IN, GETSTATUS, 5 },  /* too short for the reply */
		{ IN, UPLOAD, 0 },     /* empty upload */
		{ IN, UPLOAD, 129 },   /* more than wTransferSize */
		{ OUT, DNLOAD, 129 },  /* more than wTransferSize */
		{ OUT, 7, 0 },         /* no such request */
		{ OUT, ABORT, 1 },     /* ABORT has no data */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(ctl(d, bad[i].rt, bad[i].req, 0, 0, buf, bad[i].len, NULL),
		          EMU_XFER_STALL);
		CHECK_INT(state_of(d), EMU_DFU_ERROR);
		CHECK_INT(status_of(d), EMU_ERR_STALLEDPKT);
		CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	}
	/* A class request to another interface is not DFU: stall, state unchanged. */
	CHECK_INT(ctl(d, IN, GETSTATUS, 0, 1, buf, 6, NULL), EMU_XFER_STALL);
	CHECK_INT(state_of(d), EMU_DFU_IDLE);

	/* UPLOAD: block n from region_base + n * 128; a short block ends it. */
	uint8_t *mem;
	size_t mlen;
	mem = emu_dev_memory(d, &mlen);
	CHECK_INT(mlen, 0xF000 - 0x8000);
	for (size_t i = 0; i < mlen; i++)
		mem[i] = (uint8_t)(i * 7);
	CHECK_INT(ctl(d, IN, UPLOAD, 0, 0, buf, 128, &act), EMU_XFER_OK);
	CHECK_INT(act, 128);
	CHECK(!memcmp(buf, mem, 128));
	CHECK_INT(state_of(d), EMU_UPLOAD_IDLE);
	CHECK_INT(ctl(d, IN, UPLOAD, 5, 0, buf, 128, &act), EMU_XFER_OK);
	CHECK(!memcmp(buf, mem + 5 * 128, 128));
	CHECK_INT(ctl(d, IN, UPLOAD, 223, 0, buf, 128, &act), EMU_XFER_OK);
	CHECK_INT(act, 128);
	CHECK_INT(state_of(d), EMU_UPLOAD_IDLE);
	CHECK_INT(ctl(d, IN, UPLOAD, 224, 0, buf, 128, &act), EMU_XFER_OK);
	CHECK_INT(act, 0);
	CHECK_INT(state_of(d), EMU_DFU_IDLE);
	CHECK_INT(ctl(d, IN, UPLOAD, 0, 0, buf, 64, &act), EMU_XFER_OK); /* smaller wLength */
	CHECK_INT(act, 64);
	CHECK(!memcmp(buf, mem, 64));
	CHECK_INT(ctl(d, OUT, DNLOAD, 0, 0, buf, 128, NULL), EMU_XFER_STALL); /* in UPLOAD-IDLE */
	CHECK_INT(status_of(d), EMU_ERR_STALLEDPKT);
	emu_dev_free(d);

	/* Runtime mode: GETSTATUS/GETSTATE answer appIDLE; download requests stall without
	 * an error state (there is none in runtime mode). */
	d = mk("kind=st7");
	CHECK_INT(gs(d, 1), EMU_APP_IDLE);
	CHECK_INT(ctl(d, OUT, DNLOAD, 0, 1, buf, 8, NULL), EMU_XFER_STALL);
	CHECK_INT(ctl(d, IN, UPLOAD, 0, 1, buf, 8, NULL), EMU_XFER_STALL);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 1, NULL, 0, NULL), EMU_XFER_STALL);
	CHECK_INT(state_of(d), EMU_APP_IDLE);
	CHECK_INT(gs(d, 0), -1); /* interface 0 is the HID interface */
	emu_dev_free(d);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 31 + seed * 17 + (i >> 8)) ^ 0x5A);
}

/* Busy periods, poll timeouts, erase, addressing: injected time makes them exact. */
static void test_st7_download(void)
{
	uint8_t blk[128], buf[128];
	size_t mlen;
	struct emu_info in;

	/* A full flash: block 0 erases sector 2 (8000-DFFF) and sector 1 (E000-EFFF), 40 ms
	 * each, then programs 128 bytes in 2 x 5 ms. */
	struct emu_dev *d = mk("kind=st7,mode=dfu,app=valid");
	uint8_t *mem = emu_dev_memory(d, &mlen);
	memset(mem, 0x00, mlen);
	fill(blk, sizeof(blk), 1);
	CHECK_INT(dn(d, 0, blk, 128), EMU_XFER_OK);
	CHECK_INT(state_of(d), EMU_DNLOAD_SYNC);
	CHECK_INT(mem[0], 0x00); /* nothing happens before GETSTATUS */
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 90);
	CHECK_INT(emu_dev_next_deadline(d), T + 90 * MS);
	CHECK(!memcmp(mem, blk, 128));
	CHECK_INT(mem[128], 0xFF);
	CHECK_INT(mem[mlen - 1], 0xFF);
	emu_dev_info(d, &in);
	CHECK(!in.app_valid); /* block 0 invalidates the application */
	/* Polled early: still busy, with the time that remains. */
	T += 30 * MS;
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 60);
	T += 59 * MS;
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 1);
	T += 1 * MS;
	CHECK_INT(state_of(d), EMU_DNBUSY); /* info does not advance time */
	CHECK_INT(ctl(d, IN, GETSTATE, 0, 0, buf, 1, NULL), EMU_XFER_OK);
	CHECK_INT(buf[0], EMU_DNLOAD_SYNC);
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
	CHECK_INT(poll_ms(), 0);
	/* Next blocks: 10 ms each. */
	fill(blk, sizeof(blk), 2);
	CHECK_INT(dn(d, 1, blk, 128), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 10);
	/* GETSTATE while busy is not allowed. */
	CHECK_INT(ctl(d, IN, GETSTATE, 0, 0, buf, 1, NULL), EMU_XFER_STALL);
	CHECK_INT(state_of(d), EMU_DFU_ERROR);
	CHECK_INT(status_of(d), EMU_ERR_STALLEDPKT);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	/* The download restarts at block 0; a short block costs ceil(len/64) x 5 ms. */
	CHECK_INT(dn(d, 1, blk, 128), EMU_XFER_OK); /* out of order from dfuIDLE */
	CHECK_INT(gs(d, 0), EMU_DFU_ERROR);
	CHECK_INT(st[0], EMU_ERR_ADDRESS);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(dn(d, 0, blk, 65), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 40 + 10); /* sector 2 holds block 0; 65 bytes = 2 x 5 ms */
	T += 50 * MS;
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
	CHECK_INT(dn(d, 2, blk, 128), EMU_XFER_OK); /* skipped block 1 */
	CHECK_INT(gs(d, 0), EMU_DFU_ERROR);
	CHECK_INT(st[0], EMU_ERR_ADDRESS);
	CHECK_INT(poll_ms(), 0);
	emu_dev_free(d);

	/* Blank flash but the version word: only sector 1 needs erasing. */
	d = mk("kind=st7,mode=dfu");
	CHECK_INT(dn(d, 0, blk, 128), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 50);
	emu_dev_free(d);
	/* st72f62: sector 2 is empty (base E000); 64-byte blocks; the region ends at 4 KiB. */
	d = mk("kind=st7,profile=st72f62,mode=dfu,erase-ms=7,prog-ms=3");
	mem = emu_dev_memory(d, &mlen);
	CHECK_INT(mlen, 4096);
	memset(mem, 0, mlen);
	CHECK_INT(dn(d, 0, blk, 64), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 7 + 3);
	T += 10 * MS;
	CHECK_INT(dn(d, 1, blk, 64), EMU_XFER_STALL); /* DNLOAD-SYNC needs a GETSTATUS */
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(dn_block(d, 0, blk, 64), EMU_DNLOAD_IDLE);
	for (uint16_t b = 1; b < 64; b++)
		CHECK_INT(dn_block(d, b, blk, 64), EMU_DNLOAD_IDLE);
	CHECK_INT(dn(d, 64, blk, 64), EMU_XFER_OK); /* past E000 + 4 KiB */
	CHECK_INT(gs(d, 0), EMU_DFU_ERROR);
	CHECK_INT(st[0], EMU_ERR_ADDRESS);
	emu_dev_free(d);
}

/* The zero-length DNLOAD `block`, manifestation (50 ms), the host's reset and the
 * device's return as its application; `in` says what it reports then. */
static void manifest_and_reset(struct emu_dev *d, uint16_t block, struct emu_info *in)
{
	CHECK_INT(ctl(d, OUT, DNLOAD, block, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	T += 50 * MS;
	CHECK_INT(gs(d, 0), EMU_MANIFEST_WAIT_RESET);
	CHECK(!emu_dev_usb_reset(d, T));
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, in);
	CHECK_INT(in->mode, EMU_MODE_RUNTIME);
}

static void download_all(struct emu_dev *d, const uint8_t *img, size_t len, uint16_t xfer)
{
	for (size_t off = 0, b = 0; off < len; off += xfer, b++) {
		size_t n = len - off < xfer ? len - off : xfer;
		CHECK_INT(dn_block(d, (uint16_t)b, img + off, (uint16_t)n), EMU_DNLOAD_IDLE);
	}
}

/* Manifestation, resets and re-enumeration. */
static void test_st7_manifest(void)
{
	static uint8_t img[0x7000];
	struct emu_info in;
	size_t mlen;

	fill(img, sizeof(img), 3);
	img[sizeof(img) - 2] = 0x01; /* version word 1.23 */
	img[sizeof(img) - 1] = 0x23;

	struct emu_dev *d = mk("kind=st7,mode=dfu");
	CHECK_INT(emu_dev_enumeration(d), 1);
	download_all(d, img, sizeof(img), 128);
	emu_dev_info(d, &in);
	CHECK(!in.app_valid);
	CHECK_INT(ctl(d, OUT, DNLOAD, 224, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(state_of(d), EMU_MANIFEST_SYNC);
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	CHECK_INT(poll_ms(), 50);
	T += 20 * MS;
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	CHECK_INT(poll_ms(), 30);
	emu_dev_info(d, &in);
	CHECK(!in.app_valid); /* valid only once manifestation is over */
	T += 30 * MS;
	CHECK_INT(gs(d, 0), EMU_MANIFEST_WAIT_RESET);
	emu_dev_info(d, &in);
	CHECK(in.app_valid);
	/* Waiting for the reset: other requests stall but do not leave the state. */
	CHECK_INT(ctl(d, OUT, ABORT, 0, 0, NULL, 0, NULL), EMU_XFER_STALL);
	CHECK_INT(state_of(d), EMU_MANIFEST_WAIT_RESET);
	/* The reset re-enumerates in runtime mode with the new bcdDevice. */
	CHECK(!emu_dev_usb_reset(d, T));
	CHECK(!emu_dev_present(d));
	emu_dev_info(d, &in);
	CHECK(in.reenumerating);
	CHECK_INT(emu_dev_next_deadline(d), T + 20 * MS);
	struct emu_xfer x;
	uint8_t s8[8] = { IN, GETSTATUS, 0, 0, 1, 0, 6, 0 };
	emu_dev_control(d, T, s8, st, 6, &x);
	CHECK_INT(x.status, EMU_XFER_GONE);
	T += 20 * MS;
	emu_dev_tick(d, T);
	CHECK(emu_dev_present(d));
	CHECK_INT(emu_dev_enumeration(d), 2);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	CHECK_INT(in.state, EMU_APP_IDLE);
	CHECK_INT(in.pid, 0xFF03);
	CHECK_INT(in.bcd_device, 0x0123);
	CHECK_INT(in.num_interfaces, 2);
	uint8_t *mem = emu_dev_memory(d, &mlen);
	CHECK(!memcmp(mem, img, sizeof(img)));
	struct emu_stats s;
	emu_dev_stats(d, &s);
	CHECK_INT(s.resets, 1);
	CHECK_INT(s.reenumerations, 1);
	/* 40 (sector 1) + 224 x 10 + 50 (manifest) + 20 (re-enumeration); no bus time. */
	CHECK_INT(s.mandated_us, (40 + 2240 + 50 + 20) * MS);
	CHECK(s.elapsed_us >= s.mandated_us);
	CHECK_INT(s.requests[EMU_REQ_DNLOAD], 225);
	CHECK_INT(s.requests[EMU_REQ_GETSTATUS], 224 * 2 + 3);
	CHECK_INT(s.dfu_requests, 225 + 451 + 1);
	CHECK_INT(s.faults_fired, 0);

	/* Runtime: DETACH, then a reset within min(wValue, wDetachTimeOut) -> DFU mode. */
	CHECK_INT(ctl(d, OUT, DETACH, 5000, 1, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(state_of(d), EMU_APP_DETACH);
	CHECK_INT(gs(d, 1), EMU_APP_DETACH);
	T += 999 * MS;
	CHECK(!emu_dev_usb_reset(d, T));
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK(in.present);
	CHECK_INT(in.mode, EMU_MODE_DFU);
	CHECK_INT(in.state, EMU_DFU_IDLE);
	CHECK_INT(in.pid, 0xDF11);
	CHECK_INT(in.bcd_device, 0x0100);
	CHECK(in.app_valid);
	/* A valid application: a reset goes back to it (new descriptors: re-enumeration). */
	CHECK(!emu_dev_usb_reset(d, T));
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	/* DETACH, but the reset comes too late: back in appIDLE, the reset keeps runtime. */
	CHECK_INT(ctl(d, OUT, DETACH, 300, 1, NULL, 0, NULL), EMU_XFER_OK);
	T += 300 * MS;
	CHECK_INT(gs(d, 1), EMU_APP_IDLE);
	CHECK(emu_dev_usb_reset(d, T));
	CHECK_INT(emu_dev_enumeration(d), 4);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	emu_dev_free(d);

	/* A reset or power loss before manifestation: DFU mode, and it stays there. */
	d = mk("kind=st7,mode=dfu,app=valid");
	download_all(d, img, 128 * 10, 128);
	CHECK(emu_dev_usb_reset(d, T)); /* same mode: Linux keeps the device */
	emu_dev_info(d, &in);
	CHECK(!in.app_valid);
	CHECK_INT(in.mode, EMU_MODE_DFU);
	CHECK_INT(in.state, EMU_DFU_IDLE);
	CHECK_INT(emu_dev_enumeration(d), 1);
	emu_dev_unplug(d, T, 100 * MS);
	CHECK(!emu_dev_present(d));
	T += 100 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK(in.present);
	CHECK_INT(in.mode, EMU_MODE_DFU);
	CHECK_INT(emu_dev_enumeration(d), 2);
	mem = emu_dev_memory(d, &mlen);
	CHECK(!memcmp(mem, img, 128 * 10)); /* the half-written flash survives */
	CHECK_INT(mem[128 * 10], 0xFF);
	emu_dev_free(d);

	/* A valid application in DFU mode (detached, nothing written): reset -> runtime. */
	d = mk("kind=st7,mode=dfu,app=valid,version=0x0456");
	CHECK(!emu_dev_usb_reset(d, T));
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	CHECK_INT(in.bcd_device, 0x0456);
	emu_dev_free(d);
}

static void test_dfu11(void)
{
	static uint8_t img[4096 + 100];
	uint8_t buf[1024];
	size_t act, mlen;
	struct emu_info in;

	fill(img, sizeof(img), 4);
	/* bitWillDetach: the device drops off by itself after DETACH. */
	struct emu_dev *d =
	        mk("kind=dfu11,will-detach=1,reenum-ms=5,mem-size=8K,transfer-size=512");
	CHECK_INT(ctl(d, OUT, DETACH, 1000, 1, NULL, 0, NULL), EMU_XFER_OK);
	CHECK(!emu_dev_present(d));
	T += 5 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_DFU);
	/* Sequential download from offset 0, erase of all non-empty 4 KiB sectors first. */
	uint8_t *mem = emu_dev_memory(d, &mlen);
	CHECK_INT(mlen, 8192);
	mem[5000] = 0;
	CHECK_INT(dn(d, 0, img, 512), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 40 + 8 * 5);
	CHECK_INT(mem[5000], 0xFF);
	T += 80 * MS;
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
	for (uint16_t b = 1; b * 512u < sizeof(img); b++) {
		size_t n = sizeof(img) - b * 512u < 512 ? sizeof(img) - b * 512u : 512;
		CHECK_INT(dn_block(d, b, img + b * 512, (uint16_t)n), EMU_DNLOAD_IDLE);
	}
	CHECK(!memcmp(mem, img, sizeof(img)));
	CHECK_INT(ctl(d, OUT, DNLOAD, 9, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	T += 50 * MS;
	CHECK_INT(gs(d, 0), EMU_MANIFEST_WAIT_RESET);
	/* Upload returns the memory; the block after the end is short (empty). */
	CHECK_INT(ctl(d, OUT, ABORT, 0, 0, NULL, 0, NULL), EMU_XFER_STALL);
	CHECK(!emu_dev_usb_reset(d, T));
	emu_dev_free(d);

	d = mk("kind=dfu11,mode=dfu,manifest-tolerant=1,mem-size=4K,transfer-size=1024,prog-ms=0");
	CHECK_INT(dn(d, 0, img, 1024), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE); /* no busy time at all: straight to idle */
	CHECK_INT(ctl(d, OUT, DNLOAD, 1, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	T += 50 * MS;
	CHECK_INT(state_of(d), EMU_MANIFEST);
	emu_dev_tick(d, T);
	CHECK_INT(state_of(d), EMU_MANIFEST_SYNC); /* tolerant: back to MANIFEST-SYNC */
	CHECK_INT(gs(d, 0), EMU_DFU_IDLE);
	emu_dev_info(d, &in);
	CHECK(in.app_valid);
	for (uint16_t b = 0; b < 4; b++) {
		CHECK_INT(ctl(d, IN, UPLOAD, b, 0, buf, 1024, &act), EMU_XFER_OK);
		CHECK_INT(act, 1024);
	}
	CHECK_INT(ctl(d, IN, UPLOAD, 4, 0, buf, 1024, &act), EMU_XFER_OK);
	CHECK_INT(act, 0);
	CHECK_INT(state_of(d), EMU_DFU_IDLE);
	/* A tolerant device stays in DFU mode until reset; then its application runs. */
	CHECK(!emu_dev_usb_reset(d, T));
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	CHECK_INT(in.bcd_device, 0x0100);
	emu_dev_free(d);
}

static int dfuse_cmd(struct emu_dev *d, const uint8_t *cmd, uint16_t len)
{
	if (dn(d, 0, cmd, len) != EMU_XFER_OK)
		return -1;
	int s = gs(d, 0);
	if (s != EMU_DNBUSY) /* dfu-util insists on dfuDNBUSY first */
		return -2;
	T += poll_ms() * MS;
	return gs(d, 0);
}

static void test_dfuse(void)
{
	uint8_t buf[2048], img[3000];
	size_t act, mlen;
	struct emu_info in;
	uint8_t set0[5] = { 0x21, 0x00, 0x00, 0x00, 0x08 };
	uint8_t set1k[5] = { 0x21, 0x00, 0x04, 0x00, 0x08 };
	uint8_t erase0[5] = { 0x41, 0x00, 0x00, 0x00, 0x08 };
	uint8_t erase_bad[5] = { 0x41, 0x00, 0x00, 0x00, 0x09 };
	uint8_t mass[1] = { 0x41 };

	fill(img, sizeof(img), 5);
	struct emu_dev *d = mk("kind=dfuse,mode=dfu,flash-out=/dev/null,"
	                       "layout=@Internal Flash  /0x08000000/02*001Ka,06*001Kg");
	uint8_t *mem = emu_dev_memory(d, &mlen);
	CHECK_INT(mlen, 8192);
	memset(mem, 0x00, mlen); /* nothing erased */
	/* Get commands: UPLOAD block 0. */
	CHECK_INT(ctl(d, IN, UPLOAD, 0, 0, buf, 2048, &act), EMU_XFER_OK);
	CHECK_INT(act, 4);
	CHECK_INT(buf[0], 0x00);
	CHECK_INT(buf[1], 0x21);
	CHECK_INT(buf[2], 0x41);
	CHECK_INT(buf[3], 0x92);
	/* Erase page: only erasable pages; a page that holds data costs erase-ms. */
	CHECK_INT(dfuse_cmd(d, erase0, 5), EMU_DFU_ERROR); /* page 0 is read-only ("a") */
	CHECK_INT(st[0], EMU_ERR_ADDRESS);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(dfuse_cmd(d, erase_bad, 5), EMU_DFU_ERROR);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	uint8_t erase2k[5] = { 0x41, 0x10, 0x08, 0x00, 0x08 }; /* inside the 3rd page */
	CHECK_INT(dn(d, 0, erase2k, 5), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 40);
	T += 40 * MS;
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
	CHECK_INT(mem[2047], 0x00);
	CHECK_INT(mem[2048], 0xFF);
	CHECK_INT(mem[3071], 0xFF);
	CHECK_INT(mem[3072], 0x00);
	/* Set address pointer, then data from block 2 at (n - 2) x 2048 + pointer. */
	uint8_t set2k[5] = { 0x21, 0x00, 0x08, 0x00, 0x08 };
	CHECK_INT(dfuse_cmd(d, set2k, 5), EMU_DNLOAD_IDLE);
	CHECK_INT(dn(d, 2, img, 1024), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 16 * 5);
	T += 80 * MS;
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
	CHECK(!memcmp(mem + 2048, img, 1024));
	/* Writing memory that was not erased fails with errPROG, after the busy period. */
	CHECK_INT(dn(d, 2, img, 1025), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	T += poll_ms() * MS;
	CHECK_INT(gs(d, 0), EMU_DFU_ERROR);
	CHECK_INT(st[0], EMU_ERR_PROG);
	CHECK_INT(mem[3072], 0x00);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	/* Not writeable ("a" pages) -> errADDRESS. */
	CHECK_INT(dfuse_cmd(d, set1k, 5), EMU_DNLOAD_IDLE);
	CHECK_INT(dn(d, 2, img, 16), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	T += poll_ms() * MS;
	CHECK_INT(gs(d, 0), EMU_DFU_ERROR);
	CHECK_INT(st[0], EMU_ERR_ADDRESS);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	/* Malformed commands and block 1 stall. */
	CHECK_INT(dn(d, 0, set0, 3), EMU_XFER_STALL);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(dn(d, 1, img, 16), EMU_XFER_STALL);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	/* Mass erase: every erasable page that holds data. */
	CHECK_INT(dn(d, 0, mass, 1), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 6 * 40); /* 6 erasable pages, none blank */
	T += 240 * MS;
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
	CHECK_INT(mem[0], 0x00);
	CHECK_INT(mem[2048], 0xFF);
	CHECK_INT(mem[8191], 0xFF);
	/* Upload from the pointer: set it, abort to idle, upload blocks 2.. */
	CHECK_INT(dfuse_cmd(d, set0, 5), EMU_DNLOAD_IDLE);
	CHECK_INT(ctl(d, OUT, ABORT, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(ctl(d, IN, UPLOAD, 2, 0, buf, 2048, &act), EMU_XFER_OK);
	CHECK_INT(act, 2048);
	CHECK(!memcmp(buf, mem, 2048));
	CHECK_INT(ctl(d, IN, UPLOAD, 5, 0, buf, 2048, &act), EMU_XFER_OK);
	CHECK_INT(act, 2048);
	CHECK_INT(ctl(d, IN, UPLOAD, 6, 0, buf, 2048, &act), EMU_XFER_OK);
	CHECK_INT(act, 0); /* the end of the memory ends the upload */
	CHECK_INT(ctl(d, IN, UPLOAD, 7, 0, buf, 2048, &act), EMU_XFER_STALL);
	CHECK_INT(status_of(d), EMU_ERR_ADDRESS);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	/* Leave: set address, zero-length DNLOAD, manifestation, then the application. */
	CHECK_INT(dfuse_cmd(d, set0, 5), EMU_DNLOAD_IDLE);
	CHECK_INT(ctl(d, OUT, DNLOAD, 2, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	CHECK_INT(poll_ms(), 50);
	T += 50 * MS;
	emu_dev_tick(d, T);
	CHECK(!emu_dev_present(d));
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK(in.present);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	size_t n;
	const uint8_t *p = emu_dev_descriptors(d, &n);
	CHECK_INT(p[n - 9 - 2], 0x01); /* runtime DFU interface protocol 1 */
	CHECK_INT(p[n - 2] | p[n - 1] << 8, 0x011A);
	/* DETACH (bitWillDetach by default) brings the loader back. */
	CHECK_INT(ctl(d, OUT, DETACH, 1000, 1, NULL, 0, NULL), EMU_XFER_OK);
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_DFU);
	CHECK_INT(in.bcd_device, 0x2200);
	emu_dev_free(d);

	/* Two alternate settings address two memories. */
	d = mk("kind=dfuse,mode=dfu,layout=@A/0x08000000/01*001Kg,layout=@B/0x1FFF0000/01*001Kg,"
	       "prog-ms=0,erase-ms=0");
	CHECK_INT(ctl(d, 0x01, 11, 1, 0, NULL, 0, NULL), EMU_XFER_OK);
	uint8_t setb[5] = { 0x21, 0x00, 0x00, 0xFF, 0x1F };
	CHECK_INT(dfuse_cmd(d, setb, 5), EMU_DNLOAD_IDLE);
	CHECK_INT(dn(d, 2, img, 100), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
	mem = emu_dev_memory(d, &mlen); /* alt 0 untouched */
	CHECK_INT(mem[0], 0xFF);
	CHECK_INT(ctl(d, OUT, ABORT, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(ctl(d, IN, UPLOAD, 2, 0, buf, 100, &act), EMU_XFER_OK);
	CHECK(!memcmp(buf, img, 100));
	CHECK_INT(ctl(d, OUT, ABORT, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(dfuse_cmd(d, set0, 5), EMU_DFU_ERROR); /* 0x08000000 is alt 0's */
	emu_dev_free(d);
}

/* A temporary flash-in file holding `n` bytes; the path goes to `path`. */
static void write_tmp(char *path, size_t cap, const uint8_t *p, size_t n)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, cap, "%s/emu-model-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		exit(1);
	CHECK_INT(write(fd, p, n), (long long)n);
	close(fd);
}

/* version-addr: the runtime bcdDevice is the little-endian word the memory holds. */
static void test_version_addr(void)
{
	static uint8_t img[4096];
	uint8_t set[5] = { 0x21, 0x00, 0xF8, 0x00, 0x08 }; /* 0x0800F800 */
	uint8_t erase[5] = { 0x41, 0x00, 0xC0, 0x00, 0x08 };
	struct emu_info in;
	size_t mlen;
	char path[512];

	/* DFU 1.1: a download and manifestation; the reset brings the new version. */
	fill(img, sizeof(img), 10);
	img[0xFFC] = 0x34;
	img[0xFFD] = 0x12;
	struct emu_dev *d = mk("kind=dfu11,mode=dfu,mem-size=4K,version-addr=0xFFC,prog-ms=0");
	emu_dev_info(d, &in);
	CHECK_INT(in.bcd_device, 0x0100); /* the loader's own */
	download_all(d, img, sizeof(img), 1024);
	manifest_and_reset(d, 4, &in);
	CHECK_INT(in.bcd_device, 0x1234);
	emu_dev_free(d);

	/* DfuSe: erase the last page, write its last 2 KiB, leave. */
	d = mk("kind=dfuse,mode=dfu,version-addr=0x0800FFFC,erase-ms=0,prog-ms=0");
	emu_dev_info(d, &in);
	CHECK_INT(in.bcd_device, 0x2200);
	CHECK_INT(dfuse_cmd(d, erase, 5), EMU_DNLOAD_IDLE);
	CHECK_INT(dfuse_cmd(d, set, 5), EMU_DNLOAD_IDLE);
	img[0x7FC] = 0x05;
	img[0x7FD] = 0x02;
	CHECK_INT(dn_block(d, 2, img, 2048), EMU_DNLOAD_IDLE);
	CHECK_INT(ctl(d, OUT, DNLOAD, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	T += 50 * MS;
	emu_dev_tick(d, T);
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	CHECK_INT(in.bcd_device, 0x0205);
	/* DETACH: the loader again, then a reset without a download: the same word. */
	CHECK_INT(ctl(d, OUT, DETACH, 1000, 1, NULL, 0, NULL), EMU_XFER_OK);
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.bcd_device, 0x2200);
	CHECK(!emu_dev_usb_reset(d, T));
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	CHECK_INT(in.bcd_device, 0x0205);
	emu_dev_free(d);

	/* wrong-version still wins after manifestation. */
	d = mk("kind=dfuse,mode=dfu,version-addr=0x0800FFFC,wrong-version=0x0999,erase-ms=0,"
	       "prog-ms=0");
	CHECK_INT(dfuse_cmd(d, erase, 5), EMU_DNLOAD_IDLE);
	CHECK_INT(dfuse_cmd(d, set, 5), EMU_DNLOAD_IDLE);
	CHECK_INT(dn_block(d, 2, img, 2048), EMU_DNLOAD_IDLE);
	CHECK_INT(ctl(d, OUT, DNLOAD, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	T += 70 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	CHECK_INT(in.bcd_device, 0x0999);
	emu_dev_free(d);

	/* Power-on from flash-in: the word is read from the loaded memory. */
	static uint8_t flash[65536];
	memset(flash, 0xFF, sizeof(flash));
	flash[0xFFFC] = 0x03;
	flash[0xFFFD] = 0x01;
	write_tmp(path, sizeof(path), flash, sizeof(flash));
	char spec[700];
	snprintf(spec, sizeof(spec), "kind=dfuse,flash-in=%s,version-addr=0x0800FFFC", path);
	d = mk(spec);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	CHECK_INT(in.bcd_device, 0x0103);
	emu_dev_free(d);
	snprintf(spec, sizeof(spec), "kind=dfu11,flash-in=%s,version-addr=0xFFFC", path);
	d = mk(spec);
	emu_dev_info(d, &in);
	CHECK_INT(in.bcd_device, 0x0103);
	emu_dev_free(d);
	/* A valid application found in DFU mode runs with its word after a reset. */
	snprintf(spec, sizeof(spec),
	         "kind=dfu11,mode=dfu,app=valid,flash-in=%s,version-addr=0xFFFC", path);
	d = mk(spec);
	CHECK(!emu_dev_usb_reset(d, T));
	T += 20 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.bcd_device, 0x0103);
	emu_dev_free(d);
	unlink(path);

	/* Erased: 0xFFFF, whatever version= alone would say; version= with version-addr
	 * stamps the word. */
	d = mk("kind=dfuse,version-addr=0x0800FFFC");
	emu_dev_info(d, &in);
	CHECK_INT(in.bcd_device, 0xFFFF);
	emu_dev_free(d);
	d = mk("kind=dfu11,version=1.07,version-addr=0x10");
	emu_dev_info(d, &in);
	CHECK_INT(in.bcd_device, 0x0107);
	uint8_t *mem = emu_dev_memory(d, &mlen);
	CHECK_INT(mem[0x10], 0x07);
	CHECK_INT(mem[0x11], 0x01);
	emu_dev_free(d);
	d = mk("kind=dfu11,version=1.07"); /* without version-addr: unchanged */
	emu_dev_info(d, &in);
	CHECK_INT(in.bcd_device, 0x0107);
	mem = emu_dev_memory(d, &mlen);
	CHECK_INT(mem[0x10], 0xFF);
	emu_dev_free(d);
}

static void test_faults(void)
{
	uint8_t blk[128], buf[128];
	size_t act, mlen;
	struct emu_info in;
	struct emu_stats s;

	fill(blk, sizeof(blk), 6);
	/* stall-block: once by default, then the retry (from block 0) goes through. */
	struct emu_dev *d = mk("kind=st7,mode=dfu,stall-block=2,prog-ms=0,erase-ms=0");
	CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
	CHECK_INT(dn_block(d, 1, blk, 128), EMU_DNLOAD_IDLE);
	CHECK_INT(dn(d, 2, blk, 128), EMU_XFER_STALL);
	CHECK_INT(state_of(d), EMU_DFU_ERROR);
	CHECK_INT(status_of(d), EMU_ERR_STALLEDPKT);
	CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	for (uint16_t b = 0; b < 4; b++)
		CHECK_INT(dn_block(d, b, blk, 128), EMU_DNLOAD_IDLE);
	emu_dev_stats(d, &s);
	CHECK_INT(s.faults_fired, 1);
	emu_dev_free(d);
	/* fault-times=0: always. */
	d = mk("kind=st7,mode=dfu,stall-block=0,fault-times=0");
	for (int i = 0; i < 3; i++) {
		CHECK_INT(dn(d, 0, blk, 128), EMU_XFER_STALL);
		CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	}
	emu_dev_stats(d, &s);
	CHECK_INT(s.faults_fired, 3);
	emu_dev_free(d);

	/* error-block: the block goes through its busy period, then the error; its data is
	 * not written. fault-times=2: twice. */
	d = mk("kind=st7,mode=dfu,error-block=1,error-status=errVERIFY,fault-times=2");
	uint8_t *mem = emu_dev_memory(d, &mlen);
	for (int round = 0; round < 3; round++) {
		CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
		CHECK_INT(dn(d, 1, blk, 128), EMU_XFER_OK);
		CHECK_INT(gs(d, 0), EMU_DNBUSY);
		CHECK_INT(poll_ms(), 10);
		T += 10 * MS;
		if (round < 2) {
			CHECK_INT(gs(d, 0), EMU_DFU_ERROR);
			CHECK_INT(st[0], EMU_ERR_VERIFY);
			CHECK_INT(mem[128], 0xFF);
			CHECK_INT(ctl(d, OUT, CLRSTATUS, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
		} else {
			CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
			CHECK(!memcmp(mem + 128, blk, 128));
		}
	}
	emu_dev_free(d);
	d = mk("kind=st7,mode=dfu,error-block=0"); /* errWRITE by default */
	CHECK_INT(dn(d, 0, blk, 128), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	T += poll_ms() * MS;
	CHECK_INT(gs(d, 0), EMU_DFU_ERROR);
	CHECK_INT(st[0], EMU_ERR_WRITE);
	emu_dev_free(d);

	/* poll-ms: the reported bwPollTimeout lies; the real busy time still applies. */
	d = mk("kind=st7,mode=dfu,poll-ms=0");
	CHECK_INT(dn(d, 0, blk, 128), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 0);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	T += 50 * MS;
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
	emu_dev_free(d);
	d = mk("kind=st7,mode=dfu,poll-ms=16777215");
	CHECK_INT(dn(d, 0, blk, 128), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK_INT(poll_ms(), 16777215);
	T += 50 * MS;
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
	emu_dev_free(d);

	/* getstatus-timeout: that GETSTATUS is never answered and changes nothing. */
	d = mk("kind=st7,mode=dfu,getstatus-timeout=2");
	CHECK_INT(dn(d, 0, blk, 128), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	T += 50 * MS;
	CHECK_INT(gs(d, 0), -1);
	CHECK_INT(state_of(d), EMU_DNLOAD_SYNC); /* time went on; the request did nothing */
	CHECK_INT(gs(d, 0), EMU_DNLOAD_IDLE);
	emu_dev_stats(d, &s);
	CHECK_INT(s.requests[EMU_REQ_GETSTATUS], 3);
	CHECK_INT(s.faults_fired, 1);
	emu_dev_free(d);

	/* unplug-state: the request that entered the state is answered, then power goes;
	 * it comes back after replug-ms in DFU mode (block 0 invalidated the app). */
	d = mk("kind=st7,mode=dfu,app=valid,unplug-state=dfuDNBUSY,replug-ms=100");
	CHECK_INT(dn(d, 0, blk, 128), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK(!emu_dev_present(d));
	emu_dev_info(d, &in);
	CHECK(!in.reenumerating);
	CHECK_INT(emu_dev_next_deadline(d), T + 100 * MS);
	T += 100 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK(in.present);
	CHECK_INT(in.mode, EMU_MODE_DFU);
	CHECK(!in.app_valid);
	CHECK_INT(dn(d, 0, blk, 128), EMU_XFER_OK); /* fired once: not again */
	CHECK_INT(gs(d, 0), EMU_DNBUSY);
	CHECK(emu_dev_present(d));
	emu_dev_stats(d, &s);
	CHECK_INT(s.reenumerations, 1);
	CHECK_INT(s.mandated_us, (50 + 50) * MS); /* power cycles are not mandated */
	emu_dev_free(d);
	/* unplug-state for a state entered by time (dfuMANIFEST-WAIT-RESET). */
	d = mk("kind=st7,mode=dfu,unplug-state=dfuMANIFEST-WAIT-RESET,replug-ms=10");
	CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
	CHECK_INT(ctl(d, OUT, DNLOAD, 1, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	T += 50 * MS;
	emu_dev_tick(d, T);
	CHECK(!emu_dev_present(d));
	T += 10 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME); /* the image was manifested */
	emu_dev_free(d);
	/* unplug-block, never back. */
	d = mk("kind=st7,mode=dfu,unplug-block=1");
	CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
	CHECK_INT(dn(d, 1, blk, 128), EMU_XFER_OK);
	CHECK(!emu_dev_present(d));
	CHECK_INT(emu_dev_next_deadline(d), EMU_NEVER);
	mem = emu_dev_memory(d, &mlen);
	CHECK_INT(mem[128], 0xFF); /* accepted but never programmed */
	T += 3600000 * MS;
	emu_dev_tick(d, T);
	CHECK(!emu_dev_present(d));
	emu_dev_free(d);

	/* no-reenum: DETACH + reset leaves it in runtime mode, on the same node. */
	d = mk("kind=st7,no-reenum=1");
	CHECK_INT(ctl(d, OUT, DETACH, 1000, 1, NULL, 0, NULL), EMU_XFER_OK);
	CHECK(emu_dev_usb_reset(d, T));
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	CHECK_INT(in.state, EMU_APP_IDLE);
	emu_dev_free(d);
	d = mk("kind=dfu11,will-detach=1,no-reenum=1");
	CHECK_INT(ctl(d, OUT, DETACH, 1000, 1, NULL, 0, NULL), EMU_XFER_OK);
	CHECK(emu_dev_present(d));
	emu_dev_free(d);

	/* wrong-version and reject-image act at manifestation. */
	d = mk("kind=st7,mode=dfu,wrong-version=0x0999,prog-ms=0");
	CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
	manifest_and_reset(d, 1, &in);
	CHECK_INT(in.bcd_device, 0x0999);
	emu_dev_stats(d, &s);
	CHECK_INT(s.faults_fired, 1);
	/* It holds until the next manifestation: a reset, a power cycle. */
	CHECK(emu_dev_usb_reset(d, T));
	emu_dev_info(d, &in);
	CHECK_INT(in.bcd_device, 0x0999);
	emu_dev_unplug(d, T, 10 * MS);
	T += 10 * MS;
	emu_dev_tick(d, T);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	CHECK_INT(in.bcd_device, 0x0999);
	/* The second manifestation (fault-times=1 spent) reports the real word again. */
	CHECK_INT(ctl(d, OUT, DETACH, 1000, 1, NULL, 0, NULL), EMU_XFER_OK);
	CHECK(!emu_dev_usb_reset(d, T));
	T += 20 * MS;
	emu_dev_tick(d, T);
	blk[126] = 0x01;
	blk[127] = 0x07;
	for (uint16_t b = 0; b < 0x7000 / 128; b++)
		CHECK_INT(dn_block(d, b, blk, 128), EMU_DNLOAD_IDLE);
	manifest_and_reset(d, 0x7000 / 128, &in);
	CHECK_INT(in.bcd_device, 0x0107);
	emu_dev_stats(d, &s);
	CHECK_INT(s.faults_fired, 1);
	emu_dev_free(d);
	fill(blk, sizeof(blk), 6);
	/* fault-times=2: two manifestations lie, the third does not; 0: every one. */
	for (int times = 0; times <= 2; times += 2) {
		char spec[128];
		snprintf(spec, sizeof(spec),
		         "kind=dfu11,mode=dfu,wrong-version=0x0999,version=0x0105,"
		         "erase-ms=0,prog-ms=0,fault-times=%d",
		         times);
		d = mk(spec);
		for (int k = 1; k <= 4; k++) {
			CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
			manifest_and_reset(d, 1, &in);
			CHECK_INT(in.bcd_device, times == 0 || k <= times ? 0x0999 : 0x0105);
			CHECK_INT(ctl(d, OUT, DETACH, 1000, 1, NULL, 0, NULL), EMU_XFER_OK);
			CHECK(!emu_dev_usb_reset(d, T));
			T += 20 * MS;
			emu_dev_tick(d, T);
		}
		emu_dev_stats(d, &s);
		CHECK_INT(s.faults_fired, times ? times : 4);
		emu_dev_free(d);
	}
	d = mk("kind=st7,mode=dfu,reject-image=1,prog-ms=0");
	CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
	CHECK_INT(ctl(d, OUT, DNLOAD, 1, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	T += 50 * MS;
	CHECK_INT(gs(d, 0), EMU_MANIFEST_WAIT_RESET);
	CHECK_INT(st[0], EMU_OK); /* it says nothing */
	CHECK(emu_dev_usb_reset(d, T));
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_DFU);
	CHECK(!in.app_valid);
	/* Once by default: the next manifestation (a retry, a restore) is accepted. */
	CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
	manifest_and_reset(d, 1, &in);
	CHECK(in.app_valid);
	emu_dev_stats(d, &s);
	CHECK_INT(s.faults_fired, 1);
	emu_dev_free(d);
	/* fault-times=2: two rejected, then accepted; 0: always rejected. */
	for (int times = 0; times <= 2; times += 2) {
		char spec[128];
		snprintf(spec, sizeof(spec), "kind=dfu11,mode=dfu,reject-image=1,fault-times=%d",
		         times);
		d = mk(spec);
		for (int k = 1; k <= 4; k++) {
			bool rejected = times == 0 || k <= times;
			CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
			CHECK_INT(ctl(d, OUT, DNLOAD, 1, 0, NULL, 0, NULL), EMU_XFER_OK);
			CHECK_INT(gs(d, 0), EMU_MANIFEST);
			T += 50 * MS;
			CHECK_INT(gs(d, 0), EMU_MANIFEST_WAIT_RESET);
			/* Rejected: the loader stays (same node); else the application runs. */
			CHECK_INT(emu_dev_usb_reset(d, T), rejected);
			T += 20 * MS;
			emu_dev_tick(d, T);
			emu_dev_info(d, &in);
			CHECK_INT(in.mode, rejected ? EMU_MODE_DFU : EMU_MODE_RUNTIME);
			CHECK_INT(in.app_valid, !rejected);
			if (!rejected) {
				CHECK_INT(ctl(d, OUT, DETACH, 1000, 1, NULL, 0, NULL), EMU_XFER_OK);
				CHECK(!emu_dev_usb_reset(d, T));
				T += 20 * MS;
				emu_dev_tick(d, T);
			}
		}
		emu_dev_stats(d, &s);
		CHECK_INT(s.faults_fired, times ? times : 4);
		emu_dev_free(d);
	}
	/* Both at once: each counts its own firings. */
	d = mk("kind=dfu11,mode=dfu,reject-image=1,wrong-version=0x0999,fault-times=1");
	CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
	CHECK_INT(ctl(d, OUT, DNLOAD, 1, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(gs(d, 0), EMU_MANIFEST);
	T += 50 * MS;
	CHECK_INT(gs(d, 0), EMU_MANIFEST_WAIT_RESET);
	CHECK(emu_dev_usb_reset(d, T));
	emu_dev_stats(d, &s);
	CHECK_INT(s.faults_fired, 2);
	CHECK_INT(dn_block(d, 0, blk, 128), EMU_DNLOAD_IDLE);
	manifest_and_reset(d, 1, &in);
	CHECK_INT(in.bcd_device, 0x0100);
	emu_dev_stats(d, &s);
	CHECK_INT(s.faults_fired, 2);
	emu_dev_free(d);

	/* Upload faults. upload-corrupt fires on the first UPLOAD that carries the byte
	 * (a block that does not carry it does not count); a repeated upload is clean. */
	d = mk("kind=st7,mode=dfu,upload-corrupt=130");
	mem = emu_dev_memory(d, &mlen);
	fill(mem, mlen, 7);
	CHECK_INT(ctl(d, IN, UPLOAD, 0, 0, buf, 128, &act), EMU_XFER_OK);
	CHECK(!memcmp(buf, mem, 128));
	CHECK_INT(ctl(d, IN, UPLOAD, 1, 0, buf, 128, &act), EMU_XFER_OK);
	CHECK_INT(buf[2], (uint8_t)~mem[130]);
	CHECK_INT(buf[3], mem[131]);
	CHECK_INT(mem[130] != buf[2], 1);
	CHECK_INT(ctl(d, IN, UPLOAD, 1, 0, buf, 128, &act), EMU_XFER_OK);
	CHECK(!memcmp(buf, mem + 128, 128));
	emu_dev_stats(d, &s);
	CHECK_INT(s.faults_fired, 1);
	emu_dev_free(d);
	/* fault-times=2: the first two uploads covering it; 0: every one. */
	for (int times = 2; times >= 0; times -= 2) {
		char spec[96];
		snprintf(spec, sizeof(spec), "kind=st7,mode=dfu,upload-corrupt=130,fault-times=%d",
		         times);
		d = mk(spec);
		mem = emu_dev_memory(d, &mlen);
		fill(mem, mlen, 7);
		for (int i = 0; i < 4; i++) {
			CHECK_INT(ctl(d, IN, UPLOAD, 1, 0, buf, 128, &act), EMU_XFER_OK);
			CHECK_INT(buf[2], times == 0 || i < times ? (uint8_t)~mem[130] : mem[130]);
		}
		emu_dev_stats(d, &s);
		CHECK_INT(s.faults_fired, times ? times : 4);
		emu_dev_free(d);
	}
	/* DFU 1.1: OFFSET is the memory offset (block x transfer-size + byte). */
	d = mk("kind=dfu11,mode=dfu,mem-size=4K,transfer-size=1024,upload-corrupt=1500");
	mem = emu_dev_memory(d, &mlen);
	fill(mem, mlen, 8);
	static uint8_t big[2048];
	CHECK_INT(ctl(d, IN, UPLOAD, 1, 0, big, 1024, &act), EMU_XFER_OK);
	CHECK_INT(big[476], (uint8_t)~mem[1500]);
	CHECK(!memcmp(big, mem + 1024, 476));
	CHECK_INT(ctl(d, IN, UPLOAD, 1, 0, big, 1024, &act), EMU_XFER_OK);
	CHECK(!memcmp(big, mem + 1024, 1024));
	emu_dev_free(d);
	/* DfuSe: OFFSET is in alt 0's memory as flash-in holds it (segments concatenated),
	 * so 1030 is 0x08010006 here; another alt's uploads are never touched. */
	d = mk("kind=dfuse,mode=dfu,upload-corrupt=1030,fault-times=0,"
	       "layout=@A/0x08000000/01*001Kg/0x08010000/01*001Kg,layout=@B/0x1FFF0000/02*001Kg");
	mem = emu_dev_memory(d, &mlen);
	fill(mem, mlen, 9);
	uint8_t set_b[5] = { 0x21, 0x00, 0x00, 0xFF, 0x1F };
	uint8_t set_hi[5] = { 0x21, 0x00, 0x00, 0x01, 0x08 };
	CHECK_INT(ctl(d, 0x01, 11, 1, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(dfuse_cmd(d, set_b, 5), EMU_DNLOAD_IDLE);
	CHECK_INT(ctl(d, OUT, ABORT, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(ctl(d, IN, UPLOAD, 2, 0, big, 2048, &act), EMU_XFER_OK);
	CHECK_INT(act, 2048);
	CHECK_INT(big[1030], 0xFF); /* alt 1 is erased and stays so */
	CHECK_INT(ctl(d, OUT, ABORT, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(ctl(d, 0x01, 11, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(dfuse_cmd(d, set_hi, 5), EMU_DNLOAD_IDLE);
	CHECK_INT(ctl(d, OUT, ABORT, 0, 0, NULL, 0, NULL), EMU_XFER_OK);
	CHECK_INT(ctl(d, IN, UPLOAD, 2, 0, big, 16, &act), EMU_XFER_OK);
	CHECK_INT(big[6], (uint8_t)~mem[1030]);
	CHECK(!memcmp(big, mem + 1024, 6));
	emu_dev_stats(d, &s);
	CHECK_INT(s.faults_fired, 1);
	emu_dev_free(d);
	/* upload-long's padding past the memory is not memory: nothing to corrupt. */
	d = mk("kind=st7,profile=st72f62,mode=dfu,upload-long=1,upload-corrupt=4100");
	CHECK_INT(ctl(d, IN, UPLOAD, 64, 0, buf, 64, &act), EMU_XFER_OK);
	CHECK_INT(buf[4], 0xFF);
	emu_dev_free(d);
	d = mk("kind=st7,mode=dfu,upload-short=300");
	CHECK_INT(ctl(d, IN, UPLOAD, 0, 0, buf, 128, &act), EMU_XFER_OK);
	CHECK_INT(act, 128);
	CHECK_INT(ctl(d, IN, UPLOAD, 1, 0, buf, 128, &act), EMU_XFER_OK);
	CHECK_INT(ctl(d, IN, UPLOAD, 2, 0, buf, 128, &act), EMU_XFER_OK);
	CHECK_INT(act, 300 - 256);
	CHECK_INT(state_of(d), EMU_DFU_IDLE);
	emu_dev_free(d);
	d = mk("kind=st7,profile=st72f62,mode=dfu,upload-long=1");
	CHECK_INT(ctl(d, IN, UPLOAD, 63, 0, buf, 64, &act), EMU_XFER_OK);
	CHECK_INT(act, 64);
	CHECK_INT(ctl(d, IN, UPLOAD, 64, 0, buf, 64, &act), EMU_XFER_OK);
	CHECK_INT(act, 64);
	CHECK_INT(buf[0], 0xFF);
	CHECK_INT(ctl(d, IN, UPLOAD, 1000, 0, buf, 64, &act), EMU_XFER_OK);
	CHECK_INT(act, 64);
	CHECK_INT(state_of(d), EMU_UPLOAD_IDLE);
	emu_dev_free(d);
}

/* plug-ms: off the bus from power-on until plug-ms later (or after emu_dev_start_clock),
 * then on it in the power-on mode, as its first enumeration. */
static void test_plug(void)
{
	struct emu_info in;
	struct emu_stats s;
	uint8_t buf[64];
	size_t act;

	struct emu_dev *d = mk("kind=dfu11,mode=dfu,plug-ms=100,serial=P1");
	uint64_t t0 = T;
	CHECK(!emu_dev_present(d));
	CHECK_INT(emu_dev_enumeration(d), 0);
	CHECK(emu_dev_next_deadline(d) == t0 + 100 * MS);
	emu_dev_info(d, &in);
	CHECK(!in.present);
	CHECK(!in.reenumerating); /* a host does not wait for it */
	CHECK(in.back_at == t0 + 100 * MS);
	CHECK_INT(in.vid, 0x0483);
	CHECK_INT(ctl(d, 0x80, 6, 0x0100, 0, buf, 18, &act), EMU_XFER_GONE);
	CHECK(!emu_dev_usb_reset(d, T));
	/* The host's first command starts later: the delay counts from then. */
	T += 30 * MS;
	emu_dev_start_clock(d, T);
	CHECK(emu_dev_next_deadline(d) == T + 100 * MS);
	T += 99 * MS;
	emu_dev_tick(d, T);
	CHECK(!emu_dev_present(d));
	T += 1 * MS;
	emu_dev_tick(d, T);
	CHECK(emu_dev_present(d));
	CHECK_INT(emu_dev_enumeration(d), 1);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_DFU);
	CHECK_INT(in.state, EMU_DFU_IDLE);
	CHECK_INT(in.pid, 0xDF11);
	CHECK(!in.app_valid);
	CHECK_INT(ctl(d, 0x80, 6, 0x0100, 0, buf, 18, &act), EMU_XFER_OK);
	CHECK_INT(act, 18);
	emu_dev_stats(d, &s);
	CHECK_INT(s.reenumerations, 0);
	CHECK_INT(s.faults_fired, 0);
	CHECK_INT(s.mandated_us, 0);
	/* Once on the bus, the clock no longer matters; re-enumerations count as usual. */
	emu_dev_start_clock(d, T + 1000 * MS);
	CHECK(emu_dev_present(d));
	CHECK(emu_dev_usb_reset(d, T));
	emu_dev_unplug(d, T, 10 * MS);
	T += 10 * MS;
	emu_dev_tick(d, T);
	CHECK_INT(emu_dev_enumeration(d), 2);
	emu_dev_stats(d, &s);
	CHECK_INT(s.reenumerations, 1);
	emu_dev_free(d);

	/* Runtime at power-on; plug-ms=0 appears at the first tick. */
	d = mk("kind=st7,plug-ms=0");
	CHECK(!emu_dev_present(d));
	emu_dev_tick(d, T);
	CHECK(emu_dev_present(d));
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	CHECK_INT(in.state, EMU_APP_IDLE);
	CHECK(in.app_valid);
	emu_dev_free(d);
	/* Without plug-ms: present at once, and the clock changes nothing. */
	d = mk("kind=st7");
	CHECK(emu_dev_present(d));
	CHECK(!emu_dev_waits_for_plug(d));
	emu_dev_start_clock(d, T);
	CHECK(emu_dev_next_deadline(d) == EMU_NEVER);
	CHECK_INT(emu_dev_enumeration(d), 1);
	emu_dev_plug_now(d, T); /* nothing to plug */
	CHECK_INT(emu_dev_enumeration(d), 1);
	emu_dev_free(d);

	/* plug-ms=signal: off the bus whatever the clock says, until plugged in by the host;
	 * then its first appearance, and a second plug_now changes nothing. */
	d = mk("kind=st7,plug-ms=signal");
	CHECK(!emu_dev_present(d));
	CHECK(emu_dev_waits_for_plug(d));
	emu_dev_start_clock(d, T);
	CHECK(emu_dev_next_deadline(d) == EMU_NEVER);
	T += 3600000 * MS;
	emu_dev_tick(d, T);
	CHECK(!emu_dev_present(d));
	emu_dev_plug_now(d, T);
	CHECK(!emu_dev_waits_for_plug(d));
	CHECK(emu_dev_next_deadline(d) == T);
	emu_dev_tick(d, T);
	CHECK(emu_dev_present(d));
	CHECK_INT(emu_dev_enumeration(d), 1);
	emu_dev_info(d, &in);
	CHECK_INT(in.mode, EMU_MODE_RUNTIME);
	emu_dev_stats(d, &s);
	CHECK_INT(s.reenumerations, 0);
	emu_dev_plug_now(d, T);
	CHECK_INT(emu_dev_enumeration(d), 1);
	/* Power lost later: the signal does not bring it back (replug-ms does). */
	emu_dev_unplug(d, T, EMU_NEVER);
	CHECK(!emu_dev_waits_for_plug(d));
	emu_dev_plug_now(d, T);
	emu_dev_tick(d, T + MS);
	CHECK(!emu_dev_present(d));
	emu_dev_free(d);
}

/* The bus model and what counts as mandated time. */
static void test_bus_and_accounting(void)
{
	uint8_t blk[64], s8[8] = { IN, GETSTATUS, 0, 0, 0, 0, 6, 0 };
	struct emu_xfer x;
	struct emu_stats s;

	fill(blk, sizeof(blk), 8);
	/* Low speed: one 8-byte transaction per 1 ms frame, plus setup and status. */
	struct emu_dev *d = mk("kind=st7,profile=st72f62,mode=dfu,bus=low");
	emu_dev_control(d, T, s8, st, 6, &x);
	CHECK_INT(x.bus_us, 3 * MS);
	T += x.bus_us;
	uint8_t s_dn[8] = { OUT, DNLOAD, 0, 0, 0, 0, 64, 0 };
	emu_dev_control(d, T, s_dn, blk, 64, &x);
	CHECK_INT(x.bus_us, 10 * MS);
	T += x.bus_us;
	emu_dev_control(d, T, s8, st, 6, &x);
	T += x.bus_us;
	CHECK_INT(st[4], EMU_DNBUSY);
	CHECK_INT(poll_ms(), 45);
	/* Early polls during the busy period are host overhead, not mandated. */
	emu_dev_control(d, T, s8, st, 6, &x);
	T += x.bus_us;
	CHECK_INT(poll_ms(), 45); /* busy from the end of the first GETSTATUS */
	T += 42 * MS;             /* this poll took 3 ms of it */
	emu_dev_control(d, T, s8, st, 6, &x);
	T += x.bus_us;
	CHECK_INT(st[4], EMU_DNLOAD_IDLE);
	emu_dev_stats(d, &s);
	CHECK_INT(s.mandated_us, (3 + 10 + 3 + 45 + 3) * MS);
	CHECK(s.elapsed_us >= s.mandated_us);
	CHECK_INT(s.control_transfers, 5);
	emu_dev_free(d);

	/* Full speed: a frame plus ~60 us per 64-byte packet; stalls cost a frame. */
	d = mk("kind=st7,mode=dfu,bus=full");
	uint8_t s_up[8] = { IN, UPLOAD, 0, 0, 0, 0, 128, 0 }, buf[128];
	emu_dev_control(d, T, s_up, buf, 128, &x);
	CHECK_INT(x.bus_us, 1000 + 2 * 60);
	uint8_t s_bad[8] = { OUT, CLRSTATUS, 0, 0, 0, 0, 0, 0 };
	emu_dev_control(d, T, s_bad, NULL, 0, &x);
	CHECK_INT(x.status, EMU_XFER_STALL);
	CHECK_INT(x.bus_us, 1000);
	emu_dev_free(d);
	d = mk("kind=st7,mode=dfu");
	emu_dev_control(d, T, s8, st, 6, &x);
	CHECK_INT(x.bus_us, 0);
	emu_dev_free(d);
}

int main(void)
{
	test_spec();
	test_profiles();
	test_descriptors();
	test_st7_states();
	test_st7_download();
	test_st7_manifest();
	test_dfu11();
	test_dfuse();
	test_version_addr();
	test_faults();
	test_plug();
	test_bus_and_accounting();
	return check_report();
}
