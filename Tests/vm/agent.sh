# Tests/vm/agent.sh - the `agent` group, SOURCED by guest.sh inside its function agent_tests: the
# whole product on real kernel drivers. `vigil run` (the release binary, as systemd would start it)
# captures from v4l2loopback fed with a face clip (MJPEG, camera "door") and from vivid (YUYV test
# pattern, no faces, camera "street"), drives its LEDs on gpio-sim, serves the console on ttyS1,
# syncs its watchlist from and uploads its hits to nginx on the guest's loopback interface (HTTPS
# with client certificates; the web root is in $OUT, so the host sees the uploads). Then the
# camera is unplugged (v4l2loopback unloaded) and plugged in again.
#
# Prepared on the host by agent_prep.sh (run.sh runs it before boot): $OUT/agent/{vigil.toml, pki,
# keys, www, clip, entry, pin.txt}. Checks, in order:
#   start       the agent runs, serves the console, claims the LEDs
#   sync        the list arrives from nginx and is installed
#   hit         a hit is sealed and uploaded (the enrolled person enters the door camera's view)
#   led-ok      health ok → status LED heartbeat, fault LED dark; hit LED flashed after the hit
#   unplug      writer stopped → the agent closes the stalled device, v4l2loopback is unloaded →
#               health degraded naming the camera → status LED blinks at 2 Hz; the street camera
#               keeps streaming
#   replug      module loaded and writer started again → the camera streams again, health ok,
#               and a new hit is uploaded (capture really resumed)
#   console     a technician on ttyS1 (host script): login, `status` shows both cameras streaming,
#               the door camera's reconnect, health ok; logout
#   sigterm     exit 0 within 5 s, outbox empty, audit chain intact
#   open        the host opens every uploaded record with the agency key: all for the enrolled
#               entry, all from camera door, none refused (agent_host.py --phase open)
A=$OUT/agent
AV=$BIN/vigil
AREPO=$(cd "$HERE/../.." && pwd)
ALOG=$A/run.log

# hits uploaded so far (nginx writes each PUT to www/hits/<record id>)
agent_hits() { find "$A/www/hits" -type f 2>/dev/null | wc -l; }
# agent_wait_log FROM PATTERN TIMEOUT: wait until a line after line FROM of the agent's log matches
# (grep -E); 0 = found, 1 = timeout, 2 = the agent died
agent_wait_log() {
  local from=$1 pat=$2 end=$((SECONDS + $3))
  while :; do
    tail -n +"$((from + 1))" "$ALOG" 2>/dev/null | grep -qE "$pat" && return 0
    kill -0 "$AGENT_PID" 2>/dev/null || return 2
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.5
  done
}
agent_lines() { grep -c '' "$ALOG" 2>/dev/null || echo 0; }
# the last "vigil: health ..." line of the log
agent_health() { grep -E '^vigil: health ' "$ALOG" | tail -1; }

agent_setup() {
  [ -s "$A/vigil.toml" ] || { fail "agent/prep: $A/vigil.toml missing (run.sh runs Tests/vm/agent_prep.sh before boot; see vm/pre)"; return 1; }
  ip link set lo up || { fail "agent/net: ip link set lo up failed"; return 1; }
  # what systemd-timesyncd leaves on a device whose clock was synchronized (docked, NTP reached):
  # with it, an all-good device shows health ok instead of "clock not synchronized"
  mkdir -p /run/systemd/timesync && touch /run/systemd/timesync/synchronized
  # shellcheck source=/dev/null
  . "$AREPO/scripts/lib/agency.sh"
  if agency_nginx "$A/nginx" "$A/www" 8443 "$A/pki" 2>"$A/nginx-start.err"; then
    pass "agent/nginx: the agency's server on https://127.0.0.1:8443 inside the VM (client certificates required)"
  else fail "agent/nginx: $(cat "$A/nginx-start.err")"; return 1; fi
  # the vivid group unplugs vivid; bring it back
  [ -e /dev/video0 ] || { echo vivid.0 >/sys/bus/platform/drivers/vivid/bind 2>/dev/null; sleep 1; }
  case "$(cat /sys/class/video4linux/video0/name 2>/dev/null)" in
    vivid*) ;; *) fail "agent/vivid: /dev/video0 is not vivid"; return 1 ;;
  esac
  if ! start_writer agent-writer --frames "$A/clip" --fps 6; then
    fail "agent/writer: loopback_writer.py did not get ready: $(tail -2 "$OUT/agent-writer.log" | tr '\n' ' ')"; return 1
  fi
  AWPID=$WPID
}

