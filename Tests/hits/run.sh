#!/bin/bash
# Tests/hits/run.sh - hit upload against a real nginx over HTTPS with client certificates.
#
#   bash Tests/hits/run.sh [--bin DIR] [--keep] [--verbose]
#
#   --bin DIR   directory holding the release `vigil` binary (default $REPO/.build/release)
#   --keep      keep the temporary directory (certificates, nginx logs, outboxes) for inspection
#   --verbose   print every command's output
#
# Generates a test CA, a server certificate for 127.0.0.1 and a client certificate with openssl;
# starts Debian's nginx on a free 127.0.0.1 port (ssl_verify_client on, WebDAV PUT into a temp
# directory; under /flaky/ a map on $request_id answers ~1.6 % of requests 503 + Retry-After: 1 and
# ~0.8 % 500; /denied/ answers 403). faultproxy.py drops, truncates, delays and refuses TCP
# connections. Records come from `vigil hits seal-test`; the SHA-256 of every sealed file is
# recorded before any uploader runs, and every scenario ends by comparing the server's files
# (name = id) with those: none lost, none extra, all byte-identical, and `vigil hits open`
# verifies and decrypts them with the agency key. Scenarios: happy path, 1,000 records through
# faults, >= 200 kill -9 runs, offline and back (SIGTERM), disk full while sealing (tmpfs),
# refusals (403, no client certificate, http://), egress (strace: every connect() goes to the
# test server). Prints PASS/FAIL lines and ends with "N passed, M failed"; exit 0 iff no FAIL.
{
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=$REPO/.build/release
KEEP=0
VERBOSE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --verbose) VERBOSE=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$BIN" in /*) ;; *) BIN=$REPO/$BIN ;; esac
VIGIL=$BIN/vigil
PY=${PYTHON:-python3}
FAULT_RECORDS=${VIGIL_HITS_FAULT_RECORDS:-1000}
CRASH_RUNS=${VIGIL_HITS_CRASH_RUNS:-200}
CROP=2000   # synthetic crop bytes per record: records of ~2.3 KB

PASSED=0 FAILED=0
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
bail() { fail "$*"; echo "$PASSED passed, $FAILED failed"; exit 1; }

[ -x "$VIGIL" ] || bail "hits/setup: $VIGIL missing (make build-release, or --bin DIR)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || bail "hits/setup: nginx not installed (apt-get install nginx)"
"$NGINX" -V 2>&1 | grep -q http_dav_module || bail "hits/setup: this nginx lacks the WebDAV module (nginx -V)"
command -v openssl >/dev/null || bail "hits/setup: openssl not installed"

