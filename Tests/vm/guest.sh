#!/bin/bash
# Tests/vm/guest.sh - runs INSIDE the test VM, chrooted into the host's root filesystem (read-only
# 9p), started by Tests/vm/init. Environment:
#   BIN  directory with the project's binaries (vigil, vigil-vmtest), a host path
#   OUT  writable results directory (9p share of the host's results dir, same path)
#   VIGIL_VM_ONLY  comma-separated groups to run (default cli,vivid,loopback,field,udev,agent; "probe" is extra)
# Devices: /dev/video0 = vivid (n_devs=1 node_types=0x1), /dev/video10 = v4l2loopback,
#   gpio-sim chip "vigil-leds" (4 lines led0..led3, created by /init; exported below as
#   VIGIL_GPIOCHIP=gpiochipN and VIGIL_GPIO_SYSFS=/sys/devices/platform/gpio-sim.0/gpiochipN),
#   /dev/ttyS1 = qemu unix socket $OUT/ttyS1.sock on the host (host scripts: HOST-RUN, see below).
# Output protocol (parsed by vmrun.py on the host, console = ttyS0):
#   "PASS <group>/<name>" / "FAIL <group>/<name>: <reason>"  one result each
#   "GUEST <text>"                                            progress/info worth showing
#   "  <group>| <text>"                                       other output of the programs under test
#   "HOST-RUN <name> <script> [args]" / "HOST-KILL <name>"   start / stop a host-side script
#   "VIGIL-VM-END ..."                                        last line: the script ran to its end
# /tmp is the host's (read-only here): TMPDIR=$OUT/tmp.
{ # the whole script is one compound command: bash parses it before running, so editing this
  # file during a run cannot derail the run
set -uo pipefail
shopt -s lastpipe nullglob
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BIN:?BIN not set}" "${OUT:?OUT not set}"
ONLY=${VIGIL_VM_ONLY:-}
[ -n "$ONLY" ] || ONLY=cli,vivid,loopback,field,udev,agent
mkdir -p "${TMPDIR:-$OUT/tmp}"

npass=0 nfail=0
pass() { echo "PASS $*"; npass=$((npass + 1)); }
fail() { echo "FAIL $*"; nfail=$((nfail + 1)); }
info() { echo "GUEST $*"; }
want() { case ",$ONLY," in *",$1,"*) return 0;; esac; return 1; }
up() { cut -d' ' -f1 /proc/uptime; }
indent() { sed "s/^/  $1| /"; }         # relay program output, marked so it never parses as a result

echo "VIGIL-VM-START uptime=$(up) groups=$ONLY"
info "kernel $(uname -r), $(nproc) cpus, BIN=$BIN OUT=$OUT"
for d in /sys/class/video4linux/video*; do info "$(basename "$d"): $(cat "$d/name")"; done

# --- the VM itself: are the drivers where the tests expect them?
name0=$(cat /sys/class/video4linux/video0/name 2>/dev/null)
case "$name0" in
  vivid*) pass "vm/vivid is /dev/video0 ($name0)" ;;
  *) fail "vm/vivid: /dev/video0 is '${name0:-absent}', expected a vivid capture node" ;;
esac
name10=$(cat /sys/class/video4linux/video10/name 2>/dev/null)
if [ "$name10" = vigil-loopback ]; then pass "vm/v4l2loopback is /dev/video10 ($name10)"
else fail "vm/v4l2loopback: /dev/video10 is '${name10:-absent}', expected vigil-loopback"; fi

# gpio-sim: /init made the chip through configfs; find its gpiochip and sysfs readback directory
GSIM=/sys/kernel/config/gpio-sim/vigil
VIGIL_GPIOCHIP=$(cat "$GSIM/bank0/chip_name" 2>/dev/null)
VIGIL_GPIO_SYSFS=/sys/devices/platform/$(cat "$GSIM/dev_name" 2>/dev/null)/$VIGIL_GPIOCHIP
export VIGIL_GPIOCHIP VIGIL_GPIO_SYSFS
gpio_selfcheck() {
  local det names i why=""
  [ "$(cat "$GSIM/live" 2>/dev/null)" = 1 ] || { fail "vm/gpio-sim: no live chip at $GSIM (gpio-sim.ko loaded? see VIGIL-INIT lines)"; return; }
  det=$(gpiodetect 2>&1 | grep "^$VIGIL_GPIOCHIP ")
  names=$(gpioinfo "$VIGIL_GPIOCHIP" 2>&1 | sed -n 's/.*line *[0-9]*: *"\([^"]*\)".*/\1/p' | paste -sd' ')
  [ "$det" = "$VIGIL_GPIOCHIP [vigil-leds] (4 lines)" ] || why="gpiodetect says '${det:-nothing}'"
  [ "$names" = "led0 led1 led2 led3" ] || why="$why; gpioinfo line names '$names'"
  for i in 0 1 2 3; do [ -r "$VIGIL_GPIO_SYSFS/sim_gpio$i/value" ] || why="$why; no $VIGIL_GPIO_SYSFS/sim_gpio$i/value"; done
  info "gpio-sim: $det, lines $names, sysfs $VIGIL_GPIO_SYSFS"
  if [ -z "$why" ]; then pass "vm/gpio-sim is $VIGIL_GPIOCHIP (vigil-leds, 4 lines)"
  else fail "vm/gpio-sim: ${why#; }"; fi
}
gpio_selfcheck

