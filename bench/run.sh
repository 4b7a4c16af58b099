#!/usr/bin/env bash
# run.sh BUILD_DIR [RUNS] [N] — run corm and the hand-written baseline
# alternately RUNS times on fresh databases, print each workload's median
# seconds and the ratio corm / baseline (timings here are noisy; ratios of
# medians in one run are steadier). With BENCH_URL (a PostgreSQL or MariaDB
# URL, as scripts/with-pg.sh and with-mariadb.sh give) the server is
# measured, against the libpq or Connector/C baseline; else SQLite files,
# against the sqlite3 one.
set -euo pipefail
build=$1
runs=${2:-${BENCH_RUNS:-5}}
n=${3:-${BENCH_N:-100000}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${BENCH_URL:-}" ] && [ "${BENCH_URL#mysql}" != "$BENCH_URL" ]; then
    where=$BENCH_URL baseline=bench_baseline_my label="hand-written Connector/C (MariaDB)"
elif [ -n "${BENCH_URL:-}" ]; then
    where=$BENCH_URL baseline=bench_baseline_pg label="hand-written libpq (PostgreSQL)"
else
    where=$tmp baseline=bench_baseline label="hand-written sqlite3"
fi
# Each run: every workload but scan in one process; then scan alone in a
# fresh process on N users left by a "users" run (BENCH.md: memory kept by
# earlier workloads would hide the scan's own); for corm also scan_ro, the
# same scan as untracked copies (corm_read_only), set against the same
# baseline scan.
for ((r = 1; r <= runs; r++)); do
    for p in baseline corm; do
        prog=$baseline
        [ $p = corm ] && prog=bench_corm
        "$build/bench/$prog" "$where" "$n" all | grep -v ' scan ' | sed "s/^/$p /" >> "$tmp/results"
        "$build/bench/$prog" "$where" "$n" users > /dev/null
        "$build/bench/$prog" "$where" "$n" scan | sed "s/^/$p /" >> "$tmp/results"
        [ $p = corm ] && "$build/bench/$prog" "$where" "$n" scan_ro | sed "s/^/$p /" >> "$tmp/results"
    done
    rm -f "$tmp"/*.db*
done
python3 - "$tmp/results" "$runs" "$n" "$label" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    system, _, workload, metric, value = line.split()
    rows.setdefault((workload, metric), {}).setdefault(system, []).append(float(value))
print(f"corm vs {sys.argv[4]}: N={sys.argv[3]}, median of {sys.argv[2]} runs")
print(f"{'workload':<10} {'metric':<12} {'baseline':>12} {'corm':>12} {'ratio':>7}")
for (workload, metric), by in rows.items():
    # scan_ro (corm_read_only) is set against the baseline's scan, delete_fk
    # (corm's delete with SQLite's foreign keys enforced) against its delete
    base = by.get("baseline") or rows[(workload.split("_")[0], metric)]["baseline"]
    b, c = statistics.median(base), statistics.median(by["corm"])
    print(f"{workload:<10} {metric:<12} {b:>12.4f} {c:>12.4f} {c / b if b else float('nan'):>7.3f}")
PY
