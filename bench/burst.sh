#!/usr/bin/env bash
# bench/burst.sh — a burst of connections: how long until N connections that arrive
# at once are all accepted and answered (issue 12: 5,000 within 1 s).
#
# Starts hookgate (release build) on loopback with the hello plugin answering `/hello`
# itself (so that what is measured is the proxy accepting and answering, not a
# backend's own accept queue), then a Python client opens N connections as fast as it
# can (non-blocking connects), sends one `GET /hello` on each (`Connection: close`),
# and prints the time until every connection is established, the time until every
# one has its response, and how many failed (by status).
# Knobs (defaults): N=5000 REPS=3 BACKLOG= (empty: the default `server.backlog`).
# Needs python3. Stops every process it starts.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${RUN:-/tmp/hookgate-burst}
N=${N:-5000}; REPS=${REPS:-3}; BACKLOG=${BACKLOG:-}
BACKEND_ADDR=127.0.0.1:19311; PLAIN_ADDR=127.0.0.1:19312
mkdir -p "$RUN"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done; }
trap cleanup EXIT

(cd "$ROOT" && cargo build --release -q -p hookgate --bin hookgate && cargo build --release -q -p hookgate-plugin-hello) || exit 1
ulimit -n "$(ulimit -Hn)"
config=()
if [ -n "$BACKLOG" ]; then
  printf 'default_product = "p"\n[server]\nbacklog = %s\n[products.p]\nroutes = [{ cluster = "c" }]\n[clusters.c.subclusters.s]\nweight = 1\nbackends = [{ addr = "%s" }]\n' \
    "$BACKLOG" "$BACKEND_ADDR" >"$RUN/hookgate.toml"
  config=(--config "$RUN/hookgate.toml")
else
  config=(--backend "$BACKEND_ADDR")
fi
"$ROOT/target/release/hookgate" "${config[@]}" --listen "$PLAIN_ADDR" \
  --plugin "$ROOT/target/release/libhookgate_plugin_hello.so" >"$RUN/hookgate.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', ${PLAIN_ADDR##*:}), 0.2)" 2>/dev/null && break
  sleep 0.05
done

for rep in $(seq "$REPS"); do
python3 - "$N" "${PLAIN_ADDR##*:}" "$rep" <<'PY'
import selectors, socket, sys, time, errno
n, port, rep = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sel = selectors.DefaultSelector()
request = b"GET /hello HTTP/1.1\r\nHost: burst.example\r\nConnection: close\r\n\r\n"
start = time.monotonic()
socks = []
for _ in range(n):
    s = socket.socket(); s.setblocking(False)
    err = s.connect_ex(("127.0.0.1", port))
    socks.append(s)
    sel.register(s, selectors.EVENT_WRITE, "connecting")
connected = answered = failed = 0
reasons = {}
t_connected = t_answered = None
deadline = start + 60
while answered + failed < n and time.monotonic() < deadline:
    for key, mask in sel.select(timeout=1):
        s = key.fileobj
        if key.data == "connecting":
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                failed += 1; sel.unregister(s); s.close(); continue
            connected += 1
            if connected == n: t_connected = time.monotonic() - start
            s.send(request)
            sel.modify(s, selectors.EVENT_READ, "reading")
        else:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data.startswith(b"HTTP/1.1 200"):
                answered += 1
            else:
                failed += 1
                why = data[:12].decode("latin1") or "closed"
                reasons[why] = reasons.get(why, 0) + 1
            if answered == n: t_answered = time.monotonic() - start
            sel.unregister(s); s.close()
fmt = lambda t: f"{t:.3f} s" if t is not None else "not all"
print(f"rep {rep}: {n} connections: all connected {fmt(t_connected)}, all answered {fmt(t_answered)}, failed {failed} {reasons or ''}")
PY
done
