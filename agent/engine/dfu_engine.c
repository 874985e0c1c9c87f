/* SPDX-License-Identifier: MIT */
#include "dfu_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfu_list.h"
#include "dfuse_layout.h"
#include "dfu_sm.h"
#include "log.h"

void st7_engine_opts_default(struct st7_engine_opts *o)
{
	o->poll_floor_ms = 1;
	o->poll_cap_ms = 10000;
	o->transfer_timeout_ms = 5000;
	o->reenum_timeout_ms = 15000;
	o->retries = 3;
	o->backoff_ms = 100;
}

void st7_engine_init(struct st7_engine *e, struct st7_usb *usb, const struct st7_clock *clock,
                     const struct st7_engine_opts *o)
{
	memset(e, 0, sizeof(*e));
	e->left_address = -1;
	e->usb = usb;
	e->clock = clock;
	if (o)
		e->o = *o;
	else
		st7_engine_opts_default(&e->o);
	if (e->o.retries == 0)
		e->o.retries = 1;
}

void st7_engine_close(struct st7_engine *e)
{
	if (e->h)
		e->usb->ops->close(e->usb->impl, e->h);
	e->h = NULL;
}

static void drop_scan(struct st7_engine *e)
{
	st7_usb_found_free(e->scan, e->n_scan);
	e->scan = NULL;
	e->n_scan = 0;
	e->dev = NULL;
}

void st7_engine_free(struct st7_engine *e)
{
	st7_engine_close(e);
	drop_scan(e);
}

bool st7_engine_aborted(const struct st7_engine *e)
{
	return e->abort_flag && *e->abort_flag;
}

void st7_engine_report(struct st7_engine *e, const char *phase, size_t done, size_t total)
{
	if (e->progress)
		e->progress(e->progress_arg, phase, done, total);
}

static uint64_t now(const struct st7_engine *e)
{
	return e->clock->now_ms(e->clock->ctx);
}

static uint64_t now_us(const struct st7_engine *e)
{
	return e->clock->now_us(e->clock->ctx);
}

/*
 * Sleep `ms` counted from `since_us` (when a status reply arrived: the engine's own work
 * after it must not lengthen the device's bwPollTimeout) to an absolute deadline. A
 * signal wakes the clock early: with the abort flag raised the wait ends there, as it
 * always did; after any other signal it goes on to the deadline.
 */
static void sleep_from(const struct st7_engine *e, uint64_t since_us, uint32_t ms)
{
	if (!ms)
		return;
	uint64_t deadline = since_us + (uint64_t)ms * 1000u;
	while (!e->clock->sleep_until_us(e->clock->ctx, deadline) && !st7_engine_aborted(e))
		;
}

void st7_engine_sleep(const struct st7_engine *e, uint32_t ms)
{
	sleep_from(e, now_us(e), ms);
}

uint64_t st7_engine_now_us(const struct st7_engine *e)
{
	return now_us(e);
}

void st7_engine_sleep_from(const struct st7_engine *e, uint64_t since_us, uint32_t ms)
{
	sleep_from(e, since_us, ms);
}

static void describe_found(const struct st7_usb_found *f, struct st7_dfu_summary *s)
{
	struct st7_usb_altsetting alts[64];
	struct st7_diag d;
	size_t n = f->n_alts < 64 ? f->n_alts : 64;
	for (size_t i = 0; i < n; i++)
		alts[i] = f->alts[i].desc;
	st7_dfu_describe(&f->dev, alts, n, f->config_extra, f->config_extra_len, s, &d);
}

/* A device we can work with: a DFU interface and descriptors that make sense. */
static bool usable(const struct st7_usb_found *f, struct st7_dfu_summary *s)
{
	if (!st7_dfu_list_wants(f))
		return false;
	describe_found(f, s);
	return s->mode != ST7_DFU_MODE_NONE && !s->malformed && !f->raw_config_err;
}

/* What the selector can tell without a string: IDs and port path. */
static bool matches_cheap(const struct st7_usb_found *f, const struct st7_selector *sel)
{
	if (sel->has_id && (f->dev.id_vendor != sel->vid || f->dev.id_product != sel->pid))
		return false;
	if (sel->path && strcmp(sel->path, f->path) != 0)
		return false;
	return true;
}

