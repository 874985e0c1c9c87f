/* SPDX-License-Identifier: MIT */
/*
 * Reading the device: proven reads (two that agree) for backups and uploads, and the
 * read-back of new firmware after its post-check.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "upgrade_int.h"

typedef int (*read_fn)(struct st7_engine *e, const void *ctx, struct st7_buf *out,
                       struct st7_diag *d);

static bool same_bytes(const struct st7_buf *a, const struct st7_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/*
 * Read the same memory until two reads agree (three at most) and fill `out` with it: a
 * byte flipped on the bus must never become the backup. A device whose every read
 * differs has no provable copy.
 */
static int proven_read(struct st7_engine *e, read_fn fn, const void *ctx, struct st7_buf *out,
                       struct st7_diag *d)
{
	struct st7_buf r[3];
	int ret, pick = -1;
	for (int i = 0; i < 3; i++)
		st7_buf_init(&r[i]);
	ret = fn(e, ctx, &r[0], d);
	if (ret == ST7_OK)
		ret = fn(e, ctx, &r[1], d);
	if (ret == ST7_OK && same_bytes(&r[0], &r[1])) {
		pick = 0;
	} else if (ret == ST7_OK) {
		st7_warn("%s: two reads of the firmware differ; reading it a third time", e->path);
		ret = fn(e, ctx, &r[2], d);
		if (ret == ST7_OK)
			pick = same_bytes(&r[2], &r[0]) ? 0 : same_bytes(&r[2], &r[1]) ? 1 : -1;
		if (ret == ST7_OK && pick < 0)
			ret = st7_diag_set(d, ST7_ERR_DEVICE,
			                   "three reads of the firmware all differ: the device's "
			                   "upload is not reliable, so no backup can be proven");
	}
	if (ret == ST7_OK) {
		st7_buf_clear(out);
		ret = st7_buf_append(out, r[pick].data, r[pick].len);
	}
	for (int i = 0; i < 3; i++)
		st7_buf_free(&r[i]);
	return ret;
}

/* An ST7 region, or a generic device's memory (up to `*want` bytes). */
static int read_region(struct st7_engine *e, const void *ctx, struct st7_buf *out,
                       struct st7_diag *d)
{
	return st7_engine_upload(e, *(const size_t *)ctx, out, d);
}

/* Upload the firmware (proven) and wrap it in a .dfu with the runtime IDs and version. */
static int take_backup(struct st7_engine *e, const struct st7_profile *p,
                       const struct upg_identity *bid, size_t min_len, struct st7_buf *dfu,
                       struct st7_diag *d)
{
	struct st7_buf mem;
	size_t want = p ? st7_profile_region_size(p) : UPG_GENERIC_UPLOAD_MAX;
	st7_buf_init(&mem);
	int ret = proven_read(e, read_region, &want, &mem, d);
	if (ret == ST7_OK && p && mem.len != want)
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "the upload gave %zu bytes, but %s's writable region is %zu",
		                   mem.len, p->name, want);
	if (ret == ST7_OK && mem.len == 0)
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "the device uploaded nothing");
	/* A generic device ends its upload where it likes: a backup shorter than the
	 * image cannot put back what the download erases. */
	if (ret == ST7_OK && mem.len < min_len)
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "the device uploaded %zu bytes, less than the %zu the image "
		                   "overwrites: no complete backup",
		                   mem.len, min_len);
	if (ret == ST7_OK && p && st7_be16(mem.data + mem.len - 2) != bid->version)
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "the uploaded image's version word is 0x%04X, but the device "
		                   "reported bcdDevice 0x%04X: the upload is not trustworthy",
		                   st7_be16(mem.data + mem.len - 2), bid->version);
	if (ret == ST7_OK) {
		struct st7_dfu_ids ids = { bid->vid, bid->pid, bid->version, 0 };
		ret = st7_dfu_build_plain(mem.data, mem.len, &ids, dfu, d);
	}
	st7_buf_free(&mem);
	return ret;
}

struct dfuse_pages_ctx {
	const struct st7_dfu_file *img;
	const struct upg_identity *id;
};

