/* SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700 /* nftw */
#include "emu_rig.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memimg.h"

/* ---- Images ------------------------------------------------------------------------- */

/* Deterministic bytes (xorshift), different per seed. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static int write_file(const char *path, const struct st7_buf *b)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = b->len ? fwrite(b->data, 1, b->len, f) : 0;
	return fclose(f) == 0 && n == b->len ? 0 : -1;
}

static int make_one(struct rig_image *ri, enum rig_kind k, int which, const char *dir)
{
	uint16_t v = which ? RIG_NEWV : RIG_OLDV;
	struct st7_diag d = { "" };
	size_t size = k == RIG_ST7 ? RIG_ST7_REGION : RIG_GEN_SIZE;
	int ret = st7_buf_reserve(&ri->bin, size);
	if (ret)
		return -1;
	ri->bin.len = size;
	fill(ri->bin.data, size, (uint32_t)(k * 2 + which + 1));
	uint8_t *end = ri->bin.data + size;
	if (k == RIG_ST7) { /* the big-endian version word at the region's end */
		end[-2] = (uint8_t)(v >> 8);
		end[-1] = (uint8_t)v;
	} else { /* the little-endian word at 0x1FFC (version-addr), then erased */
		end[-4] = (uint8_t)v;
		end[-3] = (uint8_t)(v >> 8);
		end[-2] = end[-1] = 0xFF;
	}
	if (k == RIG_DFUSE) {
		struct st7_memimg m;
		st7_memimg_init(&m);
		struct st7_dfuse_target_spec t = { 0, NULL, &m };
		struct st7_dfu_ids ids = { 0x0483, 0xDF11, v, 0 };
		ret = st7_memimg_add(&m, RIG_DFUSE_BASE, ri->bin.data, size, &d);
		if (ret == ST7_OK)
			ret = st7_dfu_build_dfuse(&t, 1, &ids, &ri->dfu, &d);
		st7_memimg_free(&m);
	} else {
		struct st7_dfu_ids ids = { 0x0483, 0xFF03, v, k == RIG_DFU11 ? 0x0110 : 0 };
		ret = st7_dfu_build_plain(ri->bin.data, size, &ids, &ri->dfu, &d);
	}
	if (ret == ST7_OK)
		ret = st7_dfu_file_parse(&ri->f, ri->dfu.data, ri->dfu.len, 0, &d);
	if (ret) {
		fprintf(stderr, "rig: cannot build the %s image: %s\n", rig_kind_name(k), d.msg);
		return -1;
	}
	snprintf(ri->bin_path, sizeof(ri->bin_path), "%s/%s-%s.bin", dir, rig_kind_name(k),
	         which ? "new" : "old");
	return write_file(ri->bin_path, &ri->bin);
}

int rig_images_make(struct rig_images *im, const char *dir)
{
	for (int k = 0; k < RIG_KINDS; k++)
		for (int w = 0; w < 2; w++) {
			st7_buf_init(&im->img[k][w].bin);
			st7_buf_init(&im->img[k][w].dfu);
			st7_dfu_file_init(&im->img[k][w].f);
		}
	for (int k = 0; k < RIG_KINDS; k++)
		for (int w = 0; w < 2; w++)
			if (make_one(&im->img[k][w], (enum rig_kind)k, w, dir))
				return -1;
	return 0;
}

void rig_images_free(struct rig_images *im)
{
	for (int k = 0; k < RIG_KINDS; k++)
		for (int w = 0; w < 2; w++) {
			st7_dfu_file_free(&im->img[k][w].f);
			st7_buf_free(&im->img[k][w].dfu);
			st7_buf_free(&im->img[k][w].bin);
		}
}

const char *rig_kind_name(enum rig_kind k)
{
	static const char *const names[] = { "st7", "dfu11", "dfuse" };
	return (unsigned)k < RIG_KINDS ? names[k] : "?";
}

const char *rig_kind_spec(enum rig_kind k)
{
	static const char *const specs[] = {
		"kind=st7,profile=st72f65",
		"kind=dfu11,mem-size=8K,version-addr=0x1FFC",
		"kind=dfuse,mem-size=8K,version-addr=0x08001FFC",
	};
	return (unsigned)k < RIG_KINDS ? specs[k] : "";
}

void rig_spec(char *out, size_t cap, const struct rig_images *im, enum rig_kind k, int which,
              const char *extra)
{
	snprintf(out, cap, "%s,serial=FM,flash-in=%s," RIG_FAST "%s%s", rig_kind_spec(k),
	         im->img[k][which].bin_path, extra && extra[0] ? "," : "", extra ? extra : "");
}

/* ---- Temporary directories ---------------------------------------------------------- */

