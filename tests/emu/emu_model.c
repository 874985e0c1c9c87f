/* SPDX-License-Identifier: MIT */
/*
 * The emulated DFU devices (see emu_model.h for the contract, README.md for the
 * behaviour and shared/design/st7-device-model.md for the reference ST7 device).
 */
#include "emu_model.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------------------------
 * Names
 */

static const char *const state_names[] = {
	"appIDLE",          "appDETACH",   "dfuIDLE",
	"dfuDNLOAD-SYNC",   "dfuDNBUSY",   "dfuDNLOAD-IDLE",
	"dfuMANIFEST-SYNC", "dfuMANIFEST", "dfuMANIFEST-WAIT-RESET",
	"dfuUPLOAD-IDLE",   "dfuERROR",
};
static const char *const status_names[] = {
	"OK",      "errTARGET", "errFILE",    "errWRITE",      "errERASE",    "errCHECK_ERASED",
	"errPROG", "errVERIFY", "errADDRESS", "errNOTDONE",    "errFIRMWARE", "errVENDOR",
	"errUSBR", "errPOR",    "errUNKNOWN", "errSTALLEDPKT",
};
static const char *const request_names[EMU_REQ_COUNT] = {
	"DETACH",   "DNLOAD", "UPLOAD",         "GETSTATUS", "CLRSTATUS",
	"GETSTATE", "ABORT",  "GET_DESCRIPTOR", "other",
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

const char *emu_state_name(int state)
{
	return state >= 0 && (size_t)state < N_ELEMS(state_names) ? state_names[state] : "?";
}

const char *emu_status_name(int status)
{
	return status >= 0 && (size_t)status < N_ELEMS(status_names) ? status_names[status] : "?";
}

const char *emu_request_name(int req)
{
	return req >= 0 && req < EMU_REQ_COUNT ? request_names[req] : "?";
}

const char *emu_kind_name(enum emu_kind k)
{
	switch (k) {
	case EMU_KIND_ST7:
		return "st7";
	case EMU_KIND_DFU11:
		return "dfu11";
	case EMU_KIND_DFUSE:
		return "dfuse";
	}
	return "?";
}

/* Decimal or 0x hex, no sign, nothing after. */
static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	int base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!isxdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, base);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int emu_state_from_name(const char *s)
{
	unsigned long v;

	for (size_t i = 0; i < N_ELEMS(state_names); i++)
		if (!strcasecmp(s, state_names[i]))
			return (int)i;
	if (!parse_ulong(s, N_ELEMS(state_names) - 1, &v))
		return (int)v;
	return -1;
}

int emu_status_from_name(const char *s)
{
	unsigned long v;

	for (size_t i = 1; i < N_ELEMS(status_names); i++)
		if (!strcasecmp(s, status_names[i]) || !strcasecmp(s, status_names[i] + 3))
			return (int)i;
	if (!parse_ulong(s, 15, &v) && v >= 1)
		return (int)v;
	return -1;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------------------------------
 * ST7 parts (st7-device-model.md; tests cross-check this table against st7core's)
 */

static const struct emu_profile profiles[] = {
	{ "st72f62", 0xE000, 0xE000, 0xF000, 64, false },
	{ "st72f63", 0xC000, 0xC000, 0xF000, 64, false },
	{ "st72f65", 0x8000, 0x8000, 0xF000, 128, true },
};
#define DEFAULT_PROFILE 2
#define ST7_SECTOR1 0xE000u /* sector 1: E000-EFFF; sector 2: region base up to E000 */

const struct emu_profile *emu_profile_at(unsigned i)
{
	return i < N_ELEMS(profiles) ? &profiles[i] : NULL;
}

int emu_profile_find(const char *name)
{
	for (unsigned i = 0; i < N_ELEMS(profiles); i++)
		if (!strcasecmp(name, profiles[i].name))
			return (int)i;
	return -1;
}

/* ---------------------------------------------------------------------------------------
 * Configuration and SPEC parsing
 */

enum key_id {
	K_KIND,
	K_PROFILE,
	K_MODE,
	K_SERIAL,
	K_VERSION,
	K_VERSION_ADDR,
	K_VID,
	K_PID,
	K_DFU_PID,
	K_FLASH_IN,
	K_FLASH_OUT,
	K_APP,
	K_MEM_SIZE,
	K_TRANSFER_SIZE,
	K_DETACH_TIMEOUT,
	K_WILL_DETACH,
	K_MANIFEST_TOLERANT,
	K_LAYOUT,
	K_BUS,
	K_ERASE_MS,
	K_PROG_MS,
	K_MANIFEST_MS,
	K_REENUM_MS,
	K_PLUG_MS,
	K_STALL_BLOCK,
	K_ERROR_BLOCK,
	K_ERROR_STATUS,
	K_FAULT_TIMES,
	K_POLL_MS,
	K_GETSTATUS_TIMEOUT,
	K_UNPLUG_STATE,
	K_UNPLUG_BLOCK,
	K_REPLUG_MS,
	K_NO_REENUM,
	K_WRONG_VERSION,
	K_REJECT_IMAGE,
	K_UPLOAD_CORRUPT,
	K_UPLOAD_SHORT,
	K_UPLOAD_LONG,
	K_DESC,
	K_COUNT
};

static const char *const key_names[K_COUNT] = {
	"kind",
	"profile",
	"mode",
	"serial",
	"version",
	"version-addr",
	"vid",
	"pid",
	"dfu-pid",
	"flash-in",
	"flash-out",
	"app",
	"mem-size",
	"transfer-size",
	"detach-timeout",
	"will-detach",
	"manifest-tolerant",
	"layout",
	"bus",
	"erase-ms",
	"prog-ms",
	"manifest-ms",
	"reenum-ms",
	"plug-ms",
	"stall-block",
	"error-block",
	"error-status",
	"fault-times",
	"poll-ms",
	"getstatus-timeout",
	"unplug-state",
	"unplug-block",
	"replug-ms",
	"no-reenum",
	"wrong-version",
	"reject-image",
	"upload-corrupt",
	"upload-short",
	"upload-long",
	"desc",
};

#define GIVEN(c, k) (((c)->given >> (k)) & 1u)

static const char keys_help[] =
        "Device SPEC keys (comma-separated key=value; numbers decimal or 0x hex):\n"
        "  kind=st7|dfu11|dfuse        device kind (default st7)\n"
        "  profile=st72f62|st72f63|st72f65   ST7 part (default st72f65)\n"
        "  mode=runtime|dfu            mode at power-on (default runtime)\n"
        "  serial=TEXT                 iSerialNumber (default ST7-0001, ST7-0002 ... by index)\n"
        "  version=0xNNNN|M.mm         runtime bcdDevice; ST7: stamps the flash version word\n"
        "                              (default: the word in flash-in, else 0x0100)\n"
        "  version-addr=ADDR           dfu11/dfuse: runtime bcdDevice is the little-endian\n"
        "                              word at ADDR (dfu11: memory offset; dfuse: alt 0\n"
        "                              address); version= stamps it\n"
        "  vid=0xNNNN  pid=0xNNNN      runtime IDs (default 0483:FF03)\n"
        "  dfu-pid=0xNNNN              DFU-mode PID (default 0xDF11)\n"
        "  flash-in=FILE               initial memory (ST7 writable region, DFU 1.1 memory,\n"
        "                              DfuSe alt 0); shorter files are padded with 0xFF\n"
        "  flash-out=FILE              that memory, written atomically when the emulator exits\n"
        "  app=valid|invalid           application validity (default valid in runtime mode,\n"
        "                              invalid in DFU mode)\n"
        "  mem-size=N[K|M]             dfu11/dfuse memory (default 64K)\n"
        "  transfer-size=N             wTransferSize (default st7: per profile, dfu11 1024,\n"
        "                              dfuse 2048)\n"
        "  detach-timeout=MS           wDetachTimeOut (default 1000; dfuse 255)\n"
        "  will-detach=0|1             bitWillDetach (default 0; dfuse 1)\n"
        "  manifest-tolerant=0|1       bitManifestationTolerant (default 0)\n"
        "  layout=@NAME/0xADDR/NN*SSSKg,...   DfuSe alt setting (repeat for more alts;\n"
        "                              default @Internal Flash  /0x08000000/04*016Kg for 64K)\n"
        "  bus=none|low|full           per-transfer latency model (default none)\n"
        "  erase-ms=MS                 erase time per non-empty sector/page (default 40)\n"
        "  prog-ms=MS                  programming time per 64 bytes (default 5)\n"
        "  manifest-ms=MS              manifestation time (default 50)\n"
        "  reenum-ms=MS                reset/detach to reappearance (default 20)\n"
        "  plug-ms=MS|signal           not on the bus at start: plugged in (power-on mode)\n"
        "                              MS after the first command starts, or (signal) at\n"
        "                              the emulator's next SIGUSR1 (default: present)\n"
        "Faults:\n"
        "  stall-block=N               DNLOAD block N stalls (dfuERROR/errSTALLEDPKT)\n"
        "  error-block=N               block N fails after its busy period with error-status\n"
        "  error-status=NAME|N         errWRITE (default), errVERIFY, errERASE, ... or 1..15\n"
        "  fault-times=K               times a block, unplug, upload-corrupt, wrong-version\n"
        "                              or reject-image fault fires (default 1, 0 = always)\n"
        "  poll-ms=N                   reported bwPollTimeout of busy periods (0..16777215);\n"
        "                              the real busy time still applies\n"
        "  getstatus-timeout=N         the N-th GETSTATUS (1-based) never completes\n"
        "  unplug-state=NAME           power loss when entering state NAME (e.g. dfuDNBUSY)\n"
        "  unplug-block=N              power loss right after accepting DNLOAD block N\n"
        "  replug-ms=MS|never          power comes back after MS (default never)\n"
        "  no-reenum=1                 never re-enumerate after DETACH or reset\n"
        "  wrong-version=0xNNNN        runtime bcdDevice after manifestation (fault-times\n"
        "                              manifestations; it holds until the next one)\n"
        "  reject-image=1              manifestation succeeds but the image stays invalid\n"
        "                              (fault-times manifestations)\n"
        "  upload-corrupt=OFFSET       an UPLOAD covering memory offset OFFSET (flash-in's\n"
        "                              offsets) returns that byte inverted (fault-times)\n"
        "  upload-short=OFFSET         UPLOAD ends early at OFFSET\n"
        "  upload-long=1               UPLOAD never sends a short block (0xFF past the end)\n"
        "  desc=xfer0|trunc-func|bad-blength|bad-total|no-func   malformed descriptors\n";

const char *emu_config_keys_help(void)
{
	return keys_help;
}

void emu_config_default(struct emu_config *c, unsigned index)
{
	memset(c, 0, sizeof(*c));
	c->kind = EMU_KIND_ST7;
	c->profile = DEFAULT_PROFILE;
	c->mode = EMU_MODE_RUNTIME;
	snprintf(c->serial, sizeof(c->serial), "ST7-%04u", (index + 1) % 10000);
	c->version = -1;
	c->version_addr = -1;
	c->vid = 0x0483;
	c->pid = 0xFF03;
	c->dfu_pid = 0xDF11;
	c->app_valid = -1;
	c->mem_size = -1;
	c->transfer_size = -1;
	c->detach_timeout = -1;
	c->will_detach = -1;
	c->manifest_tolerant = -1;
	c->bus = EMU_BUS_NONE;
	c->erase_ms = 40;
	c->prog_ms = 5;
	c->manifest_ms = 50;
	c->reenum_ms = 20;
	c->plug_ms = -1;
	c->stall_block = -1;
	c->error_block = -1;
	c->error_status = -1;
	c->fault_times = 1;
	c->poll_ms = -1;
	c->getstatus_timeout = -1;
	c->unplug_state = -1;
	c->unplug_block = -1;
	c->replug_ms = -1;
	c->wrong_version = -1;
	c->upload_corrupt = -1;
	c->upload_short = -1;
	c->desc = EMU_DESC_OK;
}

/* Hex ID with or without 0x (like st7dfu pack --vid). */
static int parse_hex16(const char *s, unsigned long *out)
{
	char *end;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!isxdigit((unsigned char)s[0]) || strlen(s) > 4)
		return -1;
	*out = strtoul(s, &end, 16);
	return *end ? -1 : 0;
}

/* bcdDevice: hex, or M.mm as BCD (1.02 -> 0x0102). */
static int parse_bcd(const char *s, unsigned long *out)
{
	const char *dot = strchr(s, '.');

	if (!dot)
		return parse_hex16(s, out);
	size_t maj = (size_t)(dot - s), min = strlen(dot + 1);
	if (maj < 1 || maj > 2 || min != 2)
		return -1;
	unsigned long v = 0;
	for (const char *p = s; *p; p++) {
		if (p == dot)
			continue;
		if (!isdigit((unsigned char)*p))
			return -1;
		v = (v << 4) | (unsigned long)(*p - '0');
	}
	*out = v;
	return 0;
}

static int parse_size(const char *s, unsigned long *out)
{
	char buf[32];
	size_t n = strlen(s);
	unsigned long mul = 1, v;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n + 1);
	if (buf[n - 1] == 'K' || buf[n - 1] == 'k')
		mul = 1024;
	else if (buf[n - 1] == 'M' || buf[n - 1] == 'm')
		mul = 1024 * 1024;
	if (mul > 1)
		buf[n - 1] = 0;
	if (parse_ulong(buf, EMU_MEM_LIMIT, &v) || v > EMU_MEM_LIMIT / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "0")) {
		*out = false;
		return 0;
	}
	return -1;
}

