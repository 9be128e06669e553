#!/usr/bin/env bash
# bench/wait.sh — 10,000 requests waiting at once on callouts, on one worker, while
# other requests are served (issue 19's second budget).
#
# Starts the release echo backend (127.0.0.1:19101), a slow auth service that answers
# after DELAY (5) seconds (bench/wait/slow_auth.py, 127.0.0.1:19103), and hookgate
# (--workers 1) with the ext-auth plugin on the product of 127.0.0.2 only. Measures
# requests to the other product (8 connections, 3,000 requests) alone, then while
# h2load holds 10,000 requests (100 HTTP/2 connections × 100 streams) waiting on their
# callouts. Needs: cargo build --release --workspace && cargo build --release -p hookgate --examples;
# apt-get install -y nghttp2-client python3; an open-files limit of at least 20,000.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DELAY=${DELAY:-5}
RUN=$(mktemp -d)
cat > "$RUN/hookgate.toml" <<TOML
default_product = "free"
[server]
listen = ["127.0.0.1:19102", "127.0.0.2:19102"]
max_connections = 30000

[[plugins]]
path = "$ROOT/target/release/libhookgate_plugin_ext_auth.so"
config = { target = "cluster:auth", path = "/check", timeout_ms = 30000 }
products = ["waiting"]
callouts = { concurrent = 20000, timeout_ms = 30000 }

[products.waiting]
hosts = ["127.0.0.2"]
routes = [{ cluster = "local" }]

[products.free]
routes = [{ cluster = "local" }]

[clusters.local.subclusters.local]
weight = 1
backends = [{ addr = "127.0.0.1:19101" }]

[clusters.auth]
pool_max_idle_per_backend = 20000
[clusters.auth.subclusters.local]
weight = 1
backends = [{ addr = "127.0.0.1:19103" }]
TOML
python3 "$ROOT/bench/wait/slow_auth.py" 19103 "$DELAY" >"$RUN/auth.log" 2>&1 &
auth=$!
"$ROOT/target/release/examples/echo_backend" 127.0.0.1:19101 bench >"$RUN/echo.log" 2>&1 &
echo_backend=$!
RUST_LOG=warn "$ROOT/target/release/hookgate" --config "$RUN/hookgate.toml" --workers 1 >"$RUN/proxy.log" 2>&1 &
proxy=$!
trap 'kill $auth $echo_backend $proxy 2>/dev/null; rm -rf "$RUN"' EXIT
for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/19102) 2>/dev/null && break; sleep 0.1; done
echo "other requests, alone:"
h2load --h1 -n 3000 -c 8 http://127.0.0.1:19102/bytes/6 2>&1 | grep -E "^requests:|time for request"
h2load -n 10000 -c 100 -m 100 http://127.0.0.2:19102/bytes/6 >"$RUN/waiting.out" 2>&1 &
waiting=$!
sleep $(( DELAY / 2 ))
echo "callout connections open: $(ss -tn state established '( dport = :19103 )' | tail -n +2 | wc -l)"
echo "proxy RSS (KiB): $(ps -o rss= -p $proxy)"
echo "other requests, while 10,000 wait:"
h2load --h1 -n 3000 -c 8 http://127.0.0.1:19102/bytes/6 2>&1 | grep -E "^requests:|time for request"
wait $waiting
echo "the 10,000 waiting requests:"
grep -E "^requests:|status codes|time for request" "$RUN/waiting.out"