static bool matches(const struct st7_usb_found *f, const struct st7_selector *sel)
{
	return matches_cheap(f, sel) && (!sel->serial || strcmp(sel->serial, f->serial) == 0);
}

/*
 * What the engine reads of a scanned device is decided from what costs it nothing (the
 * descriptors the OS keeps, the port path): a string is a control transfer (USB 2.0
 * section 9.6.7), and a device that cannot be the target is not opened at all. Of the
 * target: its serial (it is followed by it), the raw configuration check, and the alt
 * settings' names only where they are DfuSe memory layouts. Manufacturer and product
 * are for `list` alone.
 */
static unsigned target_reads(const struct st7_usb_found *f)
{
	struct st7_dfu_summary s;
	describe_found(f, &s);
	return ST7_USB_READ_SERIAL | ST7_USB_READ_CHECK |
	       (s.dfu_version == ST7_BCDDFU_DFUSE ? ST7_USB_READ_NAMES : 0);
}

/* Choosing: only devices the IDs and path allow; by serial, the others' serials first. */
static unsigned want_selected(void *arg, const struct st7_usb_found *f)
{
	const struct st7_selector *sel = arg;
	if (!st7_dfu_list_wants(f) || !matches_cheap(f, sel))
		return 0;
	if (sel->serial && !(f->read & ST7_USB_READ_SERIAL))
		return ST7_USB_READ_SERIAL;
	if (sel->serial && strcmp(sel->serial, f->serial) != 0)
		return 0;
	return target_reads(f);
}

/* The device followed and the scan before this one. */
struct follow {
	const struct st7_engine *e;
	const struct st7_usb_found *old;
	size_t n_old;
};

/* The same node in the scan before, read as the target then: same bus, address, port and
 * descriptors are the same device instance (a re-enumeration gives a new address), whose
 * strings have not changed. A device lingering in its old mode is not read again. */
static const struct st7_usb_found *read_before(const struct follow *fw,
                                               const struct st7_usb_found *f)
{
	for (size_t i = 0; i < fw->n_old; i++) {
		const struct st7_usb_found *o = &fw->old[i];
		if ((o->read & ST7_USB_READ_CHECK) && o->bus == f->bus &&
		    o->address == f->address && strcmp(o->path, f->path) == 0 &&
		    o->n_alts == f->n_alts && o->dev.id_vendor == f->dev.id_vendor &&
		    o->dev.id_product == f->dev.id_product &&
		    o->dev.bcd_device == f->dev.bcd_device)
			return o;
	}
	return NULL;
}

static void carry_over(struct st7_usb_found *f, const struct st7_usb_found *o)
{
	memcpy(f->serial, o->serial, sizeof(f->serial));
	memcpy(f->manufacturer, o->manufacturer, sizeof(f->manufacturer));
	memcpy(f->product, o->product, sizeof(f->product));
	for (size_t k = 0; k < f->n_alts; k++)
		memcpy(f->alts[k].name, o->alts[k].name, sizeof(f->alts[k].name));
	f->raw_config_err = o->raw_config_err;
	f->open_err = o->open_err;
	if (!f->problem[0])
		memcpy(f->problem, o->problem, sizeof(f->problem));
	f->read = o->read;
}

static uint16_t node_of(const struct st7_usb_found *f)
{
	return (uint16_t)(f->bus << 8 | f->address);
}

/* Was this node there while the device was (then it is not the device on another
 * port)? */
static bool was_bystander(const struct st7_engine *e, const struct st7_usb_found *f)
{
	if (e->bystanders_full)
		return true;
	for (size_t i = 0; i < e->n_bystanders; i++)
		if (e->bystanders[i] == node_of(f))
			return true;
	return false;
}

/* The device is in this scan: every other node in it is a bystander from now on. */
static void note_bystanders(struct st7_engine *e)
{
	for (size_t i = 0; i < e->n_scan; i++) {
		const struct st7_usb_found *f = &e->scan[i];
		if (f == e->dev || was_bystander(e, f))
			continue;
		if (e->n_bystanders == sizeof(e->bystanders) / sizeof(e->bystanders[0]))
			e->bystanders_full = true;
		else
			e->bystanders[e->n_bystanders++] = node_of(f);
	}
}

/*
 * Following the device (re-enumeration waits): the device on its port path; one on
 * another port only when it is a new node (not there while the device was: a twin with
 * the same serial is not the device) and the OS has its serial cached and it is the
 * same. A device on our port with another serial is someone else's, read no further.
 */
