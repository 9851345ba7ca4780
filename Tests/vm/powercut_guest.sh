#!/bin/bash
# Tests/vm/powercut_guest.sh - one boot of the power-cut test (Tests/vm/powercut.py), INSIDE the VM
# (started by Tests/vm/init like guest.sh). The device's data directory lives on a real ext4 disk
# (/dev/vda, virtio-blk: the guest's page cache is lost when qemu is killed, what reached the
# virtual disk survives — a power cut as the board would see it).
#
#  1. fsck (journal replay) and mount /dev/vda at /mnt;
#  2. CHECK what the previous boot left: the active watchlist loads and verifies (its version is
#     printed; the host decides whether it is the old or the new one), every record the previous
#     boots reported as sealed ($OUT/pc/sealed.txt) exists and every record in the outbox opens
#     with the agency key once the outbox is opened as the agent opens it (temp files of a write
#     the cut interrupted are removed then), the audit chain verifies (a partial last line — an
#     interrupted append — is reported, then repaired by that same open, and must verify after);
#  3. WORK until the host kills qemu: seal hit records (`vigil hits seal-test`: the agent's
#     Outbox.record + audit append, with a 20 kB crop each) and install the next watchlist version
#     ($OUT/pc/next.vwl, `vigil watchlist install`: the agent's WatchlistStore.install) at once.
# Console protocol (host parses): "PC-<WORD> ..." lines. Environment: BIN, OUT (from /init).
{
set -uo pipefail
V=$BIN/vigil
P=$OUT/pc
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODELS=$(cd "$HERE/../.." && pwd)/models
M=/mnt
D=$M/vigil
K=$P/keys
say() { echo "PC-$*"; }

say "BOOT uptime=$(cut -d' ' -f1 /proc/uptime)"
e2fsck -p /dev/vda >"$P/fsck.log" 2>&1
say "FSCK rc=$? $(tr '\n' ' ' <"$P/fsck.log" | cut -c1-200)"
if ! mount -t ext4 /dev/vda "$M" 2>"$P/mount.err"; then say "MOUNT-FAILED $(cat "$P/mount.err")"; exit 0; fi
mkdir -p "$D/audit" "$D/outbox" "$D/watchlist"

# ---- check
if [ -s "$D/watchlist/state" ]; then
  st=$("$V" watchlist status --store "$D/watchlist" --pubkey "$K/authority.pub" --models "$MODELS" 2>&1); rc=$?
  say "LIST rc=$rc $(echo "$st" | head -1)"
else
  say "LIST none"
fi
# (bash builtins: a process per record costs seconds under TCG)
declare -A have=()
for f in "$D/outbox/"*.hit; do [ -e "$f" ] || continue; b=${f##*/}; b=${b#*-}; have[${b%.hit}]=1; done
missing=0 n=0
while read -r id; do
  [ -n "$id" ] || continue
  n=$((n + 1))
  [ -n "${have[$id]:-}" ] || { missing=$((missing + 1)); say "MISSING $id"; }
done <"$P/sealed.txt"
say "SEALED reported=$n missing=$missing"
if ls "$D/audit/"audit*.log >/dev/null 2>&1; then
  av=$("$V" audit verify "$D/audit" 2>&1); rc=$?
  say "AUDIT-BEFORE rc=$rc $(echo "$av" | tr '\n' ' ' | cut -c1-300)"
else
  say "AUDIT-BEFORE rc=0 no log yet"
fi
# open the outbox and the audit log as the agent does (temp files removed, a partial tail cut)
"$V" hits seal-test --count 0 --outbox "$D/outbox" --device-key "$K/device.key" --agency-pub "$K/agency.pub" --audit-dir "$D/audit" >/dev/null 2>&1
left=$(ls -A "$D/outbox" | grep -vE '^[0-9]{20}-[0-9a-f-]{36}\.hit$|^sequence$' | tr '\n' ' ')
# records are immutable once renamed into place: open the ones written since the last check
# (the whole outbox on the first boot); existence of every reported one is checked above
# (bash builtins only: `find` needs libpcre2, which the guest reads over 9p — it failed with EIO)
recent=()
for f in "$D/outbox/"*.hit; do
  [ -e "$f" ] || continue
  if [ ! -e "$D/checked.stamp" ] || [ "$f" -nt "$D/checked.stamp" ]; then recent+=("$f"); fi
done
if [ ${#recent[@]} = 0 ]; then op="0 opened, 0 refused"; rc=0
else op=$("$V" hits open --key "$K/agency.key" --device-pub "$K/device.pub" "${recent[@]}" 2>&1); rc=$?; fi
touch "$D/checked.stamp"; sync
say "OPEN rc=$rc $(echo "$op" | grep -oE '^[0-9]+ opened, [0-9]+ refused') ${left:+other files: $left }$(echo "$op" | grep '^vigil: ' | head -2 | tr '\n' ' ')"
av=$("$V" audit verify "$D/audit" 2>&1); rc=$?
say "AUDIT rc=$rc $(echo "$av" | tail -1)"
say "CHECKED"

# ---- work, until the power goes
say "WORK-START"
"$V" hits seal-test --count 100000 --outbox "$D/outbox" --device-key "$K/device.key" --agency-pub "$K/agency.pub" \
  --crop 20000 --audit-dir "$D/audit" 2>&1 | while read -r w id _; do [ "$w" = sealed ] && say "SEALED-ID $id"; done &
if [ -s "$P/next.vwl" ]; then
  ( "$V" watchlist install "$P/next.vwl" --store "$D/watchlist" --pubkey "$K/authority.pub" --models "$MODELS" \
      --audit-dir "$D/audit" >"$P/install.log" 2>&1 && say "INSTALLED $(cat "$P/next.version")" ) &
fi
wait
say "WORK-DONE"
sync
exit 0
}
