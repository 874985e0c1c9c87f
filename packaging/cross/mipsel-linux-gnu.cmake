# SPDX-License-Identifier: MIT
# Cross build for 32-bit little-endian MIPS gateways (Debian mipsel, o32). See README.md.
set(ST7_CROSS_TRIPLET mipsel-linux-gnu)
set(ST7_CROSS_PROCESSOR mipsel)
set(ST7_CROSS_QEMU mipsel)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
