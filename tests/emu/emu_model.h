/* SPDX-License-Identifier: MIT */
/*
 * Emulated USB DFU devices: the device side only, in plain C11 (no GLib, no I/O besides
 * reading a flash-in file), so unit tests can drive a device in-process and the umockdev
 * host (emu_host.c) can put the same device on an emulated bus.
 *
 * Three kinds (see shared/design/st7-device-model.md and tests/emu/README.md):
 *   EMU_KIND_ST7    the reference ST7 DFU 1.0 device (profiles st72f62/63/65);
 *   EMU_KIND_DFU11  a generic DFU 1.1 device (protocol 1 runtime / 2 DFU mode);
 *   EMU_KIND_DFUSE  an STM32-style DfuSe device (bcdDFUVersion 0x011A).
 *
 * Contract:
 * - Time is injected: every call that can change state takes `now_us`, a monotonic
 *   time in microseconds that never goes backwards. Nothing reads a clock, so a test
 *   can step time exactly.
 * - The device is "present" (on the bus, answering) or "absent" (after a reset that
 *   re-enumerates, a detach, a power loss; with plug-ms, until it is first plugged in).
 *   The host must not send it anything while absent (calls then answer EMU_XFER_GONE).
 *   emu_dev_enumeration() changes each time the device reappears, so a host can tell
 *   "the same node" from "a new node".
 * - emu_dev_tick() performs what only time does (the end of a busy period, the
 *   reappearance after reenum-ms or replug-ms); emu_dev_next_deadline() says when to
 *   call it next. Requests also catch up on time, so a host that only calls tick at
 *   deadlines sees exact behaviour.
 * - Every length from the client is checked: a transfer names its data buffer's
 *   capacity and nothing beyond it is read or written.
 * - Not thread-safe: one device, one caller at a time.
 */
#ifndef ST7_EMU_MODEL_H
#define ST7_EMU_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_NEVER UINT64_MAX
#define EMU_MAX_ALTS 8
#define EMU_LAYOUT_MAX 126 /* a string descriptor holds 126 UTF-16 characters */
#define EMU_SERIAL_MAX 64
#define EMU_PATH_MAX 512
#define EMU_MEM_LIMIT (16u << 20) /* bytes of emulated memory per device, all alts */

enum emu_kind { EMU_KIND_ST7, EMU_KIND_DFU11, EMU_KIND_DFUSE };
enum emu_mode { EMU_MODE_RUNTIME, EMU_MODE_DFU };
/* Per-transfer latency: NONE answers at once (fast tests); LOW and FULL model the bus. */
enum emu_bus { EMU_BUS_NONE, EMU_BUS_LOW, EMU_BUS_FULL };
enum emu_desc_fault {
	EMU_DESC_OK,
	EMU_DESC_XFER0,       /* wTransferSize 0 in the functional descriptor */
	EMU_DESC_TRUNC_FUNC,  /* functional descriptor cut to 5 bytes (bLength 5) */
	EMU_DESC_BAD_BLENGTH, /* functional descriptor's bLength 3 beyond its bytes and the config
	                       */
	EMU_DESC_BAD_TOTAL,   /* wTotalLength 16 more than the configuration holds */
	EMU_DESC_NO_FUNC,     /* no functional descriptor at all */
};

/* DFU states and status codes (DFU 1.1 section 6.1.2). */
enum emu_state {
	EMU_APP_IDLE = 0,
	EMU_APP_DETACH = 1,
	EMU_DFU_IDLE = 2,
	EMU_DNLOAD_SYNC = 3,
	EMU_DNBUSY = 4,
	EMU_DNLOAD_IDLE = 5,
	EMU_MANIFEST_SYNC = 6,
	EMU_MANIFEST = 7,
	EMU_MANIFEST_WAIT_RESET = 8,
	EMU_UPLOAD_IDLE = 9,
	EMU_DFU_ERROR = 10,
};
enum emu_status {
	EMU_OK = 0x00,
	EMU_ERR_TARGET = 0x01,
	EMU_ERR_FILE = 0x02,
	EMU_ERR_WRITE = 0x03,
	EMU_ERR_ERASE = 0x04,
	EMU_ERR_CHECK_ERASED = 0x05,
	EMU_ERR_PROG = 0x06,
	EMU_ERR_VERIFY = 0x07,
	EMU_ERR_ADDRESS = 0x08,
	EMU_ERR_NOTDONE = 0x09,
	EMU_ERR_FIRMWARE = 0x0A,
	EMU_ERR_VENDOR = 0x0B,
	EMU_ERR_USBR = 0x0C,
	EMU_ERR_POR = 0x0D,
	EMU_ERR_UNKNOWN = 0x0E,
	EMU_ERR_STALLEDPKT = 0x0F,
};

