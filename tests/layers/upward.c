/* SPDX-License-Identifier: MIT */
/*
 * A deliberate layering violation, never part of the build: the base layer's library
 * including a header of the core layer. tests/layers/build-refuses.sh builds this and
 * expects the compiler not to find the header, proving that a wrong arrow fails the
 * build and not only the grep check.
 */
#include "err.h"
#include "upgrade.h"

int st7_layer_probe(void);
int st7_layer_probe(void)
{
	return (int)sizeof(struct st7_upgrade_report);
}
