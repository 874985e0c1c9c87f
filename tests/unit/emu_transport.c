/* SPDX-License-Identifier: MIT */
#include "emu_transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUS 1
#define DT_DEVICE 1
#define DT_CONFIG 2
#define DT_STRING 3
#define DT_INTERFACE 4
#define DT_ENDPOINT 5

struct slot {
	struct emu_dev *dev;
	uint32_t seen_enum; /* the enumeration `address` belongs to */
	uint8_t address;    /* 0 while absent */
	uint8_t port;       /* on bus 1 */
	uint8_t next_port;  /* emu_transport_move(): where it reappears next, 0: same */
};

struct emu_transport {
	struct fake_clock *clock;
	struct slot slot[EMU_TRANSPORT_MAX_DEVS];
	unsigned n;
	uint8_t last_address;
	int fail; /* 0, or what every call answers after emu_transport_fail() */
	emu_transport_hook hook;
	void *hook_arg;
	bool os_cache; /* emu_transport_set_os_cache() */
	struct emu_transport_counts c;
};

struct st7_usb_handle {
	unsigned dev;
	uint32_t enumeration;
};

/* After emu_transport_fail(): every call answers this. */
static int stopped(struct emu_transport *t, struct st7_diag *d)
{
	t->c.failed_calls++;
	return st7_diag_set(d, t->fail, "the run was stopped");
}

/* ---- Time and presence ------------------------------------------------------------ */

static uint64_t now_us(const struct emu_transport *t)
{
	return fake_clock_us(t->clock);
}

static bool address_used(const struct emu_transport *t, uint8_t a)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->slot[i].address == a)
			return true;
	return false;
}

/* The devices catch up with the clock; one that (re)appeared gets a new device number,
 * as Linux gives a new node to a device whose descriptors changed. */
static void sync_devs(struct emu_transport *t)
{
	for (unsigned i = 0; i < t->n; i++) {
		struct slot *s = &t->slot[i];
		emu_dev_tick(s->dev, now_us(t));
		if (!emu_dev_present(s->dev)) {
			s->address = 0;
			continue;
		}
		if (s->address && s->seen_enum == emu_dev_enumeration(s->dev))
			continue;
		s->address = 0;
		do /* the root hub has 1 */
			t->last_address =
			        t->last_address >= 127 ? 2 : (uint8_t)(t->last_address + 1);
		while (address_used(t, t->last_address));
		s->address = t->last_address;
		s->seen_enum = emu_dev_enumeration(s->dev);
		if (s->next_port) {
			s->port = s->next_port;
			s->next_port = 0;
		}
	}
}

static bool handle_live(struct emu_transport *t, const struct st7_usb_handle *h)
{
	sync_devs(t);
	const struct slot *s = &t->slot[h->dev];
	return emu_dev_present(s->dev) && emu_dev_enumeration(s->dev) == h->enumeration;
}

void emu_transport_run_for(struct emu_transport *t, uint32_t ms)
{
	fake_clock_advance_us(t->clock, (uint64_t)ms * 1000);
	sync_devs(t);
}

/* ---- Control transfers -------------------------------------------------------------- */