int rig_tmpdir(char *out, size_t cap)
{
	const char *base = getenv("TMPDIR");
	if (snprintf(out, cap, "%s/st7emu.XXXXXX", base && base[0] ? base : "/tmp") >= (int)cap)
		return -1;
	return mkdtemp(out) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void rig_rmtree(const char *dir)
{
	if (dir && dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- The rig ------------------------------------------------------------------------ */

int rig_open(struct rig *r, const char *spec, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	fake_clock_init(&r->clk);
	st7_engine_opts_default(&r->eo);
	r->eo.reenum_timeout_ms = 3000;
	if (emu_transport_init(&r->usb, &r->clk, &r->t) != ST7_OK) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (spec && !emu_transport_add(r->t, spec, err, errlen)) {
		st7_usb_free(&r->usb);
		return -1;
	}
	struct st7_diag d = { "" };
	if (st7_store_posix_init(&r->store, &d) != ST7_OK) {
		snprintf(err, errlen, "store: %s", d.msg);
		st7_usb_free(&r->usb);
		return -1;
	}
	st7_run_init(&r->run);
	rig_new_run(r);
	return 0;
}

void rig_new_run(struct rig *r)
{
	st7_run_free(&r->run);
	st7_run_init(&r->run);
	r->run.usb = &r->usb;
	r->run.clock = &r->clk.clock;
	r->run.store = &r->store;
	r->run.abort_flag = &r->stop;
}

int rig_select_by(struct rig *r, const struct st7_selector *sel, struct st7_diag *d)
{
	if (r->engine_live)
		st7_engine_free(&r->e);
	st7_engine_init(&r->e, &r->usb, &r->clk.clock, &r->eo);
	r->e.abort_flag = &r->stop;
	r->engine_live = true;
	return st7_engine_select(&r->e, sel, d);
}

int rig_select(struct rig *r, struct st7_diag *d)
{
	static const struct st7_selector any = { 0 };
	return rig_select_by(r, &any, d);
}

void rig_close(struct rig *r)
{
	if (r->engine_live)
		st7_engine_free(&r->e);
	r->engine_live = false;
	st7_run_free(&r->run);
	st7_store_free(&r->store);
	st7_usb_free(&r->usb);
}

bool rig_mem_is(struct rig *r, const struct st7_buf *m)
{
	size_t len;
	const uint8_t *mem = emu_dev_memory(emu_transport_dev(r->t, 0), &len);
	return len >= m->len && memcmp(mem, m->data, m->len) == 0;
}

struct emu_info rig_info(struct rig *r)
{
	struct emu_info in;
	emu_transport_run_for(r->t, 0);
	emu_dev_info(emu_transport_dev(r->t, 0), &in);
	return in;
}

/* ---- The commands ------------------------------------------------------------------- */

enum st7_upgrade_outcome rig_upgrade(struct rig *r, const struct st7_dfu_file *img,
                                     const struct st7_upgrade_opts *o,
                                     struct st7_upgrade_report *rep)
{
	return st7_upgrade(&r->run, &r->e, img, o, rep);
}

enum st7_upgrade_outcome rig_rollback(struct rig *r, const struct st7_dfu_file *file,
                                      const char *label, bool own_backup,
                                      const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *rep)
{
	return st7_rollback(&r->run, &r->e, file, label, own_backup, o, rep);
}

enum st7_upgrade_outcome rig_download(struct rig *r, const struct st7_dfu_file *img,
                                      const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *rep)
{
	return st7_download(&r->run, &r->e, img, o, rep);
}

int rig_upload(struct rig *r, const struct st7_upgrade_opts *o, const char *path,
               struct st7_diag *d)
{
	int ret = st7_upload_to_file(&r->run, &r->e, o, path, d);
	return ret == ST7_OK ? 0 : ret == ST7_ERR_IO ? 4 : ret == ST7_ERR_ABORTED ? 10 : 7;
}

int rig_backup_load(struct rig *r, const char *path, struct st7_buf *bytes, struct st7_dfu_file *f,
                    struct st7_diag *d)
{
	return st7_backup_load(&r->run, path, bytes, f, d);
}

int rig_outcome_exit(enum st7_upgrade_outcome o)
{
	switch (o) {
	case ST7_UPG_DONE:
		return 0;
	case ST7_UPG_NOTHING:
		return 5;
	case ST7_UPG_REFUSED:
		return 3;
	case ST7_UPG_NO_DEVICE:
		return 6;
	case ST7_UPG_UNTOUCHED:
		return 7;
	case ST7_UPG_ROLLED_BACK:
		return 8;
	case ST7_UPG_LEFT_IN_DFU:
		return 9;
	case ST7_UPG_ABORTED:
		return 10;
	case ST7_UPG_STORAGE:
		return 4;
	case ST7_UPG_UNVERIFIED:
		return 14;
	}
	return 1;
}

int rig_select_exit(int ret)
{
	return ret == ST7_ERR_NO_DEVICE || ret == ST7_ERR_AMBIGUOUS ? 6 : 7;
}
