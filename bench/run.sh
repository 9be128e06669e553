#!/usr/bin/env bash
# bench/run.sh — hookgate's own benchmark, on loopback.
#
# Starts a fixed backend (the echo backend of proxy/examples, answering a 6-byte body)
# and hookgate (release build), then for each scenario prints requests per second,
# p50/p99 latency, the proxy's CPU time per request (utime+stime from /proc/PID/stat,
# over the measured run only) and its resident memory after the run.
#
# Scenarios (SCENARIOS, default all):
#   none    no plugins, plain HTTP/1.1                       (wrk)
#   demo    the demo's plugin chain (bench/demo-chain.toml.in) (wrk)
#   noop8   8 no-op plugins (example-plugins/noop)           (wrk)
#   tls-h1  no plugins, HTTP/1.1 over TLS                    (wrk)
#   tls-h2  no plugins, HTTP/2 over TLS (ALPN h2)            (oha if installed, else h2load)
#
# Knobs (defaults): DUR=5 WARM=1 CONNS=64 THREADS=1 WORKERS=1 PIN=1 REPS=1
#   PIN=1: proxy on CPU $PROXY_CPU (0), load generator and backend on CPU $CLIENT_CPU (1)
#   WORKERS: hookgate worker threads; BUDGET=240 seconds at most (checked up front)
# Needs: apt-get install -y wrk nghttp2-client openssl; optional: cargo install --locked oha
# Every process it starts is tracked by PID and stopped by PID.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${RUN:-/tmp/hookgate-bench}
DUR=${DUR:-5}; WARM=${WARM:-1}; CONNS=${CONNS:-64}; THREADS=${THREADS:-1}
WORKERS=${WORKERS:-1}; PIN=${PIN:-1}; REPS=${REPS:-1}; BUDGET=${BUDGET:-240}
PROXY_CPU=${PROXY_CPU:-0}; CLIENT_CPU=${CLIENT_CPU:-1}
SCENARIOS=${SCENARIOS:-"none demo noop8 tls-h1 tls-h2"}
BACKEND_ADDR=127.0.0.1:19301; PLAIN_ADDR=127.0.0.1:19302; TLS_ADDR=127.0.0.1:19443
CLK_TCK=$(getconf CLK_TCK)
PIDS=()

die() { echo "ERROR: $*" >&2; exit 1; }
for b in wrk openssl taskset; do command -v "$b" >/dev/null || die "missing $b (apt-get install -y wrk openssl util-linux)"; done
n=$(wc -w <<<"$SCENARIOS")
est=$(( n * REPS * (DUR + WARM + 3) + 10 ))
echo "# hookgate bench: scenarios=[$SCENARIOS] reps=$REPS dur=${DUR}s conns=$CONNS workers=$WORKERS pin=$PIN est=${est}s"
[ "$est" -le "$BUDGET" ] || die "estimated ${est}s exceeds BUDGET=${BUDGET}s"

stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() { local p; for p in "${PIDS[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prefixes that pin a command to a CPU (taskset execs, so $! stays the command's PID).
if [ "$PIN" = 1 ]; then PROXY_PIN=(taskset -c "$PROXY_CPU"); CLIENT_PIN=(taskset -c "$CLIENT_CPU"); else PROXY_PIN=(); CLIENT_PIN=(); fi
wait_port() { local i; for i in $(seq 1 100); do (echo >"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null; }
to_us() { awk -v v="$1" 'BEGIN{ n=v+0; if (v ~ /us$/) m=1; else if (v ~ /ms$/) m=1000; else if (v ~ /s$/) m=1000000; else m=1; printf "%.0f", n*m }'; }

rm -rf "$RUN"; mkdir -p "$RUN"
echo "# building (release)"
(cd "$ROOT" && cargo build --release --workspace -q && cargo build --release -p hookgate --examples -q) || die "build failed"
HG=$ROOT/target/release/hookgate
NOOP=$ROOT/target/release/libhookgate_plugin_noop.so

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" \
  -keyout "$RUN/key.pem" -out "$RUN/cert.pem" >/dev/null 2>&1 || die "openssl failed"
sed -e "s#@ROOT@#$ROOT#g" -e "s#@LISTEN@#$PLAIN_ADDR#g" -e "s#@BACKEND@#$BACKEND_ADDR#g" -e "s#@RUN@#$RUN#g" \
  "$ROOT/bench/demo-chain.toml.in" > "$RUN/demo.toml"
cat > "$RUN/tls.toml" <<TOML
default_product = "p"
[server]
listen = ["$PLAIN_ADDR"]
[[server.tls]]
listen = "$TLS_ADDR"
certs = [{ cert = "$RUN/cert.pem", key = "$RUN/key.pem" }]
[products.p]
routes = [{ cluster = "c" }]
[clusters.c.subclusters.s]
weight = 1
backends = [{ addr = "$BACKEND_ADDR" }]
TOML

"${CLIENT_PIN[@]}" "$ROOT/target/release/examples/echo_backend" "$BACKEND_ADDR" bench >"$RUN/backend.log" 2>&1 &
PIDS+=($!)
wait_port "$BACKEND_ADDR" || die "backend did not start"

proxy_args() {
  case $1 in
    none) echo "--listen $PLAIN_ADDR --backend $BACKEND_ADDR" ;;
    noop8) local a="--listen $PLAIN_ADDR --backend $BACKEND_ADDR" i; for i in 1 2 3 4 5 6 7 8; do a="$a --plugin $NOOP"; done; echo "$a" ;;
    demo) echo "--config $RUN/demo.toml" ;;
    tls-h1|tls-h2) echo "--config $RUN/tls.toml" ;;
  esac
}
url_of() { case $1 in tls-*) echo "https://localhost:${TLS_ADDR#*:}/bytes/6" ;; *) echo "http://$PLAIN_ADDR/bytes/6" ;; esac; }

