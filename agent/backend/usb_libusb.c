/* SPDX-License-Identifier: MIT */
/*
 * The libusb-1.0 backend of the USB transport. The only file that includes libusb.h.
 * Descriptor parsing is libusb's own (libusb_get_config_descriptor); class-specific
 * bytes it leaves in `extra` go to the pure DFU descriptor code.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <fcntl.h>
#include <libusb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usb_transport.h"

struct libusb_impl {
	libusb_context *ctx;
	libusb_hotplug_callback_handle hotplug;
	bool has_hotplug;
	int changed; /* set by the hotplug callback, cleared by wait_change */
	int event;   /* set by the hotplug callback, cleared when wait_event reports it */
};

struct st7_usb_handle {
	libusb_device_handle *h;
	int claimed; /* interface number, or -1 */
};

static int map_err(int e)
{
	switch (e) {
	case LIBUSB_SUCCESS:
		return ST7_OK;
	case LIBUSB_ERROR_NO_DEVICE:
	case LIBUSB_ERROR_NOT_FOUND:
		return ST7_ERR_NO_DEVICE;
	case LIBUSB_ERROR_ACCESS:
		return ST7_ERR_ACCESS;
	case LIBUSB_ERROR_TIMEOUT:
		return ST7_ERR_TIMEOUT;
	case LIBUSB_ERROR_PIPE:
		return ST7_ERR_STALL;
	case LIBUSB_ERROR_BUSY:
		return ST7_ERR_BUSY;
	case LIBUSB_ERROR_NO_MEM:
		return ST7_ERR_NOMEM;
	case LIBUSB_ERROR_IO:
	case LIBUSB_ERROR_OVERFLOW:
		return ST7_ERR_USB;
	default:
		return ST7_ERR_USB;
	}
}

static enum st7_usb_speed map_speed(int s)
{
	switch (s) {
	case LIBUSB_SPEED_LOW:
		return ST7_USB_SPEED_LOW;
	case LIBUSB_SPEED_FULL:
		return ST7_USB_SPEED_FULL;
	case LIBUSB_SPEED_HIGH:
		return ST7_USB_SPEED_HIGH;
	case LIBUSB_SPEED_SUPER:
	case LIBUSB_SPEED_SUPER_PLUS:
		return ST7_USB_SPEED_SUPER;
	default:
		return ST7_USB_SPEED_UNKNOWN;
	}
}