# ---------------------------------------------------------------------------------------------
# Helpers for groups (documented for field.sh, which is sourced with all of them available):
#
# host_run NAME SCRIPT [ARGS...]   start REPO/SCRIPT on the host (vmrun.py) as
#     python3 SCRIPT --sock $OUT/ttyS1.sock ARGS...  (env OUT, REPO, HOST_RUN_NAME=NAME; no white
#     space inside an argument). Its PASS/FAIL lines count as "PASS NAME/...", other output in
#     $OUT/host-NAME.log; exit status -> $OUT/host-NAME.rc.
# host_wait NAME TIMEOUT           wait for $OUT/host-NAME.rc; returns the script's exit status
#     (also in HOST_RC). Timeout: FAIL "NAME: host script did not finish within TIMEOUTs", the
#     script is killed (HOST-KILL), returns 124.
# mark NAME [TEXT]                 create $OUT/NAME (for a host script's wait_file)
# wait_mark NAME TIMEOUT           wait for $OUT/NAME (made by a host script's mark()); 0 / 1
host_run() {
  local name=$1
  rm -f "$OUT/host-$name.rc"
  echo "HOST-RUN $*"
}
host_wait() {
  local name=$1 tmo=$2 end=$((SECONDS + $2))
  HOST_RC=124
  while :; do
    if [ -s "$OUT/host-$name.rc" ]; then HOST_RC=$(cat "$OUT/host-$name.rc"); return "$HOST_RC"; fi
    [ "$SECONDS" -lt "$end" ] || break
    sleep 0.2
  done
  echo "HOST-KILL $name"
  fail "$name: host script did not finish within ${tmo}s (see $OUT/host-$name.log)"
  return 124
}
mark() { printf '%s\n' "${2:-}" >"$OUT/$1.tmp" && mv -f "$OUT/$1.tmp" "$OUT/$1"; }
wait_mark() {
  local end=$((SECONDS + $2))
  while :; do [ -e "$OUT/$1" ] && return 0; [ "$SECONDS" -lt "$end" ] || return 1; sleep 0.2; done
}
# gpio_value N                     current value (0/1) of gpio-sim line N as the "outside world"
#                                  sees it ($VIGIL_GPIO_SYSFS/sim_gpioN/value)
# gpio_sample_start NAME LINES SECONDS [INTERVAL]   start gpio_sample.py in the background on LINES
#     (e.g. 0,1) for at most SECONDS, every INTERVAL seconds (default 0.002); returns once it
#     samples (1 if it did not start within 30 s).
#     Sets SAMPLER_PID. Output: $OUT/NAME.json ({"1": [[t, v], ...]}, first value + transitions).
# gpio_sample_wait NAME [stop]     wait for it to end ("stop": end it now with SIGTERM); shows its
#     summary line (samples, rate, transitions); returns its exit status.
# gpio_transitions NAME LINE       number of transitions of LINE in $OUT/NAME.json
gpio_value() { cat "$VIGIL_GPIO_SYSFS/sim_gpio$1/value"; }
gpio_sample_start() {
  local name=$1 lines=$2 secs=$3 interval=${4:-0.002}
  rm -f "$OUT/$name.json" "$OUT/$name.ready"
  python3 "$HERE/gpio_sample.py" --lines "$lines" --seconds "$secs" --interval "$interval" --out "$OUT/$name.json" \
    --ready-file "$OUT/$name.ready" >"$OUT/$name.log" 2>&1 </dev/null &
  SAMPLER_PID=$!
  local end=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$end" ]; do
    [ -e "$OUT/$name.ready" ] && return 0
    kill -0 "$SAMPLER_PID" 2>/dev/null || break
    sleep 0.1
  done
  indent "$name" <"$OUT/$name.log"
  return 1
}
gpio_sample_wait() {
  local rc
  [ "${2:-}" = stop ] && kill -TERM "$SAMPLER_PID" 2>/dev/null
  wait "$SAMPLER_PID"; rc=$?
  info "$1: $(tail -1 "$OUT/$1.log")"
  return "$rc"
}
gpio_transitions() { python3 "$HERE/gpio_sample.py" --count "$OUT/$1.json" "$2"; }