# load SCENARIO SECONDS OUT -> prints "requests rps p50_us p99_us"
load() {
  local s=$1 secs=$2 out=$3 url; url=$(url_of "$s")
  if [ "$s" = tls-h2 ]; then
    if command -v oha >/dev/null; then
      "${CLIENT_PIN[@]}" timeout $((secs + 10)) oha -z "${secs}s" -c "$CONNS" --http2 -p 10 --insecure --no-tui --output-format json "$url" >"$out" 2>/dev/null
      python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d["summary"]; p = d["latencyPercentiles"]
n = sum(d.get("statusCodeDistribution", {}).values())
print(n, "%.0f" % s["requestsPerSec"], "%.0f" % (p["p50"] * 1e6), "%.0f" % (p["p99"] * 1e6))
PY
    else
      "${CLIENT_PIN[@]}" timeout $((secs + 10)) h2load -D "$secs" -c "$CONNS" -m 10 "$url" >"$out" 2>&1
      awk '/requests:/{n=$8} /finished in/{gsub(",","",$4); r=$4} END{printf "%d %.0f - -\n", n, r}' "$out"
    fi
  else
    "${CLIENT_PIN[@]}" timeout $((secs + 10)) wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --latency "$url" >"$out" 2>&1
    local n r p50 p99
    n=$(awk '/requests in/{print $1}' "$out"); r=$(awk '/^Requests\/sec/{printf "%.0f", $2}' "$out")
    p50=$(awk '$1=="50%"{print $2}' "$out"); p99=$(awk '$1=="99%"{print $2}' "$out")
    echo "${n:-0} ${r:-0} $(to_us "${p50:-0}") $(to_us "${p99:-0}")"
  fi
}

printf "%-8s %4s %10s %9s %9s %12s %9s\n" scenario rep req/s p50_us p99_us cpu_us/req rss_kib | tee "$RUN/results.txt"
for s in $SCENARIOS; do
  for rep in $(seq 1 "$REPS"); do
    # shellcheck disable=SC2046
    RUST_LOG=warn "${PROXY_PIN[@]}" "$HG" $(proxy_args "$s") --workers "$WORKERS" >"$RUN/proxy-$s-$rep.log" 2>&1 &
    pid=$!
    addr=$PLAIN_ADDR; case $s in tls-*) addr=$TLS_ADDR ;; esac
    wait_port "$addr" || { echo "proxy for $s did not start:"; cat "$RUN/proxy-$s-$rep.log"; stop_pid "$pid"; continue; }
    load "$s" "$WARM" "$RUN/warm-$s-$rep.out" >/dev/null
    c0=$(cpu_ticks "$pid")
    read -r n rps p50 p99 < <(load "$s" "$DUR" "$RUN/load-$s-$rep.out")
    c1=$(cpu_ticks "$pid")
    rss=$(rss_kib "$pid")
    cpu=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN{ if (n > 0) printf "%.1f", d * 1e6 / hz / n; else print "-" }')
    stop_pid "$pid"
    printf "%-8s %4s %10s %9s %9s %12s %9s\n" "$s" "$rep" "$rps" "$p50" "$p99" "$cpu" "${rss:--}" | tee -a "$RUN/results.txt"
  done
done
echo "# raw outputs in $RUN"
