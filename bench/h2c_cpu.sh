#!/usr/bin/env bash
# bench/h2c_cpu.sh BINARY — CPU µs per request of a hookgate binary over HTTP/2 with
# prior knowledge (h2load, 16 connections, 10 streams each, 14,000 requests: under
# server.keepalive_requests per connection, which would end them with a GOAWAY),
# after 2,000 warm-up requests; utime+stime from /proc/PID/stat. Starts the release
# echo backend on 127.0.0.1:19101 and BINARY on 127.0.0.1:19102 (--workers 1).
# Leave a second between runs (the ports are reused).
set -u
bin=$1
"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/release/examples/echo_backend" 127.0.0.1:19101 bench >/dev/null 2>&1 & eb=$!
RUST_LOG=warn $bin --listen 127.0.0.1:19102 --backend 127.0.0.1:19101 --workers 1 >/dev/null 2>&1 & px=$!
for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/19102) 2>/dev/null && break; sleep 0.1; done
h2load -n 2000 -c 16 -m 10 http://127.0.0.1:19102/bytes/6 >/dev/null 2>&1
t0=$(awk '{print $14+$15}' /proc/$px/stat)
out=$(h2load -n 14000 -c 16 -m 10 http://127.0.0.1:19102/bytes/6 2>&1)
t1=$(awk '{print $14+$15}' /proc/$px/stat)
kill $px $eb; wait 2>/dev/null
tck=$(getconf CLK_TCK)
echo "$(basename $bin): $(echo "$out" | grep -E '^requests:' | cut -c1-80) | $(echo "$out" | grep 'finished in' | cut -c1-60) | cpu_us_per_req=$(awk -v a=$t0 -v b=$t1 -v t=$tck 'BEGIN{printf "%.1f", (b-a)*1000000/t/14000}')"