static unsigned want_followed(void *arg, const struct st7_usb_found *f)
{
	const struct follow *fw = arg;
	const struct st7_engine *e = fw->e;
	if (!st7_dfu_list_wants(f) || read_before(fw, f))
		return 0;
	bool same_path = strcmp(f->path, e->path) == 0;
	if (!same_path && was_bystander(e, f))
		return 0;
	if (!e->serial[0])
		return same_path ? target_reads(f) : 0;
	if (!(f->read & ST7_USB_READ_SERIAL))
		return ST7_USB_READ_SERIAL | (same_path ? 0 : ST7_USB_READ_CACHED);
	if (strcmp(f->serial, e->serial) == 0 || (same_path && !f->serial[0]))
		return target_reads(f);
	return 0;
}

static int rescan(struct st7_engine *e, unsigned (*want)(void *, const struct st7_usb_found *),
                  void *arg, struct st7_diag *d)
{
	drop_scan(e);
	if (e->usb->ops->scan_for)
		return e->usb->ops->scan_for(e->usb->impl, want, arg, &e->scan, &e->n_scan, d);
	/* A transport without it reads everything of every DFU device. */
	return st7_usb_scan(e->usb, st7_dfu_list_wants, &e->scan, &e->n_scan, d);
}

int st7_engine_select(struct st7_engine *e, const struct st7_selector *sel, struct st7_diag *d)
{
	int ret = rescan(e, want_selected, (void *)sel, d);
	size_t hits = 0;
	char list[ST7_DIAG_MAX] = "";
	const struct st7_usb_found *pick = NULL;
	struct st7_dfu_summary s;

	if (ret)
		return ret;
	for (size_t i = 0; i < e->n_scan; i++) {
		const struct st7_usb_found *f = &e->scan[i];
		if (!usable(f, &s) || !matches(f, sel))
			continue;
		hits++;
		pick = f;
		size_t w = strlen(list);
		snprintf(list + w, sizeof(list) - w, "%s%s %04x:%04x serial \"%s\"", w ? "; " : "",
		         f->path, f->dev.id_vendor, f->dev.id_product, f->serial);
	}
	if (hits == 0)
		return st7_diag_set(d, ST7_ERR_NO_DEVICE,
		                    "no usable DFU device matches (see 'st7dfu list')");
	if (hits > 1)
		return st7_diag_set(d, ST7_ERR_AMBIGUOUS,
		                    "%zu DFU devices match; choose one with -d VID:PID, --path or "
		                    "--serial: %s",
		                    hits, list);
	snprintf(e->serial, sizeof(e->serial), "%s", pick->serial);
	snprintf(e->path, sizeof(e->path), "%s", pick->path);
	e->dev = pick;
	usable(pick, &e->dfu);
	note_bystanders(e);
	return ST7_OK;
}

int st7_engine_refresh(struct st7_engine *e, struct st7_diag *d)
{
	struct st7_dfu_summary s;
	const struct st7_usb_found *by_serial = NULL, *by_both = NULL, *by_path = NULL;
	size_t n_serial = 0;
	int ret;

	st7_engine_close(e);
	struct st7_usb_found *old = e->scan; /* kept until the new scan took what it can */
	struct follow fw = { e, old, e->n_scan };
	e->scan = NULL;
	e->n_scan = 0;
	ret = rescan(e, want_followed, &fw, d);
	for (size_t i = 0; ret == ST7_OK && i < e->n_scan; i++) {
		const struct st7_usb_found *o =
		        e->scan[i].read ? NULL : read_before(&fw, &e->scan[i]);
		if (o)
			carry_over(&e->scan[i], o);
	}
	st7_usb_found_free(old, fw.n_old);
	if (ret)
		return ret;
	for (size_t i = 0; i < e->n_scan; i++) {
		const struct st7_usb_found *f = &e->scan[i];
		if (!st7_dfu_list_wants(f))
			continue;
		bool same_path = strcmp(f->path, e->path) == 0;
		bool same_serial = e->serial[0] && strcmp(f->serial, e->serial) == 0;
		if (!same_path && was_bystander(e, f))
			continue;
		if (same_serial && same_path)
			by_both = f;
		if (same_serial) {
			by_serial = f;
			n_serial++;
		}
		if (same_path)
			by_path = f;
	}
	/* The serial follows the device across ports; the path tells twins apart; a
	 * device without a serial is followed by its path alone. */
	if (by_both)
		e->dev = by_both;
	else if (e->serial[0] && n_serial == 1)
		e->dev = by_serial;
	else if (!e->serial[0] || (by_path && !by_path->serial[0]))
		e->dev = by_path;
	else
		e->dev = NULL;
	if (!e->dev)
		return st7_diag_set(d, ST7_ERR_NO_DEVICE,
		                    "device %s (serial \"%s\") is not present", e->path, e->serial);
	if (!usable(e->dev, &s))
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "device %s came back with unusable DFU descriptors", e->path);
	e->dfu = s;
	snprintf(e->path, sizeof(e->path), "%s", e->dev->path);
	note_bystanders(e);
	return ST7_OK;
}