static int xfer(struct emu_transport *t, unsigned i, const uint8_t setup[8], uint8_t *data,
                uint16_t len, unsigned timeout_ms, size_t *actual)
{
	struct emu_dev *dev = t->slot[i].dev;
	struct emu_xfer x;
	enum emu_hook_verdict v = EMU_HOOK_PASS;
	if (actual)
		*actual = 0;
	if (t->hook)
		v = t->hook(t->hook_arg, i, setup, (setup[0] & 0x80) ? NULL : data, len);
	if (v == EMU_HOOK_STALL)
		return ST7_ERR_STALL;
	if (v == EMU_HOOK_SILENT) {
		fake_clock_advance_us(t->clock, (uint64_t)timeout_ms * 1000);
		return ST7_ERR_TIMEOUT;
	}
	emu_dev_control(dev, now_us(t), setup, data, len, &x);
	if (x.status != EMU_XFER_GONE && x.status != EMU_XFER_INVALID) {
		uint8_t type = setup[0] & 0x60;
		int req = EMU_REQ_OTHER;
		if (type == 0x20 && (setup[0] & 0x1F) == 1 && setup[1] <= 6)
			req = EMU_REQ_DETACH + setup[1];
		else if (type == 0 && setup[1] == 6)
			req = EMU_REQ_GET_DESCRIPTOR;
		t->c.control++;
		t->c.requests[req]++;
		t->c.dev_control[i]++;
		t->c.dev_get_descriptor[i] += req == EMU_REQ_GET_DESCRIPTOR;
		t->c.set_interface += type == 0 && setup[1] == 11;
	}
	fake_clock_advance_us(t->clock, x.bus_us);
	switch (x.status) {
	case EMU_XFER_OK:
		if (actual)
			*actual = x.actual;
		return ST7_OK;
	case EMU_XFER_STALL:
		return ST7_ERR_STALL;
	case EMU_XFER_NO_ANSWER:
		fake_clock_advance_us(t->clock, (uint64_t)timeout_ms * 1000);
		return ST7_ERR_TIMEOUT;
	case EMU_XFER_GONE:
		return ST7_ERR_NO_DEVICE;
	case EMU_XFER_INVALID:
		break;
	}
	return ST7_ERR_USB;
}

static void setup_packet(uint8_t s[8], uint8_t rt, uint8_t req, uint16_t value, uint16_t index,
                         uint16_t len)
{
	s[0] = rt;
	s[1] = req;
	s[2] = (uint8_t)value;
	s[3] = (uint8_t)(value >> 8);
	s[4] = (uint8_t)index;
	s[5] = (uint8_t)(index >> 8);
	s[6] = (uint8_t)len;
	s[7] = (uint8_t)(len >> 8);
}

static int get_descriptor(struct emu_transport *t, unsigned i, uint8_t type, uint8_t index,
                          uint16_t lang, uint8_t *buf, uint16_t len, size_t *actual)
{
	uint8_t s[8];
	setup_packet(s, 0x80, 6, (uint16_t)(type << 8 | index), lang, len);
	return xfer(t, i, s, buf, len, 1000, actual);
}

/* ---- Scan: descriptors as libusb parses them ---------------------------------------- */

static void note(struct st7_usb_found *f, const char *msg)
{
	if (!f->problem[0])
		snprintf(f->problem, sizeof(f->problem), "%s: %s", f->node, msg);
}

static void *dup_bytes(const uint8_t *p, size_t n)
{
	void *q = n ? malloc(n) : NULL;
	if (q)
		memcpy(q, p, n);
	return q;
}

/* Class descriptors from `pos` up to the next interface or endpoint descriptor (or one
 * that does not fit, which libusb drops); their length. */
static size_t extra_len(const uint8_t *c, size_t total, size_t pos)
{
	size_t end = pos;
	while (end + 2 <= total && c[end] >= 2 && end + c[end] <= total &&
	       c[end + 1] != DT_INTERFACE && c[end + 1] != DT_ENDPOINT)
		end += c[end];
	return end - pos;
}

/* libusb 1.0.26's view of a configuration: interfaces with their class descriptors as
 * `extra`, class descriptors before the first interface as the configuration's. */
