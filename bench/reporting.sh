#!/usr/bin/env bash
# Reporting benchmark: seeds a fresh database once (pass --reseed to redo it), then
# runs `cargo bench --bench reporting`, which starts the release server on it and
# times the reports over HTTP next to plain SQL over the raw events.
# Usage: bench/reporting.sh [1m|10m|100m] [--reseed]
#   1m:   1M clicks / 100k conversions / 5k members / 50 offers (database bench_reports)
#   10m:  10M clicks / 1M conversions / 5k members / 50 offers (database bench_reports_10m)
#   100m: 100M clicks / 10M conversions / 5k members / 50 offers (database bench_reports_100m;
#         about 20 minutes to seed; the plain SQL beside each report runs once, not three times)
# It prints the seed's time and the database's size on disk. SALES_TRACKING_BIN runs
# another build (seed and server) instead of this one.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
size=${1:-1m}
case $size in
  1m) database=bench_reports; events="--clicks 1000000 --conversions 100000" ;;
  10m) database=bench_reports_10m; events="--clicks 10000000 --conversions 1000000" ;;
  100m) database=bench_reports_100m; events="--clicks 100000000 --conversions 10000000"; export BENCH_RAW_RUNS=1 ;;
  *) echo "usage: $0 [1m|10m|100m] [--reseed]" >&2; exit 2 ;;
esac
url="$server/$database"
binary=${SALES_TRACKING_BIN:-target/release/sales-tracking}
[ -n "${SALES_TRACKING_BIN:-}" ] || cargo build --release --quiet
if [ "${2:-}" = "--reseed" ] || ! psql "$url" -Atc "SELECT 1 FROM brands WHERE slug = 'generated'" 2>/dev/null | grep -q 1; then
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
  started=$(date +%s)
  # shellcheck disable=SC2086
  DATABASE_URL=$url RUST_LOG=warn $binary seed $events --members 5000 --offers 50
  echo "seeded in $(($(date +%s) - started)) s"
fi
psql "$url" -Atc "SELECT 'database size: ' || pg_size_pretty(pg_database_size(current_database()))"
DATABASE_URL=$url cargo bench --bench reporting
