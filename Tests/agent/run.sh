#!/bin/bash
# Tests/agent/run.sh - the agent end to end on this machine: `vigil run` on a clip of real photos,
# syncing its watchlist from and uploading its hits to a real nginx over HTTPS (client certificates).
#
#   bash Tests/agent/run.sh [--bin DIR] [--keep]
#
# One identity is enrolled (obama.jpg, from the PyPI photos of `make setup`), the clip shows other
# photos of him and of someone not enrolled (biden.jpg). Checks: the list arrives by sync and is
# used at once; exactly one hit (one per entry per track and cooldown, not one per frame) for the
# enrolled person and none for the other; the hit is uploaded and opens with the agency key; the
# outbox ends empty; the audit chain verifies and holds agent.start/stop, sync, install, hit and
# upload records; no frame and no embedding of the non-matching face is on disk; SIGTERM → exit 0
# within 5 s; a missing camera is reported and does not stop the agent; `vigil report` counts.
# Prints PASS/FAIL lines and "N passed, M failed"; exit 0 iff no FAIL.
{
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=$REPO/.build/release
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$BIN" in /*) ;; *) BIN=$REPO/$BIN ;; esac
V=$BIN/vigil
PY=${PYTHON:-$REPO/.venv/bin/python}
[ -x "$PY" ] || PY=python3
MODELS=$REPO/models
PHOTOS=$REPO/.cache/photos
PASSED=0 FAILED=0
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
bail() { fail "$*"; echo "$PASSED passed, $FAILED failed"; exit 1; }
[ -x "$V" ] || bail "agent/setup: $V missing (swift build -c release)"
for f in obama.jpg obama2.jpg obama3.jpg biden.jpg; do [ -f "$PHOTOS/$f" ] || bail "agent/setup: $PHOTOS/$f missing (make setup)"; done
[ -f "$MODELS/dlib_resnet_int8.onnx" ] || bail "agent/setup: models missing (make models)"

T=$(mktemp -d /tmp/vigil-agent-XXXXXX)
cleanup() {
  [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null  # agency_stop, before it is sourced
  if [ $KEEP = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# ---- PKI and nginx: the agency's server (static watchlist files + WebDAV PUT for hits) ----------
. "$REPO/scripts/lib/agency.sh"
P=$T/pki
agency_pki "$P" || bail "agent/setup: PKI"
PORT=$(agency_free_port)
WWW=$T/www
agency_nginx "$T" "$WWW" "$PORT" "$P" || bail "agent/setup: nginx"

# ---- the agency: keys, a list with one enrolled person, published --------------------------------
cd "$T"
for r in authority agency device; do "$V" keys generate --role $r --out keys >/dev/null || bail "agent/setup: keys"; done
mkdir -p subjects/person-a
cp "$PHOTOS/obama.jpg" subjects/person-a/
"$V" watchlist build --subjects subjects --legal-basis "test case 1" --key keys/authority.key --version 1 \
  --expires "$(date -u -d '+30 days' +%F)" --out list.vwl --models "$MODELS" >build.log 2>&1 || bail "agent/setup: watchlist build: $(tail -2 build.log)"
"$V" watchlist publish list.vwl --key keys/authority.key --out "$WWW" >/dev/null 2>&1 || bail "agent/setup: publish"
ENTRY=$(awk -F, 'NR == 2 { print $1 }' list.vwl.entries.csv)
modes="$(stat -c %a list.vwl) $(stat -c %a list.vwl.entries.csv) $(stat -c %a "$WWW/manifest")"
[ "$modes" = "600 600 640" ] && pass "agent/modes: bundle 600, entry map 600, published manifest 640 (embeddings and legal bases are not world-readable)" \
  || fail "agent/modes: bundle, entry map, manifest are $modes (want 600 600 640)"

# ---- the device: a clip (not enrolled first, then the enrolled person in two photos) --------------
mkdir -p clip
n=0
for f in biden biden biden biden biden biden obama2 obama2 obama2 obama2 obama3 obama3 obama3 obama3; do
  n=$((n + 1)); cp "$PHOTOS/$f.jpg" "clip/$(printf %03d $n).jpg"
done
"$V" config init --board generic --out vigil.toml >/dev/null || bail "agent/setup: config init"
"$V" config set vigil.toml "device.data_dir=$T/data" "storage.audit_dir=$T/data/audit" \
  "models.detector=$MODELS/blazeface_full_int8.onnx" "models.embedder=$MODELS/dlib_resnet_int8.onnx" \
  "keys.authority_public=$T/keys/authority.pub" "keys.agency_public=$T/keys/agency.pub" "keys.device_signing=$T/keys/device.key" \
  "camera.0.device=$T/clip" camera.0.fps=2 leds.status=-1 leds.fault=-1 leds.hit=-1 console.tty= \
  "sync.url=https://127.0.0.1:$PORT" "sync.ca=$P/ca.crt" "sync.client_cert=$P/client.crt" "sync.client_key=$P/client.key" \
  "upload.url=https://127.0.0.1:$PORT" "upload.ca=$P/ca.crt" "upload.client_cert=$P/client.crt" "upload.client_key=$P/client.key" \
  >/dev/null || bail "agent/setup: config set"

# ---- 1. the clip: sync, match, seal, upload ------------------------------------------------------
start=$(date +%s.%N)
timeout 120 "$V" run --config vigil.toml --until-clips-end >run1.out 2>&1; rc=$?
end=$(date +%s.%N)
secs=$("$PY" -c "print(round($end - $start, 1))")
[ $rc = 0 ] && pass "agent/run: vigil run on a 14-frame clip exited 0 after ${secs} s ($(tail -1 run1.out))" || fail "agent/run: exit $rc: $(tail -5 run1.out)"
"$V" hits open --key keys/agency.key --device-pub keys/device.pub "$WWW/hits" >open.out 2>&1
opened=$(grep -oE '^[0-9]+ opened, [0-9]+ refused' open.out)
if [ "$opened" = "1 opened, 0 refused" ] && grep -q "$ENTRY" open.out; then
  pass "agent/hits: exactly one hit, for the enrolled person's entry $ENTRY, uploaded and opened by the agency"
else fail "agent/hits: '$opened' (want 1 opened for $ENTRY): $(cat open.out | head -5)"; fi
[ -z "$(ls -A data/outbox 2>/dev/null | grep '\.hit$')" ] && pass "agent/outbox: empty after the upload" || fail "agent/outbox: $(ls data/outbox)"
v=$("$V" audit verify data/audit 2>&1); vrc=$?
ev=$(grep -o '"event":"[a-z._]*"' data/audit/audit*.log | sed 's/.*"event":"//; s/"//' | sort -u | tr '\n' ' ')
want="agent.start agent.stop hit sync.result upload.result watchlist.install"
missing=""; for e in $want; do case " $ev " in *" $e "*) ;; *) missing="$missing $e" ;; esac; done
[ $vrc = 0 ] && [ -z "$missing" ] && pass "agent/audit: $v; events: $ev" || fail "agent/audit: $v; missing:$missing"
if grep -q '"event":"hit","data":{"id":"[0-9a-f-]*"}' data/audit/audit.log && ! grep -q "$ENTRY" data/audit/audit.log; then
  pass "agent/audit-hit-id-only: the audit names the hit by record id, never the entry"
else fail "agent/audit-hit-id-only: $(grep '"event":"hit"' data/audit/audit.log)"; fi
rep=$("$V" report --config vigil.toml 2>&1)
echo "$rep" | grep -qE '^total +[0-9]+ +[0-9]+ +[0-9]+ +1 ' && pass "agent/report: $(echo "$rep" | tail -1 | tr -s ' ')" || fail "agent/report: $rep"

# ---- 1b. the agency's nginx (scripts/lib/agency.sh) is as strict as docs/HITS-SERVER.md ----------
# a fleet certificate may PUT /hits/<uuid> and nothing else: no GET of a record, no listing, no
# other name, no sub-directory; and the workers do not run as root
rec=$(ls "$WWW/hits" | head -1)
code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" "$@"; }
get=$(code "https://127.0.0.1:$PORT/hits/$rec"); list=$(code "https://127.0.0.1:$PORT/hits/")
other=$(code -T /etc/hostname "https://127.0.0.1:$PORT/hits/notes.txt"); sub=$(code -T /etc/hostname "https://127.0.0.1:$PORT/hits/a/$rec")
workers=$(ps -o user= --ppid "$(cat "$T/nginx.pid")" | sort -u | tr '\n' ' ')
if [ -n "$rec" ] && [ "$get" = 403 ] && [ "$list" = 404 ] && [ "$other" = 404 ] && [ "$sub" = 404 ] && [ ! -e "$WWW/hits/notes.txt" ] \
   && { [ "$(id -u)" != 0 ] || [ "$workers" = "nobody " ]; }; then
  pass "agent/nginx-strict: GET of a record $get, listing $list, PUT of another name $other, into a sub-directory $sub; workers: $workers"
else fail "agent/nginx-strict: GET $get, listing $list, other name $other, sub-directory $sub, workers '$workers' (want 403 404 404 404, not root)"; fi

# ---- 2. privacy: no frame, no embedding of the face that matched nothing, on disk ---------------
"$V" embed "$PHOTOS/biden.jpg" --json --models "$MODELS" >biden.json 2>/dev/null
found=$("$PY" "$HERE/scan.py" "$T/data" biden.json)
mkdir -p control; control=$("$PY" "$HERE/scan.py" control biden.json --write-control | wc -l)
[ "$control" = 3 ] || fail "agent/privacy-scan-control: the scan found $control of 3 planted needles"
[ -z "$found" ] && pass "agent/privacy: no frame and no embedding of the non-matching face in the data directory ($(find data -type f | wc -l) files scanned)" \
  || fail "agent/privacy: $found"

# ---- 3. SIGTERM: stop capture, finish the frame, flush, exit 0 within 5 s -----------------------
"$V" run --config vigil.toml --loop-clips >run2.out 2>&1 &
pid=$!
sleep 8
t0=$(date +%s.%N); kill -TERM $pid; wait $pid; rc=$?; t1=$(date +%s.%N)
took=$("$PY" -c "print(round($t1 - $t0, 2))")
if [ $rc = 0 ] && "$PY" -c "import sys; sys.exit(0 if $took <= 5 else 1)"; then pass "agent/sigterm: exit 0 in ${took} s"
else fail "agent/sigterm: exit $rc after ${took} s: $(tail -3 run2.out)"; fi

# ---- 4. a missing camera: reported, retried, never a crash loop ---------------------------------
cp vigil.toml missing.toml
"$V" config set missing.toml camera.0.device=/dev/video99 >/dev/null
"$V" run --config missing.toml >run3.out 2>&1 &
pid=$!
sleep 6
alive=0; kill -0 $pid 2>/dev/null && alive=1
kill -TERM $pid; wait $pid; rc=$?
if [ $alive = 1 ] && [ $rc = 0 ] && grep -q "health degraded\|running" run3.out; then
  pass "agent/missing-camera: kept running with /dev/video99 missing (health degraded), exit 0 on SIGTERM"
else fail "agent/missing-camera: alive=$alive rc=$rc: $(tail -3 run3.out)"; fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
exit
}