/* Request counters, in this order (EMU_REQ_OTHER: everything else). */
enum emu_req {
	EMU_REQ_DETACH,
	EMU_REQ_DNLOAD,
	EMU_REQ_UPLOAD,
	EMU_REQ_GETSTATUS,
	EMU_REQ_CLRSTATUS,
	EMU_REQ_GETSTATE,
	EMU_REQ_ABORT,
	EMU_REQ_GET_DESCRIPTOR,
	EMU_REQ_OTHER,
	EMU_REQ_COUNT
};

/*
 * A device's configuration: one field per SPEC key (README.md). Start from
 * emu_config_default(), then apply SPEC strings with emu_config_parse(). Negative
 * values mean "not set: use the kind's default". Checks across keys happen in
 * emu_dev_new().
 */
struct emu_config {
	enum emu_kind kind;
	int profile; /* ST7 part, index into emu_profile_at() */
	enum emu_mode mode;
	char serial[EMU_SERIAL_MAX];
	long version;         /* bcdDevice in runtime mode (ST7: the flash version word) */
	int64_t version_addr; /* dfu11: offset, dfuse: alt 0 address of the version word; -1 */
	long vid, pid, dfu_pid;
	char flash_in[EMU_PATH_MAX];  /* loaded by emu_dev_new() */
	char flash_out[EMU_PATH_MAX]; /* only carried for the host */
	int app_valid;                /* -1: valid in runtime mode, invalid in DFU mode */
	long mem_size;
	long transfer_size;
	long detach_timeout;
	int will_detach, manifest_tolerant;
	char layout[EMU_MAX_ALTS][EMU_LAYOUT_MAX + 1];
	unsigned n_layouts;
	enum emu_bus bus;
	long erase_ms, prog_ms, manifest_ms, reenum_ms;
	long plug_ms; /* -1 = on the bus at power-on; EMU_PLUG_SIGNAL: see emu_dev_plug_now() */
	/* Faults; -1 = off. */
	long stall_block, error_block;
	int error_status;
	long fault_times; /* 0 = always */
	long poll_ms;
	long getstatus_timeout; /* 1-based number of the GETSTATUS that never completes */
	int unplug_state;
	long unplug_block;
	long replug_ms; /* -1 = never */
	bool no_reenum;
	long wrong_version;
	bool reject_image;
	long upload_corrupt, upload_short;
	bool upload_long;
	enum emu_desc_fault desc;
	uint64_t given; /* bit per key set by emu_config_parse (internal bookkeeping) */
};

/* plug-ms=signal: off the bus until the host plugs it in (emu_dev_plug_now), so a test
 * decides the instant, whatever the machine's speed. */
#define EMU_PLUG_SIGNAL (-2L)

/* Defaults for the device at position `index` (0-based): serial "ST7-%04u" of index+1. */
void emu_config_default(struct emu_config *c, unsigned index);

/*
 * Apply a SPEC: comma-separated key=value pairs (keys as in README.md). A piece without
 * '=' continues the previous value, commas included, so DfuSe layouts keep their commas;
 * `layout=` may repeat (one alternate setting each). Returns 0, or -1 with a message in
 * err that names the key.
 */
int emu_config_parse(struct emu_config *c, const char *spec, char *err, size_t errlen);

/* "--help" text listing every key, for the host. */
const char *emu_config_keys_help(void);

/* The ST7 parts the model knows. */
struct emu_profile {
	const char *name;     /* "st72f65" */
	uint32_t flash_base;  /* first flash address */
	uint32_t region_base; /* first DFU-writable address */
	uint32_t region_end;  /* one past the last writable address (0xF000) */
	uint16_t transfer_size;
	bool full_speed;
};
const struct emu_profile *emu_profile_at(unsigned i); /* NULL past the end */
int emu_profile_find(const char *name);               /* index or -1 */

struct emu_dev;

/*
 * A device powered on at now_us (in the mode of cfg->mode; present at once, or with
 * cfg->plug_ms >= 0 absent until plug_ms after now_us, when it appears in that mode with
 * enumeration 1). Loads cfg->flash_in if set. NULL with a message in err on a bad
 * configuration, an unreadable file or no memory.
 */
struct emu_dev *emu_dev_new(const struct emu_config *cfg, uint64_t now_us, char *err,
                            size_t errlen);
