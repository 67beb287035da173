#!/usr/bin/env bash
# Order-ingest benchmark: the release server on a fresh demo database, signed order
# webhooks from 64 connections (benches/orders.rs), in two shapes: orders spread over
# the demo's promo codes, and a flash sale on one creator's code. Each shape runs
# closed loop (the most the server takes) and then at a fixed rate (latency counted
# from when each order was due). Afterwards the stored orders are counted against
# the acknowledged ones.
# Usage: bench/orders.sh [seconds] [connections] [orders per second]
# BENCH_SERVER_BINARY runs another build (an A/B against older code) instead of this one.
# BENCH_CLIENT_BINARY runs a load generator built before (benches/orders.rs).
# BENCH_DIRTY_BACKGROUND_BYTES and BENCH_MIN_WAL_SIZE set the kernel's writeback and
# PostgreSQL's min_wal_size for the run (bench/settings.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
connections=${2:-64}
rate=${3:-6000}
port=18090
server=${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
database=bench_orders
secret=whsec_bench_0123456789

binary=${BENCH_SERVER_BINARY:-target/release/sales-tracking}
[ -n "${BENCH_SERVER_BINARY:-}" ] || cargo build --release --quiet
# The load generator, copied aside so that edits to the tree during a run cannot rebuild
# it (BENCH_CLIENT_BINARY runs one built before).
if [ -z "${BENCH_CLIENT_BINARY:-}" ]; then
  cp "$(cargo bench --bench orders --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p')" /tmp/bench-orders-client
fi
client=${BENCH_CLIENT_BINARY:-/tmp/bench-orders-client}
psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
url="$server/$database"
FX_RATES_URL=none DATABASE_URL=$url RUST_LOG=warn $binary serve --demo --bind 127.0.0.1:$port \
  --webhook-rate-limit-per-second 0 --spool-dir /tmp/bench-orders-spool > /tmp/bench-orders.log 2>&1 &
server_pid=$!
source bench/settings.sh
# Waits for the server to stop: the next run's server needs its spool directory.
trap 'kill $server_pid 2>/dev/null || true; wait $server_pid 2>/dev/null || true; restore_settings' EXIT
for _ in $(seq 1 240); do curl -sf http://127.0.0.1:$port/health >/dev/null && break; sleep 0.5; done
key=$(grep -A1 'Admin API key' /tmp/bench-orders.log | tail -1)
curl -sf http://127.0.0.1:$port/graphql -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "{\"query\":\"mutation { setWebhookSecret(input: { secret: \\\"$secret\\\" }) { webhookUrlTemplate } }\"}" >/dev/null
brand=$(psql "$url" -Atc "SELECT slug FROM brands ORDER BY id LIMIT 1")
codes=$(psql "$url" -Atc "SELECT string_agg(p.code, ',') FROM promo_codes p
  JOIN memberships m ON m.brand_id = p.brand_id AND m.id = p.membership_id
  JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
  WHERE p.disabled_at IS NULL AND m.active AND o.status = 'ACTIVE' AND (o.ends_on IS NULL OR o.ends_on >= current_date)")
hot=${codes%%,*}
echo "$(echo "$codes" | tr ',' '\n' | wc -l) active promo codes; $(nproc) cores shared by the load, the server and PostgreSQL"
for shape in spread flash; do
  shape_codes=$([ $shape = spread ] && echo "$codes" || echo "$hot")
  for load in "" "$rate"; do
    before=$(psql "$url" -Atc "SELECT count(*) FROM conversions WHERE source = 'bench'")
    out=$(BENCH_URL=http://127.0.0.1:$port BENCH_BRAND=$brand BENCH_SECRET=$secret BENCH_CODES=$shape_codes \
      BENCH_SECONDS=$seconds BENCH_CONNECTIONS=$connections BENCH_RATE=$load BENCH_RUN=$shape-$(date +%s) \
      "$client")
    after=$(psql "$url" -Atc "SELECT count(*) FROM conversions WHERE source = 'bench'")
    acknowledged=$(echo "$out" | awk -F= '/^acknowledged=/ {print $2}')
    echo "$shape: $(echo "$out" | head -1)"
    echo "$shape: stored $((after - before)) of $acknowledged acknowledged"
  done
done