T=$(mktemp -d /tmp/vigil-hits-XXXXXX)
PROXY_PID="" PROXY2_PID="" DAEMON_PID="" TINY=""
cleanup() {
  for p in $PROXY_PID $PROXY2_PID $DAEMON_PID; do kill "$p" 2>/dev/null; done
  [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
  [ -n "$TINY" ] && umount "$TINY" 2>/dev/null
  sleep 0.2
  if [ $KEEP = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- PKI: a test CA, the server (IP SAN 127.0.0.1), a client -----------------------------------
P=$T/pki; mkdir -p "$P"
ossl() { openssl "$@" >>"$T/openssl.log" 2>&1 || bail "hits/setup: openssl $1 failed (see $T/openssl.log)"; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" \
  -subj "/CN=Vigil hits test CA" -days 2 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
make_leaf() { # name cn extensions
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$2"
  printf '%b' "$3" >"$P/$1.ext"
  ossl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -out "$P/$1.crt" -days 2 -extfile "$P/$1.ext"
}
make_leaf server 127.0.0.1 "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
make_leaf client device-0001 "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"
chmod 600 "$P"/*.key

# ---- nginx: WebDAV PUT under /hits/ --------------------------------------------------------------
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
WWW=$T/www; HITS=$WWW/hits; mkdir -p "$HITS" "$T/tmp" "$T/logs"
USER_LINE=""; [ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat >"$T/nginx.conf" <<CONF
$USER_LINE
daemon on;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/logs/error.log warn;
events { worker_connections 256; }
http {
  log_format hits '\$status \$request_method \$uri \$request_length';
  access_log $T/logs/access.log hits;
  client_body_temp_path $T/tmp/body; proxy_temp_path $T/tmp/proxy; fastcgi_temp_path $T/tmp/fastcgi;
  uwsgi_temp_path $T/tmp/uwsgi; scgi_temp_path $T/tmp/scgi;
  # a connection carries at most 5 requests: the proxy's per-connection faults hit often
  keepalive_requests 5;
  map \$request_id \$fault { ~^0[0-3] 503; ~^0[45] 500; default 0; }
  map \$request_id \$retry_after { ~^0[0-3] 1; default ""; }
  server {
    listen 127.0.0.1:$PORT ssl;
    ssl_certificate $P/server.crt;
    ssl_certificate_key $P/server.key;
    ssl_client_certificate $P/ca.crt;
    ssl_verify_client on;
    root $WWW;
    location /hits/ {
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 1m;
    }
    location /flaky/hits/ {
      alias $HITS/;
      dav_methods PUT;
      client_max_body_size 1m;
      add_header Retry-After \$retry_after always;
      if (\$fault = 503) { return 503; }
      if (\$fault = 500) { return 500; }
    }
    location /denied/ { return 403; }
  }
}
CONF
"$NGINX" -p "$T" -e "$T/logs/error.log" -c "$T/nginx.conf" >"$T/nginx.out" 2>&1 || bail "hits/setup: nginx did not start: $(tail -3 "$T/nginx.out" "$T/logs/error.log" 2>/dev/null | tr '\n' ' ')"
for _ in $(seq 50); do [ -s "$T/nginx.pid" ] && break; sleep 0.1; done
[ -s "$T/nginx.pid" ] || bail "hits/setup: nginx wrote no pid file"
pass "hits/setup: nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') on 127.0.0.1:$PORT (client certificates, WebDAV PUT)"

start_proxy() { # port-file rate [listen-port] → pid in $!
  "$PY" "$HERE/faultproxy.py" --target "$PORT" --rate "$2" --seed "${3:-7}" --listen "${4:-0}" --port-file "$1" --stats "$1.stats" &
}
wait_file() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
start_proxy "$T/proxy.port" 0.3 7
PROXY_PID=$!
wait_file "$T/proxy.port" || bail "hits/setup: fault proxy did not start"
PROXY_PORT=$(cat "$T/proxy.port")

# ---- keys, configs, helpers --------------------------------------------------------------------
run() { # run CMD...: output into $OUT, status into $RC
  OUT=$("$@" 2>&1); RC=$?
  [ $VERBOSE = 1 ] && printf '  $ %s\n%s\n' "$*" "$OUT" | sed 's/^/  /'
  return 0
}
run "$VIGIL" keys generate --role device --out "$T/devkeys"; [ $RC = 0 ] || bail "hits/setup: keys generate device: $OUT"
run "$VIGIL" keys generate --role agency --out "$T/keys"; [ $RC = 0 ] || bail "hits/setup: keys generate agency: $OUT"
seal() { # outbox count: seals synthetic records
  run "$VIGIL" hits seal-test --count "$2" --outbox "$1" --crop $CROP --device-key "$T/devkeys/device.key" --agency-pub "$T/keys/agency.pub"
}
write_config() { # file outbox [key = value...]
  local f=$1; shift; local ob=$1; shift
  { echo "# generated by Tests/hits/run.sh"
    echo "server = https://127.0.0.1:$PORT"
    echo "ca = $P/ca.crt"
    echo "client_cert = $P/client.crt"
    echo "client_key = $P/client.key"
    echo "outbox = $ob"
    echo "backoff = 0.05"
    echo "max_backoff = 2"
    echo "retries = 5"
    echo "timeout = 5"
  } >"$f"
  local l
  for l in "$@"; do sed -i "/^${l%% *} = /d" "$f"; echo "$l" >>"$f"; done
}
upload_once() { UPLOADS=$((UPLOADS + 1)); run "$VIGIL" hits upload --once --config "$1" --audit-dir "$T/audit"; }
UPLOADS=0
# snapshot OUTBOX: appends "<id> <sha256>" of every sealed record not yet recorded to $SEALED
snapshot() {
  local f n id
  for f in "$1"/*.hit; do
    [ -e "$f" ] || continue
    n=${f##*/}; id=${n#*-}; id=${id%.hit}
    grep -q "^$id " "$SEALED" 2>/dev/null && continue
    echo "$id $(sha256sum <"$f" | cut -c1-64)" >>"$SEALED"
  done
}
# server_matches: the server's files are exactly the sealed records (names = ids, same bytes)
server_matches() {
  (cd "$HITS" && for f in *; do [ -f "$f" ] && echo "$f $(sha256sum <"$f" | cut -c1-64)"; done) | sort >"$T/server.lst"
  sort -u "$SEALED" >"$T/sealed.lst"
  MISSING=$(comm -23 "$T/sealed.lst" "$T/server.lst" | wc -l)
  EXTRA=$(comm -13 "$T/sealed.lst" "$T/server.lst" | wc -l)
  NSEALED=$(wc -l <"$T/sealed.lst"); NSERVER=$(wc -l <"$T/server.lst")
  [ "$MISSING" = 0 ] && [ "$EXTRA" = 0 ]
}
open_all() { # vigil hits open on every server file: verifies signatures, decrypts
  run "$VIGIL" hits open --key "$T/keys/agency.key" --device-pub "$T/devkeys/device.pub" "$HITS"
  OPENED=$(grep -oE '^[0-9]+ opened, [0-9]+ refused' <<<"$OUT")
}
outbox_records() { find "$1" -maxdepth 1 -name '*.hit' | wc -l; }
outbox_temps() { find "$1" -maxdepth 1 -name '.tmp-*' | wc -l; }
reset_server() { rm -f "$HITS"/* "$HITS"/.[!.]* 2>/dev/null; : >"$SEALED"; }
# check NAME OUTBOX: server == sealed, outbox empty, no temp files, every record opens
check() {
  local name=$1 ob=$2
  if ! server_matches; then
    fail "$name: server holds $NSERVER files for $NSEALED sealed records ($MISSING missing or different, $EXTRA extra or different)"
  elif [ "$(outbox_records "$ob")" != 0 ] || [ "$(outbox_temps "$ob")" != 0 ]; then
    fail "$name: outbox not empty: $(ls -A "$ob" | head -5 | tr '\n' ' ')"
  else
    open_all
    if [ $RC = 0 ] && [ "$OPENED" = "$NSEALED opened, 0 refused" ]; then
      pass "$name: server holds each of the $NSEALED sealed records exactly once, byte-identical; outbox empty; hits open: $OPENED"
    else
      fail "$name: vigil hits open on the server's files: exit $RC, '$OPENED' ($(tail -2 <<<"$OUT" | tr '\n' ' '))"
    fi
  fi
}
SEALED=$T/sealed.txt; : >"$SEALED"
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# ---- 1. happy path: 50 records ---------------------------------------------------------------
OB=$T/ob-happy
seal "$OB" 50; [ $RC = 0 ] || bail "hits/setup: seal-test: $OUT"
snapshot "$OB"
write_config "$T/happy.conf" "$OB"
upload_once "$T/happy.conf"
if [ $RC = 0 ] && grep -q "uploaded 50 records .*outbox empty" <<<"$OUT"; then
  pass "hits/upload 50: $(tail -1 <<<"$OUT")"
else
  fail "hits/upload 50: exit $RC: $OUT"
fi
check "hits/upload 50" "$OB"
n201=$(grep -c '^201 PUT /hits/' "$T/logs/access.log")
[ "$n201" = 50 ] && pass "hits/upload 50: nginx answered 201 Created 50 times" || fail "hits/upload 50: $n201 x 201 in the access log"
upload_once "$T/happy.conf"
[ $RC = 0 ] && grep -q "uploaded 0 records" <<<"$OUT" && pass "hits/empty outbox: --once exits 0 at once ($OUT)" || fail "hits/empty outbox: exit $RC: $OUT"

# ---- 2. records through faults: drops, truncation, delays, refusals, 500/503 + Retry-After --------
reset_server
OB=$T/ob-faults
write_config "$T/faults.conf" "$OB" "retries = 200" "max_backoff = 1" "timeout = 5"
sed -i "s|^server = .*|server = https://127.0.0.1:$PROXY_PORT/flaky|" "$T/faults.conf"
t0=$EPOCHREALTIME
left=$FAULT_RECORDS ok=1 retried=0
while [ $left -gt 0 ]; do
  n=$(( left < 250 ? left : 250 ))
  seal "$OB" $n; [ $RC = 0 ] || { fail "hits/faults: seal-test: $OUT"; ok=0; break; }
  snapshot "$OB"
  upload_once "$T/faults.conf"
  if [ $RC != 0 ]; then fail "hits/faults: upload exit $RC: $(tail -3 <<<"$OUT")"; ok=0; break; fi
  r=$(grep -oE '[0-9]+ failed attempts? retried' <<<"$OUT" | grep -oE '^[0-9]+'); retried=$((retried + ${r:-0}))
  left=$((left - n))
done
secs=$(elapsed "$t0")
if [ $ok = 1 ]; then
  n503=$(grep -c '^503 PUT /flaky/' "$T/logs/access.log") n500=$(grep -c '^500 PUT /flaky/' "$T/logs/access.log")
  n204=$(grep -c '^204 PUT /flaky/' "$T/logs/access.log")
  stats=$(cat "$T/proxy.port.stats" 2>/dev/null)
  pass "hits/faults: $FAULT_RECORDS records in $secs s; $retried failed attempts retried; nginx: $n503 x 503 (Retry-After 1), $n500 x 500, $n204 x 204 (re-sent after a lost answer); proxy: $stats"
  grep -q "server unreachable" <<<"$OUT" && grep -q "reachable again" <<<"$OUT" && pass "hits/faults: offline/online logged" || true
fi
check "hits/faults" "$OB"

# ---- 3. crashes: kill -9 at random points while sealing and while uploading --------------------
reset_server
OB=$T/ob-crash
write_config "$T/crash.conf" "$OB" "retries = 200" "max_backoff = 0.5"
sed -i "s|^server = .*|server = https://127.0.0.1:$PROXY_PORT/flaky|" "$T/crash.conf"
seal "$OB" 5; snapshot "$OB"
t0=$EPOCHREALTIME
kills_seal=0 kills_up=0 early=0
RANDOM=4242
for i in $(seq "$CRASH_RUNS"); do
  if [ $((i % 2)) = 0 ]; then
    "$VIGIL" hits seal-test --count $((1 + RANDOM % 20)) --outbox "$OB" --crop $CROP --device-key "$T/devkeys/device.key" --agency-pub "$T/keys/agency.pub" >/dev/null 2>&1 &
    pid=$!
    sleep "0.$(printf '%03d' $((RANDOM % 150)))"
    if kill -9 $pid 2>/dev/null; then kills_seal=$((kills_seal + 1)); else early=$((early + 1)); fi
    wait $pid 2>/dev/null
    snapshot "$OB"
  fi
  "$VIGIL" hits upload --config "$T/crash.conf" >/dev/null 2>>"$T/crash.log" &
  pid=$!
  sleep "0.$(printf '%03d' $((RANDOM % 300)))"
  if kill -9 $pid 2>/dev/null; then kills_up=$((kills_up + 1)); else early=$((early + 1)); fi
  wait $pid 2>/dev/null
done
upload_once "$T/crash.conf"
secs=$(elapsed "$t0")
n204=$(grep -c '^204 PUT /flaky/' "$T/logs/access.log")
if [ $RC = 0 ]; then
  pass "hits/crashes: $CRASH_RUNS runs in $secs s: $kills_seal seal-test and $kills_up uploaders killed with -9 ($early finished first); final upload: $(tail -1 <<<"$OUT"); $n204 re-sent records answered 204"
else
  fail "hits/crashes: final upload --once exit $RC: $(tail -3 <<<"$OUT")"
fi
check "hits/crashes" "$OB"
[ "$(outbox_temps "$OB")" = 0 ] && pass "hits/crashes: no temp files left in the outbox" \
  || fail "hits/crashes: temp files left: $(ls -A "$OB" | grep tmp | head -3)"

# ---- 4. offline, back, and SIGTERM --------------------------------------------------------------
reset_server
OB=$T/ob-offline
P2=$(free_port)
write_config "$T/offline.conf" "$OB" "max_backoff = 0.3"
sed -i "s|^server = .*|server = https://127.0.0.1:$P2|" "$T/offline.conf"
seal "$OB" 20; snapshot "$OB"
"$VIGIL" hits upload --config "$T/offline.conf" >"$T/offline.out" 2>"$T/offline.err" &
DAEMON_PID=$!
sleep 3     # nothing listens on $P2: offline
start_proxy "$T/proxy2.port" 0 1 "$P2"; PROXY2_PID=$!
for _ in $(seq 100); do [ "$(outbox_records "$OB")" = 0 ] && break; sleep 0.1; done
seal "$OB" 5; snapshot "$OB"   # seal-test while the uploader runs (the outbox is polled every second)
for _ in $(seq 50); do [ "$(outbox_records "$OB")" = 0 ] && break; sleep 0.1; done
kill -TERM $DAEMON_PID; wait $DAEMON_PID; drc=$?; DAEMON_PID=""
kill $PROXY2_PID; PROXY2_PID=""
nun=$(grep -c "server unreachable" "$T/offline.err") nback=$(grep -c "reachable again" "$T/offline.err")
if [ $drc = 0 ] && [ "$nun" = 1 ] && [ "$nback" = 1 ] && [ "$(wc -l <"$T/offline.err")" = 2 ] && grep -q "stopped by signal" "$T/offline.out"; then
  pass "hits/offline: 3 s offline → exactly one line going offline and one coming back; SIGTERM → exit 0: $(cat "$T/offline.out")"
else
  fail "hits/offline: exit $drc, $nun offline lines, $nback back lines: $(head -c 600 "$T/offline.err") | $(cat "$T/offline.out")"
fi
check "hits/offline" "$OB"

# ---- 5. disk full while sealing ----------------------------------------------------------------
reset_server
TINY=$T/tiny; mkdir -p "$TINY"
if mount -t tmpfs -o size=64k tmpfs "$TINY" 2>"$T/mount.err"; then
  OB=$TINY/outbox
  seal "$OB" 100
  kept=$(outbox_records "$OB")
  if [ $RC != 0 ] && grep -qiE "no space|full" <<<"$OUT" && [ "$kept" -gt 0 ]; then
    pass "hits/disk full: seal-test stopped after $kept records (exit $RC): $(grep -iE "no space|full" <<<"$OUT" | head -1)"
  else
    fail "hits/disk full: exit $RC with $kept records: $(tail -2 <<<"$OUT")"
  fi
  snapshot "$OB"
  write_config "$T/tiny.conf" "$OB"
  upload_once "$T/tiny.conf"
  [ $RC = 0 ] && pass "hits/disk full: the $kept records sealed before the disk filled upload: $(tail -1 <<<"$OUT")" || fail "hits/disk full: upload exit $RC: $OUT"
  check "hits/disk full" "$OB"
  seal "$OB" 3
  [ $RC = 0 ] && pass "hits/disk full: sealing works again once the outbox drained" || fail "hits/disk full: sealing after drain: $OUT"
  umount "$TINY"; TINY=""
else
  fail "hits/disk full: cannot mount a 64 KiB tmpfs: $(cat "$T/mount.err")"
fi

# ---- 6. refusals: records kept ------------------------------------------------------------------
OB=$T/ob-refused
seal "$OB" 3
write_config "$T/denied.conf" "$OB"
sed -i "s|^server = .*|server = https://127.0.0.1:$PORT/denied|" "$T/denied.conf"
upload_once "$T/denied.conf"
if [ $RC != 0 ] && grep -q "HTTP 403; record kept in the outbox" <<<"$OUT" && [ "$(outbox_records "$OB")" = 3 ]; then
  pass "hits/403: $(tail -1 <<<"$OUT" | cut -c1-200); 3 records kept"
else
  fail "hits/403: exit $RC, $(outbox_records "$OB") records left: $OUT"
fi
grep -v '^client_' "$T/denied.conf" | sed "s|/denied||" >"$T/nocert.conf"
upload_once "$T/nocert.conf"
if [ $RC != 0 ] && grep -q "server refused the client certificate: HTTP 400.*No required SSL certificate" <<<"$OUT" && [ "$(outbox_records "$OB")" = 3 ]; then
  pass "hits/no client certificate: $(tail -1 <<<"$OUT" | cut -c1-160)"
else
  fail "hits/no client certificate: exit $RC: $OUT"
fi
sed "s|^server = https|server = http|" "$T/nocert.conf" >"$T/http.conf"
upload_once "$T/http.conf"
[ $RC != 0 ] && grep -q "server must be an https:// URL" <<<"$OUT" && pass "hits/plain http refused" || fail "hits/plain http: exit $RC: $OUT"

# ---- 7. egress: every connect() of the uploader and of the sync client goes to the test server --
if command -v strace >/dev/null; then
  reset_server
  OB=$T/ob-egress
  seal "$OB" 10; snapshot "$OB"
  write_config "$T/egress.conf" "$OB"
  egress() { # name cmd...: runs under strace; every AF_INET/AF_INET6/AF_UNIX connect must be the server
    local name=$1; shift
    strace -f -qq -e trace=connect -e signal=none -o "$T/strace.$name" "$@" >"$T/egress.$name.out" 2>&1
    local rc=$? all other
    all=$(grep -c 'connect(' "$T/strace.$name")
    other=$(grep 'connect(' "$T/strace.$name" | grep -v "sa_family=AF_INET, sin_port=htons($PORT), sin_addr=inet_addr(\"127.0.0.1\")")
    if [ "$all" -gt 0 ] && [ -z "$other" ]; then
      pass "hits/egress $name: all $all connect() calls went to 127.0.0.1:$PORT (exit $rc)"
    else
      fail "hits/egress $name: $all connect() calls, others: $(head -3 <<<"$other")"
    fi
  }
  egress upload "$VIGIL" hits upload --once --config "$T/egress.conf"
  server_matches && pass "hits/egress upload: the 10 records arrived" || fail "hits/egress upload: $MISSING missing"
  EMBEDDER=$REPO/models/dlib_resnet_int8.onnx
  if [ -f "$EMBEDDER" ]; then
    run "$VIGIL" keys generate --role authority --out "$T/authkeys"
    { echo "server = https://127.0.0.1:$PORT"; echo "ca = $P/ca.crt"; echo "client_cert = $P/client.crt"; echo "client_key = $P/client.key"
      echo "store = $T/store"; echo "authority_key = $T/authkeys/authority.pub"; echo "embedder = $EMBEDDER"; echo "retries = 0"; } >"$T/sync.conf"
    # nothing is published: the sync fails with 404 after its connection, which is all this checks
    egress "watchlist-sync" "$VIGIL" watchlist sync --config "$T/sync.conf"
  else
    echo "note: $EMBEDDER missing (make models): watchlist sync egress not checked"
  fi
else
  fail "hits/egress: strace not installed (scripts/apt-packages.txt)"
fi

# every `upload --once` above left one upload.result in the audit log (counts only), chain intact
n_up=$(grep -c '"event":"upload.result"' "$T/audit/audit.log" 2>/dev/null || echo 0)
run "$VIGIL" audit verify "$T/audit"
if [ "$n_up" = "$UPLOADS" ] && [ "$UPLOADS" -gt 0 ] && [ $RC = 0 ] && ! grep -q '"entry\|crop' "$T/audit/audit.log"; then
  pass "hits/audit: $n_up upload.result records for $UPLOADS runs, counts only; $OUT"
else
  fail "hits/audit: $n_up upload.result for $UPLOADS runs; verify: $OUT"
fi

grep -qiE 'BEGIN (EC )?PRIVATE KEY' <<<"$(cat "$T"/logs/*.log "$T"/*.err 2>/dev/null)" && fail "hits/secrets: key material in logs" || true
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
exit
}
