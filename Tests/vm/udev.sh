# Tests/vm/udev.sh - the `udev` group, SOURCED by guest.sh inside its function udev_tests (so
# `local` works and `return` ends the group). Runs in the VM (chroot into the host's read-only /).
# Checks the project's udev rules (udev/60-vigil-*.rules, and the console link board/install.sh
# writes) on the VM's real devices with `udevadm test --action=add`, which runs the rules in
# process - no udevd needed - and applies the result to the guest's own /dev (its devtmpfs):
#   vivid /dev/video0      -> GROUP video, MODE 0660, /dev/vigil/by-path/platform-vivid.0,
#                             /dev/vigil/cam0 (a local camN line, as udev/README.md documents)
#   v4l2loopback video10   -> no by-path link (a virtual device has no ID_PATH), no camN
#   gpio-sim gpiochip0     -> GROUP gpio, MODE 0660
#   /dev/ttyS1             -> GROUP dialout, MODE 0660, /dev/vigil/console
# Rules go to /run/udev/rules.d (udev reads /etc, /run and /usr/lib; /run is the guest's tmpfs).
# Group gpio rarely exists on the host: a copy of /etc/group with it is bind-mounted over
# /etc/group for the duration. vivid is bound again when the vivid group left it unbound.
# Needs udevadm on the host (Debian package udev).
# Helper API: see field.sh's header (pass, fail, info, indent, OUT, HERE, TMPDIR).

UREPO=$(cd "$HERE/../.." && pwd)
URULES=/run/udev/rules.d

# udev_run NAME SYSPATH: udevadm test on SYSPATH, output in $OUT/udev-NAME.log; 0 = ran
udev_run() {
  local name=$1 sys=$2 rc
  if [ ! -e "$sys" ]; then fail "udev/$name: $sys does not exist"; return 1; fi
  timeout 60 udevadm test --action=add "$sys" >"$OUT/udev-$name.log" 2>&1; rc=$?
  if [ "$rc" != 0 ]; then
    fail "udev/$name: udevadm test $sys exit $rc"; tail -5 "$OUT/udev-$name.log" | indent udev; return 1
  fi
  grep -E '(60|61)-vigil-[a-z-]*\.rules' "$OUT/udev-$name.log" | grep -v '^Reading rules file' | indent udev
  return 0
}
# udev_node NAME DEV GROUP MODE RULES: the node's group and mode after the run, and the run's log
# says RULES (60-vigil-camera) set both (Debian's own rules give some of them already)
udev_node() {
  local got
  got=$(stat -c '%G %a' "$2" 2>&1)
  if [ "$got" = "$3 $4" ] && grep -qE "/$5\.rules:[0-9]+ GROUP " "$OUT/udev-$1.log" \
     && grep -qE "/$5\.rules:[0-9]+ MODE 0$4" "$OUT/udev-$1.log"; then
    pass "udev/$1-perms: $2 is group $3 mode 0$4 (set by $5.rules)"
  else fail "udev/$1-perms: $2 is '$got', expected group $3 mode 0$4 set by $5.rules (see $OUT/udev-$1.log)"; fi
}
# udev_link NAME LINK TARGET: LINK resolves to TARGET and the run's DEVLINKS names it
udev_link() {
  local got
  got=$(readlink -f "$2" 2>/dev/null)
  if [ "$got" = "$3" ] && grep -q "^DEVLINKS=.*$2" "$OUT/udev-$1.log"; then pass "udev/$1-link: $2 -> $3"
  else fail "udev/$1-link: $2 resolves to '${got:-nothing}' (DEVLINKS: $(grep '^DEVLINKS=' "$OUT/udev-$1.log")), expected $3"; fi
}

