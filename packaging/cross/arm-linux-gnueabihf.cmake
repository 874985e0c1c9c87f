# SPDX-License-Identifier: MIT
# Cross build for 32-bit ARMv7 hard-float gateways (Debian armhf). See README.md.
set(ST7_CROSS_TRIPLET arm-linux-gnueabihf)
set(ST7_CROSS_PROCESSOR armv7l)
set(ST7_CROSS_QEMU arm)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
