/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the fleet manifest: any bytes either parse into a manifest whose
 * fields keep the documented bounds, or fail with the manifest left empty and a message.
 * Each parsed release's URL is also resolved against a fixed base.
 */
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st7_manifest m;
	struct st7_diag d = { "" };
	char out[ST7_MANIFEST_URL_MAX];
	st7_manifest_init(&m);
	int ret = st7_manifest_parse("fuzz.ini", data, size, &m, &d);
	if (ret != 0) {
		if (ret > 0 || m.releases || m.n_releases || m.serial || d.msg[0] == '\0')
			abort();
		return 0;
	}
	if (m.serial < 1 || m.serial > ST7_MANIFEST_SERIAL_MAX || m.expires <= m.issued ||
	    m.n_releases > ST7_MANIFEST_MAX_RELEASES)
		abort();
	for (size_t i = 0; i < m.n_releases; i++) {
		const struct st7_release *r = &m.releases[i];
		if (r->rollout > 100 || r->size < 1 || r->size > (1ull << 30) || !r->url[0] ||
		    (r->has_from && r->from_lo > r->from_hi) || !r->name[0])
			abort();
		if (st7_manifest_resolve_url("https://h.example/f/m.ini", r->url, out, sizeof(out),
		                             &d) == 0 &&
		    strlen(out) >= sizeof(out))
			abort();
	}
	st7_manifest_free(&m);
	return 0;
}
