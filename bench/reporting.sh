#!/usr/bin/env bash
# Reporting benchmark: seeds 1M clicks / 100k conversions / 5k members / 50 offers
# into a fresh database (once; pass --reseed to redo it), then runs
# `cargo bench --bench reporting` against it.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
database=bench_reports
url="$server/$database"
cargo build --release --quiet
if [ "${1:-}" = "--reseed" ] || ! psql "$url" -Atc "SELECT 1 FROM brands WHERE slug = 'generated'" 2>/dev/null | grep -q 1; then
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
  DATABASE_URL=$url RUST_LOG=warn target/release/sales-tracking seed --clicks 1000000 --conversions 100000 --members 5000 --offers 50
  psql "$url" -qc "VACUUM ANALYZE"
fi
DATABASE_URL=$url cargo bench --bench reporting
