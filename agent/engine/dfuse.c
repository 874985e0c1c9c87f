/* SPDX-License-Identifier: MIT */
/*
 * The DfuSe part of the DFU host engine (dfuse.h): page erase, address pointer, data
 * blocks from wBlockNum 2, leave; uploads by address. ST AN3156 for every command byte
 * (named in dfu_proto.h), UM0424 for the file's targets and elements.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfu_engine.h"
#include "dfu_proto.h"
#include "dfuse.h"
#include "dfuse_layout.h"

/* One DfuSe DNLOAD (command or data) and the GETSTATUS polling until the device is idle
 * again (UM0424: commands complete in dfuDNBUSY like data). */
static int dnload_poll(struct st7_engine *e, uint16_t block, const uint8_t *data, uint16_t len,
                       const char *what, struct st7_diag *d)
{
	struct st7_dfu_status_reply r;
	int ret = st7_engine_ctl_out(e, ST7_DFU_DNLOAD, block, data, len);
	if (ret)
		return st7_diag_set(d, ret, "%s: DFU_DNLOAD: %s", what, st7_strerror(ret));
	for (unsigned polls = 0; polls < 10000; polls++) {
		ret = st7_engine_get_status(e, &r, d);
		uint64_t reply_us = st7_engine_now_us(e); /* bwPollTimeout counts from here */
		if (ret)
			return ret;
		if (r.state == ST7_DFU_ERROR || r.status != ST7_DFU_OK)
			return st7_diag_set(d, ST7_ERR_DEVICE, "%s: device reports %s in %s: %s",
			                    what, st7_dfu_status_name(r.status),
			                    st7_dfu_state_name(r.state),
			                    st7_dfu_status_text(r.status));
		if (r.state == ST7_DFU_DNLOAD_IDLE || r.state == ST7_DFU_IDLE)
			return ST7_OK;
		if (r.state != ST7_DFU_DNBUSY && r.state != ST7_DFU_DNLOAD_SYNC)
			return st7_diag_set(d, ST7_ERR_DEVICE, "%s: device unexpectedly in %s",
			                    what, st7_dfu_state_name(r.state));
		uint32_t w = r.poll_timeout_ms;
		st7_engine_sleep_from(e, reply_us,
		                      w < e->o.poll_floor_ms ? e->o.poll_floor_ms
		                      : w > e->o.poll_cap_ms ? e->o.poll_cap_ms
		                                             : w);
	}
	return st7_diag_set(d, ST7_ERR_TIMEOUT, "%s: device stays busy", what);
}

static int dfuse_command(struct st7_engine *e, enum st7_dfuse_command cmd, uint32_t addr,
                         const char *what, struct st7_diag *d)
{
	uint8_t b[ST7_DFUSE_CMD_LEN] = { (uint8_t)cmd };
	st7_put_le32(b + 1, addr);
	return dnload_poll(e, 0, b, sizeof(b), what, d);
}

/* The layout of the alternate setting `alt`, from its interface string. */
static int alt_layout(const struct st7_engine *e, uint8_t alt, struct st7_dfuse_layout *l,
                      struct st7_diag *d)
{
	if (!e->dev)
		return st7_diag_set(d, ST7_ERR_NO_DEVICE, "device %s is not present", e->path);
	for (size_t i = 0; i < e->dev->n_alts; i++) {
		const struct st7_usb_found_alt *a = &e->dev->alts[i];
		if (a->desc.number != e->dfu.interface || a->desc.alt != alt)
			continue;
		if (st7_dfuse_layout_parse(a->name, strlen(a->name), l, d) != ST7_OK)
			return st7_diag_prefix(d, ST7_ERR_FORMAT, "alt %u", alt);
		return ST7_OK;
	}
	return st7_diag_set(d, ST7_ERR_UNSUPPORTED, "the device has no alternate setting %u", alt);
}

#define DFUSE_MAX_PAGES 1024

/* The pages of target `t`'s elements, each once; with `writable`, refuse any that is not
 * erasable and writable memory. */