/* DfuSe backup: every page the image will erase, as a DfuSe file of the same targets. */
static int read_dfuse_pages(struct st7_engine *e, const void *ctx, struct st7_buf *out,
                            struct st7_diag *d)
{
	const struct st7_dfu_file *img = ((const struct dfuse_pages_ctx *)ctx)->img;
	const struct upg_identity *id = ((const struct dfuse_pages_ctx *)ctx)->id;
	enum { MAX_PAGES = 1024 };
	uint32_t *start = calloc(MAX_PAGES, sizeof(*start)),
	         *size = calloc(MAX_PAGES, sizeof(*size));
	struct st7_memimg mem[8];
	struct st7_dfuse_target_spec spec[8];
	unsigned nt = img->n_targets < 8 ? img->n_targets : 8;
	int ret = ST7_OK;
	if (!start || !size)
		ret = ST7_ERR_NOMEM;
	else if (img->n_targets > 8)
		ret = st7_diag_set(d, ST7_ERR_UNSUPPORTED, "more than 8 DfuSe targets");
	for (unsigned t = 0; t < nt; t++)
		st7_memimg_init(&mem[t]);
	for (unsigned t = 0; t < nt && ret == ST7_OK; t++) {
		size_t n = 0;
		ret = st7_engine_dfuse_pages(e, img, t, start, size, MAX_PAGES, &n, d);
		for (size_t i = 0; i < n && ret == ST7_OK; i++) {
			struct st7_buf page;
			st7_buf_init(&page);
			ret = st7_engine_dfuse_upload(e, img->targets[t].alt, start[i], size[i],
			                              &page, d);
			if (ret == ST7_OK)
				ret = st7_memimg_add(&mem[t], start[i], page.data, page.len, d);
			st7_buf_free(&page);
		}
		spec[t] = (struct st7_dfuse_target_spec){
			img->targets[t].alt, img->targets[t].named ? img->targets[t].name : NULL,
			&mem[t]
		};
	}
	if (ret == ST7_OK) {
		struct st7_dfu_ids ids = { id->vid, id->pid, id->version, 0 };
		ret = st7_dfu_build_dfuse(spec, nt, &ids, out, d);
	}
	for (unsigned t = 0; t < nt; t++)
		st7_memimg_free(&mem[t]);
	free(start);
	free(size);
	return ret;
}

int upg_read_backup(struct st7_engine *e, const struct st7_profile *p,
                    const struct st7_dfu_file *img, const struct upg_identity *bid,
                    struct st7_buf *out, struct st7_diag *d)
{
	if (img->kind == ST7_DFU_KIND_DFUSE) {
		struct dfuse_pages_ctx ctx = { img, bid };
		return proven_read(e, read_dfuse_pages, &ctx, out, d);
	}
	return take_backup(e, p, bid, img->payload_len, out, d);
}

/* After a read in DFU mode, the device returns to its (post-checked) application
 * whether the read worked or not; the read's error wins. */
static int back_to_runtime(struct st7_engine *e, bool entered, int ret, struct st7_diag *d)
{
	struct st7_diag fd = { "" };
	if (!entered)
		return ret;
	int f = st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, ret ? &fd : d);
	return ret ? ret : f;
}

/* Plain: the region (or a generic device's whole memory, whose start is the image). */
static int plain_readback(struct st7_engine *e, const struct st7_profile *p,
                          const struct st7_dfu_file *img, bool *differs, struct st7_diag *d)
{
	struct st7_buf mem;
	st7_buf_init(&mem);
	int ret = st7_engine_upload(e, p ? st7_profile_region_size(p) : UPG_GENERIC_UPLOAD_MAX,
	                            &mem, d);
	*differs = ret == ST7_OK && (mem.len < img->payload_len ||
	                             memcmp(mem.data, img->data, img->payload_len) != 0);
	if (*differs)
		st7_warn("%s: the new firmware read back differs from the image", e->path);
	st7_buf_free(&mem);
	return ret;
}