static int parse_config(struct st7_usb_found *f, const uint8_t *c, size_t avail)
{
	if (avail < 9 || c[0] < 9 || c[1] != DT_CONFIG) {
		f->config_err = ST7_ERR_USB;
		note(f, "cannot parse the configuration descriptor");
		return ST7_OK;
	}
	size_t total = (size_t)(c[2] | c[3] << 8);
	if (total > avail)
		total = avail; /* libusb warns and parses what arrived */
	size_t n = 0;
	for (size_t p = c[0]; p + 2 <= total && c[p] >= 2; p += c[p])
		n += c[p + 1] == DT_INTERFACE && c[p] >= 9 && p + 9 <= total;
	f->alts = calloc(n ? n : 1, sizeof(*f->alts));
	if (!f->alts)
		return ST7_ERR_NOMEM;
	size_t pos = c[0], x = extra_len(c, total, pos);
	f->config_extra = dup_bytes(c + pos, x);
	f->config_extra_len = f->config_extra ? x : 0;
	pos += x;
	while (pos + 2 <= total && c[pos] >= 2 && pos + c[pos] <= total) {
		const uint8_t *d = c + pos;
		pos += d[0];
		if (d[1] != DT_INTERFACE || d[0] < 9) {
			pos += extra_len(c, total, pos); /* an endpoint's own extras */
			continue;
		}
		struct st7_usb_found_alt *a = &f->alts[f->n_alts++];
		a->desc.number = d[2];
		a->desc.alt = d[3];
		a->desc.cls = d[5];
		a->desc.subclass = d[6];
		a->desc.protocol = d[7];
		a->desc.i_interface = d[8];
		x = extra_len(c, total, pos);
		a->extra = dup_bytes(c + pos, x);
		if (x && !a->extra)
			return ST7_ERR_NOMEM;
		a->desc.extra = a->extra;
		a->desc.extra_len = a->extra ? x : 0;
		pos += x;
	}
	return ST7_OK;
}

/* One device read during a scan, as usb_libusb.c reads it: its language ID once (USB 2.0
 * section 9.6.7), and, when the test turned the OS's cache on, what the OS read at
 * enumeration (st7dfu-emu's sysfs holds the serial and the raw descriptors) without a
 * control transfer. */
struct reader {
	bool langid_tried, langid_ok;
	uint16_t langid;
};

static bool reader_langid(struct emu_transport *t, unsigned i, struct reader *rd)
{
	uint8_t buf[255];
	size_t n = 0;
	if (!rd->langid_tried)
		rd->langid_ok =
		        get_descriptor(t, i, DT_STRING, 0, 0, buf, sizeof(buf), &n) == ST7_OK &&
		        st7_usb_langid_decode(buf, n, &rd->langid) == ST7_OK;
	rd->langid_tried = true;
	return rd->langid_ok;
}

static void read_string(struct emu_transport *t, unsigned i, struct reader *rd, uint8_t index,
                        char *out, size_t cap)
{
	uint8_t buf[255];
	size_t n = 0;
	out[0] = '\0';
	if (!index || !reader_langid(t, i, rd) ||
	    get_descriptor(t, i, DT_STRING, index, rd->langid, buf, sizeof(buf), &n))
		return;
	st7_usb_string_decode(buf, n, out, cap);
}

static void check_raw(struct st7_usb_found *f, const uint8_t *raw, size_t n)
{
	struct st7_diag d = { "" };
	f->raw_config_err = st7_usb_config_check(raw, n, &d);
	if (f->raw_config_err)
		note(f, d.msg);
}