static int apply_key(struct emu_config *c, int k, const char *v, char *err, size_t errlen)
{
	unsigned long u = 0;
	bool b = false;
	int i;

	switch (k) {
	case K_KIND:
		if (!strcmp(v, "st7"))
			c->kind = EMU_KIND_ST7;
		else if (!strcmp(v, "dfu11"))
			c->kind = EMU_KIND_DFU11;
		else if (!strcmp(v, "dfuse"))
			c->kind = EMU_KIND_DFUSE;
		else
			goto bad;
		return 0;
	case K_PROFILE:
		if ((i = emu_profile_find(v)) < 0)
			goto bad;
		c->profile = i;
		return 0;
	case K_MODE:
		if (!strcmp(v, "runtime"))
			c->mode = EMU_MODE_RUNTIME;
		else if (!strcmp(v, "dfu"))
			c->mode = EMU_MODE_DFU;
		else
			goto bad;
		return 0;
	case K_SERIAL:
		if (!*v || strlen(v) >= sizeof(c->serial))
			goto bad;
		/* Printable ASCII without backslashes: it goes into sysfs and JSON as is. */
		for (const char *p = v; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E || *p == '\\')
				goto bad;
		strcpy(c->serial, v);
		return 0;
	case K_VERSION:
	case K_WRONG_VERSION:
		if (parse_bcd(v, &u))
			goto bad;
		*(k == K_VERSION ? &c->version : &c->wrong_version) = (long)u;
		return 0;
	case K_VERSION_ADDR:
		if (parse_ulong(v, 0xFFFFFFFFul, &u))
			goto bad;
		c->version_addr = (int64_t)u;
		return 0;
	case K_VID:
	case K_PID:
	case K_DFU_PID:
		if (parse_hex16(v, &u))
			goto bad;
		*(k == K_VID ? &c->vid : k == K_PID ? &c->pid : &c->dfu_pid) = (long)u;
		return 0;
	case K_FLASH_IN:
	case K_FLASH_OUT:
		if (!*v || strlen(v) >= EMU_PATH_MAX)
			goto bad;
		strcpy(k == K_FLASH_IN ? c->flash_in : c->flash_out, v);
		return 0;
	case K_APP:
		if (!strcmp(v, "valid"))
			c->app_valid = 1;
		else if (!strcmp(v, "invalid"))
			c->app_valid = 0;
		else
			goto bad;
		return 0;
	case K_MEM_SIZE:
		if (parse_size(v, &u) || u == 0)
			goto bad;
		c->mem_size = (long)u;
		return 0;
	case K_TRANSFER_SIZE:
		if (parse_ulong(v, 65535, &u) || u == 0)
			goto bad;
		c->transfer_size = (long)u;
		return 0;
	case K_DETACH_TIMEOUT:
		if (parse_ulong(v, 65535, &u))
			goto bad;
		c->detach_timeout = (long)u;
		return 0;
	case K_WILL_DETACH:
	case K_MANIFEST_TOLERANT:
		if (parse_bool(v, &b))
			goto bad;
		*(k == K_WILL_DETACH ? &c->will_detach : &c->manifest_tolerant) = b;
		return 0;
	case K_LAYOUT:
		if (c->n_layouts >= EMU_MAX_ALTS) {
			set_err(err, errlen, "layout: at most %d alternate settings", EMU_MAX_ALTS);
			return -1;
		}
		if (v[0] != '@' || strlen(v) > EMU_LAYOUT_MAX)
			goto bad;
		strcpy(c->layout[c->n_layouts++], v);
		return 0;
	case K_BUS:
		if (!strcmp(v, "none"))
			c->bus = EMU_BUS_NONE;
		else if (!strcmp(v, "low"))
			c->bus = EMU_BUS_LOW;
		else if (!strcmp(v, "full"))
			c->bus = EMU_BUS_FULL;
		else
			goto bad;
		return 0;
	case K_ERASE_MS:
	case K_PROG_MS:
	case K_MANIFEST_MS:
	case K_REENUM_MS:
		if (parse_ulong(v, 600000, &u))
			goto bad;
		*(k == K_ERASE_MS      ? &c->erase_ms
		  : k == K_PROG_MS     ? &c->prog_ms
		  : k == K_MANIFEST_MS ? &c->manifest_ms
		                       : &c->reenum_ms) = (long)u;
		return 0;
	case K_STALL_BLOCK:
	case K_ERROR_BLOCK:
	case K_UNPLUG_BLOCK:
		if (parse_ulong(v, 65535, &u))
			goto bad;
		*(k == K_STALL_BLOCK   ? &c->stall_block
		  : k == K_ERROR_BLOCK ? &c->error_block
		                       : &c->unplug_block) = (long)u;
		return 0;
	case K_ERROR_STATUS:
		if ((i = emu_status_from_name(v)) < 0)
			goto bad;
		c->error_status = i;
		return 0;
	case K_FAULT_TIMES:
		if (parse_ulong(v, 1000000, &u))
			goto bad;
		c->fault_times = (long)u;
		return 0;
	case K_POLL_MS:
		if (parse_ulong(v, 0xFFFFFF, &u))
			goto bad;
		c->poll_ms = (long)u;
		return 0;
	case K_GETSTATUS_TIMEOUT:
		if (parse_ulong(v, 1000000000, &u) || u == 0)
			goto bad;
		c->getstatus_timeout = (long)u;
		return 0;
	case K_UNPLUG_STATE:
		if ((i = emu_state_from_name(v)) < 0)
			goto bad;
		c->unplug_state = i;
		return 0;
	case K_PLUG_MS:
		if (!strcmp(v, "signal")) {
			c->plug_ms = EMU_PLUG_SIGNAL;
			return 0;
		}
		if (parse_ulong(v, 3600000, &u))
			goto bad;
		c->plug_ms = (long)u;
		return 0;
	case K_REPLUG_MS:
		if (!strcmp(v, "never")) {
			c->replug_ms = -1;
			return 0;
		}
		if (parse_ulong(v, 3600000, &u))
			goto bad;
		c->replug_ms = (long)u;
		return 0;
	case K_NO_REENUM:
	case K_REJECT_IMAGE:
	case K_UPLOAD_LONG:
		if (parse_bool(v, &b))
			goto bad;
		*(k == K_NO_REENUM      ? &c->no_reenum
		  : k == K_REJECT_IMAGE ? &c->reject_image
		                        : &c->upload_long) = b;
		return 0;
	case K_UPLOAD_CORRUPT:
	case K_UPLOAD_SHORT:
		if (parse_ulong(v, EMU_MEM_LIMIT, &u))
			goto bad;
		*(k == K_UPLOAD_CORRUPT ? &c->upload_corrupt : &c->upload_short) = (long)u;
		return 0;
	case K_DESC:
		if (!strcmp(v, "xfer0"))
			c->desc = EMU_DESC_XFER0;
		else if (!strcmp(v, "trunc-func"))
			c->desc = EMU_DESC_TRUNC_FUNC;
		else if (!strcmp(v, "bad-blength"))
			c->desc = EMU_DESC_BAD_BLENGTH;
		else if (!strcmp(v, "bad-total"))
			c->desc = EMU_DESC_BAD_TOTAL;
		else if (!strcmp(v, "no-func"))
			c->desc = EMU_DESC_NO_FUNC;
		else if (!strcmp(v, "ok"))
			c->desc = EMU_DESC_OK;
		else
			goto bad;
		return 0;
	}
bad:
	set_err(err, errlen, "%s: bad value '%s'", key_names[k], v);
	return -1;
}