# run_vmtest GROUP TIMEOUT ARGS... : run "$BIN/vigil-vmtest ARGS", relay its PASS/FAIL lines as
# GROUP/..., everything else indented; full output in $OUT/vmtest-GROUP.log.
run_vmtest() {
  local group=$1 tmo=$2; shift 2
  local exe=$BIN/vigil-vmtest line rc p=0 f=0
  if [ ! -x "$exe" ]; then fail "$group: $exe missing or not executable (not built?)"; return; fi
  info "$group: vigil-vmtest $* (timeout ${tmo}s)"
  : >"$OUT/vmtest-$group.log"
  # stdbuf: line-buffered stdout, so stdout and stderr lines cannot be cut into each other
  timeout -k 10 "$tmo" stdbuf -oL -eL "$exe" "$@" </dev/null 2>&1 | tee -a "$OUT/vmtest-$group.log" \
    | while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
          "PASS "*) pass "$group/${line#PASS }"; p=$((p + 1)) ;;
          "FAIL "*) fail "$group/${line#FAIL }"; f=$((f + 1)) ;;
          *) printf '  %s| %s\n' "$group" "$line" ;;
        esac
      done
  rc=${PIPESTATUS[0]}
  case "$rc" in
    0) [ "$p" -gt 0 ] || [ "$f" -gt 0 ] || fail "$group: vigil-vmtest exited 0 but printed no PASS line"
       [ "$f" = 0 ] || info "$group: note: vigil-vmtest exited 0 although it printed $f FAIL lines" ;;
    124|137) fail "$group: vigil-vmtest timed out after ${tmo}s" ;;
    *) [ "$f" -gt 0 ] || fail "$group: vigil-vmtest exited with status $rc without a FAIL line" ;;
  esac
  info "$group: vigil-vmtest exit=$rc, $p passed, $f failed"
}

