#!/usr/bin/env bash
# Instructions per unary call through a Yardmaster binary, counted by callgrind: a figure
# that repeats within a fraction of a percent on a busy machine, unlike times.
#
#   bench/callgrind.sh [BINARY] [CALLS]
#
# BINARY defaults to the release build ($CARGO_TARGET_DIR/release/yardmaster; build it with
# `cargo build --release -p yardmaster`). Needs valgrind and h2load (nghttp2-client).
# Upstream: `yardmaster demo` (a second, unmeasured process), whose gateway on the demo
# port forwards to its echo upstreams; the measured gateway forwards to that port. Only
# the window of CALLS calls after a warm-up is counted (callgrind_control -z, then -d).
set -euo pipefail

TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/yardmaster-target}"
BIN="$(realpath "${1:-$TARGET_DIR/release/yardmaster}")"
CALLS="${2:-20000}"
DEMO_PORT=28080
PORT=28081
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# One EchoRequest with a 100-byte payload (field 2), gRPC length-prefixed.
python3 -c "
import sys
msg = bytes([0x12, 100]) + b'x' * 100
sys.stdout.buffer.write(b'\0' + len(msg).to_bytes(4, 'big') + msg)" > "$WORK/request.bin"
cat > "$WORK/gateway.yaml" <<EOF
log:
  access_log: false
listeners:
  - name: bench
    listen: 127.0.0.1:$PORT
    routes:
      - forward: { cluster: echo }
clusters:
  - name: echo
    endpoints: [127.0.0.1:$DEMO_PORT]
EOF

wait_for_port() {
    for _ in $(seq 1 200); do
        (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    exit 1
}
load() {
    h2load -n "$1" -c 4 -m 16 -H 'content-type: application/grpc' -H 'te: trailers' \
        -d "$WORK/request.bin" "http://127.0.0.1:$PORT/yardmaster.demo.v1.Echo/Unary"
}

cp "$BIN" "$WORK/demo-binary"
RUST_LOG=warn "$WORK/demo-binary" demo --listen "127.0.0.1:$DEMO_PORT" --admin 127.0.0.1:0 \
    > "$WORK/demo.log" 2>&1 &
wait_for_port "$DEMO_PORT"
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
    "$BIN" run --config "$WORK/gateway.yaml" > "$WORK/gateway.log" 2>&1 &
GATEWAY=$!
wait_for_port "$PORT"
load 2000 > /dev/null
callgrind_control -z "$GATEWAY" > /dev/null
load "$CALLS" | grep -E '^requests:'
callgrind_control -d "$GATEWAY" > /dev/null
TOTAL=$(callgrind_annotate "$WORK/callgrind.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
echo "$BIN: $TOTAL instructions for $CALLS calls = $((TOTAL / CALLS)) per call"
