/* SPDX-License-Identifier: MIT */
/*
 * st7dfu-emu: puts emulated DFU devices (emu_model.c) on a umockdev testbed and runs
 * commands against them, so real libusb programs (dfu-util, st7dfu) talk usbdevfs
 * ioctls to the model without USB hardware or kernel support. See README.md.
 *
 * Threads: umockdev calls on_ioctl() (and our deferred completions) in its worker
 * thread; the main thread runs the commands and adds/removes device nodes, which the
 * testbed API wants done there. One mutex guards the models and the host's view of them.
 */
#include "emu_model.h"
#include "emu_uevent_fix.h"

#include <errno.h>
#include <stdarg.h>
#include <glib-unix.h>
#include <glib.h>
#include <linux/usbdevice_fs.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <umockdev.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif

#define EXIT_USAGE 2
#define EXIT_TIMEOUT 124
#define EXIT_EMU 125 /* the emulator itself failed */
#define BUSNUM 1
#define MAX_CTRL_BUFFER (8 + 65535)

struct hdev {
	unsigned index;
	struct emu_config cfg;
	struct emu_dev *m;
	char port[16];     /* "1-1" */
	char syspath[128]; /* /sys/devices/.../usb1/1-1 */
	/* The node in the testbed now, if any, and which enumeration it shows. */
	bool node_live;
	uint32_t node_enum;
	int devnum;
	char devnode[64];
};

static GMutex lock;
static UMockdevTestbed *tb;
static UMockdevIoctlBase *handler;
static struct hdev *devs;
static unsigned ndevs;
static bool verbose;
static int last_devnum = 1; /* the root hub has 1 */
static guint tick_source;
static uint64_t tick_at = EMU_NEVER;
static bool sync_queued;
static gint64 t0;

static uint64_t now_us(void)
{
	return (uint64_t)g_get_monotonic_time();
}

static void logf_(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void logf_(const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "[emu +%.3fs] %s\n", (double)(g_get_monotonic_time() - t0) / 1e6, msg);
	g_free(msg);
}

/* ---------------------------------------------------------------------------------------
 * Device nodes (main thread, lock held)
 */

/* The device behind a node, or NULL when that node is stale (unplugged, re-enumerated). */
static struct hdev *dev_for_node(const char *devnode)
{
	for (unsigned i = 0; i < ndevs; i++) {
		struct hdev *h = &devs[i];
		if (h->node_live && !strcmp(h->devnode, devnode) && emu_dev_present(h->m) &&
		    emu_dev_enumeration(h->m) == h->node_enum)
			return h;
	}
	return NULL;
}

static int alloc_devnum(void)
{
	/* Like the kernel: the next free address after the last one given, wrapping. */
	for (int tries = 0; tries < 127; tries++) {
		int n = last_devnum >= 127 ? 2 : last_devnum + 1;
		last_devnum = n;
		bool used = false;
		for (unsigned i = 0; i < ndevs; i++)
			used = used || (devs[i].node_live && devs[i].devnum == n);
		if (!used)
			return n;
	}
	return -1;
}

static bool plug_node(struct hdev *h)
{
	struct emu_info in;
	size_t dlen;
	const uint8_t *desc = emu_dev_descriptors(h->m, &dlen);
	GError *err = NULL;

	emu_dev_info(h->m, &in);
	int devnum = alloc_devnum();
	if (devnum < 0) {
		logf_("%s: no free device number", h->port);
		return false;
	}
	GString *hex = g_string_sized_new(dlen * 2 + 1);
	for (size_t i = 0; i < dlen; i++)
		g_string_append_printf(hex, "%02X", desc[i]);
	int minor = (BUSNUM - 1) * 128 + devnum - 1;
	char *rec = g_strdup_printf(
	        "P: /devices/pci0000:00/0000:00:14.0/usb%d/%s\n"
	        "N: bus/usb/%03d/%03d\n"
	        "E: DEVNAME=/dev/bus/usb/%03d/%03d\n"
	        "E: DEVTYPE=usb_device\n"
	        "E: SUBSYSTEM=usb\n"
	        "E: DRIVER=usb\n"
	        "E: PRODUCT=%x/%x/%x\n"
	        "E: TYPE=%d/%d/%d\n"
	        "E: BUSNUM=%03d\n"
	        "E: DEVNUM=%03d\n"
	        "E: MAJOR=189\n"
	        "E: MINOR=%d\n"
	        "A: busnum=%d\\n\n"
	        "A: devnum=%d\\n\n"
	        "A: devpath=%s\\n\n"
	        "A: dev=189:%d\\n\n"
	        "A: speed=%s\\n\n"
	        "A: idVendor=%04x\\n\n"
	        "A: idProduct=%04x\\n\n"
	        "A: bcdDevice=%04x\\n\n"
	        "A: bDeviceClass=%02x\\n\n"
	        "A: bMaxPacketSize0=%u\\n\n"
	        "A: bConfigurationValue=1\\n\n"
	        "A: bNumConfigurations=1\\n\n"
	        "A: bNumInterfaces=%2u\\n\n"
	        "A: serial=%s\\n\n"
	        "H: descriptors=%s\n",
	        BUSNUM, h->port, BUSNUM, devnum, BUSNUM, devnum, in.vid, in.pid, in.bcd_device,
	        desc[4], desc[5], desc[6], BUSNUM, devnum, minor, BUSNUM, devnum, h->port + 2,
	        minor, in.full_speed ? "12" : "1.5", in.vid, in.pid, in.bcd_device, desc[4],
	        in.max_packet0, in.num_interfaces, in.serial, hex->str);
	g_string_free(hex, TRUE);

	h->devnum = devnum;
	snprintf(h->devnode, sizeof(h->devnode), "/dev/bus/usb/%03d/%03d", BUSNUM, devnum);
	/* The handler first, or a fast hotplug client may open the node and get ENOTTY. */
	if (!umockdev_testbed_attach_ioctl(tb, h->devnode, handler, &err)) {
		logf_("%s: attach_ioctl: %s", h->port, err->message);
		g_clear_error(&err);
		g_free(rec);
		return false;
	}
	emu_uevent_begin();
	bool added = umockdev_testbed_add_from_string(tb, rec, &err); /* emits "add" */
	emu_uevent_end();
	if (!added) {
		logf_("%s: add device: %s", h->port, err->message);
		g_clear_error(&err);
		umockdev_testbed_detach_ioctl(tb, h->devnode, NULL);
		g_free(rec);
		return false;
	}
	g_free(rec);
	h->node_live = true;
	h->node_enum = emu_dev_enumeration(h->m);
	if (verbose)
		logf_("%s: plugged %s %04x:%04x bcdDevice %04x (%s mode)", h->port, h->devnode,
		      in.vid, in.pid, in.bcd_device, in.mode == EMU_MODE_DFU ? "DFU" : "runtime");
	return true;
}