udev_main() {
  local f bad g=""
  if ! command -v udevadm >/dev/null; then
    fail "udev/udevadm: not installed on the host (apt-get install udev; scripts/apt-packages.txt)"; return
  fi
  info "udev: $(udevadm --version 2>&1 | head -1), rules from $UREPO/udev"
  mkdir -p "$URULES" || { fail "udev/rules-dir: cannot create $URULES"; return; }
  cp "$UREPO"/udev/60-vigil-*.rules "$URULES"/ || { fail "udev/rules-copy"; return; }
  if ! bash "$UREPO/board/install.sh" --print-console-rule /dev/ttyS1 >"$URULES/61-vigil-console-link.rules"; then
    fail "udev/console-rule: board/install.sh --print-console-rule /dev/ttyS1 failed"; return
  fi
  echo 'ENV{VIGIL_CAPTURE}=="1", ENV{ID_PATH}=="platform-vivid.0", SYMLINK+="vigil/cam0"' \
    >"$URULES/61-vigil-cameras-local.rules"
  if ! getent group gpio >/dev/null; then
    g=$TMPDIR/udev-group
    f=60000   # a gid no group has yet, so `stat %G` can only say gpio
    while getent group "$f" >/dev/null; do f=$((f + 1)); done
    { cat /etc/group; echo "gpio:x:$f:"; } >"$g"
    mount --bind "$g" /etc/group || { fail "udev/gpio-group: cannot bind-mount a group file with gpio"; return; }
    info "udev: group gpio added for the test (bind-mounted copy of /etc/group)"
  fi

  # The vivid group unplugs vivid (unbind) and leaves it so: bind it again for this group.
  if [ ! -e /sys/class/video4linux/video0 ] && [ -e /sys/bus/platform/devices/vivid.0 ]; then
    echo vivid.0 >/sys/bus/platform/drivers/vivid/bind 2>/dev/null
    for f in $(seq 50); do [ -e /sys/class/video4linux/video0 ] && break; sleep 0.1; done
    info "udev: vivid.0 bound again (the vivid group unbinds it): $(cat /sys/class/video4linux/video0/name 2>&1)"
  fi
  if udev_run video0 /sys/class/video4linux/video0; then
    udev_node video0 /dev/video0 video 660 60-vigil-camera
    udev_link video0 /dev/vigil/by-path/platform-vivid.0 /dev/video0
    udev_link video0 /dev/vigil/cam0 /dev/video0
  fi
  if udev_run video10 /sys/class/video4linux/video10; then
    udev_node video10 /dev/video10 video 660 60-vigil-camera
    bad=""
    for f in /dev/vigil/cam* /dev/vigil/by-path/*; do
      [ "$(readlink -f "$f")" = /dev/video10 ] && bad="$bad $f"
    done
    if [ -z "$bad" ]; then pass "udev/video10-no-link: a device without ID_PATH gets no vigil link"
    else fail "udev/video10-no-link: links to /dev/video10:$bad"; fi
  fi
  if udev_run gpiochip0 "/sys/bus/gpio/devices/$VIGIL_GPIOCHIP"; then
    udev_node gpiochip0 "/dev/$VIGIL_GPIOCHIP" gpio 660 60-vigil-gpio
  fi
  if udev_run ttyS1 /sys/class/tty/ttyS1; then
    udev_node ttyS1 /dev/ttyS1 dialout 660 60-vigil-console
    udev_link ttyS1 /dev/vigil/console /dev/ttyS1
  fi

  # Every line of the project's files parsed (udevd logs and skips a bad line; the run still passes).
  bad=$(cat "$OUT"/udev-*.log | grep -E '(60|61)-vigil-[a-z-]*\.rules:[0-9]+' | grep -iE 'invalid|unknown|ignoring|failed|error' | sort -u)
  if [ -z "$bad" ]; then pass "udev/rules-parse: no warnings about udev/60-vigil-*.rules"
  else fail "udev/rules-parse: $(echo "$bad" | head -3 | tr '\n' ' ')"; fi

  [ -n "$g" ] && umount /etc/group
  rm -f "$URULES"/60-vigil-*.rules "$URULES"/61-vigil-*.rules
  ls -l /dev/vigil /dev/vigil/by-path 2>&1 | indent udev
}

udev_main
