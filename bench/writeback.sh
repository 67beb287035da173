# Sourced by bench/redirect.sh and bench/orders.sh: the kernel's writeback of dirty
# pages, which sets their tails on a small machine. By default Linux keeps dirty
# pages up to 30 s (vm.dirty_expire_centisecs) unless they pass 10% of memory, then
# writes them at once. PostgreSQL 15 writes each new block of a table or index through
# the page cache, so at 20,000 clicks a second about 130 MB goes to disk in one burst
# every 30 s, and the click journal's syncs wait behind it (up to 100 ms); order runs
# that held a burst had their p99 over 30 ms. With BENCH_DIRTY_BACKGROUND_BYTES set
# (root only), the run sets vm.dirty_background_bytes to it, so the kernel writes
# continuously, and puts the setting back when the bench exits.
writeback_settings() {
  echo "kernel writeback: dirty_background_bytes $(cat /proc/sys/vm/dirty_background_bytes)," \
    "dirty_background_ratio $(cat /proc/sys/vm/dirty_background_ratio)%," \
    "dirty_expire_centisecs $(cat /proc/sys/vm/dirty_expire_centisecs)"
}
if [ -n "${BENCH_DIRTY_BACKGROUND_BYTES:-}" ]; then
  saved_background_bytes=$(cat /proc/sys/vm/dirty_background_bytes)
  saved_background_ratio=$(cat /proc/sys/vm/dirty_background_ratio)
  restore_writeback() {
    # Writing one of the pair zeroes the other: the one that was set is written back.
    if [ "$saved_background_bytes" -gt 0 ]; then
      echo "$saved_background_bytes" > /proc/sys/vm/dirty_background_bytes
    else
      echo "$saved_background_ratio" > /proc/sys/vm/dirty_background_ratio
    fi
  }
  echo "$BENCH_DIRTY_BACKGROUND_BYTES" > /proc/sys/vm/dirty_background_bytes
fi
writeback_settings