/* Record the first problem met with a device; later ones are usually consequences. */
static void note(struct st7_usb_found *f, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void note(struct st7_usb_found *f, const char *fmt, ...)
{
	va_list ap;
	if (f->problem[0])
		return;
	va_start(ap, fmt);
	vsnprintf(f->problem, sizeof(f->problem), fmt, ap);
	va_end(ap);
}

static void *dup_bytes(const unsigned char *p, int len)
{
	if (!p || len <= 0)
		return NULL;
	void *q = malloc((size_t)len);
	if (q)
		memcpy(q, p, (size_t)len);
	return q;
}

/* Copy libusb's parsed configuration into the pure layer's terms. */
static int take_config(struct st7_usb_found *f, const struct libusb_config_descriptor *cfg)
{
	size_t n = 0;
	for (int i = 0; i < cfg->bNumInterfaces; i++)
		n += (size_t)(cfg->interface[i].num_altsetting > 0
		                      ? cfg->interface[i].num_altsetting
		                      : 0);
	f->alts = calloc(n ? n : 1, sizeof(*f->alts));
	if (!f->alts)
		return ST7_ERR_NOMEM;
	for (int i = 0; i < cfg->bNumInterfaces; i++) {
		const struct libusb_interface *itf = &cfg->interface[i];
		for (int k = 0; k < itf->num_altsetting; k++) {
			const struct libusb_interface_descriptor *a = &itf->altsetting[k];
			struct st7_usb_found_alt *fa = &f->alts[f->n_alts++];
			fa->desc.number = a->bInterfaceNumber;
			fa->desc.alt = a->bAlternateSetting;
			fa->desc.cls = a->bInterfaceClass;
			fa->desc.subclass = a->bInterfaceSubClass;
			fa->desc.protocol = a->bInterfaceProtocol;
			fa->desc.i_interface = a->iInterface;
			fa->extra = dup_bytes(a->extra, a->extra_length);
			if (a->extra_length > 0 && !fa->extra)
				return ST7_ERR_NOMEM;
			fa->desc.extra = fa->extra;
			fa->desc.extra_len = fa->extra ? (size_t)a->extra_length : 0;
		}
	}
	f->config_extra = dup_bytes(cfg->extra, cfg->extra_length);
	f->config_extra_len = f->config_extra ? (size_t)cfg->extra_length : 0;
	return ST7_OK;
}

/*
 * One device being read during a scan. Every string costs the device a GET_DESCRIPTOR
 * control transfer (USB 2.0 section 9.6.7), and libusb's ASCII reader adds one for the
 * language ID table before each; here the device is opened on first need and its
 * language ID read once. What Linux already read at enumeration (the serial,
 * manufacturer and product strings, the raw descriptors) is taken from sysfs, which
 * costs the device nothing; elsewhere, or when sysfs lacks it, the device is asked.
 */
struct reader {
	libusb_device *dev;
	libusb_device_handle *h;
	bool tried_open;
	bool langid_tried, langid_ok;
	uint16_t langid;
	bool sysfs; /* sysdir is this very device: same bus and device number */
	char sysdir[64];
};

/* Attribute `attr` of the device's sysfs directory; at most `cap` bytes. */
static int sys_read(const struct reader *r, const char *attr, void *buf, size_t cap, size_t *n)
{
	char p[96];
	size_t got = 0;
	int ret = ST7_OK;
	*n = 0;
	int w = snprintf(p, sizeof(p), "%s/%s", r->sysdir, attr);
	if (w < 0 || (size_t)w >= sizeof(p))
		return ST7_ERR_RANGE;
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ST7_ERR_IO;
	while (got < cap) {
		ssize_t k = read(fd, (char *)buf + got, cap - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			ret = ST7_ERR_IO;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	*n = got;
	return ret;
}

static bool sys_number_is(const struct reader *r, const char *attr, unsigned want)
{
	char b[16];
	size_t n;
	if (sys_read(r, attr, b, sizeof(b) - 1, &n) || !n)
		return false;
	b[n] = '\0';
	char *end;
	unsigned long v = strtoul(b, &end, 10);
	return end != b && (*end == '\n' || *end == '\0') && v == want;
}

/* Is the sysfs directory (still) the device libusb listed? A re-enumeration gives the
 * port a new device number. */
static bool sys_is(const struct reader *r, const struct st7_usb_found *f)
{
	return sys_number_is(r, "busnum", f->bus) && sys_number_is(r, "devnum", f->address);
}

static void reader_init(struct reader *r, libusb_device *dev, const struct st7_usb_found *f)
{
	memset(r, 0, sizeof(*r));
	r->dev = dev;
	/* Linux names a device's directory by its port path (root hubs excepted). */
	int w = snprintf(r->sysdir, sizeof(r->sysdir), "/sys/bus/usb/devices/%s", f->path);
	r->sysfs = f->n_ports > 0 && w > 0 && (size_t)w < sizeof(r->sysdir) && sys_is(r, f);
}

static void reader_close(struct reader *r)
{
	if (r->h)
		libusb_close(r->h);
	r->h = NULL;
}

static bool reader_open(struct reader *r, struct st7_usb_found *f)
{
	if (r->h || r->tried_open)
		return r->h != NULL;
	r->tried_open = true;
	int e = libusb_open(r->dev, &r->h);
	if (e) {
		r->h = NULL;
		f->open_err = map_err(e);
		if (e == LIBUSB_ERROR_ACCESS)
			note(f,
			     "cannot open %s: permission denied; run as root or install "
			     "st7dfu's udev rule (%s)",
			     f->node, "init/udev/70-st7dfu.rules");
		else
			note(f, "cannot open %s: %s", f->node, libusb_strerror(e));
		return false;
	}
	return true;
}

/* The first language ID, once per open handle (a device without one has no strings). */
static bool reader_langid(struct reader *r, struct st7_usb_found *f)
{
	if (r->langid_tried)
		return r->langid_ok;
	if (!reader_open(r, f))
		return false;
	r->langid_tried = true;
	unsigned char b[255]; /* a string descriptor's most; 4 would cut a longer table */
	int n = libusb_get_string_descriptor(r->h, 0, 0, b, sizeof(b));
	r->langid_ok = n >= 0 && st7_usb_langid_decode(b, (size_t)n, &r->langid) == ST7_OK;
	return r->langid_ok;
}

/* String `index` from the device; "" when it has none or answers nonsense. */
static void read_string(struct reader *r, struct st7_usb_found *f, uint8_t index, char *out,
                        size_t cap)
{
	unsigned char b[255];
	out[0] = '\0';
	if (!index || !reader_langid(r, f))
		return;
	int n = libusb_get_string_descriptor(r->h, index, r->langid, b, sizeof(b));
	if (n >= 0)
		st7_usb_string_decode(b, (size_t)n, out, cap);
}

/* The string the kernel cached in sysfs attribute `attr` (UTF-8, one line). */
static bool cached_string(const struct reader *r, const struct st7_usb_found *f, const char *attr,
                          char *out, size_t cap)
{
	char b[512]; /* 126 UTF-16 units at most, 3 UTF-8 bytes each */
	size_t n;
	if (!r->sysfs || sys_read(r, attr, b, sizeof(b), &n) || n == sizeof(b) || !sys_is(r, f))
		return false;
	if (n && b[n - 1] == '\n')
		n--;
	st7_usb_string_from_utf8(b, n, out, cap);
	return true;
}

static void string_field(struct reader *r, struct st7_usb_found *f, uint8_t index, const char *attr,
                         bool cached_only, char *out, size_t cap)
{
	out[0] = '\0';
	if (index && !cached_string(r, f, attr, out, cap) && !cached_only)
		read_string(r, f, index, out, cap);
}

static void check_raw(struct st7_usb_found *f, const unsigned char *raw, size_t n)
{
	struct st7_diag d = { "" };
	f->raw_config_err = st7_usb_config_check(raw, n, &d);
	if (f->raw_config_err) {
		st7_diag_prefix(&d, 0, "%s", f->node);
		memcpy(f->problem, d.msg, sizeof(f->problem));
	}
}

/* The raw configuration, to name what libusb's lenient parser papered over. sysfs
 * `descriptors` holds what the kernel read at enumeration, which is also what libusb
 * parsed: the device descriptor, then each configuration. */
static void check_config(struct reader *r, struct st7_usb_found *f, bool cached_only)
{
	unsigned char raw[18 + 4096];
	size_t n = 0;
	if (r->sysfs && f->dev.num_configurations == 1 &&
	    sys_read(r, "descriptors", raw, sizeof(raw), &n) == ST7_OK && n >= 18 && raw[0] == 18 &&
	    raw[1] == LIBUSB_DT_DEVICE && sys_is(r, f)) {
		check_raw(f, raw + 18, n - 18);
		return;
	}
	if (cached_only || !reader_open(r, f))
		return;
	int k = libusb_get_descriptor(r->h, LIBUSB_DT_CONFIG, 0, raw, 4096);
	if (k >= 0)
		check_raw(f, raw, (size_t)k);
}

static void read_more(struct reader *r, struct st7_usb_found *f, unsigned bits, bool cached_only)
{
	/* What `list` shows of a device it cannot open is its descriptors and the reason,
	 * not strings from elsewhere. */
	if ((bits & ST7_USB_READ_OPEN) && !cached_only && !reader_open(r, f)) {
		f->read |= bits;
		return;
	}
	if (bits & ST7_USB_READ_CHECK)
		check_config(r, f, cached_only);
	if (bits & ST7_USB_READ_SERIAL)
		string_field(r, f, f->dev.i_serial, "serial", cached_only, f->serial,
		             sizeof(f->serial));
	if (bits & ST7_USB_READ_PRODUCT) {
		string_field(r, f, f->dev.i_manufacturer, "manufacturer", cached_only,
		             f->manufacturer, sizeof(f->manufacturer));
		string_field(r, f, f->dev.i_product, "product", cached_only, f->product,
		             sizeof(f->product));
	}
	/* Linux caches only the current alt setting's name: these come from the device. */
	if ((bits & ST7_USB_READ_NAMES) && !cached_only)
		for (size_t i = 0; i < f->n_alts; i++)
			if (st7_usb_alt_is_dfu(&f->alts[i]))
				read_string(r, f, f->alts[i].desc.i_interface, f->alts[i].name,
				            sizeof(f->alts[i].name));
	f->read |= bits;
}

/* Ask `want` until it asks for nothing new (each round adds a bit: a few rounds). */
static void read_wanted(struct st7_usb_found *f, libusb_device *dev,
                        unsigned (*want)(void *, const struct st7_usb_found *), void *arg)
{
	struct reader r;
	bool ready = false;
	for (int round = 0; want && round < 8; round++) {
		unsigned w = want(arg, f);
		unsigned bits = w & ST7_USB_READ_ALL & ~f->read;
		if (!bits)
			break;
		if (!ready)
			reader_init(&r, dev, f);
		ready = true;
		read_more(&r, f, bits, (w & ST7_USB_READ_CACHED) != 0);
	}
	if (ready)
		reader_close(&r);
}

static int scan_one(struct st7_usb_found *f, libusb_device *dev,
                    unsigned (*want)(void *, const struct st7_usb_found *), void *arg)
{
	struct libusb_device_descriptor dd;
	struct libusb_config_descriptor *cfg = NULL;
	int e;

	f->bus = libusb_get_bus_number(dev);
	f->address = libusb_get_device_address(dev);
	f->speed = map_speed(libusb_get_device_speed(dev));
	snprintf(f->node, sizeof(f->node), "/dev/bus/usb/%03u/%03u", f->bus, f->address);
	int np = libusb_get_port_numbers(dev, f->ports, ST7_USB_MAX_PORTS);
	f->n_ports = np > 0 ? (uint8_t)np : 0;
	int w = snprintf(f->path, sizeof(f->path), "%u", f->bus);
	for (int i = 0; i < f->n_ports && w > 0 && (size_t)w < sizeof(f->path); i++)
		w += snprintf(f->path + w, sizeof(f->path) - (size_t)w, "%c%u", i ? '.' : '-',
		              f->ports[i]);

	if (libusb_get_device_descriptor(dev, &dd) != 0) {
		note(f, "%s: cannot read the device descriptor", f->node);
		return ST7_OK;
	}
	f->dev_ok = dd.bLength == 18 && dd.bDescriptorType == LIBUSB_DT_DEVICE;
	f->dev.bcd_usb = dd.bcdUSB;
	f->dev.device_class = dd.bDeviceClass;
	f->dev.device_subclass = dd.bDeviceSubClass;
	f->dev.device_protocol = dd.bDeviceProtocol;
	f->dev.max_packet_size0 = dd.bMaxPacketSize0;
	f->dev.id_vendor = dd.idVendor;
	f->dev.id_product = dd.idProduct;
	f->dev.bcd_device = dd.bcdDevice;
	f->dev.i_manufacturer = dd.iManufacturer;
	f->dev.i_product = dd.iProduct;
	f->dev.i_serial = dd.iSerialNumber;
	f->dev.num_configurations = dd.bNumConfigurations;
	if (!f->dev_ok)
		note(f, "%s: malformed device descriptor", f->node);

	e = libusb_get_active_config_descriptor(dev, &cfg);
	if (e == LIBUSB_ERROR_NOT_FOUND) /* unconfigured: describe the first one */
		e = libusb_get_config_descriptor(dev, 0, &cfg);
	if (e) {
		f->config_err = map_err(e);
		note(f, "%s: cannot parse the configuration descriptor (libusb: %s)", f->node,
		     libusb_strerror(e));
		return ST7_OK;
	}
	int ret = take_config(f, cfg);
	libusb_free_config_descriptor(cfg);
	if (ret)
		return ret;
	read_wanted(f, dev, want, arg);
	return ST7_OK;
}

static int libusb_scan_for(void *impl, unsigned (*want)(void *, const struct st7_usb_found *),
                           void *arg, struct st7_usb_found **out, size_t *n, struct st7_diag *d)
{
	struct libusb_impl *li = impl;
	libusb_device **list = NULL;
	struct st7_usb_found *found = NULL;
	int ret = ST7_ERR_USB;

	*out = NULL;
	*n = 0;
	ssize_t cnt = libusb_get_device_list(li->ctx, &list);
	if (cnt < 0)
		return st7_diag_set(d, map_err((int)cnt), "cannot list USB devices: %s",
		                    libusb_strerror((int)cnt));
	found = calloc(cnt ? (size_t)cnt : 1, sizeof(*found));
	if (!found) {
		ret = ST7_ERR_NOMEM;
		goto cleanup;
	}
	for (ssize_t i = 0; i < cnt; i++) {
		ret = scan_one(&found[i], list[i], want, arg);
		if (ret) {
			st7_usb_found_free(found, (size_t)i + 1);
			found = NULL;
			goto cleanup;
		}
	}
	*out = found;
	*n = (size_t)cnt;
	ret = ST7_OK;
cleanup:
	libusb_free_device_list(list, 1);
	return ret;
}

/* `list`: what it shows, for the devices `want_strings` picks. */
struct want_bool {
	bool (*fn)(const struct st7_usb_found *);
};

static unsigned want_list(void *arg, const struct st7_usb_found *f)
{
	const struct want_bool *w = arg;
	return w->fn && w->fn(f) ? ST7_USB_READ_LIST : 0;
}

static int libusb_scan(void *impl, bool (*want_strings)(const struct st7_usb_found *),
                       struct st7_usb_found **out, size_t *n, struct st7_diag *d)
{
	struct want_bool w = { want_strings };
	return libusb_scan_for(impl, want_list, &w, out, n, d);
}

static int libusb_open_found(void *impl, const struct st7_usb_found *f, struct st7_usb_handle **out,
                             struct st7_diag *d)
{
	struct libusb_impl *li = impl;
	libusb_device **list = NULL;
	libusb_device *dev = NULL;
	int ret = ST7_ERR_NO_DEVICE;

	*out = NULL;
	ssize_t cnt = libusb_get_device_list(li->ctx, &list);
	if (cnt < 0)
		return st7_diag_set(d, map_err((int)cnt), "cannot list USB devices: %s",
		                    libusb_strerror((int)cnt));
	for (ssize_t i = 0; i < cnt; i++)
		if (libusb_get_bus_number(list[i]) == f->bus &&
		    libusb_get_device_address(list[i]) == f->address)
			dev = list[i];
	if (!dev) {
		ret = st7_diag_set(d, ST7_ERR_NO_DEVICE, "%s (%s) is no longer there", f->path,
		                   f->node);
		goto cleanup;
	}
	struct st7_usb_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		ret = ST7_ERR_NOMEM;
		goto cleanup;
	}
	h->claimed = -1;
	int e = libusb_open(dev, &h->h);
	if (e) {
		free(h);
		ret = st7_diag_set(d, map_err(e), "cannot open %s: %s%s", f->node,
		                   libusb_strerror(e),
		                   e == LIBUSB_ERROR_ACCESS
		                           ? " (run as root or install init/udev/70-st7dfu.rules)"
		                           : "");
		goto cleanup;
	}
	*out = h;
	ret = ST7_OK;
cleanup:
	libusb_free_device_list(list, 1);
	return ret;
}

static void libusb_close_handle(void *impl, struct st7_usb_handle *h)
{
	(void)impl;
	if (!h)
		return;
	if (h->claimed >= 0)
		libusb_release_interface(h->h, h->claimed);
	libusb_close(h->h);
	free(h);
}

/* Does `interface` of the active configuration have more than one alternate setting? */
static bool several_alts(libusb_device_handle *h, uint8_t interface)
{
	struct libusb_config_descriptor *c = NULL;
	bool several = false;
	if (libusb_get_active_config_descriptor(libusb_get_device(h), &c) != 0 || !c)
		return false;
	for (uint8_t i = 0; i < c->bNumInterfaces; i++) {
		const struct libusb_interface *it = &c->interface[i];
		if (it->num_altsetting > 0 && it->altsetting[0].bInterfaceNumber == interface)
			several = it->num_altsetting > 1;
	}
	libusb_free_config_descriptor(c);
	return several;
}

static int libusb_claim(void *impl, struct st7_usb_handle *h, uint8_t interface, uint8_t alt,
                        struct st7_diag *d)
{
	(void)impl;
	/* A kernel driver (usbhid on the ST7's HID interface, say) is detached for the
	 * claim and re-attached on release. Not supported everywhere: ignore. */
	libusb_set_auto_detach_kernel_driver(h->h, 1);
	int e = libusb_claim_interface(h->h, interface);
	if (e)
		return st7_diag_set(d, map_err(e), "cannot claim interface %u: %s", interface,
		                    libusb_strerror(e));
	h->claimed = interface;
	/* SET_INTERFACE only when needed (some DFU 1.0 loaders stall it): for another alt
	 * than the first, or for the first on an interface that has several (DfuSe), whose
	 * device may still be on the alt an earlier claim chose. */
	if (alt != 0 || several_alts(h->h, interface)) {
		e = libusb_set_interface_alt_setting(h->h, interface, alt);
		if (e)
			return st7_diag_set(d, map_err(e), "cannot select alt setting %u: %s", alt,
			                    libusb_strerror(e));
	}
	return ST7_OK;
}

static int libusb_control(void *impl, struct st7_usb_handle *h, uint8_t request_type,
                          uint8_t request, uint16_t value, uint16_t index, uint8_t *data,
                          uint16_t len, unsigned timeout_ms, size_t *actual)
{
	(void)impl;
	int n = libusb_control_transfer(h->h, request_type, request, value, index, data, len,
	                                timeout_ms);
	if (actual)
		*actual = n > 0 ? (size_t)n : 0;
	return n < 0 ? map_err(n) : ST7_OK;
}

static int libusb_reset(void *impl, struct st7_usb_handle *h)
{
	(void)impl;
	int e = libusb_reset_device(h->h);
	/* NOT_FOUND: the device re-enumerated as something else, which is the point;
	 * the engine needs to know it left (its mode changed). */
	if (e == LIBUSB_ERROR_NOT_FOUND || e == LIBUSB_ERROR_NO_DEVICE)
		return ST7_ERR_NO_DEVICE;
	return map_err(e);
}

static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev,
                                  libusb_hotplug_event event, void *user)
{
	(void)ctx;
	(void)dev;
	(void)event;
	/* Runs in the thread handling libusb's events: ours (wait_change, wait_event, a
	 * synchronous transfer), so plain ints do. */
	((struct libusb_impl *)user)->changed = 1;
	((struct libusb_impl *)user)->event = 1;
	return 0; /* stay registered */
}

static void libusb_wait_change(void *impl, unsigned timeout_ms)
{
	struct libusb_impl *li = impl;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (!li->has_hotplug) {
		struct timespec ts = { 0, (long)(timeout_ms < 20 ? timeout_ms : 20) * 1000000L };
		nanosleep(&ts, NULL);
		return;
	}
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long spent = (now.tv_sec - start.tv_sec) * 1000LL +
		                  (now.tv_nsec - start.tv_nsec) / 1000000LL;
		if (li->changed || spent >= (long long)timeout_ms)
			break;
		long long left = (long long)timeout_ms - spent;
		struct timeval tv = { (time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000 };
		libusb_handle_events_timeout_completed(li->ctx, &tv, &li->changed);
	}
	li->changed = 0;
}

/* The catchable signals a daemon stops, reloads or reaps on: blocked while wait_event
 * checks *wake and handles events, delivered only inside its ppoll. */
static void wake_signals(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGINT);
	sigaddset(s, SIGTERM);
	sigaddset(s, SIGHUP);
	sigaddset(s, SIGUSR1);
	sigaddset(s, SIGCHLD);
}

