/* SPDX-License-Identifier: MIT */
#include "dfu_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st7_profile.h"

/* A device whose configuration could not be read at all may be a DFU device with
 * broken descriptors: it is listed with its problem rather than silently dropped. */
static bool unreadable(const struct st7_usb_found *f)
{
	return f->config_err != 0 || !f->dev_ok;
}

bool st7_dfu_list_wants(const struct st7_usb_found *f)
{
	for (size_t i = 0; i < f->n_alts; i++)
		if (f->alts[i].desc.cls == ST7_USB_CLASS_APP_SPECIFIC &&
		    f->alts[i].desc.subclass == ST7_USB_SUBCLASS_DFU)
			return true;
	return false;
}

static void describe(struct st7_dfu_device *dv, const struct st7_usb_found *f)
{
	struct st7_usb_altsetting alts[64];
	size_t n = f->n_alts < 64 ? f->n_alts : 64;
	struct st7_diag d = { "" };

	dv->usb = f;
	for (size_t i = 0; i < n; i++)
		alts[i] = f->alts[i].desc;
	st7_dfu_describe(&f->dev, alts, n, f->config_extra, f->config_extra_len, &dv->dfu, &d);
	if (f->raw_config_err) /* the root cause; what describe saw follows from it */
		snprintf(dv->problem, sizeof(dv->problem), "%s", f->problem);
	else if (dv->dfu.malformed)
		snprintf(dv->problem, sizeof(dv->problem), "%s", d.msg);
	else if (!f->dev_ok || f->problem[0])
		snprintf(dv->problem, sizeof(dv->problem), "%s", f->problem);
	if (dv->dfu.func.present)
		dv->profiles = st7_profile_match(f->dev.id_vendor, f->dev.max_packet_size0,
		                                 f->speed == ST7_USB_SPEED_FULL,
		                                 dv->dfu.func.length, dv->dfu.func.transfer_size);
	for (unsigned a = 0; a < dv->dfu.n_alts; a++) {
		dv->alt_name[a] = "";
		for (size_t i = 0; i < f->n_alts; i++)
			if (f->alts[i].desc.number == dv->dfu.interface &&
			    f->alts[i].desc.alt == dv->dfu.alts[a])
				dv->alt_name[a] = f->alts[i].name;
		/* DfuSe names each alt setting with its memory layout. */
		if (dv->alt_name[a][0] == '@') {
			struct st7_diag ld = { "" };
			dv->layout_ok[a] =
			        st7_dfuse_layout_parse(dv->alt_name[a], strlen(dv->alt_name[a]),
			                               &dv->layout[a], &ld) == ST7_OK;
			if (!dv->layout_ok[a] && !dv->problem[0]) {
				st7_diag_prefix(&ld, 0, "alt %u", dv->dfu.alts[a]);
				memcpy(dv->problem, ld.msg, sizeof(dv->problem));
			}
		}
	}
}

int st7_dfu_list_build(const struct st7_usb_found *found, size_t n, struct st7_dfu_device **out,
                       size_t *n_out)
{
	size_t k = 0;
	*out = NULL;
	*n_out = 0;
	struct st7_dfu_device *devs = calloc(n ? n : 1, sizeof(*devs));
	if (!devs)
		return ST7_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (st7_dfu_list_wants(&found[i]))
			describe(&devs[k++], &found[i]);
		else if (unreadable(&found[i])) {
			devs[k].usb = &found[i];
			devs[k].dfu.mode = ST7_DFU_MODE_NONE;
			devs[k].dfu.malformed = true;
			snprintf(devs[k].problem, sizeof(devs[k].problem), "%s",
			         found[i].problem[0] ? found[i].problem : "unreadable descriptors");
			k++;
		}
	}
	*out = devs;
	*n_out = k;
	return ST7_OK;
}
