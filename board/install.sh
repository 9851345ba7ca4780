#!/bin/bash
# board/install.sh - install the Vigil agent on a device (Debian / Raspberry Pi OS), as root.
#
#   bash board/install.sh --board raspberry-pi-4 [--binary PATH] [--models DIR] [--prefix DIR]
#   bash board/install.sh --board generic --root /tmp/stage     # staged: nothing outside DIR touched
#   bash board/install.sh --print-console-rule /dev/ttyAMA0     # the udev line for /dev/vigil/console
#
# Idempotent: a second run changes nothing (files are copied only when their content differs,
# an existing configuration is never overwritten, existing users/groups are kept).
#
#   --board NAME    board profile for a new configuration (board/profiles/NAME.toml); required
#                   unless the configuration already exists
#   --binary PATH   the vigil executable (default: .build/release/vigil of this checkout)
#   --models DIR    directory with the int8 ONNX models (default: models/ of this checkout)
#   --prefix DIR    where the binary goes: DIR/bin/vigil (default /usr/local; the unit's ExecStart
#                   is rewritten to match)
#   --root DIR      install into DIR as if it were / (a staged image or a test); users and groups
#                   go into DIR/etc/{passwd,group} (useradd --prefix) when those files exist there;
#                   udevadm and systemctl are not run (a notice says so)
#   --print-console-rule TTY   print the udev rule that links /dev/vigil/console to TTY and exit
#
# What it does (modes in parentheses; owner root unless said):
#   user and group vigil (system, no login shell, home /var/lib/vigil); groups video, gpio, dialout
#   (gpio created when missing); vigil added to all three
#   /etc/vigil (0770 root:vigil: console config commits), /etc/vigil/keys (0750 root:vigil) - the agency's public keys
#   /var/lib/vigil (0750 vigil:vigil) with keys/ (0700), watchlist/ (0700), outbox/ (0700),
#   audit/ (0750), all vigil:vigil
#   PREFIX/bin/vigil (0755), /usr/share/vigil/models/*.onnx + shape_predictor_5.dat + manifest.json (0644),
#   /usr/share/vigil/board/profiles/*.toml (0644)
#   /etc/vigil/vigil.toml (0640 root:vigil) from `vigil config init --board NAME`, only if absent
#   /etc/udev/rules.d/60-vigil-*.rules (0644) and 61-vigil-console-link.rules for the configured
#   console.tty; udevadm control --reload + trigger when udevadm exists
#   /etc/systemd/system/vigil.service (0644); systemctl daemon-reload + enable when systemd runs
{ # parsed whole before running: editing the file during a run cannot derail it
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

console_rule() {  # $1 = tty path (/dev/ttyAMA0) -> the udev line for /dev/vigil/console
  local k=${1#/dev/}
  case "$k" in
    ""|*/*|*[!A-Za-z0-9_.-]*) echo "install.sh: console tty '$1' is not a /dev/NAME tty" >&2; return 1 ;;
  esac
  echo "# Written by board/install.sh from console.tty in /etc/vigil/vigil.toml: /dev/vigil/console -> /dev/$k"
  echo "SUBSYSTEM==\"tty\", KERNEL==\"$k\", ACTION!=\"remove\", SYMLINK+=\"vigil/console\""
}

BOARD="" BINARY="$REPO/.build/release/vigil" MODELS="$REPO/models" PREFIX=/usr/local ROOT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --board) BOARD=$2; shift 2 ;;
    --binary) BINARY=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --root) ROOT=$2; shift 2 ;;
    --print-console-rule) console_rule "$2"; exit ;;
    -h|--help) sed -n '2,/^{/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
ROOT=${ROOT%/}
if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || { echo "install.sh: --root $ROOT is not a directory" >&2; exit 2; }
  ROOT=$(cd "$ROOT" && pwd)
fi
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
[ -x "$BINARY" ] || { echo "install.sh: $BINARY is not an executable (--binary)" >&2; exit 1; }
case "$PREFIX" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac

changed=0
note() { echo "install.sh: $*"; }
did() { changed=$((changed + 1)); note "$*"; }

# --- users and groups (in ROOT's files when staged)
etc_file() { echo "$ROOT/etc/$1"; }
have_db=1
if [ -n "$ROOT" ] && { [ ! -f "$(etc_file passwd)" ] || [ ! -f "$(etc_file group)" ]; }; then
  have_db=0
  note "no $ROOT/etc/passwd or group: user and group vigil not created, files owned by root"
fi
prefix_opt=()
[ -n "$ROOT" ] && prefix_opt=(--prefix "$ROOT")
group_exists() { grep -q "^$1:" "$(etc_file group)"; }
if [ "$have_db" = 1 ]; then
  for g in video gpio dialout; do
    group_exists "$g" || { groupadd "${prefix_opt[@]}" --system "$g"; did "created group $g"; }
  done
  group_exists vigil || { groupadd "${prefix_opt[@]}" --system vigil; did "created group vigil"; }
  if ! grep -q "^vigil:" "$(etc_file passwd)"; then
    nologin=/usr/sbin/nologin
    useradd "${prefix_opt[@]}" --system --gid vigil --no-create-home --home-dir /var/lib/vigil \
      --shell "$nologin" --comment "Vigil camera agent" vigil
    did "created user vigil"
  fi
  for g in video gpio dialout; do
    members=$(awk -F: -v g="$g" '$1 == g { print $4 }' "$(etc_file group)")
    case ",$members," in
      *,vigil,*) ;;
      *) usermod "${prefix_opt[@]}" -a -G "$g" vigil; did "added vigil to group $g" ;;
    esac
  done
  VUID=$(awk -F: '$1 == "vigil" { print $3 }' "$(etc_file passwd)")
  VGID=$(awk -F: '$1 == "vigil" { print $3 }' "$(etc_file group)")
else
  VUID=0 VGID=0
fi

# --- directories and files (numeric ids: ROOT's ids need not exist on this machine)
mkdir_mode() {  # path mode uid gid
  local p=$ROOT$1
  [ -d "$p" ] || { mkdir -p "$p"; did "created $1"; }
  [ "$(stat -c %a "$p")" = "${2#0}" ] || { chmod "$2" "$p"; did "chmod $2 $1"; }
  [ "$(stat -c %u:%g "$p")" = "$3:$4" ] || { chown "$3:$4" "$p"; did "chown $3:$4 $1"; }
}
put_file() {  # src dest mode uid gid: copy only when the content differs
  local d=$ROOT$2
  if ! cmp -s "$1" "$d"; then
    install -D -m "$3" -o "$4" -g "$5" "$1" "$d.vigil-new" && mv -f "$d.vigil-new" "$d"
    did "installed $2"
  fi
  [ "$(stat -c %a "$d")" = "${3#0}" ] || { chmod "$3" "$d"; did "chmod $3 $2"; }
  [ "$(stat -c %u:%g "$d")" = "$4:$5" ] || { chown "$4:$5" "$d"; did "chown $4:$5 $2"; }
}
put_text() {  # text dest mode: like put_file for generated content
  local tmp
  tmp=$(mktemp)
  printf '%s\n' "$1" >"$tmp"
  put_file "$tmp" "$2" "$3" 0 0
  rm -f "$tmp"
}

for d in /etc /usr /usr/share /var /var/lib "$PREFIX" "$PREFIX/bin"; do
  [ -d "$ROOT$d" ] || mkdir_mode "$d" 0755 0 0
done
mkdir_mode /etc/vigil 0770 0 "$VGID"   # group-writable: the agent saves config commits here
mkdir_mode /etc/vigil/keys 0750 0 "$VGID"
mkdir_mode /var/lib/vigil 0750 "$VUID" "$VGID"
mkdir_mode /var/lib/vigil/keys 0700 "$VUID" "$VGID"
mkdir_mode /var/lib/vigil/watchlist 0700 "$VUID" "$VGID"
mkdir_mode /var/lib/vigil/outbox 0700 "$VUID" "$VGID"
mkdir_mode /var/lib/vigil/audit 0750 "$VUID" "$VGID"
mkdir_mode /usr/share/vigil 0755 0 0
mkdir_mode /usr/share/vigil/models 0755 0 0
mkdir_mode /usr/share/vigil/board 0755 0 0
mkdir_mode /usr/share/vigil/board/profiles 0755 0 0

put_file "$BINARY" "$PREFIX/bin/vigil" 0755 0 0
nmodels=0
for m in "$MODELS"/*_int8.onnx "$MODELS"/shape_predictor_5.dat "$MODELS"/manifest.json; do
  [ -f "$m" ] || continue
  put_file "$m" "/usr/share/vigil/models/$(basename "$m")" 0644 0 0
  nmodels=$((nmodels + 1))
done
[ "$nmodels" -gt 0 ] || note "warning: no *_int8.onnx models in $MODELS (--models; make models builds them)"
for p in "$HERE"/profiles/*.toml; do
  put_file "$p" "/usr/share/vigil/board/profiles/$(basename "$p")" 0644 0 0
done

# --- configuration: never overwritten
CONFIG=/etc/vigil/vigil.toml
if [ -e "$ROOT$CONFIG" ]; then
  note "keeping the existing $CONFIG"
else
  [ -n "$BOARD" ] || { echo "install.sh: no $CONFIG yet: --board NAME is required (vigil config boards)" >&2; exit 2; }
  "$BINARY" config init --board "$BOARD" --out "$ROOT$CONFIG" --profiles "$ROOT/usr/share/vigil/board/profiles" >/dev/null
  did "wrote $CONFIG from board profile $BOARD"
fi
[ "$(stat -c %a "$ROOT$CONFIG")" = 640 ] || { chmod 0640 "$ROOT$CONFIG"; did "chmod 0640 $CONFIG"; }
[ "$(stat -c %u:%g "$ROOT$CONFIG")" = "0:$VGID" ] || { chown "0:$VGID" "$ROOT$CONFIG"; did "chown 0:$VGID $CONFIG"; }

# --- udev rules, and the console link for the configured tty
for r in "$REPO"/udev/60-vigil-*.rules; do
  put_file "$r" "/etc/udev/rules.d/$(basename "$r")" 0644 0 0
done
TTY=$(awk '/^\[/ { s = $0 } s == "[console]" && $1 == "tty" { gsub(/"/, "", $3); print $3 }' "$ROOT$CONFIG")
if [ -n "$TTY" ]; then
  put_text "$(console_rule "$TTY")" /etc/udev/rules.d/61-vigil-console-link.rules 0644
elif [ -e "$ROOT/etc/udev/rules.d/61-vigil-console-link.rules" ]; then
  rm -f "$ROOT/etc/udev/rules.d/61-vigil-console-link.rules"; did "removed 61-vigil-console-link.rules (no console.tty)"
fi

# --- systemd unit (ExecStart follows --prefix)
unit=$(sed "s|/usr/local/bin/vigil|$PREFIX/bin/vigil|g" "$HERE/vigil.service")
mkdir_mode /etc/systemd 0755 0 0
mkdir_mode /etc/systemd/system 0755 0 0
put_text "$unit" /etc/systemd/system/vigil.service 0644

# --- the running system: only when not staged
if [ -n "$ROOT" ]; then
  note "staged install under $ROOT: udevadm and systemctl not run"
else
  if command -v udevadm >/dev/null && udevadm control --ping 2>/dev/null; then
    udevadm control --reload
    udevadm trigger --action=change --subsystem-match=video4linux --subsystem-match=gpio --subsystem-match=tty
    note "udev rules reloaded and triggered (video4linux, gpio, tty)"
  else
    note "udevadm or a running udevd not found: rules take effect at the next boot"
  fi
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
    if ! systemctl is-enabled --quiet vigil.service; then
      systemctl enable vigil.service; did "enabled vigil.service"
    fi
    note "start it with: systemctl start vigil (after the keys and the watchlist are in place)"
  else
    note "systemd is not running here: vigil.service installed but not enabled (systemctl enable vigil)"
  fi
fi
note "done, $changed change(s)"
exit 0
}
