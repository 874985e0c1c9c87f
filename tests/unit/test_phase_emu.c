/* SPDX-License-Identifier: MIT */
/*
 * The upgrade decisions (core/upgrade.h) in-process, phase by phase: the test transport
 * injects a fault at the moment a phase starts (detach, the backup's or upload's read,
 * the download, the manifestation, the post-check as the device comes back, the
 * rollback's download), for each device kind and command: a stall once, a stall every
 * time in that phase, a request never answered, a power loss the device comes back from
 * (100 ms), one it never comes back from. The phase is recognised from the requests
 * themselves (their type, block number, and which image's bytes a block carries). Each
 * case is checked like the fault matrix's (emu_expect.c); the promise per command, phase
 * and fault is the table below.
 *
 * ONLY=substring runs the matching cases; ST7_TEST_VERBOSE=1 shows the agent's log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dfu_proto.h"
#include "emu_expect.h"

/* ---- Phases: faults injected when a phase starts --------------------------------------- */

enum phase { PH_DETACH, PH_BACKUP, PH_DOWNLOAD, PH_MANIFEST, PH_POSTCHECK, PH_ROLLBACK, PHASES };
static const char *const phase_names[] = { "detach",   "backup/upload", "download",
	                                   "manifest", "post-check",    "rollback" };
enum pfault { PF_STALL, PF_STALL_ALWAYS, PF_SILENT, PF_POWER_BACK, PF_POWER_NEVER, PFAULTS };
static const char *const pfault_names[] = { "stall once", "stall always", "no answer once",
	                                    "power loss, back", "power loss, never back" };

struct phase_hook {
	struct rig *r;
	enum rig_kind kind;
	enum phase phase;
	enum pfault fault;
	unsigned fired;
	int data_of;           /* the image the last data block came from: 0 old, 1 new, -1 */
	bool manifested;       /* the new image's zero-length DNLOAD went by */
	bool rollback_started; /* an old-image block went by after a new-image one */
	bool downloaded_new;
	bool base; /* an upgrade that must roll back (rollback_base) */
};

/* Which image a DNLOAD's bytes come from (random images: one block is unique). */
static int data_image(enum rig_kind k, const uint8_t *data, uint16_t len)
{
	for (int w = 0; w < 2 && len >= 16; w++) {
		const struct st7_buf *b = &S.im.img[k][w].bin;
		for (size_t off = 0; off + len <= b->len; off += 16)
			if (!memcmp(b->data + off, data, len))
				return w;
	}
	return -1;
}

/* Is this request the start (or, for "always", a part) of the hooked phase? */
static bool in_phase(struct phase_hook *h, const uint8_t s[8], const uint8_t *data, uint16_t len)
{
	bool dfu_out = s[0] == 0x21, dfu_in = s[0] == 0xA1;
	uint16_t block = (uint16_t)(s[2] | s[3] << 8);
	bool dfuse = h->kind == RIG_DFUSE;
	bool data_block = dfu_out && s[1] == ST7_DFU_DNLOAD && len > 0 && (!dfuse || block >= 2);
	int img = data_block ? data_image(h->kind, data, len) : -1;
	if (img == 1)
		h->downloaded_new = true;
	if (img == 0 && h->downloaded_new)
		h->rollback_started = true;
	if (img >= 0)
		h->data_of = img;
	switch (h->phase) {
	case PH_DETACH:
		return dfu_out && s[1] == ST7_DFU_DETACH;
	case PH_BACKUP:
		return dfu_in && s[1] == ST7_DFU_UPLOAD && (!dfuse || block >= 2) &&
		       !h->downloaded_new;
	case PH_DOWNLOAD:
		return img >= 0 && block == (dfuse ? 3 : ex_blk_for(h->kind)) &&
		       !h->rollback_started;
	case PH_MANIFEST:
		if (dfu_out && s[1] == ST7_DFU_DNLOAD && len == 0 && !h->rollback_started) {
			h->manifested = true;
			return true;
		}
		return false;
	case PH_POSTCHECK: {
		if (dfu_out && s[1] == ST7_DFU_DNLOAD && len == 0)
			h->manifested = true;
		struct emu_info in;
		emu_dev_info(emu_transport_dev(h->r->t, 0), &in);
		return h->manifested && !h->rollback_started && s[0] == 0x80 && s[1] == 6 &&
		       in.mode == EMU_MODE_RUNTIME;
	}
	case PH_ROLLBACK:
		return img == 0 && h->rollback_started &&
		       block == (dfuse ? 3 : ex_blk_for(h->kind));
	case PHASES:
		break;
	}
	return false;
}