int st7_engine_wait_mode(struct st7_engine *e, enum st7_dfu_mode mode, struct st7_diag *d)
{
	uint64_t deadline = now(e) + e->o.reenum_timeout_ms;
	struct st7_diag last = { "" };

	for (;;) {
		int ret = st7_engine_refresh(e, &last);
		if (ret == ST7_OK && (e->dfu.mode == mode || mode == ST7_DFU_MODE_NONE)) {
			e->left_address = -1;
			return ST7_OK;
		}
		if (ret == ST7_OK && e->left_address >= 0 && e->dev->address != e->left_address) {
			e->left_address = -1;
			return st7_diag_set(d, ST7_ERR_DEVICE, "%s came back in %s mode, not %s",
			                    e->path, st7_dfu_mode_name(e->dfu.mode),
			                    st7_dfu_mode_name(mode));
		}
		if (st7_engine_aborted(e))
			return st7_diag_set(d, ST7_ERR_ABORTED, "aborted while waiting for %s",
			                    e->path);
		uint64_t t = now(e);
		if (t >= deadline)
			return st7_diag_set(
			        d, ST7_ERR_TIMEOUT,
			        "%s did not appear in %s mode within %u ms (%s)", e->path,
			        mode == ST7_DFU_MODE_NONE ? "either" : st7_dfu_mode_name(mode),
			        e->o.reenum_timeout_ms,
			        ret ? last.msg : "it is still in the other mode");
		uint64_t left = deadline - t;
		/* Hotplug wakes us as soon as something changes; the cap keeps a rescan
		 * going on systems where no event arrives. */
		e->usb->ops->wait_change(e->usb->impl, left < 50 ? (unsigned)left : 50);
	}
}

int st7_engine_open(struct st7_engine *e, struct st7_diag *d)
{
	if (e->h)
		return ST7_OK;
	if (!e->dev)
		return st7_diag_set(d, ST7_ERR_NO_DEVICE, "device %s is not present", e->path);
	int ret = e->usb->ops->open(e->usb->impl, e->dev, &e->h, d);
	if (ret)
		return ret;
	/* The alternate setting chosen (a DfuSe target's memory), if the device has it;
	 * else its first one. */
	uint8_t alt = e->dfu.n_alts ? e->dfu.alts[0] : 0;
	for (unsigned i = 0; i < e->dfu.n_alts; i++)
		if (e->dfu.alts[i] == e->alt)
			alt = e->alt;
	ret = e->usb->ops->claim(e->usb->impl, e->h, e->dfu.interface, alt, d);
	if (ret)
		st7_engine_close(e);
	return ret;
}

int st7_engine_ctl_out(struct st7_engine *e, uint8_t req, uint16_t value, const uint8_t *data,
                       uint16_t len)
{
	if (req == ST7_DFU_DNLOAD)
		e->dnloads++;
	return e->usb->ops->control(e->usb->impl, e->h, ST7_DFU_REQTYPE_OUT, req, value,
	                            e->dfu.interface, (uint8_t *)data, len,
	                            e->o.transfer_timeout_ms, NULL);
}

int st7_engine_get_status(struct st7_engine *e, struct st7_dfu_status_reply *r, struct st7_diag *d)
{
	uint8_t buf[6];
	size_t n = 0;
	int ret = e->usb->ops->control(e->usb->impl, e->h, ST7_DFU_REQTYPE_IN, ST7_DFU_GETSTATUS, 0,
	                               e->dfu.interface, buf, sizeof(buf), e->o.transfer_timeout_ms,
	                               &n);
	if (ret)
		return st7_diag_set(d, ret, "DFU_GETSTATUS: %s", st7_strerror(ret));
	return st7_dfu_status_parse(buf, n, r, d);
}