int emu_config_parse(struct emu_config *c, const char *spec, char *err, size_t errlen)
{
	/* Split into pieces; a piece without '=' belongs to the previous value. */
	size_t n = strlen(spec);
	char *s = malloc(n + 1);
	if (!s) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	memcpy(s, spec, n + 1);
	if (n == 0) {
		free(s);
		set_err(err, errlen, "empty device SPEC");
		return -1;
	}
	/* Mark the commas that separate pairs with '\0'; keep the others. */
	char *p = s;
	if (!strchr(p, '=') || (strchr(p, ',') && strchr(p, ',') < strchr(p, '='))) {
		char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		set_err(err, errlen, "'%.*s': expected key=value", (int)len, p);
		free(s);
		return -1;
	}
	for (char *q = s; *q; q++) {
		if (*q != ',')
			continue;
		char *next = q + 1, *eq = strchr(next, '='), *comma = strchr(next, ',');
		if (eq && (!comma || eq < comma))
			*q = 0;
	}
	int rc = 0;
	p = s;
	for (char *next; p < s + n; p = next) {
		next = p + strlen(p) + 1;
		char *eq = strchr(p, '=');
		*eq = 0;
		int k = -1;
		for (int i = 0; i < K_COUNT; i++)
			if (!strcmp(p, key_names[i]))
				k = i;
		if (k < 0) {
			set_err(err, errlen, "%s: unknown key", *p ? p : "(empty)");
			rc = -1;
			break;
		}
		if (apply_key(c, k, eq + 1, err, errlen)) {
			rc = -1;
			break;
		}
		c->given |= (uint64_t)1 << k;
	}
	free(s);
	return rc;
}

/* ---------------------------------------------------------------------------------------
 * The device
 */

#define DT_DEVICE 1
#define DT_CONFIG 2
#define DT_STRING 3
#define DT_INTERFACE 4
#define DT_ENDPOINT 5
#define DT_HID 0x21
#define DT_DFU_FUNC 0x21
#define DT_HID_REPORT 0x22

enum { DFU_DETACH, DFU_DNLOAD, DFU_UPLOAD, DFU_GETSTATUS, DFU_CLRSTATUS, DFU_GETSTATE, DFU_ABORT };

#define ATTR_CAN_DNLOAD 0x01
#define ATTR_CAN_UPLOAD 0x02
#define ATTR_MANIF_TOL 0x04
#define ATTR_WILL_DETACH 0x08

#define MEM_TYPE_READ 1
#define MEM_TYPE_ERASE 2
#define MEM_TYPE_WRITE 4

#define DESC_MAX 1024
#define N_STRINGS (4 + EMU_MAX_ALTS + 1)
#define MAX_SEGS 16
#define DFU11_SECTOR 4096u

struct seg {
	uint32_t addr, page, pages, off; /* off: offset in the alt's flat memory */
	uint8_t type;
};

struct alt {
	struct seg segs[MAX_SEGS];
	unsigned nsegs;
	uint32_t size;
	uint8_t *mem;
};

enum pend_kind { PEND_NONE, PEND_DATA, PEND_CMD };

struct emu_dev {
	struct emu_config cfg;
	const struct emu_profile *prof;
	uint16_t xfer; /* the transfer size the device addresses with */
	uint16_t detach_timeout;
	uint8_t attrs;
	uint16_t version;    /* non-ST7 runtime bcdDevice without version-addr */
	int64_t version_off; /* version-addr's offset in alts[0]'s memory, or -1 */

	/* Memory: alts[0] is the flash-in/flash-out memory for every kind. */
	struct alt alts[EMU_MAX_ALTS];
	unsigned nalts;

	/* On the bus */
	bool present;
	enum emu_mode mode;
	uint32_t enumeration;
	uint64_t back_at; /* when absent: reappearance time or EMU_NEVER */
	enum emu_mode back_mode;
	bool back_mandated; /* the wait was a re-enumeration the protocol required */
	uint8_t config_value;
	uint8_t alt_setting; /* of the DFU interface */

	/* Descriptors as they are now */
	uint8_t desc[DESC_MAX];
	size_t desc_len, func_off, func_len, hid_off;
	unsigned num_ifaces, dfu_iface;
	char strings[N_STRINGS][EMU_LAYOUT_MAX + 1];
	unsigned nstrings;

	/* DFU */
	int state, status;
	uint64_t busy_until, detach_until;
	bool app_valid;
	bool manifest_pending;   /* a zero-length DNLOAD asked for manifestation */
	bool wrong_version_live; /* the last manifestation fired wrong-version */
	bool first_plug;         /* plug-ms: not on the bus yet since power-on */
	uint32_t dl_next;        /* next expected DNLOAD block (ST7, DFU 1.1) */
	uint32_t ptr;            /* DfuSe address pointer */
	enum pend_kind pend;
	uint16_t pend_block;
	size_t pend_len;
	uint8_t *pend_data;       /* xfer bytes */
	int pend_err_now;         /* reported by the next GETSTATUS, no busy period */
	int pend_err_after;       /* reported after the busy period */
	bool leave_pending;       /* apply a power loss at the end of this request */
	uint64_t getstatus_count; /* for getstatus-timeout */

	/* Faults fired */
	long stall_fired, error_fired, unplug_block_fired, unplug_state_fired, corrupt_fired;
	long reject_fired, wrong_fired;

	/* Accounting */
	struct emu_stats st;
	uint64_t first_us, last_us;
	bool seen;
};

static uint64_t ms_us(long ms)
{
	return (uint64_t)ms * 1000u;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > EMU_NEVER - b ? EMU_NEVER : a + b;
}

static void note_time(struct emu_dev *d, uint64_t start, uint64_t end)
{
	if (!d->seen || start < d->first_us)
		d->first_us = start;
	if (!d->seen || end > d->last_us)
		d->last_us = end;
	d->seen = true;
}

/* One more firing of a fault limited by fault-times (0 = unlimited)? */
static bool fault_fires(struct emu_dev *d, long *fired)
{
	if (d->cfg.fault_times != 0 && *fired >= d->cfg.fault_times)
		return false;
	(*fired)++;
	d->st.faults_fired++;
	return true;
}

/* ---------------------------------------------------------------------------------------
 * DfuSe memory layouts
 */

static int parse_layout(const char *s, struct alt *a, char *err, size_t errlen)
{
	const char *p = strchr(s, '/');
	uint32_t off = 0;

	a->nsegs = 0;
	if (s[0] != '@' || !p)
		goto bad;
	while (*p == '/') {
		char *end;
		p++;
		if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X') || !isxdigit((unsigned char)p[2]))
			goto bad;
		unsigned long addr = strtoul(p, &end, 16);
		if (*end != '/' || addr > 0xFFFFFFFFul)
			goto bad;
		p = end + 1;
		for (;;) {
			if (!isdigit((unsigned char)*p))
				goto bad;
			unsigned long count = strtoul(p, &end, 10);
			if (*end != '*' || count == 0 || count > 65535)
				goto bad;
			p = end + 1;
			if (!isdigit((unsigned char)*p))
				goto bad;
			unsigned long size = strtoul(p, &end, 10);
			p = end;
			if (*p == 'K')
				size *= 1024;
			else if (*p == 'M')
				size *= 1024 * 1024;
			else if (*p != ' ' && *p != 'B')
				goto bad;
			p++;
			if (*p < 'a' || *p > 'g' || size == 0 || size > EMU_MEM_LIMIT)
				goto bad;
			uint64_t total = (uint64_t)count * size;
			if (a->nsegs >= MAX_SEGS || total > EMU_MEM_LIMIT - off ||
			    addr + total > 0x100000000ull)
				goto bad;
			struct seg *g = &a->segs[a->nsegs++];
			g->addr = (uint32_t)addr;
			g->page = (uint32_t)size;
			g->pages = (uint32_t)count;
			g->off = off;
			g->type = (uint8_t)((*p - 'a' + 1) & 7);
			off += (uint32_t)total;
			addr += total;
			p++;
			if (*p != ',')
				break;
			p++;
		}
	}
	if (*p)
		goto bad;
	a->size = off;
	return 0;
bad:
	set_err(err, errlen, "layout: cannot parse '%s' (expected @Name/0xADDR/NN*SSSKg,...)", s);
	return -1;
}

