#!/usr/bin/env bash
# Fuzzing driver (see Tests/fuzz/README.md).
#
#   Tests/fuzz/run.sh [--seconds N] [--only t1,t2] [--seed S] [--build-only] [--make-seeds]
#
# Builds the libFuzzer binary (.build-fuzz, cached by SwiftPM), then for each target replays
# Tests/fuzz/regressions/<target>/* and Tests/fuzz/seeds/<target>/* (must not crash), then fuzzes
# for N seconds (default $FUZZ_SECONDS or 30; 0 = replay only) on the working corpus
# .cache/fuzz/<target> (seeded from seeds/<target>). One summary line per target; exits non-zero
# if any target crashed or failed to run. Non-interactive (CI=true, no stdin).
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_DIR=$ROOT/Tests/fuzz
SECONDS_EACH=${FUZZ_SECONDS:-30}
ONLY=""
BUILD_ONLY=0
SEED=""   # libFuzzer's -seed: fixed in `make test` (same mutations every run), random otherwise
MAKE_SEEDS=0
ALL_TARGETS=(onnx watchlist-bundle watchlist-manifest hit-record config-toml console mjpeg dlib-dat png webp shape-predictor audit-log)

while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_EACH=${2:?--seconds needs a value}; shift 2 ;;
        --seconds=*) SECONDS_EACH=${1#*=}; shift ;;
        --only) ONLY=${2:?--only needs a list}; shift 2 ;;
        --only=*) ONLY=${1#*=}; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
        --make-seeds) MAKE_SEEDS=1; shift ;;
        -h|--help) sed -n 2,11p "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$SECONDS_EACH" in ''|*[!0-9]*) echo "run.sh: --seconds takes a whole number, got '$SECONDS_EACH'" >&2; exit 2 ;; esac

TARGETS=()
if [ -n "$ONLY" ]; then
    IFS=, read -r -a TARGETS <<<"$ONLY"
    for t in "${TARGETS[@]}"; do
        case " ${ALL_TARGETS[*]} " in *" $t "*) ;; *) echo "run.sh: unknown target '$t' (targets: ${ALL_TARGETS[*]})" >&2; exit 2 ;; esac
    done
else
    TARGETS=("${ALL_TARGETS[@]}")
fi

CACHE=$ROOT/.cache/fuzz
SCRATCH=$ROOT/.build-fuzz
BIN=$SCRATCH/release/VigilFuzz
PY=$ROOT/.venv/bin/python
[ -x "$PY" ] || PY=$(command -v python3 || true)
mkdir -p "$CACHE/logs"

needs_swift=0
for t in "${TARGETS[@]}"; do [ "$t" != dlib-dat ] && needs_swift=1; done
[ "$MAKE_SEEDS" = 1 ] && needs_swift=1

if [ "$needs_swift" = 1 ]; then
    echo "fuzz: building VigilFuzz with -sanitize=fuzzer (scratch $SCRATCH)"
    if ! (cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --product VigilFuzz \
            -Xswiftc -sanitize=fuzzer -Xswiftc -DVIGIL_FUZZ -Xswiftc -parse-as-library </dev/null \
            >"$CACHE/logs/build.log" 2>&1); then
        tail -40 "$CACHE/logs/build.log"
        echo "fuzz: build failed (log: $CACHE/logs/build.log)"
        echo "0 passed, ${#TARGETS[@]} failed"
        exit 1
    fi
fi

