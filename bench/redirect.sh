#!/usr/bin/env bash
# Redirect benchmark: release servers on fresh demo databases, loaded by wrk over
# loopback. Each run starts every binary given on its own copy of its demo
# database and measures, against the same server and in this order:
#   livez     GET /livez (the same HTTP stack, no work): the machine's ceiling
#   shopper   GET /r/{code}, a browser's User-Agent, one visitor, one link
#   shoppers  a browser's User-Agent, a new visitor every request, every link
#   bot       GET /r/{code} without a User-Agent (stored, never counted)
# at 64 and 256 connections, each as many as the server takes (wrk: closed loop) and
# then livez, shopper and shoppers at a fixed rate (benches/redirects.rs, latency
# counted from when each request was due: what a shopper waits at that rate); then
# counts the clicks stored against the redirects answered. "stolen" is the share of the
# CPU time the host took from this machine meanwhile (a virtual machine's steal time):
# while it is above a few percent, every process here stalls and the latencies are the
# host's. Binaries alternate run by run, so two builds see the same machine.
# Usage: bench/redirect.sh [runs] [seconds] [binary...]
#   (default: 3 runs of 10 s, target/release/sales-tracking, built first)
# BENCH_RATE sets the fixed rate (default 20000 requests/s); BENCH_CLIENT_BINARY runs a
# fixed-rate client built before (benches/redirects.rs); BENCH_DIRTY_BACKGROUND_BYTES
# and BENCH_MIN_WAL_SIZE set the kernel's writeback and PostgreSQL's min_wal_size for the
# run (bench/settings.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
seconds=${2:-10}
shift $(( $# < 2 ? $# : 2 ))
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
  cargo build --release --quiet
  binaries=(target/release/sales-tracking)
fi
port=18080
server=${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
rate=${BENCH_RATE:-20000}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# The fixed-rate client, copied aside so that edits to the tree during a run cannot rebuild
# it (BENCH_CLIENT_BINARY runs one built before).
if [ -z "${BENCH_CLIENT_BINARY:-}" ]; then
  cp "$(cargo bench --bench redirects --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p')" /tmp/bench-redirects-client
fi
client=${BENCH_CLIENT_BINARY:-/tmp/bench-redirects-client}

wait_healthy() { for _ in $(seq 1 240); do curl -sf http://127.0.0.1:$port/health >/dev/null && return; sleep 0.5; done; echo "server did not start" >&2; exit 1; }
# Each server its own spool directory: a journal a stopped server left is replayed by
# the next server that opens it, into that server's database (a shared directory once
# put 42,302 clicks of one run's database into the next run's).
serve() { # binary database [--demo]
  spool=$(mktemp -d /tmp/bench-redirect-spool.XXXXXX)
  MAX_CONNECTIONS_PER_ADDRESS=1024 TRUSTED_PROXIES=127.0.0.1/32 FX_RATES_URL=none DATABASE_URL=$server/$2 RUST_LOG=warn \
    SPOOL_DIR=$spool "$1" serve --bind 127.0.0.1:$port "${@:3}" > /tmp/bench-redirect-server.log 2>&1 &
  server_pid=$!
  wait_healthy
}
stop() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf "${spool:-/nonexistent}"; }
source bench/settings.sh
trap 'stop; restore_settings' EXIT

# One demo database per binary (its own migrations), copied for every run.
for b in "${!binaries[@]}"; do
  template=bench_redirect_template_$b
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $template WITH (FORCE)" -c "CREATE DATABASE $template"
  serve "${binaries[$b]}" $template --demo
  stop
  psql "$server/$template" -qc "VACUUM ANALYZE"
done

# CPU ticks "all stolen" from /proc/stat: time the host took from this virtual machine.
cpu_times() { awk '/^cpu / {print $2+$3+$4+$5+$6+$7+$8+$9, $9; exit}' /proc/stat; }
stolen_since() { # "all stolen" before: the share stolen since, in percent
  cpu_times | awk -v a="${1% *}" -v s="${1#* }" '{printf "%.1f%%", ($2 - s) * 100 / ($1 - a > 0 ? $1 - a : 1)}'
}
measure() { # label connections wrk-arguments...
  local label=$1 connections=$2 out before
  shift 2
  before=$(cpu_times)
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@")
  printf '%-9s %4s %10s %9s %9s %8s %9s %7s\n' "$label" "$connections" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(echo "$out" | awk '$1=="50%" {print $2}')" "$(echo "$out" | awk '$1=="99%" {print $2}')" \
    "$(echo "$out" | awk '/Non-2xx or 3xx/ {print $NF}' | grep . || echo 0)" \
    "$(echo "$out" | awk '/requests in/ {print $1}')" "$(stolen_since "$before")"
  answered=$((answered + $(echo "$out" | awk '/requests in/ {print $1}')))
}
at_rate() { # shape connections
  local out
  out=$(BENCH_URL=$url BENCH_SHAPE=$1 BENCH_LINKS=/tmp/bench-link-codes BENCH_RATE=$rate BENCH_CONNECTIONS=$2 \
    BENCH_SECONDS=$seconds "$client")
  printf '%-9s %4s %s\n' "$1" "$2" "$out"
  [ "$1" = livez ] || answered=$((answered + $(echo "$out" | sed -n 's/.*; \([0-9]*\) answered.*/\1/p')))
}

# Waits until every redirect answered so far is stored: closed loops answer faster than
# the lanes store, and a backlog still being stored would slow the fixed-rate runs after.
# Then a checkpoint, so the fixed-rate runs neither meet one the closed loops' WAL set
# off nor, with min_wal_size large enough, create WAL files the closed loops filled.
settle() {
  local waited=0 stored
  while stored=$(psql "$server/$database" -Atc "SELECT count(*) FROM clicks") && [ $((stored - before)) -lt "$answered" ]; do
    [ $waited -ge 120 ] && { echo "  backlog: $((answered - stored + before)) clicks still unstored after 120 s"; return; }
    sleep 1
    waited=$((waited + 1))
  done
  echo "  the closed loops' clicks all stored ${waited} s after they ended"
  psql "$server/$database" -qc "CHECKPOINT"
}

for run in $(seq 1 "$runs"); do
  for b in "${!binaries[@]}"; do
    database=bench_redirect_$b
    psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database TEMPLATE bench_redirect_template_$b"
    serve "${binaries[$b]}" $database
    url=http://127.0.0.1:$port
    links=$(psql "$server/$database" -Atc "SELECT m.link_code FROM memberships m JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
      WHERE o.status = 'ACTIVE' AND m.active AND m.removed_at IS NULL AND m.link_code IS NOT NULL ORDER BY m.id")
    echo "$links" > /tmp/bench-link-codes
    code=$(echo "$links" | head -1)
    before=$(psql "$server/$database" -Atc "SELECT count(*) FROM clicks")
    echo "run $run, ${binaries[$b]}, $seconds s each, $(nproc) cores shared by wrk, the server and PostgreSQL"
    printf '%-9s %4s %10s %9s %9s %8s %9s %7s\n' scenario conn "req/s" p50 p99 non-3xx answered stolen
    for connections in 64 256; do
      answered=0
      measure livez "$connections" "$url/livez"
      answered=0
      measure shopper "$connections" -H 'User-Agent: Mozilla/5.0 (bench)' "$url/r/$code"
      LINK_CODES=/tmp/bench-link-codes measure shoppers "$connections" -s bench/wrk/shoppers.lua "$url"
      measure bot "$connections" "$url/r/$code"
      settle
      echo "  at a fixed rate, latency from when each request was due:"
      for shape in livez shopper shoppers; do at_rate $shape "$connections"; done
      sleep 1
      after=$(psql "$server/$database" -Atc "SELECT count(*) FROM clicks")
      echo "  redirects answered: $answered; clicks stored: $((after - before)) (may exceed answered by the requests in flight when wrk stopped)"
      before=$after
    done
    stop
  done
done
