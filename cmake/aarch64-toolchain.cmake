# Cross-compiling for 64-bit Arm Linux with Debian's cross toolchain
# (g++-aarch64-linux-gnu, libc6-dev-arm64-cross), running what it builds under
# qemu-user. Used by scripts/test-aarch64.sh:
#
#   cmake -S tests/cross -B build/aarch64 --toolchain cmake/aarch64-toolchain.cmake
#
# CMAKE_CROSSCOMPILING_EMULATOR makes CTest (and gtest_discover_tests) run each
# test binary as `qemu-aarch64 -L /usr/aarch64-linux-gnu <binary>`; -L points
# the emulator at the Arm dynamic loader and libraries.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(NOWAIT_AARCH64_TRIPLE aarch64-linux-gnu)
set(NOWAIT_AARCH64_SYSROOT /usr/${NOWAIT_AARCH64_TRIPLE})

set(CMAKE_C_COMPILER ${NOWAIT_AARCH64_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${NOWAIT_AARCH64_TRIPLE}-g++)

# Libraries, headers and packages come from the Arm tree only, never from the
# host's x86-64 ones; programs (cmake, ninja) from the host.
set(CMAKE_FIND_ROOT_PATH ${NOWAIT_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(NOWAIT_QEMU_AARCH64 qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${NOWAIT_QEMU_AARCH64} -L ${NOWAIT_AARCH64_SYSROOT})