if [ "$MAKE_SEEDS" = 1 ]; then
    # Regenerates Tests/fuzz/seeds: our own bundles, manifests, records, configs, console scripts
    # and JPEGs (VigilFuzz), the op-test ONNX models made by scripts/optests/make_optests.py, the
    # board profiles, and a synthetic dlib .dat. Never third-party files.
    VIGIL_FUZZ_MKSEEDS=$FUZZ_DIR/seeds "$BIN" </dev/null || exit 1
    cp "$ROOT"/board/profiles/*.toml "$FUZZ_DIR/seeds/config-toml/"
    if [ -f "$ROOT/.cache/optests/STAMP" ]; then
        mkdir -p "$FUZZ_DIR/seeds/onnx"
        for c in conv3x3-u8s8 depthwise-s8s8 concat-u8s8 avgpool_pad-s8s8 conv_clip-u8s8 conv5x5_s2-s8s8 \
                 float_conv_geometry-u8s8 dlib_block-s8s8; do
            [ -f "$ROOT/.cache/optests/$c/model.onnx" ] && cp "$ROOT/.cache/optests/$c/model.onnx" "$FUZZ_DIR/seeds/onnx/$c.onnx"
        done
    else
        echo "fuzz: .cache/optests missing (scripts/optests/make_optests.py): ONNX seeds not refreshed"
    fi
    "$PY" "$FUZZ_DIR/dlib_dat_fuzz.py" --make-seed "$FUZZ_DIR/seeds/dlib-dat" || exit 1
    find "$FUZZ_DIR/seeds" -type f -size +63k -print | sed 's/^/fuzz: seed over 64 KiB: /'
    exit 0
fi
[ "$BUILD_ONLY" = 1 ] && { echo "fuzz: built $BIN"; exit 0; }

libfuzzer_stat() { sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -1; }

passed=0; failed=0
for t in "${TARGETS[@]}"; do
    log=$CACHE/logs/$t.log
    corpus=$CACHE/$t
    artifacts=$CACHE/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    timeout_s=10
    if [ "$t" = dlib-dat ]; then
        timeout_s=2
        if [ -z "$PY" ] || ! "$PY" -c 'import numpy' 2>/dev/null; then
            echo "fuzz $t: FAILED to run: no python with numpy (.venv: make models-venv or pip install numpy)"
            failed=$((failed + 1)); continue
        fi
        cmd=("$PY" "$FUZZ_DIR/dlib_dat_fuzz.py")
        repro="$PY Tests/fuzz/dlib_dat_fuzz.py"
    else
        # SWIFT_BACKTRACE=enable=no: Swift's crash handler would otherwise take the trap signal
        # before libFuzzer (which then writes no artifact); the reproduce command shows the stack.
        cmd=(env "VIGIL_FUZZ_TARGET=$t" SWIFT_BACKTRACE=enable=no "$BIN")
        repro="VIGIL_FUZZ_TARGET=$t .build-fuzz/release/VigilFuzz"
    fi
    opts=(-timeout=$timeout_s -rss_limit_mb=2048 -artifact_prefix="$artifacts/")

    # 1. regressions and seeds: each must run cleanly
    replay=()
    for f in "$FUZZ_DIR/regressions/$t"/* "$FUZZ_DIR/seeds/$t"/*; do [ -f "$f" ] && replay+=("$f"); done
    if [ ${#replay[@]} -gt 0 ]; then
        if ! "${cmd[@]}" "${opts[@]}" "${replay[@]}" </dev/null >"$log.replay" 2>&1; then
            tail -30 "$log.replay"
            bad=$(grep -o 'Running: .*' "$log.replay" | tail -1 | sed 's/^Running: //')
            echo "fuzz $t: FAILED replaying regressions/seeds${bad:+ (last input: $bad)}; reproduce: $repro ${bad:-<file>}"
            failed=$((failed + 1)); continue
        fi
    fi
    if [ "$SECONDS_EACH" = 0 ]; then
        echo "fuzz $t: replayed ${#replay[@]} regression/seed inputs, no fuzzing (--seconds 0)"
        passed=$((passed + 1)); continue
    fi

    # 2. fuzz
    [ -d "$FUZZ_DIR/seeds/$t" ] && cp -n "$FUZZ_DIR/seeds/$t"/* "$corpus/" 2>/dev/null
    before=$(find "$artifacts" -type f | wc -l)
    start=$(date +%s)
    "${cmd[@]}" "${opts[@]}" ${SEED:+-seed="$SEED"} -max_total_time="$SECONDS_EACH" -print_final_stats=1 "$corpus" </dev/null >"$log" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - start ))
    execs=$(libfuzzer_stat number_of_executed_units "$log")
    # after a crash libFuzzer prints no final stats: take the last progress line ("#N ...")
    [ -z "$execs" ] && execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
    execs=${execs:-0}
    rate=$(libfuzzer_stat average_exec_per_sec "$log")
    [ -z "$rate" ] && rate=$(( execs / (elapsed > 0 ? elapsed : 1) ))
    ncorpus=$(find "$corpus" -type f | wc -l)
    new=$(find "$artifacts" -type f -newermt "@$start" 2>/dev/null | sort)
    crashes=$(printf '%s' "$new" | grep -c . || true)
    echo "fuzz $t: $execs execs in $elapsed s ($rate/s), corpus $ncorpus, crashes $crashes"
    if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
        grep -m1 -E '==ERROR|ERROR: libFuzzer|Fatal error|Uncaught Python exception' "$log" | sed 's/^/    /'
        for a in $new; do
            echo "    artifact: $a"
            echo "    reproduce: $repro $a"
        done
        [ -z "$new" ] && echo "    exit status $rc without an artifact: see $log"
        echo "    (a real bug: fix it, then keep the input as Tests/fuzz/regressions/$t/<name>)"
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