/* DfuSe: every element of `img`, from its target's alternate setting. */
static int dfuse_readback(struct st7_engine *e, const struct st7_dfu_file *img, bool *differs,
                          struct st7_diag *d)
{
	int ret = ST7_OK;
	for (size_t i = 0; ret == ST7_OK && !*differs && i < img->n_elements; i++) {
		const struct st7_dfuse_element *el = &img->elements[i];
		uint8_t alt = 0;
		for (unsigned t = 0; t < img->n_targets; t++)
			if (i >= img->targets[t].first_element &&
			    i < img->targets[t].first_element + img->targets[t].n_elements)
				alt = img->targets[t].alt;
		struct st7_buf back;
		st7_buf_init(&back);
		ret = st7_engine_dfuse_upload(e, alt, el->address, el->size, &back, d);
		*differs =
		        ret == ST7_OK && (back.len != el->size ||
		                          memcmp(back.data, img->data + el->offset, el->size) != 0);
		if (*differs)
			st7_warn("%s: the read-back at 0x%08X differs from the image", e->path,
			         el->address);
		st7_buf_free(&back);
	}
	return ret;
}

int upg_read_back(struct st7_engine *e, const struct st7_profile *p, const struct st7_dfu_file *img,
                  bool *differs, struct st7_diag *d)
{
	*differs = false;
	int ret = st7_engine_enter_dfu(e, d);
	bool entered = ret == ST7_OK;
	if (ret == ST7_OK)
		ret = img->kind == ST7_DFU_KIND_DFUSE ? dfuse_readback(e, img, differs, d)
		                                      : plain_readback(e, p, img, differs, d);
	return back_to_runtime(e, entered, ret, d);
}

/* ---- st7dfu upload ------------------------------------------------------------------ */

/* DfuSe upload: every readable segment of every alternate setting, as a DfuSe file of
 * the same targets (the layout strings say what there is to read). */
static int read_dfuse_all(struct st7_engine *e, const void *ctx, struct st7_buf *out,
                          struct st7_diag *d)
{
	struct st7_memimg mem[8];
	struct st7_dfuse_layout l[8];
	struct st7_dfuse_target_spec spec[8];
	unsigned nt = 0;
	int ret = ST7_OK;
	for (size_t i = 0; ret == ST7_OK; i++) {
		uint8_t alt;
		if (nt == 8) {
			ret = st7_diag_set(d, ST7_ERR_UNSUPPORTED,
			                   "more than 8 alternate settings");
			break;
		}
		ret = st7_engine_dfuse_alt(e, i, &alt, &l[nt], d);
		if (ret == ST7_ERR_RANGE) {
			ret = ST7_OK;
			break;
		}
		st7_memimg_init(&mem[nt]);
		for (unsigned k = 0; ret == ST7_OK && k < l[nt].n; k++) {
			const struct st7_dfuse_segment *sg = &l[nt].seg[k];
			uint64_t len = (uint64_t)sg->pages * sg->page_size;
			if (!(sg->attrs & ST7_DFUSE_READABLE) || len == 0)
				continue;
			if (len > UPG_GENERIC_UPLOAD_MAX) {
				ret = st7_diag_set(
				        d, ST7_ERR_TOO_LARGE,
				        "alt %u: %llu bytes at 0x%08X is more than an upload "
				        "takes",
				        alt, (unsigned long long)len, sg->start);
				break;
			}
			struct st7_buf b;
			st7_buf_init(&b);
			ret = st7_engine_dfuse_upload(e, alt, sg->start, (size_t)len, &b, d);
			if (ret == ST7_OK && b.len != len)
				ret = st7_diag_set(
				        d, ST7_ERR_FORMAT,
				        "alt %u: the device uploaded %zu of the %llu bytes at "
				        "0x%08X",
				        alt, b.len, (unsigned long long)len, sg->start);
			if (ret == ST7_OK)
				ret = st7_memimg_add(&mem[nt], sg->start, b.data, b.len, d);
			st7_buf_free(&b);
		}
		spec[nt] = (struct st7_dfuse_target_spec){ alt, l[nt].name, &mem[nt] };
		nt++;
	}
	if (ret == ST7_OK && nt == 0)
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "the device has no readable memory");
	if (ret == ST7_OK)
		ret = st7_dfu_build_dfuse(spec, nt, ctx, out, d);
	for (unsigned t = 0; t < nt; t++)
		st7_memimg_free(&mem[t]);
	return ret;
}

