#!/bin/bash
# board/test-install.sh - board/install.sh into a fresh staged root: the tree, modes, owners,
# the generated config and udev console link, and that a second run changes nothing.
# Needs root (chown) and a built vigil (default .build/release/vigil; --binary PATH).
#   bash board/test-install.sh [--binary PATH] [--board NAME] [--keep]
# Prints PASS/FAIL lines and "N passed, N failed"; exit 0 iff no FAIL.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BINARY=$REPO/.build/release/vigil BOARD=raspberry-pi-4 KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) BINARY=$2; shift 2 ;;
    --board) BOARD=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "test-install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
np=0 nf=0
pass() { echo "PASS install/$*"; np=$((np + 1)); }
fail() { echo "FAIL install/$*"; nf=$((nf + 1)); }
[ -x "$BINARY" ] || { fail "binary: $BINARY missing (build first or --binary)"; echo "$np passed, $nf failed"; exit 1; }

ROOT=$(mktemp -d)
[ "$KEEP" = 1 ] && echo "staged root: $ROOT" || trap 'rm -rf "$ROOT"' EXIT
# A minimal user database, as on a fresh image (video and dialout exist on Debian; gpio does not).
mkdir -p "$ROOT/etc"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$ROOT/etc/passwd"
printf 'root:*:19000:0:99999:7:::\n' >"$ROOT/etc/shadow"
printf 'root:x:0:\ndialout:x:20:\nvideo:x:44:\n' >"$ROOT/etc/group"
printf 'root:*::\ndialout:*::\nvideo:*::\n' >"$ROOT/etc/gshadow"
chmod 0640 "$ROOT/etc/shadow" "$ROOT/etc/gshadow"

# the whole tree: path, type, mode, owner, size, mtime, content hash
snapshot() {
  (cd "$ROOT" && find . -printf '%p %y %m %u:%g %s %T@\n' | sort
   find . -type f -exec sha256sum {} + | sort -k2)
}

out1=$(bash "$HERE/install.sh" --root "$ROOT" --board "$BOARD" --binary "$BINARY" --models "$REPO/models" 2>&1)
rc=$?
if [ "$rc" = 0 ]; then pass "first-run: exit 0"; else fail "first-run: exit $rc"; fi
echo "$out1" | sed 's/^/  | /'

VUID=$(awk -F: '$1 == "vigil" { print $3 }' "$ROOT/etc/passwd")
VGID=$(awk -F: '$1 == "vigil" { print $3 }' "$ROOT/etc/group")
if [ -n "$VUID" ] && [ -n "$VGID" ] && grep -q '^vigil:.*:/var/lib/vigil:/usr/sbin/nologin$' "$ROOT/etc/passwd"; then
  pass "user: vigil uid $VUID gid $VGID, home /var/lib/vigil, nologin"
else fail "user: $(grep '^vigil:' "$ROOT/etc/passwd" || echo 'no vigil in passwd')"; fi
[ "${VUID:-0}" -lt 1000 ] && [ "${VUID:-0}" -gt 0 ] && pass "user-system: uid $VUID is a system uid" || fail "user-system: uid '$VUID'"
for g in video gpio dialout; do
  members=$(awk -F: -v g="$g" '$1 == g { print $4 }' "$ROOT/etc/group")
  case ",$members," in *,vigil,*) pass "group-$g: vigil is a member" ;; *) fail "group-$g: members '$members'" ;; esac
done

