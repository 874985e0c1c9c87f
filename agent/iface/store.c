/* SPDX-License-Identifier: MIT */
/* The backend-independent part of the store interface. */
#include "store.h"

#include <stdio.h>
#include <string.h>

void st7_store_free(struct st7_store *s)
{
	if (s->ops && s->ops->destroy)
		s->ops->destroy(s->impl);
	s->ops = NULL;
	s->impl = NULL;
}

int st7_store_join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= size ? ST7_ERR_INVALID : ST7_OK;
}

int st7_store_dirname(char *out, size_t size, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	if (!slash)
		return snprintf(out, size, ".") >= (int)size ? ST7_ERR_INVALID : ST7_OK;
	if (n == 0)
		n = 1; /* "/file" lives in "/" */
	if (n >= size)
		return ST7_ERR_INVALID;
	memcpy(out, path, n);
	out[n] = '\0';
	return ST7_OK;
}

const char *st7_store_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}
