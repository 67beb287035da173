#!/usr/bin/env bash
# What outgoing webhooks cost the hot paths (issue 26): the release server on a fresh
# demo database, order webhooks spread over the demo's promo codes (benches/orders.rs,
# closed loop) and redirects (wrk), measured
#   1. with no webhook endpoint,
#   2. with two endpoints subscribed to every order's events (a receiver on loopback
#      that answers 200 at once), then waiting until every delivery has succeeded,
#   3. with one endpoint that accepts connections and never answers, while the events
#      of the orders of phase 3 pile up behind it.
# With RUN_JOBS=false the server sends nothing (as an API server whose jobs run on
# other machines): what writing the events alone costs the order path.
# Usage: [RUN_JOBS=false] bench/webhooks.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
connections=${2:-64}
port=18095
fast_port=18096
hanging_port=18097
server=${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
database=bench_webhooks
secret=whsec_bench_0123456789

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
cargo bench --bench orders --no-run --quiet 2>/dev/null
psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
url="$server/$database"

# Receivers: one answers 200 to every request on a kept-alive connection; the other
# reads requests and never answers.
python3 - "$fast_port" "$hanging_port" <<'PY' &
import asyncio, sys

async def answer(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def hang(reader, writer):
    await asyncio.sleep(3600)

async def main():
    fast = await asyncio.start_server(answer, "127.0.0.1", int(sys.argv[1]))
    hanging = await asyncio.start_server(hang, "127.0.0.1", int(sys.argv[2]))
    async with fast, hanging:
        await asyncio.gather(fast.serve_forever(), hanging.serve_forever())

asyncio.run(main())
PY
receivers_pid=$!
DATABASE_URL=$url RUST_LOG=warn target/release/sales-tracking serve --demo --bind 127.0.0.1:$port \
  --webhook-rate-limit-per-second 0 --allow-private-webhook-targets --spool-dir /tmp/bench-webhooks-spool \
  > /tmp/bench-webhooks.log 2>&1 &
server_pid=$!
# Waits for the server to stop: the next run's server needs its spool directory.
trap 'kill $server_pid $receivers_pid 2>/dev/null || true; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do curl -sf http://127.0.0.1:$port/health >/dev/null && break; sleep 0.5; done
key=$(grep -A1 'Admin API key' /tmp/bench-webhooks.log | tail -1)
graphql() {
  curl -sf http://127.0.0.1:$port/graphql -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$1"
}
graphql "{\"query\":\"mutation { setWebhookSecret(input: { secret: \\\"$secret\\\" }) { webhookUrlTemplate } }\"}" >/dev/null
brand=$(psql "$url" -Atc "SELECT slug FROM brands ORDER BY id LIMIT 1")
codes=$(psql "$url" -Atc "SELECT string_agg(p.code, ',') FROM promo_codes p
  JOIN memberships m ON m.brand_id = p.brand_id AND m.id = p.membership_id
  JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
  WHERE p.disabled_at IS NULL AND m.active AND o.status = 'ACTIVE' AND (o.ends_on IS NULL OR o.ends_on >= current_date)")
link=$(psql "$url" -Atc "SELECT m.link_code FROM memberships m JOIN offers o ON o.id = m.offer_id
  WHERE o.status = 'ACTIVE' AND m.active AND m.link_code IS NOT NULL LIMIT 1")

orders() { # phase name
  BENCH_URL=http://127.0.0.1:$port BENCH_BRAND=$brand BENCH_SECRET=$secret BENCH_CODES=$codes \
    BENCH_SECONDS=$seconds BENCH_CONNECTIONS=$connections BENCH_RUN=$1-$(date +%s) \
    cargo bench --bench orders --quiet 2>/dev/null | head -1
}
redirects() {
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -H 'User-Agent: Mozilla/5.0 (bench)' \
    "http://127.0.0.1:$port/r/$link" > /tmp/bench-webhooks-wrk.txt
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "%s redirects/s, p50 %s, p99 %s\n", rps, p50, p99}' \
    /tmp/bench-webhooks-wrk.txt
}
endpoint() { # url, events (JSON list); prints the endpoint's id
  graphql "{\"query\":\"mutation(\$i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: \$i) { webhookEndpoint { id } } }\",
    \"variables\":{\"i\":{\"url\":\"$1\",\"events\":$2}}}" | sed -E 's/.*"id":"([^"]+)".*/\1/'
}
delete_endpoint() {
  graphql "{\"query\":\"mutation { deleteWebhookEndpoint(input: { id: \\\"$1\\\" }) { webhookEndpoint { id } } }\"}" >/dev/null
}
count() { psql "$url" -Atc "$1"; }

echo "$(echo "$codes" | tr ',' '\n' | wc -l) promo codes, link /r/$link; $(nproc) cores shared by the load, the server, the receivers and PostgreSQL"
echo "1. no endpoint:        orders: $(orders none)"
echo "1. no endpoint:        $(redirects)"

order_events='["conversion.created","commission.created"]'
first=$(endpoint "http://127.0.0.1:$fast_port/a" "$order_events")
second=$(endpoint "http://127.0.0.1:$fast_port/b" "$order_events")
started=$(date +%s.%N)
echo "2. two endpoints:      orders: $(orders two)"
echo "2. two endpoints:      $(redirects)"
for _ in $(seq 1 600); do
  [ "${RUN_JOBS:-true}" = false ] && break
  [ "$(count "SELECT count(*) FROM events WHERE NOT dispatched") $(count "SELECT count(*) FROM event_deliveries WHERE status <> 'SUCCEEDED'")" = "0 0" ] && break
  sleep 0.5
done
drained=$(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $started}")
echo "2. two endpoints:      $(count "SELECT count(*) FROM events") events, $(count "SELECT count(*) FROM event_deliveries WHERE status = 'SUCCEEDED'") deliveries succeeded, $(count "SELECT count(*) FROM event_deliveries WHERE status <> 'SUCCEEDED'") not; all sent ${drained}s after phase 2 began"
delete_endpoint "$first"
delete_endpoint "$second"

hanging=$(endpoint "http://127.0.0.1:$hanging_port/" "$order_events")
echo "3. hanging endpoint:   orders: $(orders hanging)"
echo "3. hanging endpoint:   $(redirects)"
echo "3. hanging endpoint:   $(count "SELECT count(*) FROM jobs WHERE kind = 'WEBHOOK_DELIVERY' AND status = 'QUEUED'") deliveries waiting behind it, $(count "SELECT count(*) FROM events WHERE NOT dispatched") events not dispatched yet"
delete_endpoint "$hanging"
