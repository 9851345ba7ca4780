#!/usr/bin/env bash
# scripts/demo.sh - `make demo`: the whole product on this machine, no camera needed.
#
# 1. the agency: a CA and nginx on 127.0.0.1 (TLS with client certificates), keys, a signed
#    watchlist enrolled from PyPI photos (face_recognition's test images: one person enrolled, the
#    others not), published for sync;
# 2. the device: a configuration from the generic board profile, a clip made from OTHER photos of
#    the enrolled person and of people who are not enrolled, played as the camera;
# 3. `vigil run` with the terminal LED panel: it syncs the list, analyses the clip, seals hits to
#    the agency's key and uploads them;
# 4. the agency opens the uploaded hits with its private key: the table, then the accountability
#    counters. Every hit is a candidate for human review, not an identification.
set -euo pipefail
# Everything the demo writes is private: the decrypted hit table, the entry map, keys, CSRs and
# logs (nginx's workers reach the published list through scripts/lib/agency.sh's group, not
# through world-readable files).
umask 077
REPO=$(cd "$(dirname "$0")/.." && pwd)
V=${VIGIL:-$REPO/.build/release/vigil}
MODELS=$REPO/models
PHOTOS=$REPO/.cache/photos
D=$REPO/.cache/demo
. "$REPO/scripts/lib/agency.sh"
[ -x "$V" ] || { echo "demo: $V missing: run make demo (it builds first)" >&2; exit 1; }

agency_stop "$D" 2>/dev/null || true
rm -rf "$D"; mkdir -p "$D"
trap 'agency_stop "$D"' EXIT
cd "$D"

echo "== agency: CA, server on 127.0.0.1, keys, watchlist"
agency_pki pki
PORT=$(agency_free_port)
agency_nginx "$D" "$D/www" "$PORT" "$D/pki"
for r in authority agency device; do "$V" keys generate --role $r --out keys >/dev/null; done
mkdir -p subjects/person-a
cp "$PHOTOS/obama.jpg" subjects/person-a/
"$V" watchlist build --subjects subjects --legal-basis "demo case 2026-001" --key keys/authority.key --version 1 \
  --expires "$(date -u -d '+30 days' +%F)" --mode investigative --out list.vwl --models "$MODELS" 2>&1 | sed 's/^/   /'
"$V" watchlist publish list.vwl --key keys/authority.key --out www | sed 's/^/   /'
echo "   enrolled: person-a (one photo). Not enrolled: the person in biden.jpg and the six people in t1.jpg"

echo "== device: configuration, and a clip of other photos as the camera (MJPEG, 5 fps)"
T1=$REPO/.cache/models-work/inputs/t1.jpg   # insightface's group photo (MIT), fetched by make models
for f in "$T1" "$PHOTOS/biden.jpg" "$PHOTOS/obama2.jpg" "$PHOTOS/obama3.jpg"; do
  for _ in 1 2 3 4 5 6 7 8 9 10; do cat "$f"; done
done >clip.mjpeg
"$V" config init --board generic --out vigil.toml >/dev/null
"$V" config set vigil.toml device.id=demo-pole-01 "device.data_dir=$D/data" "storage.audit_dir=$D/data/audit" \
  "models.detector=$MODELS/blazeface_full_int8.onnx" "models.embedder=$MODELS/dlib_resnet_int8.onnx" \
  "keys.authority_public=$D/keys/authority.pub" "keys.agency_public=$D/keys/agency.pub" "keys.device_signing=$D/keys/device.key" \
  "camera.0.device=$D/clip.mjpeg" camera.0.fps=5 camera.0.name=front-door leds.status=-1 leds.fault=-1 leds.hit=-1 leds.panel=true console.tty= \
  "sync.url=https://127.0.0.1:$PORT" "sync.ca=$D/pki/ca.crt" "sync.client_cert=$D/pki/client.crt" "sync.client_key=$D/pki/client.key" \
  "upload.url=https://127.0.0.1:$PORT" "upload.ca=$D/pki/ca.crt" "upload.client_cert=$D/pki/client.crt" "upload.client_key=$D/pki/client.key" \
  | sed 's/^/   /'

echo "== vigil run (sync → capture → detect → embed → match → seal → upload)"
"$V" run --config vigil.toml --until-clips-end --panel

echo "== agency: the uploaded hits, opened with the agency's private key"
"$V" hits open --key keys/agency.key --device-pub keys/device.pub www/hits | tee hits.txt | sed 's/^/   /'
echo "   entry → subject (the agency's own mapping, never on the device):"
tail -n +2 list.vwl.entries.csv | while IFS=, read -r entry subject _; do
  n=$(grep -c "$entry" hits.txt || true)
  echo "   $entry  $subject  $n hit(s)"
done
echo "== accountability counters (totals only)"
"$V" report --config vigil.toml | sed 's/^/   /'
