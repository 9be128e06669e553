#!/usr/bin/env bash
# bench/callgrind.sh — instructions per proxied request, counted by valgrind's callgrind
# (repeatable whatever else the machine does, unlike CPU time).
#
#   bench/callgrind.sh [HOOKGATE ARGS...]      default: no plugins
#   bench/callgrind.sh --config FILE           e.g. a config from bench/demo-chain.toml.in
#
# Starts the release echo backend on 127.0.0.1:19101; hookgate must listen on
# 127.0.0.1:19102 (added as --listen/--backend when no --config is given). Sends
# N (5000) HTTP/1.1 requests over 8 connections with h2load after a 200-request warm-up
# (neither start-up nor warm-up is counted), prints instructions per request, and leaves
# the profile in $OUT (callgrind_annotate $OUT).
# Needs: apt-get install -y valgrind nghttp2-client; cargo build --release first.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-5000}; OUT=${OUT:-/tmp/hookgate-callgrind.out}
args=("$@")
case " $* " in *" --config "*) ;; *) args=(--listen 127.0.0.1:19102 --backend 127.0.0.1:19101 "$@") ;; esac
# BACKEND_TLS="CERT KEY": the backend speaks TLS (one stderr line per handshake, kept
# in $BACKEND_LOG if set).
# shellcheck disable=SC2086
"$ROOT/target/release/examples/echo_backend" 127.0.0.1:19101 bench ${BACKEND_TLS:-} >"${BACKEND_LOG:-/dev/null}" 2>&1 &
backend=$!
trap 'kill $backend 2>/dev/null' EXIT
rm -f "$OUT"
# Instrumentation starts off and is switched on after the warm-up, so start-up (plugin
# loading, abi_stable's layout checks) and the warm-up are not counted.
RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT" \
  "$ROOT/target/release/hookgate" "${args[@]}" --workers 1 >"$OUT.log" 2>&1 &
proxy=$!
for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/19102) 2>/dev/null && break; sleep 0.1; done
# URL_PATH (default /bytes/6) and HEADER (e.g. "accept-encoding: br") change the request.
url="http://127.0.0.1:19102${URL_PATH:-/bytes/6}"
header=(); [ -n "${HEADER:-}" ] && header=(-H "$HEADER")
h2load --h1 -n 200 -c 4 "${header[@]}" "$url" >/dev/null 2>&1
callgrind_control -i on "$proxy" >/dev/null 2>&1
h2load --h1 -n "$N" -c 8 "${header[@]}" "$url" 2>&1 | grep -E "^requests:"
kill -TERM "$proxy"; wait "$proxy" 2>/dev/null
total=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1; exit}')
echo "instructions: total=$total per_request=$(( total / N ))  (profile: $OUT)"
