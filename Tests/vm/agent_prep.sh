#!/bin/bash
# Tests/vm/agent_prep.sh - host side of the VM's `agent` group, run by run.sh BEFORE boot (model
# inference and key generation are fast here and slow under TCG). Writes everything the guest's
# agent.sh needs into $OUT/agent/:
#   pki/          agency CA, server certificate for 127.0.0.1, device client certificate
#   keys/         authority, agency and device keys (the agency key opens the hits on the host)
#   www/          the published, signed watchlist (alert mode: one person enrolled, from obama.jpg)
#   entry         the enrolled person's entry id (the only one a hit may name)
#   clip/         frame-NNN.jpg (640x480 MJPEG) + size, for loopback_writer.py: people who are not
#                 enrolled (biden.jpg, the six people of t1.jpg), then the enrolled person in two
#                 OTHER photos (obama2.jpg, obama3.jpg), so he enters and leaves on every loop
#   vigil.toml    the device: camera door = /dev/video10 (MJPEG, the clip), camera street =
#                 /dev/video0 (vivid, YUYV, no faces), LEDs on gpio-sim (vigil-leds 0/1/2), console
#                 on /dev/ttyS1, sync and upload to https://127.0.0.1:8443 (nginx in the guest)
#   console.pin   the technician's PIN (scrypt, cost 2^12: TCG is slow), PIN in pin.txt
# Environment: OUT, BIN (vigil, vigil-vmtest), REPO. Exit non-zero with a message on failure.
set -euo pipefail
: "${OUT:?}" "${BIN:?}" "${REPO:?}"
A=$OUT/agent
V=$BIN/vigil
MODELS=$REPO/models
PHOTOS=$REPO/.cache/photos
T1=$REPO/.cache/models-work/inputs/t1.jpg
die() { echo "agent_prep: $*" >&2; exit 1; }
for f in "$V" "$BIN/vigil-vmtest"; do [ -x "$f" ] || die "$f missing (swift build -c release)"; done
for f in "$PHOTOS/obama.jpg" "$PHOTOS/obama2.jpg" "$PHOTOS/obama3.jpg" "$PHOTOS/biden.jpg" "$T1"; do
  [ -f "$f" ] || die "$f missing (make setup / make models)"
done
[ -f "$MODELS/dlib_resnet_int8.onnx" ] || die "models missing (make models)"

rm -rf "$A"; mkdir -p "$A"
cd "$A"
# shellcheck source=/dev/null
. "$REPO/scripts/lib/agency.sh"
agency_pki pki || die "PKI"
for r in authority agency device; do "$V" keys generate --role $r --out keys >/dev/null || die "keys generate $r"; done
mkdir -p subjects/person-a
cp "$PHOTOS/obama.jpg" subjects/person-a/
"$V" watchlist build --subjects subjects --legal-basis "vm test case" --key keys/authority.key --version 1 \
  --expires "$(date -u -d '+30 days' +%F)" --mode alert --out list.vwl --models "$MODELS" >build.log 2>&1 \
  || die "watchlist build: $(tail -2 build.log)"
"$V" watchlist publish list.vwl --key keys/authority.key --out www >/dev/null || die "watchlist publish"
awk -F, 'NR == 2 { print $1 }' list.vwl.entries.csv >entry
[ -s entry ] || die "no entry in list.vwl.entries.csv"

# 24 frames; at the writer's 6 fps a loop lasts 4 s: 2 s of people not enrolled, 2 s of him
"$BIN/vigil-vmtest" make-clip --out clip --size 640x480 "$PHOTOS/biden.jpg:6" "$T1:6" \
  "$PHOTOS/obama2.jpg:6" "$PHOTOS/obama3.jpg:6" >/dev/null || die "make-clip"

echo 480213 >pin.txt
"$V" config init --board generic --out vigil.toml >/dev/null || die "config init"
"$V" config set vigil.toml device.id=vm-pole-01 "device.data_dir=$A/data" "storage.audit_dir=$A/data/audit" \
  "models.detector=$MODELS/blazeface_full_int8.onnx" "models.embedder=$MODELS/dlib_resnet_int8.onnx" \
  "keys.authority_public=$A/keys/authority.pub" "keys.agency_public=$A/keys/agency.pub" "keys.device_signing=$A/keys/device.key" \
  camera.0.name=door camera.0.device=/dev/video10 camera.0.format=mjpeg camera.0.width=640 camera.0.height=480 camera.0.fps=6 \
  camera.1.name=street camera.1.device=/dev/video0 camera.1.format=yuyv camera.1.width=640 camera.1.height=480 camera.1.fps=5 \
  detection.rate_hz=3 policy.hit_cooldown_s=10 \
  leds.chip=vigil-leds leds.status=0 leds.fault=1 leds.hit=2 leds.hit_enabled=true \
  console.tty=/dev/ttyS1 "console.pin_file=$A/console.pin" \
  "sync.url=https://127.0.0.1:8443" "sync.ca=$A/pki/ca.crt" "sync.client_cert=$A/pki/client.crt" "sync.client_key=$A/pki/client.key" \
  "upload.url=https://127.0.0.1:8443" "upload.ca=$A/pki/ca.crt" "upload.client_cert=$A/pki/client.crt" "upload.client_key=$A/pki/client.key" \
  >config.log 2>&1 || die "config set: $(tail -3 config.log)"
"$V" console set-pin --config vigil.toml --cost-log2 12 <pin.txt >/dev/null 2>&1 || die "console set-pin"
echo "agent_prep: $A ready (entry $(cat entry), $(ls clip/frame-*.jpg | wc -l) clip frames)"