static void read_more(struct emu_transport *t, unsigned i, struct reader *rd,
                      struct st7_usb_found *f, unsigned bits, bool cached_only)
{
	bool cache = t->os_cache;
	if (bits & ST7_USB_READ_CHECK) {
		uint8_t raw[4096];
		size_t n = 0, len;
		const uint8_t *desc = emu_dev_descriptors(t->slot[i].dev, &len);
		if (cache && f->dev.num_configurations == 1)
			check_raw(f, desc + 18, len - 18);
		else if (!cached_only &&
		         get_descriptor(t, i, DT_CONFIG, 0, 0, raw, sizeof(raw), &n) == ST7_OK)
			check_raw(f, raw, n);
	}
	if ((bits & ST7_USB_READ_SERIAL) && f->dev.i_serial) {
		struct emu_info in;
		emu_dev_info(t->slot[i].dev, &in);
		if (cache)
			st7_usb_string_from_utf8(in.serial, strlen(in.serial), f->serial,
			                         sizeof(f->serial));
		else if (!cached_only)
			read_string(t, i, rd, f->dev.i_serial, f->serial, sizeof(f->serial));
	}
	if ((bits & ST7_USB_READ_PRODUCT) && !cached_only) {
		read_string(t, i, rd, f->dev.i_manufacturer, f->manufacturer,
		            sizeof(f->manufacturer));
		read_string(t, i, rd, f->dev.i_product, f->product, sizeof(f->product));
	}
	if ((bits & ST7_USB_READ_NAMES) && !cached_only)
		for (size_t k = 0; k < f->n_alts; k++)
			if (st7_usb_alt_is_dfu(&f->alts[k]))
				read_string(t, i, rd, f->alts[k].desc.i_interface, f->alts[k].name,
				            sizeof(f->alts[k].name));
	f->read |= bits;
}

static int scan_one(struct emu_transport *t, unsigned i, struct st7_usb_found *f,
                    unsigned (*want)(void *, const struct st7_usb_found *), void *arg)
{
	struct emu_info in;
	size_t len;
	const uint8_t *desc = emu_dev_descriptors(t->slot[i].dev, &len);
	struct st7_diag d = { "" };
	emu_dev_info(t->slot[i].dev, &in);
	f->bus = BUS;
	f->address = t->slot[i].address;
	f->ports[0] = t->slot[i].port;
	f->n_ports = 1;
	snprintf(f->path, sizeof(f->path), "%u-%u", BUS, t->slot[i].port);
	snprintf(f->node, sizeof(f->node), "/dev/bus/usb/%03u/%03u", BUS, f->address);
	f->speed = in.full_speed ? ST7_USB_SPEED_FULL : ST7_USB_SPEED_LOW;
	f->dev_ok = st7_usb_device_desc_parse(desc, len, &f->dev, &d) == ST7_OK;
	if (!f->dev_ok) {
		note(f, "malformed device descriptor");
		return ST7_OK;
	}
	int ret = parse_config(f, desc + 18, len - 18);
	struct reader rd = { 0 };
	for (int round = 0; ret == ST7_OK && !f->config_err && want && round < 8; round++) {
		unsigned w = want(arg, f);
		unsigned bits = w & ST7_USB_READ_ALL & ~f->read;
		if (!bits)
			break;
		read_more(t, i, &rd, f, bits, (w & ST7_USB_READ_CACHED) != 0);
	}
	return ret;
}

static int emu_scan_for(void *impl, unsigned (*want)(void *, const struct st7_usb_found *),
                        void *arg, struct st7_usb_found **out, size_t *n, struct st7_diag *d)
{
	struct emu_transport *t = impl;
	*out = NULL;
	*n = 0;
	if (t->fail)
		return stopped(t, d);
	t->c.scans++;
	sync_devs(t);
	struct st7_usb_found *list = calloc(t->n ? t->n : 1, sizeof(*list));
	size_t k = 0;
	if (!list)
		return ST7_ERR_NOMEM;
	for (unsigned i = 0; i < t->n; i++) {
		if (!t->slot[i].address)
			continue;
		int ret = scan_one(t, i, &list[k++], want, arg);
		if (ret) {
			st7_usb_found_free(list, k);
			return ret;
		}
	}
	*out = list;
	*n = k;
	return ST7_OK;
}

/* `list`: what it shows, for the devices `want_strings` picks (as usb_libusb.c). */
struct want_bool {
	bool (*fn)(const struct st7_usb_found *);
};

static unsigned want_list(void *arg, const struct st7_usb_found *f)
{
	const struct want_bool *w = arg;
	return w->fn && w->fn(f) ? ST7_USB_READ_LIST : 0;
}