int st7_engine_to_idle(struct st7_engine *e, struct st7_diag *d)
{
	struct st7_dfu_status_reply r;
	int ret = st7_engine_open(e, d);
	if (ret)
		return ret;
	/* A few rounds: CLRSTATUS may reveal another state, ABORT needs a check. */
	for (int round = 0; round < 4; round++) {
		ret = st7_engine_get_status(e, &r, d);
		uint64_t reply_us = now_us(e);
		if (ret == ST7_ERR_STALL || (ret == ST7_OK && r.state == ST7_DFU_ERROR)) {
			/* A stalled GETSTATUS usually means dfuERROR: clear it. */
			st7_engine_ctl_out(e, ST7_DFU_CLRSTATUS, 0, NULL, 0);
			continue;
		}
		if (ret)
			return ret;
		switch (r.state) {
		case ST7_DFU_IDLE:
			return ST7_OK;
		case ST7_DFU_DNLOAD_IDLE:
		case ST7_DFU_UPLOAD_IDLE:
		case ST7_DFU_DNLOAD_SYNC:
		case ST7_DFU_MANIFEST_SYNC:
			st7_engine_ctl_out(e, ST7_DFU_ABORT, 0, NULL, 0);
			break;
		case ST7_DFU_MANIFEST_WAIT_RESET: {
			/* An earlier run manifested but never reset the device (killed, or
			 * power lost on the host): only a USB reset leaves this state
			 * (DFU 1.1 section 7.2). The device then runs its new application
			 * or, if it rejected it, comes back in DFU mode. */
			st7_info("%s: device waits for a reset after manifestation: resetting",
			         e->path);
			ret = st7_engine_reset(e, d);
			if (ret)
				return ret;
			ret = st7_engine_wait_mode(e, ST7_DFU_MODE_RUNTIME, d);
			if (ret == ST7_OK)
				ret = st7_engine_enter_dfu(e, d);
			else if (ret == ST7_ERR_DEVICE && e->dev && e->dfu.mode == ST7_DFU_MODE_DFU)
				ret = ST7_OK; /* back in DFU mode: carry on from there */
			if (ret == ST7_OK)
				ret = st7_engine_open(e, d);
			if (ret)
				return ret;
			break;
		}
		case ST7_DFU_DNBUSY:
		case ST7_DFU_MANIFEST:
			sleep_from(e, reply_us,
			           r.poll_timeout_ms < e->o.poll_cap_ms ? r.poll_timeout_ms
			                                                : e->o.poll_cap_ms);
			break;
		default:
			return st7_diag_set(d, ST7_ERR_DEVICE,
			                    "device is in %s (%s) and cannot be brought to dfuIDLE",
			                    st7_dfu_state_name(r.state),
			                    st7_dfu_status_name(r.status));
		}
	}
	return st7_diag_set(d, ST7_ERR_DEVICE, "device stays in %s (%s) after CLRSTATUS/ABORT",
	                    st7_dfu_state_name(r.state), st7_dfu_status_name(r.status));
}

/* A USB reset; *left tells whether the device left its node to re-enumerate (its
 * descriptors, and so its mode, changed). */
static int reset_device(struct st7_engine *e, bool *left, struct st7_diag *d)
{
	*left = false;
	int ret = st7_engine_open(e, d);
	if (ret == ST7_ERR_NO_DEVICE) {
		*left = true; /* already gone: it is re-enumerating */
		return ST7_OK;
	}
	if (ret)
		return ret;
	e->left_address = e->dev ? e->dev->address : -1;
	ret = e->usb->ops->reset(e->usb->impl, e->h);
	st7_engine_close(e);
	if (ret == ST7_ERR_NO_DEVICE) {
		*left = true;
		return ST7_OK;
	}
	if (ret)
		return st7_diag_set(d, ret, "USB reset of %s: %s", e->path, st7_strerror(ret));
	return ST7_OK;
}

int st7_engine_reset(struct st7_engine *e, struct st7_diag *d)
{
	bool left;
	return reset_device(e, &left, d);
}

