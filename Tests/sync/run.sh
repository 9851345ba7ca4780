#!/bin/bash
# Tests/sync/run.sh - watchlist sync against a real nginx over HTTPS with client certificates.
#
#   bash Tests/sync/run.sh [--bin DIR] [--keep] [--verbose]
#
#   --bin DIR   directory holding the release `vigil` binary (default $REPO/.build/release)
#   --keep      keep the temporary directory (certificates, nginx logs, stores) for inspection
#   --verbose   print every command's output
#
# Generates a test CA, a server certificate for 127.0.0.1 and client certificates with openssl;
# starts Debian's nginx as the current user on a free 127.0.0.1 port (ssl_verify_client on, static
# files with Range support, 500/503 while a flag file exists); a small Python proxy
# (cutproxy.py) cuts a download in the middle. Bundles come from `vigil watchlist build` (two PyPI
# photos) and from fixture.py (synthetic bundles, including defective ones). Every scenario
# checks `vigil watchlist status` afterwards: a refusal must name its reason and leave the active
# list unchanged. Prints PASS/FAIL lines and ends with "N passed, M failed"; exit 0 iff no FAIL.
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
MODELS=$REPO/models
EMBEDDER=$MODELS/dlib_resnet_int8.onnx
PHOTOS=$REPO/.cache/photos

PASSED=0 FAILED=0
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
bail() { fail "$*"; echo "$PASSED passed, $FAILED failed"; exit 1; }

[ -x "$VIGIL" ] || bail "sync/setup: $VIGIL missing (make build-release, or --bin DIR)"
command -v nginx >/dev/null || command -v /usr/sbin/nginx >/dev/null || bail "sync/setup: nginx not installed (apt-get install nginx)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v openssl >/dev/null || bail "sync/setup: openssl not installed"
[ -f "$EMBEDDER" ] || bail "sync/setup: $EMBEDDER missing (make models)"

