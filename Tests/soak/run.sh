#!/usr/bin/env bash
# Tests/soak/run.sh - `make soak`: the agent on a looping face clip for a long, bounded run, its
# memory and open file descriptors sampled every 10 s.
#
#   bash Tests/soak/run.sh [--bin DIR] [--minutes 30] [--warmup 5] [--plot FILE.png]
#
# The clip (15 fps MJPEG, 11 s per loop): an enrolled person in view for 1 s, a group photo of six
# people who are not enrolled for 4.5 s, a second enrolled person for 1 s, the group again; the
# hit cooldown is 10 s, so every loop is two new appearances and two hits — hundreds over the run,
# sealed into the outbox (no network). Checks, after the warm-up:
#   rss      resident memory grows by at most 1 MiB (median of the last 10 samples against the
#            median of the first 10 after the warm-up)
#   fds      no growth: the count at the end equals the count after the warm-up, and never more
#            than 2 above it (a record being written)
#   hits     deduplicated as expected: per loop, one hit per enrolled person (within 10 % of
#            2 × loops), and never two hits for one entry within the cooldown (from the sealed
#            records, opened with the agency key)
#   exit     SIGTERM → exit 0
# Writes the samples to $OUT/soak.csv (seconds, rss_kib, fds) and, with --plot, a PNG of the curve.
# Prints PASS/FAIL lines and "N passed, M failed"; exit 0 iff no FAIL.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$REPO/.build/release
MINUTES=30
WARMUP=5
PLOT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --minutes) MINUTES=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --plot) PLOT=$2; shift 2 ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
done
V=$BIN/vigil
PY=$REPO/.venv/bin/python
[ -x "$PY" ] || PY=python3
MODELS=$REPO/models
PHOTOS=$REPO/.cache/photos
T1=$REPO/.cache/models-work/inputs/t1.jpg
OUT=$REPO/.cache/soak
bail() { echo "FAIL soak/setup: $*"; echo "0 passed, 1 failed"; exit 1; }
[ -x "$V" ] || bail "$V missing (swift build -c release)"
for f in "$PHOTOS/obama.jpg" "$PHOTOS/obama2.jpg" "$PHOTOS/biden.jpg" "$T1" "$MODELS/dlib_resnet_int8.onnx"; do
  [ -f "$f" ] || bail "$f missing (make setup)"
done
rm -rf "$OUT"; mkdir -p "$OUT"
cd "$OUT" || exit 1
for r in authority agency device; do "$V" keys generate --role $r --out keys >/dev/null || bail "keys"; done
mkdir -p subjects/person-a subjects/person-b
cp "$PHOTOS/obama.jpg" subjects/person-a/; cp "$PHOTOS/biden.jpg" subjects/person-b/
"$V" watchlist build --subjects subjects --legal-basis soak --key keys/authority.key --version 1 \
  --expires "$(date -u -d '+30 days' +%F)" --out list.vwl --models "$MODELS" >build.log 2>&1 || bail "watchlist build"
rep() { local i; for ((i = 0; i < $2; i++)); do cat "$1"; done; }
{ rep "$PHOTOS/obama2.jpg" 15; rep "$T1" 68; rep "$PHOTOS/biden.jpg" 15; rep "$T1" 67; } >clip.mjpeg
LOOP_S=11   # 165 frames at 15 fps
"$V" config init --board generic --out vigil.toml >/dev/null || bail "config init"
"$V" config set vigil.toml "device.data_dir=$OUT/data" "storage.audit_dir=$OUT/data/audit" \
  "models.detector=$MODELS/blazeface_full_int8.onnx" "models.embedder=$MODELS/dlib_resnet_int8.onnx" \
  "keys.authority_public=$OUT/keys/authority.pub" "keys.agency_public=$OUT/keys/agency.pub" "keys.device_signing=$OUT/keys/device.key" \
  "camera.0.device=$OUT/clip.mjpeg" camera.0.fps=15 detection.rate_hz=15 policy.hit_cooldown_s=10 \
  leds.status=-1 leds.fault=-1 leds.hit=-1 console.tty= >/dev/null || bail "config set"
mkdir -p data
"$V" watchlist install list.vwl --store "$OUT/data/watchlist" --pubkey keys/authority.pub --models "$MODELS" >/dev/null || bail "install"

"$V" run --config vigil.toml --loop-clips >run.log 2>&1 &
PID=$!
echo "seconds,rss_kib,fds" >soak.csv
T0=$(date +%s)
END=$((T0 + MINUTES * 60))
while [ "$(date +%s)" -lt "$END" ] && kill -0 $PID 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$PID/status 2>/dev/null)
  fds=$(ls /proc/$PID/fd 2>/dev/null | wc -l)
  [ -n "$rss" ] && echo "$(( $(date +%s) - T0 )),$rss,$fds" >>soak.csv
  sleep 10
