#!/bin/bash
# Tests/vm/powercut.sh - `make test-powercut`: N power cuts (default 50) while the device seals hit
# records and installs watchlists; see powercut.py for what is checked after each cut.
#
#   bash Tests/vm/powercut.sh [--bin DIR] [--cuts N] [--seed S]
#
# Uses the VM of Tests/vm (prepare.sh: kernel, modules incl. virtio_blk + ext4, initramfs, cached).
# Results: $VIGIL_VM_CACHE/powercut (console.log, the disk image). Ends with "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${VIGIL_VM_CACHE:-$REPO/.cache/vm}
BIN=$REPO/.build/release
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --cuts|--seed|--entries|--max-cut) ARGS+=("$1" "$2"); shift 2 ;;
    *) echo "powercut.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
BIN=$(cd "$BIN" && pwd -P) || { echo "FAIL powercut/bin: no $BIN"; echo "0 passed, 1 failed"; exit 1; }
[ -x "$BIN/vigil" ] || { echo "FAIL powercut/bin: $BIN/vigil missing"; echo "0 passed, 1 failed"; exit 1; }
bash "$HERE/prepare.sh" || { echo "FAIL powercut/prepare: Tests/vm/prepare.sh failed"; echo "0 passed, 1 failed"; exit 1; }
# shellcheck source=/dev/null
. "$CACHE/vm.env"
OUT=$CACHE/powercut
rm -rf "$OUT"; mkdir -p "$OUT/tmp"
exec python3 "$HERE/powercut.py" --kernel "$VM_KERNEL" --initrd "$VM_INITRD" --bin "$BIN" --repo "$REPO" --out "$OUT" "${ARGS[@]}"