int st7_engine_leave_dfu(struct st7_engine *e, bool *runtime, struct st7_diag *d)
{
	*runtime = false;
	if (!e->dev)
		return st7_diag_set(d, ST7_ERR_NO_DEVICE, "device %s is not present", e->path);
	if (e->dfu.mode == ST7_DFU_MODE_RUNTIME) {
		*runtime = true;
		return ST7_OK;
	}
	bool left;
	int ret = reset_device(e, &left, d);
	if (ret)
		return ret;
	if (!left) {
		/* Same node, same descriptors: the loader ran again, no valid application. */
		e->left_address = -1;
		return st7_engine_refresh(e, d);
	}
	struct st7_diag wd = { "" };
	ret = st7_engine_wait_mode(e, ST7_DFU_MODE_RUNTIME, &wd);
	if (ret == ST7_OK) {
		*runtime = true;
		return ST7_OK;
	}
	if (ret == ST7_ERR_DEVICE && e->dev && e->dfu.mode == ST7_DFU_MODE_DFU)
		return ST7_OK; /* it came back as a loader: no valid application */
	*d = wd;
	return ret;
}

/* After a stalled DFU_DETACH: is the device in appDETACH already? A run that died between
 * its DETACH and the reset leaves it there until wDetachTimeOut passes, and appDETACH
 * allows no second DETACH (DFU 1.1 appendix A.2): the reset is all that is missing.
 * DFU_GETSTATE changes no state. */
static bool detaching(struct st7_engine *e)
{
	uint8_t state = 0xFF;
	size_t n = 0;
	int ret = e->usb->ops->control(e->usb->impl, e->h, ST7_DFU_REQTYPE_IN, ST7_DFU_GETSTATE, 0,
	                               e->dfu.interface, &state, 1, e->o.transfer_timeout_ms, &n);
	return ret == ST7_OK && n == 1 && state == ST7_DFU_APP_DETACH;
}

int st7_engine_enter_dfu(struct st7_engine *e, struct st7_diag *d)
{
	int ret;
	if (!e->dev)
		return st7_diag_set(d, ST7_ERR_NO_DEVICE, "device %s is not present", e->path);
	if (e->dfu.mode == ST7_DFU_MODE_DFU)
		return ST7_OK;
	st7_engine_report(e, "detach", 0, 1);
	ret = st7_engine_open(e, d);
	if (ret)
		return ret;
	/* wValue: how long the device should wait for the reset (DFU 1.1 section 5.1);
	 * its own wDetachTimeOut is the most it will wait. */
	uint16_t timeout = e->dfu.func.detach_timeout_ms ? e->dfu.func.detach_timeout_ms : 1000;
	e->left_address = e->dev->address;
	ret = st7_engine_ctl_out(e, ST7_DFU_DETACH, timeout, NULL, 0);
	if (ret == ST7_ERR_STALL && detaching(e)) {
		st7_info("%s: already in appDETACH (a run stopped before its reset): resetting",
		         e->path);
		ret = ST7_OK;
	}
	if (ret && ret != ST7_ERR_NO_DEVICE) {
		st7_engine_close(e);
		return st7_diag_set(d, ret, "DFU_DETACH: %s", st7_strerror(ret));
	}
	/* Without bitWillDetach the host resets the device, at once: the device gives up
	 * when wDetachTimeOut passes. */
	if (!(e->dfu.func.attributes & ST7_DFU_ATTR_WILL_DETACH) && ret == ST7_OK) {
		ret = e->usb->ops->reset(e->usb->impl, e->h);
		if (ret && ret != ST7_ERR_NO_DEVICE) {
			st7_engine_close(e);
			return st7_diag_set(d, ret, "USB reset after DFU_DETACH: %s",
			                    st7_strerror(ret));
		}
	}
	st7_engine_close(e);
	ret = st7_engine_wait_mode(e, ST7_DFU_MODE_DFU, d);
	st7_engine_report(e, "detach", 1, 1);
	return ret;
}

