#!/usr/bin/env bash
# bench/grpc.sh — instructions per proxied HTTP/2 request, gRPC against plain, by
# callgrind (like bench/callgrind.sh): h2load sends N POSTs of the same 105-byte body
# over h2c to hookgate, which forwards them to the release echo backend over an h2c
# cluster; once with `content-type: application/grpc` and `te: trailers` (a gRPC
# unary call as the proxy sees it), once with `application/octet-stream`.
#
#   bench/grpc.sh            prints both figures and their ratio
# Needs: apt-get install -y valgrind nghttp2-client; cargo build --release first.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-5000}; OUT=${OUT:-/tmp/hookgate-grpc-callgrind.out}
BODY=$(mktemp); head -c 105 /dev/zero > "$BODY"
CONFIG=$(mktemp --suffix .toml)
cat > "$CONFIG" <<TOML
default_product = "bench"
[server]
listen = ["127.0.0.1:19112"]
[products.bench]
routes = [{ cluster = "h2" }]
[clusters.h2]
protocol = "h2c"
[clusters.h2.subclusters.local]
weight = 100
backends = [{ addr = "127.0.0.1:19111" }]
TOML
"$ROOT/target/release/examples/echo_backend" 127.0.0.1:19111 bench >/dev/null 2>&1 &
backend=$!
trap 'kill $backend 2>/dev/null; rm -f "$BODY" "$CONFIG"' EXIT

run() { # content-type...
  rm -f "$OUT"
  RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT" \
    "$ROOT/target/release/hookgate" --config "$CONFIG" --workers 1 >"$OUT.log" 2>&1 &
  local proxy=$!
  for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/19112) 2>/dev/null && break; sleep 0.1; done
  h2load -n 200 -c 4 -d "$BODY" "$@" http://127.0.0.1:19112/svc.Echo/Unary >/dev/null 2>&1
  callgrind_control -i on "$proxy" >/dev/null 2>&1
  h2load -n "$N" -c 8 -m 4 -d "$BODY" "$@" http://127.0.0.1:19112/svc.Echo/Unary 2>&1 | grep -E "^requests:" >&2
  kill -TERM "$proxy"; wait "$proxy" 2>/dev/null
  local total
  total=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1; exit}')
  echo $(( total / N ))
}
grpc=$(run -H 'content-type: application/grpc' -H 'te: trailers')
plain=$(run -H 'content-type: application/octet-stream')
echo "instructions per request: gRPC $grpc, plain HTTP/2 $plain, ratio $(awk "BEGIN {printf \"%.3f\", $grpc / $plain}")"
