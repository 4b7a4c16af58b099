#!/usr/bin/env bash
# stream.sh BUILD_DIR [N] — N users (1,000,000 by default) read by corm_all
# and by corm_yield_per(1000) + corm_next_batch, each in a fresh process on
# the same SQLite file (or BENCH_URL's server), beside the hand-written
# program's scan: seconds and peak memory (RSS growth during the read).
set -euo pipefail
build=$1
n=${2:-1000000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
where=${BENCH_URL:-$tmp}
base=bench_baseline
[ -n "${BENCH_URL:-}" ] && base=bench_baseline_pg
[ -n "${BENCH_URL:-}" ] && [ "${BENCH_URL#mysql}" != "$BENCH_URL" ] && base=bench_baseline_my
"$build/bench/bench_corm" "$where" "$n" users > /dev/null
"$build/bench/$base" "$where" "$n" users > /dev/null
echo "reading $n users, each in a fresh process:"
printf '%-34s %10s %14s\n' "" seconds "peak RSS (kB)"
row() { # label, the program's output
    printf '%-34s %10s %14s\n' "$1" "$(echo "$2" | awk '$3 == "seconds" {print $4}')" \
        "$(echo "$2" | awk '$3 == "peak_rss_kb" {print $4}')"
}
row "hand-written (all rows in structs)" "$("$build/bench/$base" "$where" "$n" scan)"
row "corm_all" "$("$build/bench/bench_corm" "$where" "$n" scan)"
row "corm_yield_per(1000)" "$("$build/bench/bench_corm" "$where" "$n" stream)"