int st7_engine_upload(struct st7_engine *e, size_t max_len, struct st7_buf *out, struct st7_diag *d)
{
	size_t xfer = e->dfu.func.transfer_size;
	int ret = st7_engine_to_idle(e, d);
	if (ret)
		return ret;
	st7_engine_report(e, "upload", 0, max_len);
	for (uint32_t block = 0;; block++) {
		if (st7_engine_aborted(e)) {
			st7_engine_ctl_out(e, ST7_DFU_ABORT, 0, NULL, 0);
			return st7_diag_set(d, ST7_ERR_ABORTED, "upload aborted");
		}
		if (block > 0xFFFF)
			return st7_diag_set(d, ST7_ERR_TOO_LARGE, "upload beyond 65536 blocks");
		ret = st7_buf_reserve(out, xfer);
		if (ret)
			return ret;
		size_t n = 0;
		ret = e->usb->ops->control(e->usb->impl, e->h, ST7_DFU_REQTYPE_IN, ST7_DFU_UPLOAD,
		                           (uint16_t)block, e->dfu.interface, out->data + out->len,
		                           (uint16_t)xfer, e->o.transfer_timeout_ms, &n);
		if (ret)
			return st7_diag_set(d, ret, "DFU_UPLOAD block %u: %s", block,
			                    st7_strerror(ret));
		out->len += n;
		st7_engine_report(e, "upload", out->len, max_len);
		if (out->len > max_len) {
			st7_engine_ctl_out(e, ST7_DFU_ABORT, 0, NULL, 0);
			return st7_diag_set(
			        d, ST7_ERR_TOO_LARGE,
			        "the device uploaded more than the %zu bytes its memory "
			        "holds",
			        max_len);
		}
		if (n < xfer) /* a short block ends the upload (section 6.2) */
			break;
	}
	return ST7_OK;
}

/* One download attempt driven by the state machine. */
static int download_once(struct st7_engine *e, const uint8_t *data, size_t len, bool *needs_reset,
                         struct st7_diag *d)
{
	struct st7_dfu_dl dl;
	st7_dfu_dl_init(&dl, len, e->dfu.func.transfer_size, e->o.poll_floor_ms, e->o.poll_cap_ms);
	uint64_t done_us = now_us(e); /* when the last transfer completed */
	for (;;) {
		struct st7_dfu_step s = st7_dfu_dl_next(&dl);
		if (s.kind == ST7_STEP_DONE) {
			*needs_reset = dl.needs_reset || dl.gone;
			if (dl.gone) {
				if (e->dev)
					e->left_address = e->dev->address;
				st7_engine_close(e);
			}
			st7_engine_report(e, "manifest", 1, 1);
			return ST7_OK;
		}
		if (s.kind == ST7_STEP_FAIL) {
			if (dl.fail_status > 0)
				return st7_diag_set(
				        d, ST7_ERR_DEVICE, "block %u: device reports %s in %s: %s",
				        dl.fail_block, st7_dfu_status_name(dl.fail_status),
				        st7_dfu_state_name(dl.fail_state),
				        st7_dfu_status_text(dl.fail_status));
			if (dl.fail_err == ST7_ERR_FORMAT || dl.fail_err == ST7_ERR_TIMEOUT)
				return st7_diag_set(d,
				                    dl.fail_err == ST7_ERR_TIMEOUT ? ST7_ERR_TIMEOUT
				                                                   : ST7_ERR_DEVICE,
				                    "block %u: device %s in %s", dl.fail_block,
				                    dl.fail_err == ST7_ERR_TIMEOUT ? "stuck"
				                                                   : "unexpectedly",
				                    st7_dfu_state_name(dl.fail_state));
			return st7_diag_set(d, dl.fail_err, "block %u: %s (last state %s)",
			                    dl.fail_block, st7_strerror(dl.fail_err),
			                    st7_dfu_state_name(dl.fail_state));
		}
		if (st7_engine_aborted(e) && s.kind == ST7_STEP_DNLOAD) {
			/* A safe point: the device is in dfuIDLE or dfuDNLOAD-IDLE (before
			 * the next block), where DFU_ABORT is allowed (DFU 1.1 section
			 * 6.1.4) and returns it to dfuIDLE. While it is busy we keep
			 * polling. The application stays invalid until a complete
			 * download, so the device waits in DFU mode. */
			st7_engine_ctl_out(e, ST7_DFU_ABORT, 0, NULL, 0);
			return st7_diag_set(d, ST7_ERR_ABORTED, "download aborted at block %u",
			                    s.block);
		}
		sleep_from(e, done_us, s.wait_ms);
		if (s.kind == ST7_STEP_DNLOAD) {
			int ret = st7_engine_ctl_out(e, ST7_DFU_DNLOAD, s.block, data + s.offset,
			                             (uint16_t)s.len);
			done_us = now_us(e);
			st7_dfu_dl_result(&dl, ret, NULL);
			if (s.len)
				st7_engine_report(e, "download", s.offset + s.len, len);
		} else {
			struct st7_dfu_status_reply r;
			struct st7_diag sd;
			int ret = st7_engine_get_status(e, &r, &sd);
			done_us = now_us(e);
			st7_dfu_dl_result(&dl, ret, ret ? NULL : &r);
		}
	}
}

