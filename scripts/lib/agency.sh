# scripts/lib/agency.sh - the agency's side on loopback, shared by `make demo` (scripts/demo.sh) and
# the agent's end-to-end test (Tests/agent/run.sh). Source it; needs openssl, nginx, python3.
#
#   agency_pki DIR            a test CA, a server certificate for 127.0.0.1 and a device client
#                             certificate (EC P-256): DIR/{ca,server,client}.{crt,key}
#   agency_free_port          prints a free TCP port on 127.0.0.1
#   agency_nginx DIR WWW PORT PKI
#                             nginx on 127.0.0.1:PORT (TLS, client certificates required):
#                             static files under WWW (the published watchlist) and WebDAV PUT under
#                             WWW/hits/ (the hit records); pid in DIR/nginx.pid, logs in DIR/logs
#   agency_stop DIR           stops that nginx
# Each returns non-zero with a message on stderr when a step fails.

agency_pki() {
  local P=$1
  mkdir -p "$P"
  _ossl() { openssl "$@" >>"$P/openssl.log" 2>&1 || { echo "agency: openssl $1 failed (see $P/openssl.log)" >&2; return 1; }; }
  _ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" \
    -subj "/CN=Vigil demo agency CA" -days 2 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
  _leaf() {
    _ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$2" || return 1
    printf '%b' "$3" >"$P/$1.ext"
    _ossl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -out "$P/$1.crt" -days 2 -extfile "$P/$1.ext"
  }
  _leaf server 127.0.0.1 "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n" || return 1
  _leaf client device-0001 "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n" || return 1
  chmod 600 "$P"/*.key
}

agency_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The server follows docs/HITS-SERVER.md: records only as PUT /hits/<uuid> (no GET, no listing,
# no other name, no sub-directory), everything else 404. Run as root (CI, the VM), the workers
# drop to nobody:nogroup: the published lists are group-readable through WWW's set-group-id
# directory (vigil publish writes 0640), the records directory belongs to nobody (0700). Where
# nobody cannot reach WWW (or has no account, as in a minimal guest) the workers stay root, and
# the function says so.
AGENCY_UUID='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
agency_nginx() {
  local D=$1 WWW=$2 PORT=$3 P=$4 nginx user_line=""
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$nginx" ] || { echo "agency: nginx not installed (apt-get install nginx)" >&2; return 1; }
  mkdir -p "$WWW/hits" "$D/tmp" "$D/logs"
  if [ "$(id -u)" = 0 ]; then
    user_line="user root;"
    if id nobody >/dev/null 2>&1 && grep -q '^nogroup:' /etc/group 2>/dev/null && command -v runuser >/dev/null; then
      chmod o+x "$D" "$WWW" 2>/dev/null
      chgrp nogroup "$WWW" && chmod 2750 "$WWW" && chown nobody:nogroup "$WWW/hits" "$D/tmp" && chmod 0700 "$WWW/hits"
      # lists published before nginx started (the VM prepares www first) join the group too
      find "$WWW" -maxdepth 1 -type f -exec chgrp nogroup {} + -exec chmod g+r {} + 2>/dev/null
      local unreadable
      unreadable=$(find "$WWW" -maxdepth 1 -type f -exec runuser -u nobody -- test ! -r {} \; -print 2>/dev/null | head -1)
      if [ -z "$unreadable" ] && runuser -u nobody -- test -r "$WWW" -a -x "$WWW" -a -w "$WWW/hits" -a -w "$D/tmp" 2>/dev/null; then
        user_line="user nobody nogroup;"
      fi
    fi
    [ "$user_line" = "user root;" ] && echo "agency: nginx workers run as root (no nobody account, or it cannot reach $WWW)" >&2
  fi
  cat >"$D/nginx.conf" <<CONF
$user_line
daemon on;
worker_processes 1;
pid $D/nginx.pid;
error_log $D/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log $D/logs/access.log;
  client_body_temp_path $D/tmp/body; proxy_temp_path $D/tmp/proxy; fastcgi_temp_path $D/tmp/fastcgi;
  uwsgi_temp_path $D/tmp/uwsgi; scgi_temp_path $D/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT ssl;
    ssl_certificate $P/server.crt; ssl_certificate_key $P/server.key;
    ssl_client_certificate $P/ca.crt; ssl_verify_client on;
    root $WWW;
    location ~ "^/hits/$AGENCY_UUID\$" {
      dav_methods PUT; dav_access user:rw; client_max_body_size 1m;
      limit_except PUT { deny all; }
    }
    location /hits/ { return 404; }
  }
}
CONF
  "$nginx" -p "$D" -e "$D/logs/error.log" -c "$D/nginx.conf" >"$D/nginx.out" 2>&1 \
    || { echo "agency: nginx did not start: $(tail -2 "$D/nginx.out")" >&2; return 1; }
  local i
  for i in $(seq 50); do [ -s "$D/nginx.pid" ] && return 0; sleep 0.1; done
  echo "agency: nginx wrote no pid file" >&2
  return 1
}

agency_stop() {
  [ -f "$1/nginx.pid" ] && kill "$(cat "$1/nginx.pid")" 2>/dev/null
  rm -f "$1/nginx.pid"
  return 0
}
