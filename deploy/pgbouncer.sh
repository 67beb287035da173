#!/usr/bin/env bash
# PgBouncer in transaction mode in front of a PostgreSQL server, for servers that
# share few database connections. Prints the settings servers need as shell exports:
#   eval "$(deploy/pgbouncer.sh)" && deploy/three-servers.sh
# Usage: deploy/pgbouncer.sh [port, default 16432]   (stop: deploy/pgbouncer.sh stop)
# DATABASE_SERVER is PostgreSQL (default postgres://postgres@127.0.0.1:5432), trust auth.
set -euo pipefail
dir=/tmp/sales-tracking-pgbouncer
if [ "${1:-}" = stop ]; then
  [ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" || true
  exit 0
fi
port=${1:-16432}
server=${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
address=${server##*@}
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] \
  || { echo "PgBouncer is not installed: apt-get install pgbouncer" >&2; exit 1; }
mkdir -p "$dir"
cat > "$dir/pgbouncer.ini" <<EOF
[databases]
* = host=${address%%:*} port=${address##*:}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
; Transaction mode: a server connection is a client's for one transaction only.
pool_mode = transaction
; Server connections per database: every server's pools share these.
default_pool_size = ${POOL_SIZE:-10}
max_client_conn = 2000
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
echo '"postgres" ""' > "$dir/users.txt"
# PgBouncer refuses to run as root.
as_postgres=()
if [ "$(id -u)" = 0 ]; then
  chown -R postgres "$dir"
  as_postgres=(runuser -u postgres --)
fi
[ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null \
  || "${as_postgres[@]}" "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" -d "$dir/pgbouncer.ini"
database=${DATABASE:-sales_tracking_three}
psql "$server/postgres" -qtAc "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1 \
  || psql "$server/postgres" -qc "CREATE DATABASE $database" >&2
echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$port/$database"
echo "export DIRECT_DATABASE_URL=$server/$database"
echo "export TRANSACTION_POOLER=true"
