#!/usr/bin/env bash
# bench/fleet.sh — issue 20's budgets: what a Redis-backed rate limit adds per request
# against the local store (p99 latency at a fixed load, CPU per request), and what
# tracing costs at ratio 1.0 and 0.01 against off.
#
# Starts the release echo backend (127.0.0.1:19101), a redis-server (127.0.0.1:19103,
# no persistence) and hookgate (--workers 1) on 127.0.0.1:19102, once per MODE:
#   none        no plugins, no tracing
#   local       the rate-limit plugin, one rule (limit 10^9 per client and minute)
#   redis       the same rule with redis = "main" (a script per request)
#   sync        the same with sync_ms = 100 (counted here, sent every 100 ms)
#   trace1      no plugins, [tracing] ratio = 1.0 (spans sent to the echo backend)
#   trace001    the same, ratio = 0.01
# and runs wrk REPS (3) times for DURATION (8) s over 16 connections, each pausing
# 16000/RATE ms between requests (wrk's Lua `delay`), so the load is about RATE (5000)
# requests/s whatever the latency; prints requests/s, p50/p99 latency (without the
# pauses) and the CPU µs per request of hookgate and of redis-server (from
# /proc/PID/stat). INSTR=1 also counts instructions per request with bench/callgrind.sh.
# Needs: cargo build --release --workspace && cargo build --release -p hookgate --examples;
# apt-get install -y wrk redis-server valgrind nghttp2-client.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODES=${MODES:-"none local redis sync trace1 trace001"}
REPS=${REPS:-3}; DURATION=${DURATION:-8}
RATE=${RATE:-5000}
RUN=$(mktemp -d)
awk -v rate="$RATE" 'BEGIN{printf "function delay()\n  return %d\nend\n", 16000 / rate}' >"$RUN/pace.lua"
redis-server --bind 127.0.0.1 --port 19103 --save '' --appendonly no >"$RUN/redis.log" 2>&1 &
redis=$!
"$ROOT/target/release/examples/echo_backend" 127.0.0.1:19101 bench >"$RUN/echo.log" 2>&1 &
echo_backend=$!
trap 'kill $redis $echo_backend 2>/dev/null; rm -rf "$RUN"' EXIT
sleep 0.5

config() { # MODE → a config file
  local mode=$1 file="$RUN/$1.toml"
  local rule='{ limit = 1000000000, window_ms = 60000 }'
  local plugin="" tracing=""
  case $mode in
    local) ;;
    redis) rule='{ limit = 1000000000, window_ms = 60000, redis = "main" }' ;;
    sync) rule='{ limit = 1000000000, window_ms = 60000, redis = "main", sync_ms = 100 }' ;;
  esac
  case $mode in
    local|redis|sync)
      cat > "$RUN/rules.toml" <<TOML
[global]
rules = [$rule]
TOML
      plugin="[[plugins]]
path = \"$ROOT/target/release/libhookgate_plugin_rate_limit.so\"
config = \"$RUN/rules.toml\"" ;;
    trace1) tracing="[tracing]
endpoint = \"http://127.0.0.1:19101/v1/traces\"
ratio = 1.0" ;;
    trace001) tracing="[tracing]
endpoint = \"http://127.0.0.1:19101/v1/traces\"
ratio = 0.01" ;;
  esac
  cat > "$file" <<TOML
default_product = "bench"
[server]
listen = ["127.0.0.1:19102"]
$plugin
[redis.main]
url = "redis://127.0.0.1:19103"
$tracing
[products.bench]
routes = [{ cluster = "local" }]
[clusters.local.subclusters.local]
weight = 1
backends = [{ addr = "127.0.0.1:19101" }]
TOML
  echo "$file"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for mode in $MODES; do
  file=$(config "$mode")
  RUST_LOG=warn "$ROOT/target/release/hookgate" --config "$file" --workers 1 >"$RUN/$mode.log" 2>&1 &
  proxy=$!
  for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/19102) 2>/dev/null && break; sleep 0.1; done
  wrk -t1 -c16 -d2s http://127.0.0.1:19102/bytes/6 >/dev/null 2>&1
  for rep in $(seq 1 "$REPS"); do
    before=$(cpu_ticks $proxy); rbefore=$(cpu_ticks $redis)
    out=$(wrk -t1 -c16 -d"${DURATION}s" --latency -s "$RUN/pace.lua" http://127.0.0.1:19102/bytes/6 2>&1)
    after=$(cpu_ticks $proxy); rafter=$(cpu_ticks $redis)
    reqs=$(echo "$out" | awk '/requests in/{print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    p50=$(echo "$out" | awk '$1=="50%"{print $2}')
    p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    hz=$(getconf CLK_TCK)
    cpu=$(awk -v t=$((after - before)) -v n="$reqs" -v hz="$hz" 'BEGIN{printf "%.1f", t * 1e6 / hz / n}')
    rcpu=$(awk -v t=$((rafter - rbefore)) -v n="$reqs" -v hz="$hz" 'BEGIN{printf "%.1f", t * 1e6 / hz / n}')
    echo "$mode rep $rep: $rps req/s  p50 $p50  p99 $p99  hookgate CPU ${cpu} µs/req  redis CPU ${rcpu} µs/req"
  done
  kill -TERM $proxy; wait $proxy 2>/dev/null
  if [ "${INSTR:-0}" = 1 ]; then
    echo "$mode: $(OUT="$RUN/$mode.callgrind" "$ROOT/bench/callgrind.sh" --config "$file" 2>&1 | grep instructions)"
  fi
done