# --- 2. CLI smoke tests (vivid must still be bound)
is_jpeg() { [ "$(head -c 2 "$1" | od -An -tx1 | tr -d ' \n')" = ffd8 ]; }
cli_tests() {
  local V=$BIN/vigil rc
  if [ ! -x "$V" ]; then fail "cli: $V missing or not executable (not built?)"; return; fi

  timeout -k 5 60 "$V" cameras >"$OUT/cli-cameras.out" 2>"$OUT/cli-cameras.err" </dev/null; rc=$?
  head -20 "$OUT/cli-cameras.out" "$OUT/cli-cameras.err" | indent cli
  if [ "$rc" != 0 ]; then fail "cli/cameras: exit status $rc"
  elif ! grep -q vivid "$OUT/cli-cameras.out"; then fail "cli/cameras: output does not mention vivid"
  elif ! grep -q /dev/video0 "$OUT/cli-cameras.out"; then fail "cli/cameras: output does not mention /dev/video0"
  else pass "cli/cameras lists vivid at /dev/video0"; fi

  rm -rf "$OUT/cap"
  timeout -k 5 180 "$V" capture --device /dev/video0 --frames 10 --out "$OUT/cap" --size 640x480 \
    >"$OUT/cli-capture.out" 2>"$OUT/cli-capture.err" </dev/null; rc=$?
  tail -5 "$OUT/cli-capture.out" "$OUT/cli-capture.err" | indent cli
  local jpgs=("$OUT"/cap/*.jpg) bad=0 j
  for j in "${jpgs[@]}"; do is_jpeg "$j" || bad=$((bad + 1)); done
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then fail "cli/capture vivid: timed out after 180s"
  elif [ "$rc" != 0 ]; then fail "cli/capture vivid: exit status $rc"
  elif [ "${#jpgs[@]}" -lt 10 ]; then fail "cli/capture vivid: ${#jpgs[@]} *.jpg files in $OUT/cap, expected >= 10"
  elif [ "$bad" != 0 ]; then fail "cli/capture vivid: $bad of ${#jpgs[@]} files do not start with a JPEG SOI marker"
  else pass "cli/capture vivid 10 frames -> ${#jpgs[@]} JPEG files ($(du -sk "$OUT/cap" | cut -f1) KiB)"; fi

  local dev what n
  for dev in /dev/null /dev/video99; do
    what="cli/capture $dev fails cleanly"
    [ "$dev" = /dev/video99 ] && [ -e /dev/video99 ] && info "note: /dev/video99 exists in the VM"
    timeout -k 5 60 "$V" capture --device "$dev" --frames 1 --out "$OUT/x" \
      >"$OUT/cli-err${dev//\//-}.out" 2>"$OUT/cli-err${dev//\//-}.err" </dev/null; rc=$?
    indent cli <"$OUT/cli-err${dev//\//-}.err"
    n=$(grep -c '' "$OUT/cli-err${dev//\//-}.err")
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then fail "$what: hung (killed after 60s)"
    elif [ "$rc" = 0 ]; then fail "$what: exit status 0, expected non-zero"
    elif [ "$n" != 1 ]; then fail "$what: $n lines on stderr, expected exactly 1"
    elif ! grep -qF "$dev" "$OUT/cli-err${dev//\//-}.err"; then fail "$what: stderr does not name $dev"
    else pass "$what (exit $rc, one stderr line)"; fi
  done
}

# --- 1. vivid: the binary's own V4L2 tests, ending with an unbind (unplug) of vivid.0
vivid_tests() {
  run_vmtest vivid 300 vivid --device /dev/video0 \
    --unbind /sys/bus/platform/drivers/vivid/unbind --unbind-id vivid.0
}

# start_writer NAME [writer args]: loopback_writer.py in the background on /dev/video10; waits for
# its READY file. Sets WPID. Log: $OUT/NAME.log
start_writer() {
  local name=$1 i; shift
  rm -f "$OUT/$name.ready"
  python3 "$HERE/loopback_writer.py" --device /dev/video10 --ready-file "$OUT/$name.ready" "$@" \
    >"$OUT/$name.log" 2>&1 </dev/null &
  WPID=$!
  for i in $(seq 300); do              # up to 30 s (python start-up under TCG takes a second or two)
    [ -s "$OUT/$name.ready" ] && { info "$name: $(cat "$OUT/$name.ready") (after $((i / 10)).$((i % 10))s)"; return 0; }
    kill -0 "$WPID" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}
stop_writer() {  # $1 = name; returns 1 if the writer had died before being stopped
  local alive=0
  kill -0 "$WPID" 2>/dev/null && alive=1
  kill -TERM "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null
  indent writer <"$OUT/$1.log" | tail -3
  [ "$alive" = 1 ]
}

# --- 3. MJPEG through v4l2loopback: python writer -> /dev/video10 -> vigil-vmtest loopback
loopback_tests() {
  local ref=$OUT/mjpeg-ref
  if [ ! -x "$BIN/vigil-vmtest" ]; then fail "loopback: $BIN/vigil-vmtest missing or not executable (not built?)"; return; fi
  local frames=("$ref"/frame-*.jpg)
  if [ "${#frames[@]}" = 0 ] || [ ! -s "$ref/size" ]; then
    fail "loopback: no reference frames ($ref/frame-*.jpg + $ref/size); run.sh --pre must write them"; return
  fi
  if ! start_writer loopback-writer --frames "$ref" --fps 15; then
    fail "loopback: loopback_writer.py did not get ready: $(tail -2 "$OUT/loopback-writer.log" | tr '\n' ' ')"
    kill "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; return
  fi
  run_vmtest loopback 300 loopback --device /dev/video10 --reference "$ref" --frames 20
  stop_writer loopback-writer || fail "loopback: loopback_writer.py died during the test (see $OUT/loopback-writer.log)"
}

# --- probe (not run by default): how v4l2loopback 0.12.7 presents MJPEG written with write().
# Results in $OUT/probe/; summary as GUEST lines. Uses $OUT/mjpeg-ref, or makes fake JPEG-framed
# blobs of distinct sizes when there is none.
probe_loopback() {
  local P=$OUT/probe D=/dev/video10 ref=$OUT/mjpeg-ref i
  mkdir -p "$P"
  if [ ! -s "$ref/size" ]; then
    ref=$P/ref
    python3 "$HERE/probe_loopback.py" make-ref "$ref" 640x480 || { fail "probe: cannot make reference blobs"; return; }
  fi
  info "probe: reference $(ls "$ref"/frame-*.jpg | wc -l) frames, sizes $(stat -c %s "$ref"/frame-*.jpg | tr '\n' ' ')"
  {
    echo "=== 0. no writer yet"
    python3 "$HERE/probe_loopback.py" query $D
    v4l2-ctl -d $D --all; v4l2-ctl -d $D --list-formats-ext; v4l2-ctl -d $D --list-formats-out
  } >"$P/0-idle.txt" 2>&1
  # the window between the writer's S_FMT and its first write()
  rm -f "$P/sfmt"
  python3 "$HERE/loopback_writer.py" --device $D --frames "$ref" --hold-after-sfmt 10 --sfmt-file "$P/sfmt" \
    >"$P/sfmt-writer.log" 2>&1 </dev/null &
  WPID=$!
  for i in $(seq 200); do [ -s "$P/sfmt" ] && break; sleep 0.1; done
  {
    echo "=== 1. writer did S_FMT ($(cat "$P/sfmt" 2>/dev/null)), nothing written yet"
    python3 "$HERE/probe_loopback.py" query $D
    v4l2-ctl -d $D --get-fmt-video; v4l2-ctl -d $D --list-formats-ext
  } >"$P/1-after-sfmt.txt" 2>&1
  kill "$WPID"; wait "$WPID" 2>/dev/null
  # a writer that has written frames
  start_writer probe-writer --frames "$ref" --fps 15 || { fail "probe: writer not ready"; return; }
  {
    echo "=== 2. writer is writing frames (15 fps)"
    python3 "$HERE/probe_loopback.py" query $D
    v4l2-ctl -d $D --all; v4l2-ctl -d $D --list-formats-ext; v4l2-ctl -d $D --get-fmt-video
    v4l2-ctl -d $D --list-framesizes MJPG
    v4l2-ctl -d $D --list-frameintervals width=640,height=480,pixelformat=MJPG
  } >"$P/2-writing.txt" 2>&1
  v4l2-ctl -d $D --verbose --stream-mmap --stream-count=5 --stream-to="$P/3-v4l2ctl-mmap.bin" \
    >"$P/3-v4l2ctl-mmap.txt" 2>&1
  info "probe: v4l2-ctl --stream-mmap --stream-count=5 exit=$? -> $(stat -c %s "$P/3-v4l2ctl-mmap.bin" 2>/dev/null) bytes"
  python3 "$HERE/probe_loopback.py" capture $D "$ref" 12 >"$P/4-python-mmap.txt" 2>&1
  stop_writer probe-writer || fail "probe: writer died"
  cp "$OUT/probe-writer.log" "$P/"
  # a streaming reader whose writer goes away
  start_writer probe-writer2 --frames "$ref" --fps 15 || { fail "probe: writer not ready"; return; }
  python3 "$HERE/probe_loopback.py" capture $D "$ref" 3 "$WPID" >"$P/5-writer-gone.txt" 2>&1
  stop_writer probe-writer2 >/dev/null || true
  for f in "$P"/*.txt "$P"/*.log; do echo "===== $(basename "$f")"; cat "$f"; done | indent probe
}

# --- field: GPIO (gpio-sim) + serial console (ttyS1 <-> host) tests, in Tests/vm/field.sh
field_tests() {
  if [ ! -f "$HERE/field.sh" ]; then fail "field: $HERE/field.sh missing"; return; fi
  info "field: sourcing field.sh"
  # shellcheck source=field.sh
  . "$HERE/field.sh"
}

# --- udev: the project's udev rules on the VM's devices, in Tests/vm/udev.sh
udev_tests() {
  if [ ! -f "$HERE/udev.sh" ]; then fail "udev: $HERE/udev.sh missing"; return; fi
  info "udev: sourcing udev.sh"
  # shellcheck source=udev.sh
  . "$HERE/udev.sh"
}

# --- agent: `vigil run` end to end on the real drivers, in Tests/vm/agent.sh (last: it unloads
# and reloads v4l2loopback)
agent_tests() {
  if [ ! -f "$HERE/agent.sh" ]; then fail "agent: $HERE/agent.sh missing"; return; fi
  info "agent: sourcing agent.sh"
  # shellcheck source=agent.sh
  . "$HERE/agent.sh"
}

want probe && probe_loopback      # first, so it sees a pristine /dev/video10
want cli && cli_tests
want vivid && vivid_tests
want loopback && loopback_tests
want field && field_tests
want udev && udev_tests
want agent && agent_tests

dmesg >"$OUT/dmesg.txt" 2>&1
grep -E 'BUG:|Oops|WARNING: CPU:|Call Trace:|general protection fault' "$OUT/dmesg.txt" | head -5 \
  | while IFS= read -r l; do info "kernel: $l"; done
echo "VIGIL-VM-END pass=$npass fail=$nfail uptime=$(up)"
exit
}