/* Without hotplug, wait_event reports a change this often so the caller rescans. */
#define WAIT_NO_HOTPLUG_MS 2000

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libusb's file descriptors as a pollfd array (caller frees); *n may be 0. */
static int get_fds(libusb_context *ctx, struct pollfd **out, nfds_t *n)
{
	const struct libusb_pollfd **p = libusb_get_pollfds(ctx);
	size_t k = 0;
	*out = NULL;
	*n = 0;
	if (!p)
		return ST7_ERR_NOMEM;
	while (p[k])
		k++;
	struct pollfd *fds = calloc(k ? k : 1, sizeof(*fds));
	if (!fds) {
		libusb_free_pollfds(p);
		return ST7_ERR_NOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		fds[i].fd = p[i]->fd;
		fds[i].events = p[i]->events;
	}
	libusb_free_pollfds(p);
	*out = fds;
	*n = (nfds_t)k;
	return ST7_OK;
}

/* Handle what libusb has ready (hotplug messages among it) without sleeping, until its
 * descriptors have nothing more to say; a few rounds at most. */
static void drain_events(struct libusb_impl *li)
{
	for (int round = 0; round < 8; round++) {
		struct timeval zero = { 0, 0 };
		libusb_handle_events_timeout_completed(li->ctx, &zero, NULL);
		struct pollfd *fds;
		nfds_t n;
		if (get_fds(li->ctx, &fds, &n))
			return;
		struct timespec now = { 0, 0 };
		int r = ppoll(fds, n, &now, NULL); /* the signals stay blocked */
		free(fds);
		if (r <= 0)
			return;
	}
}

