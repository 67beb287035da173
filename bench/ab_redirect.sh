#!/usr/bin/env bash
# A/B of redirects: two release binaries (e.g. a build of an older commit copied
# aside, and this one), each on its own fresh demo database, alternating wrk runs of
# 10 s at 64 connections against one active link code each.
# Usage: bench/ab_redirect.sh OLD_BINARY NEW_BINARY [runs]
set -euo pipefail
old=$1; new=$2; runs=${3:-3}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
server=postgres://postgres@127.0.0.1:5432
start() { # binary port db
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $3 WITH (FORCE)" -c "CREATE DATABASE $3"
  DATABASE_URL=$server/$3 RUST_LOG=warn $1 serve --demo --bind 127.0.0.1:$2 --spool-dir /tmp/ab-spool-$2 > /tmp/ab-$2.log 2>&1 &
  echo $!
}
pa=$(start $old 18081 ab_old); pb=$(start $new 18082 ab_new)
trap 'kill $pa $pb 2>/dev/null || true' EXIT
for port in 18081 18082; do for _ in $(seq 1 240); do curl -sf http://127.0.0.1:$port/health >/dev/null && break; sleep 0.5; done; done
code() { psql "$server/$1" -Atc "SELECT m.link_code FROM memberships m JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id WHERE o.status = 'ACTIVE' AND m.active AND m.link_code IS NOT NULL LIMIT 1"; }
ca=$(code ab_old); cb=$(code ab_new)
for i in $(seq 1 $runs); do
  for side in old new; do
    if [ $side = old ]; then port=18081; c=$ca; else port=18082; c=$cb; fi
    out=$(wrk -t2 -c64 -d10s --latency -H 'User-Agent: Mozilla/5.0 (bench)' "http://127.0.0.1:$port/r/$c")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    echo "run $i $side: $rps req/s p50 $p50 p99 $p99"
  done
done
