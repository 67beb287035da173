#!/usr/bin/env bash
# Redirect benchmark: the release server on a fresh database, loaded by wrk over
# loopback, then the stored clicks counted against the redirects answered.
# Usage: bench/redirect.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
connections=${2:-64}
port=18080
server=${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
database=bench_redirect

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
url="$server/$database"

DATABASE_URL=$url RUST_LOG=warn target/release/sales-tracking serve --demo --bind 127.0.0.1:$port > /tmp/bench-redirect.log 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf http://127.0.0.1:$port/health >/dev/null && break; sleep 0.5; done

code=$(psql "$url" -Atc "SELECT m.link_code FROM memberships m JOIN offers o ON o.id = m.offer_id WHERE o.status = 'ACTIVE' AND m.active AND m.link_code IS NOT NULL LIMIT 1")
before=$(psql "$url" -Atc "SELECT count(*) FROM clicks")
echo "link /r/$code, $seconds s, $connections connections, $(nproc) cores shared by wrk, the server and PostgreSQL"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H 'User-Agent: Mozilla/5.0 (bench)' "http://127.0.0.1:$port/r/$code" | tee /tmp/bench-wrk.txt
sleep 1
after=$(psql "$url" -Atc "SELECT count(*) FROM clicks")
answered=$(awk '/requests in/ {print $1}' /tmp/bench-wrk.txt)
non3xx=$(awk '/Non-2xx or 3xx/ {print $NF}' /tmp/bench-wrk.txt)
echo "redirects answered by wrk: $answered; non-3xx: ${non3xx:-0}; clicks stored: $((after - before))"
echo "(stored may exceed answered by at most the $connections requests in flight when wrk stopped)"
