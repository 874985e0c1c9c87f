/* SPDX-License-Identifier: MIT */
#include "st7_profile.h"

#include <string.h>

/* Sector 0 (F000-FFFF) holds the vectors and the DFU loader and is never written. */
static const struct st7_profile profiles[] = {
	{ "st72f62", "ST72F62x", 0xE000, 0x10000, 0xE000, 0xF000, 64, false },
	{ "st72f63", "ST72F63x", 0xC000, 0x10000, 0xC000, 0xF000, 64, false },
	{ "st72f65", "ST72F65x", 0x8000, 0x10000, 0x8000, 0xF000, 128, true },
};

const struct st7_profile *st7_profile_find(const char *name)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (name && strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

const struct st7_profile *st7_profile_by_region_size(size_t size)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (st7_profile_region_size(&profiles[i]) == size)
			return &profiles[i];
	return NULL;
}

size_t st7_profile_count(void)
{
	return sizeof(profiles) / sizeof(profiles[0]);
}

const struct st7_profile *st7_profile_at(size_t i)
{
	return i < st7_profile_count() ? &profiles[i] : NULL;
}

bool st7_profile_family(uint16_t id_vendor, uint8_t func_length)
{
	return id_vendor == ST7_ST_VENDOR_ID && func_length == 7;
}

unsigned st7_profile_match(uint16_t id_vendor, uint8_t max_packet0, bool full_speed,
                           uint8_t func_length, uint16_t transfer_size)
{
	unsigned mask = 0;
	if (!st7_profile_family(id_vendor, func_length) || max_packet0 != 8)
		return 0;
	for (size_t i = 0; i < st7_profile_count(); i++)
		if (profiles[i].transfer_size == transfer_size &&
		    profiles[i].full_speed == full_speed)
			mask |= 1u << i;
	return mask;
}