static enum emu_hook_verdict phase_fault(void *arg, unsigned dev, const uint8_t setup[8],
                                         const uint8_t *data, uint16_t len)
{
	struct phase_hook *h = arg;
	(void)dev;
	if (!in_phase(h, setup, data, len))
		return EMU_HOOK_PASS;
	if (h->fired && h->fault != PF_STALL_ALWAYS)
		return EMU_HOOK_PASS;
	h->fired++;
	struct emu_dev *d = emu_transport_dev(h->r->t, 0);
	switch (h->fault) {
	case PF_STALL:
	case PF_STALL_ALWAYS:
		return EMU_HOOK_STALL;
	case PF_SILENT:
		return EMU_HOOK_SILENT;
	case PF_POWER_BACK:
		emu_dev_unplug(d, emu_transport_now_us(h->r->t), 100000);
		return EMU_HOOK_PASS;
	case PF_POWER_NEVER:
	case PFAULTS:
		emu_dev_unplug(d, emu_transport_now_us(h->r->t), EMU_NEVER);
		return EMU_HOOK_PASS;
	}
	return EMU_HOOK_PASS;
}

/* The promise for each command, phase and fault: exits allowed, final mode. The
 * rollback phase is an upgrade whose new image's block always stalls (so it rolls back),
 * faulted again while it restores. */
struct pexpect {
	enum ex_cmd cmd;
	enum phase phase;
	enum pfault fault;
	const char *exits; /* "0,7" */
	const char *mode;
};

