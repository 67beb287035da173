#!/usr/bin/env bash
# The same load on one server and on three servers sharing one database: redirects
# (wrk), order webhooks spread over the demo's promo codes (benches/orders.rs), and
# both at once with the home page's KPI report asked over and over (its p95 is the
# report latency under mixed load). Everything shares this machine's cores, so it
# shows what several servers cost and that they hold up, not more throughput.
# Usage: bench/three_servers.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
server=${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
secret=whsec_bench_0123456789
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
cargo bench --bench orders --no-run --quiet 2>/dev/null
report_lua=$(mktemp --suffix .lua)

run_setup() { # servers
  local count=$1 database=bench_servers_$1
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
  url="$server/$database"
  pids=(); bases=()
  for n in $(seq 0 $((count - 1))); do
    port=$((18120 + n))
    demo=$([ "$n" = 0 ] && echo --demo || true)
    DATABASE_URL=$url IP_HASH_SECRET=bench RUST_LOG=warn target/release/sales-tracking serve $demo --bind 127.0.0.1:$port \
      --webhook-rate-limit-per-second 0 --rate-limit-points-per-second 0 \
      --spool-dir /tmp/bench-servers-spool-$n > /tmp/bench-servers-$n.log 2>&1 &
    pids+=($!); bases+=("http://127.0.0.1:$port")
    for _ in $(seq 1 240); do curl -sf http://127.0.0.1:$port/health >/dev/null && break; sleep 0.5; done
  done
  key=$(grep -A1 'Admin API key' /tmp/bench-servers-0.log | tail -1)
  curl -sf "${bases[0]}/graphql" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"query\":\"mutation { setWebhookSecret(input: { secret: \\\"$secret\\\" }) { webhookUrlTemplate } }\"}" >/dev/null
  brand=$(psql "$url" -Atc "SELECT slug FROM brands ORDER BY id LIMIT 1")
  link=$(psql "$url" -Atc "SELECT m.link_code FROM memberships m JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id WHERE o.status = 'ACTIVE' AND m.active AND m.link_code IS NOT NULL LIMIT 1")
  codes=$(psql "$url" -Atc "SELECT string_agg(p.code, ',') FROM promo_codes p
    JOIN memberships m ON m.brand_id = p.brand_id AND m.id = p.membership_id
    JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
    WHERE p.disabled_at IS NULL AND m.active AND o.status = 'ACTIVE'")
  cat > "$report_lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
wrk.body = '{"query":"{ kpis { members membersWithConversions conversions clicks totalSales salesPerMember commissionsEarned averageCommissionPerMember paymentsDue membersWithPaymentsDue } }"}'
done = function(summary, latency, requests)
  io.write(string.format("reports=%.0f/s p50=%.1fms p95=%.1fms p99=%.1fms errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
LUA
}

stop() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }

redirects() { # connections in all, spread over the servers; prints redirects/s
  local per=$(( $1 / ${#bases[@]} )) outs=()
  for base in "${bases[@]}"; do
    wrk -t1 -c$per -d${seconds}s -H 'User-Agent: Mozilla/5.0 (bench)' "$base/r/$link" > /tmp/bench-wrk-$(basename $base).txt &
    outs+=($!)
  done
  wait "${outs[@]}"
  cat /tmp/bench-wrk-*.txt | awk '/Requests\/sec/ {sum += $2} END {printf "%.0f", sum}'
  rm -f /tmp/bench-wrk-*.txt
}

orders() { # connections; prints the bench's summary line
  BENCH_URL=$(IFS=,; echo "${bases[*]}") BENCH_BRAND=$brand BENCH_SECRET=$secret BENCH_CODES=$codes \
    BENCH_SECONDS=$seconds BENCH_CONNECTIONS=$1 BENCH_RUN=servers-$(date +%s%N) cargo bench --bench orders --quiet 2>/dev/null | head -1
}

reports() { # p95 of the home page's KPIs, asked through the first server
  wrk -t1 -c4 -d${seconds}s -s "$report_lua" "${bases[0]}/graphql" | grep '^reports='
}

for count in 1 3; do
  run_setup $count
  echo "== $count server(s), $(nproc) cores shared by everything"
  echo "redirects alone: $(redirects 63)/s"
  echo "orders alone: $(orders 63)"
  clicks_before=$(psql "$url" -Atc "SELECT count(*) FROM clicks")
  redirects 30 > /tmp/bench-mixed-redirects &
  mixed=($!)
  orders 30 > /tmp/bench-mixed-orders &
  mixed+=($!)
  mixed_reports=$(reports)
  wait "${mixed[@]}"
  echo "mixed: redirects $(cat /tmp/bench-mixed-redirects)/s; orders $(cat /tmp/bench-mixed-orders); KPI report $mixed_reports"
  sleep 2
  echo "stored: $(psql "$url" -Atc "SELECT count(*) FROM clicks") clicks, $(psql "$url" -Atc "SELECT count(*) FROM conversions WHERE source = 'bench'") bench orders"
  stop
done
