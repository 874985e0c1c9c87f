# SPDX-License-Identifier: MIT
# Shared part of the cross toolchain files of this folder: a Debian (12 and later)
# multiarch cross build. The including file sets ST7_CROSS_TRIPLET, ST7_CROSS_PROCESSOR
# and ST7_CROSS_QEMU (the qemu-user name of the target, e.g. aarch64) first.
#
# Debian installs a foreign architecture's -dev packages (libfoo-dev:arm64) beside the
# native ones: headers under /usr/include (shared) and /usr/include/<triplet>, libraries
# and pkg-config files under /usr/lib/<triplet>. The cross compiler (crossbuild-essential-
# <arch>) keeps its own C library under /usr/<triplet>.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${ST7_CROSS_PROCESSOR})
set(CMAKE_LIBRARY_ARCHITECTURE ${ST7_CROSS_TRIPLET})

set(CMAKE_C_COMPILER ${ST7_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${ST7_CROSS_TRIPLET}-g++)
set(CMAKE_AR ${ST7_CROSS_TRIPLET}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${ST7_CROSS_TRIPLET}-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${ST7_CROSS_TRIPLET}-strip CACHE FILEPATH "")

# find_path() / find_library(): the target's files only. The roots are the cross
# compiler's tree and the multiarch system itself; CMAKE_LIBRARY_ARCHITECTURE makes
# find_library() look in /usr/lib/<triplet>, never in the build machine's
# /usr/lib/x86_64-linux-gnu. Programs (pkg-config, bash, qemu) are the build machine's.
set(CMAKE_FIND_ROOT_PATH /usr/${ST7_CROSS_TRIPLET} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Never the build machine's own multiarch libraries, whatever a .pc file or hint says.
list(APPEND CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)

# Where the target's -dev packages cannot be installed beside the build machine's (a
# Multi-Arch: same library at another version, e.g. Debian 12 LTS has no security
# updates for mipsel/mips64el), unpack them into a directory instead (dpkg-deb -x) and
# give it as -DCMAKE_SYSROOT=<dir>: the same multiarch layout, under <dir>.
if(CMAKE_SYSROOT)
  unset(CMAKE_FIND_ROOT_PATH)
  set(ENV{PKG_CONFIG_LIBDIR}
    "${CMAKE_SYSROOT}/usr/lib/${ST7_CROSS_TRIPLET}/pkgconfig:${CMAKE_SYSROOT}/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${CMAKE_SYSROOT}")
endif()

# pkg-config: Debian's <triplet>-pkg-config wrapper when installed, else the plain one
# restricted to the target's .pc files (PKG_CONFIG_LIBDIR replaces the default path).
find_program(ST7_CROSS_PKG_CONFIG ${ST7_CROSS_TRIPLET}-pkg-config)
if(CMAKE_SYSROOT)
elseif(ST7_CROSS_PKG_CONFIG)
  set(PKG_CONFIG_EXECUTABLE ${ST7_CROSS_PKG_CONFIG} CACHE FILEPATH "")
else()
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${ST7_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
endif()

# CTest (and add_test) run the target's programs through qemu-user: Debian's
# qemu-user-static, or qemu-user. With the target's C library installed by multiarch
# (libc6:<arch>, pulled in by the -dev packages) its dynamic loader is in /lib and qemu
# needs no prefix; otherwise -L points it at the cross compiler's C library (or the
# sysroot). qemu 7.2 (Debian 12) with -L hangs a guest that forks: prefer none.
find_program(ST7_CROSS_QEMU_BIN NAMES qemu-${ST7_CROSS_QEMU}-static qemu-${ST7_CROSS_QEMU})
if(ST7_CROSS_QEMU_BIN)
  if(CMAKE_SYSROOT)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${ST7_CROSS_QEMU_BIN} -L ${CMAKE_SYSROOT})
  elseif(EXISTS /usr/lib/${ST7_CROSS_TRIPLET}/libc.so.6 OR EXISTS /lib/${ST7_CROSS_TRIPLET}/libc.so.6)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${ST7_CROSS_QEMU_BIN})
  elseif(IS_DIRECTORY /usr/${ST7_CROSS_TRIPLET})
    set(CMAKE_CROSSCOMPILING_EMULATOR ${ST7_CROSS_QEMU_BIN} -L /usr/${ST7_CROSS_TRIPLET})
  else()
    set(CMAKE_CROSSCOMPILING_EMULATOR ${ST7_CROSS_QEMU_BIN})
  endif()
endif()
