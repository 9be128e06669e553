#!/usr/bin/env bash
# bench/swap.sh — issue 21: plugin code swapped under load. Starts the release echo
# backend (127.0.0.1:19101) and hookgate (--workers 1, admin 127.0.0.1:19104) on
# 127.0.0.1:19102 with the demo chain plus one entry `swap` whose library file is
# replaced, between two builds (the noop and the header example plugins, both go-on),
# SWAPS (20) times, one about every half second, during one wrk run (SWAPS + 3 s) over 32 connections at about
# RATE (5000) requests/s (each connection pausing 32000/RATE ms between requests), each
# swap followed by POST /reload (CANARY=1: the entry has a 50% canary, promoted by
# POST /plugins/swap/promote before the next swap). Prints wrk's counts (socket errors
# and non-2xx responses must be absent), its latency percentiles, the reloads that
# answered 200, and the generations loaded.
# Needs: cargo build --release --workspace && cargo build --release -p hookgate --examples;
# apt-get install -y wrk curl.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SWAPS=${SWAPS:-20}; RATE=${RATE:-5000}
RUN=$(mktemp -d)
awk -v rate="$RATE" 'BEGIN{printf "function delay()\n  return %d\nend\n", 32000 / rate}' >"$RUN/pace.lua"
"$ROOT/target/release/examples/echo_backend" 127.0.0.1:19101 bench >"$RUN/echo.log" 2>&1 &
echo_backend=$!
trap 'kill $echo_backend $proxy 2>/dev/null; rm -rf "$RUN"' EXIT
builds=("$ROOT/target/release/libhookgate_plugin_noop.so" "$ROOT/target/release/libhookgate_plugin_header.so")
cp "${builds[0]}" "$RUN/libswap.so"
canary=""
[ "${CANARY:-0}" = 1 ] && canary='canary = { percent = 50, promote_after_ms = 0 }'
sed -e "s#@ROOT@#$ROOT#g" -e "s#@LISTEN@#127.0.0.1:19102#g" -e "s#@BACKEND@#127.0.0.1:19101#g" \
    -e "s#@RUN@#$RUN#g" "$ROOT/bench/demo-chain.toml.in" |
  sed -e "s#^\[server\]#[server]\nadmin = \"127.0.0.1:19104\"\nplugin_cache_dir = \"$RUN/cache\"#" >"$RUN/hookgate.toml"
cat >>"$RUN/hookgate.toml" <<TOML

[[plugins]]
name = "swap"
path = "$RUN/libswap.so"
$canary
TOML
RUST_LOG=warn "$ROOT/target/release/hookgate" --config "$RUN/hookgate.toml" --workers 1 \
  >"$RUN/proxy.log" 2>&1 &
proxy=$!
for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/19102) 2>/dev/null && break; sleep 0.1; done
seconds=$((SWAPS + 3))
wrk -t1 -c32 -d"${seconds}s" --latency -s "$RUN/pace.lua" http://127.0.0.1:19102/bytes/6 \
  >"$RUN/wrk.out" 2>&1 &
load=$!
sleep 1
ok=0
for i in $(seq 1 "$SWAPS"); do
  cp "${builds[$((i % 2))]}" "$RUN/libswap.so.new" && mv "$RUN/libswap.so.new" "$RUN/libswap.so"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:19104/reload)
  [ "$code" = 200 ] && ok=$((ok + 1))
  sleep 0.25
  [ -n "$canary" ] && curl -s -o /dev/null -X POST http://127.0.0.1:19104/plugins/swap/promote
  sleep 0.25
done
wait "$load"
grep -E "requests in|Requests/sec|Socket errors|Non-2xx|^ +(50|90|99)%" "$RUN/wrk.out"
grep -q "Socket errors" "$RUN/wrk.out" || echo "socket errors: none"
grep -q "Non-2xx" "$RUN/wrk.out" || echo "non-2xx responses: none"
echo "reloads answered 200: $ok of $SWAPS"
curl -s http://127.0.0.1:19104/status | sed -n '/^generations:/,/^[a-z]/p' | grep -A2 "swap:"
curl -s http://127.0.0.1:19104/metrics | grep -E "^hookgate_plugin_(generation|canary)" | grep swap