static uint64_t seg_size(const struct seg *g)
{
	return (uint64_t)g->page * g->pages;
}

static int seg_at(const struct alt *a, uint64_t addr)
{
	for (unsigned i = 0; i < a->nsegs; i++)
		if (addr >= a->segs[i].addr && addr < a->segs[i].addr + seg_size(&a->segs[i]))
			return (int)i;
	return -1;
}

/* Bytes from addr on that lie in segments with all `type` bits and follow each other in
 * both address and flat memory; *off is addr's offset in the alt's memory. */
static uint64_t run_from(const struct alt *a, uint64_t addr, uint8_t type, uint32_t *off)
{
	int i = seg_at(a, addr);
	uint64_t n = 0;

	if (i < 0 || (a->segs[i].type & type) != type)
		return 0;
	*off = a->segs[i].off + (uint32_t)(addr - a->segs[i].addr);
	for (;;) {
		const struct seg *g = &a->segs[i];
		uint64_t end = g->addr + seg_size(g), flat_end = g->off + seg_size(g);
		n += end - addr;
		addr = end;
		i = seg_at(a, addr);
		if (i < 0 || (a->segs[i].type & type) != type || a->segs[i].addr != addr ||
		    a->segs[i].off != flat_end)
			return n;
	}
}

/* [addr, addr+len) as one run of `type` memory (len 0: addr lies in such memory). */
static bool map_range(const struct alt *a, uint64_t addr, uint64_t len, uint8_t type, uint32_t *off)
{
	uint64_t n = run_from(a, addr, type, off);
	return n > 0 && n >= len;
}

static bool blank(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0xFF)
			return false;
	return true;
}

/* ---------------------------------------------------------------------------------------
 * Descriptors
 */

static uint16_t runtime_bcd(const struct emu_dev *d)
{
	if (d->wrong_version_live)
		return (uint16_t)d->cfg.wrong_version;
	const struct alt *a = &d->alts[0];
	if (d->cfg.kind == EMU_KIND_ST7)
		return (uint16_t)((a->mem[a->size - 2] << 8) | a->mem[a->size - 1]);
	/* Runtime descriptors are built when the application starts (power-on, reset,
	 * leave), and nothing writes memory in runtime mode: this is the word it booted. */
	if (d->version_off >= 0)
		return (uint16_t)(a->mem[d->version_off] | a->mem[d->version_off + 1] << 8);
	return d->version;
}

