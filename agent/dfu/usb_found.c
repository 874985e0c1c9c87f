/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "usb_found.h"

void st7_usb_found_free(struct st7_usb_found *list, size_t n)
{
	if (!list)
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < list[i].n_alts; k++)
			free(list[i].alts[k].extra);
		free(list[i].alts);
		free(list[i].config_extra);
	}
	free(list);
}