static int dfuse_pages(struct st7_engine *e, const struct st7_dfu_file *f, unsigned t,
                       bool writable, uint32_t *start, uint32_t *size, size_t cap, size_t *n,
                       struct st7_diag *d)
{
	const struct st7_dfuse_target *tg = &f->targets[t];
	struct st7_dfuse_layout l;
	int ret = alt_layout(e, tg->alt, &l, d);
	*n = 0;
	if (ret)
		return ret;
	for (uint32_t k = 0; k < tg->n_elements; k++) {
		const struct st7_dfuse_element *el = &f->elements[tg->first_element + k];
		for (uint64_t a = el->address; a < (uint64_t)el->address + el->size;) {
			uint32_t sect;
			const struct st7_dfuse_segment *seg =
			        st7_dfuse_layout_find(&l, (uint32_t)a, &sect);
			if (!seg || (writable && (!(seg->attrs & ST7_DFUSE_WRITABLE) ||
			                          !(seg->attrs & ST7_DFUSE_ERASABLE))))
				return st7_diag_set(d, ST7_ERR_RANGE,
				                    "target %u: 0x%08llX is not %smemory of alt %u "
				                    "(\"%s\")",
				                    t, (unsigned long long)a,
				                    writable ? "erasable and writable " : "",
				                    tg->alt, l.name);
			bool seen = false;
			for (size_t i = 0; i < *n && !seen; i++)
				seen = start[i] == sect;
			if (!seen) {
				if (*n == cap)
					return st7_diag_set(d, ST7_ERR_TOO_LARGE,
					                    "the image touches more than %zu pages",
					                    cap);
				start[*n] = sect;
				size[*n] = seg->page_size;
				(*n)++;
			}
			a = (uint64_t)sect + seg->page_size;
		}
	}
	return ST7_OK;
}

int st7_engine_dfuse_pages(struct st7_engine *e, const struct st7_dfu_file *f, unsigned t,
                           uint32_t *start, uint32_t *size, size_t cap, size_t *n,
                           struct st7_diag *d)
{
	return dfuse_pages(e, f, t, false, start, size, cap, n, d);
}

static int dfuse_write(struct st7_engine *e, const struct st7_dfu_file *f, uint32_t *start,
                       uint32_t *size, struct st7_diag *d);

struct dfuse_download {
	const struct st7_dfu_file *f;
	uint32_t *start, *size;
};

static int dfuse_attempt(struct st7_engine *e, void *ctx, struct st7_diag *d)
{
	struct dfuse_download *p = ctx;
	return dfuse_write(e, p->f, p->start, p->size, d);
}

int st7_engine_dfuse_download(struct st7_engine *e, const struct st7_dfu_file *f,
                              struct st7_diag *d)
{
	if (f->kind != ST7_DFU_KIND_DFUSE || e->dfu.dfu_version != ST7_BCDDFU_DFUSE)
		return st7_diag_set(d, ST7_ERR_UNSUPPORTED,
		                    "a DfuSe file needs a DfuSe device (bcdDFUVersion 0x011A)");
	struct dfuse_download p = { f, calloc(DFUSE_MAX_PAGES, sizeof(uint32_t)),
		                    calloc(DFUSE_MAX_PAGES, sizeof(uint32_t)) };
	/* Like a plain download, a failed attempt starts over, erase included. */
	int ret = p.start && p.size ? st7_engine_retry(e, dfuse_attempt, &p, "DfuSe download", d)
	                            : ST7_ERR_NOMEM;
	free(p.start);
	free(p.size);
	return ret;
}

int st7_engine_dfuse_alt(struct st7_engine *e, size_t i, uint8_t *alt, struct st7_dfuse_layout *l,
                         struct st7_diag *d)
{
	if (!e->dev)
		return st7_diag_set(d, ST7_ERR_NO_DEVICE, "device %s is not present", e->path);
	for (size_t k = 0, seen = 0; k < e->dev->n_alts; k++) {
		const struct st7_usb_found_alt *a = &e->dev->alts[k];
		if (a->desc.number != e->dfu.interface)
			continue;
		if (seen++ == i) {
			*alt = a->desc.alt;
			return alt_layout(e, a->desc.alt, l, d);
		}
	}
	return ST7_ERR_RANGE;
}

