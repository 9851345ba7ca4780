#!/bin/bash
# Tests/vm/run.sh - Vigil's kernel-level tests: boot a stock Debian kernel in qemu (TCG) with vivid
# (/dev/video0), v4l2loopback (/dev/video10), gpio-sim (chip vigil-leds) and a second UART
# (guest /dev/ttyS1 = host socket $OUT/ttyS1.sock), run the project's binaries against them.
#
#   bash Tests/vm/run.sh [--bin DIR] [--out DIR] [--pre CMD] [--only GROUPS] [--timeout S] [--verbose]
#
#   --bin DIR      binaries vigil + vigil-vmtest (default $REPO/.build/debug)
#   --out DIR      results dir, emptied first (default $VIGIL_VM_CACHE/out = $REPO/.cache/vm/out)
#   --pre CMD      host command run before booting, via bash -c in $REPO, with OUT, BIN, REPO
#                  exported; it must write the loopback test's reference frames:
#                  $OUT/mjpeg-ref/frame-000.jpg ... (same WxH) and $OUT/mjpeg-ref/size ("640x480").
#                  Default: $VIGIL_VM_PRE, else '"$BIN/vigil-vmtest" make-reference --out
#                  "$OUT/mjpeg-ref"' (the project's own generator); --pre : to run none.
#   --only GROUPS  comma-separated subset of cli,vivid,loopback,field,udev,agent (default all six, in
#                  that order); "probe" runs the v4l2loopback format/bytesused probe (see README.md)
#   --timeout S    kill qemu after S seconds (default 1500; TCG on a busy host is slow)
# The agent group's files (keys, list, clip, configuration) are made on the host before boot by
# Tests/vm/agent_prep.sh (needs models/ and the photos of `make setup`).
#   --verbose      print every console line
# Environment: VIGIL_VM_CACHE (cache dir), VIGIL_VM_PRE (default --pre), VIGIL_VM_KV (kernel ABI),
#   VIGIL_VM_BOOT=bzimage (boot the packaged vmlinuz instead of the extracted vmlinux via PVH)
#
# Prints PASS/FAIL lines and ends with exactly one line "N passed, N failed"; exit 0 iff no FAIL and
# the guest script ran to its end. Full console: $OUT/console.log. Cache: see prepare.sh.
{ # the whole script is one compound command: bash parses it before running, so editing this
  # file during a run cannot derail the run
set -uo pipefail
export LC_NUMERIC=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${VIGIL_VM_CACHE:-$REPO/.cache/vm}
BIN=$REPO/.build/debug
OUT=$CACHE/out
DEFAULT_PRE='"$BIN/vigil-vmtest" make-reference --out "$OUT/mjpeg-ref"'
PRE=${VIGIL_VM_PRE-$DEFAULT_PRE}
ONLY=""
TIMEOUT=1500
VERBOSE=()

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --pre) PRE=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --verbose) VERBOSE=(--verbose); shift ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
  esac
done

# Without python the host runner cannot even tally: report in plain bash.
bail() { echo "FAIL $*"; echo "0 passed, 1 failed"; exit 1; }
for g in ${ONLY//,/ }; do
  case "$g" in cli|vivid|loopback|field|udev|agent|probe) ;; *) bail "vm/args: unknown group '$g' in --only (cli, vivid, loopback, field, udev, agent, probe)";; esac
done

T0=$EPOCHREALTIME
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

if ! bash "$HERE/prepare.sh"; then
  bail "vm/prepare: Tests/vm/prepare.sh failed (messages above)"
fi
# shellcheck source=/dev/null
. "$CACHE/vm.env"
KERNEL=$VM_KERNEL
[ "${VIGIL_VM_BOOT:-pvh}" = bzimage ] && KERNEL=$VM_BZIMAGE
echo "run.sh: prepare done in $(elapsed)s (kernel $VM_KV, booting $(basename "$KERNEL"))" >&2

# fresh results dir; never rm -rf a directory this script did not create
mkdir -p "$OUT" || bail "vm/out: cannot create $OUT"
OUT=$(cd "$OUT" && pwd -P)
if [ -n "$(ls -A "$OUT")" ] && [ ! -e "$OUT/.vigil-vm-out" ]; then
  bail "vm/out: $OUT is not empty and was not made by run.sh; refusing to empty it"
fi
find "$OUT" -mindepth 1 -delete || bail "vm/out: cannot empty $OUT"
touch "$OUT/.vigil-vm-out"
mkdir -p "$OUT/tmp"

HOST_FAILS=()
BIN_ABS=$(cd "$BIN" 2>/dev/null && pwd -P) || BIN_ABS=""
for p in "$OUT" "$BIN_ABS" "$HERE/guest.sh"; do
  case "$p" in *[[:space:]]*) bail "vm/paths: '$p' contains white space (passed on the kernel command line)";; esac
done

# the hook only feeds the loopback group; the default one needs vigil-vmtest (whose absence the
# guest reports anyway)
case ",${ONLY:-loopback}," in *,loopback,*) ;; *) PRE=: ;; esac
if [ "$PRE" = "$DEFAULT_PRE" ] && [ ! -x "$BIN_ABS/vigil-vmtest" ]; then PRE=:; fi
if [ -n "$PRE" ] && [ "$PRE" != : ]; then
  echo "run.sh: pre-hook: $PRE" >&2
  # its stdout goes to stderr: run.sh's stdout carries only results
  if ! (cd "$REPO" && OUT=$OUT BIN=${BIN_ABS:-$BIN} REPO=$REPO bash -c "$PRE") >&2; then
    HOST_FAILS+=("vm/pre: pre-hook failed: $PRE")
  fi
fi

# the agent group's keys, list, clip and configuration: made here (TCG would take minutes)
case ",${ONLY:-agent}," in *,agent,*)
  echo "run.sh: agent_prep.sh" >&2
  if ! (OUT=$OUT BIN=${BIN_ABS:-$BIN} REPO=$REPO bash "$HERE/agent_prep.sh") >&2; then
    HOST_FAILS+=("vm/agent-prep: Tests/vm/agent_prep.sh failed (messages above)")
  fi ;;
esac

have=0
for b in vigil vigil-vmtest; do
  if [ -n "$BIN_ABS" ] && [ -x "$BIN_ABS/$b" ]; then have=$((have + 1)); fi
done
NOBOOT=()
if [ -z "$BIN_ABS" ] || [ "$have" = 0 ]; then
  # nothing to test: say so per binary, skip the ~1 minute boot
  for b in vigil vigil-vmtest; do HOST_FAILS+=("vm/bin: ${BIN_ABS:-$BIN}/$b missing (build first, or pass --bin DIR)"); done
  NOBOOT=(--no-boot)
fi

ARGS=()
for f in "${HOST_FAILS[@]}"; do ARGS+=(--fail "$f"); done
python3 "$HERE/vmrun.py" --kernel "$KERNEL" --initrd "$VM_INITRD" --out "$OUT" --bin "${BIN_ABS:-$BIN}" \
  --guest "$HERE/guest.sh" --repo "$REPO" --only "$ONLY" --timeout "$TIMEOUT" --started "$T0" \
  "${VERBOSE[@]}" "${NOBOOT[@]}" "${ARGS[@]}"
exit
}