static int emu_scan(void *impl, bool (*want_strings)(const struct st7_usb_found *),
                    struct st7_usb_found **out, size_t *n, struct st7_diag *d)
{
	struct want_bool w = { want_strings };
	return emu_scan_for(impl, want_list, &w, out, n, d);
}

/* ---- Open, claim, control, reset, wait ---------------------------------------------- */

static int emu_open(void *impl, const struct st7_usb_found *f, struct st7_usb_handle **h,
                    struct st7_diag *d)
{
	struct emu_transport *t = impl;
	*h = NULL;
	if (t->fail)
		return stopped(t, d);
	t->c.opens++;
	sync_devs(t);
	for (unsigned i = 0; i < t->n; i++) {
		if (f->bus != BUS || !t->slot[i].address || t->slot[i].address != f->address)
			continue;
		*h = calloc(1, sizeof(**h));
		if (!*h)
			return ST7_ERR_NOMEM;
		(*h)->dev = i;
		(*h)->enumeration = emu_dev_enumeration(t->slot[i].dev);
		return ST7_OK;
	}
	return st7_diag_set(d, ST7_ERR_NO_DEVICE, "%s (%s) is no longer there", f->path, f->node);
}

static void emu_close(void *impl, struct st7_usb_handle *h)
{
	(void)impl;
	free(h);
}

static int emu_claim(void *impl, struct st7_usb_handle *h, uint8_t interface, uint8_t alt,
                     struct st7_diag *d)
{
	struct emu_transport *t = impl;
	if (t->fail)
		return stopped(t, d);
	t->c.claims++;
	if (!handle_live(t, h))
		return st7_diag_set(d, ST7_ERR_NO_DEVICE, "cannot claim interface %u: gone",
		                    interface);
	struct emu_info in;
	emu_dev_info(t->slot[h->dev].dev, &in);
	if (interface >= in.num_interfaces)
		return st7_diag_set(d, ST7_ERR_NO_DEVICE, "cannot claim interface %u: none",
		                    interface);
	/* Like usb_libusb.c: SET_INTERFACE for another alt than 0, or on an interface with
	 * several (the descriptors say). */
	size_t len, alts = 0;
	const uint8_t *c = emu_dev_descriptors(t->slot[h->dev].dev, &len);
	for (size_t p = 18; p + 9 <= len && c[p] >= 2; p += c[p])
		alts += c[p + 1] == DT_INTERFACE && c[p + 2] == interface;
	if (alt == 0 && alts < 2)
		return ST7_OK;
	uint8_t s[8];
	setup_packet(s, 0x01, 11, alt, interface, 0);
	int ret = xfer(t, h->dev, s, NULL, 0, 1000, NULL);
	if (ret)
		return st7_diag_set(d, ret == ST7_ERR_NO_DEVICE ? ret : ST7_ERR_USB,
		                    "cannot select alt setting %u: %s", alt, st7_strerror(ret));
	return ST7_OK;
}

static int emu_control(void *impl, struct st7_usb_handle *h, uint8_t request_type, uint8_t request,
                       uint16_t value, uint16_t index, uint8_t *data, uint16_t len,
                       unsigned timeout_ms, size_t *actual)
{
	struct emu_transport *t = impl;
	uint8_t s[8];
	if (actual)
		*actual = 0;
	if (t->fail)
		return stopped(t, NULL);
	if (!handle_live(t, h))
		return ST7_ERR_NO_DEVICE;
	setup_packet(s, request_type, request, value, index, len);
	return xfer(t, h->dev, s, data, len, timeout_ms, actual);
}

static int emu_reset(void *impl, struct st7_usb_handle *h)
{
	struct emu_transport *t = impl;
	if (t->fail)
		return stopped(t, NULL);
	if (!handle_live(t, h))
		return ST7_ERR_NO_DEVICE;
	t->c.resets++;
	bool stays = emu_dev_usb_reset(t->slot[h->dev].dev, now_us(t));
	sync_devs(t);
	return stays ? ST7_OK : ST7_ERR_NO_DEVICE;
}