T=$(mktemp -d /tmp/vigil-sync-XXXXXX)
NGINX_PID="" PROXY_PID=""
cleanup() {
  [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null
  [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
  sleep 0.2
  mountpoint -q "$STORE/staging" 2>/dev/null && umount "$STORE/staging"
  if [ $KEEP = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- PKI: a test CA, the server (IP SAN 127.0.0.1), a client; a rogue CA and its client -------
P=$T/pki; mkdir -p "$P"
ossl() { openssl "$@" >>"$T/openssl.log" 2>&1 || bail "sync/setup: openssl $1 failed (see $T/openssl.log)"; }
make_ca() { # name
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/$1.key" -out "$P/$1.crt" \
    -subj "/CN=Vigil sync test $1" -days 2 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}
make_leaf() { # name ca cn extensions
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$3"
  printf '%b' "$4" >"$P/$1.ext"
  ossl x509 -req -in "$P/$1.csr" -CA "$P/$2.crt" -CAkey "$P/$2.key" -CAcreateserial -out "$P/$1.crt" -days 2 -extfile "$P/$1.ext"
}
make_ca ca
make_ca rogue-ca
make_leaf server ca 127.0.0.1 "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
make_leaf client ca device-0001 "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"
make_leaf rogue-client rogue-ca device-0001 "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"
chmod 600 "$P"/*.key

# ---- nginx -------------------------------------------------------------------------------------
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
WWW=$T/www; mkdir -p "$WWW" "$T/tmp" "$T/logs"
USER_LINE=""; [ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat >"$T/nginx.conf" <<CONF
$USER_LINE
daemon on;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/logs/error.log info;
events { worker_connections 64; }
http {
  log_format sync '\$status \$request_method \$uri range=\$http_range sent=\$body_bytes_sent';
  access_log $T/logs/access.log sync;
  client_body_temp_path $T/tmp/body; proxy_temp_path $T/tmp/proxy; fastcgi_temp_path $T/tmp/fastcgi;
  uwsgi_temp_path $T/tmp/uwsgi; scgi_temp_path $T/tmp/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$PORT ssl;
    ssl_certificate $P/server.crt;
    ssl_certificate_key $P/server.key;
    ssl_client_certificate $P/ca.crt;
    ssl_verify_client on;
    root $WWW;
    location / {
      if (-f $T/fail500) { return 500; }
      if (-f $T/fail503) { return 503; }
    }
  }
}
CONF
"$NGINX" -p "$T" -e "$T/logs/error.log" -c "$T/nginx.conf" >"$T/nginx.out" 2>&1 || bail "sync/setup: nginx did not start: $(tail -3 "$T/nginx.out" "$T/logs/error.log" 2>/dev/null | tr '\n' ' ')"
for _ in $(seq 50); do [ -s "$T/nginx.pid" ] && break; sleep 0.1; done
[ -s "$T/nginx.pid" ] || bail "sync/setup: nginx wrote no pid file"
pass "sync/setup: nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') on 127.0.0.1:$PORT with client certificates"

# the proxy: cuts the first connection once 30000 bytes came back from the server
"$PY" "$HERE/cutproxy.py" --target "$PORT" --cut-after 30000 --cuts 1 --port-file "$T/proxy.port" &
PROXY_PID=$!
for _ in $(seq 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
[ -s "$T/proxy.port" ] || bail "sync/setup: proxy did not start"
PROXY_PORT=$(cat "$T/proxy.port")

# ---- keys, store, configs ----------------------------------------------------------------------
run() { # run CMD...: output into $OUT, status into $RC
  OUT=$("$@" 2>&1); RC=$?
  [ $VERBOSE = 1 ] && printf '  $ %s\n%s\n' "$*" "$OUT" | sed 's/^/  /'
  return 0
}
run "$VIGIL" keys generate --role authority --out "$T/keys"
[ $RC = 0 ] || bail "sync/setup: vigil keys generate: $OUT"
KEY=$T/keys/authority.key PUB=$T/keys/authority.pub
STORE=$T/store
write_config() { # file [key = value...]: the defaults, each given key replaced
  local f=$1; shift
  { echo "# generated by Tests/sync/run.sh"
    echo "server = https://127.0.0.1:$PORT"
    echo "ca = $P/ca.crt"
    echo "client_cert = $P/client.crt"
    echo "client_key = $P/client.key"
    echo "store = $STORE"
    echo "authority_key = $PUB"
    echo "embedder = $EMBEDDER"
    echo "retries = 2"
    echo "backoff = 0.2"
    echo "timeout = 10"
  } >"$f"
  local l
  for l in "$@"; do sed -i "/^${l%% *} = /d" "$f"; echo "$l" >>"$f"; done
}
write_config "$T/sync.conf"
sync_with() { SYNCS=$((SYNCS + 1)); run "$VIGIL" watchlist sync --config "$1" --audit-dir "$T/audit"; }
SYNCS=0
status_version() { # prints the active version, or "none"
  local s; s=$("$VIGIL" watchlist status --store "$STORE" --pubkey "$PUB" --embedder "$EMBEDDER" 2>&1 | head -1)
  if [[ $s =~ ^watchlist\ v([0-9]+)\ active ]]; then echo "${BASH_REMATCH[1]}"; else echo "none ($s)"; fi
}
fixture() { "$PY" "$HERE/fixture.py" "$@" >>"$T/fixture.log" 2>&1 || bail "sync/setup: fixture.py $1 failed: $(tail -2 "$T/fixture.log")"; }
synth() { # version [fixture bundle options...] → $T/b<version>[...].vwl path in $B
  local v=$1; shift
  B=$T/bundles/b$v-$RANDOM.vwl; mkdir -p "$T/bundles"
  fixture bundle --version "$v" --key "$KEY" --embedder "$EMBEDDER" --out "$B" "$@"
}
publish() { run "$VIGIL" watchlist publish "$1" --key "$KEY" --out "$WWW"; [ $RC = 0 ] || bail "sync/setup: publish $1: $OUT"; }
access_count() { grep -c "$1" "$T/logs/access.log" 2>/dev/null || true; }

# expect NAME WANT_RC PATTERN VERSION: the last sync's exit status, output and the active version
expect() {
  local name=$1 want=$2 pattern=$3 version=$4 got
  got=$(status_version)
  if { [ "$want" = 0 ] && [ $RC != 0 ]; } || { [ "$want" != 0 ] && [ $RC = 0 ]; }; then
    fail "$name: exit $RC: $OUT"
  elif ! grep -qE -- "$pattern" <<<"$OUT"; then
    fail "$name: output lacks /$pattern/: $OUT"
  elif [ "$got" != "$version" ]; then
    fail "$name: active version $got, expected $version ($OUT)"
  else
    pass "$name: $(tail -1 <<<"$OUT" | cut -c1-160) [active v$got]"
  fi
}
staging_empty() { [ -z "$(ls -A "$STORE/staging" 2>/dev/null)" ]; }

# ---- 1. happy path: a real bundle from two PyPI photos -----------------------------------------
if [ -f "$PHOTOS/obama.jpg" ] && [ -f "$PHOTOS/biden.jpg" ]; then
  mkdir -p "$T/subjects"; cp "$PHOTOS/obama.jpg" "$PHOTOS/biden.jpg" "$T/subjects/"
  run "$VIGIL" watchlist build --subjects "$T/subjects" --legal-basis "case SYNC-1" --key "$KEY" --version 1 \
      --expires "$(date -u -d '+30 days' +%F)" --models "$MODELS" --out "$T/bundles-v1.vwl"
  [ $RC = 0 ] || bail "sync/setup: vigil watchlist build: $OUT"
  V1=$T/bundles-v1.vwl
else
  synth 1 --entries 2; V1=$B
  echo "note: .cache/photos missing (make setup): v1 is a synthetic bundle"
fi
publish "$V1"
[ -f "$WWW/list-1.vwl" ] && [ -f "$WWW/manifest" ] && pass "publish: manifest + list-1.vwl written" || fail "publish: files missing: $(ls "$WWW")"
sync_with "$T/sync.conf"
expect "sync/happy path" 0 "installed watchlist v1" 1
staging_empty && pass "sync/happy path: staging empty" || fail "sync/happy path: staging left: $(ls "$STORE/staging")"

# ---- 2. up to date ----------------------------------------------------------------------------
sync_with "$T/sync.conf"
expect "sync/up to date" 0 "^up to date \(v1\)" 1

# ---- 3. v2, paced to a bandwidth cap ------------------------------------------------------------
synth 2 --entries 400; publish "$B"
write_config "$T/capped.conf" "bandwidth = 60000"
t0=$EPOCHREALTIME
sync_with "$T/capped.conf"
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
expect "sync/v2 installed" 0 "installed watchlist v2 .*v1 kept as fallback" 2
size=$(stat -c %s "$WWW/list-2.vwl")
if awk -v s="$secs" -v n="$size" 'BEGIN { exit !(s >= 0.8 * n / 60000) }'; then
  pass "sync/bandwidth cap: $size bytes at 60000 B/s took $secs s"
else
  fail "sync/bandwidth cap: $size bytes at 60000 B/s took only $secs s"
fi

# ---- 4. connection dropped mid-body, then resumed with Range ----------------------------------
synth 3 --entries 400; publish "$B"
write_config "$T/proxy.conf" "retries = 0"
sed -i "s|^server = .*|server = https://127.0.0.1:$PROXY_PORT|" "$T/proxy.conf"
sync_with "$T/proxy.conf"
expect "sync/connection cut mid-body" 1 "failed after 1 attempt" 2
part=$(stat -c %s "$STORE/staging/list-3.part" 2>/dev/null || echo 0)
[ "$part" -gt 0 ] && pass "sync/connection cut mid-body: partial download kept ($part bytes)" || fail "sync/connection cut mid-body: no partial file"
before=$(access_count '^206 GET /list-3.vwl range=bytes=')
sync_with "$T/proxy.conf"
expect "sync/resume" 0 "installed watchlist v3.*resumed at byte $part" 3
after=$(access_count '^206 GET /list-3.vwl range=bytes=')
[ "$after" -gt "$before" ] && pass "sync/resume: nginx answered 206 to 'Range: bytes=$part-' ($(grep '^206 GET /list-3' "$T/logs/access.log" | tail -1))" \
  || fail "sync/resume: no 206 in nginx's access log"

# ---- 5. 500 then 503, retried with backoff ------------------------------------------------------
synth 4 --entries 50; publish "$B"
write_config "$T/retry.conf" "retries = 6" "backoff = 0.3"
touch "$T/fail500"
( sleep 0.5; rm -f "$T/fail500"; touch "$T/fail503"; sleep 1; rm -f "$T/fail503" ) &
TOGGLE=$!
sync_with "$T/retry.conf"
wait "$TOGGLE"
expect "sync/500 and 503 retried" 0 "installed watchlist v4" 4
n500=$(access_count '^500 GET') n503=$(access_count '^503 GET')
if [ "$n500" -ge 1 ] && [ "$n503" -ge 1 ] && grep -q 'retry' <<<"$OUT"; then
  pass "sync/500 and 503 retried: nginx served $n500 x 500, $n503 x 503, then 200"
else
  fail "sync/500 and 503 retried: $n500 x 500, $n503 x 503 in the access log; output: $OUT"
fi
# retries exhausted
touch "$T/fail503"
sync_with "$T/sync.conf"
rm -f "$T/fail503"
expect "sync/503 until retries run out" 1 "failed after 3 attempts: HTTP 503" 4

# ---- 6. refusals: each names its reason; the active list stays v4 -------------------------------
synth 5 --entries 20; GOOD5=$B
fixture manifest --bundle "$GOOD5" --key "$KEY" --out "$WWW" --sha256 "$(printf '%064d' 0)"
sync_with "$T/sync.conf"
expect "sync/wrong sha256 in manifest" 1 "SHA-256 [0-9a-f]{64} does not match the manifest's 0{64}" 4
staging_empty && pass "sync/wrong sha256: staging file removed" || fail "sync/wrong sha256: staging left: $(ls "$STORE/staging")"

fixture manifest --bundle "$GOOD5" --key "$KEY" --out "$WWW" --bad-signature
sync_with "$T/sync.conf"
expect "sync/forged manifest signature" 1 "manifest signature does not verify" 4

fixture manifest --bundle "$GOOD5" --key "$KEY" --out "$WWW"
sed -i 's/^size .*/size 12x/' "$WWW/manifest"
sync_with "$T/sync.conf"
expect "sync/malformed manifest" 1 "manifest refused: .*line 3 \(size\): not a decimal number" 4

synth 5 --entries 20 --bad-signature
fixture manifest --bundle "$B" --key "$KEY" --out "$WWW"
sync_with "$T/sync.conf"
expect "sync/forged bundle signature" 1 "bundle v5 refused by the store: signature does not verify" 4
staging_empty && pass "sync/forged bundle signature: staging file removed" || fail "sync/forged bundle signature: staging left"

synth 3 --entries 20; publish "$B"
sync_with "$T/sync.conf"
expect "sync/rollback (v3 published)" 1 "rollback refused: server offers version 3, older than the highest ever installed \(4\)" 4

synth 3 --entries 20
fixture manifest --bundle "$B" --key "$KEY" --out "$WWW" --version 6 --name list-6.vwl
sync_with "$T/sync.conf"
expect "sync/manifest v6 over a v3 bundle" 1 "bundle is version 3, the manifest announced 6" 4

synth 5 --entries 20 --expired; publish "$B"
sync_with "$T/sync.conf"
expect "sync/expired bundle" 1 "bundle v5 refused by the store: bundle expired at" 4

B=$T/bundles/other-embedder.vwl
fixture bundle --version 5 --key "$KEY" --embedder "$MODELS/dlib_resnet_float.onnx" --entries 20 --out "$B"
publish "$B"
sync_with "$T/sync.conf"
expect "sync/other embedder" 1 "refused by the store: bundle was enrolled with embedder dlib_resnet_float" 4

# ---- 7. TLS: client certificates and the pinned CA ----------------------------------------------
publish "$GOOD5"
grep -v '^client_' "$T/sync.conf" >"$T/nocert.conf"
sync_with "$T/nocert.conf"
expect "sync/no client certificate" 1 "server refused the client certificate: HTTP 400.*No required SSL certificate" 4

sed "s|$P/client\.|$P/rogue-client.|" "$T/sync.conf" >"$T/rogue-client.conf"
sync_with "$T/rogue-client.conf"
expect "sync/client certificate from another CA" 1 "server refused the client certificate: HTTP 400.*SSL certificate error" 4

sed "s|^ca = .*|ca = $P/rogue-ca.crt|" "$T/sync.conf" >"$T/rogue-ca.conf"
sync_with "$T/rogue-ca.conf"
expect "sync/untrusted server CA" 1 "TLS handshake failed: CERTIFICATE_VERIFY_FAILED \\(the server.s certificate does not chain to the pinned CA" 4

sed "s|^server = .*|server = http://127.0.0.1:$PORT|" "$T/sync.conf" >"$T/http.conf"
sync_with "$T/http.conf"
expect "sync/plain http refused" 1 "server must be an https:// URL" 4

# ---- 8. disk full during the download -----------------------------------------------------------
# A full file system under staging: a 64 KiB tmpfs filled up before the sync. (A link to /dev/full
# no longer works: links in staging are removed, never written through — issue 16.)
mkdir -p "$STORE/staging"
if mount -t tmpfs -o size=64k,mode=0700 tmpfs "$STORE/staging" 2>"$T/mount.err"; then
  dd if=/dev/zero of="$STORE/staging/filler" bs=1k 2>/dev/null || true
  sync_with "$T/sync.conf"
  expect "sync/disk full" 1 "disk full while writing .*list-5.part; partial download removed" 4
  [ ! -e "$STORE/staging/list-5.part" ] && [ ! -L "$STORE/staging/list-5.part" ] && pass "sync/disk full: staging file removed" \
    || fail "sync/disk full: staging file still there"
  umount "$STORE/staging"
else
  fail "sync/disk full: cannot mount a 64 KiB tmpfs: $(cat "$T/mount.err")"
fi

# ---- 9. and the good v5 still installs afterwards ---------------------------------------------
sync_with "$T/sync.conf"
expect "sync/v5 after the refusals" 0 "installed watchlist v5.*v4 kept as fallback" 5

# ---- 9a. provisioning (docs/PROVISIONING.md): the device makes its key + CSR, the test CA signs it
#          with openssl as the agency would, install-cert checks and installs it, and sync uses it --
PV=$T/provision
run "$VIGIL" provision --out "$PV" --device-id device-0002
if [ $RC = 0 ] && [ "$(stat -c %a "$PV")" = 700 ] && [ "$(stat -c %a "$PV/tls.key")" = 600 ] \
   && [ "$(stat -c %a "$PV/device.key")" = 600 ] && [ -f "$PV/device.pub" ] && [ -f "$PV/device.csr" ]; then
  # what the technician reads out must be what the agency computes from the CSR with stock openssl
  fp_vigil=$(sed -n 's/^ *TLS key (CSR public key) *SHA256://p' <<<"$OUT" | tr -d ' ')
  fp_ossl=$(openssl req -in "$PV/device.csr" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
  subj=$(openssl req -in "$PV/device.csr" -noout -verify -subject 2>&1 | tr '\n' ' ')
  if [ -n "$fp_vigil" ] && [ "$fp_vigil" = "$fp_ossl" ] && grep -q 'verify OK' <<<"$subj" && grep -q 'CN = device-0002' <<<"$subj"; then
    pass "provision/CSR: self-signature verifies with openssl, $(sed 's/.*subject=//' <<<"$subj"), SPKI SHA-256 read out = openssl's ($(cut -c1-16 <<<"$fp_ossl")…)"
  else
    fail "provision/CSR: vigil read-out '$fp_vigil', openssl '$fp_ossl', $subj"
  fi
else
  fail "provision/keys: exit $RC, modes $(stat -c '%n %a' "$PV" "$PV"/* 2>&1 | tr '\n' ' '): $OUT"
fi
key_sum=$(sha256sum "$PV/tls.key" 2>/dev/null)
run "$VIGIL" provision --out "$PV" --device-id device-0002
[ $RC != 0 ] && grep -q "exists: refusing to overwrite" <<<"$OUT" && [ "$(sha256sum "$PV/tls.key")" = "$key_sum" ] \
  && pass "provision/second run refused, key kept: $OUT" || fail "provision/second run: exit $RC: $OUT"
# the agency signs (openssl x509 -req, as docs/PROVISIONING.md shows); a rogue CA signs the same CSR
printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n' >"$P/provisioned.ext"
ossl x509 -req -in "$PV/device.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -out "$P/provisioned.crt" -days 2 -extfile "$P/provisioned.ext"
ossl x509 -req -in "$PV/device.csr" -CA "$P/rogue-ca.crt" -CAkey "$P/rogue-ca.key" -CAcreateserial -out "$P/provisioned-rogue.crt" -days 2 -extfile "$P/provisioned.ext"
run "$VIGIL" provision install-cert --dir "$PV" --cert "$P/provisioned-rogue.crt" --ca "$P/ca.crt"
[ $RC != 0 ] && grep -q "not signed by the CA in $P/ca.crt" <<<"$OUT" && [ ! -e "$PV/tls.crt" ] && [ ! -e "$PV/ca.crt" ] \
  && pass "provision/certificate from another CA refused at install, nothing installed: $OUT" || fail "provision/rogue certificate: exit $RC: $OUT"
run "$VIGIL" provision install-cert --dir "$PV" --cert "$P/client.crt" --ca "$P/ca.crt"
[ $RC != 0 ] && grep -q "certificate is for another key" <<<"$OUT" && [ ! -e "$PV/tls.crt" ] \
  && pass "provision/another device's certificate refused: $(cut -c1-120 <<<"$OUT")…" || fail "provision/wrong key: exit $RC: $OUT"
run "$VIGIL" provision install-cert --dir "$PV" --cert "$P/provisioned.crt" --ca "$P/ca.crt"
if [ $RC = 0 ] && grep -q "subject *CN=device-0002,O=Vigil device" <<<"$OUT" && [ "$(stat -c %a "$PV/tls.crt")" = 644 ] \
   && cmp -s <(openssl x509 -in "$PV/tls.crt" -outform DER) <(openssl x509 -in "$P/provisioned.crt" -outform DER) \
   && cmp -s <(openssl x509 -in "$PV/ca.crt" -outform DER) <(openssl x509 -in "$P/ca.crt" -outform DER); then
  pass "provision/install-cert: $(grep -E '^ *(issuer|valid) ' <<<"$OUT" | tr -s ' ' | tr '\n' ';')"
else
  fail "provision/install-cert: exit $RC: $OUT"
fi
write_config "$T/provisioned.conf" "ca = $PV/ca.crt" "client_cert = $PV/tls.crt" "client_key = $PV/tls.key"
sync_with "$T/provisioned.conf"
expect "provision/sync with DIR/tls.key + DIR/tls.crt against nginx (ssl_verify_client on)" 0 "^up to date \(v5\)" 5

# ---- 9b. every sync above is on the audit record: result, installs, refusals; the chain verifies --
n_res=$(grep -c '"event":"sync.result"' "$T/audit/audit.log" 2>/dev/null || echo 0)
n_inst=$(grep -c '"event":"watchlist.install"' "$T/audit/audit.log" 2>/dev/null || echo 0)
n_rej=$(grep -c '"event":"watchlist.reject"' "$T/audit/audit.log" 2>/dev/null || echo 0)
run "$VIGIL" audit verify "$T/audit"
if [ "$n_res" = "$SYNCS" ] && [ "$n_inst" -ge 3 ] && [ "$n_rej" -ge 4 ] && [ $RC = 0 ] \
   && grep -q '"event":"watchlist.reject","data":{"reason":"manifest signature does not verify' "$T/audit/audit.log"; then
  pass "sync/audit: $n_res sync.result for $SYNCS syncs, $n_inst watchlist.install, $n_rej watchlist.reject; $OUT"
else
  fail "sync/audit: sync.result $n_res (syncs $SYNCS), install $n_inst, reject $n_rej; verify: $OUT"
fi

# ---- 10. scale (opt-in, make bench: VIGIL_SYNC_SCALE=300000): download + verify + activate ------
if [ -n "${VIGIL_SYNC_SCALE:-}" ]; then
  run "$VIGIL" watchlist synth --entries "$VIGIL_SYNC_SCALE" --version 6 --key "$KEY" --embedder "$EMBEDDER" --out "$T/big.vwl"
  [ $RC = 0 ] || bail "sync/scale: synth: $OUT"
  publish "$T/big.vwl"
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$T/scale.rss" "$VIGIL" watchlist sync --config "$T/sync.conf" >"$T/scale.out" 2>&1; rc=$?
  end=$(date +%s.%N)
  if [ $rc = 0 ] && [ "$(status_version)" = 6 ]; then
    pass "sync/scale: $VIGIL_SYNC_SCALE entries ($(stat -c %s "$T/big.vwl") bytes): download + verify + activate in $("$PY" -c "print(round($end - $start, 2))") s, peak RSS $(( $(cat "$T/scale.rss") / 1024 )) MiB"
  else
    fail "sync/scale: $(cat "$T/scale.out")"
  fi
fi

grep -qiE 'BEGIN (EC )?PRIVATE KEY|ed25519-private' <<<"$(cat "$T"/logs/*.log)" && fail "sync/secrets: key material in logs" || true
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
exit
}
