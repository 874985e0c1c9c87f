/* SPDX-License-Identifier: MIT */
/* The backend-independent part of the fetch interface. */
#include "fetch.h"

#include <string.h>
#include <strings.h>

void st7_fetch_opts_default(struct st7_fetch_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_s = 20;
	o->total_timeout_s = 900;
	o->low_speed_bytes = 256;
	o->low_speed_time_s = 60;
	o->max_size = (uint64_t)4 << 20;
}

bool st7_url_is_remote(const char *url)
{
	return strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0;
}

void st7_fetch_free(struct st7_fetcher *f)
{
	if (f->ops && f->ops->destroy)
		f->ops->destroy(f);
	f->ops = NULL;
	f->impl = NULL;
}
