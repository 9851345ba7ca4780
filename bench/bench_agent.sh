#!/usr/bin/env bash
# bench/bench_agent.sh - `make bench`'s agent lines: the whole agent (`vigil run`) on a looping clip.
#
#   bash bench/bench_agent.sh [--bin DIR] [--seconds S]
#
# The clip: a 1280x720 group photo with six faces (insightface's t1.jpg) and three photos of one
# person, 30 fps MJPEG, looped; that person is enrolled in a local list (no network: sync and
# upload are off, hits stay sealed in the outbox). Detection rate is set above what the machine
# can do, so the analysis loop runs flat out: its frames per second is the agent's throughput.
# Lines:
#   bench agent-fps-1t / -2t: frames analysed per second with detection.threads 1 / 2, latency
#       capture → analysed (p50, p99) and capture → sealed hit (p50, p99, with the hit count),
#       peak RSS
#   bench agent-stages-1t: the per-stage budget of the 1-thread run (mean ms per analysed frame:
#       decode, detect, align+quality, embed, search, track+policy; seal per hit)
#   bench agent-hit-latency: capture → sealed hit over many hits: two people enrolled (obama.jpg,
#       biden.jpg), a 15 fps clip in which each enters for 1 s and leaves for 10 s (the group
#       photo in between), cooldown 10 s — about two hits per 11 s; --hit-seconds (default 120)
#   bench agent-rss-300k: peak RSS with a 300,000-entry list installed (random embeddings)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$REPO/.build/release
SECS=30
HIT_SECS=120
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --hit-seconds) HIT_SECS=$2; shift 2 ;;
    *) echo "bench_agent: unknown argument $1" >&2; exit 2 ;;
  esac
done
V=$BIN/vigil
MODELS=$REPO/models
PHOTOS=$REPO/.cache/photos
T1=$REPO/.cache/models-work/inputs/t1.jpg
T=$(mktemp -d /tmp/vigil-bench-agent-XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
for r in authority agency device; do "$V" keys generate --role $r --out keys >/dev/null; done
mkdir -p subjects/person-a; cp "$PHOTOS/obama.jpg" subjects/person-a/
"$V" watchlist build --subjects subjects --legal-basis bench --key keys/authority.key --version 1 \
  --expires "$(date -u -d '+30 days' +%F)" --out list.vwl --models "$MODELS" >/dev/null 2>&1
for f in "$T1" "$PHOTOS/obama2.jpg" "$T1" "$PHOTOS/obama3.jpg" "$T1" "$PHOTOS/biden.jpg"; do cat "$f"; done >clip.mjpeg
config() { # name threads
  "$V" config init --board generic --out "$1.toml" >/dev/null
  "$V" config set "$1.toml" "device.data_dir=$T/$1" "storage.audit_dir=$T/$1/audit" \
    "models.detector=$MODELS/blazeface_full_int8.onnx" "models.embedder=$MODELS/dlib_resnet_int8.onnx" \
    "keys.authority_public=$T/keys/authority.pub" "keys.agency_public=$T/keys/agency.pub" "keys.device_signing=$T/keys/device.key" \
    "camera.0.device=$T/clip.mjpeg" camera.0.fps=30 detection.rate_hz=30 "detection.threads=$2" policy.hit_cooldown_s=10 \
    leds.status=-1 leds.fault=-1 leds.hit=-1 console.tty= >/dev/null
  mkdir -p "$T/$1"
}
run_for() { # config seconds → prints the stats line; peak RSS in $T/rss
  "$V" watchlist install "${LIST:-list.vwl}" --store "$T/$1/watchlist" --pubkey keys/authority.pub --models "$MODELS" >/dev/null
  /usr/bin/time -f "%M" -o "$T/rss" "$V" run --config "$1.toml" --loop-clips >"$T/$1.out" 2>&1 &
  local pid=$!
  sleep "$2"
  pkill -TERM -P $pid vigil 2>/dev/null || kill -TERM $pid
  wait $pid || true
  grep "stats:" "$T/$1.out" | sed "s/^vigil: stats: //"
}
stages() { grep "stages:" "$T/$1.out" | sed "s/^vigil: stages: //"; }
for th in ${THREADS:-1 2}; do
  config "t$th" "$th"
  line=$(run_for "t$th" "$SECS")
  echo "bench agent-fps-${th}t: $line; peak RSS $(( $(cat "$T/rss") / 1024 )) MiB"
  [ "$th" = 1 ] && echo "bench agent-stages-1t: $(stages t1)"
done
# people entering and leaving: many hits, for a latency distribution
mkdir -p subjects2/person-a subjects2/person-b
cp "$PHOTOS/obama.jpg" subjects2/person-a/; cp "$PHOTOS/biden.jpg" subjects2/person-b/
"$V" watchlist build --subjects subjects2 --legal-basis bench --key keys/authority.key --version 1 \
  --expires "$(date -u -d '+30 days' +%F)" --out two.vwl --models "$MODELS" >/dev/null 2>&1
rep() { local i; for ((i = 0; i < $2; i++)); do cat "$1"; done; }
{ rep "$PHOTOS/obama2.jpg" 15; rep "$T1" 68; rep "$PHOTOS/biden.jpg" 15; rep "$T1" 67; } >clip2.mjpeg
config hits 1
"$V" config set hits.toml "camera.0.device=$T/clip2.mjpeg" camera.0.fps=15 detection.rate_hz=15 >/dev/null
LIST=two.vwl
line=$(run_for hits "$HIT_SECS")
echo "bench agent-hit-latency: $(echo "$line" | sed 's/.*capture → sealed/capture → sealed/') over ${HIT_SECS} s (1 thread; $(echo "$line" | sed 's/;.*//'))"
"$V" watchlist synth --entries 300000 --key keys/authority.key --version 2 --out big.vwl --models "$MODELS" >/dev/null
config big 1
LIST=big.vwl
line=$(run_for big 15)
echo "bench agent-rss-300k: peak RSS $(( $(cat "$T/rss") / 1024 )) MiB with a 300,000-entry list ($line)"
