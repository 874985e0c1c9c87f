/* SPDX-License-Identifier: MIT */
/*
 * Bracket the emulator's own uevent emissions (umockdev_testbed_uevent,
 * umockdev_testbed_add_from_string) so that a listener vanishing mid-send does not
 * abort umockdev 0.17.16. See emu_uevent_fix.c. Per thread; calls nest.
 */
#ifndef ST7_EMU_UEVENT_FIX_H
#define ST7_EMU_UEVENT_FIX_H

void emu_uevent_begin(void);
void emu_uevent_end(void);

#endif