/* Failures that another attempt cannot mend: the file does not fit the device. (A
 * malformed reply, ST7_ERR_FORMAT, is the device's glitch: worth another attempt.) */
static bool refusal(int ret)
{
	return ret == ST7_ERR_RANGE || ret == ST7_ERR_UNSUPPORTED || ret == ST7_ERR_TOO_LARGE ||
	       ret == ST7_ERR_NOMEM;
}

/*
 * Before an attempt: the device in DFU mode. After a failed one it may be away (power
 * loss, a re-enumeration) and it may come back running its application: a DfuSe device
 * that completed a leave, one that lost power before anything was erased. Such a device
 * is detached again rather than waited for in a mode it will not take by itself.
 */
static int back_in_dfu(struct st7_engine *e, struct st7_diag *d)
{
	int ret = ST7_OK;
	if (!e->dev)
		ret = st7_engine_wait_mode(e, ST7_DFU_MODE_NONE, d);
	if (ret == ST7_OK && e->dfu.mode == ST7_DFU_MODE_RUNTIME)
		ret = st7_engine_enter_dfu(e, d);
	return ret;
}

/*
 * Up to o.retries attempts of a whole download, each from a device back in DFU mode
 * (waiting for it if it lost power) and in dfuIDLE: after a failed block DFU 1.0 can
 * only start over. The backoff doubles after each failure.
 */
int st7_engine_retry(struct st7_engine *e, st7_engine_attempt_fn fn, void *ctx, const char *what,
                     struct st7_diag *d)
{
	int ret = ST7_ERR_USB;
	uint32_t backoff = e->o.backoff_ms;
	for (unsigned attempt = 1; attempt <= e->o.retries; attempt++) {
		e->attempts = attempt;
		if ((ret = back_in_dfu(e, d)) != ST7_OK)
			return ret;
		/* Wake-ups on time while the device counts them: the default timer slack
		 * would add up to 50 us to every bwPollTimeout. Back to what it was after. */
		uint64_t slack = e->clock->set_slack_ns(e->clock->ctx, 1);
		ret = fn(e, ctx, d);
		e->clock->set_slack_ns(e->clock->ctx, slack);
		if (ret == ST7_OK || ret == ST7_ERR_ABORTED || refusal(ret))
			return ret;
		st7_warn("%s: %s attempt %u of %u failed: %s", e->path, what, attempt, e->o.retries,
		         d ? d->msg : st7_strerror(ret));
		if (attempt == e->o.retries)
			break;
		st7_engine_sleep(e, backoff);
		backoff *= 2;
		/* The device may have left the bus (power loss) or stayed: look again. */
		struct st7_diag rd;
		if (st7_engine_refresh(e, &rd) != ST7_OK)
			e->dev = NULL;
	}
	return ret;
}

struct plain_download {
	const uint8_t *data;
	size_t len;
	bool *needs_reset;
};

static int plain_attempt(struct st7_engine *e, void *ctx, struct st7_diag *d)
{
	struct plain_download *p = ctx;
	int ret = st7_engine_to_idle(e, d);
	if (ret)
		return ret;
	st7_engine_report(e, "download", 0, p->len);
	return download_once(e, p->data, p->len, p->needs_reset, d);
}

int st7_engine_download(struct st7_engine *e, const uint8_t *data, size_t len, bool *needs_reset,
                        struct st7_diag *d)
{
	struct plain_download p = { data, len, needs_reset };
	*needs_reset = false;
	return st7_engine_retry(e, plain_attempt, &p, "download", d);
}

int st7_engine_finish(struct st7_engine *e, bool needs_reset, enum st7_dfu_mode mode,
                      struct st7_diag *d)
{
	if (needs_reset) {
		int ret = st7_engine_reset(e, d);
		if (ret)
			return ret;
	}
	st7_engine_close(e);
	return st7_engine_wait_mode(e, mode, d);
}
