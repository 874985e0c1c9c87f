/* SPDX-License-Identifier: MIT */
#include <stddef.h>

#include "usb_transport.h"

void st7_usb_free(struct st7_usb *u)
{
	if (u && u->ops && u->ops->destroy)
		u->ops->destroy(u->impl);
	if (u) {
		u->ops = NULL;
		u->impl = NULL;
	}
}