/* Hotplug: wake at the first thing a device does by itself, or after timeout_ms. */
static void emu_wait_change(void *impl, unsigned timeout_ms)
{
	struct emu_transport *t = impl;
	uint64_t now = now_us(t), until = now + (uint64_t)timeout_ms * 1000;
	t->c.waits++;
	if (!t->fail)
		for (unsigned i = 0; i < t->n; i++) {
			uint64_t dl = emu_dev_next_deadline(t->slot[i].dev);
			if (dl > now && dl < until)
				until = dl;
		}
	if (until <= now)
		until = now + 1;
	fake_clock_advance_us(t->clock, until - now);
	sync_devs(t);
}

static void emu_destroy(void *impl)
{
	struct emu_transport *t = impl;
	for (unsigned i = 0; i < t->n; i++)
		emu_dev_free(t->slot[i].dev);
	free(t);
}

static const struct st7_usb_ops emu_ops = {
	.name = "emu",
	.scan = emu_scan,
	.scan_for = emu_scan_for,
	.open = emu_open,
	.close = emu_close,
	.claim = emu_claim,
	.control = emu_control,
	.reset = emu_reset,
	.wait_change = emu_wait_change,
	.destroy = emu_destroy,
};

/* ---- For tests ---------------------------------------------------------------------- */

int emu_transport_init(struct st7_usb *u, struct fake_clock *clock, struct emu_transport **out)
{
	struct emu_transport *t = calloc(1, sizeof(*t));
	u->ops = NULL;
	u->impl = NULL;
	*out = t;
	if (!t)
		return ST7_ERR_NOMEM;
	t->clock = clock;
	t->last_address = 1;
	u->ops = &emu_ops;
	u->impl = t;
	return ST7_OK;
}

struct emu_dev *emu_transport_add(struct emu_transport *t, const char *spec, char *err,
                                  size_t errlen)
{
	struct emu_config cfg;
	if (t->n == EMU_TRANSPORT_MAX_DEVS) {
		snprintf(err, errlen, "more than %d devices", EMU_TRANSPORT_MAX_DEVS);
		return NULL;
	}
	emu_config_default(&cfg, t->n);
	if (emu_config_parse(&cfg, spec, err, errlen))
		return NULL;
	struct emu_dev *d = emu_dev_new(&cfg, now_us(t), err, errlen);
	if (!d)
		return NULL;
	t->slot[t->n] = (struct slot){ d, 0, 0, (uint8_t)(t->n + 1), 0 };
	t->n++;
	sync_devs(t);
	return d;
}

void emu_transport_move(struct emu_transport *t, unsigned i, uint8_t port)
{
	if (i < t->n)
		t->slot[i].next_port = port;
}

struct emu_dev *emu_transport_dev(struct emu_transport *t, unsigned i)
{
	return i < t->n ? t->slot[i].dev : NULL;
}

unsigned emu_transport_n_devs(const struct emu_transport *t)
{
	return t->n;
}

uint64_t emu_transport_now_us(const struct emu_transport *t)
{
	return now_us(t);
}

void emu_transport_set_hook(struct emu_transport *t, emu_transport_hook fn, void *arg)
{
	t->hook = fn;
	t->hook_arg = arg;
}

void emu_transport_set_os_cache(struct emu_transport *t, bool on)
{
	t->os_cache = on;
}

void emu_transport_fail(struct emu_transport *t, int err)
{
	t->fail = err;
}

const struct emu_transport_counts *emu_transport_counts(const struct emu_transport *t)
{
	return &t->c;
}

void emu_transport_reset_counts(struct emu_transport *t)
{
	memset(&t->c, 0, sizeof(t->c));
}
