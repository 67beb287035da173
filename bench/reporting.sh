#!/usr/bin/env bash
# Reporting benchmark: seeds a fresh database once (pass --reseed to redo it), then
# runs `cargo bench --bench reporting`, which starts the release server on it and
# times the reports over HTTP next to plain SQL over the raw events.
# Usage: bench/reporting.sh [1m|10m] [--reseed]
#   1m:  1M clicks / 100k conversions / 5k members / 50 offers (database bench_reports)
#   10m: 10M clicks / 1M conversions / 5k members / 50 offers (database bench_reports_10m)
set -euo pipefail
cd "$(dirname "$0")/.."
server=${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
size=${1:-1m}
case $size in
  1m) database=bench_reports; events="--clicks 1000000 --conversions 100000" ;;
  10m) database=bench_reports_10m; events="--clicks 10000000 --conversions 1000000" ;;
  *) echo "usage: $0 [1m|10m] [--reseed]" >&2; exit 2 ;;
esac
url="$server/$database"
cargo build --release --quiet
if [ "${2:-}" = "--reseed" ] || ! psql "$url" -Atc "SELECT 1 FROM brands WHERE slug = 'generated'" 2>/dev/null | grep -q 1; then
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
  # shellcheck disable=SC2086
  DATABASE_URL=$url RUST_LOG=warn target/release/sales-tracking seed $events --members 5000 --offers 50
fi
DATABASE_URL=$url cargo bench --bench reporting