/* A plain upload, proven, as a .dfu: an ST7 must send one of its possible parts' region,
 * whole, with the version word the device reports. */
static int upload_plain(struct st7_engine *e, const struct st7_upgrade_opts *o,
                        const struct st7_profile *p, bool runtime,
                        const struct st7_usb_device_desc *dd, struct st7_buf *dfu,
                        struct st7_diag *d)
{
	struct st7_buf mem;
	/* ST72F62 and F63 look alike: the largest candidate bounds the read, and the
	 * device's short block ends it. */
	size_t want = p ? st7_profile_region_size(p) : UPG_GENERIC_UPLOAD_MAX;
	st7_buf_init(&mem);
	int ret = proven_read(e, read_region, &want, &mem, d);
	if (ret == ST7_OK && mem.len == 0)
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "the device uploaded nothing");
	const struct st7_profile *got = p && ret == ST7_OK ? upg_pick_profile(e, o, mem.len) : NULL;
	if (ret == ST7_OK && p && !got)
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "the upload gave %zu bytes, which is no ST7 part's writable "
		                   "region this device could be",
		                   mem.len);
	uint16_t word = got ? st7_be16(mem.data + mem.len - 2) : 0;
	if (ret == ST7_OK && got && runtime && word != dd->bcd_device)
		ret = st7_diag_set(d, ST7_ERR_FORMAT,
		                   "the uploaded image's version word is 0x%04X, but the device "
		                   "reports bcdDevice 0x%04X: the upload is not trustworthy",
		                   word, dd->bcd_device);
	if (ret == ST7_OK) {
		/* A runtime device tells its IDs and version; in DFU mode, the image's own
		 * version word is the best we know. */
		uint16_t ver = runtime ? dd->bcd_device : got ? word : 0;
		struct st7_dfu_ids ids = { dd->id_vendor, dd->id_product, ver, 0 };
		ret = st7_dfu_build_plain(mem.data, mem.len, &ids, dfu, d);
	}
	st7_buf_free(&mem);
	return ret;
}

int st7_upload_to_file(struct st7_run *run, struct st7_engine *e, const struct st7_upgrade_opts *o,
                       const char *path, struct st7_diag *d)
{
	bool runtime = e->dfu.mode == ST7_DFU_MODE_RUNTIME;
	bool dfuse = e->dfu.dfu_version == ST7_BCDDFU_DFUSE;
	const struct st7_usb_device_desc dd = e->dev->dev;
	const struct st7_profile *p = dfuse ? NULL : upg_pick_profile(e, o, 0);
	struct st7_buf dfu;
	int ret = st7_engine_enter_dfu(e, d);
	st7_buf_init(&dfu);
	if (ret == ST7_OK && dfuse) {
		struct st7_dfu_ids ids = { dd.id_vendor, dd.id_product,
			                   runtime ? dd.bcd_device : ST7_DFU_ID_ANY, 0 };
		ret = proven_read(e, read_dfuse_all, &ids, &dfu, d);
	} else if (ret == ST7_OK) {
		ret = upload_plain(e, o, p, runtime, &dd, &dfu, d);
	}
	/* The file fails as ST7_ERR_IO, whatever the store's finer reason. */
	if (ret == ST7_OK &&
	    st7_store_write_atomic(run->store, path, dfu.data, dfu.len, 0644, 0, d) != ST7_OK)
		ret = ST7_ERR_IO;
	if (runtime && e->dev && e->dfu.mode == ST7_DFU_MODE_DFU) {
		/* Back to its application, whether the read worked or not. */
		struct st7_diag fd;
		st7_engine_finish(e, true, ST7_DFU_MODE_RUNTIME, &fd);
	}
	st7_buf_free(&dfu);
	return ret;
}
