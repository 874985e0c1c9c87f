# SPDX-License-Identifier: MIT
# Cross build for 64-bit ARM gateways (Debian arm64). See README.md of this folder.
set(ST7_CROSS_TRIPLET aarch64-linux-gnu)
set(ST7_CROSS_PROCESSOR aarch64)
set(ST7_CROSS_QEMU aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