done
alive=0; kill -0 $PID 2>/dev/null && alive=1
kill -TERM $PID 2>/dev/null; wait $PID; rc=$?
secs=$(( $(date +%s) - T0 ))
"$V" hits open --json --key keys/agency.key --device-pub keys/device.pub data/outbox >hits.json 2>hits.err
"$PY" - "$OUT/soak.csv" "$OUT/hits.json" "$WARMUP" "$secs" "$LOOP_S" "$alive" "$rc" "$PLOT" <<'EOF'
import csv, json, statistics, sys
path, hits_path, warm, secs, loop, alive, rc, plot = sys.argv[1], sys.argv[2], float(sys.argv[3]) * 60, int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7], sys.argv[8]
rows = [(int(r["seconds"]), int(r["rss_kib"]), int(r["fds"])) for r in csv.DictReader(open(path))]
ok = True
npass = nfail = 0
def result(good, msg):
    global ok, npass, nfail
    print(("PASS " if good else "FAIL ") + msg)
    ok &= good
    npass += good; nfail += not good
after = [r for r in rows if r[0] >= warm]
if len(after) < 20:
    result(False, f"soak/samples: only {len(after)} samples after the {warm / 60:.0f}-minute warm-up (run longer)")
else:
    first = statistics.median(r[1] for r in after[:10]); last = statistics.median(r[1] for r in after[-10:])
    growth = (last - first) / 1024
    peak = max(r[1] for r in rows) / 1024
    result(growth <= 1.0, f"soak/rss: {first / 1024:.1f} MiB after the warm-up, {last / 1024:.1f} MiB at the end: growth {growth:+.2f} MiB (limit 1), peak {peak:.1f} MiB, {len(rows)} samples over {secs / 60:.1f} min")
    f0, fend, fmax = after[0][2], after[-1][2], max(r[2] for r in after)
    result(fend <= f0 and fmax <= f0 + 2, f"soak/fds: {f0} after the warm-up, {fend} at the end, at most {fmax}")
recs = [json.loads(l) for l in open(hits_path) if l.startswith("{")]
loops = secs / loop
by = {}
for r in recs:
    by.setdefault(r["entry"], []).append(r["capture_ms"])
gaps = [b - a for t in by.values() for a, b in zip(sorted(t), sorted(t)[1:])]
expected = 2 * loops
result(len(by) == 2 and abs(len(recs) - expected) <= 0.1 * expected + 2 and (not gaps or min(gaps) >= 10_000),
       f"soak/hits: {len(recs)} hits for {len(by)} entries in {loops:.0f} loops (expected ~{expected:.0f}: one per person per loop), "
       f"shortest gap between two hits of one entry {min(gaps) / 1000 if gaps else 0:.1f} s (cooldown 10 s)")
result(alive == "1" and rc == "0", f"soak/exit: the agent ran the whole time and exited {rc} on SIGTERM")
if plot and rows:
    from PIL import Image, ImageDraw
    W, H, L, R, T, B = 900, 420, 70, 70, 40, 50
    img = Image.new("RGB", (W, H), "white"); d = ImageDraw.Draw(img)
    t1 = max(r[0] for r in rows) or 1
    rs = [r[1] / 1024 for r in rows]; lo, hi = min(rs) - 2, max(rs) + 2
    fmin, fmaxp = min(r[2] for r in rows) - 2, max(r[2] for r in rows) + 2
    X = lambda t: L + (W - L - R) * t / t1
    Y = lambda v, a, b: H - B - (H - T - B) * (v - a) / (b - a)
    d.rectangle([L, T, W - R, H - B], outline="black")
    xw = X(warm); d.line([xw, T, xw, H - B], fill=(180, 180, 180))
    d.text((xw + 4, T + 4), "warm-up ends", fill=(120, 120, 120))
    d.line([(X(r[0]), Y(r[1] / 1024, lo, hi)) for r in rows], fill=(200, 30, 30), width=2)
    d.line([(X(r[0]), Y(r[2], fmin, fmaxp)) for r in rows], fill=(30, 30, 200), width=2)
    for k in range(5):
        v = lo + (hi - lo) * k / 4; d.text((5, Y(v, lo, hi) - 6), f"{v:.0f} MiB", fill=(200, 30, 30))
        f = fmin + (fmaxp - fmin) * k / 4; d.text((W - R + 5, Y(f, fmin, fmaxp) - 6), f"{f:.0f} fds", fill=(30, 30, 200))
    for k in range(7):
        t = t1 * k / 6; d.text((X(t) - 10, H - B + 8), f"{t / 60:.0f} min" if t1 >= 600 else f"{t / 60:.1f} min", fill="black")
    d.text((L, 12), f"vigil run on a looping clip: resident memory (red) and open fds (blue), sampled every 10 s; {len(recs)} hits", fill="black")
    img.save(plot)
    print(f"soak: plot written to {plot}")
print(f"{npass} passed, {nfail} failed")
sys.exit(0 if ok else 1)
EOF