agent_start() {
  "$AV" run --config "$A/vigil.toml" >"$ALOG" 2>&1 </dev/null &
  AGENT_PID=$!
  AGENT_T0=$(up)
  agent_wait_log 0 '^vigil: running' 180; local rc=$?
  if [ $rc = 0 ]; then pass "agent/start: $(grep -m1 '^vigil: running' "$ALOG")"
  else fail "agent/start: no 'running' line (rc $rc): $(tail -3 "$ALOG" | tr '\n' ' ')"; return 1; fi
  grep -q '^vigil: console on /dev/ttyS1' "$ALOG" && pass "agent/console-serving: $(grep -m1 '^vigil: console on' "$ALOG")" \
    || fail "agent/console-serving: no 'console on /dev/ttyS1' line"
  local i g
  for i in 0 1 2; do
    g=$(gpioinfo "$VIGIL_GPIOCHIP" 2>&1 | grep -E "line +$i:" | tr -s ' \t' ' ')
    case "$g" in *'"vigil"'*output*) ;; *) fail "agent/leds-claimed: line $i: $g"; return 0 ;; esac
  done
  pass "agent/leds-claimed: lines 0,1,2 of $VIGIL_GPIOCHIP held as outputs by consumer vigil"
}

# analyse the sampler's record (LED lines 0,1,2) in a window of guest uptime [from, to]
# mode heartbeat | blink: prints a verdict, exit status 0 when it matches
led_verdict() {
  python3 - "$OUT/agent-leds.json" "$OUT/agent-leds.ready" "$1" "$2" "$3" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t0 = float(open(sys.argv[2]).read().split()[-1])       # "sampling since monotonic T0"
lo, hi, mode = float(sys.argv[3]) - t0, float(sys.argv[4]) - t0, sys.argv[5]
def window(line):
    s = d[line]
    before = [v for t, v in s if t <= lo]
    start = before[-1] if before else s[0][1]
    return start, [(t, v) for t, v in s if lo < t <= hi]
st, se = window("0")
fs, fe = window("1")
fault = fs or any(v for _, v in fe)
highs = [b[0] - a[0] for a, b in zip(se, se[1:]) if a[1] == 1 and b[1] == 0]
lows = [b[0] - a[0] for a, b in zip(se, se[1:]) if a[1] == 0 and b[1] == 1]
span = hi - lo
desc = f"{len(se)} edges in {span:.1f} s, high {min(highs, default=0)*1000:.0f}-{max(highs, default=0)*1000:.0f} ms, fault LED {'ON' if fault else 'dark'}"
if mode == "heartbeat":
    # two 100 ms pulses per 1.2 s: ~3.3 pulses/s, every pulse short, the long dark gap 850 ms
    pulses = len(highs)
    ok = pulses >= 0.6 * span * 2 / 1.2 and all(h <= 0.2 for h in highs) and max(lows, default=0) >= 0.6 and not fault
else:
    # blink 2 Hz: a 250 ms high/low each
    good = [g for g in highs + lows if 0.15 <= g <= 0.35]
    ok = len(se) >= 0.6 * span * 4 and len(good) >= 0.7 * max(1, len(highs + lows)) and not fault
print(f"{mode}: {desc}")
sys.exit(0 if ok else 1)
EOF
}
led_hit_flashes() {  # transitions of the hit LED (line 2) in the whole record
  python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["2"]) - 1)' "$OUT/agent-leds.json"
}

