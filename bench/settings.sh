# Sourced by bench/redirect.sh and bench/orders.sh (after `server` is set): the machine's
# settings that set the tails on a small machine, printed first, and optionally set for
# the run and put back when the bench exits (`restore_settings`).
#
# The kernel's writeback of dirty pages: by default Linux keeps dirty pages up to 30 s
# (vm.dirty_expire_centisecs) unless they pass 10% of memory, then writes them at once.
# PostgreSQL 15 writes each new block of a table or index through the page cache, so at
# 20,000 clicks a second about 130 MB goes to disk in one burst every 30 s, and the
# click journal's syncs wait behind it (up to 100 ms); order runs that held a burst had
# their p99 over 30 ms. BENCH_DIRTY_BACKGROUND_BYTES (root only) sets
# vm.dirty_background_bytes, so the kernel writes continuously.
#
# PostgreSQL's WAL files: at 20,000 clicks a second the server writes about 10 MB of WAL
# a second, and with the default min_wal_size (80 MB) a surge after a quiet spell finds
# no WAL file to reuse, so PostgreSQL creates and zero-fills a new 16 MB one every 1.8 s;
# the journal's syncs and every commit wait behind it (17 to 33 ms each). BENCH_MIN_WAL_SIZE
# (e.g. 1GB; needs a superuser) sets min_wal_size with ALTER SYSTEM, so the files a
# checkpoint retires are kept for reuse.
machine_settings() {
  echo "kernel writeback: dirty_background_bytes $(cat /proc/sys/vm/dirty_background_bytes)," \
    "dirty_background_ratio $(cat /proc/sys/vm/dirty_background_ratio)%," \
    "dirty_expire_centisecs $(cat /proc/sys/vm/dirty_expire_centisecs);" \
    "PostgreSQL: $(psql "$server/postgres" -Atc "SELECT string_agg(name || ' ' || setting || coalesce(unit, ''), ', ' ORDER BY name)
      FROM pg_settings WHERE name IN ('min_wal_size', 'max_wal_size', 'wal_init_zero')")," \
    "$(psql "$server/postgres" -Atc "SELECT count(*) FROM pg_ls_waldir()") WAL files"
}
restore_steps=()
restore_settings() { for step in "${restore_steps[@]}"; do eval "$step"; done; }
if [ -n "${BENCH_DIRTY_BACKGROUND_BYTES:-}" ]; then
  # Writing one of the pair zeroes the other: the one that was set is written back.
  if [ "$(cat /proc/sys/vm/dirty_background_bytes)" -gt 0 ]; then
    restore_steps+=("echo $(cat /proc/sys/vm/dirty_background_bytes) > /proc/sys/vm/dirty_background_bytes")
  else
    restore_steps+=("echo $(cat /proc/sys/vm/dirty_background_ratio) > /proc/sys/vm/dirty_background_ratio")
  fi
  echo "$BENCH_DIRTY_BACKGROUND_BYTES" > /proc/sys/vm/dirty_background_bytes
fi
if [ -n "${BENCH_MIN_WAL_SIZE:-}" ]; then
  # Put back as it was: ALTER SYSTEM's own entry, or none.
  saved_min_wal_size=$(psql "$server/postgres" -Atc "SELECT setting || unit FROM pg_settings
    WHERE name = 'min_wal_size' AND sourcefile LIKE '%postgresql.auto.conf'")
  restore_steps+=("psql '$server/postgres' -qc \"ALTER SYSTEM $([ -n "$saved_min_wal_size" ] && echo "SET min_wal_size = '$saved_min_wal_size'" || echo "RESET min_wal_size")\" -c 'SELECT pg_reload_conf()' >/dev/null")
  psql "$server/postgres" -qc "ALTER SYSTEM SET min_wal_size = '$BENCH_MIN_WAL_SIZE'" -c "SELECT pg_reload_conf()" >/dev/null
fi
machine_settings
