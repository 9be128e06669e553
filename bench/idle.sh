#!/usr/bin/env bash
# bench/idle.sh — issue 22's memory targets: what an idle keep-alive connection costs,
# and whether memory is given back after connections close.
#
# Starts the release echo backend (127.0.0.1:19101), then, for each TARGET ("hookgate
# nginx"), the proxy on 127.0.0.1:19102 (one worker each; nginx with a keep-alive
# upstream), and N (5000) client connections that each send one request, read the
# response and stay open, idle. Prints the proxy's RSS (VmRSS of every process of it)
# before, with the N connections idle, and 3 s after they closed; and the RSS per idle
# connection.
#
# MODE=burst (default): every connection sends its request before any response is
# read, so the N requests are in flight at once (and the proxy opens as many backend
# connections, freed after but part of the RSS while the clients idle);
# MODE=one-by-one: each connection reads its response before the next connects, so
# the figure is the idle connections' own.
# Needs: cargo build --release -p hookgate --examples && cargo build --release -p hookgate;
# apt-get install -y nginx python3.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-5000}; TARGETS=${TARGETS:-"hookgate nginx"}; MODE=${MODE:-burst}
RUN=$(mktemp -d)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$ROOT/target/release/examples/echo_backend" 127.0.0.1:19101 bench >"$RUN/echo.log" 2>&1 &
echo_backend=$!
proxy=""
trap 'kill $echo_backend $proxy 2>/dev/null; rm -rf "$RUN"' EXIT

cat >"$RUN/clients.py" <<'PY'
import socket, sys
n = int(sys.argv[1])
one_by_one = sys.argv[2] == "one-by-one"
request = b"GET /bytes/6 HTTP/1.1\r\nHost: bench\r\n\r\n"


def read_response(s):
    got = b""
    while not (b"\r\n\r\n" in got and len(got.split(b"\r\n\r\n", 1)[1]) >= 6):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("a connection closed early")
        got += chunk


conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", 19102))
    s.sendall(request)
    conns.append(s)
    if one_by_one:
        read_response(s)
for s in ([] if one_by_one else conns):
    read_response(s)
print("idle", flush=True)
sys.stdin.readline()
for s in conns:
    s.close()
print("closed", flush=True)
PY

cat >"$RUN/nginx.conf" <<NGINX
worker_processes 1;
pid $RUN/nginx.pid;
error_log $RUN/nginx-error.log;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:19101; keepalive 64; }
  server {
    listen 127.0.0.1:19102;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX

rss_kib() { # PIDs → their VmRSS in KiB, summed
  local total=0 pid kib
  for pid in "$@"; do
    kib=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null)
    total=$((total + ${kib:-0}))
  done
  echo "$total"
}

for target in $TARGETS; do
  case $target in
    hookgate)
      RUST_LOG=warn "$ROOT/target/release/hookgate" --listen 127.0.0.1:19102 \
        --backend 127.0.0.1:19101 --workers 1 >"$RUN/hookgate.log" 2>&1 &
      proxy=$!
      pids() { echo "$proxy"; } ;;
    nginx)
      nginx -c "$RUN/nginx.conf" -p "$RUN" -g "daemon off;" >"$RUN/nginx.log" 2>&1 &
      proxy=$!
      pids() { echo "$proxy" $(pgrep -P "$proxy"); } ;;
  esac
  for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/19102) 2>/dev/null && break; sleep 0.1; done
  # A little traffic first, so that what start-up and the first requests allocate
  # is in "before".
  for _ in $(seq 1 20); do curl -s -o /dev/null http://127.0.0.1:19102/bytes/6; done
  sleep 1
  before=$(rss_kib $(pids))
  coproc CLIENTS { python3 "$RUN/clients.py" "$N" "$MODE"; }
  read -r line <&"${CLIENTS[0]}"
  [ "$line" = idle ] || { echo "$target: clients failed: $line"; exit 1; }
  sleep 1
  during=$(rss_kib $(pids))
  echo >&"${CLIENTS[1]}"
  read -r line <&"${CLIENTS[0]}"
  wait "$CLIENTS_PID" 2>/dev/null
  sleep 3
  after=$(rss_kib $(pids))
  per=$(( (during - before) * 1024 / N ))
  echo "$target ($MODE): RSS before ${before} KiB, with $N idle connections ${during} KiB ($per bytes each), 3 s after they closed ${after} KiB (+$((after - before)) KiB)"
  kill "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null; proxy=""
  sleep 0.5
done