static const struct pexpect pexpects[] = {
	/* Detach: nothing erased; a device that lost power and came back is detached again
	 * or left running (7); one that never comes back is gone. */
	{ CMD_UPGRADE, PH_DETACH, PF_STALL, "7", "runtime" },
	{ CMD_UPGRADE, PH_DETACH, PF_STALL_ALWAYS, "7", "runtime" },
	{ CMD_UPGRADE, PH_DETACH, PF_SILENT, "7", "runtime" },
	{ CMD_UPGRADE, PH_DETACH, PF_POWER_BACK, "0,7", "runtime" },
	{ CMD_UPGRADE, PH_DETACH, PF_POWER_NEVER, "7", "unplugged" },
	/* Backup: a read that failed leaves no backup, so nothing may be erased. */
	{ CMD_UPGRADE, PH_BACKUP, PF_STALL, "0,7", "runtime" },
	{ CMD_UPGRADE, PH_BACKUP, PF_STALL_ALWAYS, "7", "runtime" },
	{ CMD_UPGRADE, PH_BACKUP, PF_SILENT, "0,7", "runtime" },
	{ CMD_UPGRADE, PH_BACKUP, PF_POWER_BACK, "0,7", "runtime" },
	{ CMD_UPGRADE, PH_BACKUP, PF_POWER_NEVER, "7", "unplugged" },
	/* Download: retried from block 0; when every attempt fails, the backup goes back. */
	{ CMD_UPGRADE, PH_DOWNLOAD, PF_STALL, "0", "runtime" },
	{ CMD_UPGRADE, PH_DOWNLOAD, PF_STALL_ALWAYS, "8", "runtime" },
	{ CMD_UPGRADE, PH_DOWNLOAD, PF_SILENT, "0", "runtime" },
	{ CMD_UPGRADE, PH_DOWNLOAD, PF_POWER_BACK, "0", "runtime" },
	{ CMD_UPGRADE, PH_DOWNLOAD, PF_POWER_NEVER, "9", "unplugged" },
	/* Manifest: the whole image is in; a lost manifestation is done again. */
	{ CMD_UPGRADE, PH_MANIFEST, PF_STALL, "0", "runtime" },
	{ CMD_UPGRADE, PH_MANIFEST, PF_STALL_ALWAYS, "8", "runtime" },
	{ CMD_UPGRADE, PH_MANIFEST, PF_SILENT, "0", "runtime" },
	{ CMD_UPGRADE, PH_MANIFEST, PF_POWER_BACK, "0,8", "runtime" },
	{ CMD_UPGRADE, PH_MANIFEST, PF_POWER_NEVER, "9", "unplugged" },
	/* Post-check: the new firmware runs; reading its descriptors is retried. */
	{ CMD_UPGRADE, PH_POSTCHECK, PF_STALL, "0", "runtime" },
	{ CMD_UPGRADE, PH_POSTCHECK, PF_STALL_ALWAYS, "0", "runtime" },
	{ CMD_UPGRADE, PH_POSTCHECK, PF_SILENT, "0", "runtime" },
	/* Power lost as it came back: it passed the post-check (its descriptors), but the
	 * read-back of the new firmware fails, so its backup stays unchecked (14). */
	{ CMD_UPGRADE, PH_POSTCHECK, PF_POWER_BACK, "0,14", "runtime" },
	{ CMD_UPGRADE, PH_POSTCHECK, PF_POWER_NEVER, "14", "unplugged" },
	/* Rollback: retried like any download; when it cannot be done, DFU mode. */
	{ CMD_UPGRADE, PH_ROLLBACK, PF_STALL, "8", "runtime" },
	{ CMD_UPGRADE, PH_ROLLBACK, PF_STALL_ALWAYS, "9", "dfu" },
	{ CMD_UPGRADE, PH_ROLLBACK, PF_SILENT, "8", "runtime" },
	{ CMD_UPGRADE, PH_ROLLBACK, PF_POWER_BACK, "8", "runtime" },
	{ CMD_UPGRADE, PH_ROLLBACK, PF_POWER_NEVER, "9", "unplugged" },
	/* rollback and download: the same phases, without a backup of their own. */
	{ CMD_ROLLBACK, PH_DETACH, PF_STALL, "7", "runtime" },
	{ CMD_ROLLBACK, PH_DETACH, PF_POWER_BACK, "0,7", "runtime" },
	{ CMD_ROLLBACK, PH_DETACH, PF_POWER_NEVER, "7", "unplugged" },
	{ CMD_ROLLBACK, PH_ROLLBACK, PF_STALL, "0", "runtime" },
	{ CMD_ROLLBACK, PH_ROLLBACK, PF_STALL_ALWAYS, "9", "dfu" },
	{ CMD_ROLLBACK, PH_ROLLBACK, PF_SILENT, "0", "runtime" },
	{ CMD_ROLLBACK, PH_ROLLBACK, PF_POWER_BACK, "0", "runtime" },
	{ CMD_ROLLBACK, PH_ROLLBACK, PF_POWER_NEVER, "9", "unplugged" },
	{ CMD_DOWNLOAD, PH_DETACH, PF_STALL, "7", "runtime" },
	{ CMD_DOWNLOAD, PH_DETACH, PF_POWER_NEVER, "7", "unplugged" },
	{ CMD_DOWNLOAD, PH_DOWNLOAD, PF_STALL, "0", "runtime" },
	{ CMD_DOWNLOAD, PH_DOWNLOAD, PF_STALL_ALWAYS, "9", "dfu" },
	{ CMD_DOWNLOAD, PH_DOWNLOAD, PF_SILENT, "0", "runtime" },
	{ CMD_DOWNLOAD, PH_DOWNLOAD, PF_POWER_BACK, "0", "runtime" },
	{ CMD_DOWNLOAD, PH_DOWNLOAD, PF_POWER_NEVER, "9", "unplugged" },
	{ CMD_DOWNLOAD, PH_MANIFEST, PF_STALL, "0", "runtime" },
	{ CMD_DOWNLOAD, PH_MANIFEST, PF_STALL_ALWAYS, "9", "dfu" },
	{ CMD_DOWNLOAD, PH_MANIFEST, PF_POWER_BACK, "0", "runtime" },
	{ CMD_DOWNLOAD, PH_MANIFEST, PF_POWER_NEVER, "9", "unplugged" },
	{ CMD_DOWNLOAD, PH_POSTCHECK, PF_STALL, "0", "runtime" },
	{ CMD_DOWNLOAD, PH_POSTCHECK, PF_POWER_BACK, "0", "runtime" },
	{ CMD_UPLOAD, PH_DETACH, PF_STALL, "7", "runtime" },
	{ CMD_UPLOAD, PH_DETACH, PF_POWER_NEVER, "7", "unplugged" },
	{ CMD_UPLOAD, PH_BACKUP, PF_STALL, "0,7", "runtime" },
	{ CMD_UPLOAD, PH_BACKUP, PF_STALL_ALWAYS, "7", "runtime" },
	{ CMD_UPLOAD, PH_BACKUP, PF_SILENT, "0,7", "runtime" },
	{ CMD_UPLOAD, PH_BACKUP, PF_POWER_BACK, "0,7", "runtime" },
	{ CMD_UPLOAD, PH_BACKUP, PF_POWER_NEVER, "7", "unplugged" },
};

