#!/usr/bin/env bash
# x86-64 kernel harnesses: every Tests/kernels/*_test.c is built with Sources/CKernels/*.c and run
# in its default (test) mode — thousands of random shapes, each kernel against the scalar path
# byte for byte. Their --bench modes are for kernel work, not part of the tests.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${VIGIL_KERNELS_BIN:-$REPO/.cache/kernels}
CC=${CLANG:-$(command -v clang || command -v cc)}
mkdir -p "$OUT"
npass=0 nfail=0
for t in "$HERE"/*_test.c; do
  name=$(basename "$t" .c)
  if ! "$CC" -O2 -Wall -Werror -I "$REPO/Sources/CKernels/include" -I "$REPO/Sources/CKernels" -I "$HERE" \
       -o "$OUT/$name" "$t" "$REPO"/Sources/CKernels/*.c -lpthread -lm 2>"$OUT/$name.log"; then
    echo "FAIL kernels/$name: compile failed: $(head -3 "$OUT/$name.log" | tr '\n' ' ')"; nfail=$((nfail + 1)); continue
  fi
  if out=$("$OUT/$name" 2>&1); then
    echo "PASS kernels/$name: $(echo "$out" | tail -1)"; npass=$((npass + 1))
  else
    echo "$out" | tail -5 | sed 's/^/  /'
    echo "FAIL kernels/$name"; nfail=$((nfail + 1))
  fi
done
echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