void emu_dev_free(struct emu_dev *d);

/* True while a plug-ms=signal device has not been plugged in yet. */
bool emu_dev_waits_for_plug(const struct emu_dev *d);
/* Plug a waiting plug-ms=signal device in at now_us (it appears at the next tick). */
void emu_dev_plug_now(struct emu_dev *d, uint64_t now_us);

enum emu_xfer_status {
	EMU_XFER_OK,        /* answered; `actual` bytes of data (IN: written to data) */
	EMU_XFER_STALL,     /* the device stalled the request */
	EMU_XFER_NO_ANSWER, /* never completes (the host times out or discards it) */
	EMU_XFER_GONE,      /* the device is not on the bus */
	EMU_XFER_INVALID,   /* bad arguments from the host (wLength beyond capacity) */
};
struct emu_xfer {
	enum emu_xfer_status status;
	size_t actual;   /* bytes of the data stage */
	uint64_t bus_us; /* modelled bus time: the host completes the transfer this much later */
};

/*
 * One control transfer. setup: the 8-byte SETUP packet. data: the data stage (OUT: the
 * wLength bytes sent; IN: where up to wLength bytes go); cap: its size in bytes, which
 * must be >= wLength. The device may leave the bus as a result (a fault, bitWillDetach):
 * check emu_dev_present() afterwards.
 */
void emu_dev_control(struct emu_dev *d, uint64_t now_us, const uint8_t setup[8], uint8_t *data,
                     size_t cap, struct emu_xfer *x);

/* A USB port reset by the host. Returns true when the device stays (same node), false
 * when it left the bus (re-enumeration pending, or gone for good). */
bool emu_dev_usb_reset(struct emu_dev *d, uint64_t now_us);

/* Pull the plug now; it comes back (power-on) after back_after_us, or never (EMU_NEVER). */
void emu_dev_unplug(struct emu_dev *d, uint64_t now_us, uint64_t back_after_us);

/* plug-ms: count the plug delay from now_us instead (a host calls it when its first
 * command starts). No effect without plug-ms or once the device has appeared. */
void emu_dev_start_clock(struct emu_dev *d, uint64_t now_us);

void emu_dev_tick(struct emu_dev *d, uint64_t now_us);
uint64_t emu_dev_next_deadline(const struct emu_dev *d); /* EMU_NEVER when none */

bool emu_dev_present(const struct emu_dev *d);
uint32_t emu_dev_enumeration(const struct emu_dev *d);

struct emu_info {
	enum emu_kind kind;
	const char *profile; /* NULL unless ST7 */
	const char *serial;
	bool present;
	enum emu_mode mode; /* meaningful when present */
	int state, status;  /* DFU state and status now */
	bool app_valid;
	uint16_t vid, pid, bcd_device; /* what the device descriptor says now */
	bool full_speed;
	uint8_t max_packet0;
	unsigned num_interfaces;
	const char *flash_out;
	bool reenumerating; /* absent, coming back after a reset, detach or leave */
	uint64_t back_at;   /* when absent: when it comes back, or EMU_NEVER */
};
void emu_dev_info(const struct emu_dev *d, struct emu_info *i);

/* Device descriptor followed by the configuration descriptor, as Linux exposes them in
 * sysfs `descriptors`; valid until the device next changes. */
const uint8_t *emu_dev_descriptors(const struct emu_dev *d, size_t *len);

/* The memory flash-in/flash-out hold: ST7 writable region, DFU 1.1 memory, DfuSe alt 0's
 * segments concatenated. Writable by tests. */
uint8_t *emu_dev_memory(struct emu_dev *d, size_t *len);

struct emu_stats {
	uint64_t control_transfers;
	uint64_t dfu_requests; /* class requests to the DFU interface */
	uint64_t requests[EMU_REQ_COUNT];
	uint64_t resets, reenumerations, faults_fired;
	uint64_t mandated_us; /* device-mandated minimum time (README.md) */
	uint64_t elapsed_us;  /* first to last request (or reappearance) */
};
void emu_dev_stats(const struct emu_dev *d, struct emu_stats *s);

const char *emu_state_name(int state);   /* "dfuDNBUSY"; "?" when unknown */
const char *emu_status_name(int status); /* "errWRITE"; "OK" */
const char *emu_request_name(int req);   /* "DNLOAD", ..., "other" */
const char *emu_kind_name(enum emu_kind k);
int emu_state_from_name(const char *s);  /* name (case-insensitive) or number; -1 */
int emu_status_from_name(const char *s); /* errNAME, NAME or number 1..15; -1 */

#endif
