# SPDX-License-Identifier: MIT
# Cross build for 64-bit little-endian MIPS gateways (Debian mips64el, n64). See README.md.
set(ST7_CROSS_TRIPLET mips64el-linux-gnuabi64)
set(ST7_CROSS_PROCESSOR mips64el)
set(ST7_CROSS_QEMU mips64el)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
