#!/usr/bin/env bash
# Three stateless servers on one PostgreSQL, as behind a load balancer: the first
# makes the demo brand and prints its admin key; all three share the database, the
# IP-hash secret (so a shopper's repeat clicks are recognised whichever server they
# reach) and nothing else. Runs until Ctrl-C, then stops all three.
# Usage: deploy/three-servers.sh [first port, default 18101]
# DATABASE_URL picks the database (default: sales_tracking_three on the local server).
set -euo pipefail
cd "$(dirname "$0")/.."
first_port=${1:-18101}
server=${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
url=${DATABASE_URL:-$server/sales_tracking_three}
secret=${IP_HASH_SECRET:-$(head -c 32 /dev/urandom | base64)}
binary=target/release/sales-tracking
cargo build --release --quiet
if [ -z "${DATABASE_URL:-}" ]; then
  psql "$server/postgres" -qtc "SELECT 1 FROM pg_database WHERE datname = 'sales_tracking_three'" | grep -q 1 \
    || psql "$server/postgres" -qc "CREATE DATABASE sales_tracking_three"
fi
logs=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
for n in 0 1 2; do
  port=$((first_port + n))
  demo=$([ $n = 0 ] && echo --demo || true)
  DATABASE_URL=$url IP_HASH_SECRET=$secret RUST_LOG=${RUST_LOG:-info} \
    $binary serve $demo --bind 127.0.0.1:$port --spool-dir "$logs/spool-$n" > "$logs/server-$n.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 240); do curl -sf http://127.0.0.1:$port/health >/dev/null && break; sleep 0.5; done
  echo "server $n: http://127.0.0.1:$port (log: $logs/server-$n.log)"
done
echo "Admin API key for the demo brand:"
grep -A1 'Admin API key' "$logs/server-0.log" | tail -1
wait