/* An upgrade that must roll back: every new-image block BLK stalls. */
static enum emu_hook_verdict rollback_base(void *arg, unsigned dev, const uint8_t setup[8],
                                           const uint8_t *data, uint16_t len)
{
	struct phase_hook *h = arg;
	enum emu_hook_verdict v = phase_fault(arg, dev, setup, data, len);
	uint16_t block = (uint16_t)(setup[2] | setup[3] << 8);
	if (v == EMU_HOOK_PASS && !h->rollback_started && h->data_of == 1 && setup[0] == 0x21 &&
	    setup[1] == ST7_DFU_DNLOAD && len &&
	    block == (h->kind == RIG_DFUSE ? 3 : ex_blk_for(h->kind)))
		return EMU_HOOK_STALL;
	return v;
}

static void phase_before(struct rig *r, void *arg)
{
	struct phase_hook *h = arg;
	h->r = r;
	emu_transport_set_hook(r->t, h->base ? rollback_base : phase_fault, h);
}

static void phase_after(struct rig *r, void *arg, struct failures *fs)
{
	struct phase_hook *h = arg;
	emu_transport_set_hook(r->t, NULL, NULL);
	EXPECT(fs, h->fired > 0, "the fault never fired");
}

static void run_phase_case(unsigned id, const struct pexpect *pe, enum rig_kind k)
{
	struct fcase c = { 0 };
	snprintf(c.name, sizeof(c.name), "%s at %s", pfault_names[pe->fault],
	         phase_names[pe->phase]);
	c.cmd = pe->cmd;
	c.kind = k;
	ex_set_expect(&c, pe->exits);
	snprintf(c.mode, sizeof(c.mode), "%s", pe->mode);
	c.settle_ms = pe->fault == PF_POWER_BACK ? 400 : 0;
	struct phase_hook h = { NULL, k, pe->phase, pe->fault, 0, -1, false, false, false, false };
	/* The rollback command restores old-image blocks from the start. */
	h.downloaded_new = h.rollback_started = c.cmd == CMD_ROLLBACK;
	h.base = c.cmd == CMD_UPGRADE && pe->phase == PH_ROLLBACK;
	struct ex_hooks hooks = { phase_before, phase_after, &h };
	ex_run_case("p", id, &c, &hooks);
}

static void test_phase_matrix(void)
{
	unsigned id = 0, per_phase[PHASES] = { 0 };
	for (size_t i = 0; i < sizeof(pexpects) / sizeof(pexpects[0]); i++)
		for (int k = 0; k < RIG_KINDS; k++) {
			char what[160];
			snprintf(what, sizeof(what), "%s at %s %s %s",
			         pfault_names[pexpects[i].fault], phase_names[pexpects[i].phase],
			         ex_cmd_names[pexpects[i].cmd], rig_kind_name((enum rig_kind)k));
			id++;
			if (S.only && !strstr(what, S.only))
				continue;
			per_phase[pexpects[i].phase]++;
			run_phase_case(id, &pexpects[i], (enum rig_kind)k);
		}
	printf("phase matrix: %u cases:", id);
	for (int p = 0; p < PHASES; p++)
		printf(" %s %u%s", phase_names[p], per_phase[p], p + 1 < PHASES ? "," : "\n");
}

int main(void)
{
	if (ex_suite_setup("test_phase_emu"))
		return 1;
	test_phase_matrix();
	check_passed += S.passed;
	check_failed += ex_suite_finish();
	return check_report();
}
