#!/usr/bin/env bash
# Tests/sanitize/run.sh - `make test-sanitize`: the unit tests under sanitizers, each build in its
# own scratch directory (release mode: the accuracy tests run whole models).
#
#   bash Tests/sanitize/run.sh [--only asan|tsan]
#
# asan  every unit test with AddressSanitizer (Swift and C) and UndefinedBehaviorSanitizer for the
#       C targets (kernels, shims, the vendored C of dependencies) in trap mode — Swift's own
#       checks already trap on overflow and out-of-bounds; LeakSanitizer on, with the
#       suppressions in lsan.supp (XCTest's bookkeeping, Swift's once-initialised globals).
# tsan  ThreadSanitizer on the suites with concurrent code: the agent (latest-frame slots,
#       state, tracker, counters), the console (pty server thread), the audit log (concurrent and
#       multi-writer appends), hits (outbox), LEDs (controller ticks), capture.
# Prints "sanitize <name>: N tests passed" or FAIL lines; ends with "N passed, M failed".
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY=$2; shift 2 ;;
    *) echo "sanitize: unknown argument $1" >&2; exit 2 ;;
  esac
done
cd "$REPO" || exit 1
LOGS=$REPO/.cache/sanitize
mkdir -p "$LOGS"
PASSED=0 FAILED=0

run() {  # name scratch "sanitizer flags" [test filter]
  local name=$1 scratch=$2 flags=$3 filter=${4:-} rc n
  echo "sanitize $name: building ($scratch)"
  # shellcheck disable=SC2086
  if ! swift build -c release --build-tests --scratch-path "$scratch" $flags >"$LOGS/$name-build.log" 2>&1; then
    tail -20 "$LOGS/$name-build.log"
    echo "FAIL sanitize/$name: build failed (log: $LOGS/$name-build.log)"; FAILED=$((FAILED + 1)); return
  fi
  # shellcheck disable=SC2086
  swift test -c release --skip-build --scratch-path "$scratch" $flags ${filter:+--filter "$filter"} \
    >"$LOGS/$name-test.log" 2>&1 </dev/null
  rc=$?
  n=$(grep -oE 'Test run with [0-9]+ tests' "$LOGS/$name-test.log" | grep -oE '[0-9]+' | tail -1)
  if [ $rc = 0 ] && ! grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$LOGS/$name-test.log"; then
    echo "PASS sanitize/$name: ${n:-?} tests passed, no sanitizer report"; PASSED=$((PASSED + 1))
  else
    grep -E -m5 'ERROR: |WARNING: ThreadSanitizer|runtime error:|✘' "$LOGS/$name-test.log"
    echo "FAIL sanitize/$name: exit $rc (log: $LOGS/$name-test.log)"; FAILED=$((FAILED + 1))
  fi
}

export LSAN_OPTIONS="suppressions=$REPO/Tests/sanitize/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
case "${ONLY:-asan}" in asan)
  run asan "$REPO/.build-asan" "--sanitize=address -Xcc -fsanitize=undefined -Xcc -fsanitize-trap=undefined" ;;
esac
case "${ONLY:-tsan}" in tsan)
  run tsan "$REPO/.build-tsan" "--sanitize=thread" "AgentTests|ConsoleTests|AuditTests|HitsTests|LEDsTests|CaptureTests" ;;
esac
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
