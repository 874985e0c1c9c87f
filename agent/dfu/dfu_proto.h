/* SPDX-License-Identifier: MIT */
/*
 * The DFU protocol's vocabulary (DFU 1.1 sections 3 and 6; DFU 1.0 the same for these):
 * class requests, device states, status codes, and the GETSTATUS reply. Pure.
 */
#ifndef ST7_DFU_PROTO_H
#define ST7_DFU_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* bmRequestType for class requests to an interface (DFU 1.1 section 3, table 3.1):
 * host-to-device or device-to-host, class, recipient interface. */
#define ST7_DFU_REQTYPE_OUT 0x21
#define ST7_DFU_REQTYPE_IN 0xA1

/* bRequest values (DFU 1.1 section 3, table 3.2; DFU 1.0 the same). */
enum st7_dfu_request {
	ST7_DFU_DETACH = 0,
	ST7_DFU_DNLOAD = 1,
	ST7_DFU_UPLOAD = 2,
	ST7_DFU_GETSTATUS = 3,
	ST7_DFU_CLRSTATUS = 4,
	ST7_DFU_GETSTATE = 5,
	ST7_DFU_ABORT = 6
};

/*
 * DfuSe commands (ST AN3156, "DFU_DNLOAD request commands" and "DFU_UPLOAD request
 * commands"; bcdDFUVersion 0x011A only): the first byte of a DFU_DNLOAD with wBlockNum 0,
 * followed by a little-endian 32-bit address where the command takes one. Each completes
 * through DFU_GETSTATUS (dfuDNBUSY, then dfuDNLOAD-IDLE) like a data block.
 */
enum st7_dfuse_command {
	/* "Get command": DFU_UPLOAD with wBlockNum 0 lists the supported command bytes,
	 * this one first (AN3156, DFU_UPLOAD "Get command"). Never sent as a DNLOAD. */
	ST7_DFUSE_GET_COMMANDS = 0x00,
	/* "Set Address Pointer": 0x21 + address; data blocks from wBlockNum 2 and uploads
	 * then land at address + (wBlockNum - 2) * wTransferSize (AN3156, DFU_DNLOAD). */
	ST7_DFUSE_SET_ADDRESS = 0x21,
	/* "Erase": 0x41 + address erases the page holding it; 0x41 alone is a mass erase
	 * (AN3156, DFU_DNLOAD "Erase command"). */
	ST7_DFUSE_ERASE = 0x41,
	/* "Read Unprotect": 0x92 alone removes read protection by a mass erase; the device
	 * then resets (AN3156, DFU_DNLOAD "Read Unprotect command"). Never sent by st7dfu. */
	ST7_DFUSE_READ_UNPROTECT = 0x92,
};
/* Bytes of a command with an address: the command byte and the 32-bit address. */
#define ST7_DFUSE_CMD_LEN 5
/* The first wBlockNum of data: 0 is a command, 1 is reserved (AN3156, "Write memory"). */
#define ST7_DFUSE_FIRST_DATA_BLOCK 2

/* bState values (DFU 1.1 section 6.1.2). */
enum st7_dfu_state {
	ST7_DFU_APP_IDLE = 0,
	ST7_DFU_APP_DETACH = 1,
	ST7_DFU_IDLE = 2,
	ST7_DFU_DNLOAD_SYNC = 3,
	ST7_DFU_DNBUSY = 4,
	ST7_DFU_DNLOAD_IDLE = 5,
	ST7_DFU_MANIFEST_SYNC = 6,
	ST7_DFU_MANIFEST = 7,
	ST7_DFU_MANIFEST_WAIT_RESET = 8,
	ST7_DFU_UPLOAD_IDLE = 9,
	ST7_DFU_ERROR = 10
};

/* bStatus values (DFU 1.1 section 6.1.2, table). */
enum st7_dfu_status {
	ST7_DFU_OK = 0x00,
	ST7_DFU_ERR_TARGET = 0x01,
	ST7_DFU_ERR_FILE = 0x02,
	ST7_DFU_ERR_WRITE = 0x03,
	ST7_DFU_ERR_ERASE = 0x04,
	ST7_DFU_ERR_CHECK_ERASED = 0x05,
	ST7_DFU_ERR_PROG = 0x06,
	ST7_DFU_ERR_VERIFY = 0x07,
	ST7_DFU_ERR_ADDRESS = 0x08,
	ST7_DFU_ERR_NOTDONE = 0x09,
	ST7_DFU_ERR_FIRMWARE = 0x0A,
	ST7_DFU_ERR_VENDOR = 0x0B,
	ST7_DFU_ERR_USBR = 0x0C,
	ST7_DFU_ERR_POR = 0x0D,
	ST7_DFU_ERR_UNKNOWN = 0x0E,
	ST7_DFU_ERR_STALLEDPKT = 0x0F
};

/* The 6-byte DFU_GETSTATUS reply (DFU 1.1 section 6.1.2). */
struct st7_dfu_status_reply {
	uint8_t status;
	uint32_t poll_timeout_ms; /* bwPollTimeout, 24 bits */
	uint8_t state;
	uint8_t i_string;
};

/* Decode a GETSTATUS reply; a short reply or an unknown state or status is an error
 * (the device's word is not trusted beyond the spec's values). */
int st7_dfu_status_parse(const uint8_t *p, size_t len, struct st7_dfu_status_reply *out,
                         struct st7_diag *d);

/* "dfuDNBUSY", "errWRITE" ...; "unknown" outside the spec's range. */
const char *st7_dfu_state_name(int state);
const char *st7_dfu_status_name(int status);
/* The spec's one-line meaning of a status ("Device is unable to write memory."). */
const char *st7_dfu_status_text(int status);
const char *st7_dfu_request_name(int request);

#endif
