/* SPDX-License-Identifier: MIT */
#include "run.h"

#include <stdio.h>
#include <string.h>

#include "trust.h"

void st7_run_init(struct st7_run *r)
{
	memset(r, 0, sizeof(*r));
	st7_keyring_init(&r->keys);
}

void st7_run_free(struct st7_run *r)
{
	st7_keyring_free(&r->keys);
	r->keys_loaded = false;
	r->keys_dir[0] = '\0';
}

int st7_run_keys(struct st7_run *r, const char *dir, const struct st7_keyring **k,
                 struct st7_diag *d)
{
	*k = NULL;
	if (!dir)
		dir = ST7_DEFAULT_KEYS_DIR;
	if (r->keys_loaded) {
		if (strcmp(r->keys_dir, dir) != 0)
			return st7_diag_set(
			        d, ST7_ERR_INVALID,
			        "keys from %s are loaded already; one run trusts one key "
			        "directory, not also %s",
			        r->keys_dir, dir);
		*k = &r->keys;
		return ST7_OK;
	}
	if (snprintf(r->keys_dir, sizeof(r->keys_dir), "%s", dir) >= (int)sizeof(r->keys_dir)) {
		r->keys_dir[0] = '\0';
		return st7_diag_set(d, ST7_ERR_SIGNATURE, "key directory %s: path too long", dir);
	}
	int ret = st7_keyring_load_dir(&r->keys, r->store, dir, d);
	if (ret) {
		/* Nothing half-loaded stays: a later call starts again. */
		st7_keyring_free(&r->keys);
		st7_keyring_init(&r->keys);
		r->keys_dir[0] = '\0';
		return ret;
	}
	r->keys_loaded = true;
	*k = &r->keys;
	return ST7_OK;
}