/* The body of st7_engine_dfuse_download(), with its page lists allocated. */
static int dfuse_write(struct st7_engine *e, const struct st7_dfu_file *f, uint32_t *start,
                       uint32_t *size, struct st7_diag *d)
{
	size_t xfer = e->dfu.func.transfer_size, n = 0, total = 0, done = 0;
	int ret;
	/* Check every target against its layout before erasing anything. */
	for (unsigned t = 0; t < f->n_targets; t++)
		if ((ret = dfuse_pages(e, f, t, true, start, size, DFUSE_MAX_PAGES, &n, d)))
			return ret;
	for (size_t i = 0; i < f->n_elements; i++)
		total += f->elements[i].size;
	st7_engine_report(e, "download", 0, total);
	for (unsigned t = 0; t < f->n_targets; t++) {
		const struct st7_dfuse_target *tg = &f->targets[t];
		st7_engine_close(e);
		e->alt = tg->alt;
		if ((ret = st7_engine_to_idle(e, d)))
			return ret;
		if ((ret = dfuse_pages(e, f, t, true, start, size, DFUSE_MAX_PAGES, &n, d)))
			return ret;
		for (size_t i = 0; i < n; i++) {
			if (st7_engine_aborted(e))
				return st7_diag_set(d, ST7_ERR_ABORTED, "aborted while erasing");
			if ((ret = dfuse_command(e, ST7_DFUSE_ERASE, start[i], "erase", d)))
				return ret;
		}
		for (uint32_t k = 0; k < tg->n_elements; k++) {
			const struct st7_dfuse_element *el = &f->elements[tg->first_element + k];
			if ((ret = dfuse_command(e, ST7_DFUSE_SET_ADDRESS, el->address,
			                         "set address", d)))
				return ret;
			for (size_t off = 0, blk = ST7_DFUSE_FIRST_DATA_BLOCK; off < el->size;
			     off += xfer, blk++) {
				if (blk > 0xFFFF)
					return st7_diag_set(d, ST7_ERR_TOO_LARGE,
					                    "element too large for one address");
				if (st7_engine_aborted(e)) {
					st7_engine_ctl_out(e, ST7_DFU_ABORT, 0, NULL, 0);
					return st7_diag_set(d, ST7_ERR_ABORTED, "download aborted");
				}
				size_t len = el->size - off < xfer ? el->size - off : xfer;
				if ((ret = dnload_poll(e, (uint16_t)blk, f->data + el->offset + off,
				                       (uint16_t)len, "write", d)))
					return ret;
				done += len;
				st7_engine_report(e, "download", done, total);
			}
		}
	}
	/* Leave: the address the application starts from (in the first target's memory,
	 * so on its alt), then a zero-length DNLOAD. */
	uint32_t leave_addr = f->n_elements ? f->elements[0].address : 0;
	if (f->n_targets && e->alt != f->targets[0].alt) {
		st7_engine_close(e);
		e->alt = f->targets[0].alt;
		if ((ret = st7_engine_to_idle(e, d)))
			return ret;
	}
	if ((ret = dfuse_command(e, ST7_DFUSE_SET_ADDRESS, leave_addr, "set address", d)))
		return ret;
	e->left_address = e->dev->address;
	ret = st7_engine_ctl_out(e, ST7_DFU_DNLOAD, 0, NULL, 0);
	if (ret == ST7_OK) {
		struct st7_dfu_status_reply r;
		struct st7_diag sd;
		/* The device may already be gone: that is the leave. */
		st7_engine_get_status(e, &r, &sd);
	}
	st7_engine_close(e);
	if (ret && ret != ST7_ERR_NO_DEVICE)
		return st7_diag_set(d, ret, "leave (zero-length DFU_DNLOAD): %s",
		                    st7_strerror(ret));
	st7_engine_report(e, "manifest", 1, 1);
	return ST7_OK;
}

int st7_engine_dfuse_upload(struct st7_engine *e, uint8_t alt, uint32_t addr, size_t len,
                            struct st7_buf *out, struct st7_diag *d)
{
	size_t xfer = e->dfu.func.transfer_size;
	int ret;
	if (e->alt != alt) {
		st7_engine_close(e);
		e->alt = alt;
	}
	if ((ret = st7_engine_to_idle(e, d)))
		return ret;
	if ((ret = dfuse_command(e, ST7_DFUSE_SET_ADDRESS, addr, "set address", d)))
		return ret;
	/* UPLOAD is allowed from dfuIDLE only: leave dfuDNLOAD-IDLE first. */
	if ((ret = st7_engine_to_idle(e, d)))
		return ret;
	for (size_t done = 0, blk = ST7_DFUSE_FIRST_DATA_BLOCK; done < len; blk++) {
		size_t want = len - done < xfer ? len - done : xfer;
		size_t n = 0;
		if (blk > 0xFFFF)
			return st7_diag_set(d, ST7_ERR_TOO_LARGE,
			                    "upload too large for one address");
		if ((ret = st7_buf_reserve(out, want)))
			return ret;
		ret = e->usb->ops->control(e->usb->impl, e->h, ST7_DFU_REQTYPE_IN, ST7_DFU_UPLOAD,
		                           (uint16_t)blk, e->dfu.interface, out->data + out->len,
		                           (uint16_t)want, e->o.transfer_timeout_ms, &n);
		if (ret)
			return st7_diag_set(d, ret, "DfuSe upload at 0x%08zX: %s", addr + done,
			                    st7_strerror(ret));
		if (n != want)
			return st7_diag_set(d, ST7_ERR_DEVICE,
			                    "DfuSe upload at 0x%08zX: %zu bytes, expected %zu",
			                    addr + done, n, want);
		out->len += n;
		done += n;
		st7_engine_report(e, "upload", done, len);
	}
	return st7_engine_to_idle(e, d);
}