static void unplug_node(struct hdev *h)
{
	/* remove_device() sends no uevent: send "remove" while the properties still exist.
	 * Open connections stay; on_ioctl answers them ENODEV. */
	emu_uevent_begin();
	umockdev_testbed_uevent(tb, h->syspath, "remove");
	emu_uevent_end();
	umockdev_testbed_remove_device(tb, h->syspath);
	umockdev_testbed_detach_ioctl(tb, h->devnode, NULL);
	h->node_live = false;
	if (verbose)
		logf_("%s: unplugged %s", h->port, h->devnode);
}

static gboolean tick_cb(gpointer unused);

/* Bring the testbed in line with the models and arm the timer for their next deadline. */
static void sync_all_locked(void)
{
	uint64_t now = now_us(), next = EMU_NEVER;

	for (unsigned i = 0; i < ndevs; i++) {
		struct hdev *h = &devs[i];
		emu_dev_tick(h->m, now);
		bool present = emu_dev_present(h->m);
		if (h->node_live && (!present || emu_dev_enumeration(h->m) != h->node_enum))
			unplug_node(h);
		if (present && !h->node_live)
			plug_node(h);
		uint64_t dl = emu_dev_next_deadline(h->m);
		if (dl < next)
			next = dl;
	}
	if (tick_source && next != tick_at) {
		g_source_remove(tick_source);
		tick_source = 0;
	}
	tick_at = next;
	if (next != EMU_NEVER && !tick_source) {
		uint64_t ms = next > now ? (next - now + 999) / 1000 : 0;
		tick_source = g_timeout_add((guint)(ms > 60000 ? 60000 : ms), tick_cb, NULL);
	}
}

static gboolean tick_cb(gpointer unused)
{
	(void)unused;
	g_mutex_lock(&lock);
	tick_source = 0;
	tick_at = EMU_NEVER;
	sync_all_locked();
	g_mutex_unlock(&lock);
	return G_SOURCE_REMOVE;
}

static gboolean sync_idle_cb(gpointer unused)
{
	(void)unused;
	g_mutex_lock(&lock);
	sync_queued = false;
	sync_all_locked();
	g_mutex_unlock(&lock);
	return G_SOURCE_REMOVE;
}

/* From the worker thread after the model changed: wake the main thread if the testbed
 * no longer matches or the timer is late. */
static void request_sync_locked(struct hdev *h)
{
	bool stale = h->node_live &&
	             (!emu_dev_present(h->m) || emu_dev_enumeration(h->m) != h->node_enum);
	if ((stale || emu_dev_next_deadline(h->m) < tick_at) && !sync_queued) {
		sync_queued = true;
		g_idle_add(sync_idle_cb, NULL);
	}
}

/* ---------------------------------------------------------------------------------------
 * usbdevfs emulation (worker thread)
 */

struct purb {
	UMockdevIoctlData *urb; /* the client's struct usbdevfs_urb, resolved */
	UMockdevIoctlData *buf; /* its buffer (control URBs), resolved */
	gint64 ready_at;        /* when the device has answered; G_MAXINT64: not (yet) */
};

struct cstate {
	GQueue urbs; /* submitted, not reaped */
};

static void purb_free(struct purb *p)
{
	g_object_unref(p->urb);
	if (p->buf)
		g_object_unref(p->buf);
	g_free(p);
}

static void cstate_free(gpointer data)
{
	struct cstate *cs = data;
	struct purb *p;

	while ((p = g_queue_pop_head(&cs->urbs)))
		purb_free(p);
	g_free(cs);
}

static struct cstate *client_state(UMockdevIoctlClient *client)
{
	struct cstate *cs = g_object_get_data(G_OBJECT(client), "st7emu");
	if (!cs) {
		cs = g_new0(struct cstate, 1);
		g_queue_init(&cs->urbs);
		g_object_set_data_full(G_OBJECT(client), "st7emu", cs, cstate_free);
	}
	return cs;
}

/* A completed URB to hand back: the first whose time has come. When the device is gone,
 * URBs it never answered complete with -ESHUTDOWN, as the kernel does on disconnect. */
static struct purb *take_ready(struct cstate *cs, bool gone, gint64 now)
{
	for (GList *l = cs->urbs.head; l; l = l->next) {
		struct purb *p = l->data;
		if (p->ready_at > now && gone) {
			struct usbdevfs_urb *u = (void *)p->urb->data;
			u->status = -ESHUTDOWN;
			u->actual_length = 0;
			p->ready_at = now;
		}
		if (p->ready_at <= now) {
			g_queue_delete_link(&cs->urbs, l);
			return p;
		}
	}
	return NULL;
}

/* Hand a reaped URB to the client: point its (struct usbdevfs_urb *) at the original
 * URB; umockdev translates the pointer and writes URB and buffer back. */
static void complete_reap(UMockdevIoctlClient *client, struct purb *p)
{
	GError *err = NULL;
	UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
	UMockdevIoctlData *ptr = umockdev_ioctl_data_resolve(arg, 0, sizeof(void *), &err);

	if (!ptr) {
		g_clear_error(&err);
		purb_free(p);
		umockdev_ioctl_client_complete(client, -1, EFAULT);
		return;
	}
	umockdev_ioctl_data_set_ptr(ptr, 0, p->urb);
	umockdev_ioctl_client_complete(client, 0, 0);
	g_object_unref(ptr); /* the argument keeps what it needs until it is written back */
	purb_free(p);
}

