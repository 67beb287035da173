#!/usr/bin/env bash
# Attack benchmark: the release server on demo data, then bench/attacks.py runs
# each hostile request of issues #11 and #25 at full size and prints Markdown tables
# (time to refuse, peak memory, redirect latency during the attack).
# Usage: bench/attacks.sh
# SALES_TRACKING_BIN runs another build (an A/B against older code) instead of this one.
set -euo pipefail
cd "$(dirname "$0")/.."
port=18081
server=${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
database=bench_attacks

binary=${SALES_TRACKING_BIN:-target/release/sales-tracking}
[ -n "${SALES_TRACKING_BIN:-}" ] || cargo build --release --quiet
psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
url="$server/$database"
spool=$(mktemp -d)
DATABASE_URL=$url RUST_LOG=warn $binary serve --demo --bind 127.0.0.1:$port \
  --spool-dir "$spool" > /tmp/bench-attacks.log 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$spool"' EXIT
for _ in $(seq 1 240); do curl -sf http://127.0.0.1:$port/livez >/dev/null && break; sleep 0.5; done
for _ in $(seq 1 240); do grep -q '^stk_' /tmp/bench-attacks.log && break; sleep 0.5; done
key=$(grep '^stk_' /tmp/bench-attacks.log | tail -1)
code=$(psql "$url" -Atc "SELECT m.link_code FROM memberships m JOIN offers o ON o.id = m.offer_id WHERE o.status = 'ACTIVE' AND m.active AND m.link_code IS NOT NULL LIMIT 1")
echo "release build, demo data, $(nproc) cores shared by the client, the server and PostgreSQL"
python3 bench/attacks.py "http://127.0.0.1:$port" "$server_pid" "$key" "$code"
echo "server still up: $(curl -s http://127.0.0.1:$port/livez)"
echo
echo "Round 2 (issue 25): attackers on other loopback addresses than the timed redirects"
python3 bench/attacks.py "http://127.0.0.1:$port" "$server_pid" "$key" "$code" round-2
echo "server still up: $(curl -s http://127.0.0.1:$port/livez)"

# The same storm with the rate limit off, so only the report pool stands between it and the rest.
kill $server_pid; wait $server_pid 2>/dev/null || true
DATABASE_URL=$url RUST_LOG=warn RATE_LIMIT_POINTS_PER_SECOND=0 $binary serve \
  --bind 127.0.0.1:$port --spool-dir "$spool" > /tmp/bench-attacks-2.log 2>&1 &
server_pid=$!
for _ in $(seq 1 240); do curl -sf http://127.0.0.1:$port/livez >/dev/null && break; sleep 0.5; done
python3 bench/attacks.py "http://127.0.0.1:$port" "$server_pid" "$key" "$code" storm-only
echo "server still up: $(curl -s http://127.0.0.1:$port/livez)"
