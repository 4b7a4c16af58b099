#!/usr/bin/env bash
# callgrind.sh BUILD_DIR [N] — instruction counts of each workload, corm and
# the baseline, under valgrind's callgrind: the same for the same binary and
# input whatever else the machine is doing, so small differences can be
# judged where timings are noise. Prints the ratio corm / baseline. With
# BENCH_URL (PostgreSQL) it counts the client's instructions only: the
# server's work, and the waits, are not in them.
set -euo pipefail
build=$1
n=${2:-${BENCH_N:-20000}}
# relations, lazy and delete on min(N, 10,000) users, as these counts were
# first taken (make bench uses N / 10): before and after compare
export BENCH_REL_USERS=${BENCH_REL_USERS:-$((n < 10000 ? n : 10000))}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
where=${BENCH_URL:-$tmp}
baseline=bench_baseline
case ${BENCH_URL:-} in
mysql*) baseline=bench_baseline_my ;;
?*) baseline=bench_baseline_pg ;;
esac
printf '%-10s %16s %16s %7s\n' workload baseline corm ratio
for w in insert get filter scan update relations lazy delete delete_fk; do
    [ -n "${BENCH_URL:-}" ] && [ $w = delete_fk ] && continue # servers always enforce keys
    declare -A ir=()
    for p in $baseline bench_corm; do
        rm -f "$tmp"/*.db*
        tw=$w
        [ $p = $baseline ] && tw=${w%_fk} # delete_fk: against the baseline's delete
        valgrind --tool=callgrind --collect-atstart=no --toggle-collect="w_$tw" \
            --callgrind-out-file="$tmp/$p.out" "$build/bench/$p" "$where" "$n" >/dev/null 2>&1
        ir[$p]=$(callgrind_annotate "$tmp/$p.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    done
    awk -v w="$w" -v b="${ir[$baseline]}" -v c="${ir[bench_corm]}" \
        'BEGIN { printf "%-10s %16d %16d %7.3f\n", w, b, c, c / b }'
done
