/* SPDX-License-Identifier: MIT */
#include "dfu_proto.h"

static const char *const state_names[] = {
	"appIDLE",          "appDETACH",   "dfuIDLE",
	"dfuDNLOAD-SYNC",   "dfuDNBUSY",   "dfuDNLOAD-IDLE",
	"dfuMANIFEST-SYNC", "dfuMANIFEST", "dfuMANIFEST-WAIT-RESET",
	"dfuUPLOAD-IDLE",   "dfuERROR",
};

/* Names and texts from the DFU 1.1 status table. */
static const struct {
	const char *name, *text;
} statuses[] = {
	{ "OK", "No error condition is present." },
	{ "errTARGET", "File is not targeted for use by this device." },
	{ "errFILE", "File is for this device but fails some vendor-specific verification test." },
	{ "errWRITE", "Device is unable to write memory." },
	{ "errERASE", "Memory erase function failed." },
	{ "errCHECK_ERASED", "Memory erase check failed." },
	{ "errPROG", "Program memory function failed." },
	{ "errVERIFY", "Programmed memory failed verification." },
	{ "errADDRESS", "Cannot program memory due to received address that is out of range." },
	{ "errNOTDONE", "Received DFU_DNLOAD with wLength = 0, but device does not think it has "
	                "all of the data yet." },
	{ "errFIRMWARE", "Device's firmware is corrupt. It cannot return to run-time "
	                 "(non-DFU) operations." },
	{ "errVENDOR", "iString indicates a vendor-specific error." },
	{ "errUSBR", "Device detected unexpected USB reset signaling." },
	{ "errPOR", "Device detected unexpected power on reset." },
	{ "errUNKNOWN", "Something went wrong, but the device does not know what it was." },
	{ "errSTALLEDPKT", "Device stalled an unexpected request." },
};

static const char *const request_names[] = {
	"DFU_DETACH",    "DFU_DNLOAD",   "DFU_UPLOAD", "DFU_GETSTATUS",
	"DFU_CLRSTATUS", "DFU_GETSTATE", "DFU_ABORT",
};

const char *st7_dfu_state_name(int state)
{
	if (state < 0 || state > ST7_DFU_ERROR)
		return "unknown";
	return state_names[state];
}

const char *st7_dfu_status_name(int status)
{
	if (status < 0 || status > ST7_DFU_ERR_STALLEDPKT)
		return "unknown";
	return statuses[status].name;
}

const char *st7_dfu_status_text(int status)
{
	if (status < 0 || status > ST7_DFU_ERR_STALLEDPKT)
		return "unknown status";
	return statuses[status].text;
}

const char *st7_dfu_request_name(int request)
{
	if (request < 0 || request > ST7_DFU_ABORT)
		return "unknown";
	return request_names[request];
}

int st7_dfu_status_parse(const uint8_t *p, size_t len, struct st7_dfu_status_reply *out,
                         struct st7_diag *d)
{
	if (len < 6)
		return st7_diag_set(d, ST7_ERR_FORMAT, "DFU_GETSTATUS reply of %zu bytes, need 6",
		                    len);
	out->status = p[0];
	out->poll_timeout_ms = (uint32_t)p[1] | ((uint32_t)p[2] << 8) | ((uint32_t)p[3] << 16);
	out->state = p[4];
	out->i_string = p[5];
	if (out->state > ST7_DFU_ERROR)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "DFU_GETSTATUS: bState %u is not a DFU state", out->state);
	if (out->status > ST7_DFU_ERR_STALLEDPKT)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "DFU_GETSTATUS: bStatus 0x%02X is not a DFU status",
		                    out->status);
	return ST7_OK;
}