# expect PATH TYPE MODE OWNER (owner as uid:gid)
expect() {
  local p=$ROOT$1 got
  got=$(stat -c '%F %a %u:%g' "$p" 2>&1)
  case "$got" in
    "$2 $3 $4") pass "tree: $1 $3 $4" ;;
    *) fail "tree: $1 is '$got', expected '$2 $3 $4'" ;;
  esac
}
D=directory F="regular file"
expect /etc/vigil "$D" 770 "0:$VGID"
expect /etc/vigil/keys "$D" 750 "0:$VGID"
expect /etc/vigil/vigil.toml "$F" 640 "0:$VGID"
expect /var/lib/vigil "$D" 750 "$VUID:$VGID"
expect /var/lib/vigil/keys "$D" 700 "$VUID:$VGID"
expect /var/lib/vigil/watchlist "$D" 700 "$VUID:$VGID"
expect /var/lib/vigil/outbox "$D" 700 "$VUID:$VGID"
expect /var/lib/vigil/audit "$D" 750 "$VUID:$VGID"
expect /usr/local/bin/vigil "$F" 755 0:0
expect /usr/share/vigil/models/blazeface_full_int8.onnx "$F" 644 0:0
expect /usr/share/vigil/models/dlib_resnet_int8.onnx "$F" 644 0:0
expect /usr/share/vigil/models/shape_predictor_5.dat "$F" 644 0:0
for p in "$HERE"/profiles/*.toml; do expect "/usr/share/vigil/board/profiles/$(basename "$p")" "$F" 644 0:0; done
for r in "$REPO"/udev/60-vigil-*.rules; do expect "/etc/udev/rules.d/$(basename "$r")" "$F" 644 0:0; done
expect /etc/udev/rules.d/61-vigil-console-link.rules "$F" 644 0:0
expect /etc/systemd/system/vigil.service "$F" 644 0:0
[ ! -e "$ROOT/usr/share/vigil/models/dlib_resnet_float.onnx" ] && pass "models: float models not installed" \
  || fail "models: float model installed"
cmp -s "$BINARY" "$ROOT/usr/local/bin/vigil" && pass "binary: identical copy" || fail "binary: differs from $BINARY"
cmp -s "$HERE/vigil.service" "$ROOT/etc/systemd/system/vigil.service" && pass "unit: identical to board/vigil.service" \
  || fail "unit: differs from board/vigil.service"

# the configuration came from the board profile and checks clean
if grep -q "^board = \"$BOARD\"" "$ROOT/etc/vigil/vigil.toml"; then pass "config: from profile $BOARD"
else fail "config: no 'board = \"$BOARD\"' in vigil.toml"; fi
tty=$(awk '/^\[/ { s = $0 } s == "[console]" && $1 == "tty" { gsub(/"/, "", $3); print $3 }' "$ROOT/etc/vigil/vigil.toml")
if grep -q "KERNEL==\"${tty#/dev/}\", .*SYMLINK+=\"vigil/console\"" "$ROOT/etc/udev/rules.d/61-vigil-console-link.rules"; then
  pass "console-link: /dev/vigil/console -> $tty"
else fail "console-link: $(cat "$ROOT/etc/udev/rules.d/61-vigil-console-link.rules")"; fi

# second run: nothing changes (same tree, modes, owners, mtimes, contents)
before=$(snapshot)
out2=$(bash "$HERE/install.sh" --root "$ROOT" --board "$BOARD" --binary "$BINARY" --models "$REPO/models" 2>&1)
rc=$?
after=$(snapshot)
[ "$rc" = 0 ] && pass "second-run: exit 0" || fail "second-run: exit $rc"
if [ "$before" = "$after" ]; then pass "idempotent: the second run changed nothing"
else fail "idempotent: $(diff <(echo "$before") <(echo "$after") | head -5 | tr '\n' ' ')"; fi
echo "$out2" | grep -q "0 change(s)" && pass "idempotent-report: second run reports 0 changes" \
  || fail "idempotent-report: $(echo "$out2" | tail -1)"

# an edited configuration is never overwritten, even with another --board
echo "# technician's note" >>"$ROOT/etc/vigil/vigil.toml"
sum=$(sha256sum <"$ROOT/etc/vigil/vigil.toml")
bash "$HERE/install.sh" --root "$ROOT" --board generic --binary "$BINARY" --models "$REPO/models" >/dev/null 2>&1
[ "$(sha256sum <"$ROOT/etc/vigil/vigil.toml")" = "$sum" ] && pass "config-kept: existing vigil.toml untouched" \
  || fail "config-kept: vigil.toml was rewritten"

# a mode drifted by hand is put back
chmod 0755 "$ROOT/var/lib/vigil/keys"
bash "$HERE/install.sh" --root "$ROOT" --binary "$BINARY" --models "$REPO/models" >/dev/null 2>&1
expect /var/lib/vigil/keys "$D" 700 "$VUID:$VGID"

# no systemctl / udevadm under --root: the host is untouched
echo "$out1" | grep -q "staged install under $ROOT: udevadm and systemctl not run" && pass "staged: no systemctl/udevadm" \
  || fail "staged: notice missing"
echo "$np passed, $nf failed"
[ "$nf" = 0 ]
