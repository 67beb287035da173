#!/usr/bin/env bash
# A PostgreSQL primary and a streaming replica of it (pg_basebackup -R) on this
# machine, for reports from a replica (--replica-url). Prints the two URLs as
# shell exports, so that servers started after it use both:
#   eval "$(deploy/primary-and-replica.sh)" && deploy/three-servers.sh
# Usage: deploy/primary-and-replica.sh [directory, default /tmp/sales-tracking-replica] [port, default 15432]
# The replica listens on port + 1. To stop: deploy/primary-and-replica.sh stop [directory]
set -euo pipefail
if [ "${1:-}" = stop ]; then
  stop=1
  shift
fi
dir=${1:-/tmp/sales-tracking-replica}
port=${2:-15432}
bin=${PG_BIN_DIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$bin/initdb" ] || { echo "no PostgreSQL binaries (apt-get install postgresql, or set PG_BIN_DIR)" >&2; exit 1; }
# PostgreSQL refuses to run as root.
as_postgres=()
[ "$(id -u)" = 0 ] && as_postgres=(runuser -u postgres --)
pg() { "${as_postgres[@]}" "$bin/$1" "${@:2}"; }

if [ -n "${stop:-}" ]; then
  for cluster in replica primary; do pg pg_ctl -w -m fast -D "$dir/$cluster" stop >&2 || true; done
  exit 0
fi

mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
start() { # cluster, port
  pg pg_ctl status -D "$dir/$1" >/dev/null 2>&1 \
    || pg pg_ctl -w -t 60 -D "$dir/$1" -o "-c listen_addresses=127.0.0.1 -p $2 -k $dir" -l "$dir/$1.log" start >&2
}
[ -f "$dir/primary/PG_VERSION" ] || pg initdb -U postgres --auth=trust -E UTF8 --no-locale -D "$dir/primary" >&2
start primary "$port"
pg psql -h 127.0.0.1 -p "$port" -U postgres -qtAc "SELECT 1 FROM pg_database WHERE datname = 'sales_tracking'" | grep -q 1 \
  || pg psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE sales_tracking" >&2
# initdb's trust rules let 127.0.0.1 replicate; -R makes the copy a standby of its source.
[ -f "$dir/replica/PG_VERSION" ] \
  || pg pg_basebackup -h 127.0.0.1 -p "$port" -U postgres -R -X stream --checkpoint=fast -D "$dir/replica" >&2
start replica $((port + 1))
echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$port/sales_tracking"
echo "export REPLICA_URL=postgres://postgres@127.0.0.1:$((port + 1))/sales_tracking"