static uint16_t current_bcd(const struct emu_dev *d)
{
	if (d->mode == EMU_MODE_RUNTIME)
		return runtime_bcd(d);
	return d->cfg.kind == EMU_KIND_DFUSE ? 0x2200 : 0x0100;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static size_t put(uint8_t *p, size_t at, const uint8_t *src, size_t n)
{
	if (at + n <= DESC_MAX)
		memcpy(p + at, src, n);
	return at + n;
}

static const uint8_t hid_report[] = {
	0x06, 0x00, 0xFF, /* usage page (vendor) */
	0x09, 0x01, 0xA1, 0x01, 0x15, 0x00, 0x26, 0xFF, 0x00,
	0x75, 0x08, 0x95, 0x08, 0x09, 0x01, 0x81, 0x02, 0xC0,
};

static void build_descriptors(struct emu_dev *d)
{
	bool dfu = d->mode == EMU_MODE_DFU, st7 = d->cfg.kind == EMU_KIND_ST7;
	uint16_t pid = (uint16_t)(dfu ? d->cfg.dfu_pid : d->cfg.pid);
	uint16_t vid = (uint16_t)d->cfg.vid, bcd = current_bcd(d);
	uint8_t *p = d->desc;
	size_t n = 0;

	/* Strings: 1 manufacturer, 2 product, 3 serial, 4.. DFU interface(s), then HID. */
	static const char *const products[3][2] = {
		{ "ST7 EvalKit and DFU", "ST7 DFU" },
		{ "DFU 1.1 Device", "DFU 1.1 Device in DFU mode" },
		{ "STM32 Application", "STM32 BOOTLOADER" },
	};
	snprintf(d->strings[1], sizeof(d->strings[1]), "STMicroelectronics");
	snprintf(d->strings[2], sizeof(d->strings[2]), "%s", products[d->cfg.kind][dfu]);
	snprintf(d->strings[3], sizeof(d->strings[3]), "%s", d->cfg.serial);
	unsigned nalt_if = dfu ? (d->cfg.kind == EMU_KIND_DFUSE ? d->nalts : 1) : 1;
	for (unsigned i = 0; i < nalt_if; i++) {
		const char *name = !dfu                            ? "DFU Runtime"
		                   : d->cfg.kind == EMU_KIND_ST7   ? "ST7 Flash"
		                   : d->cfg.kind == EMU_KIND_DFU11 ? "DFU 1.1 Memory"
		                                                   : d->cfg.layout[i];
		snprintf(d->strings[4 + i], sizeof(d->strings[4 + i]), "%s", name);
	}
	unsigned hid_str = 4 + nalt_if;
	snprintf(d->strings[hid_str], sizeof(d->strings[hid_str]), "%s",
	         st7 ? "ST7 EvalKit HID" : "HID");
	d->nstrings = hid_str + 1;

	/* USB 2.0, full speed, EP0 64 bytes; the ST7 is a USB 1.1 part with an 8-byte EP0,
	 * and in DFU mode DFU 1.0 gives the device class too. */
	uint8_t dev[18] = { 18, DT_DEVICE, 0x00, 0x02, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 1, 2, 3, 1 };
	if (st7) {
		dev[2] = 0x10;
		dev[3] = 0x01;
		dev[7] = 8;
	}
	if (st7 && dfu) {
		dev[4] = 0xFE;
		dev[5] = 0x01;
	}
	put_le16(dev + 8, vid);
	put_le16(dev + 10, pid);
	put_le16(dev + 12, bcd);
	n = put(p, n, dev, sizeof(dev));
	size_t cfg = n;
	uint8_t cfgd[9] = { 9, DT_CONFIG, 0, 0, 0, 1, 0, 0x80, 50 };
	n = put(p, n, cfgd, sizeof(cfgd));

	uint8_t proto = st7 ? 0 : dfu ? 2 : 1;
	d->hid_off = 0;
	if (!dfu) {
		uint8_t hid_if[9] = { 9, DT_INTERFACE, 0, 0, 1, 0x03, 0, 0, (uint8_t)hid_str };
		uint8_t hid[9] = {
			9, DT_HID, 0x11, 0x01, 0, 1, DT_HID_REPORT, sizeof(hid_report), 0
		};
		uint8_t ep[7] = { 7, DT_ENDPOINT, 0x81, 0x03, 8, 0, 10 };
		n = put(p, n, hid_if, 9);
		d->hid_off = n;
		n = put(p, n, hid, 9);
		n = put(p, n, ep, 7);
		uint8_t dfu_if[9] = { 9, DT_INTERFACE, 1, 0, 0, 0xFE, 0x01, proto, 4 };
		n = put(p, n, dfu_if, 9);
		d->num_ifaces = 2;
		d->dfu_iface = 1;
	} else {
		for (unsigned i = 0; i < nalt_if; i++) {
			uint8_t dfu_if[9] = { 9,    DT_INTERFACE, 0,     (uint8_t)i,      0,
				              0xFE, 0x01,         proto, (uint8_t)(4 + i) };
			n = put(p, n, dfu_if, 9);
		}
		d->num_ifaces = 1;
		d->dfu_iface = 0;
	}

	/* The DFU functional descriptor, after the (last) DFU interface. */
	uint16_t xfer = d->cfg.desc == EMU_DESC_XFER0 ? 0 : d->xfer;
	uint16_t bcd_dfu = d->cfg.kind == EMU_KIND_DFUSE ? 0x011A : 0x0110;
	uint8_t func[9] = { st7 ? 7 : 9, DT_DFU_FUNC, d->attrs };
	put_le16(func + 3, d->detach_timeout);
	put_le16(func + 5, xfer);
	put_le16(func + 7, bcd_dfu); /* beyond bLength 7 for DFU 1.0: not sent */
	size_t flen = func[0];
	if (d->cfg.desc == EMU_DESC_TRUNC_FUNC)
		func[0] = (uint8_t)(flen = 5);
	if (d->cfg.desc == EMU_DESC_BAD_BLENGTH)
		func[0] = (uint8_t)(flen + 3);
	d->func_off = d->func_len = 0;
	if (d->cfg.desc != EMU_DESC_NO_FUNC) {
		d->func_off = n;
		d->func_len = flen;
		n = put(p, n, func, flen);
	}

	size_t total = n - cfg;
	if (d->cfg.desc == EMU_DESC_BAD_TOTAL)
		total += 16;
	p[cfg + 2] = (uint8_t)total;
	p[cfg + 3] = (uint8_t)(total >> 8);
	p[cfg + 4] = (uint8_t)d->num_ifaces;
	d->desc_len = n; /* at most ~120 bytes: DESC_MAX is never reached */
}

/* ---------------------------------------------------------------------------------------
 * Bus, presence, time
 */

/* Modelled bus time of one control transfer carrying `len` data bytes: low speed does
 * one 8-byte transaction per 1 ms frame (setup, data packets, status); full speed
 * needs one frame plus about 60 us per 64-byte packet. */
static uint64_t bus_time(const struct emu_dev *d, size_t len)
{
	switch (d->cfg.bus) {
	case EMU_BUS_LOW:
		return (2 + (len + 7) / 8) * 1000u;
	case EMU_BUS_FULL:
		return 1000u + (len + 63) / 64 * 60u;
	case EMU_BUS_NONE:
		break;
	}
	return 0;
}

static void reset_dfu_progress(struct emu_dev *d)
{
	d->pend = PEND_NONE;
	d->pend_err_now = d->pend_err_after = 0;
	d->manifest_pending = false;
	d->dl_next = 0;
}

/* Power-on or reset of the running firmware in `mode`. */
static void boot(struct emu_dev *d, enum emu_mode mode)
{
	d->mode = mode;
	d->state = mode == EMU_MODE_RUNTIME ? EMU_APP_IDLE : EMU_DFU_IDLE;
	d->status = EMU_OK;
	d->alt_setting = 0;
	d->config_value = 1;
	reset_dfu_progress(d);
	build_descriptors(d);
}

static void leave_bus(struct emu_dev *d, uint64_t at, enum emu_mode back_mode,
                      uint64_t back_after_us, bool mandated)
{
	d->present = false;
	d->back_at = back_after_us == EMU_NEVER ? EMU_NEVER : sat_add(at, back_after_us);
	d->back_mode = back_mode;
	d->back_mandated = mandated;
	d->leave_pending = false;
}

static void reappear(struct emu_dev *d)
{
	uint64_t t = d->back_at;

	d->present = true;
	d->enumeration++;
	if (d->first_plug)
		d->first_plug = false; /* plug-ms: its first appearance, not a re-enumeration */
	else
		d->st.reenumerations++;
	if (d->back_mandated)
		d->st.mandated_us += ms_us(d->cfg.reenum_ms);
	if (d->seen)
		note_time(d, t, t);
	boot(d, d->back_mode);
}

static void power_loss(struct emu_dev *d, uint64_t at)
{
	uint64_t back = d->cfg.replug_ms < 0 ? EMU_NEVER : ms_us(d->cfg.replug_ms);
	/* The loader decides at power-on: a valid application runs, else DFU mode. */
	leave_bus(d, at, d->app_valid ? EMU_MODE_RUNTIME : EMU_MODE_DFU, back, false);
}

static void enter(struct emu_dev *d, int state)
{
	d->state = state;
	if (d->cfg.unplug_state == state && fault_fires(d, &d->unplug_state_fired))
		d->leave_pending = true;
}

static void manifest_done(struct emu_dev *d)
{
	/* Each completed manifestation is one chance for these faults to fire (fault-times).
	 * wrong-version models firmware that reports a wrong version: what this
	 * manifestation decided holds until the next one, across resets and power cycles. */
	d->app_valid = !(d->cfg.reject_image && fault_fires(d, &d->reject_fired));
	d->wrong_version_live = d->cfg.wrong_version >= 0 && fault_fires(d, &d->wrong_fired);
	d->manifest_pending = false;
	if (d->cfg.kind == EMU_KIND_DFUSE) {
		/* "Leave": the loader jumps to the application, which re-enumerates. */
		if (d->cfg.no_reenum) {
			enter(d, EMU_DFU_IDLE);
			return;
		}
		leave_bus(d, d->busy_until, d->app_valid ? EMU_MODE_RUNTIME : EMU_MODE_DFU,
		          ms_us(d->cfg.reenum_ms), true);
		return;
	}
	if (d->attrs & ATTR_MANIF_TOL)
		enter(d, EMU_MANIFEST_SYNC);
	else
		enter(d, EMU_MANIFEST_WAIT_RESET);
}

/* Catch up with time: busy periods end, the detach window closes, the device returns.
 * Each step happens at its own time, so results do not depend on how often we are
 * called. */
static void advance(struct emu_dev *d, uint64_t now)
{
	for (int guard = 0; guard < 8; guard++) {
		uint64_t at;
		if (!d->present) {
			if (d->back_at > now)
				return;
			reappear(d);
			continue;
		}
		if (d->state == EMU_DNBUSY && now >= d->busy_until) {
			at = d->busy_until;
			if (d->pend_err_after) {
				d->status = d->pend_err_after;
				reset_dfu_progress(d);
				enter(d, EMU_DFU_ERROR);
			} else {
				enter(d, EMU_DNLOAD_SYNC);
			}
		} else if (d->state == EMU_MANIFEST && now >= d->busy_until) {
			at = d->busy_until;
			manifest_done(d);
		} else if (d->state == EMU_APP_DETACH && now >= d->detach_until) {
			at = d->detach_until;
			enter(d, EMU_APP_IDLE);
		} else {
			return;
		}
		if (d->present && d->leave_pending)
			power_loss(d, at);
	}
}

/* ---------------------------------------------------------------------------------------
 * Memory operations
 */

/* Erase [from, to) of flat memory in `unit`-byte sectors; returns the busy time. */
static uint64_t erase_units(struct emu_dev *d, uint8_t *mem, uint32_t len, uint32_t unit)
{
	uint64_t us = 0;

	for (uint32_t o = 0; o < len; o += unit) {
		uint32_t n = len - o < unit ? len - o : unit;
		if (!blank(mem + o, n)) {
			us += ms_us(d->cfg.erase_ms);
			memset(mem + o, 0xFF, n);
		}
	}
	return us;
}

static uint64_t prog_time(const struct emu_dev *d, size_t len)
{
	return (uint64_t)((len + 63) / 64) * ms_us(d->cfg.prog_ms);
}

/* Carry out the pending block or command; returns its busy time in microseconds. */
static uint64_t execute(struct emu_dev *d)
{
	struct alt *a = &d->alts[0];
	uint64_t us = 0;

	if (d->cfg.kind != EMU_KIND_DFUSE) {
		uint32_t off = (uint32_t)d->pend_block * d->xfer;
		if (d->pend_block == 0) {
			/* ST7: sectors 1 and 2 (the whole writable region); DFU 1.1: all memory. */
			if (d->cfg.kind == EMU_KIND_ST7) {
				uint32_t s2 = d->prof->region_base < ST7_SECTOR1
				                      ? ST7_SECTOR1 - d->prof->region_base
				                      : 0;
				us += erase_units(d, a->mem, s2, s2 ? s2 : 1);
				us += erase_units(d, a->mem + s2, a->size - s2, a->size - s2);
			} else {
				us += erase_units(d, a->mem, a->size, DFU11_SECTOR);
			}
			d->app_valid = false;
		}
		if (!d->pend_err_after)
			memcpy(a->mem + off, d->pend_data, d->pend_len);
		return us + prog_time(d, d->pend_len);
	}

	struct alt *cur = &d->alts[d->alt_setting];
	if (d->pend == PEND_CMD) {
		uint8_t cmd = d->pend_data[0];
		uint32_t addr = d->pend_len == 5 ? (uint32_t)d->pend_data[1] |
		                                           (uint32_t)d->pend_data[2] << 8 |
		                                           (uint32_t)d->pend_data[3] << 16 |
		                                           (uint32_t)d->pend_data[4] << 24
		                                 : 0;
		uint32_t off;
		if (cmd == 0x21) {
			if (map_range(cur, addr, 0, 0, &off))
				d->ptr = addr;
			else
				d->pend_err_after = EMU_ERR_ADDRESS;
		} else if (cmd == 0x41 && d->pend_len == 5) {
			int gi = seg_at(cur, addr);
			const struct seg *g = gi < 0 ? NULL : &cur->segs[gi];
			if (!g || !(g->type & MEM_TYPE_ERASE)) {
				d->pend_err_after = EMU_ERR_ADDRESS;
			} else {
				uint32_t page = (addr - g->addr) / g->page;
				us += erase_units(d, cur->mem + g->off + page * g->page, g->page,
				                  g->page);
				d->app_valid = false;
			}
		} else { /* mass erase (0x41 alone) or read unprotect (0x92) */
			for (unsigned i = 0; i < cur->nsegs; i++) {
				const struct seg *g = &cur->segs[i];
				if (g->type & MEM_TYPE_ERASE)
					us += erase_units(d, cur->mem + g->off, g->page * g->pages,
					                  g->page);
			}
			d->app_valid = false;
		}
		return us;
	}
	/* DfuSe data block */
	uint64_t addr = (uint64_t)d->ptr + (uint64_t)(d->pend_block - 2) * d->xfer;
	uint32_t off;
	if (!map_range(cur, addr, d->pend_len, MEM_TYPE_WRITE, &off))
		d->pend_err_after = EMU_ERR_ADDRESS;
	else if (!blank(cur->mem + off, d->pend_len))
		d->pend_err_after = EMU_ERR_PROG; /* flash must be erased before it is written */
	else if (!d->pend_err_after)
		memcpy(cur->mem + off, d->pend_data, d->pend_len);
	d->app_valid = false;
	return prog_time(d, d->pend_len);
}

/* ---------------------------------------------------------------------------------------
 * Requests
 */

#define R_STALL (-1)
#define R_NO_ANSWER (-2)

static bool in_dfu_states(int state)
{
	return state >= EMU_DFU_IDLE;
}

/* A request the state does not allow: stall; DFU states enter dfuERROR/errSTALLEDPKT
 * (except dfuMANIFEST-WAIT-RESET, where the device only waits for the reset). */
static int not_allowed(struct emu_dev *d)
{
	if (in_dfu_states(d->state) && d->state != EMU_MANIFEST_WAIT_RESET) {
		d->status = EMU_ERR_STALLEDPKT;
		reset_dfu_progress(d);
		enter(d, EMU_DFU_ERROR);
	}
	return R_STALL;
}

static uint32_t reported_poll(struct emu_dev *d, uint64_t remaining_us)
{
	uint64_t ms = (remaining_us + 999) / 1000;

	if (d->cfg.poll_ms >= 0) {
		d->st.faults_fired++;
		return (uint32_t)d->cfg.poll_ms;
	}
	return ms > 0xFFFFFF ? 0xFFFFFF : (uint32_t)ms;
}

static int getstatus(struct emu_dev *d, uint64_t now, uint8_t *out)
{
	uint32_t poll = 0;
	/* The host has the answer after this transfer's bus time; busy periods start then. */
	uint64_t start = now + bus_time(d, 6);

	switch (d->state) {
	case EMU_DNLOAD_SYNC:
		if (d->pend == PEND_NONE) {
			enter(d, EMU_DNLOAD_IDLE);
			break;
		}
		if (d->pend_err_now) {
			d->status = d->pend_err_now;
			reset_dfu_progress(d);
			enter(d, EMU_DFU_ERROR);
			break;
		}
		uint64_t busy = execute(d);
		d->pend = PEND_NONE;
		if (busy == 0 && d->cfg.kind != EMU_KIND_DFUSE) {
			if (d->pend_err_after) {
				d->status = d->pend_err_after;
				reset_dfu_progress(d);
				enter(d, EMU_DFU_ERROR);
			} else {
				enter(d, EMU_DNLOAD_IDLE);
			}
			break;
		}
		/* DfuSe always answers dfuDNBUSY first: dfu-util insists on it. */
		d->busy_until = start + busy;
		d->st.mandated_us += busy;
		poll = reported_poll(d, busy);
		enter(d, EMU_DNBUSY);
		break;
	case EMU_DNBUSY:
	case EMU_MANIFEST:
		/* Polled early: still busy, with the time that remains. */
		poll = reported_poll(d, d->busy_until - now);
		break;
	case EMU_MANIFEST_SYNC:
		if (d->manifest_pending) {
			uint64_t mbusy = ms_us(d->cfg.manifest_ms);
			d->busy_until = start + mbusy;
			d->st.mandated_us += mbusy;
			d->manifest_pending = false;
			poll = reported_poll(d, mbusy);
			enter(d, EMU_MANIFEST);
		} else {
			enter(d, EMU_DFU_IDLE); /* manifestation tolerant, done */
		}
		break;
	default:
		break;
	}
	out[0] = (uint8_t)d->status;
	out[1] = (uint8_t)poll;
	out[2] = (uint8_t)(poll >> 8);
	out[3] = (uint8_t)(poll >> 16);
	out[4] = (uint8_t)d->state;
	out[5] = 0;
	return 6;
}

static int dnload(struct emu_dev *d, uint16_t block, const uint8_t *data, uint16_t len)
{
	bool dfuse = d->cfg.kind == EMU_KIND_DFUSE;

	if (d->state != EMU_DFU_IDLE && d->state != EMU_DNLOAD_IDLE)
		return not_allowed(d);
	if (len == 0) {
		/* End of download: manifestation. DfuSe "leave" may come straight from idle. */
		if (d->state == EMU_DFU_IDLE && !dfuse)
			return not_allowed(d);
		reset_dfu_progress(d);
		d->manifest_pending = true;
		enter(d, EMU_MANIFEST_SYNC);
		return 0;
	}
	if (len > d->xfer)
		return not_allowed(d);
	if (dfuse && (block == 1 || (block == 0 && !((data[0] == 0x21 && len == 5) ||
	                                             (data[0] == 0x41 && (len == 1 || len == 5)) ||
	                                             (data[0] == 0x92 && len == 1)))))
		return not_allowed(d);
	if (d->cfg.stall_block == block && fault_fires(d, &d->stall_fired))
		return not_allowed(d);

	d->pend = dfuse && block == 0 ? PEND_CMD : PEND_DATA;
	d->pend_block = block;
	d->pend_len = len;
	memcpy(d->pend_data, data, len);
	d->pend_err_now = d->pend_err_after = 0;
	if (!dfuse) {
		uint32_t expected = d->state == EMU_DFU_IDLE ? 0 : d->dl_next;
		uint64_t end = (uint64_t)block * d->xfer + len;
		if (block != expected || end > d->alts[0].size)
			d->pend_err_now = EMU_ERR_ADDRESS;
		d->dl_next = (uint32_t)block + 1;
	}
	if (d->cfg.error_block == block && fault_fires(d, &d->error_fired))
		d->pend_err_after = d->cfg.error_status > 0 ? d->cfg.error_status : EMU_ERR_WRITE;
	enter(d, EMU_DNLOAD_SYNC);
	if (d->cfg.unplug_block == block && fault_fires(d, &d->unplug_block_fired))
		d->leave_pending = true;
	return len;
}

static int upload(struct emu_dev *d, uint16_t block, uint8_t *out, uint16_t len)
{
	const struct alt *a = &d->alts[0];
	uint64_t off, avail;

	if ((d->state != EMU_DFU_IDLE && d->state != EMU_UPLOAD_IDLE) || len == 0 || len > d->xfer)
		return not_allowed(d);
	if (d->cfg.kind == EMU_KIND_DFUSE) {
		static const uint8_t cmds[] = { 0x00, 0x21, 0x41, 0x92 };
		a = &d->alts[d->alt_setting];
		if (block == 1)
			return not_allowed(d);
		if (block == 0) {
			size_t n = len < sizeof(cmds) ? len : sizeof(cmds);
			memcpy(out, cmds, n);
			enter(d, n < len ? EMU_DFU_IDLE : EMU_UPLOAD_IDLE);
			return (int)n;
		}
		uint64_t addr = (uint64_t)d->ptr + (uint64_t)(block - 2) * d->xfer;
		uint32_t o;
		if (!map_range(a, addr, 0, MEM_TYPE_READ, &o) && addr > 0 &&
		    map_range(a, addr - 1, 0, MEM_TYPE_READ, &o)) {
			off = o + 1u; /* just past the end of readable memory: an empty reply */
			avail = 0;
		} else if (!map_range(a, addr, 0, MEM_TYPE_READ, &o)) {
			if (!d->cfg.upload_long) {
				not_allowed(d);
				d->status = EMU_ERR_ADDRESS;
				return R_STALL;
			}
			off = a->size; /* past the end: only upload-long answers */
			avail = 0;
		} else {
			avail = run_from(a, addr, MEM_TYPE_READ, &o);
			off = o;
		}
	} else {
		off = (uint64_t)block * d->xfer;
		avail = off < a->size ? a->size - off : 0;
	}
	size_t n = avail < len ? (size_t)avail : len, real = n;
	if (n)
		memcpy(out, a->mem + off, n);
	if (d->cfg.upload_long && n < len) {
		memset(out + n, 0xFF, len - n);
		n = len;
		d->st.faults_fired++;
	}
	if (d->cfg.upload_short >= 0 && (uint64_t)d->cfg.upload_short < off + n) {
		n = (uint64_t)d->cfg.upload_short > off ? (size_t)(d->cfg.upload_short - off) : 0;
		d->st.faults_fired++;
	}
	/* OFFSET is in alts[0]'s memory (flash-in's offsets) and only flips a byte of it
	 * that this reply carries, not upload-long's padding. */
	if (real > n)
		real = n;
	if (d->cfg.upload_corrupt >= 0 && a == &d->alts[0] &&
	    (uint64_t)d->cfg.upload_corrupt >= off &&
	    (uint64_t)d->cfg.upload_corrupt < off + real && fault_fires(d, &d->corrupt_fired))
		out[d->cfg.upload_corrupt - (long)off] ^= 0xFF;
	enter(d, n < len ? EMU_DFU_IDLE : EMU_UPLOAD_IDLE);
	return (int)n;
}

static int dfu_request(struct emu_dev *d, uint64_t now, const uint8_t *s, uint8_t *data)
{
	uint8_t req = s[1];
	bool in = s[0] & 0x80;
	uint16_t wValue = (uint16_t)(s[2] | s[3] << 8), wLength = (uint16_t)(s[6] | s[7] << 8);
	bool runtime = d->mode == EMU_MODE_RUNTIME;

	/* Each request has one direction; IN requests need room for their reply. */
	bool want_in = req == DFU_UPLOAD || req == DFU_GETSTATUS || req == DFU_GETSTATE;
	if (req > DFU_ABORT || in != want_in)
		return not_allowed(d);
	if ((req == DFU_GETSTATUS && wLength < 6) || (req == DFU_GETSTATE && wLength < 1) ||
	    ((req == DFU_DETACH || req == DFU_CLRSTATUS || req == DFU_ABORT) && wLength))
		return not_allowed(d);

	switch (req) {
	case DFU_GETSTATUS:
		return getstatus(d, now, data);
	case DFU_GETSTATE:
		if (d->state == EMU_DNBUSY || d->state == EMU_MANIFEST)
			return not_allowed(d);
		data[0] = (uint8_t)d->state;
		return 1;
	case DFU_DETACH:
		if (!runtime || d->state != EMU_APP_IDLE)
			return not_allowed(d);
		enter(d, EMU_APP_DETACH);
		uint16_t t = wValue < d->detach_timeout ? wValue : d->detach_timeout;
		d->detach_until = now + ms_us(t);
		if ((d->attrs & ATTR_WILL_DETACH) && !d->cfg.no_reenum && d->present &&
		    !d->leave_pending) {
			/* bitWillDetach: the device drops off and comes back in DFU mode itself. */
			uint64_t at = now + bus_time(d, 0);
			leave_bus(d, at, EMU_MODE_DFU, ms_us(d->cfg.reenum_ms), true);
		}
		return 0;
	case DFU_CLRSTATUS:
		if (d->state != EMU_DFU_ERROR)
			return not_allowed(d);
		d->status = EMU_OK;
		reset_dfu_progress(d);
		enter(d, EMU_DFU_IDLE);
		return 0;
	case DFU_ABORT:
		if (d->state != EMU_DFU_IDLE && d->state != EMU_DNLOAD_SYNC &&
		    d->state != EMU_DNLOAD_IDLE && d->state != EMU_MANIFEST_SYNC &&
		    d->state != EMU_UPLOAD_IDLE)
			return not_allowed(d);
		reset_dfu_progress(d);
		enter(d, EMU_DFU_IDLE);
		return 0;
	case DFU_DNLOAD:
		if (runtime)
			return not_allowed(d);
		return dnload(d, wValue, data, wLength);
	case DFU_UPLOAD:
		if (runtime)
			return not_allowed(d);
		return upload(d, wValue, data, wLength);
	}
	return not_allowed(d);
}

/* Copy a reply, cut to what the host asked for. */
static int reply(uint8_t *out, uint16_t wLength, const void *src, size_t n)
{
	if (n > wLength)
		n = wLength;
	memcpy(out, src, n);
	return (int)n;
}

static int get_descriptor(struct emu_dev *d, const uint8_t *s, uint8_t *data)
{
	uint8_t type = s[3], idx = s[2];
	uint16_t wIndex = (uint16_t)(s[4] | s[5] << 8), wLength = (uint16_t)(s[6] | s[7] << 8);
	uint8_t buf[2 + 2 * EMU_LAYOUT_MAX];

	if (s[0] == 0x81) { /* interface recipient: HID class descriptors, or DFU's */
		if (d->hid_off && (wIndex & 0xFF) == 0 && type == DT_HID)
			return reply(data, wLength, d->desc + d->hid_off, 9);
		if (d->hid_off && (wIndex & 0xFF) == 0 && type == DT_HID_REPORT)
			return reply(data, wLength, hid_report, sizeof(hid_report));
		if (type != DT_DFU_FUNC)
			return R_STALL;
	}
	switch (type) {
	case DT_DEVICE:
		return reply(data, wLength, d->desc, 18);
	case DT_CONFIG:
		if (idx != 0)
			return R_STALL;
		return reply(data, wLength, d->desc + 18, d->desc_len - 18);
	case DT_STRING:
		if (idx == 0) {
			static const uint8_t langids[] = { 4, DT_STRING, 0x09, 0x04 };
			return reply(data, wLength, langids, sizeof(langids));
		}
		if (idx >= d->nstrings || !d->strings[idx][0])
			return R_STALL;
		size_t n = strlen(d->strings[idx]);
		buf[0] = (uint8_t)(2 + 2 * n);
		buf[1] = DT_STRING;
		for (size_t i = 0; i < n; i++) {
			buf[2 + 2 * i] = (uint8_t)d->strings[idx][i];
			buf[3 + 2 * i] = 0;
		}
		return reply(data, wLength, buf, 2 + 2 * n);
	case DT_DFU_FUNC:
		if (!d->func_len)
			return R_STALL;
		return reply(data, wLength, d->desc + d->func_off, d->func_len);
	}
	return R_STALL;
}

static int std_request(struct emu_dev *d, const uint8_t *s, uint8_t *data)
{
	uint8_t rt = s[0], req = s[1];
	uint16_t wValue = (uint16_t)(s[2] | s[3] << 8), wIndex = (uint16_t)(s[4] | s[5] << 8);
	uint16_t wLength = (uint16_t)(s[6] | s[7] << 8);
	static const uint8_t zero2[2] = { 0, 0 };

	if (req == 6 && (rt == 0x80 || rt == 0x81))
		return get_descriptor(d, s, data);
	if (req == 0 && (rt == 0x80 || rt == 0x81 || rt == 0x82)) /* GET_STATUS */
		return reply(data, wLength, zero2, 2);
	if (rt == 0x80 && req == 8) /* GET_CONFIGURATION */
		return reply(data, wLength, &d->config_value, 1);
	if (rt == 0x00 && req == 9 && wValue <= 1 && !wLength) { /* SET_CONFIGURATION */
		d->config_value = (uint8_t)wValue;
		return 0;
	}
	if (rt == 0x81 && req == 10 && wIndex < d->num_ifaces) { /* GET_INTERFACE */
		uint8_t alt = wIndex == d->dfu_iface ? d->alt_setting : 0;
		return reply(data, wLength, &alt, 1);
	}
	if (rt == 0x01 && req == 11 && wIndex < d->num_ifaces && !wLength) { /* SET_INTERFACE */
		unsigned nalts = wIndex == d->dfu_iface && d->mode == EMU_MODE_DFU &&
		                                 d->cfg.kind == EMU_KIND_DFUSE
		                         ? d->nalts
		                         : 1;
		if (wValue >= nalts)
			return R_STALL;
		if (wIndex == d->dfu_iface)
			d->alt_setting = (uint8_t)wValue;
		return 0;
	}
	if ((rt == 0x00 || rt == 0x02) && (req == 1 || req == 3) && !wLength) /* features */
		return 0;
	return R_STALL;
}

void emu_dev_control(struct emu_dev *d, uint64_t now, const uint8_t setup[8], uint8_t *data,
                     size_t cap, struct emu_xfer *x)
{
	uint16_t wIndex = (uint16_t)(setup[4] | setup[5] << 8);
	uint16_t wLength = (uint16_t)(setup[6] | setup[7] << 8);
	int r;

	x->status = EMU_XFER_OK;
	x->actual = 0;
	x->bus_us = 0;
	advance(d, now);
	if (!d->present) {
		x->status = EMU_XFER_GONE;
		return;
	}
	if (wLength > cap || (wLength && !data)) {
		x->status = EMU_XFER_INVALID;
		return;
	}
	bool busy = (d->state == EMU_DNBUSY || d->state == EMU_MANIFEST) && now < d->busy_until;
	uint8_t type = setup[0] & 0x60, recip = setup[0] & 0x1F;
	bool dfu = type == 0x20 && recip == 1 && (wIndex & 0xFF) == d->dfu_iface;
	int req = EMU_REQ_OTHER;
	if (dfu && setup[1] <= DFU_ABORT)
		req = EMU_REQ_DETACH + setup[1];
	else if (type == 0 && setup[1] == 6)
		req = EMU_REQ_GET_DESCRIPTOR;
	d->st.control_transfers++;
	d->st.requests[req]++;
	if (dfu)
		d->st.dfu_requests++;

	if (req == EMU_REQ_GETSTATUS &&
	    ++d->getstatus_count == (uint64_t)d->cfg.getstatus_timeout) {
		/* The device never answers this one; nothing changes. */
		d->st.faults_fired++;
		note_time(d, now, now);
		x->status = EMU_XFER_NO_ANSWER;
		return;
	}

	if (type == 0)
		r = std_request(d, setup, data);
	else if (dfu)
		r = dfu_request(d, now, setup, data);
	else
		r = R_STALL; /* HID class requests and anything else */

	if (r == R_STALL) {
		x->status = EMU_XFER_STALL;
		x->bus_us = bus_time(d, 0);
	} else {
		x->actual = (size_t)r;
		x->bus_us = bus_time(d, x->actual);
	}
	/* Requests that arrive while the device is busy are host overhead, not mandated. */
	if (!busy)
		d->st.mandated_us += x->bus_us;
	note_time(d, now, now + x->bus_us);
	if (d->present && d->leave_pending)
		power_loss(d, now + x->bus_us);
}

bool emu_dev_usb_reset(struct emu_dev *d, uint64_t now)
{
	advance(d, now);
	if (!d->present)
		return false;
	d->st.resets++;
	note_time(d, now, now);
	if (d->mode == EMU_MODE_RUNTIME) {
		if (d->state == EMU_APP_DETACH && !d->cfg.no_reenum) {
			leave_bus(d, now, EMU_MODE_DFU, ms_us(d->cfg.reenum_ms), true);
			return false;
		}
		boot(d, EMU_MODE_RUNTIME);
		return true;
	}
	/* DFU mode: the loader runs a valid application, else stays. A change of mode means
	 * new descriptors, so Linux re-enumerates it; otherwise it keeps its address. */
	if (d->app_valid && !d->cfg.no_reenum) {
		leave_bus(d, now, EMU_MODE_RUNTIME, ms_us(d->cfg.reenum_ms), true);
		return false;
	}
	boot(d, EMU_MODE_DFU);
	return true;
}

void emu_dev_unplug(struct emu_dev *d, uint64_t now, uint64_t back_after_us)
{
	advance(d, now);
	if (!d->present)
		return;
	leave_bus(d, now, d->app_valid ? EMU_MODE_RUNTIME : EMU_MODE_DFU, back_after_us, false);
}

void emu_dev_start_clock(struct emu_dev *d, uint64_t now)
{
	if (d->first_plug && d->cfg.plug_ms >= 0)
		d->back_at = sat_add(now, ms_us(d->cfg.plug_ms));
}

bool emu_dev_waits_for_plug(const struct emu_dev *d)
{
	return d->first_plug && !d->present && d->cfg.plug_ms == EMU_PLUG_SIGNAL &&
	       d->back_at == EMU_NEVER;
}

void emu_dev_plug_now(struct emu_dev *d, uint64_t now)
{
	if (emu_dev_waits_for_plug(d))
		d->back_at = now;
}

void emu_dev_tick(struct emu_dev *d, uint64_t now)
{
	advance(d, now);
}

uint64_t emu_dev_next_deadline(const struct emu_dev *d)
{
	if (!d->present)
		return d->back_at;
	if (d->state == EMU_DNBUSY || d->state == EMU_MANIFEST)
		return d->busy_until;
	if (d->state == EMU_APP_DETACH)
		return d->detach_until;
	return EMU_NEVER;
}

bool emu_dev_present(const struct emu_dev *d)
{
	return d->present;
}

uint32_t emu_dev_enumeration(const struct emu_dev *d)
{
	return d->enumeration;
}

void emu_dev_info(const struct emu_dev *d, struct emu_info *i)
{
	memset(i, 0, sizeof(*i));
	i->kind = d->cfg.kind;
	i->profile = d->prof ? d->prof->name : NULL;
	i->serial = d->cfg.serial;
	i->present = d->present;
	i->mode = d->mode;
	i->state = d->state;
	i->status = d->status;
	i->app_valid = d->app_valid;
	i->vid = (uint16_t)(d->desc[8] | d->desc[9] << 8);
	i->pid = (uint16_t)(d->desc[10] | d->desc[11] << 8);
	i->bcd_device = (uint16_t)(d->desc[12] | d->desc[13] << 8);
	i->full_speed = d->prof ? d->prof->full_speed : true;
	i->max_packet0 = d->desc[7];
	i->num_interfaces = d->num_ifaces;
	i->flash_out = d->cfg.flash_out[0] ? d->cfg.flash_out : NULL;
	i->reenumerating = !d->present && d->back_mandated && d->back_at != EMU_NEVER;
	i->back_at = d->present ? EMU_NEVER : d->back_at;
}

const uint8_t *emu_dev_descriptors(const struct emu_dev *d, size_t *len)
{
	*len = d->desc_len;
	return d->desc;
}

uint8_t *emu_dev_memory(struct emu_dev *d, size_t *len)
{
	*len = d->alts[0].size;
	return d->alts[0].mem;
}

void emu_dev_stats(const struct emu_dev *d, struct emu_stats *s)
{
	*s = d->st;
	s->elapsed_us = d->seen ? d->last_us - d->first_us : 0;
}

/* ---------------------------------------------------------------------------------------
 * Construction
 */

static int load_file(const char *path, uint8_t *mem, size_t size, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		set_err(err, errlen, "flash-in: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	/* A shorter file leaves the rest erased (0xFF); a longer one is an error. */
	bool bad = fread(mem, 1, size, f) < size && ferror(f);
	int extra = bad ? EOF : fgetc(f);
	bad = bad || ferror(f);
	fclose(f);
	if (bad) {
		set_err(err, errlen, "flash-in: cannot read %s", path);
		return -1;
	}
	if (extra != EOF) {
		set_err(err, errlen, "flash-in: %s is larger than the device memory (%zu bytes)",
		        path, size);
		return -1;
	}
	return 0;
}

static bool bad_key_for_kind(const struct emu_config *c, char *err, size_t errlen)
{
	static const struct {
		int key;
		unsigned kinds; /* bit per enum emu_kind allowed */
	} only[] = {
		{ K_PROFILE, 1u << EMU_KIND_ST7 },
		{ K_MEM_SIZE, 1u << EMU_KIND_DFU11 | 1u << EMU_KIND_DFUSE },
		{ K_LAYOUT, 1u << EMU_KIND_DFUSE },
		{ K_VERSION_ADDR, 1u << EMU_KIND_DFU11 | 1u << EMU_KIND_DFUSE },
	};
	for (size_t i = 0; i < N_ELEMS(only); i++)
		if (GIVEN(c, only[i].key) && !(only[i].kinds & (1u << c->kind))) {
			set_err(err, errlen, "%s: not for kind=%s", key_names[only[i].key],
			        emu_kind_name(c->kind));
			return true;
		}
	return false;
}

struct emu_dev *emu_dev_new(const struct emu_config *cfg, uint64_t now, char *err, size_t errlen)
{
	if (bad_key_for_kind(cfg, err, errlen))
		return NULL;
	if (cfg->app_valid == 0 && cfg->mode == EMU_MODE_RUNTIME) {
		set_err(err, errlen, "app: invalid needs mode=dfu (a runtime device runs its app)");
		return NULL;
	}
	if (cfg->error_status >= 0 && cfg->error_block < 0) {
		set_err(err, errlen, "error-status: needs error-block");
		return NULL;
	}
	struct emu_dev *d = calloc(1, sizeof(*d));
	if (!d) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	d->cfg = *cfg;
	struct emu_config *c = &d->cfg;
	switch (c->kind) {
	case EMU_KIND_ST7:
		d->prof = &profiles[c->profile];
		d->xfer = (uint16_t)(c->transfer_size > 0 ? c->transfer_size
		                                          : d->prof->transfer_size);
		d->detach_timeout = (uint16_t)(c->detach_timeout >= 0 ? c->detach_timeout : 1000);
		d->nalts = 1;
		d->alts[0].size = d->prof->region_end - d->prof->region_base;
		break;
	case EMU_KIND_DFU11:
		d->xfer = (uint16_t)(c->transfer_size > 0 ? c->transfer_size : 1024);
		d->detach_timeout = (uint16_t)(c->detach_timeout >= 0 ? c->detach_timeout : 1000);
		d->nalts = 1;
		d->alts[0].size = (uint32_t)(c->mem_size > 0 ? c->mem_size : 65536);
		if (d->alts[0].size > 65536u * d->xfer) {
			set_err(err, errlen, "mem-size: more than 65536 blocks of transfer-size");
			goto fail;
		}
		break;
	case EMU_KIND_DFUSE:
		d->xfer = (uint16_t)(c->transfer_size > 0 ? c->transfer_size : 2048);
		d->detach_timeout = (uint16_t)(c->detach_timeout >= 0 ? c->detach_timeout : 255);
		if (c->n_layouts == 0) {
			uint32_t size = (uint32_t)(c->mem_size > 0 ? c->mem_size : 65536);
			if (size % 16384 == 0)
				snprintf(c->layout[0], sizeof(c->layout[0]),
				         "@Internal Flash  /0x08000000/%02u*016Kg", size / 16384);
			else if (size % 1024 == 0)
				snprintf(c->layout[0], sizeof(c->layout[0]),
				         "@Internal Flash  /0x08000000/%03u*001Kg", size / 1024);
			else {
				set_err(err, errlen, "mem-size: DfuSe memory must be whole KiB");
				goto fail;
			}
			c->n_layouts = 1;
		}
		d->nalts = c->n_layouts;
		uint64_t total = 0;
		for (unsigned i = 0; i < d->nalts; i++) {
			if (parse_layout(c->layout[i], &d->alts[i], err, errlen))
				goto fail;
			total += d->alts[i].size;
		}
		if (total > EMU_MEM_LIMIT) {
			set_err(err, errlen, "layout: more than %u bytes of memory", EMU_MEM_LIMIT);
			goto fail;
		}
		if (c->mem_size > 0 && (uint32_t)c->mem_size != d->alts[0].size) {
			set_err(err, errlen, "mem-size: %ld differs from layout's %u bytes",
			        c->mem_size, d->alts[0].size);
			goto fail;
		}
		break;
	}
	d->version_off = -1;
	if (c->version_addr >= 0) {
		uint32_t off = (uint32_t)c->version_addr;
		/* Both bytes in alt 0's memory (dfuse: contiguous, of any page type). */
		bool in = c->kind == EMU_KIND_DFUSE
		                  ? map_range(&d->alts[0], (uint64_t)c->version_addr, 2, 0, &off)
		                  : (uint64_t)c->version_addr + 2 <= d->alts[0].size;
		if (!in) {
			set_err(err, errlen, "version-addr: 0x%llx: the word is not in %s",
			        (unsigned long long)c->version_addr,
			        c->kind == EMU_KIND_DFUSE ? "alt 0's memory" : "the memory");
			goto fail;
		}
		d->version_off = off;
	}
	if (c->will_detach < 0)
		c->will_detach = c->kind == EMU_KIND_DFUSE;
	if (c->manifest_tolerant < 0)
		c->manifest_tolerant = 0;
	d->attrs = ATTR_CAN_DNLOAD | ATTR_CAN_UPLOAD | (c->will_detach ? ATTR_WILL_DETACH : 0) |
	           (c->manifest_tolerant ? ATTR_MANIF_TOL : 0);
	if (c->error_block >= 0 && c->error_status < 0)
		c->error_status = EMU_ERR_WRITE;

	for (unsigned i = 0; i < d->nalts; i++) {
		d->alts[i].mem = malloc(d->alts[i].size ? d->alts[i].size : 1);
		if (!d->alts[i].mem) {
			set_err(err, errlen, "out of memory");
			goto fail;
		}
		memset(d->alts[i].mem, 0xFF, d->alts[i].size);
	}
	d->pend_data = malloc(d->xfer);
	if (!d->pend_data) {
		set_err(err, errlen, "out of memory");
		goto fail;
	}
	if (c->flash_in[0] && load_file(c->flash_in, d->alts[0].mem, d->alts[0].size, err, errlen))
		goto fail;
	d->version = (uint16_t)(c->version >= 0 ? c->version : 0x0100);
	if (c->kind == EMU_KIND_ST7 && (c->version >= 0 || !c->flash_in[0])) {
		struct alt *a = &d->alts[0];
		a->mem[a->size - 2] = (uint8_t)(d->version >> 8);
		a->mem[a->size - 1] = (uint8_t)d->version;
	}
	/* version= stamps the word as on the ST7; without it the memory decides (erased:
	 * 0xFFFF), as for a real application that keeps its version in flash. */
	if (d->version_off >= 0 && c->version >= 0) {
		d->alts[0].mem[d->version_off] = (uint8_t)d->version;
		d->alts[0].mem[d->version_off + 1] = (uint8_t)(d->version >> 8);
	}
	d->app_valid = c->app_valid >= 0 ? c->app_valid : c->mode == EMU_MODE_RUNTIME;
	d->present = true;
	d->enumeration = 1;
	boot(d, c->mode);
	if (c->plug_ms >= 0 || c->plug_ms == EMU_PLUG_SIGNAL) {
		/* plug-ms: powered but not on the bus; it appears like a power cycle's return,
		 * in its power-on mode, without counting as a re-enumeration. */
		d->enumeration = 0;
		d->first_plug = true;
		leave_bus(d, now, c->mode, c->plug_ms >= 0 ? ms_us(c->plug_ms) : EMU_NEVER, false);
	}
	return d;
fail:
	emu_dev_free(d);
	return NULL;
}

void emu_dev_free(struct emu_dev *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < EMU_MAX_ALTS; i++)
		free(d->alts[i].mem);
	free(d->pend_data);
	free(d);
}