/* An ioctl answered later, from a timer in the worker's context. */
struct deferred {
	UMockdevIoctlClient *client;
	enum { DEF_RESULT, DEF_REAP } kind;
	long ret;
	int eno;
	gint64 at;      /* DEF_RESULT: when to complete */
	gint64 give_up; /* DEF_REAP: answer EAGAIN from then on; G_MAXINT64 for REAPURB */
};

static gboolean deferred_cb(gpointer data)
{
	struct deferred *df = data;
	gint64 now = g_get_monotonic_time();

	if (!umockdev_ioctl_client_get_connected(df->client))
		return G_SOURCE_REMOVE;
	if (df->kind == DEF_RESULT) {
		if (now < df->at)
			return G_SOURCE_CONTINUE;
		umockdev_ioctl_client_complete(df->client, df->ret, df->eno);
		return G_SOURCE_REMOVE;
	}
	g_mutex_lock(&lock);
	bool gone = !dev_for_node(umockdev_ioctl_client_get_devnode(df->client));
	struct cstate *cs = client_state(df->client);
	struct purb *p = take_ready(cs, gone, now);
	g_mutex_unlock(&lock);
	if (p) {
		complete_reap(df->client, p);
		return G_SOURCE_REMOVE;
	}
	/* Nothing left to wait for: the kernel would block REAPURB forever; we do not. */
	if (gone || g_queue_is_empty(&cs->urbs)) {
		umockdev_ioctl_client_complete(df->client, -1, gone ? ENODEV : EAGAIN);
		return G_SOURCE_REMOVE;
	}
	if (now >= df->give_up) {
		umockdev_ioctl_client_complete(df->client, -1, EAGAIN);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static void deferred_free(gpointer data)
{
	struct deferred *df = data;
	g_object_unref(df->client);
	g_free(df);
}

static void defer(UMockdevIoctlClient *client, struct deferred tmpl)
{
	struct deferred *df = g_new(struct deferred, 1);
	GMainContext *ctx = g_main_context_ref_thread_default();
	GSource *src = g_timeout_source_new(1);

	*df = tmpl;
	df->client = g_object_ref(client);
	g_source_set_callback(src, deferred_cb, df, deferred_free);
	g_source_attach(src, ctx);
	g_source_unref(src);
	g_main_context_unref(ctx);
}

static void log_ctrl(const struct hdev *h, const uint8_t *s, const struct emu_xfer *x,
                     const uint8_t *data)
{
	static const char *const xs[] = { "ok", "STALL", "no answer", "gone", "invalid" };
	struct emu_info in;
	char bytes[3 * 8 + 4] = "";

	emu_dev_info(h->m, &in);
	if ((s[0] & 0x80) && x->status == EMU_XFER_OK) {
		size_t n = x->actual < 8 ? x->actual : 8;
		for (size_t i = 0; i < n; i++)
			snprintf(bytes + 3 * i, 4, " %02x", data[i]);
		if (x->actual > 8)
			strcat(bytes, " ..");
	}
	logf_("%s: %02x %02x %04x %04x %4u -> %s %zu%s [%s %s]", h->port, s[0], s[1],
	      s[2] | s[3] << 8, s[4] | s[5] << 8, s[6] | s[7] << 8, xs[x->status], x->actual, bytes,
	      in.present ? emu_state_name(in.state) : "off the bus",
	      in.present ? emu_status_name(in.status) : "");
}

/* One control transfer through the model. Returns the completion time (G_MAXINT64 for
 * never) or -1 with *eno set when the ioctl itself must fail. */
static gint64 run_control(struct hdev *h, uint8_t *buf, size_t len, int *status, int *actual,
                          int *eno)
{
	struct emu_xfer x;
	gint64 now = g_get_monotonic_time();

	emu_dev_control(h->m, (uint64_t)now, buf, buf + 8, len - 8, &x);
	if (verbose)
		log_ctrl(h, buf, &x, buf + 8);
	request_sync_locked(h);
	switch (x.status) {
	case EMU_XFER_OK:
		*status = 0;
		*actual = (int)x.actual;
		return now + (gint64)x.bus_us;
	case EMU_XFER_STALL:
		*status = -EPIPE;
		*actual = 0;
		return now + (gint64)x.bus_us;
	case EMU_XFER_NO_ANSWER:
		*status = 0;
		*actual = 0;
		return G_MAXINT64;
	case EMU_XFER_GONE:
		*eno = ENODEV;
		return -1;
	case EMU_XFER_INVALID:
		break;
	}
	*eno = EINVAL;
	return -1;
}

static gboolean on_ioctl(UMockdevIoctlBase *base, UMockdevIoctlClient *client, gpointer unused)
{
	(void)base;
	(void)unused;
	gulong req = umockdev_ioctl_client_get_request(client);
	const char *node = umockdev_ioctl_client_get_devnode(client);
	UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
	UMockdevIoctlData *data = NULL;
	GError *err = NULL;
	long ret = 0;
	int eno = 0;
	gint64 now = g_get_monotonic_time();

	g_mutex_lock(&lock);
	struct hdev *h = dev_for_node(node);
	struct cstate *cs = client_state(client);

	if (req == USBDEVFS_REAPURB || req == USBDEVFS_REAPURBNDELAY) {
		/* Reaping works after a disconnect too (CAP_REAP_AFTER_DISCONNECT). */
		struct purb *p = take_ready(cs, !h, now);
		bool empty = g_queue_is_empty(&cs->urbs);
		g_mutex_unlock(&lock);
		if (p) {
			complete_reap(client, p);
		} else if (!h) {
			umockdev_ioctl_client_complete(client, -1, ENODEV);
		} else if (empty && req == USBDEVFS_REAPURBNDELAY) {
			umockdev_ioctl_client_complete(client, -1, EAGAIN);
		} else {
			/* A URB is in flight (bus time, or never answered): hold the answer up
			 * to 1 ms rather than let libusb spin on a node that always polls
			 * ready. REAPURB blocks until something completes. */
			defer(client,
			      (struct deferred){ .kind = DEF_REAP,
			                         .give_up = req == USBDEVFS_REAPURB ? G_MAXINT64
			                                                            : now + 1000 });
		}
		return TRUE;
	}
	if (!h) { /* unplugged or re-enumerated: like the kernel, ENODEV */
		g_mutex_unlock(&lock);
		umockdev_ioctl_client_complete(client, -1, ENODEV);
		return TRUE;
	}
	size_t size = _IOC_SIZE(req);
	if (size > 0 && _IOC_DIR(req) != _IOC_NONE) {
		data = umockdev_ioctl_data_resolve(arg, 0, size, &err);
		if (!data) {
			g_mutex_unlock(&lock);
			g_clear_error(&err);
			umockdev_ioctl_client_complete(client, -1, EFAULT);
			return TRUE;
		}
	}
	struct emu_info in;
	emu_dev_info(h->m, &in);

	switch (req) {
	case USBDEVFS_GET_CAPABILITIES:
		*(uint32_t *)data->data =
		        USBDEVFS_CAP_ZERO_PACKET | USBDEVFS_CAP_BULK_CONTINUATION |
		        USBDEVFS_CAP_NO_PACKET_SIZE_LIM | USBDEVFS_CAP_REAP_AFTER_DISCONNECT;
		break;
	case USBDEVFS_CONNECTINFO: {
		struct usbdevfs_connectinfo *ci = (void *)data->data;
		ci->devnum = (unsigned)h->devnum;
		ci->slow = !in.full_speed;
		break;
	}
#ifdef USBDEVFS_GET_SPEED
	case USBDEVFS_GET_SPEED:
		ret = in.full_speed ? 2 : 1; /* USB_SPEED_FULL / USB_SPEED_LOW */
		break;
#endif
	case USBDEVFS_CLAIMINTERFACE:
	case USBDEVFS_RELEASEINTERFACE:
		if (*(unsigned *)data->data >= in.num_interfaces) {
			ret = -1;
			eno = ENOENT;
		}
		break;
	case USBDEVFS_DISCONNECT_CLAIM:
		if (((struct usbdevfs_disconnect_claim *)data->data)->interface >=
		    in.num_interfaces) {
			ret = -1;
			eno = ENOENT;
		}
		break;
	case USBDEVFS_SETINTERFACE:
	case USBDEVFS_SETCONFIGURATION: {
		/* The kernel sends the standard request; the model decides. */
		uint8_t s[8] = { 0 };
		if (req == USBDEVFS_SETINTERFACE) {
			struct usbdevfs_setinterface *si = (void *)data->data;
			s[0] = 0x01;
			s[1] = 11;
			/* Out-of-range numbers become ones no device has. */
			s[2] = (uint8_t)(si->altsetting > 255 ? 255 : si->altsetting);
			s[4] = (uint8_t)(si->interface > 255 ? 255 : si->interface);
		} else {
			int v = *(int *)data->data;
			s[1] = 9;
			s[2] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
		int st = 0, act = 0;
		gint64 at = run_control(h, s, sizeof(s), &st, &act, &eno);
		if (at < 0 || st) {
			ret = -1;
			eno = at < 0 ? eno : EINVAL;
		}
		break;
	}
	case USBDEVFS_CLEAR_HALT:
	case USBDEVFS_RESETEP:
#ifdef USBDEVFS_DROP_PRIVILEGES
	case USBDEVFS_DROP_PRIVILEGES:
#endif
		break;
	case USBDEVFS_GETDRIVER:
	case USBDEVFS_IOCTL:
		ret = -1;
		eno = ENODATA; /* no kernel driver is bound */
		break;
	case USBDEVFS_RESET: {
		bool stays = emu_dev_usb_reset(h->m, (uint64_t)now);
		if (verbose)
			logf_("%s: USB reset -> %s", h->port,
			      stays ? "same device" : "left the bus (re-enumerates)");
		request_sync_locked(h);
		/* A device that comes back different is a new device to Linux: ENODEV. */
		if (!stays) {
			ret = -1;
			eno = ENODEV;
		}
		break;
	}
	case USBDEVFS_DISCARDURB: {
		gulong addr = *(gulong *)arg->data;
		ret = -1;
		eno = EINVAL; /* not pending (already completed, or unknown) */
		for (GList *l = cs->urbs.head; l; l = l->next) {
			struct purb *p = l->data;
			if (p->urb->client_addr == addr && p->ready_at > now) {
				struct usbdevfs_urb *u = (void *)p->urb->data;
				u->status = -ENOENT;
				u->actual_length = 0;
				p->ready_at = now;
				ret = 0;
				eno = 0;
				break;
			}
		}
		break;
	}
	case USBDEVFS_SUBMITURB: {
		struct usbdevfs_urb *u = (void *)data->data;
		struct purb *p = g_new0(struct purb, 1);
		p->ready_at = G_MAXINT64;
		if (u->type == USBDEVFS_URB_TYPE_CONTROL) {
			if (u->buffer_length < 8 || u->buffer_length > MAX_CTRL_BUFFER) {
				g_free(p);
				ret = -1;
				eno = EINVAL;
				break;
			}
			p->buf = umockdev_ioctl_data_resolve(data,
			                                     offsetof(struct usbdevfs_urb, buffer),
			                                     (size_t)u->buffer_length, &err);
			if (!p->buf) {
				g_clear_error(&err);
				g_free(p);
				ret = -1;
				eno = EFAULT;
				break;
			}
			/* The device answers now; the client sees it after the bus time. */
			gint64 at = run_control(h, p->buf->data, (size_t)u->buffer_length,
			                        &u->status, &u->actual_length, &eno);
			if (at < 0) {
				g_object_unref(p->buf);
				g_free(p);
				ret = -1;
				break;
			}
			p->ready_at = at;
		} else if (u->type == USBDEVFS_URB_TYPE_ISO) {
			g_free(p);
			ret = -1;
			eno = EINVAL;
			break;
		}
		/* Interrupt/bulk: the HID endpoint has nothing to say; pending until discarded. */
		p->urb = g_object_ref(data);
		g_queue_push_tail(&cs->urbs, p);
		break;
	}
	case USBDEVFS_CONTROL: {
		struct usbdevfs_ctrltransfer *ct = (void *)data->data;
		uint8_t *buf = g_malloc0(8 + (size_t)ct->wLength);
		UMockdevIoctlData *d2 = NULL;
		buf[0] = ct->bRequestType;
		buf[1] = ct->bRequest;
		buf[2] = (uint8_t)ct->wValue;
		buf[3] = (uint8_t)(ct->wValue >> 8);
		buf[4] = (uint8_t)ct->wIndex;
		buf[5] = (uint8_t)(ct->wIndex >> 8);
		buf[6] = (uint8_t)ct->wLength;
		buf[7] = (uint8_t)(ct->wLength >> 8);
		if (ct->wLength) {
			d2 = umockdev_ioctl_data_resolve(
			        data, offsetof(struct usbdevfs_ctrltransfer, data), ct->wLength,
			        &err);
			if (!d2) {
				g_clear_error(&err);
				g_free(buf);
				ret = -1;
				eno = EFAULT;
				break;
			}
			memcpy(buf + 8, d2->data, ct->wLength);
		}
		int st = 0, act = 0;
		gint64 at = run_control(h, buf, 8 + (size_t)ct->wLength, &st, &act, &eno);
		if (d2 && (ct->bRequestType & 0x80) && at >= 0 && !st)
			memcpy(d2->data, buf + 8, (size_t)act);
		if (d2)
			g_object_unref(d2); /* the argument keeps it until written back */
		g_free(buf);
		if (at < 0) {
			ret = -1;
			break;
		}
		struct deferred df = { .kind = DEF_RESULT, .ret = act, .eno = 0, .at = at };
		if (st) {
			df.ret = -1;
			df.eno = EPIPE;
		}
		if (at == G_MAXINT64) { /* never answered: the kernel's timeout fires */
			df.ret = -1;
			df.eno = ETIMEDOUT;
			df.at = now + (gint64)(ct->timeout ? ct->timeout : 60000) * 1000;
		}
		if (df.at > now) {
			g_mutex_unlock(&lock);
			if (data)
				g_object_unref(data);
			defer(client, df);
			return TRUE;
		}
		ret = df.ret;
		eno = df.eno;
		break;
	}
	default:
		if (verbose)
			logf_("%s: unhandled ioctl 0x%lx", h->port, req);
		ret = -1;
		eno = ENOTTY;
	}
	g_mutex_unlock(&lock);
	if (data)
		g_object_unref(data);
	umockdev_ioctl_client_complete(client, ret, eno);
	return TRUE;
}

/* ---------------------------------------------------------------------------------------
 * Commands
 */

struct cmd {
	char **argv;
	int status;
	int signal; /* 0: none */
	gint64 elapsed_us;
};

static GMainLoop *loop;
static GPid child_pid;
static bool child_group;
static bool child_done, timed_out;
static int child_wait_status;
static int interrupted;
static guint kill_source;

static void child_setup(gpointer unused)
{
	(void)unused;
	/* Its own process group, so a timeout also ends what it started (sh -c '... &'). */
	if (!isatty(STDIN_FILENO))
		setpgid(0, 0);
}

static void kill_child(int sig)
{
	if (!child_pid || child_done)
		return;
	if (child_group)
		kill(-child_pid, sig);
	else
		kill(child_pid, sig);
}

static void child_exited(GPid pid, gint status, gpointer unused)
{
	(void)unused;
	(void)pid;
	child_wait_status = status;
	child_done = true;
	/* Whatever it left running in its group goes too: nothing outlives its command. */
	if (child_group)
		kill(-child_pid, SIGKILL);
	g_main_loop_quit(loop);
}

static gboolean hard_kill_cb(gpointer unused)
{
	(void)unused;
	kill_source = 0;
	kill_child(SIGKILL);
	return G_SOURCE_REMOVE;
}

static gboolean timeout_cb(gpointer unused)
{
	(void)unused;
	timed_out = true;
	fprintf(stderr, "st7dfu-emu: command timed out; killing it\n");
	kill_child(SIGTERM);
	kill_source = g_timeout_add(2000, hard_kill_cb, NULL);
	return G_SOURCE_REMOVE;
}

static gboolean signal_cb(gpointer data)
{
	interrupted = GPOINTER_TO_INT(data);
	kill_child(SIGTERM);
	if (!kill_source)
		kill_source = g_timeout_add(2000, hard_kill_cb, NULL);
	return G_SOURCE_CONTINUE;
}

/* SIGUSR1: the first device still waiting (plug-ms=signal) is plugged in now. */
static gboolean plug_signal_cb(gpointer unused)
{
	(void)unused;
	g_mutex_lock(&lock);
	for (unsigned d = 0; d < ndevs; d++)
		if (emu_dev_waits_for_plug(devs[d].m)) {
			emu_dev_plug_now(devs[d].m, now_us());
			break;
		}
	sync_all_locked();
	g_mutex_unlock(&lock);
	return G_SOURCE_CONTINUE;
}

static void run_command(struct cmd *c, double timeout_s)
{
	GError *err = NULL;
	gint64 start = g_get_monotonic_time();

	child_done = timed_out = false;
	child_group = !isatty(STDIN_FILENO);
	if (!g_spawn_async(NULL, c->argv, NULL,
	                   G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
	                           G_SPAWN_CHILD_INHERITS_STDIN,
	                   child_setup, NULL, &child_pid, &err)) {
		fprintf(stderr, "st7dfu-emu: cannot run %s: %s\n", c->argv[0], err->message);
		g_clear_error(&err);
		c->status = 127;
		c->signal = 0;
		c->elapsed_us = g_get_monotonic_time() - start;
		child_pid = 0;
		return;
	}
	g_child_watch_add(child_pid, child_exited, NULL); /* removes itself once it fired */
	guint tsrc = g_timeout_add((guint)(timeout_s * 1000), timeout_cb, NULL);
	g_main_loop_run(loop);
	if (!timed_out)
		g_source_remove(tsrc);
	if (kill_source) {
		g_source_remove(kill_source);
		kill_source = 0;
	}
	g_spawn_close_pid(child_pid);
	child_pid = 0;
	c->elapsed_us = g_get_monotonic_time() - start;
	c->signal = WIFSIGNALED(child_wait_status) ? WTERMSIG(child_wait_status) : 0;
	c->status = WIFEXITED(child_wait_status) ? WEXITSTATUS(child_wait_status) : 128 + c->signal;
	if (timed_out)
		c->status = EXIT_TIMEOUT;
}

/* ---------------------------------------------------------------------------------------
 * Report, flash-out
 */

static void json_str(GString *s, const char *v)
{
	g_string_append_c(s, '"');
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_printf(s, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7F)
			g_string_append_printf(s, "\\u%04x", *p);
		else
			g_string_append_c(s, (char)*p);
	}
	g_string_append_c(s, '"');
}

static char *build_report(const struct cmd *cmds, unsigned ncmds)
{
	GString *s = g_string_new("{\"commands\":[");

	for (unsigned i = 0; i < ncmds; i++) {
		g_string_append(s, i ? ",{\"argv\":[" : "{\"argv\":[");
		for (char **a = cmds[i].argv; *a; a++) {
			if (a != cmds[i].argv)
				g_string_append_c(s, ',');
			json_str(s, *a);
		}
		g_string_append_printf(s, "],\"status\":%d,\"signal\":", cmds[i].status);
		if (cmds[i].signal)
			g_string_append_printf(s, "%d", cmds[i].signal);
		else
			g_string_append(s, "null");
		g_string_append_printf(s, ",\"elapsed_ms\":%" G_GINT64_FORMAT "}",
		                       cmds[i].elapsed_us / 1000);
	}
	g_string_append(s, "],\"devices\":[");
	for (unsigned i = 0; i < ndevs; i++) {
		struct hdev *h = &devs[i];
		struct emu_info in;
		struct emu_stats st;
		emu_dev_info(h->m, &in);
		emu_dev_stats(h->m, &st);
		bool on = in.present;
		g_string_append_printf(s,
		                       "%s{\"index\":%u,\"kind\":\"%s\",\"profile\":", i ? "," : "",
		                       h->index, emu_kind_name(in.kind));
		if (in.profile)
			json_str(s, in.profile);
		else
			g_string_append(s, "null");
		g_string_append(s, ",\"serial\":");
		json_str(s, in.serial);
		g_string_append_printf(s, ",\"mode\":\"%s\"",
		                       !on                       ? "unplugged"
		                       : in.mode == EMU_MODE_DFU ? "dfu"
		                                                 : "runtime");
		if (on)
			g_string_append_printf(
			        s,
			        ",\"state\":\"%s\",\"state_code\":%d,\"status_code\":%d,"
			        "\"version\":%u",
			        emu_state_name(in.state), in.state, in.status, in.bcd_device);
		else
			g_string_append(s,
			                ",\"state\":null,\"state_code\":null,\"status_code\":null,"
			                "\"version\":null");
		g_string_append_printf(s, ",\"app_valid\":%s,\"vid\":%u,\"pid\":",
		                       in.app_valid ? "true" : "false", in.vid);
		if (on && h->node_live)
			g_string_append_printf(s, "%u,\"devnum\":%d", in.pid, h->devnum);
		else
			g_string_append(s, "null,\"devnum\":null");
		g_string_append(s, ",\"port_path\":");
		json_str(s, h->port);
		g_string_append_printf(
		        s,
		        ",\"reenumerations\":%" G_GUINT64_FORMAT ",\"resets\":%" G_GUINT64_FORMAT
		        ",\"control_transfers\":%" G_GUINT64_FORMAT
		        ",\"dfu_requests\":%" G_GUINT64_FORMAT ",\"requests\":{",
		        st.reenumerations, st.resets, st.control_transfers, st.dfu_requests);
		for (int r = 0; r < EMU_REQ_COUNT; r++)
			g_string_append_printf(s, "%s\"%s\":%" G_GUINT64_FORMAT, r ? "," : "",
			                       emu_request_name(r), st.requests[r]);
		g_string_append_printf(
		        s,
		        "},\"mandated_ms\":%" G_GUINT64_FORMAT ",\"elapsed_ms\":%" G_GUINT64_FORMAT
		        ",\"faults_fired\":%" G_GUINT64_FORMAT "}",
		        st.mandated_us / 1000, st.elapsed_us / 1000, st.faults_fired);
	}
	g_string_append(s, "]}\n");
	return g_string_free(s, FALSE);
}

static bool write_atomic(const char *path, const void *data, size_t len, const char *what)
{
	GError *err = NULL;

	if (!g_file_set_contents_full(path, data, (gssize)len,
	                              G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
	                              0644, &err)) {
		fprintf(stderr, "st7dfu-emu: cannot write %s %s: %s\n", what, path, err->message);
		g_clear_error(&err);
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------------------------------
 * main
 */

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: st7dfu-emu [OPTIONS] -- COMMAND [ARGS...] [--then -- COMMAND2 "
	        "[ARGS...]]...\n"
	        "\n"
	        "Runs each COMMAND in turn against emulated USB DFU devices (umockdev): real\n"
	        "libusb programs see them under /dev/bus/usb and /sys. Device state persists\n"
	        "from one command to the next. Exits with the last command's status (128+N\n"
	        "when signal N killed it, 124 when --timeout did, 127 when it could not run;\n"
	        "2 for a bad command line, 125 when the emulator itself failed).\n"
	        "SIGUSR1 plugs in the first plug-ms=signal device still waiting; the\n"
	        "commands find the emulator's pid in ST7DFU_EMU_PID. Signals of one kind\n"
	        "merge: wait for a device (its sysfs serial) before the next SIGUSR1.\n"
	        "\n"
	        "Options:\n"
	        "  --device SPEC     add a device (repeatable; ports 1-1, 1-2, ...);\n"
	        "                    default: one kind=st7\n"
	        "  --report FILE     write a JSON report at exit (see tests/emu/README.md)\n"
	        "  --timeout SEC     per-command limit (default 300)\n"
	        "  -v                log every control request and plug event to stderr\n"
	        "  -h, --help        this help\n"
	        "\n%s",
	        emu_config_keys_help());
}

/* Let a re-enumeration in progress (reset, detach, leave) finish, at most 10 s, so the
 * next command and the report start from a settled bus, as a person typing the next
 * command would. Power cycles (replug-ms) are not waited for. */
static void settle(void)
{
	for (;;) {
		uint64_t until = 0, now = now_us();
		g_mutex_lock(&lock);
		for (unsigned d = 0; d < ndevs; d++) {
			struct emu_info in;
			emu_dev_info(devs[d].m, &in);
			if (in.reenumerating && in.back_at > until)
				until = in.back_at;
		}
		g_mutex_unlock(&lock);
		if (!until || until > now + 10000000u)
			return;
		if (until > now)
			g_usleep((gulong)(until - now));
		g_mutex_lock(&lock);
		sync_all_locked();
		g_mutex_unlock(&lock);
		/* Let the "add" uevent reach the testbed before the next command scans. */
		while (g_main_context_iteration(NULL, FALSE))
			;
	}
}

static bool has_preload(void)
{
	const char *p = getenv("LD_PRELOAD");
	return p && strstr(p, "libumockdev-preload");
}

/* umockdev needs its preload library in this process and the commands: re-exec. */
static int reexec(char **argv)
{
	const char *old = getenv("LD_PRELOAD");
	char *pre = g_strdup_printf("libumockdev-preload.so.0%s%s", old && *old ? ":" : "",
	                            old ? old : "");

	if (getenv("ST7EMU_REEXEC")) {
		fprintf(stderr, "st7dfu-emu: libumockdev-preload.so.0 did not load\n");
		return EXIT_EMU;
	}
	setenv("ST7EMU_REEXEC", "1", 1);
	setenv("LD_PRELOAD", pre, 1);
	g_free(pre);
#ifdef EMU_ASAN
	/* The preload library comes before the ASan runtime; tell ASan that is fine. */
	const char *ao = getenv("ASAN_OPTIONS");
	char *nao = g_strdup_printf("%s%sverify_asan_link_order=0", ao && *ao ? ao : "",
	                            ao && *ao ? ":" : "");
	setenv("ASAN_OPTIONS", nao, 1);
	g_free(nao);
#endif
	execv("/proc/self/exe", argv);
	fprintf(stderr, "st7dfu-emu: cannot re-exec: %s\n", strerror(errno));
	return EXIT_EMU;
}

int main(int argc, char **argv)
{
	GPtrArray *specs = g_ptr_array_new();
	const char *report = NULL;
	double timeout_s = 300;
	int i;
	char err[256];

	/* Hold termination signals until their handlers exist: a blocked signal survives the
	 * re-exec and is delivered once unblocked, so the report is always written. */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGHUP);
	sigaddset(&term, SIGUSR1);
	sigprocmask(SIG_BLOCK, &term, NULL);

	t0 = g_get_monotonic_time();
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--"))
			break;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-v")) {
			verbose = true;
		} else if (!strncmp(a, "--device=", 9)) {
			g_ptr_array_add(specs, (char *)a + 9);
		} else if (!strncmp(a, "--report=", 9)) {
			report = a + 9;
		} else if (!strncmp(a, "--timeout=", 10) || !strcmp(a, "--timeout") ||
		           !strcmp(a, "--device") || !strcmp(a, "--report")) {
			const char *v = strchr(a, '=') ? strchr(a, '=') + 1 : NULL;
			if (!v) {
				if (i + 1 >= argc) {
					fprintf(stderr, "st7dfu-emu: %s needs a value\n", a);
					return EXIT_USAGE;
				}
				v = argv[++i];
			}
			if (!strncmp(a, "--device", 8)) {
				g_ptr_array_add(specs, (char *)v);
			} else if (!strncmp(a, "--report", 8)) {
				report = v;
			} else {
				char *end;
				timeout_s = g_ascii_strtod(v, &end);
				if (*end || !(timeout_s > 0) || timeout_s > 86400) {
					fprintf(stderr, "st7dfu-emu: --timeout: bad value '%s'\n",
					        v);
					return EXIT_USAGE;
				}
			}
		} else {
			fprintf(stderr, "st7dfu-emu: unknown option %s (try --help)\n", a);
			return EXIT_USAGE;
		}
	}
	if (i >= argc || i + 1 >= argc) {
		fprintf(stderr,
		        "st7dfu-emu: no command (usage: st7dfu-emu [OPTIONS] -- COMMAND...)\n");
		return EXIT_USAGE;
	}

	/* Commands: "--" CMD... ["--then" "--" CMD...]... */
	GArray *cmds = g_array_new(FALSE, TRUE, sizeof(struct cmd));
	for (i++; i < argc;) {
		int start = i;
		while (i < argc && strcmp(argv[i], "--then"))
			i++;
		if (i == start) {
			fprintf(stderr, "st7dfu-emu: empty command\n");
			return EXIT_USAGE;
		}
		struct cmd c = { 0 };
		c.argv = g_new0(char *, (gsize)(i - start + 1));
		for (int k = start; k < i; k++)
			c.argv[k - start] = argv[k];
		g_array_append_val(cmds, c);
		if (i < argc) { /* --then */
			if (i + 2 >= argc || strcmp(argv[i + 1], "--")) {
				fprintf(stderr,
				        "st7dfu-emu: --then must be followed by -- COMMAND\n");
				return EXIT_USAGE;
			}
			i += 2;
		}
	}

	/* Devices: configuration errors are usage errors, before any re-exec. */
	if (specs->len == 0)
		g_ptr_array_add(specs, "kind=st7");
	ndevs = specs->len;
	devs = g_new0(struct hdev, ndevs);
	for (unsigned d = 0; d < ndevs; d++) {
		struct hdev *h = &devs[d];
		const char *spec = g_ptr_array_index(specs, d);
		h->index = d;
		emu_config_default(&h->cfg, d);
		if (emu_config_parse(&h->cfg, spec, err, sizeof(err))) {
			fprintf(stderr, "st7dfu-emu: --device '%s': %s\n", spec, err);
			return EXIT_USAGE;
		}
		h->m = emu_dev_new(&h->cfg, now_us(), err, sizeof(err));
		if (!h->m) {
			fprintf(stderr, "st7dfu-emu: --device '%s': %s\n", spec, err);
			return EXIT_USAGE;
		}
		snprintf(h->port, sizeof(h->port), "%d-%u", BUSNUM, d + 1);
		snprintf(h->syspath, sizeof(h->syspath),
		         "/sys/devices/pci0000:00/0000:00:14.0/usb%d/%s", BUSNUM, h->port);
	}
	if (ndevs > 100) {
		fprintf(stderr, "st7dfu-emu: at most 100 devices\n");
		return EXIT_USAGE;
	}

	if (!has_preload())
		return reexec(argv);
	/* Only this process needed it; the commands must not think they are a re-exec. */
	unsetenv("ST7EMU_REEXEC");
	/* The commands' way to reach plug_signal_cb (set before glib starts a thread). */
	char pid[24];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("ST7DFU_EMU_PID", pid, 1);
	/* Do not call umockdev_in_mock_environment(): it caches a "no" from before the
	 * testbed exists and then suppresses the "add" uevents. The testbed sets
	 * UMOCKDEV_DIR: before glib's signal sources start their worker thread, whose
	 * getenv() a setenv() here would race (an ASan run crashed so). */
	tb = umockdev_testbed_new();
	if (!tb) {
		fprintf(stderr, "st7dfu-emu: cannot create the umockdev testbed\n");
		return EXIT_EMU;
	}
	/* From here on a signal is noted and handled once the commands run (the first one
	 * then ends at once). */
	guint sigs[4] = { g_unix_signal_add(SIGINT, signal_cb, GINT_TO_POINTER(SIGINT)),
		          g_unix_signal_add(SIGTERM, signal_cb, GINT_TO_POINTER(SIGTERM)),
		          g_unix_signal_add(SIGHUP, signal_cb, GINT_TO_POINTER(SIGHUP)),
		          g_unix_signal_add(SIGUSR1, plug_signal_cb, NULL) };
	sigprocmask(SIG_UNBLOCK, &term, NULL);
	handler = umockdev_ioctl_base_new();
	g_signal_connect(handler, "handle-ioctl", G_CALLBACK(on_ioctl), NULL);
	loop = g_main_loop_new(NULL, FALSE);

	g_mutex_lock(&lock);
	sync_all_locked();
	bool all = true; /* every device that is on the bus has its node (plug-ms: later) */
	for (unsigned d = 0; d < ndevs; d++)
		all = all && devs[d].node_live == emu_dev_present(devs[d].m);
	g_mutex_unlock(&lock);
	if (!all) {
		fprintf(stderr, "st7dfu-emu: cannot add the emulated devices\n");
		return EXIT_EMU;
	}

	unsigned ran = 0;
	for (unsigned k = 0; k < cmds->len && !interrupted; k++, ran++) {
		if (k)
			settle();
		g_mutex_lock(&lock);
		/* plug-ms counts from the start of the first command. */
		for (unsigned d = 0; d < ndevs && !k; d++) {
			emu_dev_start_clock(devs[d].m, now_us());
			if (verbose && emu_dev_waits_for_plug(devs[d].m))
				logf_("%s: off the bus until a SIGUSR1", devs[d].port);
			else if (verbose && !emu_dev_present(devs[d].m))
				logf_("%s: off the bus until plug-ms=%ld from now", devs[d].port,
				      devs[d].cfg.plug_ms);
		}
		/* Devices due meanwhile (a plug, a power cycle's return) appear before it. */
		sync_all_locked();
		g_mutex_unlock(&lock);
		run_command(&g_array_index(cmds, struct cmd, k), timeout_s);
	}
	/* Removing its last source puts a signal back to its default action: a late one
	 * (from something the command left running) must not end us before the report. */
	sigprocmask(SIG_BLOCK, &term, NULL);
	for (unsigned k = 0; k < G_N_ELEMENTS(sigs); k++)
		g_source_remove(sigs[k]);

	int rc = ran ? g_array_index(cmds, struct cmd, ran - 1).status : 128 + interrupted;
	settle();
	g_mutex_lock(&lock);
	sync_all_locked();
	for (unsigned d = 0; d < ndevs; d++) {
		struct emu_info in;
		emu_dev_info(devs[d].m, &in);
		if (in.flash_out) {
			size_t len;
			const uint8_t *mem = emu_dev_memory(devs[d].m, &len);
			if (!write_atomic(in.flash_out, mem, len, "flash-out"))
				rc = rc ? rc : EXIT_EMU;
		}
	}
	if (report) {
		char *json = build_report((struct cmd *)(void *)cmds->data, ran);
		if (!write_atomic(report, json, strlen(json), "report"))
			rc = rc ? rc : EXIT_EMU;
		g_free(json);
	}
	for (unsigned d = 0; d < ndevs; d++)
		if (devs[d].node_live)
			unplug_node(&devs[d]);
	if (tick_source)
		g_source_remove(tick_source);
	g_mutex_unlock(&lock);

	g_object_unref(handler);
	g_object_unref(tb);
	g_main_loop_unref(loop);
	for (unsigned d = 0; d < ndevs; d++)
		emu_dev_free(devs[d].m);
	g_free(devs);
	for (unsigned k = 0; k < cmds->len; k++)
		g_free(g_array_index(cmds, struct cmd, k).argv);
	g_array_free(cmds, TRUE);
	g_ptr_array_free(specs, TRUE);
	return rc;
}
