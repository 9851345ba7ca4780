# Tests/vm/field.sh - the `field` group (GPIO + serial console), SOURCED by guest.sh inside its
# function field_tests (so `local` works and `return` ends the group). Runs in the VM (chroot).
# Add the real tests (vigil leds, vigil console) as functions below and call them at the end.
#
# Available from guest.sh:
#   BIN, OUT, HERE (= Tests/vm in the guest), TMPDIR=$OUT/tmp; the rest of / is read-only
#   pass "field/NAME ..."            one PASS line          fail "field/NAME: reason"   one FAIL line
#   info TEXT                        progress line ("GUEST TEXT")
#   CMD | indent field               relay program output indented (never parsed as a result)
#   up                               guest uptime in seconds
#   VIGIL_GPIOCHIP                   gpiochipN of the gpio-sim chip (label vigil-leds, lines led0..led3)
#   VIGIL_GPIO_SYSFS                 /sys/devices/platform/gpio-sim.0/gpiochipN: sim_gpioN/value is
#                                    what an LED on line N would show; sim_gpioN/pull drives inputs
#   gpio_value N                     cat $VIGIL_GPIO_SYSFS/sim_gpioN/value
#   gpio_sample_start NAME LINES SECONDS
#                                    gpio_sample.py in the background (every ~2 ms requested; the
#                                    real rate under TCG is in README.md) on LINES ("1" or "0,1,2")
#                                    for at most SECONDS; returns once sampling runs (1 = did not
#                                    start). SAMPLER_PID. Result $OUT/NAME.json:
#                                    {"1": [[t, v], ...]} = value at t=0, then transitions only
#   gpio_sample_wait NAME [stop]     wait for the sampler ("stop": SIGTERM it now); shows its
#                                    summary line; returns its exit status
#   gpio_transitions NAME LINE       prints the number of transitions of LINE in $OUT/NAME.json
#   host_run NAME SCRIPT [ARGS...]   start python3 $REPO/SCRIPT --sock $OUT/ttyS1.sock ARGS... on the
#                                    host (env OUT REPO HOST_RUN_NAME). Its "PASS x"/"FAIL x" lines
#                                    are counted as NAME/x; other output: $OUT/host-NAME.log
#   host_wait NAME TIMEOUT           wait for it; returns its exit status (also $HOST_RC);
#                                    timeout = FAIL line + script killed + return 124
#   mark NAME [TEXT]                 create $OUT/NAME (host script: serialhost.wait_file(NAME, t))
#   wait_mark NAME TIMEOUT           wait for $OUT/NAME (host script: serialhost.mark(NAME)); 0/1
# Host scripts use Tests/vm/serialhost.py (Serial(sock).send/expect, wait_file, mark, result).
# Serial: guest /dev/ttyS1 (16550A) = host unix socket $OUT/ttyS1.sock, one client at a time.
# Bytes the host sends before the guest opened ttyS1 (and set raw mode) are lost or echoed, and
# guest output is dropped while no host client is connected: open the tty first, then signal
# readiness with a file in $OUT (mark / --ready-file) and let the host script wait_file() for it.

# --- serial plumbing: guest echo responder on /dev/ttyS1 <-> host script field_host.py
field_serial() {
  local epid i erc
  rm -f "$OUT/field-echo.ready"
  python3 "$HERE/serial_echo.py" --device /dev/ttyS1 --ready-file "$OUT/field-echo.ready" --timeout 200 \
    >"$OUT/field-echo.log" 2>&1 </dev/null &
  epid=$!
  host_run field-serial Tests/vm/field_host.py --ready field-echo.ready --count 3
  host_wait field-serial 240
  info "field: host script field-serial exit=$HOST_RC"
  for ((i = 0; i < 100; i++)); do kill -0 "$epid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$epid" 2>/dev/null; then
    kill "$epid"; wait "$epid" 2>/dev/null
    fail "field/serial-echo: guest responder still running after the host script ended"
  else
    wait "$epid"; erc=$?
    if [ "$erc" = 0 ]; then pass "field/serial-echo: guest responder on /dev/ttyS1 answered and got QUIT"
    else fail "field/serial-echo: guest responder exit status $erc"; fi
  fi
  indent field <"$OUT/field-echo.log" | tail -8
}

# --- gpio-sim through libgpiod's tools: gpioset holds line 1 high for 2 s while gpio_sample.py watches
field_gpio() {
  local chip=$VIGIL_GPIOCHIP grc seq verdict
  [ -n "$chip" ] || { fail "field/gpio: no gpio-sim chip (see vm/gpio-sim)"; return; }
  if ! gpio_sample_start field-gpio 1 60; then fail "field/gpio: gpio_sample.py did not start"; return; fi
  sleep 0.3
  info "field: gpioset --mode=time --sec=2 $chip 1=1 at uptime $(up)"
  gpioset --mode=time --sec=2 "$chip" 1=1 2>&1 | indent field; grc=${PIPESTATUS[0]}
  sleep 0.3
  gpio_sample_wait field-gpio stop
  [ "$grc" = 0 ] || fail "field/gpioset: gpioset --mode=time exit status $grc"
  # expect exactly 0 -> 1 -> 0 with the high phase ~2 s (gpioset's own start-up is not in it)
  seq=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["1"]; print(" ".join("%s@%.3f" % (v, t) for t, v in s))' \
        "$OUT/field-gpio.json" 2>&1)
  info "field: line 1 samples (value@seconds): $seq"
  verdict=$(python3 - "$OUT/field-gpio.json" 2>&1 <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["1"]
vals = [v for _, v in s]
if vals != [0, 1, 0]:
    sys.exit(f"values {vals}, expected [0, 1, 0]")
high = s[2][0] - s[1][0]
if not 1.8 <= high <= 3.0:
    sys.exit(f"high for {high:.3f}s, expected 2s (1.8..3.0)")
print(f"high for {high:.3f}s")
EOF
)
  if [ $? = 0 ]; then pass "field/gpioset-time: sampler saw line 1 go 0->1->0, $verdict (gpioset --sec=2)"
  else fail "field/gpioset-time: sampler on line 1: $(echo "$verdict" | tail -1) ($seq)"; fi
  # the line was released: a second request succeeds, and the simulator shows it idle again
  local info1 out2 rc2
  info1=$(gpioinfo "$chip" 2>&1 | grep -E 'line +1:' | tr -s ' \t' ' ')
  out2=$(timeout 30 gpioset "$chip" 1=1 2>&1); rc2=$?
  [ -n "$out2" ] && echo "$out2" | indent field
  if [ "$rc2" = 0 ]; then
    pass "field/gpioset-release: line 1 free again after gpioset exited (second gpioset ok;$info1)"
  else fail "field/gpioset-release: second gpioset on line 1: exit status $rc2 ($out2;$info1)"; fi
  [ "$(gpio_value 1)" = 0 ] || fail "field/gpioset-release: sim_gpio1/value is $(gpio_value 1) after release, expected 0"
}

# --- info only: the sampler's real rate on all 4 lines under TCG (README.md quotes it)
field_sample_rate() {
  gpio_sample_start field-rate 0,1,2,3 3 && gpio_sample_wait field-rate
}

field_serial
field_gpio
field_sample_rate