/* wait_event with the wake signals blocked; `orig` is the caller's mask. */
static int wait_blocked(struct libusb_impl *li, int timeout_ms, const volatile sig_atomic_t *wake,
                        const sigset_t *orig)
{
	int64_t start = mono_ms();
	bool polled = false; /* even a timeout of 0 looks at what libusb has pending */
	for (;;) {
		if (wake && *wake)
			return ST7_ERR_ABORTED;
		if (li->event) {
			/* Fold in whatever else is queued already (a replug's add behind its
			 * remove, found by a scan but not yet handled): one 1 for them all. */
			drain_events(li);
			li->event = 0;
			return 1;
		}
		int64_t spent = mono_ms() - start;
		int64_t left = -1; /* forever */
		if (timeout_ms >= 0) {
			left = timeout_ms - spent;
			if (left <= 0 && polled)
				return 0;
			if (left < 0)
				left = 0;
		}
		if (!li->has_hotplug) {
			if (spent >= WAIT_NO_HOTPLUG_MS)
				return 1;
			if (left < 0 || left > WAIT_NO_HOTPLUG_MS - spent)
				left = WAIT_NO_HOTPLUG_MS - spent;
		}
		/* Linux hands libusb's timeouts to a timerfd among its descriptors; elsewhere
		 * the next one bounds the sleep. */
		struct timeval tv;
		if (!libusb_pollfds_handle_timeouts(li->ctx) &&
		    libusb_get_next_timeout(li->ctx, &tv) == 1) {
			int64_t t = (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
			if (left < 0 || t < left)
				left = t;
		}
		struct pollfd *fds;
		nfds_t n;
		int ret = get_fds(li->ctx, &fds, &n);
		if (ret)
			return ret;
		struct timespec ts = { (time_t)(left / 1000), (long)(left % 1000) * 1000000L };
		/* The caller's mask during the sleep only: a signal pending since the check
		 * above, or arriving now, interrupts it. */
		int r = ppoll(fds, n, left < 0 ? NULL : &ts, orig);
		int err = errno;
		free(fds);
		polled = true;
		if (r < 0 && err != EINTR && err != EAGAIN)
			return ST7_ERR_USB;
		/* Hotplug messages wake libusb's event descriptor; handling them runs
		 * on_hotplug. Anything else there (a timer) is libusb's business. */
		if (r > 0)
			drain_events(li);
	}
}

static int libusb_wait_event(void *impl, int timeout_ms, const volatile sig_atomic_t *wake)
{
	struct libusb_impl *li = impl;
	sigset_t block, orig, during;
	wake_signals(&block);
	if (pthread_sigmask(SIG_BLOCK, &block, &orig) != 0)
		return ST7_ERR_USB;
	/* Inside ppoll the wake signals are open even when the process was started with them
	 * blocked (a supervisor that leaks its mask): else SIGTERM would wait forever. */
	during = orig;
	sigdelset(&during, SIGINT);
	sigdelset(&during, SIGTERM);
	sigdelset(&during, SIGHUP);
	sigdelset(&during, SIGUSR1);
	sigdelset(&during, SIGCHLD);
	int ret = wait_blocked(li, timeout_ms, wake, &during);
	pthread_sigmask(SIG_SETMASK, &orig, NULL);
	return ret;
}

static void libusb_destroy(void *impl)
{
	struct libusb_impl *li = impl;
	if (!li)
		return;
	if (li->has_hotplug)
		libusb_hotplug_deregister_callback(li->ctx, li->hotplug);
	libusb_exit(li->ctx);
	free(li);
}

static const struct st7_usb_ops libusb_ops = {
	.name = "libusb",
	.scan = libusb_scan,
	.scan_for = libusb_scan_for,
	.open = libusb_open_found,
	.close = libusb_close_handle,
	.claim = libusb_claim,
	.control = libusb_control,
	.reset = libusb_reset,
	.wait_change = libusb_wait_change,
	.wait_event = libusb_wait_event,
	.destroy = libusb_destroy,
};

int st7_usb_libusb_init(struct st7_usb *u, struct st7_diag *d)
{
	struct libusb_impl *li = calloc(1, sizeof(*li));
	u->ops = NULL;
	u->impl = NULL;
	if (!li)
		return ST7_ERR_NOMEM;
	/* libusb 1.0.26 on Linux starts its hotplug thread in the first libusb_init and
	 * leaves its signal mask as it finds it. The signals that end wait_event must reach
	 * the thread that waits, never that one, or one arriving between the check of *wake
	 * and the sleep would be missed: block them for the thread to inherit. */
	sigset_t block, orig;
	wake_signals(&block);
	pthread_sigmask(SIG_BLOCK, &block, &orig);
	int e = libusb_init(&li->ctx);
	pthread_sigmask(SIG_SETMASK, &orig, NULL);
	if (e) {
		free(li);
		return st7_diag_set(d, map_err(e), "cannot initialise libusb: %s",
		                    libusb_strerror(e));
	}
	/* Errors reach the user through our own messages, not libusb's log. */
	libusb_set_option(li->ctx, LIBUSB_OPTION_LOG_LEVEL, LIBUSB_LOG_LEVEL_NONE);
	/* Hotplug lets the engine wake up when a device re-enumerates instead of polling. */
	if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG) &&
	    libusb_hotplug_register_callback(
	            li->ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
	            0, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
	            on_hotplug, li, &li->hotplug) == LIBUSB_SUCCESS)
		li->has_hotplug = true;
	u->ops = &libusb_ops;
	u->impl = li;
	return ST7_OK;
}