# the LED record, judged in the windows agent_run_checks noted (the sampler writes it at its end)
agent_leds() {
  local l n
  if [ ! -s "$OUT/agent-leds.json" ]; then fail "agent/leds: no sampler record"; return; fi
  if [ ${#LED_OK[@]} = 2 ]; then
    l=$(led_verdict "${LED_OK[0]}" "${LED_OK[1]}" heartbeat 2>&1) && pass "agent/led-ok: $l" || fail "agent/led-ok: $l"
  fi
  if [ ${#LED_DEG[@]} = 2 ]; then
    l=$(led_verdict "${LED_DEG[0]}" "${LED_DEG[1]}" blink 2>&1) && pass "agent/led-degraded: $l" || fail "agent/led-degraded: $l"
  fi
  n=$(led_hit_flashes)
  [ "$n" -ge 6 ] && pass "agent/led-hit: the hit LED flashed ($n transitions; alert-mode list, hit LED enabled)" \
    || fail "agent/led-hit: $n transitions on the hit LED line"
}

agent_run_checks() {
  local rc n1 t l
  agent_wait_log 0 '^vigil: sync: installed watchlist v1' 240; rc=$?
  if [ $rc = 0 ]; then pass "agent/sync: $(grep -m1 -E '^vigil: sync: installed' "$ALOG")"
  else fail "agent/sync: no install line (rc $rc): $(grep '^vigil: sync' "$ALOG" | tail -2 | tr '\n' ' ')"; fi
  t=$SECONDS
  while [ "$(agent_hits)" = 0 ] && [ $((SECONDS - t)) -lt 300 ] && kill -0 "$AGENT_PID" 2>/dev/null; do sleep 1; done
  if [ "$(agent_hits)" -gt 0 ]; then pass "agent/hit-uploaded: $(agent_hits) hit record(s) on the agency's server $((SECONDS - t)) s after the list arrived"
  else fail "agent/hit-uploaded: none within 300 s: $(tail -3 "$ALOG" | tr '\n' ' ')"; fi

  # health ok (list loaded, both cameras streaming, clock synchronized): heartbeat for 6 s
  agent_wait_log 0 '^vigil: health ok$' 60
  if [ "$(agent_health)" = "vigil: health ok" ]; then
    LED_OK=("$(up)"); sleep 6; LED_OK+=("$(up)")    # judged once the sampler has written its record
  else fail "agent/health-ok: the last health line is '$(agent_health)'"; fi

  # ---- unplug: the writer goes away, the agent closes the stalled device, the module is unloaded
  n1=$(agent_hits); AGENT_N1=$n1
  local from; from=$(agent_lines)
  stop_writer agent-writer >/dev/null || fail "agent/writer: loopback_writer.py had died before the unplug"
  t=$SECONDS
  local removed=0
  while [ $((SECONDS - t)) -lt 90 ]; do
    if rmmod v4l2loopback 2>/dev/null; then removed=1; break; fi
    sleep 0.1
  done
  if [ $removed = 1 ] && [ ! -e /dev/video10 ]; then
    pass "agent/unplug: v4l2loopback unloaded $((SECONDS - t)) s after its writer stopped (the agent released the stalled device)"
  else fail "agent/unplug: v4l2loopback still in use after 90 s: $(lsmod | grep v4l2loopback)"; return; fi
  agent_wait_log "$from" '^vigil: health degraded: .*camera door' 60
  if [ $? = 0 ]; then
    pass "agent/unplug-health: $(tail -n +"$((from + 1))" "$ALOG" | grep -m1 -E '^vigil: health degraded: .*camera door')"
    LED_DEG=("$(up)"); sleep 5; LED_DEG+=("$(up)")
  else fail "agent/unplug-health: no 'health degraded … camera door' line: $(tail -3 "$ALOG" | tr '\n' ' ')"; fi

  # ---- plug it in again: module loaded, writer started; capture resumes without a restart
  local ko; ko=$(find "$AREPO/.cache/vm" -path "*/lib/modules/$(uname -r)/extra/v4l2loopback.ko" 2>/dev/null | head -1)
  from=$(agent_lines)
  if [ -n "$ko" ] && insmod "$ko" video_nr=10 card_label=vigil-loopback exclusive_caps=0 && start_writer agent-writer2 --frames "$A/clip" --fps 6; then
    AWPID=$WPID
    t=$SECONDS
    agent_wait_log "$from" '^vigil: health ok$' 120; rc=$?
    if [ $rc = 0 ]; then pass "agent/replug: health ok again $((SECONDS - t)) s after the camera came back"
    else fail "agent/replug: still '$(agent_health)' 120 s after the camera came back"; fi
    while [ "$(agent_hits)" -le "$n1" ] && [ $((SECONDS - t)) -lt 180 ] && kill -0 "$AGENT_PID" 2>/dev/null; do sleep 1; done
    if [ "$(agent_hits)" -gt "$n1" ]; then pass "agent/replug-hit: a new hit uploaded after the camera came back ($n1 → $(agent_hits) records)"
    else fail "agent/replug-hit: still $n1 records 180 s after the camera came back"; fi
  else fail "agent/replug: cannot load $ko or start the writer again"; fi
}

agent_console() {
  mark agent-console.ready "agent console on /dev/ttyS1"
  host_run agent-console Tests/vm/agent_host.py --phase console --ready agent-console.ready --pin "$(cat "$A/pin.txt")"
  host_wait agent-console 300
}

agent_stop() {
  local i rc t0 t1
  t0=$(up)
  kill -TERM "$AGENT_PID"
  for ((i = 0; i < 100; i++)); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
    fail "agent/sigterm: still running 10 s after SIGTERM"
  else
    wait "$AGENT_PID"; rc=$?; t1=$(up)
    local took; took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    if [ "$rc" = 0 ] && awk -v t="$took" 'BEGIN { exit !(t <= 5) }'; then pass "agent/sigterm: exit 0 ${took} s after SIGTERM ($(grep -m1 '^vigil: stopped' "$ALOG"))"
    else fail "agent/sigterm: exit $rc after ${took} s"; fi
  fi
  local left; left=$(find "$A/data/outbox" -name '*.hit' 2>/dev/null | wc -l)
  [ "$left" = 0 ] && pass "agent/outbox-empty: every sealed hit was uploaded" || fail "agent/outbox-empty: $left record(s) left"
  local v; v=$("$AV" audit verify "$A/data/audit" 2>&1); rc=$?
  [ $rc = 0 ] && pass "agent/audit: $(echo "$v" | tail -1)" || fail "agent/audit: $v"
  grep -E '^vigil: (health|sync|upload|stats|stopped)' "$ALOG" | tail -12 | indent agent
}

agent_group() {
  LED_OK=() LED_DEG=()
  rm -f "$OUT/agent-leds.json"
  agent_setup || return
  # the LEDs, sampled for the whole run (every 5 ms: the shortest pulse is 100 ms)
  gpio_sample_start agent-leds 0,1,2 900 0.005 || { fail "agent/leds: sampler did not start"; return; }
  if agent_start; then
    agent_run_checks
    agent_console
    agent_stop
  else
    kill -TERM "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null
    indent agent <"$ALOG" | tail -20
  fi
  gpio_sample_wait agent-leds stop
  agent_leds
  kill -TERM "$AWPID" 2>/dev/null; wait "$AWPID" 2>/dev/null
  agency_stop "$A/nginx"
  host_run agent-open Tests/vm/agent_host.py --phase open --dir "$A" --bin "$BIN"
  host_wait agent-open 120
}

agent_group
