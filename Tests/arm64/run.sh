#!/usr/bin/env bash
# Tests/arm64/run.sh — arm64 is tested, not assumed: cross-compiles Vigil's C kernels and their
# exactness tests for aarch64 with clang (the Swift toolchain's, --target=aarch64-linux-gnu) against
# a Debian arm64 sysroot made from `apt-get download` + `dpkg -x` (nothing arm64 is installed), links
# them statically, and runs them under Debian's qemu-user-static with a CPU that has the dot-product
# extension (-cpu max) and one that lacks it (cortex-a72, like a Raspberry Pi 4).
#
# Cached in .cache/arm64 (a second run costs a compile and the test runs). Prints PASS/FAIL lines
# and a final "N passed, N failed"; exit 0 iff no failure.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${VIGIL_ARM64_CACHE:-$REPO/.cache/arm64}
SYSROOT=$CACHE/sysroot
CC=${CLANG:-$(command -v clang)}
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
npass=0 nfail=0
pass() { echo "PASS $*"; npass=$((npass + 1)); }
fail() { echo "FAIL $*"; nfail=$((nfail + 1)); }
finish() { echo "$npass passed, $nfail failed"; [ "$nfail" = 0 ]; exit $?; }
mkdir -p "$CACHE/debs"

# 1. qemu-user-static (host package) and the arm64 package lists (for apt-get download only).
if [ "$(dpkg-query -W -f='${db:Status-Status}' qemu-user-static 2>/dev/null)" != installed ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null \
    || { fail "arm64/setup: cannot install qemu-user-static"; finish; }
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64 && apt-get update -qq || { fail "arm64/setup: cannot add the arm64 package lists"; finish; }
fi

# 2. The sysroot: C library headers and static libraries, kernel headers, libgcc (compiler runtime).
PKGS="libc6-dev libc6 linux-libc-dev libgcc-12-dev libgcc-s1"
if [ ! -f "$SYSROOT/.done" ]; then
  rm -rf "$SYSROOT" && mkdir -p "$SYSROOT"
  ( cd "$CACHE/debs" && for p in $PKGS; do ls "${p}_"*_arm64.deb >/dev/null 2>&1 || apt-get download "$p:arm64" >/dev/null 2>&1 || { apt-get update -qq; apt-get download "$p:arm64"; }; done ) \
    || { fail "arm64/setup: apt-get download of $PKGS (arm64) failed"; finish; }
  for d in "$CACHE"/debs/*_arm64.deb; do dpkg -x "$d" "$SYSROOT"; done
  touch "$SYSROOT/.done"
fi
GCCDIR=$(ls -d "$SYSROOT"/usr/lib/gcc/aarch64-linux-gnu/* | head -1)
[ -d "$GCCDIR" ] || { fail "arm64/setup: no libgcc in the sysroot"; finish; }

# 3. Build: every test program in Tests/arm64/*.c, static, for ARMv8.0 (the dot-product code is
#    enabled per function and chosen at run time). The engine's C kernels join here as their arm64
#    paths land (VIGIL_ARM64_KERNELS=1 compiles Sources/CKernels/*.c into each program).
CFLAGS=(--target=aarch64-linux-gnu --sysroot="$SYSROOT" -fuse-ld=lld -static -O2 -Wall -Werror
        -B "$GCCDIR" -L "$GCCDIR" -I "$REPO/Sources/CKernels/include")
KERNELS=""
[ "${VIGIL_ARM64_KERNELS:-0}" = 1 ] && KERNELS=$(ls "$REPO"/Sources/CKernels/*.c 2>/dev/null || true)
mkdir -p "$CACHE/bin"
for t in "$HERE"/*.c; do
  name=$(basename "$t" .c)
  # conv_* programs test the engine's kernels themselves: always built with Sources/CKernels/*.c.
  K=$KERNELS
  case "$name" in conv_*) K=$(ls "$REPO"/Sources/CKernels/*.c 2>/dev/null || true);; esac
  # shellcheck disable=SC2086
  if "$CC" "${CFLAGS[@]}" -o "$CACHE/bin/$name" "$t" $K -lm 2>"$CACHE/bin/$name.log"; then
    # ELF e_machine (offset 18, little endian) 0xb7 = EM_AARCH64
    [ "$(od -An -tx1 -j18 -N2 "$CACHE/bin/$name" | tr -d ' ')" = b700 ] && pass "arm64/$name: cross-compiled for aarch64" \
      || fail "arm64/$name: not an aarch64 binary"
  else
    fail "arm64/$name: compile failed: $(head -3 "$CACHE/bin/$name.log" | tr '\n' ' ')"; continue
  fi
  # 4. Run under qemu-user: a CPU with the dot-product extension and one without.
  for cpu in max cortex-a72; do
    out=$(timeout 600 qemu-aarch64-static -cpu "$cpu" "$CACHE/bin/$name" 2>&1); rc=$?
    echo "$out" | sed "s/^/  [$cpu] /" | grep -vE '^  \[[^]]*\] (PASS|FAIL) '
    while read -r l; do
      case "$l" in PASS\ *) pass "arm64/$name [$cpu]: ${l#PASS }";; FAIL\ *) fail "arm64/$name [$cpu]: ${l#FAIL }";; esac
    done <<<"$out"
    [ "$rc" = 0 ] || fail "arm64/$name [$cpu]: exit code $rc"
  done
done
finish
